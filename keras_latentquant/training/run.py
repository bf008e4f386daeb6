"""The training core: config -> data, model, callbacks -> `model.fit` -> metrics.json and figures.

Every trainer script is a thin flag parser around `train(config)`; the loop itself is Keras's `fit`,
so any `tf.distribute` strategy, `BackupAndRestore` resumption and the callbacks work the same for
every model.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
import typing

import keras
import numpy as np
import tensorflow as tf

from keras_latentquant import plotting
from keras_latentquant.datasets import get_dataset_spec
from keras_latentquant.datasets.pipeline import config_name, get_builder, load_arrays, load_dataset
from keras_latentquant.folder_lock import folder_lock
from keras_latentquant.model_files import atomic_path, check_resumable_run, write_json_atomic
from keras_latentquant.models.autoencoders import (
    decoder_latents,
    get_bottleneck,
    get_quantizer,
)
from keras_latentquant.models.catalogue import ModelEntry, get_model
from keras_latentquant.training.callbacks import (
    DisentanglementEvaluation,
    GANSnapshots,
    StopOnNonFiniteLoss,
    TrainingBackup,
    format_factor_latents,
    format_scores,
)
from keras_latentquant.training.config import TrainConfig, upgrade_saved_config
from keras_latentquant.training.distributed import (
    for_this_worker,
    patch_for_multi_worker,
    parse_tf_config,
    remove_worker_output_dir,
    shard_by_data,
)
from keras_latentquant.training.evaluation import predict_logits, reconstruct
from keras_latentquant.training.fitting import build_model, fit_and_evaluate, run_metrics, write_metrics

__all__ = ["train", "configure_determinism", "make_strategy", "build_model", "save_traversals", "load_run_data", "run_callbacks", "fit_and_evaluate", "RunData"]


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    """A `tf.distribute` strategy by name.

    Args:
        name: `default` (no distribution), `mirrored` (all local GPUs, or CPU), `multi_worker`
            (`MultiWorkerMirroredStrategy`, cluster from the `TF_CONFIG` environment variable) or
            `tpu` (`TPUStrategy`). `multi_worker` must be created before any other TensorFlow op in
            the process (it configures the collective ops at startup).
        tpu: TPU name or grpc address for `tpu` ("" lets the resolver find a local TPU).

    Returns:
        The strategy.

    Raises:
        TFConfigError: `multi_worker` with a missing or malformed `TF_CONFIG`.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        parse_tf_config()  # a missing or malformed TF_CONFIG fails here with the fix, not deep in TF
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            raise RuntimeError(
                f"MultiWorkerMirroredStrategy could not configure its collective ops ({error}): it must be "
                "created before any other TensorFlow op in the process; call make_strategy first."
            ) from error
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}; valid: default, mirrored, multi_worker, tpu.")


@dataclasses.dataclass
class RunData:
    """A run's data: the repeated, shuffled training pipeline and the held-out arrays."""

    builder: object
    total: int
    train: tf.data.Dataset
    eval_images: np.ndarray
    eval_factors: np.ndarray
    # train_from(step): a freshly built training pipeline whose first batch is batch `step` of `train`'s.
    train_from: typing.Callable[[int], tf.data.Dataset] | None = None


def load_run_data(config: TrainConfig, mode: str, batch_size: int) -> RunData:
    """Training pipeline (`train[:-eval_samples]`) and held-out arrays (`train[-eval_samples:]`) of a run,
    from one prepared builder.

    Args:
        config: the run's config (dataset, dataset_config, data_dir, eval_samples, seed).
        mode: `load_dataset` mode (`autoencoder` for `(image, image)`, `images` for the GANs).
        batch_size: batch size of the training pipeline.
    """
    start = time.time()
    builder = get_builder(config.dataset, config.dataset_config, config.data_dir)
    total = builder.info.splits["train"].num_examples
    if config.eval_samples >= total // 2:
        raise ValueError(
            f"eval_samples ({config.eval_samples}) must be less than half the dataset ({total} examples "
            f"in config {config_name(builder)!r}); lower --eval_samples or use a larger config."
        )

    def train_from(step: int = 0) -> tf.data.Dataset:
        # Built anew on every call: the seeded shuffle gives a pipeline's first iterator the same order in
        # every process, but reseeds each further iterator of the same pipeline, so a resumed run (or its
        # second `fit`) must not reuse one. skip() still reads the skipped batches (cost: measured about
        # 0.1 ms per tiny cached batch of 16 on CPU; it grows with batch size).
        dataset = load_dataset(
            config.dataset, split=f"train[:-{config.eval_samples}]", mode=mode, batch_size=batch_size,
            shuffle=True, repeat=True, seed=config.seed, builder=builder,
        )
        return dataset.skip(step) if step else dataset

    train = train_from(0)
    eval_images, eval_factors = load_arrays(config.dataset, split=f"train[-{config.eval_samples}:]", builder=builder)
    print(
        f"data: {config.dataset}/{config_name(builder)}: {total - config.eval_samples} training, "
        f"{len(eval_images)} held-out examples ({time.time() - start:.1f} s)",
        flush=True,
    )
    # Preparing a dataset on first use (rendering it) draws from the global random generators: reseed, so a
    # run that prepared its data initialises its model exactly like a rerun that found them ready.
    keras.utils.set_random_seed(config.seed)
    return RunData(builder, total, train, eval_images, eval_factors, train_from)


