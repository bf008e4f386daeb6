"""Keras callbacks of the training core."""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import time

import keras
import numpy as np

from keras_latentquant.layers.monitoring import MonitoredMean
from keras_latentquant.model_files import atomic_path, write_text_atomic
from keras_latentquant.training.evaluation import evaluate_model

__all__ = [
    "DisentanglementEvaluation",
    "GANSnapshots",
    "NonFiniteLossError",
    "StopOnNonFiniteLoss",
    "TrainingBackup",
    "format_factor_latents",
    "format_scores",
]


def format_scores(scores: dict) -> str:
    """`InfoM 0.422  InfoE 0.464  InfoC 0.151  PSNR 24.06 dB`, with the terms the scores hold."""
    parts = [f"{label} {scores[key]:.3f}" for label, key in (("InfoM", "infom"), ("InfoE", "infoe"), ("InfoC", "infoc"))
             if key in scores]
    if "psnr" in scores:
        parts.append(f"PSNR {scores['psnr']:.2f} dB")
    return "  ".join(parts)


def format_factor_latents(nmi, factor_names) -> str:
    """Per factor, the latent that holds most of it and the runner-up, from the `(factors, latents)` NMI matrix:

        which latent holds each factor (normalised mutual information; disentangled: one clear latent each)
          shape         z3  0.41   next z7  0.05
    """
    nmi = np.asarray(nmi, dtype=float)
    width = max(len(name) for name in factor_names)
    lines = ["which latent holds each factor (normalised mutual information; disentangled: one clear latent each)"]
    for name, row in zip(factor_names, nmi):
        order = np.argsort(-np.nan_to_num(row, nan=-1.0), kind="stable")
        line = f"  {name:<{width}}  z{order[0]:<2d} {row[order[0]]:.2f}"
        if len(order) > 1:
            line += f"   next z{order[1]:<2d} {row[order[1]]:.2f}"
        lines.append(line)
    return "\n".join(lines)


class DisentanglementEvaluation(keras.callbacks.Callback):
    """Scores the model on held-out samples at the end of every epoch (= every eval interval).

    The scores (`eval_infom`, `eval_infoe`, `eval_infoc`, and `eval_psnr` for an autoencoder) are added to the epoch logs, so
    they reach `History`, the progress line and TensorBoard (put this callback before TensorBoard's),
    and each evaluation is appended as a JSON line to `<output_dir>/evaluations.jsonl`.

    Args:
        images: held-out float images `(N, H, W, C)` in [0, 1].
        factors: their integer factor labels `(N, K)`.
        steps_per_epoch: steps in one epoch, to report the global step.
        log_path: JSON-lines file to append evaluations to (None: do not write).
    """

    def __init__(self, images: np.ndarray, factors: np.ndarray, steps_per_epoch: int, log_path: str | None = None):
        super().__init__()
        self.images = images
        self.factors = factors
        self.steps_per_epoch = steps_per_epoch
        self.log_path = log_path
        self.last = None

    def on_epoch_end(self, epoch, logs=None):
        start = time.time()
        scores = evaluate_model(self.model, self.images, self.factors)
        step = (epoch + 1) * self.steps_per_epoch
        self.last = {"step": step, **scores}
        if logs is not None:
            for key in ("infom", "infoe", "infoc", "psnr"):
                if key in scores:
                    logs[f"eval_{key}"] = scores[key]
        print(
            f"\n[eval step {step}] {format_scores(scores)}  ({time.time() - start:.1f} s, "
            f"{len(self.images)} held-out samples, {scores['latents']} latents)",
            flush=True,
        )
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(self.last) + "\n")

    def truncate_log(self, step: int) -> None:
        """Drops logged evaluations after `step` (a resumed run redoes them from its backup at `step`)."""
        if not self.log_path or not os.path.exists(self.log_path):
            return
        with open(self.log_path, encoding="utf-8") as handle:
            lines = [line for line in handle if line.strip()]
        kept = [line for line in lines if json.loads(line)["step"] <= step]
        if len(kept) != len(lines):
            write_text_atomic(self.log_path, "".join(kept))


