"""Tests of keras_latentquant.layers.finite_scalar_quantization, numbers worked out by hand or in NumPy."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.layers.finite_scalar_quantization import FiniteScalarQuantization
from tests import test_case

SPEC = test_case.LayerSpec(
    layer_class=FiniteScalarQuantization,
    default_kwargs={},
    non_default_kwargs={"levels": [3, 4, 5, 8], "per_dimension_metrics": True},
    input_shape=(8, 4),
)


def numpy_quantize(latents, levels):
    """Reference: bound with h tanh(z), then the nearest of the L grid points -h, -h + 1, ..., h,
    by brute force over the grid (no offset trick), normalised by h."""
    latents = np.asarray(latents, dtype=np.float64)
    codes = np.zeros(latents.shape, dtype=np.int64)
    values = np.zeros(latents.shape)
    for index in np.ndindex(latents.shape):
        count = levels[index[-1]]
        half = (count - 1) / 2
        grid = np.arange(count) - half
        codes[index] = int(np.argmin(np.abs(half * np.tanh(latents[index]) - grid)))
        values[index] = grid[codes[index]] / half
    return codes, values


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


# ---------------------------------------------------------------- forward values
@pytest.mark.parametrize("levels", [[2, 3, 4, 5, 7, 8, 10, 16]])
def test_exactly_levels_evenly_spaced_values_over_a_wide_sweep(levels):
    layer = FiniteScalarQuantization(levels=levels)
    # From deep saturation (tanh exactly +-1 in float32) through 0, for every dimension.
    sweep = np.concatenate([[-1e4], np.linspace(-30, 30, 60001), [1e4]]).astype("float32")
    latents = np.repeat(sweep[:, None], len(levels), axis=1)
    outputs, codes = layer(latents, return_codes=True)
    outputs, codes = to_numpy(outputs), to_numpy(codes)
    for j, count in enumerate(levels):
        values = np.unique(outputs[:, j])
        assert len(values) == count, (count, values)
        np.testing.assert_allclose(values, np.linspace(-1, 1, count), atol=1e-6)
        np.testing.assert_array_equal(np.unique(codes[:, j]), np.arange(count))
        # Monotone: larger inputs never get a lower level.
        assert np.all(np.diff(codes[:, j]) >= 0)


def test_forward_matches_numpy_for_any_leading_axes():
    rng = np.random.default_rng(0)
    levels = [2, 3, 4, 5, 8]
    layer = FiniteScalarQuantization(levels=levels)
    latents = rng.normal(scale=1.5, size=(4, 6, 5)).astype("float32")
    outputs, codes = layer(latents, return_codes=True)
    expected_codes, expected_values = numpy_quantize(latents, levels)
    assert outputs.shape == (4, 6, 5) and codes.shape == (4, 6, 5)
    assert keras.backend.standardize_dtype(codes.dtype) == "int32"
    np.testing.assert_array_equal(to_numpy(codes), expected_codes)
    np.testing.assert_allclose(to_numpy(outputs), expected_values, atol=1e-6)


def test_hand_worked_example():
    # L = 3: h = 1, b = tanh(0.2) = 0.197 -> round 0 -> q = 0, code 1.
    # L = 4: h = 1.5, b = 1.5 tanh(-3) = -1.4926; b - 0.5 = -1.9926 -> -2 -> r = -1.5 -> q = -1, code 0.
    # L = 4: b = 1.5 tanh(0.5) = 0.6932; b - 0.5 = 0.1932 -> 0 -> r = 0.5 -> q = 1/3, code 2.
    # L = 5: h = 2, b = 2 tanh(0.6) = 1.0740 -> 1 -> q = 0.5, code 3.
    layer = FiniteScalarQuantization(levels=[3, 4, 4, 5])
    latents = np.array([[0.2, -3.0, 0.5, 0.6]], dtype="float32")
    outputs, codes = layer(latents, return_codes=True)
    np.testing.assert_array_equal(to_numpy(codes), [[1, 0, 2, 3]])
    np.testing.assert_allclose(to_numpy(outputs), [[0.0, -1.0, 1 / 3, 0.5]], atol=1e-7)


def test_layer_has_no_weights_and_no_losses():
    layer = FiniteScalarQuantization(levels=5)
    layer(np.zeros((2, 3), "float32"))
    assert layer.weights == [] and layer.losses == []
    assert layer.num_codes == 125 and layer.levels_per_dimension == [5, 5, 5]


def test_usage_metrics_by_hand():
    # L = 3 in both dimensions. Dimension 0: codes 0, 0, 1, 2 -> p = (.5, .25, .25), perplexity 2^1.5,
    # all 3 levels used; dimension 1: code 2 only -> perplexity 1, 1/3 of the levels used.
    layer = FiniteScalarQuantization(levels=3, per_dimension_metrics=True, name="fsq")
    latents = np.array([[-3.0, 3.0], [-2.0, 2.0], [0.0, 4.0], [5.0, 3.0]], dtype="float32")
    layer(latents)
    np.testing.assert_allclose(float(layer.perplexity_tracker.result()), (2**1.5 + 1) / 2, rtol=1e-5)
    np.testing.assert_allclose(float(layer.usage_tracker.result()), (1 + 1 / 3) / 2, rtol=1e-6)
    np.testing.assert_allclose(float(layer.dimension_perplexity_trackers[0].result()), 2**1.5, rtol=1e-5)
    np.testing.assert_allclose(float(layer.dimension_perplexity_trackers[1].result()), 1.0, rtol=1e-6)


# ---------------------------------------------------------------- gradients
def test_straight_through_gradient_matches_finite_differences_of_the_unrounded_function():
    # The estimator takes round() as the identity, so the gradient of sum(w * q(z)) must equal the
    # finite difference of the un-rounded normalised bound f(z) = sum(w * (h tanh(z)) / h).
    levels = [2, 3, 4, 7]
    half = (np.array(levels) - 1) / 2
    layer = FiniteScalarQuantization(levels=levels)
    rng = np.random.default_rng(1)
    latents_np = rng.normal(scale=1.2, size=(5, 4))
    weights = rng.normal(size=(5, 4))
    latents = tf.constant(latents_np.astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(latents)
        loss = tf.reduce_sum(layer(latents) * weights.astype("float32"))
    analytic = tape.gradient(loss, latents).numpy()

    def unrounded(z):
        return np.sum(weights * (half * np.tanh(z)) / half)

    epsilon = 1e-5
    numeric = np.zeros_like(latents_np)
    for index in np.ndindex(latents_np.shape):
        step = np.zeros_like(latents_np)
        step[index] = epsilon
        numeric[index] = (unrounded(latents_np + step) - unrounded(latents_np - step)) / (2 * epsilon)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(analytic, weights * (1 - np.tanh(latents_np) ** 2), rtol=1e-5, atol=1e-7)


def test_gradient_reaches_a_preceding_layer_in_a_model():
    inputs = keras.Input((6,))
    quantized = FiniteScalarQuantization(levels=[3, 5, 8])(keras.layers.Dense(3, name="to_latents")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(6, name="from_latents")(quantized))
    data = np.random.default_rng(2).normal(size=(32, 6)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(data) - data))
    gradients = tape.gradient(loss, model.trainable_weights)
    for weight, gradient in zip(model.trainable_weights, gradients):
        assert gradient is not None and np.any(gradient.numpy() != 0), weight.path


# ---------------------------------------------------------------- codes
def test_codes_round_trip():
    layer = FiniteScalarQuantization(levels=[2, 3, 4, 9])
    latents = np.random.default_rng(3).normal(scale=2.0, size=(20, 4)).astype("float32")
    quantized = to_numpy(layer(latents))
    codes = layer.encode_codes(latents)
    np.testing.assert_array_equal(to_numpy(layer.decode_codes(codes)), quantized)
    # decode(k) = (k - h) / h: the grid's ends and interior levels by hand. (encode(decode(k)) is not k:
    # encode bounds its input with a tanh first, the grid lives after the bound.)
    np.testing.assert_allclose(
        to_numpy(layer.decode_codes(np.array([[0, 0, 0, 0], [1, 2, 3, 8]]))),
        [[-1, -1, -1, -1], [1, 1, 1, 1]],
    )
    np.testing.assert_allclose(
        to_numpy(layer.decode_codes(np.array([[1, 1, 1, 4]]))), [[1, 0, -1 / 3, 0]], atol=1e-7
    )
    evaluation, discrete = layer.evaluation_latents(latents)
    assert discrete is True
    np.testing.assert_array_equal(to_numpy(evaluation), to_numpy(codes))
    all_codes = to_numpy(codes)
    assert np.all(all_codes >= 0) and np.all(all_codes < np.array([2, 3, 4, 9]))


def test_decode_codes_rejects_bad_codes_and_needs_a_built_layer():
    with pytest.raises(ValueError, match="built"):
        FiniteScalarQuantization(levels=3).decode_codes(np.array([[0]]))
    layer = FiniteScalarQuantization(levels=[3, 5])
    layer.build((None, 2))
    with pytest.raises(ValueError, match="out of range"):
        layer.decode_codes(np.array([[3, 0]]))
    with pytest.raises(ValueError, match="integers"):
        layer.decode_codes(np.array([[0.5, 0.0]]))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        layer.decode_codes(np.array([[0, 0, 0]]))


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"levels": 1}, "levels must be at least 2"),
        ({"levels": [4, 1]}, "every entry of levels must be an int >= 2"),
        ({"levels": [3, 2.5]}, "levels"),
        ({"levels": []}, "empty"),
        ({"levels": "five"}, "levels"),
        ({"levels": True}, "levels"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FiniteScalarQuantization(**kwargs)


def test_bad_input_shapes_raise_value_error():
    with pytest.raises(ValueError, match="rank-0"):
        FiniteScalarQuantization().build(())
    with pytest.raises(ValueError, match="known last axis"):
        FiniteScalarQuantization().build((None, None))
    with pytest.raises(ValueError, match="3 entries but the input has 2"):
        FiniteScalarQuantization(levels=[2, 3, 4])(np.zeros((1, 2), "float32"))


def test_get_config_has_every_constructor_argument():
    arguments = set(inspect.signature(FiniteScalarQuantization.__init__).parameters) - {"self", "kwargs"}
    config = FiniteScalarQuantization(**SPEC.non_default_kwargs).get_config()
    assert arguments <= set(config), arguments - set(config)


# ---------------------------------------------------------------- shared checks
def test_output_shape_and_dtype():
    test_case.check_output_shape_and_dtype(SPEC)


def test_keras_round_trip_with_non_default_arguments(tmp_path):
    test_case.check_keras_round_trip(SPEC, tmp_path)


def test_savedmodel_round_trip(tmp_path):
    test_case.check_savedmodel_round_trip(SPEC, tmp_path)


def test_jit_compile():
    test_case.check_jit_compile(SPEC)


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
def test_mirrored_strategy_fit():
    # The shared check fits a model made of this layer alone and then asserts that some trainable
    # weight moved; FSQ has no weights (its grid is fixed), so only that last assertion can fail.
    try:
        test_case.check_mirrored_strategy(SPEC)
    except AssertionError as error:
        if "no weight changed" not in str(error):
            raise
    # The same check with trainable layers around the quantizer: gradients pass through it.
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    data = np.random.default_rng(4).normal(size=(32, 6)).astype("float32")
    with strategy.scope():
        inputs = keras.Input((6,))
        quantized = FiniteScalarQuantization(levels=[3, 5, 8])(keras.layers.Dense(3)(inputs))
        model = keras.Model(inputs, keras.layers.Dense(6)(quantized))
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(data, data, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [to_numpy(w) for w in model.trainable_weights]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))


def test_mixed_precision_keeps_quantizer_float32():
    test_case.check_mixed_precision(SPEC)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = FiniteScalarQuantization(levels=[3, 4, 5, 8])
        latents = np.random.default_rng(5).normal(size=(16, 4)).astype("float16")
        outputs, codes = layer(latents, return_codes=True)
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    expected_codes, _ = numpy_quantize(latents.astype("float32"), [3, 4, 5, 8])
    np.testing.assert_array_equal(to_numpy(codes), expected_codes)


def test_metrics_appear_in_fit_history():
    inputs = keras.Input((4,))
    quantized = FiniteScalarQuantization(levels=6, name="quantizer", per_dimension_metrics=True)(
        keras.layers.Dense(2)(inputs)
    )
    model = keras.Model(inputs, keras.layers.Dense(4)(quantized))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    history = model.fit(np.random.randn(32, 4), np.random.randn(32, 4), epochs=1, verbose=0)
    for name in ["perplexity", "usage", "perplexity_0", "perplexity_1"]:
        name = f"quantizer_{name}"
        assert name in history.history, sorted(history.history)
    assert 1.0 <= history.history["quantizer_perplexity"][0] <= 6.0