# Backups inside an epoch when `backup_interval` is unset: a kill loses at most this many steps. A backup is
# save_weights of model and optimizer plus a small npz (cost for the paper-size models not yet measured).
DEFAULT_BACKUP_INTERVAL = 1000


def configure_determinism(deterministic: bool) -> bool:
    """Sets TensorFlow's inter-op parallelism to 1 (`deterministic`) or its default; True if it took effect.

    Why: on CPU, two runs of the same command differed in the last bits from the first backward pass (then
    visibly after hundreds of steps) whenever independent ops could run concurrently: with
    TF_NUM_INTRAOP_THREADS=1 and TF_NUM_INTEROP_THREADS=2 they still differed, with 2 and 1 they were
    bit-identical for QLAE, AE and beta-VAE, with or without another process burning a core (2-core machine,
    TF 2.21, oneDNN on; oneDNN off or `enable_op_determinism` did not help). So the multi-threaded kernels
    themselves are reproducible and the concurrency between ops is not; one op at a time keeps both cores
    for each op's own threads. Speed cost: see the README (measured side by side).

    It must run before TensorFlow's runtime starts (the first op); later in a process it cannot change, and
    a deterministic run then warns unless TF_NUM_INTEROP_THREADS=1 was set in the environment.
    """
    threads = 1 if deterministic else 0
    if tf.config.threading.get_inter_op_parallelism_threads() == threads:
        return True
    try:
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        return True
    except RuntimeError:
        if deterministic and os.environ.get("TF_NUM_INTEROP_THREADS") != "1":
            print("warning: TensorFlow already started in this process with concurrent ops, so this run may "
                  "not be bit-for-bit reproducible; train in a fresh process (as the trainers do) or set "
                  "TF_NUM_INTEROP_THREADS=1.", flush=True)
        return False


def backup_interval(config) -> int:
    """`config.backup_interval`, or by default min(eval_interval, DEFAULT_BACKUP_INTERVAL) steps."""
    return getattr(config, "backup_interval", None) or min(config.eval_interval, DEFAULT_BACKUP_INTERVAL)


def run_callbacks(config, eval_images, eval_factors, extra=(), *, output_dir=None) -> tuple[DisentanglementEvaluation, list]:
    """The callbacks every run has, in order: StopOnNonFiniteLoss, the evaluation (`evaluations.jsonl`),
    `extra`, TrainingBackup (`backup/`, every `backup_interval` steps and every epoch end), ModelCheckpoint
    (`checkpoints/latest.keras`), TensorBoard (`logs/`). The backup comes after the evaluation (and `extra`)
    so that an epoch-end backup holds that epoch's logs; the NaN guard comes first so that no other callback
    sees a non-finite step. Returns `(evaluation, callbacks)`.

    Args:
        config: the run's config (output_dir, eval_interval, backup_interval).
        eval_images, eval_factors: held-out arrays of the evaluation.
        extra: callbacks run after the evaluation, before the backup.
        output_dir: folder of the files (None: `config.output_dir`).
    """
    output_dir = output_dir or config.output_dir
    steps_per_epoch = config.eval_interval
    evaluation = DisentanglementEvaluation(
        eval_images, eval_factors, steps_per_epoch, os.path.join(output_dir, "evaluations.jsonl")
    )
    checkpoints = os.path.join(output_dir, "checkpoints")
    os.makedirs(checkpoints, exist_ok=True)
    backup = TrainingBackup(os.path.join(output_dir, "backup"), steps_per_epoch, backup_interval(config))
    checkpoint = os.path.join(checkpoints, "latest.keras")
    callbacks = [
        StopOnNonFiniteLoss(steps_per_epoch, backup, checkpoint),
        evaluation,
        *extra,
        backup,
        keras.callbacks.ModelCheckpoint(checkpoint),
        keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"), update_freq=max(1, steps_per_epoch // 10)),
    ]
    return evaluation, callbacks


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
        codebook = quantizer.codebook_values()
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
    logits = predict_logits(decoder, grid.reshape(-1, num_latents))
    images = 1.0 / (1.0 + np.exp(-logits))
    images = images.reshape((num_latents, steps) + images.shape[1:])
    return plotting.save_traversals(
        images, path, row_labels=[f"z{j}" for j in range(num_latents)], column_labels=columns,
        title="latent traversals (rows: latent dimension; columns: value)",
    )


