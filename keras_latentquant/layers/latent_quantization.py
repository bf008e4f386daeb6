"""Latent quantization: a learnable scalar codebook per latent dimension.

From Hsu, Dorrell, Whittington, Wu and Finn, "Disentanglement via Latent Quantization" (NeurIPS 2023).
Each latent dimension `j` owns a scalar codebook `v_j` of `n_j` values. An encoding `z` is quantized
dimension by dimension to its nearest value, `q_j = v_j[k_j]` with `k_j = argmin_k |z_j - v_j[k]|`;
gradients reach the encoder by the straight-through estimator `z + stop_gradient(q - z)`, and two
mean squared errors train the codebook (`(sg(z) - q)^2`) and keep encodings committed (`(z - sg(q))^2`).
The integer vector `k` is the code of the input: `prod_j n_j` codes from only `sum_j n_j` parameters.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
from keras import ops

from keras_latentquant.layers.codebook_usage import usage_statistics
from keras_latentquant.layers.monitoring import MonitoredMean, update_tracker
from keras_latentquant.layers.validation import (
    check_one_count_per_latent,
    latent_axis_size,
    require_built,
    validate_codes,
    validate_counts,
    validate_range,
    validate_weight,
)

__all__ = ["LatentQuantization"]


@keras.saving.register_keras_serializable(package="keras_latentquant")
class LatentQuantization(keras.layers.Layer):
    """Quantizes each latent dimension to the nearest value of its own learnable scalar codebook.

    Args:
        num_values: number of codebook values per latent dimension: an int (the same for every
            dimension, paper default 10) or a sequence with one count per dimension (its length must
            then equal the size of the input's last axis). Every count must be at least 2.
        value_range: `(low, high)` of the evenly spaced initial codebook values, default `(-0.5, 0.5)`.
        learnable_codebook: if False the codebook values are frozen at their initial grid (the
            quantization loss is then still reported but trains nothing).
        shared_codebook: if True, one codebook of `num_values` values (an int) serves every dimension (the
            paper's global-codebook ablation, the reference's `GlobalQuantizedLatent`): the variable has shape
            `(1, num_values)`, and every dimension's encodings pull on the same values.
        quantization_weight: weight of the codebook loss `mean((sg(z) - q)^2)`, default 0.01.
        commitment_weight: weight of the commitment loss `mean((z - sg(q))^2)`, default 0.01.
        per_dimension_metrics: if True, also report the perplexity of every latent dimension's code
            usage as its own metric (`<name>_perplexity_<j>`); by default only the mean over dimensions.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor of shape `(..., num_latents)`; any number of leading axes.
        return_codes: if True, return `(quantized, codes)` with the int32 code indices as well.

    Input shape:
        `(..., num_latents)` with a known last axis.

    Output shape:
        Same as the input (and, with `return_codes=True`, an int32 tensor of the same shape).

    Losses:
        `quantization_weight * quantization_loss + commitment_weight * commitment_loss`, through
        `add_loss`. Monitored through Keras metrics owned by the layer (they appear in `fit` logs):
        `<name>_quantization_loss`, `<name>_commitment_loss`, `<name>_perplexity` (mean over
        dimensions of `exp(entropy)` of the batch's code usage, between 1 and `n_j`) and
        `<name>_usage` (mean fraction of each dimension's values used in the batch).

    Example:

    >>> layer = LatentQuantization(num_values=5)
    >>> quantized = layer(np.array([[0.12, -0.4]], dtype="float32"))
    >>> codes = layer.encode_codes(np.array([[0.12, -0.4]], dtype="float32"))  # [[2, 0]]
    """

    def __init__(
        self,
        num_values: int | Sequence[int] = 10,
        value_range: Sequence[float] = (-0.5, 0.5),
        learnable_codebook: bool = True,
        shared_codebook: bool = False,
        quantization_weight: float = 0.01,
        commitment_weight: float = 0.01,
        per_dimension_metrics: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_values = validate_counts("num_values", num_values, "a codebook of one value carries no information")
        self.value_range = validate_range("value_range", value_range)
        self.learnable_codebook = bool(learnable_codebook)
        self.shared_codebook = bool(shared_codebook)
        if self.shared_codebook and isinstance(self.num_values, list) and len(set(self.num_values)) > 1:
            raise ValueError(
                f"shared_codebook=True gives every dimension the same codebook, so it takes one count; got "
                f"num_values={self.num_values}. Pass num_values as an int, or shared_codebook=False for one "
                "codebook per dimension."
            )
        self.quantization_weight = validate_weight("quantization_weight", quantization_weight)
        self.commitment_weight = validate_weight("commitment_weight", commitment_weight)
        self.per_dimension_metrics = bool(per_dimension_metrics)
        self.supports_masking = False

        self.quantization_loss_tracker = MonitoredMean(name=f"{self.name}_quantization_loss")
        self.commitment_loss_tracker = MonitoredMean(name=f"{self.name}_commitment_loss")
        self.perplexity_tracker = MonitoredMean(name=f"{self.name}_perplexity")
        self.usage_tracker = MonitoredMean(name=f"{self.name}_usage")
        self.dimension_perplexity_trackers = []

    # ------------------------------------------------------------------ weights
    def build(self, input_shape):
        self.num_latents = latent_axis_size(input_shape, type(self).__name__)
        check_one_count_per_latent("num_values", self.num_values, self.num_latents, input_shape)
        counts = self.values_per_dimension
        self.max_num_values = max(counts)

        # Codebook row j holds n_j evenly spaced values; rows shorter than the longest are padded
        # with their last value, and the padding is masked out of every nearest-value search.
        low, high = self.value_range
        initial = np.empty((self.num_latents, self.max_num_values), dtype="float32")
        valid = np.zeros((self.num_latents, self.max_num_values), dtype=bool)
        for j, count in enumerate(counts):
            initial[j, :count] = np.linspace(low, high, count, dtype="float32")
            initial[j, count:] = high
            valid[j, :count] = True
        self._valid_values = valid
        self._num_values_array = np.asarray(counts, dtype="float32")

        # float32 whatever the dtype policy: distances between close codebook values must not
        # round away under mixed_float16. A shared codebook is one row, broadcast over the dimensions.
        rows = 1 if self.shared_codebook else self.num_latents
        self.codebook = self.add_weight(
            name="codebook",
            shape=(rows, self.max_num_values),
            initializer=keras.initializers.Constant(initial[:rows]),
            dtype="float32",
            trainable=self.learnable_codebook,
            autocast=False,
        )
        if self.per_dimension_metrics and not self.dimension_perplexity_trackers:
            self.dimension_perplexity_trackers = [
                MonitoredMean(name=f"{self.name}_perplexity_{j}") for j in range(self.num_latents)
            ]

    @property
    def values_per_dimension(self) -> list[int]:
        """Number of codebook values of each latent dimension (needs the layer built)."""
        if isinstance(self.num_values, list):
            return list(self.num_values)
        return [self.num_values] * self.num_latents

    def codebook_values(self) -> np.ndarray:
        """The codebook as a NumPy array of shape `(num_latents, max_num_values)`, one row per dimension (a
        shared codebook repeated in every row; a row shorter than the longest padded with its last value)."""
        require_built(self, "codebook_values")
        values = keras.ops.convert_to_numpy(self.codebook)
        return np.repeat(values, self.num_latents, axis=0) if self.shared_codebook else values

    @property
    def num_codes(self) -> int:
        """Number of distinct codes the layer can represent, `prod_j n_j`."""
        return math.prod(self.values_per_dimension)

    # ------------------------------------------------------------------ maths
    def _codes(self, latents):
        """Index of the nearest value of each dimension's codebook, for float32 latents (..., d)."""
        # |z_j - v_j[k]| for every dimension j and value k: (..., d, n_max); padding gets +inf.
        distances = ops.abs(ops.expand_dims(latents, -1) - self.codebook)
        distances = ops.where(self._valid_values, distances, ops.cast(np.inf, "float32"))
        return ops.cast(ops.argmin(distances, axis=-1), "int32")

    def _nearest(self, latents):
        """Returns (codes, one-hot codes, quantized values) of float32 latents of shape (..., d)."""
        codes = self._codes(latents)
        one_hot = ops.one_hot(codes, self.max_num_values, dtype="float32")
        return codes, one_hot, self._contract(one_hot)

    def _contract(self, one_hot):
        # q_j = v_j[k_j], as a one-hot contraction: vectorized over batch and dimensions, and
        # differentiable with respect to the codebook (each selected value gets its gradient).
        return ops.sum(one_hot * self.codebook, axis=-1)

    def _gather(self, codes):
        return self._contract(ops.one_hot(codes, self.max_num_values, dtype="float32"))

    def call(self, inputs, return_codes=False):
        latents = ops.cast(inputs, "float32")
        codes, one_hot, quantized = self._nearest(latents)

        # Codebook loss pulls the values towards the (fixed) encodings; commitment loss pulls the
        # encodings towards the (fixed) values. Both from the raw tensors, never from the
        # straight-through output, so the codebook keeps its gradient.
        quantization_loss = ops.mean(ops.square(ops.stop_gradient(latents) - quantized))
        commitment_loss = ops.mean(ops.square(latents - ops.stop_gradient(quantized)))
        self.add_loss(
            self.quantization_weight * quantization_loss + self.commitment_weight * commitment_loss
        )
        self._update_metrics(one_hot, quantization_loss, commitment_loss)

        # Straight-through: forward value exactly q, gradient of the identity with respect to z.
        # (Written sg(q) + (z - sg(z)) rather than z + sg(q - z), which can miss q by an ulp.)
        outputs = ops.stop_gradient(quantized) + (latents - ops.stop_gradient(latents))
        outputs = ops.cast(outputs, self.compute_dtype)
        if return_codes:
            return outputs, codes
        return outputs

    def _update_metrics(self, one_hot, quantization_loss, commitment_loss):
        update_tracker(self.quantization_loss_tracker, quantization_loss)
        update_tracker(self.commitment_loss_tracker, commitment_loss)
        # Usage of each dimension's values over every leading axis (reusing the call's one-hot codes).
        one_hot = ops.stop_gradient(one_hot)
        counts = ops.sum(ops.reshape(one_hot, (-1, self.num_latents, self.max_num_values)), axis=0)
        perplexity, used_fraction = usage_statistics(counts, self._num_values_array)
        update_tracker(self.perplexity_tracker, ops.mean(perplexity))
        update_tracker(self.usage_tracker, ops.mean(used_fraction))
        for j, tracker in enumerate(self.dimension_perplexity_trackers):
            update_tracker(tracker, perplexity[j])

    # ------------------------------------------------------------------ codes
    def encode_codes(self, inputs):
        """Integer code (index of the nearest value in each dimension's codebook) of `inputs`.

        Args:
            inputs: float array or tensor of shape `(..., num_latents)`.

        Returns:
            int32 tensor of the same shape, entry `k_j` in `[0, n_j)`.
        """
        self._ensure_built(inputs)
        return self._codes(ops.cast(inputs, "float32"))

    def decode_codes(self, codes):
        """Codebook values of integer codes: the inverse of `encode_codes` on the codebook grid.

        Args:
            codes: integer array or tensor of shape `(..., num_latents)`. Indices outside a
                dimension's `[0, n_j)` are clipped into it (NumPy inputs are checked and rejected).

        Returns:
            float32 tensor of the same shape holding `v_j[k_j]`.
        """
        require_built(self, "decode_codes")
        codes = ops.cast(validate_codes(codes, self.num_latents, self.values_per_dimension), "int32")
        codes = ops.clip(codes, 0, ops.cast(self._num_values_array, "int32") - 1)
        return self._gather(codes)

    def evaluation_latents(self, inputs):
        """The representation disentanglement metrics score: the integer codes (discrete).

        Returns:
            `(codes, True)`.
        """
        return self.encode_codes(inputs), True

    def sample_codes(self, batch_size: int, seed=None):
        """Codes drawn uniformly and independently per dimension over each codebook (for GANs).

        Args:
            batch_size: number of codes to draw.
            seed: a `keras.random.SeedGenerator` or int, for reproducible draws.

        Returns:
            int32 tensor of shape `(batch_size, num_latents)`.
        """
        require_built(self, "sample_codes")
        return self.codes_from_uniform(keras.random.uniform((batch_size, self.num_latents), seed=seed))

    def codes_from_uniform(self, uniform):
        """Codes from uniform draws: `floor(u_j * n_j)`, so each of dimension j's values has chance 1/n_j.

        Args:
            uniform: float tensor `(..., num_latents)` of draws in `[0, 1)` (a caller that needs its own
                random stream, e.g. one per replica, draws them).

        Returns:
            int32 tensor of the same shape, entry `k_j` in `[0, n_j)`.
        """
        require_built(self, "codes_from_uniform")
        codes = ops.floor(ops.cast(uniform, "float32") * self._num_values_array)
        return ops.cast(ops.minimum(codes, self._num_values_array - 1), "int32")

    def _ensure_built(self, inputs):
        if not self.built:
            self.build(tuple(inputs.shape))

    # ------------------------------------------------------------------ Keras plumbing
    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, return_codes=False):
        # Overridden (compute_output_shape cannot see return_codes) so that a functional model gets
        # both outputs with return_codes=True.
        outputs = keras.KerasTensor(tuple(inputs.shape), dtype=self.compute_dtype)
        if return_codes:
            return outputs, keras.KerasTensor(tuple(inputs.shape), dtype="int32")
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_values": self.num_values,
                "value_range": list(self.value_range),
                "learnable_codebook": self.learnable_codebook,
                "shared_codebook": self.shared_codebook,
                "quantization_weight": self.quantization_weight,
                "commitment_weight": self.commitment_weight,
                "per_dimension_metrics": self.per_dimension_metrics,
            }
        )
        return config
