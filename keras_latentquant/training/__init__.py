"""Shared training core: optimizer rule, config, callbacks, evaluation and the `train` entry point."""

from keras_latentquant.training.config import TrainConfig
from keras_latentquant.training.optimizers import DecoupledWeightDecayAdam, build_optimizer

__all__ = ["TrainConfig", "DecoupledWeightDecayAdam", "build_optimizer", "train"]


def train(config):
    """Trains a model from a `TrainConfig` (see `keras_latentquant.training.run.train`)."""
    from keras_latentquant.training.run import train as _train

    return _train(config)
