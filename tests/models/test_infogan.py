"""QLInfoGAN and InfoWGAN-GP (`models/infogan.py`): the train step, the gradient penalty against finite
differences, latent sampling on the codebook grid, MirroredStrategy, `.keras` round trip, XLA, errors.

Models are the "fast" architecture on 16x16 images with 4 latents and 2 critic steps (the paper's 5 only
repeat the same unrolled critic update; the `.keras` and XLA tests use 1, since each unrolled step adds to
the trace and XLA compile time), so the whole file runs in 80-100 s on two otherwise idle CPU cores. The
training test (60 steps, not marked slow) uses 64x64 procedural dSprites; two plumbing tests (mirrored weight
decay, run-time batch check) use one-Dense networks because only the train step's plumbing matters there.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from keras_latentquant.datasets.pipeline import load_dataset
from keras_latentquant.layers import LatentQuantization
from keras_latentquant.models.encoders import build_encoder
from keras_latentquant.models.catalogue import build_infowgan_gp, build_model, build_qlinfogan
from keras_latentquant.models.infogan import (
    InfoGAN,
    build_gan_optimizer,
    build_generator,
    gradient_penalty,
)
from keras_latentquant.optimizers import (
    DecoupledWeightDecayAdam,
    decayed_variables,
)

IMAGE_SHAPE = (32, 32, 1)  # the fast encoder's last stage is 2x2 (1x1 would leave instance norm nothing to see)
NUM_LATENTS = 4
NUM_VALUES = [3, 5, 7, 10]
CRITIC_STEPS = 2
TINY_IMAGE_SHAPE = (8, 8, 1)
SLICE = 4  # real images per critic step; one fit step reads CRITIC_STEPS * SLICE images
# Adam's first step moves a weight with a non-zero gradient by about the learning rate (2e-4); decoupled
# weight decay alone moves it by |w| * lr * 1e-3, far below this, so it cannot pass for a real update.
MIN_UPDATE = 1e-5


def _build(name, **kwargs):
    kwargs.setdefault("critic_steps", CRITIC_STEPS)
    kwargs.setdefault("seed", 7)
    if name == "qlinfogan":
        kwargs.setdefault("num_values", NUM_VALUES)
    return build_model(name, IMAGE_SHAPE, num_latents=NUM_LATENTS, architecture="fast", **kwargs)


def _images(count, seed=0, shape=IMAGE_SHAPE):
    """Float32 images in [0, 1]: a bright square at a random position on a dark background."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count,) + tuple(shape), "float32")
    for n, (row, column) in enumerate(rng.integers(0, shape[0] - 4, size=(count, 2))):
        images[n, row : row + 4, column : column + 4] = 1.0
    return images


def _tiny_networks(latent_dim=NUM_LATENTS):
    """A one-Dense generator and critic on 8x8 images, with non-zero biases: fast to trace."""
    latents = keras.Input((latent_dim,))
    pixels = keras.layers.Dense(int(np.prod(TINY_IMAGE_SHAPE)), activation="sigmoid", bias_initializer="ones")(latents)
    generator = keras.Model(latents, keras.layers.Reshape(TINY_IMAGE_SHAPE)(pixels))
    images = keras.Input(TINY_IMAGE_SHAPE)
    head = keras.layers.Dense(latent_dim + 1, bias_initializer="ones")(keras.layers.Flatten()(images))
    return generator, keras.Model(images, head)


def _one_batch(images):
    """A dataset of exactly one batch, with a static batch dimension."""
    return tf.data.Dataset.from_tensors(images)


def _values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _count(variable):
    """A scalar counter variable as an int (int() of a Keras variable fails for a MirroredVariable)."""
    return int(keras.ops.convert_to_numpy(variable))


def _assert_all_updated(variables, before, label):
    for variable, old in zip(variables, before):
        change = np.max(np.abs(keras.ops.convert_to_numpy(variable) - old))
        assert change > MIN_UPDATE, f"{label} variable {variable.path} did not move (max change {change:.3g})"


def _assert_critic_loss_adds_up(logs, gradient_penalty_weight, latent_regression_weight):
    """critic loss = -W + gp_weight * GP + regression_weight * regression (+ 0.01 * (codebook + commitment)
    losses for QLInfoGAN); every tracker averages the same critic steps, so the logged means add up too."""
    expected = (
        -logs["wasserstein_distance"]
        + gradient_penalty_weight * logs["gradient_penalty"]
        + latent_regression_weight * logs["latent_regression_loss"]
        + 0.01 * logs.get("latent_quantization_quantization_loss", 0.0)
        + 0.01 * logs.get("latent_quantization_commitment_loss", 0.0)
    )
    np.testing.assert_allclose(logs["critic_loss"], expected, rtol=1e-4)


