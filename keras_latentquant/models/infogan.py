"""InfoWGAN-GP and QLInfoGAN (paper.md section 3): latent-reconstructing GANs trained with `model.fit`.

A generator maps a latent sample to an image; one shared encoder/critic network maps an image to a
critic value (column 0 of its head) and an estimate of the generator's latent (columns 1..d). Losses:

- critic (Wasserstein with gradient penalty, Gulrajani et al. 2017):
  `mean D(fake) - mean D(real) + gp_weight * mean((||grad_x D(x_mix)||_2 - 1)^2)`, `x_mix` a uniform
  random mix of a real and a fake image per sample, `gp_weight` 10;
- latent regression (InfoGAN's mutual-information term, as a squared error):
  `latent_regression_weight * mean((estimate(G(z)) - z)^2)`, weight 200, in both the critic's and the
  generator's loss, so the encoder recovers the generator's latent and the generator makes it recoverable;
- generator: `-mean D(G(z))` plus the latent regression.

**QLInfoGAN** samples `z` from the quantized grid (each dimension one of its codebook values, uniformly:
`LatentQuantization.codes_from_uniform`) and quantizes the encoder's estimate with the same
`LatentQuantization` layer (straight-through), adding its quantization and commitment losses (0.01 each)
to the critic's loss; the codebook is trained by the critic's optimizer. **InfoWGAN-GP** samples `z`
from a continuous prior (uniform on `prior_range`, default the QLInfoGAN codebook's initial range
[-0.5, 0.5], so the two differ only by quantization) and regresses the raw estimate.

One `fit` step = `critic_steps` (default 5) critic updates, each on its own slice of the real batch, then
one generator update, all in one compiled step. The generator is fixed during the critic updates, so the
fakes of all critic steps come from one generator call, and each critic update scores its real and fake
slices in one critic call. The batch that `fit` feeds must therefore hold
`critic_steps * batch_size` real images (`trainers/infogan.py` batches that way). The critic steps are
unrolled when the step is traced (a fixed count, so the graph is static): a `tf.while_loop` around
`optimizer.apply` would call `merge_call` inside control flow, which `MirroredStrategy` refuses.

Optimizers: Adam lr 2e-4, beta1 0, beta2 0.9, one for the critic (and the codebook), one for the
generator, each computing the reference's optax chain (`optimizers.DecoupledWeightDecayAdam`:
epsilon after bias correction; element-wise clipping at 1.0 and decoupled weight decay, 1e-3 for
QLInfoGAN and 0 for InfoWGAN-GP, on every weight except biases, instance-norm offsets and the codebook).

Where this differs from the reference implementation (`models/info_gan.py`, `quantized_info_gan.py`), on
purpose or not yet resolved: there the codebook is updated by the *generator's* optimizer, with gradients
from the generator loss (latents are sampled from the codebook values, so the values get gradients through
the generator and the latent regression, plus the quantization loss on fakes), and the quantizer's two
losses enter both networks' losses; here the codebook is trained by the critic's optimizer from the critic
loss. The critic's value and latent heads are one dense layer here and two there (the same function).

Random draws differ between `jit_compile=True` and False for the same seed (TensorFlow's stateless ops
under XLA on CPU), so a resumed run repeats the stream only with the same `jit_compile`.

Random draws (latents, mixing weights) are stateless, seeded by `(seed, counter * 2^16 + replica id)` with
the counter a saved weight (`draw_counter`, three draws per train step): a plain `SeedGenerator` gives
every replica of a `MirroredStrategy` the same numbers and is not kept by `save_weights`.

Losses are means over the per-replica batch divided by the number of replicas, so the gradients the
strategy sums are those of the global batch mean.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_latentquant.layers import LatentQuantization
from keras_latentquant.models.choices import PRIORS
from keras_latentquant.models.decoders import build_decoder
from keras_latentquant.models.encoders import build_encoder
from keras_latentquant.optimizers import build_optimizer

__all__ = [
    "InfoGAN",
    "build_infogan",
    "compile_infogan",
    "build_generator",
    "build_gan_optimizer",
    "gradient_penalty",
    "PRIORS",
]


def build_generator(latent_dim=10, image_shape=(64, 64, 1), architecture="paper", name="generator") -> keras.Model:
    """The style decoder (`models.decoders.build_decoder`) followed by a sigmoid: latent -> image in [0, 1].

    A plain functional model (input `latent`, output `image`), so it can be saved and exported alone.
    """
    decoder = build_decoder(latent_dim=latent_dim, image_shape=image_shape, architecture=architecture)
    images = keras.layers.Activation("sigmoid", dtype="float32", name="image")(decoder.outputs[0])
    return keras.Model(decoder.inputs[0], images, name=name)


def build_gan_optimizer(
    learning_rate: float, beta_1: float, beta_2: float, weight_decay: float
) -> keras.optimizers.Optimizer:
    """The reference's GAN optimizer: Adam(2e-4, 0, 0.9); clipping at 1.0 and decoupled weight decay on the
    decayed group (kernels, norm scales, the learned constant), plain Adam on biases and the codebook."""
    return build_optimizer(
        learning_rate=learning_rate, weight_decay=weight_decay, clip_value=1.0, beta_1=beta_1, beta_2=beta_2
    )


def gradient_penalty(critic_value_fn, real, fake, mix):
    """WGAN-GP penalty `mean((||grad_x D(x_mix)||_2 - 1)^2)` with `x_mix = mix * real + (1 - mix) * fake`.

    Differentiable (second order) with respect to the critic's weights when called under a tape.

    Args:
        critic_value_fn: maps a batch of images to one critic value per image, `(batch,)`. The penalty
            needs per-sample gradients, so the critic must treat samples independently (no batch norm).
        real, fake: image batches of the same shape.
        mix: per-sample weights broadcastable against the images, e.g. `(batch, 1, 1, 1)` in [0, 1].

    Returns:
        `(penalty, gradient_norms)`: the scalar penalty and the `(batch,)` gradient norms.
    """
    mixed = mix * real + (1.0 - mix) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        values = critic_value_fn(mixed)
    gradients = tape.gradient(values, mixed)
    axes = list(range(1, len(mixed.shape)))
    # The small constant keeps the square root differentiable where a gradient is exactly zero.
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=axes) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0)), norms


def _replica_context():
    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context (not inside a train step): one "replica"
        return 1, 0
    return context.num_replicas_in_sync, context.replica_id_in_sync_group


@keras.saving.register_keras_serializable(package="keras_latentquant")
class InfoGAN(keras.Model):
    """An InfoWGAN-GP (no quantizer) or QLInfoGAN (with a `LatentQuantization` quantizer).

    Args:
        generator: functional model `latent (batch, d) -> image (batch, H, W, C)` in [0, 1].
        critic: functional model `image -> (batch, 1 + d)`: critic value, then the latent estimate.
        quantizer: a `LatentQuantization` for QLInfoGAN (latents sampled on its grid, estimates
            quantized); None for InfoWGAN-GP.
        critic_steps: critic updates per generator update (paper 5).
        gradient_penalty_weight: weight of the WGAN-GP penalty (paper 10).
        latent_regression_weight: weight of the latent regression loss (paper 200).
        prior: InfoWGAN-GP's latent prior, `"uniform"` on `prior_range` or `"normal"` (standard).
        prior_range: `(low, high)` of the uniform prior.
        seed: seed of the latent and mixing-weight draws (None: a random one, kept in the config).
        **kwargs: `keras.Model` arguments (`name`).

    Call:
        `model(images)` returns the encoder's continuous latent estimate `(batch, d)`.

    Example:

    >>> gan = build_qlinfogan((64, 64, 1), num_latents=10, architecture="fast")
    >>> gan.fit(images.batch(5 * 64), steps_per_epoch=100, epochs=1)  # 5 critic slices of 64
    """

    def __init__(
        self,
        generator: keras.Model,
        critic: keras.Model,
        quantizer: LatentQuantization | None = None,
        critic_steps: int = 5,
        gradient_penalty_weight: float = 10.0,
        latent_regression_weight: float = 200.0,
        prior: str = "uniform",
        prior_range: Sequence[float] = (-0.5, 0.5),
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(critic_steps, (int, np.integer)) or isinstance(critic_steps, bool) or critic_steps < 1:
            raise ValueError(f"critic_steps must be a positive integer; got {critic_steps!r}.")
        for label, value in (("gradient_penalty_weight", gradient_penalty_weight),
                             ("latent_regression_weight", latent_regression_weight)):
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{label} must be a finite number >= 0; got {value!r}.")
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}; got {prior!r}.")
        low, high = (float(v) for v in prior_range)
        if not low < high:
            raise ValueError(f"prior_range must be (low, high) with low < high; got {tuple(prior_range)}.")
        latent_dim = generator.inputs[0].shape[-1]
        image_shape = tuple(generator.outputs[0].shape[1:])
        if tuple(critic.inputs[0].shape[1:]) != image_shape:
            raise ValueError(
                f"The critic reads images of shape {tuple(critic.inputs[0].shape[1:])} but the generator "
                f"makes {image_shape}; build both for the same image shape."
            )
        if critic.outputs[0].shape[-1] != latent_dim + 1:
            raise ValueError(
                f"The critic's head must have 1 + latent_dim = {latent_dim + 1} outputs (critic value, "
                f"then the latent estimate); got {critic.outputs[0].shape[-1]}. Build it with "
                "build_encoder(..., output_dim=latent_dim + 1)."
            )
        if quantizer is not None and not isinstance(quantizer, LatentQuantization):
            raise TypeError(f"quantizer must be a LatentQuantization layer or None; got {type(quantizer).__name__}.")

        self.generator = generator
        self.critic = critic
        self.quantizer = quantizer
        self.latent_dim = int(latent_dim)
        self.image_shape = image_shape
        self.critic_steps = int(critic_steps)
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.latent_regression_weight = float(latent_regression_weight)
        self.prior = prior
        self.prior_range = (low, high)
        if quantizer is not None and not quantizer.built:
            quantizer.build((None, self.latent_dim))
        # Random stream: stateless draws seeded by (seed + replica id, counter). The counter is a weight,
        # so checkpoints and BackupAndRestore carry it and a resumed run continues the same stream (a
        # keras.random.SeedGenerator is not saved by save_weights, and gives every replica the same numbers).
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.draw_counter = self.add_weight(
            name="draw_counter", shape=(), dtype="int64", initializer="zeros", trainable=False,
            aggregation="only_first_replica",
        )

        self.critic_loss_tracker = keras.metrics.Mean(name="critic_loss")
        self.generator_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.wasserstein_tracker = keras.metrics.Mean(name="wasserstein_distance")
        self.gradient_penalty_tracker = keras.metrics.Mean(name="gradient_penalty")
        self.regression_tracker = keras.metrics.Mean(name="latent_regression_loss")
        self.generator_regression_tracker = keras.metrics.Mean(name="generator_latent_regression_loss")
        self.generator_optimizer = None
        self.built = True

    # ------------------------------------------------------------------ properties
    @property
    def quantized(self) -> bool:
        """True for QLInfoGAN (a quantizer), False for InfoWGAN-GP."""
        return self.quantizer is not None

    @property
    def critic_optimizer(self):
        return self.optimizer

    def critic_variables(self) -> list:
        """What the critic's optimizer trains: the critic/encoder and, for QLInfoGAN, the codebook."""
        variables = list(self.critic.trainable_variables)
        if self.quantizer is not None:
            variables += list(self.quantizer.trainable_variables)
        return variables

    # ------------------------------------------------------------------ compile / save
    def compile(self, critic_optimizer=None, generator_optimizer=None, jit_compile=False, **kwargs):
        """Sets both optimizers and builds their state (`compile_infogan` passes the reference's, with the
        model's defaults from `models.catalogue`).

        Args:
            critic_optimizer: optimizer of the critic/encoder and codebook (becomes `model.optimizer`).
            generator_optimizer: optimizer of the generator.
            jit_compile: compile the train step with XLA.
            **kwargs: other `keras.Model.compile` arguments (`steps_per_execution`, ...); no `loss`.
        """
        if "loss" in kwargs or "optimizer" in kwargs:
            raise ValueError(
                "InfoGAN.compile takes critic_optimizer and generator_optimizer; its losses are fixed "
                "by the model (WGAN-GP, latent regression, quantizer losses)."
            )
        if critic_optimizer is None or generator_optimizer is None:
            raise ValueError(
                "InfoGAN.compile needs critic_optimizer and generator_optimizer (e.g. two build_gan_optimizer(...) "
                "instances); models.catalogue.build_model compiles with the model's defaults."
            )
        critic_optimizer = keras.optimizers.get(critic_optimizer)
        generator_optimizer = keras.optimizers.get(generator_optimizer)
        if critic_optimizer is generator_optimizer:
            raise ValueError("critic_optimizer and generator_optimizer must be two optimizer instances.")
        # Under mixed_float16 Keras wraps the critic's optimizer in a LossScaleOptimizer (auto_scale_loss);
        # the generator's gets the same, so both losses are scaled before their gradients (train_step).
        super().compile(optimizer=critic_optimizer, jit_compile=jit_compile, **kwargs)
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            generator_optimizer, keras.optimizers.LossScaleOptimizer
        ):
            generator_optimizer = keras.optimizers.LossScaleOptimizer(generator_optimizer)
        self.generator_optimizer = generator_optimizer
        self.optimizer.build(self.critic_variables())
        self.generator_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        if self.generator_optimizer is None:
            return None
        return {
            "critic_optimizer": keras.saving.serialize_keras_object(self.optimizer),
            "generator_optimizer": keras.saving.serialize_keras_object(self.generator_optimizer),
            "jit_compile": bool(self.jit_compile),
        }

    def compile_from_config(self, config):
        self.compile(
            critic_optimizer=keras.saving.deserialize_keras_object(config["critic_optimizer"]),
            generator_optimizer=keras.saving.deserialize_keras_object(config["generator_optimizer"]),
            jit_compile=config.get("jit_compile", False),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator": keras.saving.serialize_keras_object(self.generator),
                "critic": keras.saving.serialize_keras_object(self.critic),
                "quantizer": None if self.quantizer is None else keras.saving.serialize_keras_object(self.quantizer),
                "critic_steps": self.critic_steps,
                "gradient_penalty_weight": self.gradient_penalty_weight,
                "latent_regression_weight": self.latent_regression_weight,
                "prior": self.prior,
                "prior_range": list(self.prior_range),
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "critic", "quantizer"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    # ------------------------------------------------------------------ maths
    def _seed(self):
        """A fresh stateless seed, different on every replica and every draw."""
        _, replica_id = _replica_context()
        count = tf.identity(self.draw_counter.value)
        self.draw_counter.assign_add(tf.constant(1, tf.int64))
        # (seed, counter * 2^16 + replica): distinct for every draw, replica and run seed (seed + replica id
        # would let replica 1 of seed s repeat replica 0 of seed s + 1).
        stream = count * (2**16) + tf.cast(replica_id, tf.int64)
        return tf.stack([tf.constant(self.seed, tf.int64), stream])

    def sample_latents(self, batch_size, seed=None):
        """Latents from the prior: `(values, codes)`; `codes` is None for InfoWGAN-GP.

        QLInfoGAN: each dimension one of its codebook values, uniformly and independently (int32 codes
        and their codebook values). InfoWGAN-GP: uniform on `prior_range`, or standard normal.

        Args:
            batch_size: number of latents.
            seed: a stateless seed `(2,)` tensor; None draws the next one from the model's generator.
        """
        seed = self._seed() if seed is None else seed
        shape = tf.stack([batch_size, self.latent_dim]) if tf.is_tensor(batch_size) else (batch_size, self.latent_dim)
        if self.quantizer is not None:
            codes = self.quantizer.codes_from_uniform(tf.random.stateless_uniform(shape, seed=seed))
            return tf.stop_gradient(self.quantizer.decode_codes(codes)), codes
        if self.prior == "normal":
            return tf.random.stateless_normal(shape, seed=seed), None
        low, high = self.prior_range
        return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high), None

    def _straight_through(self, estimate):
        """QLInfoGAN: the estimate's nearest codebook values, with the identity's gradient."""
        quantized = tf.stop_gradient(self.quantizer.decode_codes(self.quantizer.encode_codes(estimate)))
        return quantized + (estimate - tf.stop_gradient(estimate))

    def _split(self, outputs):
        return outputs[:, 0], outputs[:, 1:]

    def call(self, images, training=False):
        return self._split(self.critic(images, training=training))[1]

    def critic_losses(self, real, training=True, latents=None, fake=None, mix=None):
        """The critic's loss terms on one real batch.

        Args:
            real: real images `(batch, H, W, C)`.
            training: passed to the critic and generator.
            latents, fake: prior latents and the generator's images of them; both None draws them here
                (`train_step` draws every critic step's fakes in one generator call instead).
            mix: the penalty's per-sample mixing weights `(batch, 1, 1, 1)`; None draws them here.

        Returns:
            Dict of scalars: `loss` (the total), `wasserstein_distance`, `gradient_penalty`,
            `latent_regression_loss`, and for QLInfoGAN `quantizer_loss` (weighted sum of its two).
        """
        batch = tf.shape(real)[0]
        if (latents is None) != (fake is None):
            raise ValueError("critic_losses needs both latents and fake, or neither (to draw them).")
        if fake is None:
            latents, _ = self.sample_latents(batch)
            fake = self.generator(latents, training=training)
        fake = tf.stop_gradient(fake)
        if mix is None:
            mix = tf.random.stateless_uniform(tf.stack([batch, 1, 1, 1]), seed=self._seed(), dtype=real.dtype)
        # Real and fake in one critic call (the critic treats samples independently: instance norm, no
        # batch statistics), which halves the number of layer launches.
        values, estimate = self._split(self.critic(tf.concat([real, fake], axis=0), training=training))
        real_values, fake_values, estimate = values[:batch], values[batch:], estimate[batch:]
        penalty, _ = gradient_penalty(
            lambda images: self.critic(images, training=training)[:, 0], real, fake, mix
        )
        wasserstein = tf.reduce_mean(real_values) - tf.reduce_mean(fake_values)
        terms = {"wasserstein_distance": wasserstein, "gradient_penalty": penalty}
        loss = -wasserstein + self.gradient_penalty_weight * penalty
        if self.quantizer is not None:
            estimate = self.quantizer(estimate, training=training)  # straight-through; adds its losses
            terms["quantizer_loss"] = tf.add_n(self.quantizer.losses)
            loss += terms["quantizer_loss"]
        # In float32 whatever the policy (the quantizer returns its compute dtype, bfloat16 / float16 if mixed).
        regression = tf.reduce_mean(tf.square(tf.cast(estimate, "float32") - tf.cast(latents, "float32")))
        terms["latent_regression_loss"] = regression
        terms["loss"] = loss + self.latent_regression_weight * regression
        return terms

    def generator_losses(self, batch_size, training=True):
        """The generator's loss terms on `batch_size` fresh latents: `loss`, `adversarial`,
        `latent_regression_loss`."""
        latents, _ = self.sample_latents(batch_size)
        fake = self.generator(latents, training=training)
        values, estimate = self._split(self.critic(fake, training=training))
        if self.quantizer is not None:
            estimate = self._straight_through(estimate)
        regression = tf.reduce_mean(tf.square(tf.cast(estimate, "float32") - tf.cast(latents, "float32")))
        adversarial = -tf.reduce_mean(values)
        return {
            "loss": adversarial + self.latent_regression_weight * regression,
            "adversarial": adversarial,
            "latent_regression_loss": regression,
        }

    # ------------------------------------------------------------------ training
    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        real = tf.convert_to_tensor(real)
        if tuple(real.shape[1:]) != self.image_shape:
            raise ValueError(
                f"InfoGAN expects real images of shape (batch,) + {self.image_shape}; got "
                f"{tuple(real.shape)}. Feed images only (mode='images' in load_dataset)."
            )
        if not real.dtype.is_floating:
            raise ValueError(
                f"InfoGAN expects float images in [0, 1]; got dtype {real.dtype.name}. Divide uint8 images by 255."
            )
        steps = self.critic_steps
        if real.shape[0] is not None and real.shape[0] % steps:
            raise ValueError(
                f"A train step needs critic_steps * batch_size real images (one slice per critic step); got "
                f"a batch of {real.shape[0]}, not a multiple of critic_steps = {steps}."
            )
        real = tf.cast(real, tf.float32)
        # The batch size may be known only at run time (NumPy input, a dataset without drop_remainder).
        check = tf.debugging.assert_equal(
            tf.shape(real)[0] % steps, 0,
            message=f"A train step needs critic_steps * batch_size real images; the batch is not a multiple of "
            f"critic_steps = {steps} (batch the data with drop_remainder=True in multiples of critic_steps).",
        )
        with tf.control_dependencies([check] if check is not None else []):
            real = tf.identity(real)
        slices = tf.reshape(real, tf.concat([[steps, -1], tf.shape(real)[1:]], axis=0))
        # The generator does not change during the critic updates: draw every critic step's latents and
        # mixing weights at once and make all the fakes in one generator call (3 draws per train step).
        total = tf.shape(real)[0]
        latents, _ = self.sample_latents(total)
        latent_slices = tf.reshape(latents, [steps, -1, self.latent_dim])
        fake_slices = tf.reshape(
            self.generator(latents, training=True), tf.concat([[steps, -1], tf.shape(real)[1:]], axis=0)
        )
        mixes = tf.random.stateless_uniform(tf.stack([steps, total // steps, 1, 1, 1]), seed=self._seed())
        num_replicas, _ = _replica_context()
        critic_variables = self.critic_variables()
        for step in range(steps):  # unrolled at trace time: a fixed number of critic updates
            with tf.GradientTape() as tape:
                terms = self.critic_losses(
                    slices[step], latents=latent_slices[step], fake=fake_slices[step], mix=mixes[step]
                )
                # scale_loss: the loss scale under mixed_float16 (apply unscales), the loss itself otherwise.
                scaled = self.optimizer.scale_loss(terms["loss"] / num_replicas)
            gradients = tape.gradient(scaled, critic_variables)
            self.optimizer.apply(gradients, critic_variables)
            self.critic_loss_tracker.update_state(terms["loss"])
            self.wasserstein_tracker.update_state(terms["wasserstein_distance"])
            self.gradient_penalty_tracker.update_state(terms["gradient_penalty"])
            self.regression_tracker.update_state(terms["latent_regression_loss"])

        generator_variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            terms = self.generator_losses(tf.shape(slices)[1])
            scaled = self.generator_optimizer.scale_loss(terms["loss"] / num_replicas)
        gradients = tape.gradient(scaled, generator_variables)
        self.generator_optimizer.apply(gradients, generator_variables)
        self.generator_loss_tracker.update_state(terms["loss"])
        self.generator_regression_tracker.update_state(terms["latent_regression_loss"])
        # Keras's compile adds a "loss" tracker that this model never updates: leave it out of the logs.
        return {metric.name: metric.result() for metric in self.metrics if metric.name != "loss"}

    def test_step(self, data):
        raise NotImplementedError(
            "InfoGAN has no validation loss; score it with training.evaluation.evaluate_model (InfoMEC of "
            "the encoder's latents) or the DisentanglementEvaluation callback instead of validation_data."
        )

    # ------------------------------------------------------------------ inference helpers
    def encode_images(self, images, batch_size: int = 256, verbose: int = 0) -> dict:
        """The encoder's latents of real images, as `models.autoencoders.encode` gives them for an AE.

        Returns:
            Dict of NumPy arrays: `continuous` (the estimate), `critic_values`, `latents` (what the
            metrics score: the integer codes for QLInfoGAN, the estimate for InfoWGAN-GP), `discrete`,
            and for QLInfoGAN `codes` and `quantized`.
        """
        outputs = self.critic.predict(images, batch_size=batch_size, verbose=verbose)
        continuous = outputs[:, 1:]
        result = {"continuous": continuous, "critic_values": outputs[:, 0], "encoder_outputs": continuous}
        if self.quantizer is None:
            result.update(latents=continuous, discrete=False)
        else:
            codes = keras.ops.convert_to_numpy(self.quantizer.encode_codes(continuous))
            quantized = keras.ops.convert_to_numpy(self.quantizer.decode_codes(codes))
            result.update(latents=codes, discrete=True, codes=codes, quantized=quantized)
        return result

    def generate(self, latents, batch_size: int = 256) -> np.ndarray:
        """Images in [0, 1] from latent values `(N, d)`."""
        return self.generator.predict(np.asarray(latents, dtype="float32"), batch_size=batch_size, verbose=0)

    def traversal_latents(self, base, num_steps: int = 10) -> tuple[np.ndarray, list[str]]:
        """A `(d, steps, d)` grid: row j steps latent j through its values, the others kept at `base`.

        QLInfoGAN: each codebook value of dimension j (a shorter codebook repeats its last value).
        InfoWGAN-GP: `num_steps` evenly spaced values over the prior's range (+-2 for a normal prior).
        """
        base = np.asarray(base, dtype="float32").reshape(self.latent_dim)
        if self.quantizer is not None:
            counts = self.quantizer.values_per_dimension
            steps = max(counts)
            codebook = self.quantizer.codebook_values()
            values = np.stack([codebook[j, np.minimum(np.arange(steps), counts[j] - 1)] for j in range(self.latent_dim)])
            labels = [f"v{k}" for k in range(steps)]
        else:
            low, high = self.prior_range if self.prior == "uniform" else (-2.0, 2.0)
            steps = num_steps
            values = np.tile(np.linspace(low, high, steps, dtype="float32"), (self.latent_dim, 1))
            labels = [f"{v:+.2f}" for v in values[0]]
        grid = np.repeat(base[None, None], self.latent_dim, axis=0).repeat(steps, axis=1)
        for j in range(self.latent_dim):
            grid[j, :, j] = values[j]
        return grid, labels


def build_infogan(
    quantized: bool,
    image_shape: Sequence[int] = (64, 64, 1),
    num_latents: int = 10,
    architecture: str = "paper",
    num_values: int | Sequence[int] = 10,
    value_range: Sequence[float] = (-0.5, 0.5),
    quantization_weight: float = 0.01,
    commitment_weight: float = 0.01,
    critic_steps: int = 5,
    gradient_penalty_weight: float = 10.0,
    latent_regression_weight: float = 200.0,
    prior: str = "uniform",
    seed: int | None = None,
    name: str = "infogan",
) -> InfoGAN:
    """Builds an uncompiled QLInfoGAN (`quantized=True`) or InfoWGAN-GP (`compile_infogan` compiles it;
    `models.catalogue` holds each model's defaults).

    Args:
        quantized: a quantized latent grid and estimate (QLInfoGAN), or a continuous prior (InfoWGAN-GP).
        image_shape: `(height, width, channels)`, pixel values in [0, 1].
        num_latents: latent dimensions `d` (paper: twice the number of factors).
        architecture: `"paper"`, `"paper_small"` or `"fast"` generator (style decoder) and critic (encoder).
        num_values, value_range, quantization_weight, commitment_weight: the QLInfoGAN quantizer's
            options (`LatentQuantization`); `value_range` is also InfoWGAN-GP's uniform prior range.
        critic_steps: critic updates per generator update (paper 5).
        gradient_penalty_weight: WGAN-GP weight (paper 10).
        latent_regression_weight: latent regression weight (paper 200).
        prior: InfoWGAN-GP's prior, `uniform` or `normal`.
        seed: seed of the latent and mixing draws.
        name: model name.

    Returns:
        An uncompiled `InfoGAN`.
    """
    generator = build_generator(num_latents, image_shape, architecture)
    critic = build_encoder(image_shape, latent_dim=num_latents, output_dim=num_latents + 1,
                           architecture=architecture, name="critic")
    quantizer = None
    if quantized:
        quantizer = LatentQuantization(
            num_values=num_values, value_range=value_range, quantization_weight=quantization_weight,
            commitment_weight=commitment_weight, name="latent_quantization",
        )
    return InfoGAN(
        generator, critic, quantizer, critic_steps=critic_steps, gradient_penalty_weight=gradient_penalty_weight,
        latent_regression_weight=latent_regression_weight, prior=prior, prior_range=value_range, seed=seed,
        name=name,
    )


def compile_infogan(
    model: InfoGAN,
    learning_rate: float,
    beta_1: float,
    beta_2: float,
    weight_decay: float,
    jit_compile: bool = False,
) -> InfoGAN:
    """Compiles a GAN with the reference's optimizer for each network (`build_gan_optimizer`)."""
    model.compile(
        critic_optimizer=build_gan_optimizer(learning_rate, beta_1, beta_2, weight_decay),
        generator_optimizer=build_gan_optimizer(learning_rate, beta_1, beta_2, weight_decay),
        jit_compile=jit_compile,
    )
    return model