def train(config: TrainConfig) -> dict:
    """Trains the model a config describes (any catalogued model) and writes its outputs.

    Writes into `config.output_dir`: `config.json` (the resolved config: every option's value); `logs/`
    (TensorBoard); `backup/` (`TrainingBackup`, every `backup_interval` steps and every evaluation: rerunning
    the same command resumes there, see below); `checkpoints/latest.keras` (every eval interval);
    `evaluations.jsonl`; and at the end `model.keras` (then, unless `keep_checkpoints`, the checkpoint is
    deleted and the backup reads its weights from `model.keras`: one copy of the final weights),
    `metrics.json` (no wall times: the same command gives the same bytes) and `timings.json` (train and final-evaluation seconds), plus per family: an autoencoder's
    `reconstructions.png` and `traversals.png`; a GAN's `generator.keras` (latent -> image, a plain functional
    model), `samples.png`, `traversals.png` and `images/step_*_{samples,traversals}.png` at every evaluation
    (also in TensorBoard). Final files are written to a temporary name, then renamed. Nothing is written
    before the config, the data and the model have been checked, so bad input leaves no output folder behind.

    Data: an autoencoder reads `(image, image)` batches of `batch_size`; a GAN reads `critic_steps` slices of
    `batch_size` real images per step (`batch_size` must divide among the replicas); FactorQVAE halves each
    replica's batch (its autoencoder's and its discriminator's), so its `batch_size` must divide by 2 x replicas.

    Resuming: a folder that already holds a run (`config.json`) is resumed only with the same config, up
    to `model_files.RESUME_MAY_DIFFER` (output_dir, verbose, strategy, tpu, jit_compile, data_dir, backup_interval, and
    `steps`, which may grow to continue training but not shrink); any other difference raises ValueError
    naming the fields, since the backup's weights belong to the other config. A folder written before the
    model catalogue (config layout 1) is read through `config.upgrade_saved_config`.

    Exact resumption: a run killed at any point (even SIGKILL during a backup) and rerun with the same
    command restores weights, optimizer state, SeedGenerator states and the epoch's metric sums from its
    last backup, and reads the input from that backup's batch of a freshly built, seeded pipeline
    (`fit_and_evaluate`). On the same machine, thread count and TensorFlow build it then ends bit-for-bit
    equal to an uninterrupted run, metrics.json and evaluations included (`tests/trainers/test_resume.py`),
    for every model: the VAE family's noise comes from SeedGenerators whose states the backup holds, the
    GANs' from a saved draw counter. Exactness rests on deterministic execution: on CPU, `config.deterministic`
    (the default) runs one op at a time (`configure_determinism`: concurrent independent ops were what made
    two runs of a command differ, not the multi-threaded kernels); on GPU call
    `tf.config.experimental.enable_op_determinism()`; `jit_compile` must not change between the runs (XLA
    and non-XLA random streams differ). A NaN/inf loss or weights raises
    `NonFiniteLossError` naming the step and the last good backup and checkpoint, before any of them,
    `metrics.json` or `model.keras` is written with the bad weights.

    One process per folder: the run holds `folder_lock.folder_lock` on its output folder from the start, so a
    second trainer (or a tuner or export) into it stops at once with `FolderInUseError` naming this process. If
    the run fails before writing its config, a folder it created is removed again.

    Args:
        config: the run's `TrainConfig`.

    Returns:
        The final metrics dict (`metrics.json` holds it without its wall times: `fitting.write_metrics`).
    """
    # Everything that can fail on bad input (config, an existing run with other flags, data, model) runs
    # before anything is written, so a bad flag or missing dataset leaves no half-made output folder.
    # Unset options take the reference's per-dataset values (else the model's) before anything is compared
    # or saved, so config.json records the values the run uses.
    config = config.resolved()
    entry = get_model(config.model)
    gan = entry.family == "gan"
    configure_determinism(config.deterministic)  # before TensorFlow's runtime starts
    # First TF work of the run: MultiWorkerMirroredStrategy must exist before any other TF op.
    strategy = make_strategy(config.strategy, config.tpu)
    # Multi-worker: only the chief writes into output_dir; the others into output_dir/.workers/<task>.
    run_output_dir, config = config.output_dir, for_this_worker(config)
    # A failure before anything is written (missing data) leaves no folder behind: the lock removes the folder
    # it made if it is empty when released.
    with folder_lock(config.output_dir, f"training {config.model}"):
        return _train_locked(config, entry, gan, strategy, run_output_dir)


