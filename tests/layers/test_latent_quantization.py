"""Tests of keras_latentquant.layers.LatentQuantization, with numbers worked out by hand or in NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.layers import LatentQuantization
from tests import test_case

SPEC = test_case.LayerSpec(
    layer_class=LatentQuantization,
    default_kwargs={},
    non_default_kwargs={
        "num_values": [3, 4, 5, 6],
        "value_range": [-1.0, 2.0],
        "learnable_codebook": False,
        "quantization_weight": 0.5,
        "commitment_weight": 0.25,
        "per_dimension_metrics": True,
    },
    input_shape=(8, 4),
)


def numpy_quantize(latents, codebook_rows):
    """Reference: nearest value of each dimension's own codebook, by brute force."""
    latents = np.asarray(latents, dtype=np.float64)
    codes = np.zeros(latents.shape, dtype=np.int64)
    values = np.zeros(latents.shape)
    for index in np.ndindex(latents.shape):
        row = np.asarray(codebook_rows[index[-1]])
        codes[index] = int(np.argmin(np.abs(latents[index] - row)))
        values[index] = row[codes[index]]
    return codes, values


# ---------------------------------------------------------------- forward values
def test_forward_matches_numpy_for_any_leading_axes():
    rng = np.random.default_rng(0)
    layer = LatentQuantization(num_values=[2, 3, 7], value_range=(-1.0, 1.0))
    latents = rng.uniform(-1.5, 1.5, size=(4, 5, 3)).astype("float32")
    outputs, codes = layer(latents, return_codes=True)
    rows = [np.linspace(-1, 1, n) for n in (2, 3, 7)]
    expected_codes, expected_values = numpy_quantize(latents, rows)
    assert outputs.shape == (4, 5, 3) and codes.shape == (4, 5, 3)
    assert keras.backend.standardize_dtype(codes.dtype) == "int32"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(codes), expected_codes)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs), expected_values, atol=1e-6)


def test_initial_codebook_is_evenly_spaced_on_value_range():
    layer = LatentQuantization(num_values=5, value_range=(-0.5, 0.5))
    layer.build((None, 2))
    codebook = keras.ops.convert_to_numpy(layer.codebook)
    np.testing.assert_allclose(codebook, [[-0.5, -0.25, 0.0, 0.25, 0.5]] * 2, atol=1e-7)
    assert layer.num_codes == 25


def test_hand_worked_example():
    # Values {-0.5, 0, 0.5}: 0.2 -> 0 (code 1), -0.3 -> -0.5 (code 0), 0.26 -> 0.5 (code 2).
    layer = LatentQuantization(num_values=3)
    latents = np.array([[0.2, -0.3, 0.26]], dtype="float32")
    outputs, codes = layer(latents, return_codes=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(codes), [[1, 0, 2]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs), [[0.0, -0.5, 0.5]])


def test_losses_match_hand_computation():
    # Errors z - q: 0.2, 0.2, -0.24 -> mean square = (0.04 + 0.04 + 0.0576) / 3 = 0.045866...
    layer = LatentQuantization(num_values=3, quantization_weight=0.5, commitment_weight=0.25)
    layer(np.array([[0.2, -0.3, 0.26]], dtype="float32"))
    (loss,) = layer.losses
    mean_square = (0.04 + 0.04 + 0.0576) / 3
    np.testing.assert_allclose(float(loss), (0.5 + 0.25) * mean_square, rtol=1e-5)
    np.testing.assert_allclose(float(layer.quantization_loss_tracker.result()), mean_square, rtol=1e-5)
    np.testing.assert_allclose(float(layer.commitment_loss_tracker.result()), mean_square, rtol=1e-5)


def test_usage_metrics_by_hand():
    # Dimension 0 uses codes {0, 0, 1, 2} of 4 values: p = (.5, .25, .25, 0), perplexity 2^1.5.
    # Dimension 1 uses code 3 only: perplexity 1. Fraction used: 3/4 and 1/4.
    layer = LatentQuantization(num_values=4, value_range=(0.0, 3.0))
    latents = np.array([[0.0, 3.0], [0.1, 2.9], [1.0, 3.0], [2.0, 3.1]], dtype="float32")
    layer(latents)
    np.testing.assert_allclose(float(layer.perplexity_tracker.result()), (2**1.5 + 1) / 2, rtol=1e-5)
    np.testing.assert_allclose(float(layer.usage_tracker.result()), (0.75 + 0.25) / 2, rtol=1e-6)


