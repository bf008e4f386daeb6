"""Keras layers of keras-latentquant."""

from keras_latentquant.layers.latent_quantization import LatentQuantization

__all__ = ["LatentQuantization"]
