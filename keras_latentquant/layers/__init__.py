"""Keras layers of keras-latentquant: the latent quantizer and the bottlenecks of the baselines."""

from keras_latentquant.layers.ard_gaussian_posterior import ARDGaussianPosterior
from keras_latentquant.layers.factor_quantization import FactorQuantization
from keras_latentquant.layers.finite_scalar_quantization import FiniteScalarQuantization
from keras_latentquant.layers.gaussian_posterior import GaussianPosterior
from keras_latentquant.layers.latent_quantization import LatentQuantization
from keras_latentquant.layers.nonnegative_latents import NonNegativeLatents
from keras_latentquant.layers.sfvq import SFVQGrowth, SpaceFillingVectorQuantization
from keras_latentquant.layers.vector_quantization import VectorQuantization

__all__ = [
    "ARDGaussianPosterior",
    "FactorQuantization",
    "FiniteScalarQuantization",
    "GaussianPosterior",
    "LatentQuantization",
    "NonNegativeLatents",
    "SFVQGrowth",
    "SpaceFillingVectorQuantization",
    "VectorQuantization",
]
