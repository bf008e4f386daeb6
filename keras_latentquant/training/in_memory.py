"""Training an autoencoder on any Keras backend, without TensorFlow: the procedural datasets rendered in memory.

`training.train(config)` comes here when `KERAS_BACKEND` is not `tensorflow` (`jax`, e.g. a GPU machine with JAX
and no TensorFlow; tested there: tests/backends, and the H200 run in benchmarks/RESULTS.md; under `torch` it is
untested, and FactorQVAE's step refuses it). The run is `training.run.train`'s, minus what needs TensorFlow:

- data: `datasets.rendered.rendered_arrays` (procedural datasets only; cached under
  `<data_dir or TFDS's default>/rendered`), the last `eval_samples` held out, the rest shuffled each epoch with
  a generator seeded by `(seed, epoch)`. Same grid points as the TFDS builder, another order (see
  `datasets.rendered`), so a run here and one under TensorFlow draw different batches;
- the same model (`models.catalogue`), `fit_and_evaluate`, `DisentanglementEvaluation` (`evaluations.jsonl`)
  and NaN guard; under JAX the step is always XLA-compiled (JAX's trainer without `jit_compile` runs op by op);
- no `tf.distribute` strategy, no TensorBoard, no backups: a run is not resumed, and a folder that already
  holds one is refused;
- GANs (QLInfoGAN, InfoWGAN-GP) need TensorFlow: their steps use `tf.GradientTape` and `tf.distribute`.

Writes `config.json`, `evaluations.jsonl`, `model.keras`, `metrics.json` and `timings.json` as `run.train` does.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np

from keras_latentquant.datasets.registry import default_data_dir, get_dataset_spec
from keras_latentquant.datasets.rendered import rendered_arrays
from keras_latentquant.model_files import atomic_path, write_json_atomic
from keras_latentquant.models.catalogue import get_model
from keras_latentquant.training.callbacks import DisentanglementEvaluation, StopOnNonFiniteLoss
from keras_latentquant.training.config import TrainConfig
from keras_latentquant.training.fitting import build_model, fit_and_evaluate, run_metrics, write_metrics

__all__ = ["batches_from", "rendered_split", "train_in_memory"]


def batches_from(images: np.ndarray, batch_size: int, seed: int):
    """`step -> generator` of `(x, x)` float32 batches in [0, 1] of uint8 `images`, from batch `step` on: each
    epoch (`len(images) // batch_size` batches, the rest dropped) a permutation seeded by `(seed, epoch)`, so the
    batches of a step do not depend on where a fit started."""
    per_epoch = len(images) // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch_size ({batch_size}) exceeds the {len(images)} training images.")

    def generate(step: int = 0):
        epoch, index = divmod(step, per_epoch)
        while True:
            order = np.random.default_rng([seed, epoch]).permutation(len(images))
            for start in range(index * batch_size, per_epoch * batch_size, batch_size):
                x = images[np.sort(order[start:start + batch_size])].astype(np.float32) / 255.0
                yield x, x
            epoch, index = epoch + 1, 0

    return generate


def rendered_split(dataset: str, config_name: str, eval_samples: int, data_dir: str | None = None):
    """`(training images uint8, held-out images float32 in [0, 1], held-out factor indices)` of a procedural
    config rendered in memory (cached under `<data_dir or TFDS's default>/rendered`): the last `eval_samples`
    held out."""
    images, factors = rendered_arrays(dataset, config_name, cache_dir=os.path.join(data_dir or default_data_dir(),
                                                                                   "rendered"),
                                      processes=os.cpu_count() or 1)
    if eval_samples >= len(images) // 2:
        raise ValueError(f"eval_samples ({eval_samples}) must be less than half the dataset ({len(images)} "
                         f"examples in config {config_name!r}); lower --eval_samples or use a larger config.")
    held_out = np.asarray(images[-eval_samples:], dtype=np.float32) / 255.0
    return images[:-eval_samples], held_out, np.asarray(factors[-eval_samples:])


def train_in_memory(config: TrainConfig) -> dict:
    """Trains the autoencoder a config describes on its procedural dataset in memory; see the module docstring.

    Returns the final metrics dict (`metrics.json` holds it without `train_seconds`, which is in timings.json).
    """
    config = config.resolved()
    backend = keras.backend.backend()
    entry = get_model(config.model)
    if entry.family == "gan":
        raise ValueError(f"{config.model} is a GAN: its train step needs TensorFlow (KERAS_BACKEND=tensorflow); "
                         f"the {backend} backend trains the autoencoders.")
    if config.strategy != "default":
        raise ValueError(f"strategy={config.strategy!r} is a tf.distribute strategy: it needs KERAS_BACKEND="
                         "tensorflow. Under other backends the in-memory trainer runs on one device.")
    if backend == "jax" and not config.jit_compile:
        config = dataclasses.replace(config, jit_compile=True)
    if os.path.exists(os.path.join(config.output_dir, "config.json")):
        raise ValueError(f"{config.output_dir} already holds a run; the in-memory trainer ({backend} backend) does "
                         "not resume runs: use a new output_dir, or KERAS_BACKEND=tensorflow to resume it.")
    spec = get_dataset_spec(config.dataset)
    num_latents = config.num_latents or 2 * spec.num_factors
    train_images, eval_images, eval_factors = rendered_split(config.dataset, config.dataset_config,
                                                             config.eval_samples, config.data_dir)
    print(f"data: {config.dataset}/{config.dataset_config} rendered in memory ({backend} backend): "
          f"{len(train_images)} training, {len(eval_images)} held-out examples", flush=True)

    keras.utils.set_random_seed(config.seed)
    model = build_model(config, spec.image_shape, num_latents, dataset_size=len(train_images))
    os.makedirs(config.output_dir, exist_ok=True)
    write_json_atomic(os.path.join(config.output_dir, "config.json"), dataclasses.asdict(config))
    evaluation = DisentanglementEvaluation(eval_images, eval_factors, config.eval_interval,
                                           os.path.join(config.output_dir, "evaluations.jsonl"))
    callbacks = [StopOnNonFiniteLoss(config.eval_interval), evaluation]
    print(f"model: {config.model} ({config.architecture}, {config.precision}, {backend}), {num_latents} latents, "
          f"{model.count_params():,} parameters; {config.steps} steps of batch {config.batch_size}", flush=True)
    data = batches_from(train_images, config.batch_size, config.seed)
    history, train_seconds, final = fit_and_evaluate(model, config, data, callbacks, evaluation)
    with atomic_path(os.path.join(config.output_dir, "model.keras")) as temporary:
        model.save(temporary)
    metrics = run_metrics(config, config.dataset_config, num_latents, train_seconds, final, history)
    metrics["backend"] = backend
    print("final ({steps} steps, {n} held-out samples): InfoM {infom:.3f}  InfoE {infoe:.3f}  InfoC {infoc:.3f}  "
          "PSNR {psnr:.2f} dB".format(steps=config.steps, n=len(eval_images), **final), flush=True)
    write_metrics(config.output_dir, metrics)
    return metrics