# ---------------------------------------------------------------------------------------------- builders
def test_builders_use_the_papers_defaults():
    """build_qlinfogan / build_infowgan_gp: paper.md's weights, quantizer and optimizers, decay 1e-3 / 0."""
    model = build_qlinfogan(IMAGE_SHAPE, num_latents=NUM_LATENTS, architecture="fast", seed=3)
    assert model.name == "qlinfogan" and model.quantized and isinstance(model.quantizer, LatentQuantization)
    assert model.quantizer.values_per_dimension == [10] * NUM_LATENTS
    assert model.quantizer.value_range == (-0.5, 0.5)
    assert (model.quantizer.quantization_weight, model.quantizer.commitment_weight) == (0.01, 0.01)
    assert (model.critic_steps, model.gradient_penalty_weight, model.latent_regression_weight) == (5, 10.0, 200.0)
    assert model.critic.output_shape == (None, NUM_LATENTS + 1)
    assert model.generator.output_shape == (None,) + IMAGE_SHAPE
    assert model.critic_optimizer is model.optimizer and model.optimizer is not model.generator_optimizer
    for optimizer, variables in ((model.optimizer, model.critic_variables()),
                                 (model.generator_optimizer, model.generator.trainable_variables)):
        assert isinstance(optimizer, DecoupledWeightDecayAdam)
        assert float(optimizer.learning_rate) == pytest.approx(2e-4)
        assert (optimizer.beta_1, optimizer.beta_2) == (0.0, 0.9)
        # The reference clips the weight-decayed group element-wise at 1 (its train_gan.yaml `optim.clip`).
        assert (optimizer.clip_value, optimizer.epsilon) == (1.0, 1e-8)
        assert optimizer.weight_decay == pytest.approx(1e-3)
        # The library's rule: every weight but biases (instance-norm "beta" included) and the codebook.
        decayed = {v.path for v in decayed_variables(optimizer, variables)}
        exempt = {v.path for v in variables if v.path.rsplit("/", 1)[-1] in ("bias", "beta", "codebook")}
        assert exempt and decayed == {v.path for v in variables} - exempt, decayed
    critic_decayed = {v.path for v in decayed_variables(model.optimizer, model.critic_variables())}
    assert "latent_quantization/codebook" in {v.path for v in model.critic_variables()} - critic_decayed

    model = build_infowgan_gp(IMAGE_SHAPE, num_latents=NUM_LATENTS, architecture="fast", seed=3)
    assert model.name == "infowgan_gp" and not model.quantized and model.quantizer is None
    assert (model.prior, model.prior_range) == ("uniform", (-0.5, 0.5))
    assert model.optimizer.weight_decay == 0.0 and model.generator_optimizer.weight_decay == 0.0
    assert build_infowgan_gp(IMAGE_SHAPE, 2, "fast", weight_decay=0.05).optimizer.weight_decay == pytest.approx(0.05)
    uncompiled = build_infowgan_gp(IMAGE_SHAPE, 2, "fast", compile=False)
    assert uncompiled.generator_optimizer is None and uncompiled.get_compile_config() is None


# ---------------------------------------------------------------------------------------------- train step
@pytest.mark.parametrize("name", ["qlinfogan", "infowgan_gp"])
def test_one_fit_step_updates_every_trainable_variable(name):
    """One `fit` step = CRITIC_STEPS critic updates (critic + codebook) and one generator update; every
    trainable variable of both networks (and the codebook) moves by a real Adam step."""
    keras.utils.set_random_seed(0)
    model = _build(name)
    critic_variables = model.critic_variables()
    generator_variables = model.generator.trainable_variables
    if name == "qlinfogan":
        assert any(v is model.quantizer.codebook for v in critic_variables)
    else:
        assert model.quantizer is None and len(critic_variables) == len(model.critic.trainable_variables)
    # The two optimizers own disjoint variable sets that together are all the model trains.
    assert {id(v) for v in critic_variables}.isdisjoint({id(v) for v in generator_variables})
    assert len(critic_variables) + len(generator_variables) == len(model.trainable_variables)
    critic_before, generator_before = _values(critic_variables), _values(generator_variables)

    history = model.fit(_one_batch(_images(CRITIC_STEPS * SLICE)), epochs=1, steps_per_epoch=1, verbose=0)

    _assert_all_updated(critic_variables, critic_before, "critic")
    _assert_all_updated(generator_variables, generator_before, "generator")
    assert _count(model.optimizer.iterations) == CRITIC_STEPS
    assert _count(model.generator_optimizer.iterations) == 1
    # One draw for every critic step's latents, one for their mixing weights, one for the generator's latents.
    assert _count(model.draw_counter) == 3
    logs = {key: values[-1] for key, values in history.history.items()}
    expected = {"critic_loss", "generator_loss", "wasserstein_distance", "gradient_penalty",
                "latent_regression_loss", "generator_latent_regression_loss"}
    assert expected <= set(logs) and "loss" not in logs
    assert all(np.isfinite(value) for value in logs.values()), logs
    assert logs["gradient_penalty"] > 0 and logs["latent_regression_loss"] > 0
    assert ("latent_quantization_commitment_loss" in logs) == (name == "qlinfogan")
    _assert_critic_loss_adds_up(logs, gradient_penalty_weight=10.0, latent_regression_weight=200.0)


def test_critic_and_generator_loss_terms_add_up_on_each_call():
    """critic_losses: loss = -W + 10 GP + quantizer loss + 200 regression, with the quantizer loss of that call
    only (0.01 * codebook + 0.01 * commitment loss, not accumulated over calls); generator_losses: loss =
    adversarial + 200 regression. Checked on the second of two calls, eagerly."""
    model = _build("qlinfogan")
    real = tf.constant(_images(SLICE))
    trackers = (model.quantizer.quantization_loss_tracker, model.quantizer.commitment_loss_tracker)
    terms = model.critic_losses(real)
    for tracker in trackers:
        tracker.reset_state()
    terms = model.critic_losses(real)  # the trackers now hold this call's two losses
    quantization_loss, commitment_loss = (float(tracker.result()) for tracker in trackers)
    assert quantization_loss > 0
    np.testing.assert_allclose(float(terms["quantizer_loss"]), 0.01 * (quantization_loss + commitment_loss), rtol=1e-5)
    expected = (-terms["wasserstein_distance"] + 10.0 * terms["gradient_penalty"] + terms["quantizer_loss"]
                + 200.0 * terms["latent_regression_loss"])
    np.testing.assert_allclose(float(terms["loss"]), float(expected), rtol=1e-6)
    generator_terms = model.generator_losses(SLICE)
    np.testing.assert_allclose(
        float(generator_terms["loss"]),
        float(generator_terms["adversarial"] + 200.0 * generator_terms["latent_regression_loss"]),
        rtol=1e-6,
    )
    # Two critic calls and one generator call: 2 + 2 + 1 draws.
    assert _count(model.draw_counter) == 5


