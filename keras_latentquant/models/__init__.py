"""Architectures (encoders, decoders), objectives (autoencoders, QLInfoGAN, InfoWGAN-GP) and the catalogue
of every trainable model (`catalogue.MODELS`, `catalogue.build_model`).

The names below are imported from their submodule on first use (PEP 562), so importing a submodule that needs no
Keras (`models.catalogue`, `models.choices`, `models.reference_defaults`) does not start TensorFlow.
"""

import importlib

# Each public name and the submodule that declares it.
_SUBMODULES = {
    "build_autoencoder": "autoencoders",
    "compile_autoencoder": "autoencoders",
    "encode": "autoencoders",
    "get_bottleneck": "autoencoders",
    "get_quantizer": "autoencoders",
    "MODELS": "catalogue",
    "build_ae": "catalogue",
    "build_infowgan_gp": "catalogue",
    "build_model": "catalogue",
    "build_qlae": "catalogue",
    "build_qlinfogan": "catalogue",
    "get_model": "catalogue",
    "build_decoder": "decoders",
    "build_encoder": "encoders",
    "InfoGAN": "infogan",
    "build_infogan": "infogan",
    "compile_infogan": "infogan",
    "ImageBinaryCrossentropy": "losses",
}

__all__ = [
    "ImageBinaryCrossentropy",
    "InfoGAN",
    "MODELS",
    "build_ae",
    "build_autoencoder",
    "build_decoder",
    "build_encoder",
    "build_infogan",
    "build_infowgan_gp",
    "build_model",
    "build_qlae",
    "build_qlinfogan",
    "compile_autoencoder",
    "compile_infogan",
    "encode",
    "get_bottleneck",
    "get_model",
    "get_quantizer",
]


def __getattr__(name):
    if name in _SUBMODULES.values():  # `keras_latentquant.models.autoencoders` before anything imported it
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_SUBMODULES[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