# ---------------------------------------------------------------- gradients
def test_straight_through_gradient_is_identity_on_input():
    layer = LatentQuantization(num_values=5, quantization_weight=0.0, commitment_weight=0.0)
    latents = tf.constant(np.random.default_rng(1).normal(size=(6, 4)).astype("float32"))
    upstream = tf.constant(np.random.default_rng(2).normal(size=(6, 4)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(latents)
        loss = tf.reduce_sum(layer(latents) * upstream)
    gradient = tape.gradient(loss, latents)
    np.testing.assert_allclose(gradient.numpy(), upstream.numpy(), rtol=1e-6)


def test_straight_through_matches_numerical_gradient_of_identity():
    # The true function is piecewise constant (zero derivative); the estimator replaces it by the
    # identity, so the gradient must equal the finite difference of f(z) = sum(w * z), not of f(q(z)).
    layer = LatentQuantization(num_values=4, quantization_weight=0.0, commitment_weight=0.0)
    weights = np.array([[0.3, -1.2, 2.0]], dtype="float32")
    latents = tf.constant([[0.11, -0.27, 0.42]])
    with tf.GradientTape() as tape:
        tape.watch(latents)
        loss = tf.reduce_sum(layer(latents) * weights)
    analytic = tape.gradient(loss, latents).numpy()
    epsilon = 1e-3
    numeric = np.zeros_like(weights)
    for j in range(3):
        step = np.zeros_like(weights)
        step[0, j] = epsilon
        numeric[0, j] = (np.sum((latents.numpy() + step) * weights) - np.sum((latents.numpy() - step) * weights)) / (2 * epsilon)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-3)


def test_codebook_gets_only_the_quantization_loss_gradient():
    # d/dv_jk of beta * mean((sg(z) - q)^2) over N*d elements = -2 beta / (N d) * sum_{n: k_nj = k} (z_nj - v_jk);
    # the task loss through the straight-through output and the commitment loss give the codebook nothing.
    beta, gamma = 0.5, 0.25
    layer = LatentQuantization(num_values=3, quantization_weight=beta, commitment_weight=gamma)
    latents = np.array([[0.2, -0.3], [0.1, 0.4], [-0.45, 0.3]], dtype="float32")
    with tf.GradientTape() as tape:
        outputs = layer(latents)
        loss = tf.reduce_sum(outputs * 7.0) + tf.add_n(layer.losses)
    gradient = tape.gradient(loss, layer.codebook).numpy()
    rows = [np.linspace(-0.5, 0.5, 3)] * 2
    codes, values = numpy_quantize(latents, rows)
    expected = np.zeros((2, 3))
    for n in range(3):
        for j in range(2):
            expected[j, codes[n, j]] += -2 * beta / latents.size * (latents[n, j] - values[n, j])
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-8)


def test_shared_codebook_is_one_row_used_by_every_dimension():
    # The global-codebook ablation: one (1, n) variable; each dimension quantizes to the same values, and the
    # codebook's gradient sums every dimension's pull: -2 beta / (N d) * sum_{n, j: k_nj = k} (z_nj - v_k).
    beta = 0.5
    layer = LatentQuantization(num_values=4, shared_codebook=True, quantization_weight=beta, commitment_weight=0.0)
    latents = np.array([[0.2, -0.3, 0.45], [0.1, 0.4, -0.1], [-0.45, 0.3, 0.05]], dtype="float32")  # none at a midpoint
    with tf.GradientTape() as tape:
        outputs = layer(latents)
        loss = tf.add_n(layer.losses)
    assert tuple(layer.codebook.shape) == (1, 4)
    row = np.linspace(-0.5, 0.5, 4)
    codes, values = numpy_quantize(latents, [row] * 3)
    np.testing.assert_allclose(outputs.numpy(), values, atol=1e-7)
    np.testing.assert_array_equal(layer.encode_codes(latents).numpy(), codes)
    np.testing.assert_allclose(layer.codebook_values(), [row] * 3, atol=1e-7)
    expected = np.zeros((1, 4))
    for index in np.ndindex(latents.shape):
        expected[0, codes[index]] += -2 * beta / latents.size * (latents[index] - values[index])
    np.testing.assert_allclose(tape.gradient(loss, layer.codebook).numpy(), expected, rtol=1e-5, atol=1e-8)
    # Moving the shared value moves it for every dimension.
    layer.codebook.assign(np.array([[-0.5, -0.2, 0.2, 0.5]], "float32"))
    np.testing.assert_allclose(layer.decode_codes(np.array([[1, 1, 2]])).numpy(), [[-0.2, -0.2, 0.2]], atol=1e-7)


