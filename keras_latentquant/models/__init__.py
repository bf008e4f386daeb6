"""Architectures (encoders, decoders), objectives (autoencoders, QLInfoGAN, InfoWGAN-GP) and the catalogue
of every trainable model (`catalogue.MODELS`, `catalogue.build_model`).

The names below are imported from their submodule on first use (PEP 562), so importing a submodule that needs no
Keras (`models.catalogue`, `models.choices`, `models.reference_defaults`) does not start TensorFlow.
"""

from keras_latentquant._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _SUBMODULES)
