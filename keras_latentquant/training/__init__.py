"""Training: the run config, callbacks, evaluation and the one `train(config)` entry point for every model."""

from keras_latentquant.training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(config):
    """Trains a model from a `TrainConfig`: `keras_latentquant.training.run.train` under the TensorFlow backend,
    `training.in_memory.train_in_memory` (procedural data, autoencoders, no TensorFlow) under the others."""
    import keras

    if keras.backend.backend() == "tensorflow":
        from keras_latentquant.training.run import train as _train
    else:
        from keras_latentquant.training.in_memory import train_in_memory as _train
    return _train(config)
