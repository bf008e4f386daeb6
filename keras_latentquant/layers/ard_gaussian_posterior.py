"""Gaussian posterior with an automatic-relevance-determination (ARD) prior: the ARD-VAE bottleneck.

A VAE whose prior has one variance per latent axis, `p(z) = N(0, diag(alpha))`, with the variances set
by empirical Bayes from the encoded data rather than fixed at 1 (the ARD idea of MacKay and Neal, as
used for VAEs by Saha, Elhabian & Whitaker, "ARD-VAE", 2025). For a diagonal Gaussian posterior
`q(z | x) = N(mu(x), diag(sigma^2(x)))` the alpha that minimises `E_x KL(q(z|x) || N(0, diag(alpha)))` is

    alpha_j = E_x[mu_j(x)^2 + sigma_j^2(x)],

and the per-axis KL at that optimum, `1/2 (log alpha_j - E_x log sigma_j^2(x))`, is invariant to rescaling
the axis. An axis the decoder does not use is pushed to `q(z_j | x) = N(0, alpha_j)` for every `x`, where
its KL is 0 whatever alpha_j is: such an axis is "switched off", and the expected per-axis KL (the axis's
rate, in nats) is what tells it apart from an informative one.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from keras_latentquant.layers.gaussian_posterior import normal_kl, reparameterise, split_mean_log_variance
from keras_latentquant.layers.monitoring import MonitoredMean, update_tracker
from keras_latentquant.layers.validation import (
    posterior_num_latents,
    require_built,
    validate_fraction,
    validate_loss_scale,
    validate_range,
    validate_seed,
    validate_weight,
)

__all__ = ["ARDGaussianPosterior", "gaussian_kl_per_axis"]



def gaussian_kl_per_axis(mean, log_variance, prior_variance):
    """Element-wise `KL(N(mu, sigma^2) || N(0, alpha))` in nats.

    Closed form: `1/2 ((mu^2 + sigma^2) / alpha - 1 - log sigma^2 + log alpha)`; computed as TFP's
    `kl_divergence` of Normals computes it (`normal_kl`), in float32.

    Args:
        mean: float tensor `(..., d)`, posterior means `mu`.
        log_variance: float tensor `(..., d)`, posterior log-variances `log sigma^2`.
        prior_variance: float tensor broadcastable to `(..., d)` (typically `(d,)`), prior variances
            `alpha`, positive.

    Returns:
        float32 tensor `(..., d)`.
    """
    mean = ops.cast(mean, "float32")
    log_variance = ops.cast(log_variance, "float32")
    prior_scale = ops.sqrt(ops.cast(prior_variance, "float32"))
    return normal_kl(mean, ops.exp(0.5 * log_variance), ops.zeros_like(prior_scale), prior_scale)


@keras.saving.register_keras_serializable(package="keras_latentquant")
class ARDGaussianPosterior(keras.layers.Layer):
    """Diagonal Gaussian posterior with an ARD prior `N(0, diag(alpha))` estimated from the encodings.

    The input is the encoder's head of width `2 d` (first half means, second half log-variances, the
    latter clamped to `log_variance_range`, as in `GaussianPosterior`).

    Prior variances. In training, the batch's empirical-Bayes estimate
    `alpha_batch = mean_batch(mu^2 + sigma^2)` is the prior of that step's KL, under `stop_gradient`:
    the prior is an estimate from the data, not a second set of encoder outputs to optimise (with the
    gradient, the KL's dependence on alpha would collapse it to the per-batch optimum and change the
    encoder's objective). A non-trainable moving average `alpha <- momentum * alpha + (1 - momentum) *
    alpha_batch` (the first training step copies the batch estimate) is the prior at inference (so an
    evaluation KL is deterministic) and is what `prior_variances()` returns.

    Switching off. A second moving average tracks each axis's KL (nats per example, same momentum).
    Axes whose average KL is at most `switch_off_threshold` are switched off (`active_axes()`). The KL
    rather than alpha is the criterion because the objective is invariant to rescaling an axis (the
    decoder can undo any scale), so alpha's size says nothing about use, while an unused axis has KL 0.

    Objective (added with `add_loss`, float32): `loss_scale * beta * KL`,
    `KL = mean_batch sum_j KL(q(z_j | x) || N(0, alpha_j))`. `loss_scale`: the models' reconstruction
    loss is the binary cross-entropy AVERAGED over pixels and the KL is in nats per image, so
    `loss_scale = 1 / num_pixels` (what the model registry passes) puts them in the same units.

    Args:
        beta: weight of the KL (1: ARD-VAE; > 1: a beta-weighted variant). Non-negative.
        momentum: momentum of the moving averages of the prior variances and per-axis KLs, in [0, 1).
        switch_off_threshold: an axis whose average KL is at most this many nats per example counts as
            switched off (default 0.05, about the KL of an axis whose means explain 10% of its total
            variance `alpha_j`).
        loss_scale: factor on the loss (see above), > 0.
        log_variance_range: `(low, high)` clamp of the log-variances, default `(-20.0, 10.0)`.
        seed: int seed of the reparameterisation noise, or None.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, 2 * d)` (any leading axes are treated as the batch).
        training: if True, return the sample `mu + sigma * eps` and update the moving averages;
            otherwise the mean `mu` (deterministic) with the moving-average prior in the KL.

    Input shape:
        `(batch, 2 * d)` with a known, even last axis.

    Output shape:
        `(batch, d)`.

    Metrics (appear in `fit` logs): `<name>_kl` (nats per example, without `beta` or `loss_scale`)
    and `<name>_active_axes` (number of axes whose moving-average KL is above the threshold).

    Example:

    >>> layer = ARDGaussianPosterior()
    >>> sample = layer(np.random.randn(32, 8).astype("float32"), training=True)  # (32, 4)
    >>> layer.prior_variances(), layer.active_axes()
    """

    def __init__(
        self,
        beta: float = 1.0,
        momentum: float = 0.99,
        switch_off_threshold: float = 0.05,
        loss_scale: float = 1.0,
        log_variance_range: Sequence[float] = (-20.0, 10.0),
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.beta = validate_weight("beta", beta)
        self.momentum = validate_fraction("momentum", momentum, include_zero=True, note="0: use only the latest batch")
        self.switch_off_threshold = validate_weight("switch_off_threshold", switch_off_threshold)
        self.loss_scale = validate_loss_scale(loss_scale)
        self.log_variance_range = validate_range("log_variance_range", log_variance_range)
        self.seed = validate_seed(seed)
        self.supports_masking = False
        self.seed_generator = keras.random.SeedGenerator(seed)

        self.kl_tracker = MonitoredMean(name=f"{self.name}_kl")
        self.active_axes_tracker = MonitoredMean(name=f"{self.name}_active_axes")

    def build(self, input_shape):
        self.num_latents = posterior_num_latents(input_shape, type(self).__name__)
        # float32 under any dtype policy; "mean" aggregation so that under a distribution strategy
        # each replica's update is averaged into one value.
        self.prior_variance = self.add_weight(
            name="prior_variance",
            shape=(self.num_latents,),
            initializer="ones",
            dtype="float32",
            trainable=False,
            autocast=False,
            aggregation="mean",
        )
        self.kl_per_axis = self.add_weight(
            name="kl_per_axis",
            shape=(self.num_latents,),
            initializer="zeros",
            dtype="float32",
            trainable=False,
            autocast=False,
            aggregation="mean",
        )
        # Number of moving-average updates so far (float32 like every other weight of the library);
        # 0 means the averages still hold their initial values.
        self.num_updates = self.add_weight(
            name="num_updates",
            shape=(),
            initializer="zeros",
            dtype="float32",
            trainable=False,
            autocast=False,
            aggregation="mean",
        )

    def call(self, inputs, training=None):
        mean, log_variance = split_mean_log_variance(inputs, self.log_variance_range, type(self).__name__)
        if training:
            # Empirical-Bayes prior of this batch: alpha_j = mean_x(mu_j^2 + sigma_j^2), held fixed.
            flat_second_moment = ops.reshape(
                ops.square(mean) + ops.exp(log_variance), (-1, self.num_latents)
            )
            prior_variance = ops.stop_gradient(ops.mean(flat_second_moment, axis=0))
        else:
            prior_variance = ops.convert_to_tensor(self.prior_variance)
        kl_per_axis = ops.reshape(
            gaussian_kl_per_axis(mean, log_variance, prior_variance), (-1, self.num_latents)
        )
        batch_kl_per_axis = ops.mean(kl_per_axis, axis=0)
        kl = ops.sum(batch_kl_per_axis)
        self.add_loss(self.loss_scale * self.beta * kl)
        update_tracker(self.kl_tracker, kl)

        if training:
            self._update_moving_averages(prior_variance, ops.stop_gradient(batch_kl_per_axis))
            sample = reparameterise(mean, log_variance, self.seed_generator)
            outputs = sample
        else:
            outputs = mean
        active = ops.sum(ops.cast(self.kl_per_axis > self.switch_off_threshold, "float32"))
        update_tracker(self.active_axes_tracker, active)
        return ops.cast(outputs, self.compute_dtype)

    def _update_moving_averages(self, batch_prior_variance, batch_kl_per_axis):
        # a <- m a + (1 - m) a_batch; the first update copies a_batch (no bias towards the initial value).
        first = self.num_updates == 0.0
        momentum = ops.where(first, 0.0, self.momentum)
        self.prior_variance.assign(
            momentum * self.prior_variance + (1.0 - momentum) * batch_prior_variance
        )
        self.kl_per_axis.assign(momentum * self.kl_per_axis + (1.0 - momentum) * batch_kl_per_axis)
        self.num_updates.assign(self.num_updates + 1.0)

    # ------------------------------------------------------------------ ARD state
    def prior_variances(self) -> np.ndarray:
        """Moving-average prior variances `alpha_j` (float32 NumPy array `(d,)`; ones before training)."""
        self._require_built("prior_variances")
        return keras.ops.convert_to_numpy(self.prior_variance)

    def axis_kl(self) -> np.ndarray:
        """Moving-average KL of each axis in nats per example (float32 NumPy `(d,)`; zeros before training)."""
        self._require_built("axis_kl")
        return keras.ops.convert_to_numpy(self.kl_per_axis)

    def active_axes(self) -> np.ndarray:
        """Bool NumPy mask `(d,)`: True for axes whose moving-average KL exceeds `switch_off_threshold`."""
        return self.axis_kl() > self.switch_off_threshold

    def evaluation_latents(self, inputs):
        """The representation the disentanglement metrics score: the posterior means (continuous).

        Returns:
            `(means, False)`, the means a float32 tensor `(batch, d)`.
        """
        mean, _ = split_mean_log_variance(inputs, self.log_variance_range, type(self).__name__)
        return mean, False

    def _require_built(self, method):
        require_built(
            self, method, inputs="encoder outputs", shape="(None, 2 * num_latents)", reason="its moving averages exist"
        )

    # ------------------------------------------------------------------ Keras plumbing
    def compute_output_shape(self, input_shape):
        num_latents = posterior_num_latents(input_shape, type(self).__name__)
        return tuple(input_shape[:-1]) + (num_latents,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta": self.beta,
                "momentum": self.momentum,
                "switch_off_threshold": self.switch_off_threshold,
                "loss_scale": self.loss_scale,
                "log_variance_range": list(self.log_variance_range),
                "seed": self.seed,
            }
        )
        return config

