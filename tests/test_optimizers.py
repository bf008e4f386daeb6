"""The optimizer rule: optax's adamw (clipped, decayed) on kernels and plain adam on biases and codebook
values, as the reference chains them, checked step by step against a NumPy transcription of that update;
survives reload and a MirroredStrategy."""

import os

import keras
import numpy as np
import pytest
from keras_latentquant.layers import LatentQuantization
from keras_latentquant.optimizers import DecoupledWeightDecayAdam, build_optimizer, decayed_variables
from tests.conftest import shared_mirrored_strategy


def _model():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(2, name="dense_in")(inputs)
    quantized = LatentQuantization(num_values=4, name="quantizer")(hidden)
    return keras.Model(inputs, keras.layers.Dense(3, name="dense_out")(quantized))


def _numpy_reference_step(params, grads, state, step, lr, wd, clip, b1=0.9, b2=0.999, eps=1e-8, decayed=True):
    """One update of `optax.chain(optax.clip(clip), optax.adamw(lr, b1, b2, eps, weight_decay=wd))` for the
    decayed group, or of `optax.adam(lr, b1, b2, eps)` for the rest, written out from optax's formulas."""
    m, v = state
    g = np.clip(grads, -clip, clip) if decayed and clip is not None else grads
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat = m / (1 - b1**step)
    v_hat = v / (1 - b2**step)
    update = m_hat / (np.sqrt(v_hat) + eps)
    if decayed:
        update = update + wd * params
    return params - lr * update, (m, v)


def test_decay_applies_to_kernels_only():
    model = _model()
    optimizer = build_optimizer(learning_rate=1e-3, weight_decay=0.1)
    names = sorted(v.path for v in decayed_variables(optimizer, model.trainable_variables))
    assert names == ["dense_in/kernel", "dense_out/kernel"]


@pytest.mark.parametrize("weight_decay, clip_value, betas", [(0.1, 1.0, (0.9, 0.999)), (1e-3, 1.0, (0.0, 0.9)),
                                                             (0.0, None, (0.9, 0.999))],
                         ids=["qlae", "gan", "no-decay-no-clip"])
def test_steps_equal_the_optax_update_in_numpy(weight_decay, clip_value, betas):
    # Five steps with gradients spanning 1e-9 (where the epsilon's place matters) to 30 (clipped), on a
    # decayed kernel and an undecayed bias and codebook.
    rng = np.random.default_rng(0)
    lr = 1e-3
    variables = {
        "kernel": keras.Variable(rng.normal(size=(4, 3)).astype("float32"), name="kernel"),
        "bias": keras.Variable(rng.normal(size=(3,)).astype("float32"), name="bias"),
        "codebook": keras.Variable(rng.normal(size=(2, 5)).astype("float32"), name="codebook"),
    }
    optimizer = build_optimizer(
        learning_rate=lr, weight_decay=weight_decay, clip_value=clip_value, beta_1=betas[0], beta_2=betas[1]
    )
    expected = {name: keras.ops.convert_to_numpy(v).astype("float64") for name, v in variables.items()}
    states = {name: (np.zeros_like(value), np.zeros_like(value)) for name, value in expected.items()}
    for step in range(1, 6):
        grads = {
            name: (rng.normal(size=value.shape) * 10.0 ** rng.integers(-9, 2, size=value.shape)).astype("float32")
            for name, value in expected.items()
        }
        grads["kernel"][0, 0] = 30.0
        grads["bias"][0] = 30.0  # not clipped: biases are outside the clipped group
        optimizer.apply_gradients([(grads[name], variables[name]) for name in variables])
        for name in variables:
            expected[name], states[name] = _numpy_reference_step(
                expected[name], grads[name].astype("float64"), states[name], step, lr, weight_decay, clip_value,
                b1=betas[0], b2=betas[1], decayed=(name == "kernel"),
            )
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(variables[name]), expected[name], rtol=1e-6, atol=1e-7,
                err_msg=f"{name} at step {step}",
            )