def test_critic_losses_with_given_fakes_equal_separate_critic_calls():
    """The train step hands critic_losses pre-made fakes and mixing weights and scores real and fake in one
    critic call: the terms must equal those from separate real / fake critic calls (float64 NumPy)."""
    model = _build("infowgan_gp")
    real = tf.constant(_images(SLICE, seed=3))
    latents = tf.constant(np.random.default_rng(1).uniform(-0.5, 0.5, (SLICE, NUM_LATENTS)).astype("float32"))
    fake = model.generator(latents)
    mix = tf.constant(np.random.default_rng(2).uniform(size=(SLICE, 1, 1, 1)).astype("float32"))
    before = _count(model.draw_counter)
    terms = model.critic_losses(real, latents=latents, fake=fake, mix=mix)
    assert _count(model.draw_counter) == before  # nothing drawn
    real_out = keras.ops.convert_to_numpy(model.critic(real)).astype("float64")
    fake_out = keras.ops.convert_to_numpy(model.critic(fake)).astype("float64")
    wasserstein = real_out[:, 0].mean() - fake_out[:, 0].mean()
    regression = np.mean(np.square(fake_out[:, 1:] - keras.ops.convert_to_numpy(latents)))
    penalty, _ = gradient_penalty(lambda images: model.critic(images)[:, 0], real, fake, mix)
    np.testing.assert_allclose(float(terms["wasserstein_distance"]), wasserstein, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(terms["latent_regression_loss"]), regression, rtol=1e-4)
    np.testing.assert_allclose(float(terms["gradient_penalty"]), float(penalty), rtol=1e-5)
    with pytest.raises(ValueError, match="both latents and fake"):
        model.critic_losses(real, latents=latents)


# ---------------------------------------------------------------------------------------- gradient penalty
def _tiny_critic(seed=0):
    """Flatten + Dense(3, tanh) + Dense(1) on 2x2x1 images, float64, with non-trivial weights."""
    rng = np.random.default_rng(seed)
    critic = keras.Sequential(
        [keras.Input((2, 2, 1), dtype="float64"), keras.layers.Flatten(dtype="float64"),
         keras.layers.Dense(3, activation="tanh", dtype="float64"), keras.layers.Dense(1, dtype="float64")]
    )
    for variable in critic.trainable_variables:
        variable.assign(rng.normal(scale=0.8, size=variable.shape))
    return critic


def _numpy_critic(weights, images):
    kernel1, bias1, kernel2, bias2 = weights
    hidden = np.tanh(images.reshape(len(images), -1) @ kernel1 + bias1)
    return (hidden @ kernel2 + bias2)[:, 0]


def _numpy_penalty(weights, real, fake, mix, epsilon=1e-6):
    """The WGAN-GP penalty with each sample's input gradient from central differences, in NumPy."""
    mixed = mix * real + (1.0 - mix) * fake
    gradients = np.zeros_like(mixed)
    for index in np.ndindex(mixed.shape[1:]):
        step = np.zeros_like(mixed)
        step[(slice(None),) + index] = epsilon
        gradients[(slice(None),) + index] = (
            _numpy_critic(weights, mixed + step) - _numpy_critic(weights, mixed - step)
        ) / (2 * epsilon)
    norms = np.sqrt(np.sum(gradients**2, axis=(1, 2, 3)))
    return np.mean((norms - 1.0) ** 2), norms


def _penalty_inputs(seed=1, batch=5):
    rng = np.random.default_rng(seed)
    real = rng.uniform(size=(batch, 2, 2, 1))
    fake = rng.uniform(size=(batch, 2, 2, 1))
    mix = rng.uniform(size=(batch, 1, 1, 1))
    return real, fake, mix


def test_gradient_penalty_matches_finite_differences():
    """Per-sample gradient norms at `mix * real + (1 - mix) * fake` and the penalty mean((norm - 1)^2)
    equal a NumPy central-difference computation (float64)."""
    critic = _tiny_critic()
    real, fake, mix = _penalty_inputs()
    penalty, norms = gradient_penalty(lambda x: critic(x)[:, 0], tf.constant(real), tf.constant(fake), tf.constant(mix))
    expected_penalty, expected_norms = _numpy_penalty(_values(critic.trainable_variables), real, fake, mix)
    assert norms.shape == (5,)
    np.testing.assert_allclose(norms.numpy(), expected_norms, rtol=1e-7)
    np.testing.assert_allclose(float(penalty), expected_penalty, rtol=1e-7)
    # The norms differ between samples and from 1, so the comparison above is not trivially satisfied.
    assert np.ptp(expected_norms) > 0.05 and expected_penalty > 0.01
    # A swapped mix (real and fake exchanged) gives a different penalty: the mixing formula is checked.
    swapped, _ = _numpy_penalty(_values(critic.trainable_variables), fake, real, mix)
    assert abs(swapped - expected_penalty) > 1e-3


def test_gradient_penalty_of_a_linear_critic_is_exact():
    """D(x) = sum(w * x) has input gradient w everywhere: penalty (||w|| - 1)^2 whatever real, fake, mix."""
    weights = np.array([0.5, 1.5, -1.0, 2.0]).reshape(1, 2, 2, 1)  # ||w|| = sqrt(7.5)
    real, fake, _ = _penalty_inputs(seed=2)
    for mix_value in (0.0, 0.3, 1.0):
        mix = np.full((5, 1, 1, 1), mix_value)
        penalty, norms = gradient_penalty(
            lambda x: tf.reduce_sum(weights * x, axis=[1, 2, 3]), tf.constant(real), tf.constant(fake), tf.constant(mix)
        )
        np.testing.assert_allclose(norms.numpy(), np.full(5, np.sqrt(7.5)), rtol=1e-10)
        np.testing.assert_allclose(float(penalty), (np.sqrt(7.5) - 1.0) ** 2, rtol=1e-10)
    # A unit-norm critic is not penalised.
    unit = weights / np.sqrt(7.5)
    penalty, _ = gradient_penalty(
        lambda x: tf.reduce_sum(unit * x, axis=[1, 2, 3]), tf.constant(real), tf.constant(fake), tf.constant(mix)
    )
    assert abs(float(penalty)) < 1e-12


