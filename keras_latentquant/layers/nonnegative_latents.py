"""Non-negative latents with an activity energy penalty: the bottleneck of the BioAE baseline.

From Whittington, Dorrell, Ganguli & Behrens, "Disentanglement with biological constraints: a theory of
functional cell types" (ICLR 2023), one of the baselines of Hsu et al. (2023). Biological neurons have
non-negative firing rates and pay an energy cost for activity and for synaptic weight, and these
constraints alone push a representation towards disentangled ("modular") latents:

    z = relu(h)                                      (non-negativity, h the encoder's output)
    L_activity = activity_weight * mean_batch sum_k z_k^2   (activity energy)

The weight energy `||W||^2` of BioAE is not part of this layer: the models apply it to the network's
kernels as decoupled weight decay (the optimizer rule of the model registry).
"""

from __future__ import annotations

import keras
from keras import ops

from keras_latentquant.layers.monitoring import MonitoredMean, update_tracker
from keras_latentquant.layers.validation import latent_axis_size, validate_loss_scale, validate_weight

__all__ = ["NonNegativeLatents"]


@keras.saving.register_keras_serializable(package="keras_latentquant")
class NonNegativeLatents(keras.layers.Layer):
    """Rectified (non-negative) latents with an L2 activity energy penalty (BioAE).

    Non-negativity is exact, by a ReLU (the gradient is zero where the encoder output is negative; an
    encoder output that stays negative for every input leaves its latent silent). Whittington et al.
    also describe a soft penalty `relu(-h)` instead; this layer uses the hard constraint.

    Objective (added with `add_loss`, float32):
    `loss_scale * activity_weight * mean_batch sum_k z_k^2`. `loss_scale`: the models' reconstruction
    loss is the binary cross-entropy AVERAGED over pixels while the activity energy is per image (summed
    over latents), so `loss_scale = 1 / num_pixels` (what the model registry passes) puts them in the same
    units. The BioAE weight energy is the model's decoupled weight decay, not a term of this layer.

    Args:
        activity_weight: weight of the activity energy, non-negative (default 0.01; BioAE tunes it).
        loss_scale: factor on the loss (see above), > 0.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, d)`, the encoder's output (any leading axes are treated as the
            batch).

    Input shape:
        `(batch, d)` with a known last axis.

    Output shape:
        Same as the input.

    Metrics (appear in `fit` logs): `<name>_activity_energy` (`mean_batch sum_k z_k^2`, without weights),
    `<name>_mean_activity` (mean of `z` over batch and latents) and `<name>_active_fraction` (fraction of
    latent entries that are strictly positive).

    Example:

    >>> layer = NonNegativeLatents(activity_weight=0.1)
    >>> layer(np.array([[0.5, -1.0, 2.0]], dtype="float32"))  # [[0.5, 0.0, 2.0]]
    >>> layer.losses  # [0.1 * (0.25 + 4.0)]
    """

    def __init__(self, activity_weight: float = 0.01, loss_scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.activity_weight = validate_weight("activity_weight", activity_weight)
        self.loss_scale = validate_loss_scale(loss_scale)
        self.supports_masking = False

        self.activity_energy_tracker = MonitoredMean(name=f"{self.name}_activity_energy")
        self.mean_activity_tracker = MonitoredMean(name=f"{self.name}_mean_activity")
        self.active_fraction_tracker = MonitoredMean(name=f"{self.name}_active_fraction")

    def build(self, input_shape):
        self.num_latents = _num_latents(input_shape)

    def call(self, inputs):
        _num_latents(inputs.shape)
        latents = ops.relu(ops.cast(inputs, "float32"))
        # Activity energy per example, sum_k z_k^2, averaged over the batch.
        activity_energy = ops.mean(ops.sum(ops.square(latents), axis=-1))
        self.add_loss(self.loss_scale * self.activity_weight * activity_energy)
        update_tracker(self.activity_energy_tracker, activity_energy)
        update_tracker(self.mean_activity_tracker, ops.mean(latents))
        update_tracker(self.active_fraction_tracker, ops.mean(ops.cast(latents > 0, "float32")))
        return ops.cast(latents, self.compute_dtype)

    def evaluation_latents(self, inputs):
        """The representation the disentanglement metrics score: the rectified latents (continuous).

        Returns:
            `(relu(inputs), False)`, a float32 tensor of the input's shape.
        """
        latents = ops.cast(inputs, "float32")
        _num_latents(latents.shape)
        return ops.relu(latents), False

    def compute_output_shape(self, input_shape):
        _num_latents(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"activity_weight": self.activity_weight, "loss_scale": self.loss_scale})
        return config


def _num_latents(input_shape) -> int:
    return latent_axis_size(input_shape, "NonNegativeLatents", batched=True)