class GANSnapshots(keras.callbacks.Callback):
    """Writes an InfoGAN's sample grid and latent traversals at the end of every epoch.

    The latents are fixed at the start (the same codes, or the same continuous values, every time), so
    successive grids show training progress on the same samples. QLInfoGAN keeps the codes and decodes
    them with the current codebook. PNGs go to `<output_dir>/images/step_<step>_{samples,traversals}.png`
    and `<output_dir>/{samples,traversals}.png` (the latest); with `log_dir`, also to TensorBoard's image
    tab (`samples`, `traversals`) in `<log_dir>/images`.

    Args:
        output_dir: run folder.
        steps_per_epoch: steps in one epoch, to report the global step.
        num_samples: images in the sample grid (a square-ish grid).
        seed: seed of the fixed latents.
        log_dir: TensorBoard folder, or None.
    """

    def __init__(self, output_dir: str, steps_per_epoch: int, num_samples: int = 64, seed: int = 0, log_dir=None):
        super().__init__()
        self.output_dir = output_dir
        self.steps_per_epoch = steps_per_epoch
        self.num_samples = num_samples
        self.seed = seed
        self.log_dir = log_dir
        self._fixed = None
        self._writer = None

    def _fixed_latents(self):
        if self._fixed is None:
            import tensorflow as tf

            seed = tf.constant([self.seed, 2**31 - 1], tf.int64)  # a stream the training draws never use
            values, codes = self.model.sample_latents(self.num_samples + 1, seed=seed)
            self._fixed = (np.asarray(values), None if codes is None else np.asarray(codes))
        return self._fixed

    def _latents(self):
        values, codes = self._fixed_latents()
        if codes is not None:  # current codebook values of the fixed codes
            values = keras.ops.convert_to_numpy(self.model.quantizer.decode_codes(codes))
        return values

    def write(self, step: int) -> dict:
        """Renders and saves both grids now; returns their paths."""
        from keras_latentquant import plotting

        latents = self._latents()
        samples = self.model.generate(latents[1:])
        columns = int(np.ceil(np.sqrt(len(samples))))
        rows = int(np.ceil(len(samples) / columns))
        padded = np.concatenate([samples, np.zeros((rows * columns - len(samples),) + samples.shape[1:], samples.dtype)])
        grid = padded.reshape((rows, columns) + samples.shape[1:])
        grid_latents, labels = self.model.traversal_latents(latents[0])
        traversals = self.model.generate(grid_latents.reshape(-1, grid_latents.shape[-1]))
        traversals = traversals.reshape(grid_latents.shape[:2] + traversals.shape[1:])
        name = self.model.name
        paths = {}
        folder = os.path.join(self.output_dir, "images")
        for kind, images, extra in (
            ("samples", grid, {"title": f"{name}: samples from the prior, step {step}"}),
            ("traversals", traversals, {
                "row_labels": [f"z{j}" for j in range(len(traversals))], "column_labels": labels,
                "title": f"{name}: traversals, step {step} (rows: latent; columns: value)",
            }),
        ):
            # Rendered once; the latest copy beside the run's other outputs is a file copy.
            history = plotting.save_image_grid(images, os.path.join(folder, f"step_{step:07d}_{kind}.png"), **extra)
            latest = os.path.join(self.output_dir, f"{kind}.png")
            with atomic_path(latest) as temporary:  # never seen half-copied
                shutil.copyfile(history, temporary)
            paths[kind] = latest
        if self.log_dir:
            self._log_images(step, grid, traversals)
        return paths

    def _log_images(self, step, grid, traversals):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "images"))

        def tile(images):  # (rows, columns, H, W, C) -> one (rows*H, columns*W, C) image
            rows, columns, height, width, channels = images.shape
            return images.transpose(0, 2, 1, 3, 4).reshape(rows * height, columns * width, channels)

        with self._writer.as_default():
            tf.summary.image("samples", tile(grid)[None], step=step)
            tf.summary.image("traversals", tile(traversals)[None], step=step)
        self._writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        self.write((epoch + 1) * self.steps_per_epoch)


def _global_step(callback, epoch: int, batch: int) -> int:
    """Steps done after batch `batch` of epoch `epoch`. A resumed run's first `fit` may run a shortened
    epoch (its remaining `params["steps"]` batches), so the epoch's first batch is step
    `epoch * steps_per_epoch + steps_per_epoch - params["steps"] + 1`."""
    steps_this_fit = callback.params.get("steps") or callback.steps_per_epoch
    return epoch * callback.steps_per_epoch + (callback.steps_per_epoch - steps_this_fit) + batch + 1


def _seed_generators(model) -> list:
    """Every `keras.random.SeedGenerator` of the model and its layers, in a fixed order.

    Their states are variables that `save_weights` leaves out (`Layer.save_own_variables` saves trainable
    and non-trainable weights only), so without them a resumed VAE would redraw its first noise again.
    """
    generators, seen = [], set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", ()):
            if id(generator) not in seen:
                seen.add(id(generator))
                generators.append(generator)
    return generators


