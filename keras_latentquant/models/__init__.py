"""Architectures (encoders, decoders) and objectives (QLAE, AE) of keras-latentquant."""

from keras_latentquant.models.autoencoders import (
    DEFAULT_WEIGHT_DECAY,
    build_ae,
    build_autoencoder,
    build_qlae,
    encode,
    get_bottleneck,
    get_quantizer,
)
from keras_latentquant.models.decoders import build_decoder
from keras_latentquant.models.encoders import build_encoder
from keras_latentquant.models.losses import ImageBinaryCrossentropy

__all__ = [
    "DEFAULT_WEIGHT_DECAY",
    "ImageBinaryCrossentropy",
    "build_ae",
    "build_autoencoder",
    "build_decoder",
    "build_encoder",
    "build_qlae",
    "encode",
    "get_bottleneck",
    "get_quantizer",
]
