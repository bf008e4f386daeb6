"""FactorQVAE's bottleneck: one global scalar codebook, a Gumbel-softmax relaxation, and a total-correlation critic.

From Baykal, Kandemir and Unal, "Disentanglement with Factor Quantized Variational Autoencoders" (2024,
arXiv 2409.14851), as their code computes it (github ituvisionlab/FactorQVAE, `RelaxedVQQuantizer` and
`FactorQVAE`). Every latent dimension `j` of an encoding `z` picks a value of ONE codebook `c` of `K` scalars
(64 there, drawn from N(0, 1)), through the squared distances `d_jk = (z_j - c_k)^2`:

- training: soft one-hot weights `w_j = softmax((-d_j + g_j) / tau)` with Gumbel noise `g` (not hardened), and
  the decoder reads `sum_k w_jk c_k`; the temperature decays with the training step, `tau = exp(-1e-5 * step)`
  (the model's train step sets it), the schedule issue 17 specifies for FactorQVAE. Their released code differs
  here: its quantizer keeps `tau` at the config's `temp: 1` (it is passed the step and does not use it);
  `temperature_decay=0` computes that. The two agree at step 0 and differ by 3% at 3,000 steps (tau 0.970),
  by a factor e at their 100,000 (tau 0.368);
- inference: `w_j` one-hot at `argmin_k d_jk`, the decoder reads that codebook value;
- a KL term to the uniform prior over codebook entries, `mean_{n,j} sum_k p_jk log(K p_jk + 1e-10)` with
  `p_j = softmax(-d_j)`, weighted by `kl_weight`;
- a total-correlation estimate `mean(D(w)_0 - D(w)_1)` by a discriminator `D` (an MLP on the flattened weights,
  `discriminator_layers` hidden layers of `discriminator_units` units with LeakyReLU(0.2), then 2 logits; weights
  from N(0, 0.02), zero biases) that is trained to tell weights of real encodings (class 0) from weights permuted
  independently across the batch in every dimension (class 1), FactorVAE's density-ratio trick. The model's
  train step (`models.factorqvae.FactorQVAE`) adds it with `tc_weight` and trains the discriminator.

The integer codes scored by the metrics are the chosen entries' ranks in the sorted codebook (code 0 is the
smallest value), so they are ordered like the values whatever order the codebook's entries are stored in.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_latentquant.layers.codebook_usage import usage_statistics
from keras_latentquant.layers.monitoring import MonitoredMean, update_tracker
from keras_latentquant.layers.validation import (
    latent_axis_size,
    require_built,
    validate_int,
    validate_seed,
    validate_weight,
)

__all__ = ["FactorQuantization"]


@keras.saving.register_keras_serializable(package="keras_latentquant")
class FactorQuantization(keras.layers.Layer):
    """FactorQVAE's relaxed quantizer over one global scalar codebook, with its total-correlation discriminator.

    Args:
        num_values: entries `K` of the global codebook (FactorQVAE: 64), at least 2.
        kl_weight: weight of the KL term to the uniform prior over entries (FactorQVAE's Shapes3D value 1e-3).
        tc_weight: weight `gamma` of the total-correlation estimate in the model's loss (Shapes3D: 1e-4); the
            layer stores it for the model's train step, which adds the term.
        temperature_decay: `tau = exp(-temperature_decay * step)` (1e-5, issue 17's schedule; 0 keeps `tau` at 1,
            as FactorQVAE's released code does).
        discriminator_units: width of the discriminator's hidden layers (FactorQVAE: 1000).
        discriminator_layers: number of hidden layers (FactorQVAE: 5, then the 2-logit output layer).
        seed: seeds the codebook, the discriminator's initial weights, the Gumbel noise and the permutations.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, num_latents)` encoder outputs.
        training: relaxed (soft weights at the current temperature, Gumbel noise) if True, else the nearest
            codebook value.

    Losses:
        `kl_weight * kl` through `add_loss`; monitored: `<name>_kl`, `<name>_perplexity` (of the batch's entry
        usage over all dimensions, between 1 and K), `<name>_usage` (fraction of entries used).
    """

    def __init__(
        self,
        num_values: int = 64,
        kl_weight: float = 1e-3,
        tc_weight: float = 1e-4,
        temperature_decay: float = 1e-5,
        discriminator_units: int = 1000,
        discriminator_layers: int = 5,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_values = validate_int("num_values", num_values, 2)
        self.kl_weight = validate_weight("kl_weight", kl_weight)
        self.tc_weight = validate_weight("tc_weight", tc_weight)
        self.temperature_decay = validate_weight("temperature_decay", temperature_decay)
        self.discriminator_units = validate_int("discriminator_units", discriminator_units, 1)
        self.discriminator_layers = validate_int("discriminator_layers", discriminator_layers, 1)
        self.seed = validate_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.kl_tracker = MonitoredMean(name=f"{self.name}_kl")
        self.perplexity_tracker = MonitoredMean(name=f"{self.name}_perplexity")
        self.usage_tracker = MonitoredMean(name=f"{self.name}_usage")
        init_seed = None if self.seed is None else self.seed + 1
        # float32 whatever the policy: the critic's logit differences are the total-correlation estimate.
        self.discriminator = keras.Sequential(
            [
                layer
                for index in range(self.discriminator_layers)
                for layer in (
                    keras.layers.Dense(
                        self.discriminator_units, dtype="float32", name=f"hidden_{index}",
                        kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02, seed=_offset(init_seed, index)),
                    ),
                    keras.layers.LeakyReLU(0.2, dtype="float32", name=f"leaky_relu_{index}"),
                )
            ]
            + [keras.layers.Dense(2, dtype="float32", name="logits",
                                  kernel_initializer=keras.initializers.RandomNormal(
                                      0.0, 0.02, seed=_offset(init_seed, self.discriminator_layers)))],
            name="discriminator",
        )

    def build(self, input_shape):
        self.num_latents = latent_axis_size(input_shape, type(self).__name__)
        self.codebook = self.add_weight(
            name="codebook", shape=(self.num_values,), dtype="float32", autocast=False,
            initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed),
        )
        # The relaxation's temperature, set by the model's train step from the optimizer's step count.
        self.temperature = self.add_weight(name="temperature", shape=(), dtype="float32", trainable=False,
                                           initializer="ones", autocast=False)
        self.discriminator.build((None, self.num_latents * self.num_values))

    # ------------------------------------------------------------------ maths
    def distances(self, latents):
        """Squared distances `(z_j - c_k)^2`, shape `(batch, num_latents, K)`."""
        return ops.square(ops.expand_dims(ops.cast(latents, "float32"), -1) - self.codebook)

    def relax(self, inputs, training=False):
        """Returns `(values the decoder reads, weights (batch, num_latents, K), kl)` of encoder outputs."""
        distances = self.distances(inputs)
        if training:
            uniform = keras.random.uniform(ops.shape(distances), minval=1e-10, maxval=1.0, seed=self.seed_generator)
            gumbel = -ops.log(-ops.log(uniform))
            weights = ops.softmax((gumbel - distances) / self.temperature, axis=-1)
        else:
            weights = ops.one_hot(ops.argmin(distances, axis=-1), self.num_values, dtype="float32")
        values = ops.sum(weights * self.codebook, axis=-1)
        return values, weights, self.kl_to_uniform(distances)

    def kl_to_uniform(self, distances):
        """`mean_{n,j} sum_k p log(K p + 1e-10)` with `p = softmax(-d)`: the KL to the uniform prior."""
        posterior = ops.softmax(-distances, axis=-1)
        return ops.mean(ops.sum(posterior * ops.log(posterior * self.num_values + 1e-10), axis=-1))

    def discriminate(self, weights):
        """The discriminator's two logits for weights `(batch, num_latents, K)`: class 0 real, class 1 permuted."""
        return self.discriminator(ops.reshape(ops.cast(weights, "float32"), (-1, self.num_latents * self.num_values)))

    def total_correlation(self, weights):
        """The density-ratio estimate of the weights' total correlation, `mean(D_0 - D_1)`."""
        logits = self.discriminate(weights)
        return ops.mean(logits[:, 0] - logits[:, 1])

    def permute_dims(self, weights):
        """Each latent dimension's rows shuffled across the batch independently (samples of prod_j q(w_j))."""
        order = ops.argsort(keras.random.uniform(ops.shape(weights)[:2], seed=self.seed_generator), axis=0)
        return ops.take_along_axis(weights, ops.expand_dims(order, -1), axis=0)

    def temperature_at(self, step):
        """`exp(-temperature_decay * step)`."""
        return ops.exp(-self.temperature_decay * ops.cast(step, "float32"))

    def call(self, inputs, training=False):
        values, weights, kl = self.relax(inputs, training=training)
        self.add_loss(self.kl_weight * kl)
        update_tracker(self.kl_tracker, kl)
        self.update_usage(weights)
        return ops.cast(values, self.compute_dtype)

    def update_usage(self, weights):
        """Updates the perplexity and usage trackers from the entries that weights `(..., K)` pick."""
        counts = ops.sum(ops.reshape(ops.stop_gradient(ops.one_hot(ops.argmax(weights, axis=-1), self.num_values)),
                                     (-1, self.num_values)), axis=0)
        perplexity, used = usage_statistics(counts, float(self.num_values))
        update_tracker(self.perplexity_tracker, perplexity)
        update_tracker(self.usage_tracker, used)

    # ------------------------------------------------------------------ codes
    def encode_codes(self, inputs):
        """Rank, in the sorted codebook, of the nearest entry of every dimension: int32 `(..., num_latents)`."""
        if not self.built:
            self.build(tuple(inputs.shape))
        nearest = ops.argmin(self.distances(inputs), axis=-1)
        ranks = ops.argsort(ops.argsort(self.codebook))
        return ops.cast(ops.take(ranks, nearest), "int32")

    def decode_codes(self, codes):
        """Codebook values of rank codes (the inverse of `encode_codes` on the codebook)."""
        require_built(self, "decode_codes")
        return ops.take(ops.sort(self.codebook), ops.clip(ops.cast(codes, "int32"), 0, self.num_values - 1))

    def evaluation_latents(self, inputs):
        """The representation the metrics score: the rank codes (discrete)."""
        return self.encode_codes(inputs), True

    # ------------------------------------------------------------------ Keras plumbing
    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_values": self.num_values, "kl_weight": self.kl_weight, "tc_weight": self.tc_weight,
            "temperature_decay": self.temperature_decay, "discriminator_units": self.discriminator_units,
            "discriminator_layers": self.discriminator_layers, "seed": self.seed,
        })
        return config


def _offset(seed, index):
    return None if seed is None else seed + 1 + index
