"""keras-latentquant: disentangled representation learning by latent quantization, in Keras 3."""

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

if _os.environ["KERAS_BACKEND"] == "tensorflow":
    from keras_latentquant._tf_import import import_tensorflow_quietly as _import_tensorflow_quietly

    _import_tensorflow_quietly()  # without its start-up log lines (see the module)

from keras_latentquant import layers  # noqa: E402
from keras_latentquant.layers import LatentQuantization  # noqa: E402

# Importing the models registers every custom object a saved model refers to (architecture layers,
# loss, optimizer), so `import keras_latentquant` is all `keras.saving.load_model` needs.
from keras_latentquant import models  # noqa: E402

__version__ = "0.2.0"

__all__ = ["LatentQuantization", "layers", "models", "__version__"]
