"""Runs every bottleneck layer in a small model under the Keras backend that KERAS_BACKEND names, and saves the
numbers `test_cross_backend.py` compares between backends.

Usage: KERAS_BACKEND=jax python tests/backends/cross_backend_case.py OUT.npz

Each case is Input(d) -> Dense -> layer -> Dense, with every trainable float weight set from NumPy (the same
values on every backend). Saved per case: the inference outputs, the inference loss (mse plus the layer's
add_loss terms, `test_on_batch`), the layer's monitored values after one eager inference call, and, for the
layers whose training pass is deterministic, the training loss and every weight after one SGD step
(`train_on_batch`); for the stochastic ones (Gaussian sampling, NSVQ noise, Gumbel-softmax) the training step
runs (it must not fail) but its numbers depend on each backend's random generator and are not saved.
Under TensorFlow and JAX, also FactorQVAE's own two-part train step (`factorqvae_step`), with its random draws
(Gumbel noise, permutation) fixed from NumPy: its logs and every weight after one SGD step. Under JAX, last,
`training.train` itself (`in_memory/`: the in-memory trainer, QLAE on tiny dSprites, 12 steps), before the
check that TensorFlow was never imported.
"""

import os
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


def run_factorqvae_step():
    """FactorQVAE's train step (written for TensorFlow and JAX) on a tiny model, its draws fixed from NumPy."""
    from keras_latentquant.models.factorqvae import FactorQVAE

    inputs = keras.Input((FEATURES,))
    latents = keras.layers.Dense(4, name="encoder")(inputs)
    bottleneck = FactorQuantization(num_values=6, discriminator_units=16, discriminator_layers=2,
                                    temperature_decay=0.1, name="bottleneck")
    model = FactorQVAE(inputs, keras.layers.Dense(FEATURES, name="decoder")(bottleneck(latents)))
    rng = np.random.default_rng(7)
    for weight in model.trainable_weights:
        weight.assign(rng.uniform(-1.0, 1.0, tuple(weight.shape)).astype("float32"))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), run_eagerly=keras.backend.backend() != "jax")

    def fixed_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        shape = tuple(int(size) for size in shape)  # one draw per shape: both halves' noise, the permutation's keys
        values = np.random.default_rng(len(shape)).uniform(minval, maxval, shape)
        return keras.ops.convert_to_tensor(values.astype("float32"))

    x = np.random.default_rng(2).uniform(0.0, 1.0, (BATCH, FEATURES)).astype("float32")
    drawn, keras.random.uniform = keras.random.uniform, fixed_uniform
    try:
        model.train_on_batch(x)  # the step count (temperature) goes from 0 to 1; the second step is compared
        logs = model.train_on_batch(x, return_dict=True)
    finally:
        keras.random.uniform = drawn
    results = {f"log_{name}": np.float32(value) for name, value in logs.items()}
    for index, weight in enumerate(model.weights):
        if "float" in str(weight.dtype):
            results[f"weight_{index}_{weight.path}"] = keras.ops.convert_to_numpy(weight)
    return results


def run_in_memory_training(folder):
    """`training.train` under a backend without TensorFlow: the in-memory trainer, QLAE on tiny dSprites."""
    from keras_latentquant.training import TrainConfig, train

    class NoTensorFlow:  # as on a machine without it (Keras's set_random_seed imports it where installed)
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
                raise ImportError(f"{name} is not available in this check")

    output_dir = os.path.join(folder, "in_memory_run")
    sys.meta_path.insert(0, NoTensorFlow())
    try:
        metrics = train(TrainConfig(model="qlae", dataset="procedural_dsprites", dataset_config="tiny",
                                    data_dir=os.path.join(folder, "data"), architecture="fast", steps=12,
                                    eval_interval=6, batch_size=16, eval_samples=200, output_dir=output_dir,
                                    verbose=0))
    finally:
        sys.meta_path.pop(0)
    return {"held_out_psnr": np.asarray(metrics["history"]["eval_psnr"], np.float32),
            "final_infom": np.float32(metrics["final"]["infom"]),
            "files": np.asarray(sorted(os.listdir(output_dir))),
            "evaluations": np.int64(sum(1 for _ in open(os.path.join(output_dir, "evaluations.jsonl"))))}


def main(path, example=None):
    """Saves every case's numbers to `path` (.npz); then runs the script `example` (the README's drop-in
    example), if given, in this process: one start of the backend for both checks."""
    saved = {}
    for name in CASES:
        for key, value in run(name).items():
            saved[f"{name}/{key}"] = value
    if keras.backend.backend() in ("tensorflow", "jax"):
        for key, value in run_factorqvae_step().items():
            saved[f"factorqvae_step/{key}"] = value
    if keras.backend.backend() == "jax":
        for key, value in run_in_memory_training(os.path.dirname(os.path.abspath(path))).items():
            saved[f"in_memory/{key}"] = value
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