def _non_finite_weights(model) -> list[str]:
    return [v.path for v in model.weights
            if np.issubdtype(np.dtype(v.dtype), np.floating) and not np.all(np.isfinite(keras.ops.convert_to_numpy(v)))]


class NonFiniteLossError(RuntimeError):
    """Training met a NaN or infinite loss (or weights); the message names the step and the last good backup."""


class TrainingBackup(keras.callbacks.Callback):
    """Backs up the whole training state every `backup_interval` steps and at every epoch end, so that a
    killed run resumes exactly where its last backup left off.

    Keras's `BackupAndRestore` (3.15) restores the epoch number only: with `save_freq=N` it saves mid-epoch
    weights, but a restart replays that epoch from its first batch on top of them, and it restores neither
    the input position, nor the running means of the epoch's metrics, nor `SeedGenerator` states. Each
    backup here is:

    - `step_<step>.weights.h5`: `model.save_weights` (the layers' variables and the optimizer's: moments and
      iteration count, so learning-rate schedules and Adam's bias correction continue);
    - `step_<step>.state.npz`: the `SeedGenerator` states (not saved by `save_weights`) and the metrics'
      accumulators (the epoch's running means, so a resumed epoch reports the same averages);
    - `state.json`, replaced atomically after both files are complete: the step, both file names, the
      epoch logs so far and `train_seconds`, the wall seconds of training up to this backup over every
      process that trained the run (`elapsed_seconds()`; the work between a backup and a kill is redone, and
      counted once). A kill at any moment leaves `state.json` naming a complete backup; older files are
      deleted only after it is replaced.

    The input position is the caller's part: `restore(model)` loads the backup and returns its step, and the
    caller must start the (deterministic) input pipeline at that batch and, when the step is inside an epoch,
    run the rest of that epoch as a `fit` of `steps_per_epoch - step % steps_per_epoch` steps with
    `initial_epoch = step // steps_per_epoch` (`training.run.fit_and_evaluate` does both). The backup is
    kept after training ends, so rerunning a finished run re-evaluates it instead of training again.

    Args:
        backup_dir: folder of the backup (used by nothing else).
        steps_per_epoch: steps of a full epoch.
        backup_interval: steps between backups inside an epoch (None: only at epoch ends).
        check_finite: refuse to back up non-finite weights (raises `NonFiniteLossError`).
    """

    STATE_FILE = "state.json"

    def __init__(self, backup_dir: str, steps_per_epoch: int, backup_interval: int | None = None,
                 check_finite: bool = True):
        super().__init__()
        if backup_interval is not None and (not isinstance(backup_interval, int) or backup_interval < 1):
            raise ValueError(f"backup_interval must be a positive integer or None; got {backup_interval!r}.")
        self.backup_dir = backup_dir
        self.steps_per_epoch = steps_per_epoch
        self.backup_interval = backup_interval
        self.check_finite = check_finite
        self.history: dict[str, list[float]] = {}
        self.last_step = 0  # step of the newest complete backup (0: none)
        self.restored_seconds = 0.0  # training wall seconds of the processes before this one (from the backup)
        self._clock_start = None  # when this process's first fit began
        self._stopped_at = None  # when its last fit ended (None while one runs)
        self._restored = False
        self._pending_metrics = None
        self._epoch = 0

    @property
    def last_path(self) -> str | None:
        """Weights file of the newest complete backup, or None."""
        state = self.read_state()
        return None if state is None else os.path.join(self.backup_dir, state["weights"])

    def read_state(self) -> dict | None:
        """The backup's `state.json` (None: no backup). A Keras `BackupAndRestore` folder (written by earlier
        versions of the trainers: `latest.weights.h5` at an epoch end) reads as a backup at that epoch."""
        path = os.path.join(self.backup_dir, self.STATE_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        legacy = os.path.join(self.backup_dir, "training_metadata.json")
        if os.path.exists(legacy) and os.path.exists(os.path.join(self.backup_dir, "latest.weights.h5")):
            with open(legacy, encoding="utf-8") as handle:
                epoch = json.load(handle)["epoch"]
            return {"step": epoch * self.steps_per_epoch, "weights": "latest.weights.h5", "extra": None, "history": {}}
        return None

    def restore(self, model) -> int:
        """Loads the newest backup into `model` (built and compiled) and returns its step (0: no backup)."""
        self._restored = True
        state = self.read_state()
        if state is None:
            return 0
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)  # its variables must exist to be loaded
        model.load_weights(os.path.join(self.backup_dir, state["weights"]))
        if state.get("extra"):
            with np.load(os.path.join(self.backup_dir, state["extra"])) as extra:
                generators = _seed_generators(model)
                if int(extra["num_seed_generators"]) != len(generators):
                    raise ValueError(
                        f"The backup in {self.backup_dir} holds {int(extra['num_seed_generators'])} random-generator "
                        f"states but the model has {len(generators)}: it was written by a different model. Use "
                        "another --output_dir, or delete that backup folder to train from scratch."
                    )
                for index, generator in enumerate(generators):
                    generator.state.assign(extra[f"seed_{index}"])
                count = int(extra["num_metric_variables"])
                self._pending_metrics = [extra[f"metric_{index}"] for index in range(count)]
        self.history = {key: list(values) for key, values in state.get("history", {}).items()}
        self.last_step = int(state["step"])
        self.restored_seconds = float(state.get("train_seconds", 0.0))  # absent in backups before it was kept
        if self.last_step % self.steps_per_epoch == 0:
            self._pending_metrics = None  # a new epoch starts with reset metrics anyway
        return self.last_step

    def on_train_begin(self, logs=None):
        if not self._restored and self.read_state() is not None:
            raise RuntimeError(
                f"{self.backup_dir} holds a backup but TrainingBackup.restore(model) was not called before fit: "
                "call it and start the input pipeline at the step it returns (see training.run.fit_and_evaluate)."
            )
        self._restored = True
        self._stopped_at = None
        if self._clock_start is None:
            self._clock_start = time.time()

    def elapsed_seconds(self) -> float:
        """Training wall seconds of the run so far: the resumed backup's, plus this process's since its first fit
        began, up to the end of the last fit once one has ended (the value `on_train_end` wrote into the backup,
        so the run's reported time and a later rerun's agree)."""
        if self._clock_start is None:
            return self.restored_seconds
        return self.restored_seconds + (self._stopped_at or time.time()) - self._clock_start

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._pending_metrics is not None:
            # fit resets the metrics as the epoch begins: put back the resumed epoch's running sums.
            variables = self.model.metrics_variables
            if len(variables) != len(self._pending_metrics):
                raise ValueError(
                    f"The backup in {self.backup_dir} holds {len(self._pending_metrics)} metric variables but the "
                    f"model has {len(variables)}: it was written by a different model. Use another --output_dir."
                )
            for variable, value in zip(variables, self._pending_metrics):
                variable.assign(value)
            self._pending_metrics = None

    def on_train_batch_end(self, batch, logs=None):
        step = _global_step(self, self._epoch, batch)
        # The epoch's last step is backed up in on_epoch_end, after its evaluation.
        if self.backup_interval and step % self.backup_interval == 0 and step % self.steps_per_epoch:
            self.save(step)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.save((epoch + 1) * self.steps_per_epoch)

    def on_train_end(self, logs=None):
        # The time the other callbacks took after the last backup (evaluation, checkpoint) counts too: a rerun
        # of the finished run then reports the whole training time.
        self._stopped_at = time.time()
        path = os.path.join(self.backup_dir, self.STATE_FILE)
        if os.path.exists(path):
            state = self.read_state()
            state["train_seconds"] = round(self.elapsed_seconds(), 1)
            write_text_atomic(path, json.dumps(state, indent=1))

    def point_to(self, model_file: str) -> None:
        """Makes the newest backup read its weights from `model_file` (a `.keras` file of the same model at the
        same step, e.g. the run's final `model.keras`) and deletes the backup's own copy: one copy of the
        weights in the run folder, and the backup still restores (`model.load_weights` reads `.keras` files,
        optimizer state included)."""
        state = self.read_state()
        if state is None:
            return
        own = os.path.join(self.backup_dir, state["weights"])
        state["weights"] = os.path.relpath(model_file, self.backup_dir)
        write_text_atomic(os.path.join(self.backup_dir, self.STATE_FILE), json.dumps(state, indent=1))
        if os.path.abspath(own) != os.path.abspath(model_file) and os.path.exists(own):
            os.remove(own)

    def save(self, step: int) -> str:
        """Writes a backup of the model's current state as step `step`; returns the weights path."""
        if self.check_finite:
            bad = _non_finite_weights(self.model)
            if bad:
                raise NonFiniteLossError(non_finite_message(
                    step, f"weights {', '.join(bad[:3])} became non-finite", self, self.model))
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = f"step_{step:09d}.weights.h5"
        extra = f"step_{step:09d}.state.npz"
        self.model.save_weights(os.path.join(self.backup_dir, weights), overwrite=True)
        arrays = {f"seed_{i}": keras.ops.convert_to_numpy(g.state) for i, g in enumerate(_seed_generators(self.model))}
        metric_values = [keras.ops.convert_to_numpy(v) for v in self.model.metrics_variables]
        arrays.update({f"metric_{i}": value for i, value in enumerate(metric_values)})
        with open(os.path.join(self.backup_dir, extra), "wb") as handle:
            np.savez(handle, num_seed_generators=len(arrays) - len(metric_values),
                     num_metric_variables=len(metric_values), **arrays)
        state = {"step": step, "weights": weights, "extra": extra, "history": self.history,
                 "train_seconds": round(self.elapsed_seconds(), 1)}
        write_text_atomic(os.path.join(self.backup_dir, self.STATE_FILE), json.dumps(state, indent=1))
        self.last_step = step
        for path in glob.glob(os.path.join(self.backup_dir, "*")):  # older backups, half-written files
            if os.path.basename(path) not in (weights, extra, self.STATE_FILE):
                os.remove(path)
        return os.path.join(self.backup_dir, weights)