def test_gradient_penalty_is_differentiable_with_respect_to_critic_weights():
    """The penalty's gradient with respect to the critic's weights (a second-order gradient) is non-zero
    and matches a central difference of the penalty on single weights."""
    critic = _tiny_critic()
    real, fake, mix = (tf.constant(a) for a in _penalty_inputs())

    def penalty_value():
        return gradient_penalty(lambda x: critic(x)[:, 0], real, fake, mix)[0]

    with tf.GradientTape() as tape:
        penalty = penalty_value()
    gradients = tape.gradient(penalty, critic.trainable_variables)
    kernel1, bias1, kernel2, _ = critic.trainable_variables
    for variable, gradient in zip((kernel1, bias1, kernel2), gradients[:3]):
        assert gradient is not None and np.all(np.abs(gradient.numpy()) > 0), variable.path
    # The output bias shifts D by a constant: no effect on the input gradient, so none on the penalty.
    assert gradients[3] is None or np.allclose(gradients[3].numpy(), 0.0)

    epsilon = 1e-6
    for variable, gradient, index in ((kernel1, gradients[0], (2, 1)), (kernel2, gradients[2], (1, 0)),
                                      (bias1, gradients[1], (0,))):
        original = variable.numpy()
        shifted = original.copy()
        shifted[index] += epsilon
        variable.assign(shifted)
        plus = float(penalty_value())
        shifted[index] -= 2 * epsilon
        variable.assign(shifted)
        minus = float(penalty_value())
        variable.assign(original)
        np.testing.assert_allclose(gradient.numpy()[index], (plus - minus) / (2 * epsilon), rtol=1e-6)


# --------------------------------------------------------------------------------------- latent sampling
def _chi_square_p_value(samples, num_categories):
    counts = np.bincount(samples, minlength=num_categories)
    assert len(counts) == num_categories, counts
    return stats.chisquare(counts).pvalue


def test_qlinfogan_latents_lie_on_the_codebook_grid_and_are_uniform():
    """Sampled latents are exactly codebook entries of their dimension, codes in [0, n_j), and every value of
    dimension j is drawn with probability 1/n_j, independently across dimensions."""
    model = _build("qlinfogan", compile=False)
    codebook = keras.ops.convert_to_numpy(model.quantizer.codebook)
    count = 20_000
    values, codes = (keras.ops.convert_to_numpy(t) for t in model.sample_latents(count))
    assert values.shape == (count, NUM_LATENTS) and values.dtype == np.float32
    assert codes.shape == (count, NUM_LATENTS) and codes.dtype == np.int32
    for j, n in enumerate(NUM_VALUES):
        assert codes[:, j].min() == 0 and codes[:, j].max() == n - 1
        np.testing.assert_array_equal(values[:, j], codebook[j, codes[:, j]])
        assert set(np.unique(values[:, j])) == set(codebook[j, :n])
        frequencies = np.bincount(codes[:, j], minlength=n) / count
        # Standard error of a frequency is at most sqrt(0.25 / 20000) = 0.0035; a sampler that rounds u * (n - 1)
        # instead of flooring u * n gives the end values 1/(2(n - 1)) instead of 1/n, at least 0.044 off.
        np.testing.assert_allclose(frequencies, 1.0 / n, atol=0.015)
        assert _chi_square_p_value(codes[:, j], n) > 1e-4
    # Independent dimensions: the joint codes of dimensions 0 and 1 are uniform over all 3 * 5 pairs.
    assert _chi_square_p_value(codes[:, 0] * NUM_VALUES[1] + codes[:, 1], NUM_VALUES[0] * NUM_VALUES[1]) > 1e-4
    # The next draw is a fresh one.
    next_values, _ = model.sample_latents(count)
    assert np.mean(keras.ops.convert_to_numpy(next_values) != values) > 0.5


def test_qlinfogan_latents_follow_a_changed_codebook():
    """After new values are assigned to the codebook, sampled latents are entries of the new codebook."""
    model = _build("qlinfogan", compile=False)
    rng = np.random.default_rng(3)
    new_codebook = np.sort(rng.normal(size=model.quantizer.codebook.shape), axis=1).astype("float32") + 5.0
    model.quantizer.codebook.assign(new_codebook)
    values, codes = (keras.ops.convert_to_numpy(t) for t in model.sample_latents(5_000))
    for j, n in enumerate(NUM_VALUES):
        np.testing.assert_array_equal(values[:, j], new_codebook[j, codes[:, j]])
        # Padding entries (beyond n_j) are never drawn.
        assert set(np.unique(values[:, j])) == set(new_codebook[j, :n])


def test_infowgan_gp_uniform_prior_samples_its_range():
    """The uniform prior covers `prior_range` (here the builder's value_range (-2, 3)) evenly."""
    model = _build("infowgan_gp", compile=False, value_range=(-2.0, 3.0))
    assert model.prior == "uniform" and model.prior_range == (-2.0, 3.0)
    values, codes = model.sample_latents(20_000)
    values = keras.ops.convert_to_numpy(values)
    assert codes is None and values.shape == (20_000, NUM_LATENTS)
    assert values.min() >= -2.0 and values.max() < 3.0
    assert values.min() < -1.99 and values.max() > 2.99
    for j in range(NUM_LATENTS):
        assert stats.kstest(values[:, j], stats.uniform(loc=-2.0, scale=5.0).cdf).pvalue > 1e-4
    # Independent dimensions: correlations near 0 (standard error 0.007).
    correlations = np.corrcoef(values, rowvar=False)
    assert np.max(np.abs(correlations - np.eye(NUM_LATENTS))) < 0.04


