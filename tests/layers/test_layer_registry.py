"""Every public layer must have a spec in the shared checks: adding a layer without tests fails here."""

import inspect

import keras

import keras_latentquant.layers as layers_module
from tests.layers import (
    test_ard_gaussian_posterior,
    test_factor_quantization,
    test_finite_scalar_quantization,
    test_gaussian_posterior,
    test_latent_quantization,
    test_nonnegative_latents,
    test_sfvq,
    test_vector_quantization,
)

SPECS = {
    spec.layer_class: spec
    for spec in [
        test_latent_quantization.SPEC,
        test_gaussian_posterior.SPEC,
        test_ard_gaussian_posterior.SPEC,
        test_nonnegative_latents.SPEC,
        test_vector_quantization.SPEC,
        test_finite_scalar_quantization.SPEC,
        test_sfvq.SPEC,
        test_factor_quantization.SPEC,
    ]
}


def test_every_public_layer_has_a_test_spec():
    public_layers = [
        obj
        for name in layers_module.__all__
        if inspect.isclass(obj := getattr(layers_module, name)) and issubclass(obj, keras.layers.Layer)
    ]
    assert public_layers, "no public layers found"
    missing = [layer.__name__ for layer in public_layers if layer not in SPECS]
    assert not missing, f"public layers without a test spec: {missing}"


def test_every_public_layer_is_registered_serializable():
    for layer_class in SPECS:
        name = keras.saving.get_registered_name(layer_class)
        assert name == f"keras_latentquant>{layer_class.__name__}"
        assert keras.saving.get_registered_object(name) is layer_class
