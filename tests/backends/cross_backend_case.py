"""Runs every bottleneck layer in a small model under the Keras backend that KERAS_BACKEND names, and saves the
numbers `test_cross_backend.py` compares between backends.

Usage: KERAS_BACKEND=jax python tests/backends/cross_backend_case.py OUT.npz

Each case is Input(d) -> Dense -> layer -> Dense, with every trainable float weight set from NumPy (the same
values on every backend). Saved per case: the inference outputs, the inference loss (mse plus the layer's
add_loss terms, `test_on_batch`), the layer's monitored values after one eager inference call, and, for the
layers whose training pass is deterministic, the training loss and every weight after one SGD step
(`train_on_batch`); for the stochastic ones (Gaussian sampling, NSVQ noise, Gumbel-softmax) the training step
runs (it must not fail) but its numbers depend on each backend's random generator and are not saved.
"""

import runpy
import sys
import traceback

import keras
import numpy as np

from keras_latentquant.layers import (
    ARDGaussianPosterior,
    FactorQuantization,
    FiniteScalarQuantization,
    GaussianPosterior,
    LatentQuantization,
    NonNegativeLatents,
    SpaceFillingVectorQuantization,
    VectorQuantization,
)

# name -> (layer factory, latent width in, latent width out, deterministic training pass)
CASES = {
    "latent_quantization": (lambda: LatentQuantization(num_values=5, name="bottleneck"), 4, 4, True),
    "latent_quantization_shared": (
        lambda: LatentQuantization(num_values=5, shared_codebook=True, name="bottleneck"), 4, 4, True),
    "finite_scalar_quantization": (lambda: FiniteScalarQuantization(levels=[3, 4, 5, 8], name="bottleneck"), 4, 4, True),
    "vector_quantization": (lambda: VectorQuantization(num_codes=8, name="bottleneck"), 4, 4, True),
    "nonnegative_latents": (lambda: NonNegativeLatents(name="bottleneck"), 4, 4, True),
    "sfvq_straight_through": (
        lambda: SpaceFillingVectorQuantization(num_points=8, training_mode="straight_through", name="bottleneck"),
        4, 4, True),
    "sfvq_nsvq": (lambda: SpaceFillingVectorQuantization(num_points=8, name="bottleneck"), 4, 4, False),
    "gaussian_posterior": (lambda: GaussianPosterior(name="bottleneck"), 8, 4, False),
    "beta_tcvae_posterior": (
        lambda: GaussianPosterior(total_correlation_weight=2.0, dataset_size=1000, name="bottleneck"), 8, 4, False),
    "ard_gaussian_posterior": (lambda: ARDGaussianPosterior(name="bottleneck"), 8, 4, False),
    "factor_quantization": (lambda: FactorQuantization(name="bottleneck"), 4, 4, False),
}

BATCH, FEATURES = 16, 6


def _model(name):
    factory, width_in, width_out, _ = CASES[name]
    inputs = keras.Input((FEATURES,))
    latents = keras.layers.Dense(width_in, name="encoder")(inputs)
    outputs = keras.layers.Dense(FEATURES, name="decoder")(factory()(latents))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(sum(map(ord, name)))
    for weight in model.trainable_weights:
        weight.assign(rng.uniform(-1.0, 1.0, tuple(weight.shape)).astype("float32"))
    return model


def run(name):
    model = _model(name)
    x = np.random.default_rng(1).standard_normal((BATCH, FEATURES)).astype("float32")
    results = {"outputs": keras.ops.convert_to_numpy(model(x, training=False))}
    layer = model.get_layer("bottleneck")
    for metric in layer.metrics:
        results[f"metric_{metric.name.removeprefix('bottleneck_')}"] = np.asarray(
            keras.ops.convert_to_numpy(metric.result()), dtype=np.float32)
    # Eager steps on TensorFlow and PyTorch (tracing a one-step model costs more than the step); JAX compiles, as
    # its fit does (its eager ops are compiled one by one, no faster).
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", run_eagerly=keras.backend.backend() != "jax")
    results["inference_loss"] = np.float32(model.test_on_batch(x, x, return_dict=True)["loss"])
    training_loss = np.float32(model.train_on_batch(x, x, return_dict=True)["loss"])
    if CASES[name][3]:
        results["training_loss"] = training_loss
        for index, weight in enumerate(model.weights):
            if "float" in str(weight.dtype):
                results[f"weight_{index}_{weight.path}"] = keras.ops.convert_to_numpy(weight)
    else:
        assert np.isfinite(training_loss), (name, training_loss)
    return results


def main(path, example=None):
    """Saves every case's numbers to `path` (.npz); then runs the script `example` (the README's drop-in
    example), if given, in this process: one start of the backend for both checks."""
    saved = {}
    for name in CASES:
        for key, value in run(name).items():
            saved[f"{name}/{key}"] = value
    # Whether the layers ran without importing TensorFlow (they need it only for tf.distribute on its backend).
    saved["tensorflow_imported"] = np.bool_("tensorflow" in sys.modules)
    np.savez(path, backend=keras.backend.backend(), **saved)
    if example:
        try:
            runpy.run_path(example, run_name="__main__")
        except Exception:  # reported to the example's own test, leaving the numbers' test its verdict
            traceback.print_exc(file=sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:3])