def test_infowgan_gp_normal_prior_is_standard_normal():
    """The normal prior has mean 0, std 1 and a Gaussian shape (not a unit-variance uniform)."""
    model = _build("infowgan_gp", compile=False, prior="normal")
    values = keras.ops.convert_to_numpy(model.sample_latents(20_000)[0])
    np.testing.assert_allclose(values.mean(axis=0), 0.0, atol=0.04)
    np.testing.assert_allclose(values.std(axis=0), 1.0, atol=0.03)
    # P(|z| < 1) = 0.683 for a normal, 0.577 for a uniform of std 1; a normal exceeds 3 about 54 times.
    np.testing.assert_allclose(np.mean(np.abs(values) < 1.0, axis=0), 0.6827, atol=0.02)
    assert np.abs(values).max() > 3.0
    for j in range(NUM_LATENTS):
        assert stats.kstest(values[:, j], "norm").pvalue > 1e-4


# ------------------------------------------------------------------------------------------ distribution
def test_mirrored_strategy_fit_step_and_per_replica_draws():
    """Under a 2-replica MirroredStrategy one fit step runs, both optimizers step, every variable is mirrored,
    the replicas share one draw counter, and each replica draws its own latents."""
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    assert strategy.num_replicas_in_sync == 2
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = _build("qlinfogan")
    critic_before = _values(model.critic_variables())
    generator_before = _values(model.generator.trainable_variables)
    # A global batch of 2 * CRITIC_STEPS * SLICE: each replica gets CRITIC_STEPS * SLICE images.
    history = model.fit(_one_batch(_images(2 * CRITIC_STEPS * SLICE)), epochs=1, steps_per_epoch=1, verbose=0)

    assert all(np.isfinite(values[-1]) for values in history.history.values()), history.history
    assert _count(model.optimizer.iterations) == CRITIC_STEPS
    assert _count(model.generator_optimizer.iterations) == 1
    _assert_all_updated(model.critic_variables(), critic_before, "critic")
    _assert_all_updated(model.generator.trainable_variables, generator_before, "generator")
    for variable in model.critic_variables() + model.generator.trainable_variables:
        assert len(variable.value.values) == 2, variable.path  # one mirrored copy per replica
    # The counter advanced once per draw of the step and stayed equal on both replicas ("only_first_replica").
    counters = [v.numpy() for v in model.draw_counter.value.values]
    assert counters == [3] * 2, counters

    @tf.function
    def draw():
        return strategy.run(lambda: model.sample_latents(64))

    values, codes = draw()
    first, second = (t.numpy() for t in strategy.experimental_local_results(codes))
    # Each replica decodes its codes with its own copy of the codebook.
    replica_codebooks = [v.numpy() for v in model.quantizer.codebook.value.values]
    for replica_values, replica_codes, codebook in zip(
        strategy.experimental_local_results(values), (first, second), replica_codebooks
    ):
        for j, n in enumerate(NUM_VALUES):
            assert 0 <= replica_codes[:, j].min() and replica_codes[:, j].max() < n
            np.testing.assert_array_equal(replica_values.numpy()[:, j], codebook[j, replica_codes[:, j]])
    # Same counter, different replica ids: the replicas draw different codes (a shared stream would give equal
    # ones; independent draws differ in 1 - mean_j(1 / n_j) = 81% of entries).
    assert np.mean(first != second) > 0.5


def test_mirrored_replicas_keep_identical_weights_under_weight_decay():
    """QLInfoGAN's optimizers decay neither biases nor the codebook; the mirrored copies of every weight stay
    identical.

    Tiny dense networks (non-zero biases from the start, so a wrong decay shows after one step) keep this fast.
    """
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    with strategy.scope():
        generator, critic = _tiny_networks()
        model = InfoGAN(generator, critic, LatentQuantization(num_values=NUM_VALUES), critic_steps=CRITIC_STEPS, seed=0)
        model.compile(
            critic_optimizer=build_gan_optimizer(2e-4, 0.0, 0.9, weight_decay=1e-3),
            generator_optimizer=build_gan_optimizer(2e-4, 0.0, 0.9, weight_decay=1e-3),
        )
    model.fit(_one_batch(_images(2 * CRITIC_STEPS * SLICE, shape=TINY_IMAGE_SHAPE)), steps_per_epoch=1, verbose=0)
    for variable in model.trainable_variables:
        first, second = (v.numpy() for v in variable.value.values)
        np.testing.assert_array_equal(first, second, err_msg=variable.path)


# -------------------------------------------------------------------------------------------- training
def test_training_on_procedural_dsprites_lowers_latent_regression(tmp_path):
    """60 steps of QLInfoGAN (2 critic steps of 8 images each, 2 latents of 10 values) on the tiny procedural
    dSprites lower the critic's and the generator's latent regression losses to well under half.

    2 critic steps rather than the paper's 5 keep the test fast. Across seeds 0..6 the last/first epoch
    ratio was 0.16..0.30 for the critic and 0.16..0.35 for the generator.
    """
    batch = CRITIC_STEPS * 8
    dataset = load_dataset(
        "procedural_dsprites", "tiny", split="train", mode="images", batch_size=batch, data_dir=str(tmp_path), seed=0
    )
    assert dataset.element_spec.shape == (batch, 64, 64, 1)
    keras.utils.set_random_seed(0)
    model = build_qlinfogan((64, 64, 1), num_latents=2, architecture="fast", critic_steps=CRITIC_STEPS, seed=0)
    history = model.fit(dataset, epochs=6, steps_per_epoch=10, verbose=0).history
    critic, generator = history["latent_regression_loss"], history["generator_latent_regression_loss"]
    assert critic[-1] < 0.5 * critic[0], critic
    assert generator[-1] < 0.6 * generator[0], generator
    assert _count(model.optimizer.iterations) == 60 * CRITIC_STEPS
    assert _count(model.generator_optimizer.iterations) == 60