def non_finite_message(step: int, what: str, backup: TrainingBackup | None, model, checkpoint: str | None = None) -> str:
    """The error a run stopped by a non-finite loss or weights reports: step, last good state, what to try."""
    lines = [f"Training stopped at step {step}: the {what}. Nothing from step {step} on was saved."]
    if backup is not None and backup.last_step:
        lines.append(f"Last good backup: {backup.last_path} (step {backup.last_step}); rerunning the same command "
                     "resumes there, and being deterministic it reaches the same failure unless the cause changes.")
    elif backup is not None:
        lines.append(f"No backup was written yet (backups go to {backup.backup_dir}).")
    if checkpoint:
        lines.append(checkpoint)
    rate = getattr(getattr(model, "optimizer", None), "learning_rate", None)
    rate = "" if rate is None else f" (this run: {float(keras.ops.convert_to_numpy(rate)):g})"
    lines.append(f"What to try: a lower --learning_rate{rate}; check that the input images are finite; "
                 "rerun with the changed flags into a new --output_dir (or delete this one's backup/).")
    return "\n".join(lines)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss by raising `NonFiniteLossError`.

    Keras's `TerminateOnNaN` only sets `stop_training`; `fit` then still ends the epoch, so every
    `on_epoch_end` (backup, evaluation, checkpoint) and `on_train_end` would run on the NaN weights and
    overwrite the last good files. Raising from `on_train_batch_end` ends `fit` before any of them. Put this
    callback first, so no other callback's batch end sees the step either. At each epoch end it also checks
    the weights (an update can turn them NaN while the loss that produced it was still finite).

    Args:
        steps_per_epoch: steps of a full epoch.
        backup: the run's `TrainingBackup`, named in the message as the last good state.
        checkpoint_path: the epoch-end `ModelCheckpoint` file, also named in the message.
    """

    def __init__(self, steps_per_epoch: int, backup: TrainingBackup | None = None, checkpoint_path: str | None = None):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.backup = backup
        self.checkpoint_path = checkpoint_path
        self._epoch = 0
        self._monitored = set()

    def on_train_begin(self, logs=None):
        # A MonitoredMean reports NaN while it holds no value (under JAX's fit the layers' own trackers are
        # never updated: layers.monitoring), which is not a failed loss; an infinite value still is.
        self._monitored = {metric.name for metric in self.model.metrics if isinstance(metric, MonitoredMean)}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _fail(self, step: int, what: str):
        checkpoint = None
        last_epoch_end = (step - 1) // self.steps_per_epoch * self.steps_per_epoch
        if self.checkpoint_path and last_epoch_end and os.path.exists(self.checkpoint_path):
            checkpoint = f"Last good checkpoint: {self.checkpoint_path} (step {last_epoch_end})."
        raise NonFiniteLossError(non_finite_message(step, what, self.backup, self.model, checkpoint))

    def on_train_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            value = float(value)
            if "loss" in key and not math.isfinite(value) and not (math.isnan(value) and key in self._monitored):
                self._fail(_global_step(self, self._epoch, batch), f"loss {key!r} became {value}")

    def on_epoch_end(self, epoch, logs=None):
        bad = _non_finite_weights(self.model)
        if bad:
            self._fail((epoch + 1) * self.steps_per_epoch, f"weights {', '.join(bad[:3])} became non-finite")
