"""Tests of keras_latentquant.layers.ARDGaussianPosterior (ARD-VAE bottleneck), against NumPy and on
synthetic data with fewer generative factors than latents."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.layers.ard_gaussian_posterior import ARDGaussianPosterior, gaussian_kl_per_axis
from tests import test_case
from tests.layers.test_gaussian_posterior import check_mirrored_strategy_between_dense_layers

SPEC = test_case.LayerSpec(
    layer_class=ARDGaussianPosterior,
    default_kwargs={},
    non_default_kwargs={
        "beta": 2.0,
        "momentum": 0.9,
        "switch_off_threshold": 0.2,
        "loss_scale": 0.5,
        "log_variance_range": [-6.0, 4.0],
        "seed": 5,
    },
    input_shape=(8, 8),
)


def numpy_kl_per_axis(mean, log_variance, prior_variance):
    """Closed form KL(N(mu, sigma^2) || N(0, alpha)) element-wise."""
    mean, log_variance = np.asarray(mean, np.float64), np.asarray(log_variance, np.float64)
    alpha = np.asarray(prior_variance, np.float64)
    return 0.5 * ((mean**2 + np.exp(log_variance)) / alpha - 1.0 - log_variance + np.log(alpha))


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def random_posterior(rng, batch, dims):
    mean = rng.normal(size=(batch, dims)).astype("float32")
    log_variance = rng.uniform(-2, 1, size=(batch, dims)).astype("float32")
    return mean, log_variance, np.concatenate([mean, log_variance], -1)


# ---------------------------------------------------------------- KL
def test_kl_per_axis_hand_worked_example():
    # mu = 1, sigma^2 = 1, alpha = 4: 1/2 (2/4 - 1 - 0 + log 4) = 0.4431472.
    # At the empirical-Bayes optimum alpha = mu^2 + sigma^2 it is 1/2 (log alpha - log sigma^2): 1/2 log 2.
    np.testing.assert_allclose(to_numpy(gaussian_kl_per_axis([[1.0]], [[0.0]], [4.0])), [[0.4431472]], rtol=1e-6)
    np.testing.assert_allclose(
        to_numpy(gaussian_kl_per_axis([[1.0]], [[0.0]], [2.0])), [[0.5 * math.log(2.0)]], rtol=1e-6
    )


def test_kl_per_axis_matches_numpy():
    rng = np.random.default_rng(0)
    mean, log_variance, _ = random_posterior(rng, 5, 4)
    prior_variance = rng.uniform(0.1, 3.0, size=(4,)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(gaussian_kl_per_axis(mean, log_variance, prior_variance)),
        numpy_kl_per_axis(mean, log_variance, prior_variance),
        rtol=1e-5,
        atol=1e-6,
    )


def test_training_kl_uses_the_batch_prior_and_inference_the_moving_one():
    rng = np.random.default_rng(1)
    mean, log_variance, encoded = random_posterior(rng, 16, 3)
    layer = ARDGaussianPosterior(beta=2.0, loss_scale=0.5)
    # Before any training the moving prior is N(0, I): the layer's KL is the VAE's.
    layer(encoded)
    np.testing.assert_allclose(
        float(layer.losses[0]), 0.5 * 2.0 * numpy_kl_per_axis(mean, log_variance, 1.0).sum(-1).mean(), rtol=1e-5
    )
    layer(encoded, training=True)
    batch_alpha = (mean.astype(np.float64) ** 2 + np.exp(log_variance)).mean(0)
    expected_kl = numpy_kl_per_axis(mean, log_variance, batch_alpha).sum(-1).mean()
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * 2.0 * expected_kl, rtol=1e-5)
    # At the optimum alpha the expected KL of axis j is 1/2 (log alpha_j - mean log sigma_j^2).
    np.testing.assert_allclose(
        expected_kl, 0.5 * np.sum(np.log(batch_alpha) - log_variance.mean(0)), rtol=1e-5
    )
    # Inference now uses the stored moving average (the first update copied the batch estimate).
    np.testing.assert_allclose(layer.prior_variances(), batch_alpha, rtol=1e-5)
    layer(encoded)
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * 2.0 * expected_kl, rtol=1e-5)


def test_moving_averages_match_numpy():
    rng = np.random.default_rng(2)
    layer = ARDGaussianPosterior(momentum=0.9)
    alpha, kl = np.ones(3), np.zeros(3)
    for step in range(4):
        mean, log_variance, encoded = random_posterior(rng, 8, 3)
        mean = mean * (step + 1)  # a drifting scale, so the average lags behind
        encoded[:, :3] = mean
        layer(encoded, training=True)
        batch_alpha = (mean.astype(np.float64) ** 2 + np.exp(log_variance)).mean(0)
        batch_kl = numpy_kl_per_axis(mean, log_variance, batch_alpha).mean(0)
        momentum = 0.0 if step == 0 else 0.9
        alpha = momentum * alpha + (1 - momentum) * batch_alpha
        kl = momentum * kl + (1 - momentum) * batch_kl
        np.testing.assert_allclose(layer.prior_variances(), alpha, rtol=1e-5)
        np.testing.assert_allclose(layer.axis_kl(), kl, rtol=1e-5, atol=1e-6)
    assert float(layer.num_updates) == 4.0
    # Inference leaves the averages alone.
    layer(encoded)
    layer(encoded, training=False)
    np.testing.assert_allclose(layer.prior_variances(), alpha, rtol=1e-5)
    assert float(layer.num_updates) == 4.0


def test_active_axes_and_metric_follow_the_per_axis_kl():
    layer = ARDGaussianPosterior(switch_off_threshold=0.1)
    layer.build((None, 8))
    np.testing.assert_array_equal(layer.prior_variances(), np.ones(4))
    layer.kl_per_axis.assign(np.array([2.0, 0.01, 0.5, 0.1], "float32"))
    np.testing.assert_array_equal(layer.active_axes(), [True, False, True, False])
    layer(np.zeros((2, 8), "float32"))
    assert float(layer.active_axes_tracker.result()) == 2.0


def test_prior_is_not_differentiated():
    # With alpha held fixed, d/dmu of mean_batch sum_j KL_j = mu / (alpha B), and
    # d/dlog sigma^2 = (sigma^2 / alpha - 1) / (2 B). (Differentiating alpha too would add more terms.)
    rng = np.random.default_rng(3)
    mean, log_variance, encoded = random_posterior(rng, 6, 3)
    alpha = (mean.astype(np.float64) ** 2 + np.exp(log_variance)).mean(0)
    encoded = tf.constant(encoded)
    layer = ARDGaussianPosterior()
    with tf.GradientTape() as tape:
        tape.watch(encoded)
        layer(encoded, training=True)
        loss = tf.add_n(layer.losses)
    gradient = tape.gradient(loss, encoded).numpy()
    np.testing.assert_allclose(gradient[:, :3], mean / (alpha * 6), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        gradient[:, 3:], (np.exp(log_variance) / alpha - 1) / 12, rtol=1e-4, atol=1e-6
    )


# ---------------------------------------------------------------- sampling
def test_inference_returns_the_mean_and_training_a_sample():
    mean, _, encoded = random_posterior(np.random.default_rng(4), 5, 3)
    layer = ARDGaussianPosterior(seed=0)
    np.testing.assert_array_equal(to_numpy(layer(encoded)), mean)
    sample = to_numpy(layer(encoded, training=True))
    assert sample.shape == (5, 3) and not np.allclose(sample, mean)
    latents, discrete = layer.evaluation_latents(encoded)
    assert discrete is False
    np.testing.assert_array_equal(to_numpy(latents), mean)


# ---------------------------------------------------------------- switching off on synthetic data
def test_uninformative_axes_switch_off_on_two_factor_data():
    # Data from 2 factors, 6 latents. The reconstruction loss is a Gaussian likelihood with noise
    # sigma_x = 0.1 averaged over the D pixels, so the per-example KL is scaled by 2 sigma_x^2 / D.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    num_examples, width, noise = 2048, 10, 0.1
    factors = rng.uniform(-1, 1, size=(num_examples, 2)).astype("float32")
    mixing = rng.normal(size=(2, width))
    data = (np.tanh(factors @ mixing) + 0.01 * rng.normal(size=(num_examples, width))).astype("float32")

    inputs = keras.Input((width,))
    encoded = keras.layers.Dense(12)(keras.layers.Dense(64, activation="relu")(inputs))
    ard = ARDGaussianPosterior(momentum=0.9, loss_scale=2 * noise**2 / width, seed=0, name="ard")
    hidden = keras.layers.Dense(64, activation="relu")(ard(encoded))
    model = keras.Model(inputs, keras.layers.Dense(width)(hidden))
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    history = model.fit(data, data, batch_size=64, epochs=25, verbose=0)  # 800 steps

    active = ard.active_axes()
    assert 2 <= active.sum() <= 4, ard.axis_kl()
    assert history.history["ard_active_axes"][-1] == active.sum()
    # The active axes still carry both factors: a cubic regression from their means recovers each.
    means = to_numpy(ard.evaluation_latents(keras.Model(inputs, encoded)(data))[0])
    kept = means[:, active]
    columns = [np.ones(num_examples)] + [kept[:, j] ** p for j in range(kept.shape[1]) for p in (1, 2, 3)]
    columns += [kept[:, i] * kept[:, j] for i in range(kept.shape[1]) for j in range(i + 1, kept.shape[1])]
    features = np.stack(columns, 1)
    coefficients, *_ = np.linalg.lstsq(features, factors, rcond=None)
    r_squared = 1 - ((features @ coefficients - factors) ** 2).mean(0) / factors.var(0)
    assert np.all(r_squared > 0.9), r_squared
    # Switched-off axes are at the prior: their means barely move across the data.
    assert np.all(means[:, ~active].var(0) < 0.1 * ard.prior_variances()[~active] + 1e-3)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beta": -1.0}, "beta"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"momentum": "fast"}, "momentum"),
        ({"switch_off_threshold": -0.01}, "switch_off_threshold"),
        ({"loss_scale": -1.0}, "loss_scale"),
        ({"log_variance_range": (0.0, 0.0)}, "log_variance_range"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ARDGaussianPosterior(**kwargs)


def test_bad_input_shapes_and_unbuilt_state_raise_value_error():
    with pytest.raises(ValueError, match="even last axis"):
        ARDGaussianPosterior()(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="known last axis"):
        ARDGaussianPosterior().build((None, None))
    with pytest.raises(ValueError, match="rank 1"):
        ARDGaussianPosterior().build((6,))
    with pytest.raises(ValueError, match="needs the layer built"):
        ARDGaussianPosterior().active_axes()


# ---------------------------------------------------------------- shared checks
def test_output_shape_and_dtype():
    test_case.check_output_shape_and_dtype(SPEC)


def test_keras_round_trip_with_non_default_arguments(tmp_path):
    test_case.check_keras_round_trip(SPEC, tmp_path)


def test_keras_round_trip_keeps_moving_averages(tmp_path):
    layer = ARDGaussianPosterior(**SPEC.non_default_kwargs)
    model = test_case._model_around(layer, SPEC.input_shape)
    inputs = SPEC.make_inputs((16, 8), np.random.default_rng(5))
    for _ in range(3):
        model(inputs, training=True)
    model(inputs)
    expected_loss = float(model.losses[0])
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    reloaded_layer = reloaded.layers[-1]
    np.testing.assert_array_equal(reloaded_layer.prior_variances(), layer.prior_variances())
    np.testing.assert_array_equal(reloaded_layer.axis_kl(), layer.axis_kl())
    reloaded(inputs)
    assert float(reloaded.losses[0]) == expected_loss


def test_savedmodel_round_trip(tmp_path):
    test_case.check_savedmodel_round_trip(SPEC, tmp_path)


def test_jit_compile():
    test_case.check_jit_compile(SPEC)
    # The training step (batch prior, moving-average assignment, sampling) compiles too.
    layer = ARDGaussianPosterior(momentum=0.5, seed=0)
    inputs = tf.constant(SPEC.make_inputs((16, 8), np.random.default_rng(6)))
    compiled = tf.function(lambda x: layer(x, training=True), jit_compile=True)
    compiled(inputs)
    compiled(inputs)
    assert float(layer.num_updates) == 2.0
    assert np.all(np.isfinite(layer.prior_variances()))


def test_mirrored_strategy_fit():
    layer = check_mirrored_strategy_between_dense_layers(SPEC)
    # 2 epochs of 4 steps; each replica's update is averaged into one value per step.
    assert float(to_numpy(layer.num_updates)) == 8.0
    assert np.all(np.isfinite(layer.prior_variances())) and np.all(layer.prior_variances() > 0)


def test_mixed_precision_keeps_prior_float32():
    test_case.check_mixed_precision(SPEC)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = ARDGaussianPosterior()
        outputs = layer(np.random.default_rng(7).normal(size=(16, 8)).astype("float16"), training=True)
        (loss,) = layer.losses
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    for weight in (layer.prior_variance, layer.kl_per_axis, layer.num_updates):
        assert keras.backend.standardize_dtype(weight.dtype) == "float32"


def test_metrics_appear_in_fit_history():
    inputs = keras.Input((4,))
    latents = ARDGaussianPosterior(name="ard")(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4)(latents))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    history = model.fit(np.random.randn(32, 4), np.random.randn(32, 4), epochs=1, verbose=0)
    for name in ["ard_kl", "ard_active_axes"]:
        assert name in history.history, sorted(history.history)