# ------------------------------------------------------------------------------------------ serialization
@pytest.mark.parametrize(
    "name, weight_decay, options",
    [
        pytest.param("qlinfogan", 1e-3, {}, id="qlinfogan"),
        pytest.param("infowgan_gp", 0.0, {"prior": "normal", "value_range": (-1.0, 2.0)}, id="infowgan_gp"),
    ],
)
def test_keras_round_trip_restores_networks_optimizers_and_random_stream(name, weight_decay, options, tmp_path):
    """After one fit step, `.keras` save/load restores the non-default arguments, both networks, the codebook,
    both optimizers (config, iterations, moments) and the draw counter; training continues from the reload
    exactly as it would have continued from the original. (One critic step a fit step, to keep it fast.)"""
    critic_steps = 1
    keras.utils.set_random_seed(0)
    model = _build(
        name, critic_steps=critic_steps, gradient_penalty_weight=5.0, latent_regression_weight=150.0, **options
    )
    data = _one_batch(_images(critic_steps * SLICE))
    model.fit(data, epochs=1, steps_per_epoch=1, verbose=0)
    path = os.path.join(tmp_path, f"{name}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)

    assert isinstance(reloaded, InfoGAN) and reloaded.quantized == (name == "qlinfogan")
    for attribute in ("critic_steps", "gradient_penalty_weight", "latent_regression_weight", "prior",
                      "prior_range", "seed", "latent_dim", "image_shape"):
        assert getattr(reloaded, attribute) == getattr(model, attribute), attribute
    assert (reloaded.critic_steps, reloaded.gradient_penalty_weight, reloaded.latent_regression_weight) == (1, 5, 150)
    assert reloaded.prior == options.get("prior", "uniform")
    assert reloaded.prior_range == options.get("value_range", (-0.5, 0.5))
    images = _images(6, seed=5)
    latents = np.random.default_rng(0).uniform(-0.5, 0.5, size=(6, NUM_LATENTS)).astype("float32")
    np.testing.assert_array_equal(reloaded.critic.predict(images, verbose=0), model.critic.predict(images, verbose=0))
    np.testing.assert_array_equal(reloaded.generate(latents), model.generate(latents))
    if name == "qlinfogan":
        assert reloaded.quantizer.values_per_dimension == NUM_VALUES
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(reloaded.quantizer.codebook),
            keras.ops.convert_to_numpy(model.quantizer.codebook),
        )
    assert _count(reloaded.draw_counter) == _count(model.draw_counter) == 3

    for original, restored in ((model.optimizer, reloaded.optimizer),
                               (model.generator_optimizer, reloaded.generator_optimizer)):
        assert isinstance(restored, DecoupledWeightDecayAdam)
        config = restored.get_config()
        assert config["learning_rate"] == pytest.approx(2e-4)
        assert config["beta_1"] == 0.0 and config["beta_2"] == pytest.approx(0.9)
        assert config["weight_decay"] == pytest.approx(weight_decay)
        assert config["clip_value"] == 1.0 and "clipvalue" not in config
        assert _count(restored.iterations) == _count(original.iterations)
        assert len(restored.variables) == len(original.variables)
        for a, b in zip(original.variables, restored.variables):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=a.path)
    assert _count(reloaded.optimizer.iterations) == critic_steps
    assert _count(reloaded.generator_optimizer.iterations) == 1
    assert reloaded.generator_optimizer is not reloaded.optimizer

    # One more step on both: same weights, optimizer state and random stream, so the same result.
    for gan in (model, reloaded):
        gan.fit(data, epochs=1, steps_per_epoch=1, verbose=0)
    assert _count(reloaded.optimizer.iterations) == 2 * critic_steps
    assert _count(reloaded.generator_optimizer.iterations) == 2
    assert _count(reloaded.draw_counter) == 6
    for a, b in zip(model.trainable_variables, reloaded.trainable_variables):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a), rtol=1e-5, atol=1e-6, err_msg=a.path
        )


# ---------------------------------------------------------------------------------------------------- XLA
def test_jit_compiled_fit_step():
    """With jit_compile=True one QLInfoGAN fit step (InfoWGAN-GP's ops plus the quantizer) runs under XLA,
    gives finite losses that add up as the critic's loss says, and steps both optimizers. One critic step
    a fit step: XLA's compile time grows with the unrolled critic steps (about 11 s each on 2 CPU cores).

    (XLA's stateless random kernels give other numbers than TensorFlow's for the same seed, so the step is
    not compared with the uncompiled one value for value.)"""
    keras.utils.set_random_seed(0)
    model = _build("qlinfogan", critic_steps=1, jit_compile=True)
    assert model.jit_compile
    critic_before, generator_before = _values(model.critic_variables()), _values(model.generator.trainable_variables)
    history = model.fit(_one_batch(_images(SLICE)), epochs=1, steps_per_epoch=1, verbose=0).history
    logs = {key: values[-1] for key, values in history.items()}
    assert all(np.isfinite(value) for value in logs.values()), logs
    assert logs["gradient_penalty"] > 0 and logs["latent_regression_loss"] > 0
    _assert_critic_loss_adds_up(logs, gradient_penalty_weight=10.0, latent_regression_weight=200.0)
    assert _count(model.optimizer.iterations) == 1
    assert _count(model.generator_optimizer.iterations) == 1
    _assert_all_updated(model.critic_variables(), critic_before, "critic")
    _assert_all_updated(model.generator.trainable_variables, generator_before, "generator")


