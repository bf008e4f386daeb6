"""Tests of keras_latentquant.layers.NonNegativeLatents (BioAE bottleneck), with numbers worked out by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.layers.nonnegative_latents import NonNegativeLatents
from tests import test_case
from tests.layers.test_gaussian_posterior import check_mirrored_strategy_between_dense_layers

SPEC = test_case.LayerSpec(
    layer_class=NonNegativeLatents,
    default_kwargs={},
    non_default_kwargs={"activity_weight": 0.3, "loss_scale": 0.125},
    input_shape=(8, 5),
)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


HAND_INPUTS = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -3.0]], dtype="float32")


def test_forward_is_relu_for_any_leading_axes():
    latents = np.random.default_rng(0).normal(size=(3, 4, 6)).astype("float32")
    outputs = to_numpy(NonNegativeLatents()(latents))
    assert outputs.shape == (3, 4, 6)
    assert np.all(outputs >= 0)
    np.testing.assert_array_equal(outputs, np.maximum(latents, 0))


def test_hand_worked_example():
    outputs = to_numpy(NonNegativeLatents()(HAND_INPUTS))
    np.testing.assert_array_equal(outputs, [[0.5, 0.0, 2.0], [1.0, 0.0, 0.0]])


def test_activity_penalty_and_metrics_by_hand():
    # Energies per example: 0.25 + 4 = 4.25 and 1, mean 2.625; loss 0.125 * 0.3 * 2.625 = 0.0984375.
    # Mean activity (0.5 + 2 + 1) / 6 = 0.5833333; 3 of 6 entries are positive.
    layer = NonNegativeLatents(activity_weight=0.3, loss_scale=0.125)
    layer(HAND_INPUTS)
    (loss,) = layer.losses
    np.testing.assert_allclose(float(loss), 0.0984375, rtol=1e-6)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    np.testing.assert_allclose(float(layer.activity_energy_tracker.result()), 2.625, rtol=1e-6)
    np.testing.assert_allclose(float(layer.mean_activity_tracker.result()), 3.5 / 6, rtol=1e-6)
    np.testing.assert_allclose(float(layer.active_fraction_tracker.result()), 0.5, rtol=1e-6)


def test_zero_activity_weight_adds_a_zero_loss():
    layer = NonNegativeLatents(activity_weight=0.0)
    layer(HAND_INPUTS)
    assert float(layer.losses[0]) == 0.0


def test_gradient_is_zero_for_negative_inputs():
    # d/dh [sum(w z) + c mean_batch sum_k z_k^2] = w + 2 c h / B where h > 0, and 0 where h < 0.
    weights = np.array([[0.3, -1.2, 2.0], [0.7, 0.4, -0.5]], dtype="float32")
    layer = NonNegativeLatents(activity_weight=0.5, loss_scale=0.5)
    inputs = tf.constant(HAND_INPUTS)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(layer(inputs) * weights) + tf.add_n(layer.losses)
    gradient = tape.gradient(loss, inputs).numpy()
    positive = HAND_INPUTS > 0
    expected = np.where(positive, weights + 2 * 0.25 * HAND_INPUTS / 2, 0.0)
    np.testing.assert_allclose(gradient, expected, rtol=1e-6)
    assert np.all(gradient[HAND_INPUTS < 0] == 0)


def test_evaluation_latents_are_the_rectified_inputs():
    latents, discrete = NonNegativeLatents().evaluation_latents(HAND_INPUTS)
    assert discrete is False
    np.testing.assert_array_equal(to_numpy(latents), np.maximum(HAND_INPUTS, 0))


def test_every_trainable_weight_gets_a_gradient_in_a_model():
    inputs = keras.Input((6,))
    latents = NonNegativeLatents(activity_weight=0.1)(keras.layers.Dense(4, name="to_latents")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(6, name="from_latents")(latents))
    data = np.random.default_rng(1).normal(size=(32, 6)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(data) - data)) + tf.add_n(model.losses)
    for weight, gradient in zip(model.trainable_weights, tape.gradient(loss, model.trainable_weights)):
        assert gradient is not None and np.any(gradient.numpy() != 0), weight.path


def test_activity_penalty_lowers_activity_in_training():
    # Same data and initialisation; a strong activity penalty leaves less latent energy.
    data = np.random.default_rng(2).normal(size=(256, 6)).astype("float32")
    energies = []
    for activity_weight in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((6,))
        layer = NonNegativeLatents(activity_weight=activity_weight)
        model = keras.Model(inputs, keras.layers.Dense(6)(layer(keras.layers.Dense(8)(inputs))))
        model.compile(keras.optimizers.Adam(1e-2), "mse")
        model.fit(data, data, batch_size=32, epochs=10, verbose=0)
        layer.activity_energy_tracker.reset_state()
        model(data)
        energies.append(float(layer.activity_energy_tracker.result()))
    assert energies[1] < 0.5 * energies[0], energies


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"activity_weight": -0.1}, "activity_weight"),
        ({"activity_weight": "high"}, "activity_weight"),
        ({"activity_weight": float("inf")}, "activity_weight"),
        ({"loss_scale": 0.0}, "loss_scale"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NonNegativeLatents(**kwargs)


def test_bad_input_shapes_raise_value_error():
    with pytest.raises(ValueError, match="rank 1"):
        NonNegativeLatents()(np.zeros((3,), "float32"))
    with pytest.raises(ValueError, match="known last axis"):
        NonNegativeLatents().build((None, None))
    with pytest.raises(ValueError, match="rank 0"):
        NonNegativeLatents().compute_output_shape(())


# ---------------------------------------------------------------- shared checks
def test_output_shape_and_dtype():
    test_case.check_output_shape_and_dtype(SPEC)


def test_keras_round_trip_with_non_default_arguments(tmp_path):
    test_case.check_keras_round_trip(SPEC, tmp_path)


def test_keras_round_trip_keeps_the_penalty(tmp_path):
    # The output (relu) does not depend on the arguments, so compare the loss after reloading too.
    model = test_case._model_around(NonNegativeLatents(**SPEC.non_default_kwargs), SPEC.input_shape)
    inputs = SPEC.make_inputs(SPEC.input_shape, np.random.default_rng(3))
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


def test_mirrored_strategy_fit():
    check_mirrored_strategy_between_dense_layers(SPEC)


def test_mixed_precision_keeps_penalty_float32():
    test_case.check_mixed_precision(SPEC)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = NonNegativeLatents(activity_weight=0.3, loss_scale=0.125)
        outputs = layer(HAND_INPUTS.astype("float16"))
        (loss,) = layer.losses
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    np.testing.assert_allclose(float(loss), 0.0984375, rtol=1e-6)


def test_metrics_appear_in_fit_history():
    inputs = keras.Input((4,))
    latents = NonNegativeLatents(name="bio")(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4)(latents))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    history = model.fit(np.random.randn(32, 4), np.random.randn(32, 4), epochs=1, verbose=0)
    for name in ["bio_activity_energy", "bio_mean_activity", "bio_active_fraction"]:
        assert name in history.history, sorted(history.history)
    assert 0.0 <= history.history["bio_active_fraction"][0] <= 1.0
