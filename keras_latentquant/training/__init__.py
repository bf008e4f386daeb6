"""Training: the run config, callbacks, evaluation and the one `train(config)` entry point for every model."""

from keras_latentquant.training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(config):
    """Trains a model from a `TrainConfig` (see `keras_latentquant.training.run.train`)."""
    from keras_latentquant.training.run import train as _train

    return _train(config)
