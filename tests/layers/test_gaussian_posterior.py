"""Tests of keras_latentquant.layers.gaussian_posterior (VAE, beta-VAE, beta-TCVAE bottleneck), with
numbers worked out by hand or in NumPy."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.layers.gaussian_posterior import (
    GaussianPosterior,
    gaussian_kl_to_standard_normal,
    minibatch_weighted_kl_decomposition,
    minibatch_weighted_total_correlation,
)
from tests import test_case

SPEC = test_case.LayerSpec(
    layer_class=GaussianPosterior,
    default_kwargs={},
    non_default_kwargs={
        "beta": 4.0,
        "total_correlation_weight": 6.0,
        "dataset_size": 1000,
        "loss_scale": 0.25,
        "log_variance_range": [-8.0, 6.0],
        "seed": 3,
    },
    input_shape=(8, 6),
)


# ---------------------------------------------------------------- NumPy references
def numpy_kl(mean, log_variance):
    """Closed form KL(N(mu, sigma^2) || N(0, 1)) per element, summed over the last axis."""
    mean, log_variance = np.asarray(mean, np.float64), np.asarray(log_variance, np.float64)
    return 0.5 * np.sum(mean**2 + np.exp(log_variance) - 1.0 - log_variance, axis=-1)


def numpy_log_normal(x, mean, log_variance):
    return -0.5 * (np.log(2 * np.pi) + log_variance + (x - mean) ** 2 / np.exp(log_variance))


def numpy_logsumexp(values, axis):
    peak = np.max(values, axis=axis, keepdims=True)
    return np.squeeze(peak, axis) + np.log(np.sum(np.exp(values - peak), axis=axis))


def numpy_mws(z, mean, log_variance, dataset_size):
    """The MWS formulas of Chen et al. (2018), written independently with explicit loops over pairs."""
    z, mean, log_variance = (np.asarray(a, np.float64) for a in (z, mean, log_variance))
    batch, dims = z.shape
    pairwise = np.zeros((batch, batch, dims))
    for i in range(batch):
        for j in range(batch):
            pairwise[i, j] = numpy_log_normal(z[i], mean[j], log_variance[j])
    log_nm = math.log(dataset_size * batch)
    log_q_z = numpy_logsumexp(pairwise.sum(-1), axis=1) - log_nm
    log_q_z_product = (numpy_logsumexp(pairwise, axis=1) - log_nm).sum(-1)
    log_q_z_given_x = numpy_log_normal(z, mean, log_variance).sum(-1)
    log_p_z = numpy_log_normal(z, 0.0, 0.0).sum(-1)
    return (
        np.mean(log_q_z_given_x - log_q_z),
        np.mean(log_q_z - log_q_z_product),
        np.mean(log_q_z_product - log_p_z),
    )


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


# ---------------------------------------------------------------- KL
def test_kl_hand_worked_example():
    # mu = (0.5, -1), log sigma^2 = (-2, 0.3):
    # 1/2 (0.25 + e^-2 - 1 + 2) + 1/2 (1 + e^0.3 - 1 - 0.3) = 0.6926677 + 0.5249294 = 1.2175971.
    kl = gaussian_kl_to_standard_normal(np.array([[0.5, -1.0]]), np.array([[-2.0, 0.3]]))
    np.testing.assert_allclose(to_numpy(kl), [1.2175971], rtol=1e-6)
    # The prior itself has KL 0; mu = 1 with unit variance has KL 1/2.
    np.testing.assert_allclose(to_numpy(gaussian_kl_to_standard_normal([[0.0, 1.0]], [[0.0, 0.0]])), [0.5])


def test_kl_matches_closed_form_for_any_leading_axes():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(3, 4, 5)).astype("float32")
    log_variance = rng.uniform(-3, 2, size=(3, 4, 5)).astype("float32")
    kl = gaussian_kl_to_standard_normal(mean, log_variance)
    assert kl.shape == (3, 4)
    np.testing.assert_allclose(to_numpy(kl), numpy_kl(mean, log_variance), rtol=1e-5)


def test_layer_loss_is_scaled_beta_kl_and_metric_is_kl_per_image():
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(6, 3)).astype("float32")
    log_variance = rng.uniform(-2, 1, size=(6, 3)).astype("float32")
    layer = GaussianPosterior(beta=4.0, loss_scale=1 / 64)
    layer(np.concatenate([mean, log_variance], -1), training=True)
    (loss,) = layer.losses
    expected_kl = numpy_kl(mean, log_variance).mean()
    np.testing.assert_allclose(float(loss), 4.0 / 64 * expected_kl, rtol=1e-5)
    np.testing.assert_allclose(float(layer.kl_tracker.result()), expected_kl, rtol=1e-5)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"


def test_log_variance_is_clamped():
    # log sigma^2 = 50 is clamped to the upper bound 4: KL = 1/2 (e^4 - 1 - 4); -50 to -6.
    layer = GaussianPosterior(log_variance_range=(-6.0, 4.0))
    layer(np.array([[0.0, 0.0, 50.0, -50.0]], dtype="float32"))
    expected = 0.5 * (math.exp(4.0) - 5.0) + 0.5 * (math.exp(-6.0) - 1.0 + 6.0)
    np.testing.assert_allclose(float(layer.losses[0]), expected, rtol=1e-5)
    sample = to_numpy(layer(np.array([[0.0, 0.0, 50.0, -50.0]] * 4000, dtype="float32"), training=True))
    assert np.all(np.isfinite(sample))
    np.testing.assert_allclose(sample.std(0), [math.exp(2.0), math.exp(-3.0)], rtol=0.1)


# ---------------------------------------------------------------- total correlation (MWS)
def test_mws_matches_numpy_formula():
    rng = np.random.default_rng(2)
    mean = rng.normal(size=(7, 3)).astype("float32")
    log_variance = rng.uniform(-1.5, 0.5, size=(7, 3)).astype("float32")
    z = (mean + np.exp(0.5 * log_variance) * rng.normal(size=(7, 3))).astype("float32")
    terms = minibatch_weighted_kl_decomposition(z, mean, log_variance, dataset_size=500)
    expected = numpy_mws(z, mean, log_variance, 500)
    np.testing.assert_allclose([float(t) for t in terms], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        float(minibatch_weighted_total_correlation(z, mean, log_variance, 500)), expected[1], rtol=1e-4
    )


def test_mws_terms_sum_to_one_sample_kl_estimate():
    # MI + TC + DWKL = mean_i [log q(z_i|x_i) - log N(z_i; 0, I)]: the log(N M) terms cancel.
    rng = np.random.default_rng(3)
    mean = rng.normal(size=(16, 4)).astype("float32")
    log_variance = rng.uniform(-1, 0.5, size=(16, 4)).astype("float32")
    z = (mean + np.exp(0.5 * log_variance) * rng.normal(size=(16, 4))).astype("float32")
    terms = minibatch_weighted_kl_decomposition(z, mean, log_variance, dataset_size=10_000)
    single_sample = np.mean(
        numpy_log_normal(z, mean, log_variance).sum(-1) - numpy_log_normal(z, 0.0, 0.0).sum(-1)
    )
    np.testing.assert_allclose(sum(float(t) for t in terms), single_sample, rtol=1e-4, atol=1e-3)


def test_total_correlation_small_for_independent_latents_and_large_for_correlated_ones():
    # MWS carries the constant (d - 1) log N (see minibatch_weighted_kl_decomposition): for
    # independent latents whose posteriors overlap across the batch the estimate is about that
    # constant, i.e. about 0 after removing it; three copies of one latent are strongly dependent.
    rng = np.random.default_rng(4)
    batch, dims, dataset_size = 1024, 3, 10_000
    offset = (dims - 1) * math.log(dataset_size)

    independent_mean = rng.normal(size=(batch, dims)).astype("float32")
    wide = np.zeros((batch, dims), "float32")
    z = independent_mean + rng.normal(size=(batch, dims)).astype("float32")
    independent_tc = float(minibatch_weighted_total_correlation(z, independent_mean, wide, dataset_size))

    shared = rng.normal(size=(batch, 1))
    correlated_mean = np.repeat(shared, dims, axis=1).astype("float32")
    narrow = np.full((batch, dims), 2 * math.log(0.1), "float32")
    z = correlated_mean + 0.1 * rng.normal(size=(batch, dims)).astype("float32")
    correlated_tc = float(minibatch_weighted_total_correlation(z, correlated_mean, narrow, dataset_size))

    assert abs(independent_tc - offset) < 0.05, independent_tc - offset
    assert correlated_tc - offset > 2.0, correlated_tc - offset


def test_beta_tcvae_objective():
    # loss = loss_scale * (beta * (MI + DWKL) + w * TC), the terms at the layer's sample.
    rng = np.random.default_rng(5)
    encoded = rng.normal(scale=0.7, size=(32, 8)).astype("float32")
    layer = GaussianPosterior(beta=2.0, total_correlation_weight=6.0, dataset_size=1000, loss_scale=0.1)
    z = to_numpy(layer(encoded, training=True))
    mean, log_variance = encoded[:, :4], encoded[:, 4:]
    mutual_information, total_correlation, dimension_wise_kl = numpy_mws(z, mean, log_variance, 1000)
    (loss,) = layer.losses
    np.testing.assert_allclose(
        float(loss), 0.1 * (2.0 * (mutual_information + dimension_wise_kl) + 6.0 * total_correlation), rtol=1e-4
    )
    np.testing.assert_allclose(float(layer.total_correlation_tracker.result()), total_correlation, rtol=1e-4)
    np.testing.assert_allclose(float(layer.mutual_information_tracker.result()), mutual_information, rtol=1e-4)
    np.testing.assert_allclose(float(layer.dimension_wise_kl_tracker.result()), dimension_wise_kl, rtol=1e-4)
    np.testing.assert_allclose(float(layer.kl_tracker.result()), numpy_kl(mean, log_variance).mean(), rtol=1e-5)


def test_total_correlation_weight_equal_to_beta_gives_sampled_beta_kl():
    # beta * (MI + DWKL) + beta * TC = beta * mean_i [log q(z_i|x_i) - log p(z_i)]: no dependence on N.
    rng = np.random.default_rng(6)
    encoded = rng.normal(scale=0.7, size=(16, 6)).astype("float32")
    losses = []
    for dataset_size in (100, 100_000):
        layer = GaussianPosterior(beta=3.0, total_correlation_weight=3.0, dataset_size=dataset_size, seed=1)
        z = to_numpy(layer(encoded, training=True))
        losses.append(float(layer.losses[0]))
        expected = 3.0 * np.mean(
            numpy_log_normal(z, encoded[:, :3], encoded[:, 3:]).sum(-1) - numpy_log_normal(z, 0.0, 0.0).sum(-1)
        )
        np.testing.assert_allclose(losses[-1], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)


def test_beta_tcvae_loss_is_deterministic_at_inference():
    encoded = np.random.default_rng(7).normal(size=(16, 6)).astype("float32")
    layer = GaussianPosterior(total_correlation_weight=6.0, dataset_size=1000)
    layer(encoded)
    first = float(layer.losses[0])
    layer(encoded, training=False)
    assert float(layer.losses[0]) == first
    layer(encoded, training=True)  # advances the training noise, not the inference noise
    layer(encoded)
    assert float(layer.losses[0]) == first


# ---------------------------------------------------------------- sampling
def test_inference_returns_the_mean_and_training_a_sample():
    rng = np.random.default_rng(8)
    mean = rng.normal(size=(5, 3)).astype("float32")
    log_variance = rng.uniform(-1, 0, size=(5, 3)).astype("float32")
    encoded = np.concatenate([mean, log_variance], -1)
    layer = GaussianPosterior(seed=0)
    np.testing.assert_array_equal(to_numpy(layer(encoded)), mean)
    np.testing.assert_array_equal(to_numpy(layer(encoded, training=False)), mean)
    first = to_numpy(layer(encoded, training=True))
    second = to_numpy(layer(encoded, training=True))
    assert first.shape == (5, 3)
    assert not np.allclose(first, mean) and not np.allclose(first, second)


def test_samples_have_the_posterior_moments():
    # One input repeated: samples mu + sigma * eps have mean mu and standard deviation sigma.
    encoded = np.tile(np.array([[1.5, -0.5, math.log(0.25), math.log(4.0)]], "float32"), (20_000, 1))
    samples = to_numpy(GaussianPosterior(seed=1)(encoded, training=True))
    np.testing.assert_allclose(samples.mean(0), [1.5, -0.5], atol=0.04)
    np.testing.assert_allclose(samples.std(0), [0.5, 2.0], rtol=0.03)


def test_seed_makes_samples_reproducible():
    encoded = np.random.default_rng(9).normal(size=(4, 6)).astype("float32")
    first = to_numpy(GaussianPosterior(seed=11)(encoded, training=True))
    second = to_numpy(GaussianPosterior(seed=11)(encoded, training=True))
    np.testing.assert_array_equal(first, second)


def test_evaluation_latents_are_the_means():
    encoded = np.random.default_rng(10).normal(size=(4, 6)).astype("float32")
    latents, discrete = GaussianPosterior().evaluation_latents(encoded)
    assert discrete is False
    np.testing.assert_array_equal(to_numpy(latents), encoded[:, :3])


# ---------------------------------------------------------------- gradients
def test_gradient_reaches_mean_and_log_variance():
    # d/dmu [sum(w z) + KL/B] = w + mu / B; d/dlog sigma^2 = w * sigma * eps / 2 + (sigma^2 - 1) / (2 B).
    rng = np.random.default_rng(11)
    mean = rng.normal(size=(4, 3)).astype("float32")
    log_variance = rng.uniform(-1, 0.5, size=(4, 3)).astype("float32")
    weights = rng.normal(size=(4, 3)).astype("float32")
    encoded = tf.constant(np.concatenate([mean, log_variance], -1))
    layer = GaussianPosterior(seed=2)
    with tf.GradientTape() as tape:
        tape.watch(encoded)
        sample = layer(encoded, training=True)
        loss = tf.reduce_sum(sample * weights) + tf.add_n(layer.losses)
    gradient = tape.gradient(loss, encoded).numpy()
    sigma = np.exp(0.5 * log_variance)
    noise = (sample.numpy() - mean) / sigma
    np.testing.assert_allclose(gradient[:, :3], weights + mean / 4, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        gradient[:, 3:], weights * sigma * noise / 2 + (sigma**2 - 1) / 8, rtol=1e-4, atol=1e-5
    )


def test_beta_tcvae_gradient_is_finite_and_reaches_both_halves():
    encoded = tf.constant(np.random.default_rng(12).normal(size=(32, 8)).astype("float32"))
    layer = GaussianPosterior(total_correlation_weight=6.0, dataset_size=1000)
    with tf.GradientTape() as tape:
        tape.watch(encoded)
        layer(encoded, training=True)
        loss = tf.add_n(layer.losses)
    gradient = tape.gradient(loss, encoded).numpy()
    assert np.all(np.isfinite(gradient))
    assert np.all(np.abs(gradient[:, :4]).sum(0) > 0) and np.all(np.abs(gradient[:, 4:]).sum(0) > 0)


def test_every_trainable_weight_gets_a_gradient_in_a_model():
    inputs = keras.Input((6,))
    encoded = keras.layers.Dense(6, name="to_posterior")(inputs)
    latents = GaussianPosterior(total_correlation_weight=2.0, dataset_size=100)(encoded)
    model = keras.Model(inputs, keras.layers.Dense(6, name="from_latents")(latents))
    data = np.random.default_rng(13).normal(size=(32, 6)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(data, training=True) - data)) + tf.add_n(model.losses)
    for weight, gradient in zip(model.trainable_weights, tape.gradient(loss, model.trainable_weights)):
        assert gradient is not None and np.any(gradient.numpy() != 0), weight.path


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beta": -1.0}, "beta"),
        ({"beta": "x"}, "beta"),
        ({"total_correlation_weight": -0.5}, "total_correlation_weight"),
        ({"total_correlation_weight": 6.0}, "dataset_size is required"),
        ({"total_correlation_weight": 6.0, "dataset_size": 0}, "dataset_size"),
        ({"dataset_size": 10.5}, "dataset_size"),
        ({"loss_scale": 0.0}, "loss_scale"),
        ({"loss_scale": float("nan")}, "loss_scale"),
        ({"log_variance_range": (2.0, -2.0)}, "log_variance_range"),
        ({"log_variance_range": 3}, "log_variance_range"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianPosterior(**kwargs)


def test_bad_input_shapes_raise_value_error():
    with pytest.raises(ValueError, match="even last axis"):
        GaussianPosterior()(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match="even last axis"):
        GaussianPosterior().compute_output_shape((None, 3))
    with pytest.raises(ValueError, match="known last axis"):
        GaussianPosterior().build((None, None))
    with pytest.raises(ValueError, match="rank 1"):
        GaussianPosterior().build((4,))
    with pytest.raises(ValueError, match="even last axis"):
        GaussianPosterior().evaluation_latents(np.zeros((2, 7), "float32"))


# ---------------------------------------------------------------- shared checks
def check_mirrored_strategy_between_dense_layers(spec, seed=4):
    """The shared `check_mirrored_strategy` for a layer without trainable weights.

    The shared check fits a model made of the layer alone and asserts that some trainable weight
    changed; a bottleneck with no weights of its own (GaussianPosterior, ARDGaussianPosterior,
    NonNegativeLatents) cannot pass that (`any` over an empty list is False). So the same fit, under
    the same shared MirroredStrategy over 2 logical CPUs, runs with the layer between two Dense
    layers, as in an autoencoder, whose weights must change and whose loss must stay finite.

    Returns:
        the fitted layer, for layer-specific checks.
    """
    from tests.conftest import shared_mirrored_strategy

    assert len(tf.config.list_logical_devices("CPU")) >= 2
    strategy = shared_mirrored_strategy()
    rng = np.random.default_rng(seed)
    width = spec.input_shape[-1]
    inputs = spec.make_inputs((32,) + tuple(spec.input_shape[1:]), rng)
    with strategy.scope():
        features = keras.Input(tuple(spec.input_shape[1:]))
        layer = spec.layer_class(**spec.default_kwargs)
        latents = layer(keras.layers.Dense(width)(features))
        model = keras.Model(features, keras.layers.Dense(width)(latents))
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    assert not layer.trainable_weights
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(inputs, inputs, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after)), "a Dense kernel did not change"
    return layer


def test_output_shape_and_dtype():
    test_case.check_output_shape_and_dtype(SPEC)


def test_keras_round_trip_with_non_default_arguments(tmp_path):
    test_case.check_keras_round_trip(SPEC, tmp_path)


def test_keras_round_trip_keeps_the_objective(tmp_path):
    # At inference the output is the mean whatever the arguments, so compare the (deterministic) loss too.
    model = test_case._model_around(GaussianPosterior(**SPEC.non_default_kwargs), SPEC.input_shape)
    inputs = SPEC.make_inputs((16, 6), np.random.default_rng(14))
    model(inputs)
    expected = float(model.losses[0])
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    reloaded(inputs)
    assert float(reloaded.losses[0]) == expected


def test_savedmodel_round_trip(tmp_path):
    test_case.check_savedmodel_round_trip(SPEC, tmp_path)


def test_jit_compile():
    test_case.check_jit_compile(SPEC)
    layer = GaussianPosterior(total_correlation_weight=6.0, dataset_size=1000, seed=0)
    inputs = tf.constant(SPEC.make_inputs((16, 6), np.random.default_rng(15)))
    compiled = tf.function(lambda x: (layer(x, training=True), tf.add_n(layer.losses)), jit_compile=True)
    sample, loss = compiled(inputs)
    assert sample.shape == (16, 3) and np.isfinite(float(loss))


def test_mirrored_strategy_fit():
    check_mirrored_strategy_between_dense_layers(SPEC)
    beta_tcvae = test_case.LayerSpec(
        GaussianPosterior, {"total_correlation_weight": 6.0, "dataset_size": 32}, {}, SPEC.input_shape
    )
    check_mirrored_strategy_between_dense_layers(beta_tcvae)


def test_mixed_precision_keeps_posterior_float32():
    test_case.check_mixed_precision(SPEC)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = GaussianPosterior(total_correlation_weight=6.0, dataset_size=1000)
        encoded = np.random.default_rng(16).normal(size=(16, 6)).astype("float16")
        outputs = layer(encoded, training=True)
        (loss,) = layer.losses
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    assert np.isfinite(float(loss))


def test_metrics_appear_in_fit_history():
    inputs = keras.Input((4,))
    latents = GaussianPosterior(total_correlation_weight=6.0, dataset_size=32, name="posterior")(
        keras.layers.Dense(4)(inputs)
    )
    model = keras.Model(inputs, keras.layers.Dense(4)(latents))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    history = model.fit(np.random.randn(32, 4), np.random.randn(32, 4), epochs=1, verbose=0)
    for name in [
        "posterior_kl",
        "posterior_total_correlation",
        "posterior_mutual_information",
        "posterior_dimension_wise_kl",
    ]:
        assert name in history.history, sorted(history.history)
    assert history.history["posterior_kl"][0] > 0