# ------------------------------------------------------------------------------------------------- errors
def test_bad_constructor_arguments_name_the_problem():
    """Each bad InfoGAN / catalogue argument raises ValueError (TypeError for a wrong quantizer type) with
    a message naming the argument and the bad value."""
    generator = build_generator(NUM_LATENTS, IMAGE_SHAPE, "fast")
    critic = build_encoder(IMAGE_SHAPE, latent_dim=NUM_LATENTS, output_dim=NUM_LATENTS + 1, architecture="fast")
    # Through the catalogue, its option checks name the model; InfoGAN itself checks the same things.
    with pytest.raises(ValueError, match=r"critic_steps of 'qlinfogan' must be an integer >= 1; got 0"):
        _build("qlinfogan", critic_steps=0)
    with pytest.raises(ValueError, match=r"critic_steps must be a positive integer; got 0"):
        InfoGAN(generator, critic, critic_steps=0)
    with pytest.raises(ValueError, match=r"critic_steps.*True"):
        InfoGAN(generator, critic, critic_steps=True)
    with pytest.raises(ValueError, match=r"gradient_penalty_weight of 'infowgan_gp' must be a number >= 0; got -1"):
        _build("infowgan_gp", gradient_penalty_weight=-1.0)
    with pytest.raises(ValueError, match=r"gradient_penalty_weight must be a finite number >= 0; got -1"):
        InfoGAN(generator, critic, gradient_penalty_weight=-1.0)
    with pytest.raises(ValueError, match=r"latent_regression_weight.*nan"):
        InfoGAN(generator, critic, latent_regression_weight=float("nan"))
    with pytest.raises(ValueError, match=r"prior of 'infowgan_gp' must be one of \('uniform', 'normal'\); got 'laplace'"):
        _build("infowgan_gp", prior="laplace")
    with pytest.raises(ValueError, match=r"prior must be one of \('uniform', 'normal'\); got 'laplace'"):
        InfoGAN(generator, critic, prior="laplace")
    with pytest.raises(ValueError, match=r"prior_range .*low < high; got \(0.5, 0.5\)"):
        InfoGAN(generator, critic, prior_range=(0.5, 0.5))
    with pytest.raises(ValueError, match=r"value_range of 'infowgan_gp' must be two numbers \(low, high\) with low < high"):
        _build("infowgan_gp", value_range=(1.0, -1.0))
    narrow = build_encoder(IMAGE_SHAPE, latent_dim=NUM_LATENTS, output_dim=NUM_LATENTS, architecture="fast")
    with pytest.raises(ValueError, match=r"1 \+ latent_dim = 5 outputs .*got 4"):
        InfoGAN(generator, narrow)
    larger = build_encoder((64, 64, 1), latent_dim=NUM_LATENTS, output_dim=NUM_LATENTS + 1, architecture="fast")
    message = r"critic reads images of shape \(64, 64, 1\) but the generator makes \(32, 32, 1\)"
    with pytest.raises(ValueError, match=message):
        InfoGAN(generator, larger)
    with pytest.raises(TypeError, match=r"quantizer must be a LatentQuantization layer or None; got Dense"):
        InfoGAN(generator, critic, quantizer=keras.layers.Dense(4))
    with pytest.raises(ValueError, match=r"Unknown model .vaegan.. Did you mean 'vae'\? Registered models: qlae"):
        build_model("vaegan", IMAGE_SHAPE, NUM_LATENTS, "fast")


def test_bad_compile_and_fit_arguments_name_the_problem():
    """compile() takes no loss and two distinct optimizers; fit rejects a batch that does not split into
    critic_steps slices, integer images and images of the wrong shape, without stepping an optimizer;
    evaluate is not available."""
    model = _build("qlinfogan", compile=False)
    with pytest.raises(ValueError, match=r"compile"):
        model.fit(_one_batch(_images(CRITIC_STEPS * SLICE)), steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match=r"takes critic_optimizer and generator_optimizer"):
        model.compile(loss="mse")
    with pytest.raises(ValueError, match=r"takes critic_optimizer and generator_optimizer"):
        model.compile(optimizer="adam")
    shared = keras.optimizers.Adam()
    with pytest.raises(ValueError, match=r"must be two optimizer instances"):
        model.compile(critic_optimizer=shared, generator_optimizer=shared)

    model = _build("qlinfogan")
    with pytest.raises(ValueError, match=r"got a batch of 7, not a multiple of critic_steps = 2"):
        model.fit(_one_batch(_images(7)), steps_per_epoch=1, verbose=0)
    uint8 = (_images(CRITIC_STEPS * SLICE) * 255).astype("uint8")
    with pytest.raises(ValueError, match=r"float images in \[0, 1\]; got dtype uint8"):
        model.fit(_one_batch(uint8), steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match=r"real images of shape \(batch,\) \+ \(32, 32, 1\); got \(8, 16, 16, 1\)"):
        model.fit(_one_batch(_images(8, shape=(16, 16, 1))), steps_per_epoch=1, verbose=0)
    with pytest.raises(NotImplementedError, match=r"no validation loss"):
        model.evaluate(_one_batch(_images(CRITIC_STEPS * SLICE)), steps=1, verbose=0)
    # None of the rejected calls stepped an optimizer.
    assert _count(model.optimizer.iterations) == 0 and _count(model.generator_optimizer.iterations) == 0