def _train_locked(config: TrainConfig, entry: ModelEntry, gan: bool, strategy, run_output_dir: str) -> dict:
    """`train`'s body, in the locked output folder."""
    check_resumable_run(config.output_dir, dataclasses.asdict(config), upgrade=upgrade_saved_config)
    spec = get_dataset_spec(config.dataset)
    num_latents = config.num_latents or 2 * spec.num_factors
    replicas = strategy.num_replicas_in_sync
    if gan and config.batch_size % replicas:
        raise ValueError(
            f"batch_size ({config.batch_size}) must be divisible by the {replicas} replicas, so every replica's "
            "critic slice has the same size."
        )
    parts = round(1 / entry.reconstruction_share)  # FactorQVAE: 2, its autoencoder's and its discriminator's half
    if parts > 1 and config.batch_size % (parts * replicas):
        multiple = parts * replicas
        lower = config.batch_size - config.batch_size % multiple
        raise ValueError(
            f"batch_size ({config.batch_size}) of {config.model} must be divisible by {multiple}: each of the "
            f"{replicas} replica(s) splits its batch into {parts} equal parts (the autoencoder's and the "
            "discriminator's), and an uneven split would leave images out of every step. Use "
            + (f"{lower} or {lower + multiple}." if lower else f"{multiple}.")
        )
    keras.utils.set_random_seed(config.seed)

    # A GAN's training step reads critic_steps slices of batch_size real images.
    examples_per_step = config.batch_size * (config.options["critic_steps"] if gan else 1)
    data = load_run_data(config, mode="images" if gan else "autoencoder", batch_size=examples_per_step)
    eval_images, eval_factors = data.eval_images, data.eval_factors

    with strategy.scope():
        model = build_model(config, spec.image_shape, num_latents, dataset_size=data.total - config.eval_samples)
    patch_for_multi_worker(model)  # Keras 3.15 fit/predict under MultiWorkerMirroredStrategy (distributed.py)
    os.makedirs(config.output_dir, exist_ok=True)
    write_json_atomic(os.path.join(config.output_dir, "config.json"), dataclasses.asdict(config))
    snapshots = None
    if gan:
        snapshots = GANSnapshots(
            config.output_dir, config.eval_interval, num_samples=config.options["num_samples_shown"],
            seed=config.seed, log_dir=os.path.join(config.output_dir, "logs"),
        )
    evaluation, callbacks = run_callbacks(config, eval_images, eval_factors, extra=[snapshots] if gan else [])
    print(f"model: {config.model} ({config.architecture}, {config.precision}), {num_latents} latents, "
          f"{_describe(model, config, entry)} on {replicas} replica(s)", flush=True)
    if config.precision == "mixed_float16" and not tf.config.list_physical_devices("GPU"):
        print("warning: mixed_float16 on a machine without a GPU: CPUs emulate float16 arithmetic (QLAE's fast "
              "model trained about 60x slower than in float32 on this project's CPU); on CPU use "
              "--precision=mixed_bfloat16 (AMX / AVX512-BF16) or float32.", flush=True)
    # A function of the start step, so that a resumed run reads the batches an uninterrupted one would.
    resumable_data = lambda step: shard_by_data(data.train_from(step))  # noqa: E731  (workers split each batch)
    history, train_seconds, final = fit_and_evaluate(model, config, resumable_data, callbacks, evaluation)
    # Final files go to a temporary name, then are renamed: never seen half-written.
    with atomic_path(os.path.join(config.output_dir, "model.keras")) as temporary:
        model.save(temporary)
    metrics = run_metrics(config, config_name(data.builder), num_latents, train_seconds, final, history)
    if gan:
        files = _write_gan_outputs(model, config, snapshots, metrics)
        print(f"\nfinal ({config.steps} steps, {len(eval_images)} held-out samples, {final['latents']} latents): "
              f"{format_scores(final)}")
    else:
        files = _write_autoencoder_outputs(model, config, eval_images, final, metrics)
        print(
            "\nfinal ({steps} steps, {n} held-out samples): InfoM {infom:.3f}  InfoE {infoe:.3f}  "
            "InfoC {infoc:.3f}  PSNR {psnr:.2f} dB".format(steps=config.steps, n=len(eval_images), **final)
        )
    print(format_factor_latents(final["nmi"], spec.factor_names))
    write_metrics(config.output_dir, metrics)
    if not config.keep_checkpoints:
        # One copy of the final weights: model.keras. The backup now reads it, the checkpoint is dropped.
        backup = next(callback for callback in callbacks if isinstance(callback, TrainingBackup))
        backup.point_to(os.path.join(config.output_dir, "model.keras"))
        shutil.rmtree(os.path.join(config.output_dir, "checkpoints"), ignore_errors=True)
    print(f"outputs in {config.output_dir}: metrics.json, timings.json, model.keras, {', '.join(files)}")
    remove_worker_output_dir(run_output_dir)  # a non-chief worker's copies; nothing on the chief
    return metrics