def test_epsilon_is_added_after_bias_correction():
    # A gradient of 1e-8 at step 1: optax moves by lr * g / (|g| + 1e-8) = lr / 2; Keras's Adam (eps 1e-7
    # before bias correction, an effective 3.2e-6) would move by about lr / 317.
    optimizer = build_optimizer(learning_rate=0.1, weight_decay=0.0)
    variable = keras.Variable(np.zeros(1, "float32"), name="kernel")
    optimizer.apply_gradients([(np.array([1e-8], "float32"), variable)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), [-0.05], rtol=1e-4)


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


def test_only_the_decayed_group_is_clipped():
    # Step 2 tells a clipped gradient from an unclipped one (step 1 is lr * sign(g) either way): after
    # g1 = 100 then g2 = 1, the clipped kernel saw (1, 1) and moves lr again; the bias saw (100, 1).
    optimizer = build_optimizer(learning_rate=0.1, weight_decay=0.0, clip_value=1.0)
    kernel = keras.Variable(np.zeros(1, "float32"), name="kernel")
    bias = keras.Variable(np.zeros(1, "float32"), name="bias")
    for gradient in (100.0, 1.0):
        optimizer.apply_gradients([(np.array([gradient], "float32"), kernel), (np.array([gradient], "float32"), bias)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), [-0.2], rtol=1e-5)
    state = (np.zeros(1), np.zeros(1))
    expected = np.zeros(1)
    for step, gradient in enumerate((100.0, 1.0), start=1):
        expected, state = _numpy_reference_step(expected, np.array([gradient]), state, step, 0.1, 0.0, 1.0, decayed=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bias), expected, rtol=1e-5)
    assert abs(expected[0] + 0.2) > 0.02  # the two rules really differ here (-0.168 vs -0.2)


def test_keras_clip_arguments_are_refused():
    with pytest.raises(ValueError, match="clip_value"):
        DecoupledWeightDecayAdam(clipvalue=1.0)


def test_rule_survives_keras_round_trip(tmp_path):
    model = _model()
    model.compile(optimizer=build_optimizer(learning_rate=1e-3, weight_decay=0.3, clip_value=0.5, beta_1=0.0, beta_2=0.9), loss="mse")
    model.fit(np.random.randn(8, 3), np.random.randn(8, 3), verbose=0)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    optimizer = reloaded.optimizer
    assert isinstance(optimizer, DecoupledWeightDecayAdam)
    assert (optimizer.weight_decay, optimizer.clip_value, optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (
        pytest.approx(0.3), 0.5, 0.0, 0.9, 1e-8
    )
    names = sorted(v.path for v in decayed_variables(reloaded.optimizer, reloaded.trainable_variables))
    assert names == ["dense_in/kernel", "dense_out/kernel"]
    # The optimizer's state came back too: one more step from the reloaded model equals one from the original.
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 3), "float32")
    model.train_on_batch(x, y)
    reloaded.train_on_batch(x, y)
    for original, restored in zip(model.trainable_variables, reloaded.trainable_variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(original),
                                   rtol=1e-6, atol=1e-7)


def test_mirrored_replicas_decay_and_clip_the_same_variables():
    # Under MirroredStrategy each replica's copy is named ".../replica_1"; the rule must see through it, or
    # replica 1 alone would decay and clip biases and codebooks and the copies would drift apart.
    strategy = shared_mirrored_strategy()
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = _model()
        model.compile(optimizer=build_optimizer(learning_rate=0.05, weight_decay=0.5), loss="mse")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 3)).astype("float32"), 100 * rng.normal(size=(8, 3)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    for variable in model.trainable_variables:
        values = [keras.ops.convert_to_numpy(v) for v in variable.value.values]
        np.testing.assert_array_equal(values[0], values[1], err_msg=variable.path)


@pytest.mark.parametrize(
    "kwargs", [{"learning_rate": 0}, {"weight_decay": -1}, {"clip_value": 0}, {"beta_1": 1.0}, {"epsilon": 0}]
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        build_optimizer(**{"learning_rate": 1e-3, "weight_decay": 0.1, **kwargs})