def test_fit_rejects_a_dynamic_batch_not_divisible_by_critic_steps():
    """A batch whose size is only known at run time and is not a multiple of critic_steps fails with a message
    naming critic_steps (a ValueError, or an InvalidArgumentError from a run-time check inside the compiled
    step). Tiny dense networks: only the train step's input check matters here."""
    model = InfoGAN(*_tiny_networks(), critic_steps=CRITIC_STEPS, seed=0)
    model.compile(critic_optimizer=build_gan_optimizer(2e-4, 0.0, 0.9, 0.0),
                  generator_optimizer=build_gan_optimizer(2e-4, 0.0, 0.9, 0.0))
    dataset = tf.data.Dataset.from_tensor_slices(_images(7, shape=TINY_IMAGE_SHAPE)).batch(7)  # batch dim None
    assert dataset.element_spec.shape[0] is None
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=r"multiple of critic_steps"):
        model.fit(dataset, steps_per_epoch=1, verbose=0)


# ------------------------------------------------------------------------------------- inference helpers
def test_qlinfogan_encode_images_returns_codes_of_the_estimate():
    """QLInfoGAN: `latents` are the int codes of the continuous estimate (quantizer.encode_codes), `quantized`
    their codebook values, and `continuous` what `model(images)` returns."""
    keras.utils.set_random_seed(0)
    model = _build("qlinfogan", compile=False)
    images = _images(10, seed=4)
    estimates = keras.ops.convert_to_numpy(model(images))
    # A fresh critic's estimates sit in a narrow band: spread each codebook row over its dimension's estimates,
    # so the images get different codes.
    codebook = np.empty(model.quantizer.codebook.shape, "float32")
    for j, n in enumerate(NUM_VALUES):
        codebook[j] = np.linspace(estimates[:, j].min(), estimates[:, j].max(), n).tolist() + [0.0] * (10 - n)
    model.quantizer.codebook.assign(codebook)
    encoded = model.encode_images(images)
    continuous = encoded["continuous"]
    assert continuous.shape == (10, NUM_LATENTS)
    np.testing.assert_allclose(continuous, estimates, rtol=1e-5, atol=1e-6)
    expected_codes = keras.ops.convert_to_numpy(model.quantizer.encode_codes(continuous))
    assert encoded["discrete"] is True
    assert encoded["codes"].dtype == np.int32
    np.testing.assert_array_equal(encoded["codes"], expected_codes)
    np.testing.assert_array_equal(encoded["latents"], expected_codes)
    assert all(len(np.unique(encoded["codes"][:, j])) >= 2 for j in range(NUM_LATENTS)), encoded["codes"]
    np.testing.assert_array_equal(encoded["quantized"], codebook[np.arange(NUM_LATENTS), encoded["codes"]])
    # Each code is the nearest value of its dimension's codebook.
    for j, n in enumerate(NUM_VALUES):
        nearest = np.argmin(np.abs(continuous[:, j, None] - codebook[j, :n]), axis=1)
        np.testing.assert_array_equal(encoded["codes"][:, j], nearest)
    assert encoded["critic_values"].shape == (10,)


def test_infowgan_gp_encode_images_returns_the_continuous_estimate():
    """InfoWGAN-GP: `latents` are the critic's columns 1..d unquantized (discrete=False), column 0 the critic
    values."""
    keras.utils.set_random_seed(0)
    model = _build("infowgan_gp", compile=False)
    images = _images(10, seed=4)
    encoded = model.encode_images(images)
    assert encoded["discrete"] is False and "codes" not in encoded
    outputs = keras.ops.convert_to_numpy(model.critic(images))
    np.testing.assert_allclose(encoded["latents"], outputs[:, 1:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(encoded["critic_values"], outputs[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(encoded["latents"], encoded["continuous"])


def _assert_traversal_grid(grid, base, expected_columns):
    d, steps = len(base), expected_columns.shape[1]
    assert grid.shape == (d, steps, d)
    for j in range(d):
        others = np.delete(np.arange(d), j)
        np.testing.assert_array_equal(grid[j][:, others], np.broadcast_to(base[others], (steps, d - 1)))
        np.testing.assert_array_equal(grid[j][:, j], expected_columns[j])


def test_traversal_latents_change_one_dimension_per_row():
    """`traversal_latents(base)` is a (d, steps, d) grid whose row j equals `base` except in column j, which
    walks dimension j's codebook (QLInfoGAN; a shorter codebook repeats its last value, never its padding) or
    evenly spaced prior values (InfoWGAN-GP: prior_range, or +-2 for the normal prior)."""
    base = np.array([0.11, -0.22, 0.33, -0.44], "float32")

    model = _build("qlinfogan", compile=False)
    rng = np.random.default_rng(6)
    codebook = np.full(model.quantizer.codebook.shape, 99.0, "float32")  # 99: padding, must never show
    for j, n in enumerate(NUM_VALUES):
        codebook[j, :n] = np.sort(rng.uniform(-1, 1, size=n))
    model.quantizer.codebook.assign(codebook)
    grid, labels = model.traversal_latents(base)
    expected = np.stack([list(codebook[j, :n]) + [codebook[j, n - 1]] * (10 - n) for j, n in enumerate(NUM_VALUES)])
    _assert_traversal_grid(grid, base, expected)
    assert not np.any(grid == 99.0)
    assert labels == [f"v{k}" for k in range(10)]

    model = _build("infowgan_gp", compile=False, value_range=(-1.0, 2.0))
    grid, labels = model.traversal_latents(base, num_steps=4)
    _assert_traversal_grid(grid, base, np.tile(np.linspace(-1.0, 2.0, 4, dtype="float32"), (NUM_LATENTS, 1)))
    assert labels == ["-1.00", "+0.00", "+1.00", "+2.00"]

    model = _build("infowgan_gp", compile=False, prior="normal")
    grid, _ = model.traversal_latents(base, num_steps=5)
    _assert_traversal_grid(grid, base, np.tile(np.linspace(-2.0, 2.0, 5, dtype="float32"), (NUM_LATENTS, 1)))
