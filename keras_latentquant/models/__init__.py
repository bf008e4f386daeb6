"""Architectures (encoders, decoders) and objectives (QLAE, AE, baselines, QLInfoGAN, InfoWGAN-GP)."""

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
from keras_latentquant.models.infogan import (
    InfoGAN,
    build_infogan,
    build_infowgan_gp,
    build_qlinfogan,
)
from keras_latentquant.models.losses import ImageBinaryCrossentropy

__all__ = [
    "DEFAULT_WEIGHT_DECAY",
    "ImageBinaryCrossentropy",
    "InfoGAN",
    "build_ae",
    "build_autoencoder",
    "build_decoder",
    "build_encoder",
    "build_infogan",
    "build_infowgan_gp",
    "build_qlae",
    "build_qlinfogan",
    "encode",
    "get_bottleneck",
    "get_quantizer",
]