def test_shared_codebook_round_trips(tmp_path):
    layer = LatentQuantization(num_values=[5, 5, 5], shared_codebook=True)
    model = keras.Sequential([keras.Input((3,)), layer])
    layer.codebook.assign(np.array([[-0.4, -0.1, 0.0, 0.2, 0.3]], "float32"))
    path = str(tmp_path / "shared.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.layers[-1].shared_codebook and tuple(loaded.layers[-1].codebook.shape) == (1, 5)
    latents = np.random.default_rng(0).uniform(-0.5, 0.5, (16, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(latents, verbose=0), loaded.predict(latents, verbose=0))


def test_input_gradient_includes_commitment_term():
    # d/dz of gamma * mean((z - sg(q))^2) = 2 gamma (z - q) / (N d), added to the straight-through identity.
    gamma = 0.5
    layer = LatentQuantization(num_values=3, quantization_weight=0.0, commitment_weight=gamma)
    latents = tf.constant([[0.2, -0.3]])
    with tf.GradientTape() as tape:
        tape.watch(latents)
        loss = tf.reduce_sum(layer(latents)) + tf.add_n(layer.losses)
    gradient = tape.gradient(loss, latents).numpy()
    expected = 1.0 + 2 * gamma * (np.array([[0.2, -0.3]]) - np.array([[0.0, -0.5]])) / 2
    np.testing.assert_allclose(gradient, expected, rtol=1e-5)


def test_every_trainable_weight_gets_a_gradient_in_a_model():
    inputs = keras.Input((6,))
    latents = keras.layers.Dense(3, name="to_latents")(inputs)
    quantized = LatentQuantization(num_values=4)(latents)
    outputs = keras.layers.Dense(6, name="from_latents")(quantized)
    model = keras.Model(inputs, outputs)
    data = np.random.default_rng(3).normal(size=(32, 6)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(data) - data)) + tf.add_n(model.losses)
    gradients = tape.gradient(loss, model.trainable_weights)
    for weight, gradient in zip(model.trainable_weights, gradients):
        assert gradient is not None and np.any(gradient.numpy() != 0), weight.path


def test_frozen_codebook_is_not_trainable_and_does_not_move():
    layer = LatentQuantization(num_values=4, learnable_codebook=False)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, layer(keras.layers.Dense(2)(inputs)))
    model.compile(keras.optimizers.Adam(0.1), "mse")
    before = keras.ops.convert_to_numpy(layer.codebook).copy()
    assert all(w is not layer.codebook for w in model.trainable_weights)
    model.fit(np.random.randn(16, 2), np.random.randn(16, 2), epochs=2, verbose=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.codebook), before)


def test_training_moves_codebook_towards_encodings():
    # Encodings fixed at 0.3 in one dimension: the nearest value (0.25) should move towards 0.3.
    layer = LatentQuantization(num_values=5, quantization_weight=1.0)
    latents = np.full((64, 1), 0.3, dtype="float32")
    optimizer = keras.optimizers.Adam(0.01)
    errors = []
    for _ in range(20):
        with tf.GradientTape() as tape:
            layer(latents)
            loss = tf.add_n(layer.losses)
        optimizer.apply_gradients(zip(tape.gradient(loss, [layer.codebook]), [layer.codebook]))
        errors.append(abs(float(keras.ops.convert_to_numpy(layer.codebook)[0, 3]) - 0.3))
    assert errors[-1] < 0.5 * errors[0]


# ---------------------------------------------------------------- codes
def test_codes_round_trip():
    layer = LatentQuantization(num_values=[3, 5, 8])
    latents = np.random.default_rng(4).uniform(-0.7, 0.7, size=(10, 3)).astype("float32")
    quantized = keras.ops.convert_to_numpy(layer(latents))
    codes = layer.encode_codes(latents)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.decode_codes(codes)), quantized)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.encode_codes(quantized)), codes)
    grid = np.array([[2, 4, 7], [0, 0, 0]])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.decode_codes(grid)), [[0.5, 0.5, 0.5], [-0.5, -0.5, -0.5]]
    )


