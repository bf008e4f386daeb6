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

The step is written for TensorFlow (a persistent `GradientTape`) and JAX (the same forward pass as a pure function
of the trainer's state, one VJP per loss; single device), and both give the same logs and weights after a step
to 1.2e-7 on a fixed draw (`tests/backends`); PyTorch is refused with a message.

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

    def train_step(self, *args):
        """One FactorQVAE step: Keras calls it with `(data)` under TensorFlow and with `(state, data)` under JAX,
        whose trainer is stateless; both run `_step_terms` and `_record`."""
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return self._tensorflow_train_step(*args)
        if backend == "jax":
            return self._jax_train_step(*args)
        raise NotImplementedError(
            f"FactorQVAE's two-part train step is written for the TensorFlow and JAX backends, not {backend!r}; "
            "set KERAS_BACKEND=tensorflow or jax.")

    def _split(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        half = ops.shape(images)[0] // 2
        return images[:half], images[half:2 * half]

    def _variable_groups(self):
        """`(autoencoder_variables, critic_variables)`: the trainable variables each loss updates."""
        _, bottleneck, _ = self._parts()
        critic_variables = bottleneck.discriminator.trainable_variables
        critic_ids = {id(variable) for variable in critic_variables}
        # In the model's own variable order, which is the order the optimizer's state is built and saved in.
        return [v for v in self.trainable_variables if id(v) not in critic_ids], critic_variables

    def _step_terms(self, first, second) -> dict:
        """The step's forward pass (after setting the temperature for this step): the autoencoder's `loss`
        (reconstruction + kl_weight KL + tc_weight TC, from the first half) and the `discriminator_loss` (first
        half against the second half permuted), their terms, and the first half's relaxed `weights`."""
        encoder, bottleneck, decoder = self._parts()
        bottleneck.temperature.assign(bottleneck.temperature_at(self.optimizer.iterations))
        values, weights, kl = bottleneck.relax(encoder(first, training=True), training=True)
        logits = ops.cast(decoder(ops.cast(values, decoder.compute_dtype), training=True), "float32")
        reconstruction = ops.mean(ops.square(ops.sigmoid(logits) - ops.cast(first, "float32")))
        real_logits = bottleneck.discriminate(weights)
        total_correlation = ops.mean(real_logits[:, 0] - real_logits[:, 1])
        loss = reconstruction + bottleneck.kl_weight * kl + bottleneck.tc_weight * total_correlation
        _, other_weights, _ = bottleneck.relax(encoder(second, training=True), training=True)
        permuted_logits = bottleneck.discriminate(ops.stop_gradient(bottleneck.permute_dims(other_weights)))
        discriminator_loss = 0.5 * (_cross_entropy(real_logits, 0) + _cross_entropy(permuted_logits, 1))
        return {"loss": loss, "reconstruction_loss": reconstruction, "total_correlation": total_correlation,
                "discriminator_loss": discriminator_loss, "kl": kl, "weights": weights}

    def _record(self, terms) -> dict:
        """Updates the trackers from a step's terms; returns the logs."""
        _, bottleneck, _ = self._parts()
        bottleneck.update_usage(terms["weights"])
        bottleneck.kl_tracker.update_state(terms["kl"])
        for name in ("loss", "reconstruction_loss", "total_correlation", "discriminator_loss"):
            self.step_trackers[name].update_state(terms[name])
        return {metric.name: metric.result() for metric in self.metrics}

    def _tensorflow_train_step(self, data):
        import tensorflow as tf  # this backend's step only: the model loads without TensorFlow elsewhere

        first, second = self._split(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        autoencoder_variables, critic_variables = self._variable_groups()
        with tf.GradientTape(persistent=True) as tape:
            terms = self._step_terms(first, second)
            scaled = self.optimizer.scale_loss(terms["loss"] / replicas)
            scaled_critic = self.optimizer.scale_loss(terms["discriminator_loss"] / replicas)
        gradients = dict(zip(map(id, autoencoder_variables), tape.gradient(scaled, autoencoder_variables)))
        gradients.update(zip(map(id, critic_variables), tape.gradient(scaled_critic, critic_variables)))
        del tape
        self.optimizer.apply([gradients[id(v)] for v in self.trainable_variables], self.trainable_variables)
        return self._record(terms)

    def _jax_train_step(self, state, data):
        """The same step as a pure function of the trainer's state (JAX): the forward pass runs once, in a
        stateless scope over every variable; one VJP per loss gives each part the gradient of its own loss, as
        the TensorFlow step's persistent tape does. (Single device: JAX's data-parallel path is not covered.)"""
        import jax

        trainable, non_trainable, optimizer_values, metric_values = state
        first, second = self._split(data)
        _, critic_variables = self._variable_groups()
        critic_ids = {id(v) for v in critic_variables}
        fixed = [*zip(self.non_trainable_variables, non_trainable), *zip(self.optimizer.variables, optimizer_values),
                 *zip(self.metrics_variables, metric_values)]

        def current(scope, variables):
            values = [scope.get_current_value(v) for v in variables]
            return [v.value if value is None else value for v, value in zip(variables, values)]

        def forward(trainable_values):
            with keras.StatelessScope(state_mapping=[*zip(self.trainable_variables, trainable_values), *fixed]) as scope:
                terms = self._step_terms(first, second)
                scaled = (self.optimizer.scale_loss(terms["loss"]),
                          self.optimizer.scale_loss(terms["discriminator_loss"]))
                logs = self._record({k: ops.stop_gradient(v) for k, v in terms.items()})
            return scaled, (logs, current(scope, self.non_trainable_variables), current(scope, self.metrics_variables))

        scaled, pullback, (logs, non_trainable, metric_values) = jax.vjp(forward, trainable, has_aux=True)
        ones, zeros = ops.ones_like(scaled[0]), ops.zeros_like(scaled[1])
        (autoencoder_gradients,) = pullback((ones, zeros))
        (critic_gradients,) = pullback((zeros, ones))
        gradients = [c if id(v) in critic_ids else a for v, a, c in
                     zip(self.trainable_variables, autoencoder_gradients, critic_gradients)]
        trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, gradients, trainable)
        return logs, (trainable, non_trainable, optimizer_values, metric_values)

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
