"""Finite scalar quantization: a fixed, evenly spaced grid of `L_j` values per latent dimension.

From Mentzer, Minnen, Agustsson and Tschannen, "Finite Scalar Quantization: VQ-VAE Made Simple"
(ICLR 2024, arXiv 2309.15505); a baseline for the learnable scalar codebooks of Hsu et al.,
"Disentanglement via Latent Quantization" (NeurIPS 2023). Dimension `j` is bounded by a tanh and
rounded to one of `L_j` levels; nothing is learned, so there is no codebook and no loss. With
`h_j = (L_j - 1) / 2` and offset `o_j = 0.5` for even `L_j` (0 for odd):
`b_j = h_j tanh(z_j)`, `r_j = round(b_j - o_j) + o_j`, `q_j = r_j / h_j`.
`r_j` runs over `-h_j, -h_j + 1, ..., h_j` (integers for odd `L_j`, half-integers for even), exactly
`L_j` values, so `q_j` takes the `L_j` evenly spaced values `-1 + 2 k / (L_j - 1)` of `[-1, 1]`, and the
code is `k_j = r_j + h_j` in `[0, L_j)`. Gradients pass the rounding straight through:
`dq_j / dz_j := d(b_j / h_j) / dz_j = 1 - tanh(z_j)^2`.
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
)

__all__ = ["FiniteScalarQuantization"]


@keras.saving.register_keras_serializable(package="keras_latentquant")
class FiniteScalarQuantization(keras.layers.Layer):
    """Bounds each latent with a tanh and rounds it to a fixed grid of `L_j` values in `[-1, 1]`.

    The formula, for `L` levels, `h = (L - 1) / 2` and `o = 0.5` if `L` is even else 0:
    `q = (round(h * tanh(z) - o) + o) / h`. The offset moves the rounding grid to half-integers for
    even `L`, so that `h * tanh(z)`, which ranges over `(-h, h)`, rounds to exactly `L` values; the
    division by `h` normalises them to `-1, -1 + 2/(L-1), ..., 1` (symmetric about 0, which is a value
    only for odd `L`; rounding ties, a set of measure zero such as `z = 0` for even `L`, go to the
    even integer). The FSQ paper's reference code instead shifts the tanh's input and normalises
    by `floor(L / 2)`, giving an asymmetric grid for even `L`; the set of values differs, the method
    (bound, round, straight-through) is the same.

    There are no weights and no loss terms: the grid is fixed, and the bound replaces the commitment
    loss of a learned codebook (nothing to commit to, and encodings cannot drift past the grid).

    Args:
        levels: number of levels per latent dimension: an int (the same for every dimension; default 10,
            the number of values of the paper's QLAE codebooks) or a sequence with one count per
            dimension (its length must then equal the size of the input's last axis). Every count must
            be at least 2.
        per_dimension_metrics: if True, also report the perplexity of every latent dimension's code
            usage as its own metric (`<name>_perplexity_<j>`); by default only the mean over dimensions.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor of shape `(..., num_latents)`; any number of leading axes.
        return_codes: if True, return `(quantized, codes)` with the int32 codes as well.

    Input shape:
        `(..., num_latents)` with a known last axis.

    Output shape:
        Same as the input (and, with `return_codes=True`, an int32 tensor of the same shape).

    Metrics:
        Owned by the layer (they appear in `fit` logs): `<name>_perplexity` (mean over dimensions of
        `exp(entropy)` of the batch's code usage, between 1 and `L_j`) and `<name>_usage` (mean fraction
        of each dimension's levels used in the batch).

    Example:

    >>> layer = FiniteScalarQuantization(levels=[3, 4])
    >>> quantized = layer(np.array([[0.2, -3.0]], dtype="float32"))  # [[0., -1.]]
    >>> codes = layer.encode_codes(np.array([[0.2, -3.0]], dtype="float32"))  # [[1, 0]]
    """

    def __init__(
        self,
        levels: int | Sequence[int] = 10,
        per_dimension_metrics: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.levels = validate_counts("levels", levels, "a single level carries no information")
        self.per_dimension_metrics = bool(per_dimension_metrics)
        self.supports_masking = False

        self.perplexity_tracker = MonitoredMean(name=f"{self.name}_perplexity")
        self.usage_tracker = MonitoredMean(name=f"{self.name}_usage")
        self.dimension_perplexity_trackers = []

    def build(self, input_shape):
        self.num_latents = latent_axis_size(input_shape, type(self).__name__)
        check_one_count_per_latent("levels", self.levels, self.num_latents, input_shape)
        counts = np.asarray(self.levels_per_dimension, dtype="float32")
        self.max_levels = int(counts.max())
        # Constants of the grid, per dimension: L_j, h_j = (L_j - 1) / 2, o_j = 0.5 for even L_j.
        self._levels_array = counts
        self._half_width = (counts - 1.0) / 2.0
        self._offset = np.where(counts % 2 == 0, 0.5, 0.0).astype("float32")
        # Normalising multiplies by 1 / h (a float32 constant) rather than dividing by h: graph
        # optimizers may turn a division by a constant into this very product, and eager, compiled
        # and exported runs must give bit-identical grid values.
        self._inverse_half_width = (1.0 / self._half_width).astype("float32")
        if self.per_dimension_metrics and not self.dimension_perplexity_trackers:
            self.dimension_perplexity_trackers = [
                MonitoredMean(name=f"{self.name}_perplexity_{j}") for j in range(self.num_latents)
            ]

    @property
    def levels_per_dimension(self) -> list[int]:
        """Number of levels of each latent dimension (needs the layer built)."""
        if isinstance(self.levels, list):
            return list(self.levels)
        return [self.levels] * self.num_latents

    @property
    def num_codes(self) -> int:
        """Number of distinct codes the layer can represent, `prod_j L_j`."""
        return math.prod(self.levels_per_dimension)

    # ------------------------------------------------------------------ maths
    def _bound(self, latents):
        # b = h tanh(z), in (-h, h).
        # (keras.ops with the NumPy constants: a plain `*` between a PyTorch tensor and an array fails.)
        return ops.multiply(ops.tanh(latents), self._half_width)

    def _round_to_grid(self, bounded):
        # r = round(b - o) + o: integers for odd L, half-integers for even L, in [-h, h].
        return ops.add(ops.round(ops.subtract(bounded, self._offset)), self._offset)

    def _codes_of_grid(self, rounded):
        # k = r + h is integral in [0, L); the round only removes float error.
        return ops.cast(ops.round(ops.add(rounded, self._half_width)), "int32")

    def call(self, inputs, return_codes=False):
        latents = ops.cast(inputs, "float32")
        bounded = self._bound(latents)
        normalised = ops.multiply(bounded, self._inverse_half_width)
        rounded = self._round_to_grid(bounded)
        quantized = ops.multiply(rounded, self._inverse_half_width)
        codes = self._codes_of_grid(rounded)
        self._update_metrics(codes)

        # Straight-through: forward value q, gradient of b / h = tanh(z) (rounding taken as identity).
        # Written sg(q) + (n - sg(n)) rather than n + sg(q - n): n - n is exactly 0, so the forward value
        # is exactly the grid value (n + (q - n) can be off by a rounding error).
        outputs = ops.stop_gradient(quantized) + (normalised - ops.stop_gradient(normalised))
        outputs = ops.cast(outputs, self.compute_dtype)
        if return_codes:
            return outputs, codes
        return outputs

    def _update_metrics(self, codes):
        # Usage of each dimension's values over every leading axis.
        flat_codes = ops.reshape(codes, (-1, self.num_latents))
        counts = ops.sum(ops.one_hot(flat_codes, self.max_levels, dtype="float32"), axis=0)
        perplexity, used_fraction = usage_statistics(counts, self._levels_array)
        update_tracker(self.perplexity_tracker, ops.mean(perplexity))
        update_tracker(self.usage_tracker, ops.mean(used_fraction))
        for j, tracker in enumerate(self.dimension_perplexity_trackers):
            update_tracker(tracker, perplexity[j])

    # ------------------------------------------------------------------ codes
    def encode_codes(self, inputs):
        """Integer code (index of the level, from the lowest) of every dimension of `inputs`.

        Args:
            inputs: float array or tensor of shape `(..., num_latents)`.

        Returns:
            int32 tensor of the same shape, entry `k_j` in `[0, L_j)`.
        """
        self._ensure_built(inputs)
        return self._codes_of_grid(self._round_to_grid(self._bound(ops.cast(inputs, "float32"))))

    def decode_codes(self, codes):
        """Grid values of integer codes, `q_j = (k_j - h_j) / h_j`: the inverse of `encode_codes`.

        Args:
            codes: integer array or tensor of shape `(..., num_latents)`. Indices outside a
                dimension's `[0, L_j)` are clipped into it (NumPy inputs are checked and rejected).

        Returns:
            float32 tensor of the same shape with values in `[-1, 1]`.
        """
        require_built(self, "decode_codes", reason="the number of latents is known")
        codes = validate_codes(codes, self.num_latents, self.levels_per_dimension, symbol="L_j")
        codes = ops.clip(ops.cast(codes, "int32"), 0, ops.cast(self._levels_array, "int32") - 1)
        # r = k - h is exact in float32 (integers and half-integers), as in `call`.
        return ops.multiply(ops.subtract(ops.cast(codes, "float32"), self._half_width), self._inverse_half_width)

    def evaluation_latents(self, inputs):
        """The representation disentanglement metrics score: the integer codes (discrete).

        Returns:
            `(codes, True)`.
        """
        return self.encode_codes(inputs), True

    def _ensure_built(self, inputs):
        if not self.built:
            self.build(tuple(inputs.shape))

    # ------------------------------------------------------------------ Keras plumbing
    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"levels": self.levels, "per_dimension_metrics": self.per_dimension_metrics})
        return config
