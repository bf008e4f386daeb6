"""The training core: config -> data, model, callbacks -> `model.fit` -> metrics.json and figures.

Every trainer script is a thin flag parser around `train(config)`; the loop itself is Keras's `fit`,
so any `tf.distribute` strategy, `BackupAndRestore` resumption and the callbacks work the same for
every model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from keras_latentquant import plotting
from keras_latentquant.datasets import get_dataset_spec
from keras_latentquant.datasets.pipeline import get_builder, load_arrays, load_dataset
from keras_latentquant.model_files import apply_default_permissions
from keras_latentquant.models.autoencoders import (
    decoder_latents,
    get_bottleneck,
    get_quantizer,
)
from keras_latentquant.models.registry import OPTION_DEFAULTS
from keras_latentquant.models.registry import build_model as registry_build_model
from keras_latentquant.training.callbacks import DisentanglementEvaluation
from keras_latentquant.training.config import TrainConfig
from keras_latentquant.training.evaluation import evaluate_model, reconstruct

__all__ = ["train", "make_strategy", "build_model", "save_traversals", "load_run_data", "run_callbacks", "fit_and_evaluate", "RunData"]


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    """A `tf.distribute` strategy by name.

    Args:
        name: `default` (no distribution), `mirrored` (all local GPUs, or CPU), `multi_worker`
            (`MultiWorkerMirroredStrategy`, cluster from the `TF_CONFIG` environment variable) or
            `tpu` (`TPUStrategy`).
        tpu: TPU name or grpc address for `tpu` ("" lets the resolver find a local TPU).

    Returns:
        The strategy.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy=multi_worker needs the TF_CONFIG environment variable describing the cluster "
                '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
                '"index": 0}}); set it on every worker.'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}; valid: default, mirrored, multi_worker, tpu.")


def build_model(config: TrainConfig, image_shape, num_latents: int, dataset_size: int | None = None) -> keras.Model:
    """The compiled model a config asks for (see `keras_latentquant.models.registry`)."""
    options = {name: getattr(config, name) for name in OPTION_DEFAULTS if hasattr(config, name)}
    options["dataset_size"] = dataset_size
    return registry_build_model(
        config.model,
        image_shape=image_shape,
        num_latents=num_latents,
        architecture=config.architecture,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        jit_compile=config.jit_compile,
        **options,
    )


def write_json_atomic(path: str, payload) -> None:
    # Write to a temporary file in the same folder, then rename: a reader never sees half a file.
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2)
        temporary = handle.name
    apply_default_permissions(temporary)  # NamedTemporaryFile makes it owner-only
    os.replace(temporary, path)


@dataclasses.dataclass
class RunData:
    """A run's data: the repeated, shuffled training pipeline and the held-out arrays."""

    builder: object
    total: int
    train: tf.data.Dataset
    eval_images: np.ndarray
    eval_factors: np.ndarray


def load_run_data(config, mode: str, batch_size: int) -> RunData:
    """Training pipeline (`train[:-eval_samples]`) and held-out arrays (`train[-eval_samples:]`) of a run.

    Args:
        config: a `TrainConfig` or `InfoGANConfig` (dataset, dataset_config, data_dir, eval_samples, seed).
        mode: `load_dataset` mode (`autoencoder` for `(image, image)`, `images` for the GANs).
        batch_size: batch size of the training pipeline.
    """
    start = time.time()
    builder = get_builder(config.dataset, config.dataset_config, config.data_dir)
    total = builder.info.splits["train"].num_examples
    if config.eval_samples >= total // 2:
        raise ValueError(
            f"eval_samples ({config.eval_samples}) must be less than half the dataset ({total} examples "
            f"in config {builder.builder_config.name!r}); lower --eval_samples or use a larger config."
        )
    train = load_dataset(
        config.dataset, builder.builder_config.name, split=f"train[:-{config.eval_samples}]",
        data_dir=config.data_dir, mode=mode, batch_size=batch_size, shuffle=True, repeat=True, seed=config.seed,
    )
    eval_images, eval_factors = load_arrays(
        config.dataset, builder.builder_config.name, split=f"train[-{config.eval_samples}:]", data_dir=config.data_dir
    )
    print(
        f"data: {config.dataset}/{builder.builder_config.name}: {total - config.eval_samples} training, "
        f"{len(eval_images)} held-out examples ({time.time() - start:.1f} s)",
        flush=True,
    )
    return RunData(builder, total, train, eval_images, eval_factors)


