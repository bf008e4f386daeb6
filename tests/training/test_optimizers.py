"""The optimizer rule: decay on kernels, none on biases and codebook values, survives reload."""

import os

import keras
import numpy as np
import pytest

from keras_latentquant.layers import LatentQuantization
from keras_latentquant.training.optimizers import DecoupledWeightDecayAdam, build_optimizer, decayed_variables


def _model():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(2, name="dense_in")(inputs)
    quantized = LatentQuantization(num_values=4, name="quantizer")(hidden)
    return keras.Model(inputs, keras.layers.Dense(3, name="dense_out")(quantized))


def test_decay_applies_to_kernels_only():
    model = _model()
    optimizer = build_optimizer(weight_decay=0.1)
    names = sorted(v.path for v in decayed_variables(optimizer, model.trainable_variables))
    assert names == ["dense_in/kernel", "dense_out/kernel"]


def test_zero_gradient_step_decays_kernel_and_leaves_bias_and_codebook():
    # With a zero gradient Adam's step is 0, so only the decay acts: w <- w (1 - lr * wd).
    model = _model()
    optimizer = build_optimizer(learning_rate=0.01, weight_decay=0.5)
    for variable in model.trainable_variables:  # non-zero biases, so decaying them would show
        variable.assign(keras.ops.ones_like(variable) * 0.7)
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}
    optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])
    for variable in model.trainable_variables:
        after = keras.ops.convert_to_numpy(variable)
        factor = 1 - 0.01 * 0.5 if variable.name == "kernel" else 1.0
        np.testing.assert_allclose(after, before[variable.path] * factor, rtol=1e-6, err_msg=variable.path)


def test_gradients_are_clipped_elementwise():
    optimizer = build_optimizer(learning_rate=0.1, weight_decay=0.0, clip_value=1.0)
    variable = keras.Variable(np.zeros(2, "float32"), name="kernel")
    # Adam's first step is lr * sign(g) whatever |g|: clipping must not change that sign.
    optimizer.apply_gradients([(np.array([100.0, -0.5], "float32"), variable)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), [-0.1, 0.1], rtol=1e-4)
    assert optimizer.clipvalue == 1.0


def test_rule_survives_keras_round_trip(tmp_path):
    model = _model()
    model.compile(optimizer=build_optimizer(weight_decay=0.3), loss="mse")
    model.fit(np.random.randn(8, 3), np.random.randn(8, 3), verbose=0)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded.optimizer, DecoupledWeightDecayAdam)
    assert reloaded.optimizer.weight_decay == pytest.approx(0.3)
    names = sorted(v.path for v in decayed_variables(reloaded.optimizer, reloaded.trainable_variables))
    assert names == ["dense_in/kernel", "dense_out/kernel"]


@pytest.mark.parametrize("kwargs", [{"learning_rate": 0}, {"weight_decay": -1}, {"clip_value": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        build_optimizer(**kwargs)
