"""What every trainer shares and no backend's own API: building a catalogued model from a config, and
`fit_and_evaluate`, the resumable `model.fit` in evaluation epochs. Imports neither TensorFlow nor TFDS, so the
in-memory trainer (`training.in_memory`, any Keras backend) uses it as `training.run` does."""

from __future__ import annotations

import os
import sys
import time

import keras

from keras_latentquant.datasets.registry import get_dataset_spec
from keras_latentquant.model_files import write_json_atomic
from keras_latentquant.models.catalogue import get_model
from keras_latentquant.training.callbacks import DisentanglementEvaluation, TrainingBackup
from keras_latentquant.training.config import TrainConfig
from keras_latentquant.training.evaluation import evaluate_model

__all__ = ["build_model", "fit_and_evaluate", "fit_verbosity", "run_metrics", "without_timings", "write_metrics"]


def build_model(config: TrainConfig, image_shape, num_latents: int, dataset_size: int | None = None) -> keras.Model:
    """The compiled model a resolved config asks for (`models.catalogue`)."""
    entry = get_model(config.model)
    model = entry.build(image_shape, num_latents, config.architecture, config.options, dataset_size=dataset_size,
                        seed=config.seed, precision=config.precision)
    return entry.compile(model, config.options, config.learning_rate, config.jit_compile)


def fit_verbosity(verbose: int, stream=None) -> int:
    """Keras `fit` verbosity for `verbose`: a progress bar (1) only on a terminal; written to a file or a pipe,
    where a bar is one line of carriage returns per epoch (hundreds of kB), one line per epoch (2) instead."""
    stream = stream or sys.stdout
    if verbose == 1 and not (hasattr(stream, "isatty") and stream.isatty()):
        return 2
    return verbose


def fit_and_evaluate(model, config, train_data, callbacks, evaluation: DisentanglementEvaluation):
    """`model.fit` for `config.steps` steps in epochs of `config.eval_interval`, then the final scores,
    resuming exactly from the `TrainingBackup` among `callbacks` when it holds a backup.

    Resuming at step `s` (epoch `e = s // eval_interval`, `b = s % eval_interval` steps into it): the backup
    restores weights, optimizer state, SeedGenerator states and (when `b > 0`) the epoch's metric sums; the
    input restarts at batch `s` of a freshly built pipeline; when `b > 0` a first `fit` runs the remaining
    `eval_interval - b` steps of epoch `e`, and a second `fit` the epochs after it. The returned history holds
    every epoch of the run, the ones before the restart included (from the backup).

    Args:
        model: the built, compiled model.
        config: the run's config (steps, eval_interval, verbose).
        train_data: `step -> dataset` (anything `fit` reads) giving the training pipeline from batch `step` on, built anew on
            each call (`RunData.train_from`); or one `tf.data.Dataset` (or other dataset), which is only exact for runs that
            need a single `fit` (a shuffled pipeline reshuffles each further iterator).
        callbacks: from `run_callbacks` (plus any others).
        evaluation: the `DisentanglementEvaluation` among them.

    Returns:
        `(history, train_seconds, final)`: `history` a `keras.callbacks.History`; `train_seconds` the wall
        seconds of the fits, those of the processes before a resume included (from the backup); `final` is
        the last evaluation, or a fresh one when a resumed run had already finished its last epoch.
    """
    if not callable(train_data):
        dataset = train_data
        train_data = lambda step: dataset.skip(step) if step else dataset  # noqa: E731
    backups = [callback for callback in callbacks if isinstance(callback, TrainingBackup)]
    backup = backups[0] if backups else None
    steps_per_epoch, epochs = config.eval_interval, config.steps // config.eval_interval
    step = backup.restore(model) if backup else 0
    if step > config.steps:
        raise ValueError(
            f"The backup in {backup.backup_dir} is at step {step}, past --steps={config.steps}; rerun with "
            f"--steps >= {step}, or use a new --output_dir to train from scratch."
        )
    if step:
        evaluation.truncate_log(step)
        print(f"resuming from the backup at step {step} of {config.steps}: {backup.last_path}", flush=True)
    # (initial_epoch, end_epoch, steps_per_epoch) of each fit: the rest of a partly done epoch, then the others.
    segments = []
    epoch, done_in_epoch = divmod(step, steps_per_epoch)
    if done_in_epoch:
        segments.append((epoch, epoch + 1, steps_per_epoch - done_in_epoch))
        epoch += 1
    if epoch < epochs:
        segments.append((epoch, epochs, steps_per_epoch))

    history = {key: list(values) for key, values in (backup.history if backup else {}).items()}
    start = time.time()
    for initial_epoch, end_epoch, steps in segments:
        first_step = initial_epoch * steps_per_epoch + steps_per_epoch - steps
        part = model.fit(
            train_data(first_step),
            initial_epoch=initial_epoch,
            epochs=end_epoch,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=fit_verbosity(config.verbose),
            shuffle=False,  # the tf.data pipeline shuffles
        )
        for key, values in part.history.items():
            history.setdefault(key, []).extend(float(value) for value in values)
    # A resumed run's time includes the earlier processes' training, as its backup recorded it.
    train_seconds = backup.elapsed_seconds() if backup else time.time() - start
    merged = keras.callbacks.History()
    merged.history = history
    final = evaluation.last
    if final is None:  # resumed after the last epoch had already run: evaluate now
        final = {"step": config.steps, **evaluate_model(model, evaluation.images, evaluation.factors)}
    return merged, train_seconds, final


def run_metrics(config: TrainConfig, config_name: str, num_latents: int, train_seconds: float, final: dict,
                history) -> dict:
    """A finished run's metrics dict (what `train` returns; `write_metrics` writes it)."""
    return {
        "model": config.model,
        "dataset": f"{config.dataset}/{config_name}",
        "steps": config.steps,
        "num_latents": num_latents,
        "train_seconds": round(train_seconds, 1),
        "final": final,
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "factor_names": list(get_dataset_spec(config.dataset).factor_names),
    }


def without_timings(metrics: dict) -> dict:
    """A run's metrics as metrics.json holds them: without the wall times (`train_seconds`, the final
    evaluation's `seconds`), which are in timings.json."""
    kept = {key: value for key, value in metrics.items() if key != "train_seconds"}
    kept["final"] = {key: value for key, value in metrics["final"].items() if key != "seconds"}
    return kept


def write_metrics(output_dir: str, metrics: dict) -> None:
    """Writes `timings.json` (wall times) and `metrics.json` (the rest): wall times have their own file, so that
    metrics.json is byte-identical between two runs of a command."""
    timings = {"train_seconds": metrics["train_seconds"],
               "final_evaluation_seconds": metrics["final"].get("seconds")}
    write_json_atomic(os.path.join(output_dir, "timings.json"), timings)
    write_json_atomic(os.path.join(output_dir, "metrics.json"), without_timings(metrics))