def run_callbacks(config, eval_images, eval_factors, extra=()) -> tuple[DisentanglementEvaluation, list]:
    """The callbacks every run has, in order: BackupAndRestore (`backup/`), TerminateOnNaN, the
    evaluation (`evaluations.jsonl`), `extra`, ModelCheckpoint (`checkpoints/latest.keras`), TensorBoard
    (`logs/`). Returns `(evaluation, callbacks)`."""
    steps_per_epoch = config.eval_interval
    evaluation = DisentanglementEvaluation(
        eval_images, eval_factors, steps_per_epoch, os.path.join(config.output_dir, "evaluations.jsonl")
    )
    checkpoints = os.path.join(config.output_dir, "checkpoints")
    os.makedirs(checkpoints, exist_ok=True)
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(config.output_dir, "backup")),
        keras.callbacks.TerminateOnNaN(),
        evaluation,
        *extra,
        keras.callbacks.ModelCheckpoint(os.path.join(checkpoints, "latest.keras")),
        keras.callbacks.TensorBoard(os.path.join(config.output_dir, "logs"), update_freq=max(1, steps_per_epoch // 10)),
    ]
    return evaluation, callbacks


def fit_and_evaluate(model, config, train_data, callbacks, evaluation: DisentanglementEvaluation):
    """`model.fit` for `config.steps` steps in epochs of `config.eval_interval`, then the final scores.

    Returns:
        `(history, train_seconds, final)`: `final` is the last evaluation, or a fresh one when a resumed run
        had already finished its last epoch.
    """
    start = time.time()
    history = model.fit(
        train_data,
        epochs=config.steps // config.eval_interval,
        steps_per_epoch=config.eval_interval,
        callbacks=callbacks,
        verbose=config.verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    train_seconds = time.time() - start
    final = evaluation.last
    if final is None:  # resumed after the last epoch had already run: evaluate now
        final = {"step": config.steps, **evaluate_model(model, evaluation.images, evaluation.factors)}
    return history, train_seconds, final


def save_traversals(model: keras.Model, image: np.ndarray, path: str, num_steps: int = 10, latent_range=None) -> str:
    """Decodes one image's latent with each dimension stepped through its values, and saves the grid.

    QLAE: dimension `j` takes each of its codebook values in turn (the others keep the image's code).
    Other models: decoder input `j` sweeps `num_steps` evenly spaced values over `latent_range[j]`
    (min, max), the others kept at the image's values.

    Args:
        model: a QLAE or AE.
        image: one image `(H, W, C)` in [0, 1].
        path: output PNG path.
        num_steps: sweep length for continuous latents.
        latent_range: `(2, d)` array of per-dimension (min, max) for continuous latents.

    Returns:
        The path written.
    """
    decoder = model.get_layer("decoder")
    latent = decoder_latents(model, image[None])[0]
    quantizer = get_quantizer(model)
    num_latents = latent.shape[-1]
    if quantizer is not None:
        counts = quantizer.values_per_dimension
        steps = max(counts)
        codebook = keras.ops.convert_to_numpy(quantizer.codebook)
        base = latent
        # One row per dimension; a dimension with fewer values repeats its last one.
        grid = np.repeat(base[None, None], num_latents, axis=0).repeat(steps, axis=1)
        for j in range(num_latents):
            grid[j, :, j] = codebook[j, np.minimum(np.arange(steps), counts[j] - 1)]
        columns = [f"v{k}" for k in range(steps)]
    else:
        if latent_range is None:
            latent_range = np.stack([latent - 1.0, latent + 1.0])
        steps = num_steps
        grid = np.repeat(latent[None, None], num_latents, axis=0).repeat(steps, axis=1)
        for j in range(num_latents):
            grid[j, :, j] = np.linspace(latent_range[0][j], latent_range[1][j], steps)
        columns = [f"{k}" for k in range(steps)]
    logits = decoder.predict(grid.reshape(-1, num_latents), verbose=0, batch_size=256)
    images = 1.0 / (1.0 + np.exp(-logits))
    images = images.reshape((num_latents, steps) + images.shape[1:])
    return plotting.save_traversals(
        images, path, row_labels=[f"z{j}" for j in range(num_latents)], column_labels=columns,
        title="latent traversals (rows: latent dimension; columns: value)",
    )


def train(config: TrainConfig) -> dict:
    """Trains the model a config describes and writes its outputs.

    Writes into `config.output_dir`: `config.json`; `logs/` (TensorBoard); `backup/` (BackupAndRestore:
    rerunning the same command resumes there); `checkpoints/latest.keras` (every eval interval);
    `evaluations.jsonl`; and at the end `model.keras`, `metrics.json`, `reconstructions.png` and
    `traversals.png`.

    Args:
        config: the run's `TrainConfig`.

    Returns:
        The final metrics dict (also in `metrics.json`).
    """
    config.validate()
    spec = get_dataset_spec(config.dataset)
    num_latents = config.num_latents or 2 * spec.num_factors
    os.makedirs(config.output_dir, exist_ok=True)
    write_json_atomic(os.path.join(config.output_dir, "config.json"), dataclasses.asdict(config))
    keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(config.strategy, config.tpu)

    data = load_run_data(config, mode="autoencoder", batch_size=config.batch_size)
    builder, total = data.builder, data.total
    train_data, eval_images, eval_factors = data.train, data.eval_images, data.eval_factors

    with strategy.scope():
        model = build_model(config, spec.image_shape, num_latents, dataset_size=total - config.eval_samples)
    evaluation, callbacks = run_callbacks(config, eval_images, eval_factors)

    print(
        f"model: {config.model} ({config.architecture}), {num_latents} latents, "
        f"{model.count_params():,} parameters; {config.steps} steps of batch {config.batch_size} "
        f"on {strategy.num_replicas_in_sync} replica(s)",
        flush=True,
    )
    history, train_seconds, final = fit_and_evaluate(model, config, train_data, callbacks, evaluation)
    model.save(os.path.join(config.output_dir, "model.keras"))
    shown = eval_images[:8]
    plotting.save_reconstructions(
        shown, reconstruct(model, shown), os.path.join(config.output_dir, "reconstructions.png"),
        title=f"{config.model}: held-out reconstructions (PSNR {final['psnr']:.2f} dB)",
    )
    latent_range = None
    if get_quantizer(model) is None:
        decoder_inputs = decoder_latents(model, eval_images[:2000])
        latent_range = np.stack([decoder_inputs.min(0), decoder_inputs.max(0)])
    save_traversals(model, eval_images[0], os.path.join(config.output_dir, "traversals.png"), latent_range=latent_range)

    metrics = {
        "model": config.model,
        "dataset": f"{config.dataset}/{builder.builder_config.name}",
        "steps": config.steps,
        "num_latents": num_latents,
        "train_seconds": round(train_seconds, 1),
        "final": final,
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "factor_names": list(spec.factor_names),
    }
    bottleneck = get_bottleneck(model)
    if hasattr(bottleneck, "active_axes"):
        # ARD-VAE: which latent axes its data-estimated prior kept switched on.
        active_axes = [bool(a) for a in keras.ops.convert_to_numpy(bottleneck.active_axes())]
        metrics["active_axes"] = active_axes
        print(f"active latent axes: {[j for j, on in enumerate(active_axes) if on]} of {len(active_axes)}")
    write_json_atomic(os.path.join(config.output_dir, "metrics.json"), metrics)
    print(
        "\nfinal ({steps} steps, {n} held-out samples): InfoM {infom:.3f}  InfoE {infoe:.3f}  "
        "InfoC {infoc:.3f}  PSNR {psnr:.2f} dB".format(steps=config.steps, n=len(eval_images), **final)
    )
    print(f"outputs in {config.output_dir}: metrics.json, model.keras, reconstructions.png, traversals.png")
    return metrics
