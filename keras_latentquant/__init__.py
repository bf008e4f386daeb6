"""keras-latentquant: disentangled representation learning by latent quantization, in Keras 3.

`import keras_latentquant` imports TensorFlow (without its harmless start-up log lines, see `_tf_import`), the
layers and the models. That registers every custom Keras object a saved model refers to (layers, models, losses,
optimizers, schedules), so `keras.saving.load_model` needs nothing else.

Deferred imports, for the command-line scripts (trainers/, tuning/, export/): when the environment variable
`KERAS_LATENTQUANT_DEFER_IMPORTS` is `1` at the package's first import, the package root imports neither
TensorFlow nor Keras. A script can then check its flags with the parts that need neither (the model catalogue,
`training.config`, the dataset registry) and answer a mistake at once instead of after TensorFlow's start-up.
`layers`, `models` and `LatentQuantization` are imported on first use, and `import_all()` does what the eager
import does; a script calls it once its flags are checked, before it builds or loads a model. The scripts set the
variable for their own first import only and remove it right after, so the processes they start import eagerly.
Library code and users' scripts should leave it unset. `python -m keras_latentquant.evaluate`,
`.interpret` and `.explore` are deferred the same way without the variable (`IMPORTS_DEFERRED` says whether this
process's import was).
"""

import importlib as _importlib
import os as _os
import sys as _sys

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.2.0"

__all__ = ["LatentQuantization", "import_all", "layers", "models", "__version__"]

#: The environment variable that defers TensorFlow's import when it is "1" (see the module docstring).
DEFER_IMPORTS_VARIABLE = "KERAS_LATENTQUANT_DEFER_IMPORTS"

# Every module that registers custom Keras objects (`keras.saving.register_keras_serializable`);
# tests/test_fast_flags.py checks that the eager import registers every decorated class of the package.
_REGISTERING_MODULES = (
    "keras_latentquant.layers",
    "keras_latentquant.optimizers",
    "keras_latentquant.models.layers_internal",
    "keras_latentquant.models.losses",
    "keras_latentquant.models.autoencoders",
    "keras_latentquant.models.infogan",
    "keras_latentquant.models.factorqvae",
)
# Registering modules that need TensorFlow itself (the GAN train steps use tf.GradientTape and tf.distribute):
# imported only under the TensorFlow backend, so the package loads where TensorFlow is not installed.
_TENSORFLOW_ONLY_MODULES = ("keras_latentquant.models.infogan",)


def import_all() -> None:
    """Imports TensorFlow (quietly), the layers and the models, registering every custom Keras object.

    What `import keras_latentquant` does, unless deferred (`KERAS_LATENTQUANT_DEFER_IMPORTS=1`); calling it again
    does nothing.
    """
    if _os.environ["KERAS_BACKEND"] == "tensorflow":
        from keras_latentquant._tf_import import import_tensorflow_quietly

        import_tensorflow_quietly()  # without its start-up log lines (see the module)
    for name in _REGISTERING_MODULES:
        if _os.environ["KERAS_BACKEND"] == "tensorflow" or name not in _TENSORFLOW_ONLY_MODULES:
            _importlib.import_module(name)
    from keras_latentquant import layers

    globals()["LatentQuantization"] = layers.LatentQuantization


def __getattr__(name):
    # Reached only in deferred mode (or for an unknown name): `layers`, `models` and `LatentQuantization` are
    # module attributes once `import_all` has run.
    if name in ("layers", "models", "LatentQuantization"):
        import_all()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


# `python -m keras_latentquant.evaluate` (`.interpret`, `.explore`) imports the package before the command's
# module: deferred, so the command checks its flags and the model path before TensorFlow starts (its main calls
# `import_all`).
_DEFERRING_COMMANDS = ("keras_latentquant.evaluate", "keras_latentquant.interpret", "keras_latentquant.explore")


def _run_as_a_deferring_command() -> bool:
    argv = list(getattr(_sys, "orig_argv", ()))
    return any(argv[i] == "-m" and argv[i + 1] in _DEFERRING_COMMANDS for i in range(len(argv) - 1))


#: True when this process imported the package with its imports deferred (see the module docstring).
IMPORTS_DEFERRED = _os.environ.get(DEFER_IMPORTS_VARIABLE) == "1" or _run_as_a_deferring_command()

if not IMPORTS_DEFERRED:
    import_all()