def _describe(model: keras.Model, config: TrainConfig, entry: ModelEntry) -> str:
    """Parameters and what one step reads, for the run's first line."""
    if entry.family == "gan":
        return (
            f"generator {model.generator.count_params():,} + critic {model.critic.count_params():,} parameters; "
            f"{config.steps} steps of {config.options['critic_steps']} critic x {config.batch_size} images + 1 "
            "generator update,"
        )
    return f"{model.count_params():,} parameters; {config.steps} steps of batch {config.batch_size}"


def _write_autoencoder_outputs(model, config: TrainConfig, eval_images, final: dict, metrics: dict) -> list[str]:
    """Held-out reconstructions and latent traversals; ARD-VAE's active axes into `metrics`."""
    shown = eval_images[:8]
    with atomic_path(os.path.join(config.output_dir, "reconstructions.png")) as temporary:
        plotting.save_reconstructions(
            shown, reconstruct(model, shown), temporary,
            title=f"{config.model}: held-out reconstructions (PSNR {final['psnr']:.2f} dB)",
        )
    latent_range = None
    if get_quantizer(model) is None:
        decoder_inputs = decoder_latents(model, eval_images[:2000])
        latent_range = np.stack([decoder_inputs.min(0), decoder_inputs.max(0)])
    with atomic_path(os.path.join(config.output_dir, "traversals.png")) as temporary:
        save_traversals(model, eval_images[0], temporary, latent_range=latent_range)
    bottleneck = get_bottleneck(model)
    if hasattr(bottleneck, "active_axes"):
        # ARD-VAE: which latent axes its data-estimated prior kept switched on.
        active_axes = [bool(a) for a in keras.ops.convert_to_numpy(bottleneck.active_axes())]
        metrics["active_axes"] = active_axes
        print(f"active latent axes: {[j for j, on in enumerate(active_axes) if on]} of {len(active_axes)}")
    return ["reconstructions.png", "traversals.png"]


def _write_gan_outputs(model, config: TrainConfig, snapshots: GANSnapshots, metrics: dict) -> list[str]:
    """The generator alone, the final sample and traversal grids; QLInfoGAN's codebook into `metrics`."""
    with atomic_path(os.path.join(config.output_dir, "generator.keras")) as temporary:
        model.generator.save(temporary)
    # `fit` gives its callbacks the model; a rerun of a finished run calls no `fit`, so the grids get it here.
    snapshots.set_model(model)
    paths = snapshots.write(config.steps)
    if model.quantized:
        metrics["codebook"] = np.round(model.quantizer.codebook_values(), 4).tolist()
    return ["generator.keras", os.path.basename(paths["samples"]), os.path.basename(paths["traversals"]), "images/",
            "logs/"]
