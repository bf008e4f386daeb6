"""Architectures (encoders, decoders), objectives (autoencoders, QLInfoGAN, InfoWGAN-GP) and the catalogue
of every trainable model (`catalogue.MODELS`, `catalogue.build_model`)."""

from keras_latentquant.models.autoencoders import (
    build_autoencoder,
    compile_autoencoder,
    encode,
    get_bottleneck,
    get_quantizer,
)
from keras_latentquant.models.catalogue import (
    MODELS,
    build_ae,
    build_infowgan_gp,
    build_model,
    build_qlae,
    build_qlinfogan,
    get_model,
)
from keras_latentquant.models.decoders import build_decoder
from keras_latentquant.models.encoders import build_encoder
from keras_latentquant.models.infogan import InfoGAN, build_infogan, compile_infogan
from keras_latentquant.models.losses import ImageBinaryCrossentropy

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
