"""FactorQVAE (Baykal, Kandemir and Unal 2024): the autoencoder around `layers.FactorQuantization`, and its step.

The model is a functional autoencoder like every other here (`image -> encoder -> bottleneck -> decoder ->
pixel logits`, so evaluation, traversals and export treat it alike); only its train step differs, as
FactorQVAE's code trains it (github ituvisionlab/FactorQVAE, `models/factor_qvae.py`):

- each batch is split into two halves; the first trains the autoencoder with the reconstruction error (mean
  squared error of the pixels, as there; here of the sigmoid of our decoder's logits, since our decoders emit
  logits), `kl_weight * KL` and `tc_weight * mean(D_0 - D_1)` of its relaxed weights;
- the discriminator `D` learns, with the cross-entropy `(CE(D(w_first), 0) + CE(D(permuted w_second), 1)) / 2`,
  to tell the first half's weights from the second half's with every dimension permuted across the batch;
- the relaxation's temperature is `exp(-temperature_decay * step)`, from the optimizer's step count (their
  released code keeps it at 1: `temperature_decay=0`; see `layers.factor_quantization`);
- Adam at 1e-3 for both parts, its rate following a periodic cosine with period 2 x 50,000 steps down to
  1.25e-6 (PyTorch's CosineAnnealingLR with T_max 50,000, as their configs set it).

Differences from their code, none of which changes the function computed at a step: one Adam instance updates
both parts (Adam's state is per variable, and both parts have the same rate schedule, so two instances would
take the same steps); the second half is encoded before the autoencoder's update of the same step rather than
after it (their discriminator then sees an encoder one update newer). Around the bottleneck the encoder and
decoder are this library's (`--architecture`), not their residual blocks, and ours emit logits (see above).

Checked against their code in a scratch environment (PyTorch 2.13, their `RelaxedVQQuantizer`, `Discriminator`
and the loss lines of `training_step`, our weights copied in, one fixed Gumbel draw and permutation; 32 x 10
latents, K = 64): relaxed weights, decoder input, KL and TC terms, discriminator loss and the gradients with
respect to latents, codebook and every discriminator kernel agree to float32 round-off (at most 5e-6 relative,
the KL term; the rest under 7e-7); the learning rate matches CosineAnnealingLR to 1.6e-7 of its initial value
over 120,000 steps; three Adam steps agree to 1.2e-7.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from keras_latentquant.layers.factor_quantization import FactorQuantization
from keras_latentquant.optimizers import DecoupledWeightDecayAdam

__all__ = ["FactorQVAE", "PeriodicCosine", "compile_factorqvae"]


@keras.saving.register_keras_serializable(package="keras_latentquant")
class PeriodicCosine(keras.optimizers.schedules.LearningRateSchedule):
    """`floor + (initial - floor) (1 + cos(pi step / half_period)) / 2`: PyTorch's CosineAnnealingLR, which keeps
    going up after `half_period` steps (Keras's CosineDecay stays at its floor)."""

    def __init__(self, initial: float, half_period: int, floor: float = 0.0):
        self.initial, self.half_period, self.floor = float(initial), int(half_period), float(floor)

    def __call__(self, step):
        phase = ops.cast(step, "float32") * (math.pi / self.half_period)
        return self.floor + (self.initial - self.floor) * 0.5 * (1.0 + ops.cos(phase))

    def get_config(self):
        return {"initial": self.initial, "half_period": self.half_period, "floor": self.floor}


@keras.saving.register_keras_serializable(package="keras_latentquant")
class FactorQVAE(keras.Model):
    """A functional autoencoder with a `FactorQuantization` bottleneck, trained by FactorQVAE's two-half step.

    Made like any functional model, `FactorQVAE(images, logits, name=...)` (see `build_factorqvae` in the
    catalogue); it needs layers named `encoder` and `decoder` and one `FactorQuantization` between them.
    `fit` reads `(images, images)` or `images` batches of an even size.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The train step's terms. Owned by the model, not the bottleneck layer: in any other model they would
        # never be updated, and the one named "loss" would shadow that model's loss in its logs.
        self.step_trackers = {name: keras.metrics.Mean(name=name) for name in (
            "loss", "reconstruction_loss", "total_correlation", "discriminator_loss")}

    def _parts(self):
        encoder, decoder = self.get_layer("encoder"), self.get_layer("decoder")
        bottleneck = next(layer for layer in self.layers if isinstance(layer, FactorQuantization))
        return encoder, bottleneck, decoder

    @property
    def metrics(self):
        # Made with the model (inside a distribution strategy's scope), like the bottleneck's own trackers.
        _, bottleneck, _ = self._parts()
        return [*self.step_trackers.values(), bottleneck.kl_tracker, bottleneck.perplexity_tracker,
                bottleneck.usage_tracker]

    def train_step(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        encoder, bottleneck, decoder = self._parts()
        half = ops.shape(images)[0] // 2
        first, second = images[:half], images[half:2 * half]
        bottleneck.temperature.assign(bottleneck.temperature_at(self.optimizer.iterations))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        critic_variables = bottleneck.discriminator.trainable_variables
        critic_ids = {id(variable) for variable in critic_variables}
        # In the model's own variable order, which is the order the optimizer's state is built and saved in.
        autoencoder_variables = [v for v in self.trainable_variables if id(v) not in critic_ids]
        with tf.GradientTape(persistent=True) as tape:
            values, weights, kl = bottleneck.relax(encoder(first, training=True), training=True)
            logits = ops.cast(decoder(ops.cast(values, decoder.compute_dtype), training=True), "float32")
            reconstruction = ops.mean(ops.square(ops.sigmoid(logits) - ops.cast(first, "float32")))
            real_logits = bottleneck.discriminate(weights)
            total_correlation = ops.mean(real_logits[:, 0] - real_logits[:, 1])
            loss = reconstruction + bottleneck.kl_weight * kl + bottleneck.tc_weight * total_correlation
            _, other_weights, _ = bottleneck.relax(encoder(second, training=True), training=True)
            permuted_logits = bottleneck.discriminate(ops.stop_gradient(bottleneck.permute_dims(other_weights)))
            discriminator_loss = 0.5 * (
                _cross_entropy(real_logits, 0) + _cross_entropy(permuted_logits, 1)
            )
            scaled = self.optimizer.scale_loss(loss / replicas)
            scaled_critic = self.optimizer.scale_loss(discriminator_loss / replicas)
        gradients = dict(zip(map(id, autoencoder_variables), tape.gradient(scaled, autoencoder_variables)))
        gradients.update(zip(map(id, critic_variables), tape.gradient(scaled_critic, critic_variables)))
        del tape
        self.optimizer.apply([gradients[id(v)] for v in self.trainable_variables], self.trainable_variables)
        bottleneck.update_usage(weights)
        bottleneck.kl_tracker.update_state(kl)
        for name, value in (("loss", loss), ("reconstruction_loss", reconstruction),
                            ("total_correlation", total_correlation), ("discriminator_loss", discriminator_loss)):
            self.step_trackers[name].update_state(value)
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        """The autoencoder's loss at inference (nearest codebook values, no Gumbel noise) on the whole batch."""
        images = data[0] if isinstance(data, (tuple, list)) else data
        encoder, bottleneck, decoder = self._parts()
        values, weights, kl = bottleneck.relax(encoder(images, training=False), training=False)
        logits = ops.cast(decoder(ops.cast(values, decoder.compute_dtype), training=False), "float32")
        reconstruction = ops.mean(ops.square(ops.sigmoid(logits) - ops.cast(images, "float32")))
        total_correlation = bottleneck.total_correlation(weights)
        loss = reconstruction + bottleneck.kl_weight * kl + bottleneck.tc_weight * total_correlation
        trackers = self.step_trackers
        for name, value in (("loss", loss), ("reconstruction_loss", reconstruction),
                            ("total_correlation", total_correlation)):
            trackers[name].update_state(value)
        bottleneck.kl_tracker.update_state(kl)
        return {name: trackers[name].result() for name in ("loss", "reconstruction_loss", "total_correlation")} | {
            bottleneck.kl_tracker.name: bottleneck.kl_tracker.result()}


def _cross_entropy(logits, label: int):
    """Mean cross-entropy of 2-class logits against one label for the whole batch."""
    return -ops.mean(ops.log_softmax(logits, axis=-1)[:, label])


def compile_factorqvae(model: FactorQVAE, learning_rate: float = 1e-3, half_period: int = 50_000,
                       floor: float = 1.25e-6, jit_compile: bool | str = False) -> FactorQVAE:
    """Adam with FactorQVAE's periodic cosine rate (both parts; see the module docstring): PyTorch's Adam, with
    epsilon 1e-8 added after bias correction, no clipping and no weight decay."""
    optimizer = DecoupledWeightDecayAdam(learning_rate=PeriodicCosine(learning_rate, half_period, floor),
                                         weight_decay=0.0, clip_value=None, epsilon=1e-8)
    if model.dtype_policy.name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, jit_compile=jit_compile)
    return model
