"""Shared checks for every public layer of keras_latentquant (Keras 3 has no public layer-test helper).

Each check builds the layer from a spec, runs it, and compares against a reference run, so a layer added
to `keras_latentquant.layers` gets the same serialization, compilation, distribution and precision
checks as every other one (see tests/layers/test_layer_registry.py, which fails for a layer without a spec).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class LayerSpec:
    """How to build and feed one layer in the shared checks.

    Attributes:
        layer_class: the layer's class.
        default_kwargs: constructor arguments for the plain checks.
        non_default_kwargs: constructor arguments that differ from every default, for the `.keras`
            round trip (a `get_config` that forgets one of them then changes the reloaded outputs).
        input_shape: shape of a test batch, batch axis included.
        make_inputs: function of (shape, rng) returning a float32 NumPy batch.
    """

    layer_class: type
    default_kwargs: dict[str, Any]
    non_default_kwargs: dict[str, Any]
    input_shape: tuple[int, ...]
    make_inputs: Callable[[tuple[int, ...], np.random.Generator], np.ndarray] = (
        lambda shape, rng: rng.normal(scale=0.5, size=shape).astype("float32")
    )


def _model_around(layer: keras.layers.Layer, input_shape) -> keras.Model:
    inputs = keras.Input(input_shape[1:], batch_size=None)
    return keras.Model(inputs, layer(inputs))


def check_output_shape_and_dtype(spec: LayerSpec) -> None:
    rng = np.random.default_rng(0)
    layer = spec.layer_class(**spec.default_kwargs)
    inputs = spec.make_inputs(spec.input_shape, rng)
    outputs = layer(inputs)
    assert tuple(outputs.shape) == tuple(layer.compute_output_shape(spec.input_shape))
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"


def check_keras_round_trip(spec: LayerSpec, tmp_path) -> None:
    """Save a model holding the layer (non-default arguments) to `.keras`, reload, compare."""
    rng = np.random.default_rng(1)
    layer = spec.layer_class(**spec.non_default_kwargs)
    model = _model_around(layer, spec.input_shape)
    inputs = spec.make_inputs(spec.input_shape, rng)
    expected = keras.ops.convert_to_numpy(model(inputs))
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    reloaded_layer = reloaded.layers[-1]
    assert type(reloaded_layer) is spec.layer_class
    for key, value in spec.non_default_kwargs.items():
        assert _normalise(reloaded_layer.get_config()[key]) == _normalise(value), key
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(inputs)), expected, rtol=0, atol=0)
    for original, restored in zip(model.weights, reloaded.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(original), keras.ops.convert_to_numpy(restored)
        )


def check_savedmodel_round_trip(spec: LayerSpec, tmp_path) -> None:
    """Export a model holding the layer as a SavedModel, reload it with TensorFlow, compare."""
    rng = np.random.default_rng(2)
    layer = spec.layer_class(**spec.non_default_kwargs)
    model = _model_around(layer, spec.input_shape)
    inputs = spec.make_inputs(spec.input_shape, rng)
    expected = keras.ops.convert_to_numpy(model(inputs))
    path = os.path.join(tmp_path, "savedmodel")
    model.export(path, verbose=False)
    reloaded = tf.saved_model.load(path)
    np.testing.assert_allclose(reloaded.serve(tf.constant(inputs)).numpy(), expected, rtol=0, atol=0)
    signature = reloaded.signatures["serving_default"]
    (served,) = signature(tf.constant(inputs)).values()
    np.testing.assert_allclose(served.numpy(), expected, rtol=0, atol=0)
    exported = {v.name: v.numpy() for v in reloaded.variables}
    for variable in model.weights:
        matches = [value for name, value in exported.items() if name.split(":")[0].endswith(variable.name)]
        assert any(np.array_equal(value, keras.ops.convert_to_numpy(variable)) for value in matches)


def check_jit_compile(spec: LayerSpec) -> None:
    rng = np.random.default_rng(3)
    layer = spec.layer_class(**spec.default_kwargs)
    inputs = tf.constant(spec.make_inputs(spec.input_shape, rng))
    eager = keras.ops.convert_to_numpy(layer(inputs))
    compiled = tf.function(lambda x: layer(x), jit_compile=True)
    np.testing.assert_allclose(compiled(inputs).numpy(), eager, rtol=1e-6, atol=1e-6)


def check_mirrored_strategy(spec: LayerSpec) -> None:
    """Fit a tiny model `Dense -> layer` under MirroredStrategy over 2 logical CPUs.

    The Dense layer in front gives layers without weights of their own (a Gaussian posterior, a fixed
    grid) gradients to carry, so the check exercises the layer's forward and backward pass in replica
    context either way."""
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "tests/conftest.py should have made 2 logical CPUs"
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    rng = np.random.default_rng(4)
    inputs = spec.make_inputs((32,) + tuple(spec.input_shape[1:]), rng)
    with strategy.scope():
        layer = spec.layer_class(**spec.default_kwargs)
        model_inputs = keras.Input(spec.input_shape[1:])
        front = keras.layers.Dense(spec.input_shape[-1], name="front")
        model = keras.Model(model_inputs, layer(front(model_inputs)))
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    targets = np.zeros_like(keras.ops.convert_to_numpy(model(inputs)))
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(inputs, targets, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after)), "no weight changed"


def check_mixed_precision(spec: LayerSpec) -> None:
    """Under mixed_float16 the layer's weights stay float32 and its outputs match float32 closely."""
    rng = np.random.default_rng(5)
    inputs = spec.make_inputs(spec.input_shape, rng)
    reference = spec.layer_class(**spec.default_kwargs)
    expected = keras.ops.convert_to_numpy(reference(inputs))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = spec.layer_class(**spec.default_kwargs)
        outputs = layer(inputs.astype("float16"))
    finally:
        keras.config.set_dtype_policy(previous)
    for weight in layer.weights:
        assert keras.backend.standardize_dtype(weight.dtype) == "float32", weight.path
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs).astype("float32"), expected, rtol=2e-3, atol=2e-3
    )


def _normalise(value):
    if isinstance(value, (tuple, list)):
        return [_normalise(v) for v in value]
    return value