def test_decode_codes_rejects_out_of_range_and_float_codes():
    layer = LatentQuantization(num_values=[3, 5])
    layer.build((None, 2))
    with pytest.raises(ValueError, match="out of range"):
        layer.decode_codes(np.array([[3, 0]]))
    with pytest.raises(ValueError, match="integers"):
        layer.decode_codes(np.array([[0.5, 0.0]]))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        layer.decode_codes(np.array([[0, 0, 0]]))


def test_sample_codes_lie_on_the_grid_and_cover_it():
    layer = LatentQuantization(num_values=[2, 3, 9])
    layer.build((None, 3))
    codes = keras.ops.convert_to_numpy(layer.sample_codes(3000, seed=1))
    for j, count in enumerate([2, 3, 9]):
        assert set(np.unique(codes[:, j])) == set(range(count))


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_values": 1}, "num_values must be at least 2"),
        ({"num_values": [4, 1]}, "num_values must be an int >= 2"),
        ({"num_values": []}, "empty"),
        ({"num_values": "ten"}, "num_values"),
        ({"value_range": (0.5, -0.5)}, "low < high"),
        ({"value_range": (0.0, float("inf"))}, "finite"),
        ({"value_range": 3}, "pair"),
        ({"quantization_weight": -1.0}, "quantization_weight"),
        ({"commitment_weight": "x"}, "commitment_weight"),
        ({"num_values": [4, 5], "shared_codebook": True}, "takes one count"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LatentQuantization(**kwargs)


def test_bad_input_shapes_raise_value_error():
    with pytest.raises(ValueError, match="rank-0"):
        LatentQuantization().build(())
    with pytest.raises(ValueError, match="known last axis"):
        LatentQuantization().build((None, None))
    with pytest.raises(ValueError, match="3 entries but the input has 2"):
        LatentQuantization(num_values=[2, 3, 4])(np.zeros((1, 2), "float32"))


# ---------------------------------------------------------------- shared checks
def test_output_shape_and_dtype():
    test_case.check_output_shape_and_dtype(SPEC)


def test_keras_round_trip_with_non_default_arguments(tmp_path):
    test_case.check_keras_round_trip(SPEC, tmp_path)


def test_savedmodel_round_trip(tmp_path):
    test_case.check_savedmodel_round_trip(SPEC, tmp_path)


def test_jit_compile():
    test_case.check_jit_compile(SPEC)


def test_mirrored_strategy_fit():
    test_case.check_mirrored_strategy(SPEC)


def test_mixed_precision_keeps_quantizer_float32():
    test_case.check_mixed_precision(SPEC)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = LatentQuantization(num_values=10)
        latents = np.random.default_rng(6).uniform(-0.6, 0.6, size=(16, 4)).astype("float16")
        outputs, codes = layer(latents, return_codes=True)
        (loss,) = layer.losses
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(layer.codebook.dtype) == "float32"
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    expected_codes, _ = numpy_quantize(latents.astype("float32"), [np.linspace(-0.5, 0.5, 10)] * 4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(codes), expected_codes)


def test_metrics_appear_in_fit_history():
    inputs = keras.Input((4,))
    quantized = LatentQuantization(num_values=6, name="quantizer", per_dimension_metrics=True)(
        keras.layers.Dense(2)(inputs)
    )
    model = keras.Model(inputs, keras.layers.Dense(4)(quantized))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    history = model.fit(np.random.randn(32, 4), np.random.randn(32, 4), epochs=1, verbose=0)
    for name in [
        "quantizer_quantization_loss",
        "quantizer_commitment_loss",
        "quantizer_perplexity",
        "quantizer_usage",
        "quantizer_perplexity_0",
        "quantizer_perplexity_1",
    ]:
        assert name in history.history, sorted(history.history)
    assert 1.0 <= history.history["quantizer_perplexity"][0] <= 6.0


def test_return_codes_in_a_functional_model_gives_both_outputs():
    """`return_codes=True` inside a functional model yields (quantized, codes), not only the first tensor."""
    inputs = keras.Input((3,))
    layer = LatentQuantization(num_values=5)
    quantized, codes = layer(inputs, return_codes=True)
    model = keras.Model(inputs, [quantized, codes])
    values = np.array([[0.12, -0.4, 0.5]], dtype="float32")
    out_quantized, out_codes = model(values)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out_codes), [[2, 0, 4]])
    assert keras.backend.standardize_dtype(out_codes.dtype) == "int32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out_quantized), [[0.0, -0.5, 0.5]])
