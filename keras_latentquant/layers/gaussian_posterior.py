"""Diagonal Gaussian posterior: the bottleneck of the VAE, beta-VAE and beta-TCVAE baselines.

The encoder predicts, for each input `x`, the mean `mu(x)` and log-variance `log sigma^2(x)` of
`q(z | x) = N(mu, diag(sigma^2))` over `d` latents. Training decodes the reparameterised sample
`z = mu + sigma * eps`, `eps ~ N(0, I)` (Kingma & Welling 2014) and adds the rate term
`KL(q(z|x) || N(0, I)) = 1/2 sum_k (mu_k^2 + sigma_k^2 - 1 - log sigma_k^2)` nats per input, weighted
by `beta` (beta = 1: VAE; beta > 1: beta-VAE, Higgins et al. 2017). Hsu et al. (2023) compare QLAE
against these baselines.

beta-TCVAE (Chen, Li, Grosse & Duvenaud 2018) splits the expected KL over the data into index-code mutual
information, total correlation and dimension-wise KL,
`E_x KL = I(x; z) + KL(q(z) || prod_k q(z_k)) + sum_k KL(q(z_k) || p(z_k))`, and weights the total
correlation (TC) on its own. The aggregate densities are estimated on a minibatch of `M` samples from a
dataset of `N` by minibatch-weighted sampling (MWS):
`log q(z_i) ~ logsumexp_j log q(z_i | x_j) - log(N M)` and
`log prod_k q(z_ik) ~ sum_k [logsumexp_j log q(z_ik | x_jk) - log(N M)]`.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from keras_latentquant.layers.monitoring import MonitoredMean, update_tracker
from keras_latentquant.layers.validation import (
    posterior_num_latents,
    validate_dataset_size,
    validate_loss_scale,
    validate_range,
    validate_seed,
    validate_weight,
)

__all__ = [
    "GaussianPosterior",
    "gaussian_kl_to_standard_normal",
    "minibatch_weighted_kl_decomposition",
    "minibatch_weighted_total_correlation",
]

# The beta-TCVAE terms are estimated from a reparameterised sample. At inference the layer must be
# deterministic, so that sample uses this fixed (stateless) seed instead of the layer's seed generator.
_INFERENCE_NOISE_SEED = 1234


# ---------------------------------------------------------------------------------- pure functions
# 0.5 log(2 pi), rounded to float32 once (as TFP's Normal.log_prob rounds it).
_HALF_LOG_TWO_PI = np.float32(0.5 * np.log(2.0 * np.pi))


def normal_log_prob(x, mean, scale):
    """Element-wise `log N(x; mean, scale^2)`, in the operation order of TFP's `Normal.log_prob` (backend-neutral:
    keras.ops only, so the layers run on TensorFlow, JAX and PyTorch)."""
    return -0.5 * ops.square(x / scale - mean / scale) - (_HALF_LOG_TWO_PI + ops.log(scale))


def normal_kl(mean_a, scale_a, mean_b, scale_b):
    """Element-wise `KL(N(mean_a, scale_a^2) || N(mean_b, scale_b^2))` in nats, in the operation order of TFP's
    Normal-Normal `kl_divergence`: `1/2 (mu_a/s_b - mu_b/s_b)^2 + 1/2 expm1(2 log(s_a/s_b)) - log(s_a/s_b)`."""
    difference_of_log_scales = ops.log(scale_a) - ops.log(scale_b)
    return (
        0.5 * ops.square(mean_a / scale_b - mean_b / scale_b)
        + 0.5 * ops.expm1(2.0 * difference_of_log_scales)
        - difference_of_log_scales
    )


def gaussian_kl_to_standard_normal(mean, log_variance):
    """`KL(N(mean, diag(exp(log_variance))) || N(0, I))` in nats, summed over the last axis.

    Closed form per latent: `1/2 (mu^2 + sigma^2 - 1 - log sigma^2)`; computed as TFP's `kl_divergence` of
    element-wise Normals computes it (`normal_kl`), in float32.

    Args:
        mean: float tensor `(..., d)`, the posterior means.
        log_variance: float tensor `(..., d)`, the posterior log-variances (not clamped here).

    Returns:
        float32 tensor `(...)`: one KL per example (leading axes kept).
    """
    mean = ops.cast(mean, "float32")
    log_variance = ops.cast(log_variance, "float32")
    return ops.sum(
        normal_kl(mean, ops.exp(0.5 * log_variance), ops.zeros_like(mean), ops.ones_like(mean)), axis=-1
    )


def minibatch_weighted_kl_decomposition(z, mean, log_variance, dataset_size):
    """MWS estimates (Chen et al. 2018) of the three terms of the KL decomposition, in nats.

    With `log q(z_i | x_j) = sum_k log N(z_ik; mu_jk, sigma_jk^2)` for every pair of the `M` batch
    elements:

    - `log q(z_i) ~ logsumexp_j log q(z_i | x_j) - log(N M)`
    - `log prod_k q(z_ik) ~ sum_k [logsumexp_j log q(z_ik | x_jk) - log(N M)]`
    - mutual information `= mean_i [log q(z_i | x_i) - log q(z_i)]`
    - total correlation `= mean_i [log q(z_i) - log prod_k q(z_ik)]`
    - dimension-wise KL `= mean_i [log prod_k q(z_ik) - log N(z_i; 0, I)]`

    The three sum to `mean_i [log q(z_i | x_i) - log N(z_i; 0, I)]`, the one-sample estimate of the
    KL to the standard normal prior. MWS is biased: it ignores that the other `N - M` data points
    also put density near `z_i`, so for narrow posteriors it approaches the TC of a dataset of `N`
    distinct codes, `(d - 1) log N` plus up to `(d - 1) log M`; independent latents with posteriors
    that overlap across the batch give about `(d - 1) log N`. These offsets are constants, so they
    carry no gradient, but the reported values are not zero-centred.

    Args:
        z: float tensor `(M, d)` (or `(..., d)`, leading axes flattened into the batch): samples
            `z_i ~ q(z | x_i)`.
        mean: float tensor of the same shape, `mu(x_i)`.
        log_variance: float tensor of the same shape, `log sigma^2(x_i)`.
        dataset_size: `N`, the number of examples in the training set (python number or scalar).

    Returns:
        `(mutual_information, total_correlation, dimension_wise_kl)`, float32 scalars.
    """
    z = ops.cast(z, "float32")
    num_latents = z.shape[-1]
    z = ops.reshape(z, (-1, num_latents))
    mean = ops.reshape(ops.cast(mean, "float32"), (-1, num_latents))
    log_variance = ops.reshape(ops.cast(log_variance, "float32"), (-1, num_latents))
    batch_size = ops.cast(ops.shape(z)[0], "float32")
    log_normaliser = ops.log(ops.cast(dataset_size, "float32") * batch_size)

    # log q(z_ik | x_jk) for sample i, data point j, latent k: (M, M, d).
    scale = ops.exp(0.5 * log_variance)
    pairwise = normal_log_prob(ops.expand_dims(z, 1), ops.expand_dims(mean, 0), ops.expand_dims(scale, 0))
    log_q_z = ops.logsumexp(ops.sum(pairwise, axis=-1), axis=1) - log_normaliser
    log_q_z_product = ops.sum(ops.logsumexp(pairwise, axis=1) - log_normaliser, axis=-1)
    # The diagonal j = i, computed directly rather than gathered from the (M, M, d) tensor.
    log_q_z_given_x = ops.sum(normal_log_prob(z, mean, scale), axis=-1)
    log_p_z = ops.sum(normal_log_prob(z, 0.0, 1.0), axis=-1)

    mutual_information = ops.mean(log_q_z_given_x - log_q_z)
    total_correlation = ops.mean(log_q_z - log_q_z_product)
    dimension_wise_kl = ops.mean(log_q_z_product - log_p_z)
    return mutual_information, total_correlation, dimension_wise_kl


def minibatch_weighted_total_correlation(z, mean, log_variance, dataset_size):
    """MWS estimate of the total correlation `KL(q(z) || prod_k q(z_k))` in nats (see
    `minibatch_weighted_kl_decomposition`, whose second term this is).

    Args:
        z: float tensor `(M, d)`, samples `z_i ~ q(z | x_i)`.
        mean: float tensor `(M, d)`, posterior means.
        log_variance: float tensor `(M, d)`, posterior log-variances.
        dataset_size: `N`, the size of the training set.

    Returns:
        float32 scalar.
    """
    return minibatch_weighted_kl_decomposition(z, mean, log_variance, dataset_size)[1]


# ---------------------------------------------------------------------------------- the layer
@keras.saving.register_keras_serializable(package="keras_latentquant")
class GaussianPosterior(keras.layers.Layer):
    """Diagonal Gaussian posterior with the VAE / beta-VAE / beta-TCVAE rate term.

    The input is the encoder's head of width `2 d`: the first `d` entries are the means `mu`, the last
    `d` the log-variances `log sigma^2`, clamped to `log_variance_range` before use (a bounded
    log-variance keeps `exp`, the KL's `-log sigma^2` and the TC estimator's `(z - mu)^2 / sigma^2`
    finite; outside the range the clamp passes no gradient).

    Objective (added with `add_loss`, in float32, times `loss_scale`):

    - `total_correlation_weight == 0` (VAE, beta-VAE): `beta * KL`, with the closed-form
      `KL = mean_batch sum_k KL(q(z_k | x) || N(0, 1))`.
    - `total_correlation_weight > 0` (beta-TCVAE): `beta * (MI + DWKL) + total_correlation_weight * TC`
      with the MWS estimates of mutual information, total correlation and dimension-wise KL at the
      reparameterised sample (see `minibatch_weighted_kl_decomposition`). With the default `beta = 1`
      this is Chen et al.'s objective with alpha = gamma = 1 and beta_tc = `total_correlation_weight`;
      at `total_correlation_weight = beta` it is `beta` times the one-sample KL estimate
      `log q(z|x) - log p(z)`, i.e. a (sampled) beta-VAE. At inference the sample uses fixed noise,
      so the loss (as `evaluate` reports it) is deterministic for a given batch.

    `loss_scale`: the models' reconstruction loss is the binary cross-entropy AVERAGED over pixels,
    while the KL is in nats per image (summed over latents); `loss_scale = 1 / num_pixels` (what the
    model registry passes) puts both in the same units, i.e. the per-image ELBO divided by the number
    of pixels. The default 1.0 leaves the KL per image.

    Args:
        beta: weight of the KL (VAE: 1; beta-VAE: > 1); in beta-TCVAE mode the weight of the
            mutual-information and dimension-wise-KL terms. Non-negative.
        total_correlation_weight: 0 (default) for the VAE / beta-VAE objective; > 0 switches on the
            beta-TCVAE objective with this weight on the total correlation (Chen et al.: 6 on dSprites).
        dataset_size: number of training examples `N`, needed by the MWS estimator (required when
            `total_correlation_weight > 0`, otherwise unused).
        loss_scale: factor on every loss term (see above), > 0.
        log_variance_range: `(low, high)` clamp of the log-variances, default `(-20.0, 10.0)`
            (standard deviations from about 4.5e-5 to 148).
        seed: int seed of the reparameterisation noise, or None.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, 2 * d)` (any leading axes are treated as the batch).
        training: if True, return the sample `mu + sigma * eps`; otherwise (False or None) the mean
            `mu`, so inference is deterministic.

    Input shape:
        `(batch, 2 * d)` with a known, even last axis.

    Output shape:
        `(batch, d)`.

    Metrics (Keras metrics owned by the layer; they appear in `fit` logs, in nats per example and
    without `beta` or `loss_scale`): `<name>_kl` (closed-form KL); with `total_correlation_weight > 0`
    also `<name>_total_correlation`, `<name>_mutual_information` and `<name>_dimension_wise_kl` (the
    MWS estimates, biased as that function documents: the total correlation sits near the constant
    `(d - 1) log N`, not 0, for independent latents; changes of it are what is informative).
    The estimator compares every pair of batch elements: `batch^2 * d` floats of memory in that mode.

    Example:

    >>> layer = GaussianPosterior(beta=4.0)
    >>> means = layer(np.array([[0.5, -1.0, -2.0, 0.3]], dtype="float32"))  # [[0.5, -1.0]]
    >>> sample = layer(np.array([[0.5, -1.0, -2.0, 0.3]], dtype="float32"), training=True)
    """

    def __init__(
        self,
        beta: float = 1.0,
        total_correlation_weight: float = 0.0,
        dataset_size: int | None = None,
        loss_scale: float = 1.0,
        log_variance_range: Sequence[float] = (-20.0, 10.0),
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.beta = validate_weight("beta", beta)
        self.total_correlation_weight = validate_weight("total_correlation_weight", total_correlation_weight)
        self.dataset_size = validate_dataset_size(dataset_size, self.total_correlation_weight)
        self.loss_scale = validate_loss_scale(loss_scale)
        self.log_variance_range = validate_range("log_variance_range", log_variance_range)
        self.seed = validate_seed(seed)
        self.supports_masking = False
        self.seed_generator = keras.random.SeedGenerator(seed)

        self.kl_tracker = MonitoredMean(name=f"{self.name}_kl")
        if self.uses_total_correlation:
            self.total_correlation_tracker = MonitoredMean(name=f"{self.name}_total_correlation")
            self.mutual_information_tracker = MonitoredMean(name=f"{self.name}_mutual_information")
            self.dimension_wise_kl_tracker = MonitoredMean(name=f"{self.name}_dimension_wise_kl")

    @property
    def uses_total_correlation(self) -> bool:
        """True for the beta-TCVAE objective (`total_correlation_weight > 0`)."""
        return self.total_correlation_weight > 0

    def build(self, input_shape):
        self.num_latents = posterior_num_latents(input_shape, type(self).__name__)

    def call(self, inputs, training=None):
        mean, log_variance = split_mean_log_variance(inputs, self.log_variance_range, type(self).__name__)
        kl = ops.mean(gaussian_kl_to_standard_normal(mean, log_variance))
        update_tracker(self.kl_tracker, kl)

        sample = None
        if training:
            # Reparameterisation: z = mu + sigma * eps, so gradients reach mu and log sigma^2.
            sample = reparameterise(mean, log_variance, self.seed_generator)
        if self.uses_total_correlation:
            z = sample if sample is not None else reparameterise(mean, log_variance, _INFERENCE_NOISE_SEED)
            mutual_information, total_correlation, dimension_wise_kl = minibatch_weighted_kl_decomposition(
                z, mean, log_variance, self.dataset_size
            )
            # beta-TCVAE: beta * (MI + DWKL) + beta_tc * TC (Chen et al. 2018, alpha = gamma = beta).
            rate = self.beta * (mutual_information + dimension_wise_kl) + (
                self.total_correlation_weight * total_correlation
            )
            update_tracker(self.total_correlation_tracker, total_correlation)
            update_tracker(self.mutual_information_tracker, mutual_information)
            update_tracker(self.dimension_wise_kl_tracker, dimension_wise_kl)
        else:
            rate = self.beta * kl
        self.add_loss(self.loss_scale * rate)

        outputs = sample if sample is not None else mean
        return ops.cast(outputs, self.compute_dtype)

    def evaluation_latents(self, inputs):
        """The representation the disentanglement metrics score: the posterior means (continuous).

        Returns:
            `(means, False)`, the means a float32 tensor `(batch, d)`.
        """
        mean, _ = split_mean_log_variance(inputs, self.log_variance_range, type(self).__name__)
        return mean, False

    def compute_output_shape(self, input_shape):
        num_latents = posterior_num_latents(input_shape, type(self).__name__)
        return tuple(input_shape[:-1]) + (num_latents,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta": self.beta,
                "total_correlation_weight": self.total_correlation_weight,
                "dataset_size": self.dataset_size,
                "loss_scale": self.loss_scale,
                "log_variance_range": list(self.log_variance_range),
                "seed": self.seed,
            }
        )
        return config


# ---------------------------------------------------------------------------------- shared helpers
# (also used by ard_gaussian_posterior.py)
def split_mean_log_variance(inputs, log_variance_range, layer_name: str):
    """float32 `(mean, clamped log_variance)`, each `(..., d)`, from `(..., 2 d)` encoder outputs."""
    encoded = ops.cast(inputs, "float32")
    num_latents = posterior_num_latents(encoded.shape, layer_name)
    mean = encoded[..., :num_latents]
    low, high = log_variance_range
    log_variance = ops.clip(encoded[..., num_latents:], low, high)
    return mean, log_variance


def reparameterise(mean, log_variance, seed):
    """`mu + sigma * eps` with `eps ~ N(0, I)` drawn with `seed` (a SeedGenerator or a fixed int)."""
    noise = keras.random.normal(ops.shape(mean), dtype="float32", seed=seed)
    return mean + ops.exp(0.5 * log_variance) * noise
