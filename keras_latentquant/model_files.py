"""Model and run files: where a command finds a trained model (a `.keras` file or a training output
folder), how it loads one with a clear error, how final files are written without ever being seen
half-written, whether an existing run folder may be resumed with a new config, and which SavedModel version
folders an export root holds already.

Nothing here imports TensorFlow or Keras except `load_model_file` and `load_model_and_data`, so the
commands check a user's files before TensorFlow starts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import zipfile
from typing import Callable

__all__ = [
    "resolve_model_path",
    "unfinished_run",
    "trained_steps",
    "apply_default_permissions",
    "atomic_path",
    "write_text_atomic",
    "write_json_atomic",
    "check_model_file",
    "load_model_file",
    "SERVING_MODEL_NAMES",
    "existing_versions",
    "check_resumable_run",
    "RESUME_MAY_DIFFER",
    "RunConfigMismatchError",
    "RETIRED_MODEL_FORMAT_MESSAGE",
    "ModelAndData",
    "load_model_and_data",
    "model_image_shape",
]

#: Why files of model format 1 (keras-latentquant 0.1) cannot be read into today's models.
RETIRED_MODEL_FORMAT_MESSAGE = (
    "it was written by keras-latentquant 0.1 (model format 1), whose models computed another function than "
    "today's (format 2, the paper's reference implementation): the decoder's style block was "
    "IN(x) * (1 + s) + b with signed s and b followed by a leaky ReLU (now: leaky ReLU, then IN(x) * s + b with "
    "[s, b] = ReLU(Dense(w))), the 'small' architecture is retired (now 'fast' or 'paper_small'), "
    "initialisation, instance-norm epsilon, the logits bias and the optimizer changed. Its weights do not fit "
    "the new models and loading them partly would give a silently different model. Retrain with the current "
    "version (the same flags, with --architecture=fast where the run used small), or read the files with "
    "keras-latentquant 0.1"
)
# Class names that only format-1 files contain (the retired AdaIN block of every decoder and generator).
_FORMAT_1_CLASS_NAMES = ("AdaptiveInstanceNormalization",)


def resolve_model_path(path: str) -> str:
    """The `.keras` file a `--model` argument names (a file, or a training output folder).

    A folder is searched for `model.keras` (written at the end of training), then
    `checkpoints/latest.keras` (written at every evaluation), as `trainers/qlae.py` and
    `trainers/infogan.py` lay them out.

    Raises:
        FileNotFoundError: naming the path and what was expected there.
        ValueError: for a file that is not a `.keras` file.
    """
    if os.path.isdir(path):
        for candidate in ("model.keras", os.path.join("checkpoints", "latest.keras")):
            if os.path.isfile(os.path.join(path, candidate)):
                return os.path.join(path, candidate)
        raise FileNotFoundError(
            f"No model in folder {path!r}: expected model.keras or checkpoints/latest.keras there "
            "(what trainers/qlae.py and trainers/infogan.py write), or pass the path of a .keras file."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--model {path!r} does not exist; pass a .keras file or a training output folder.")
    if not path.endswith(".keras"):
        raise ValueError(f"--model {path!r} is not a .keras file; pass a .keras file or a training output folder.")
    return path


#: What a command that reads data for a trained model takes from the run's config.json when not told.
DATA_SETTINGS = ("dataset", "dataset_config", "data_dir")


def run_data_settings(model_path: str) -> dict[str, str]:
    """The dataset, dataset config and data directory recorded by the training run a `.keras` file belongs to
    (the `config.json` of its folder, or of the folder above for `checkpoints/latest.keras`); `{}` for a file
    outside a run folder or an unreadable config."""
    folder = os.path.dirname(os.path.abspath(model_path))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, "config.json")
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as handle:
                    config = json.load(handle)
            except (OSError, ValueError):
                return {}
            if not isinstance(config, dict):
                return {}
            return {key: config[key] for key in DATA_SETTINGS if isinstance(config.get(key), str)}
    return {}


def define_data_flags() -> None:
    """Defines --dataset, --dataset_config and --data_dir (absl) for a command that reads data for a trained model;
    `resolve_data_settings` gives their values, the run's where they are not set."""
    from absl import flags

    # The flags belong to the calling command (its --helpshort lists them), not to this module.
    flags.disclaim_key_flags()
    flags.DEFINE_string("dataset", None, "Registered dataset name (default: the training run's, from its config.json "
                        "next to the model; else procedural_dsprites).")
    flags.DEFINE_string("dataset_config", None, "Builder config (default: the run's, when the dataset is the run's; "
                        "else the dataset's).")
    flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the run's, else $TFDS_DATA_DIR or "
                        "~/tensorflow_datasets).")


def resolve_data_settings(model_path: str, dataset: str | None, dataset_config: str | None,
                          data_dir: str | None, default_dataset: str = "procedural_dsprites") -> dict:
    """`{"dataset", "dataset_config", "data_dir", "from_run"}` for a command scoring the model at `model_path`:
    the flags where given; else the training run's (its dataset's config only when the dataset is the run's);
    else `default_dataset` and the dataset's default config. `from_run` names the config.json used, if any."""
    run = run_data_settings(model_path)
    from_run = dataset is None and "dataset" in run
    resolved = {
        "dataset": dataset or run.get("dataset", default_dataset),
        "dataset_config": dataset_config or (run.get("dataset_config") if from_run else None),
        "data_dir": data_dir or run.get("data_dir"),
    }
    resolved["from_run"] = from_run
    return resolved


def exit_unless_data_prepared(dataset: str, data_dir: str | None) -> None:
    """Stops the command (`error: ...`, exit status 1) when `dataset` is a TFDS catalogue dataset with nothing
    prepared in `data_dir`: found without TensorFlow (`registry.check_catalog_prepared`), so in a second."""
    import sys

    from keras_latentquant.datasets.registry import DatasetNotPreparedError, check_catalog_prepared

    try:
        check_catalog_prepared(dataset, data_dir)
    except DatasetNotPreparedError as error:
        sys.exit(f"error: {error}")


def model_image_shape(model) -> tuple:
    """The `(height, width, channels)` a trained model reads: its `image_shape` (autoencoders, InfoGANs), else its
    input shape without the batch axis."""
    if hasattr(model, "image_shape"):
        return tuple(model.image_shape)
    return tuple(model.input_shape[1:])


@dataclasses.dataclass(frozen=True)
class ModelAndData:
    """A trained model and the labelled images a command scores it on (`load_model_and_data`)."""

    model_path: str
    model: object
    data: dict  # resolve_data_settings's: dataset, dataset_config, data_dir, from_run
    spec: object  # the dataset's DatasetSpec
    split: str
    images: object  # uint8 array, (N, height, width, channels)
    factors: object  # int array, (N, number of factors)


def load_model_and_data(model: str, dataset: str | None, dataset_config: str | None, data_dir: str | None, *,
                        num_samples: int, split: str | None = None, command: str = "score",
                        check_model: Callable[[object, str], None] | None = None) -> ModelAndData:
    """The start that the commands scoring a trained model share (`evaluate`, `interpret`): the model at `model`
    (a `.keras` file or a run folder), the data settings (flags, else the run's), and the last `num_samples`
    training examples (or `split`), after checking that the model takes the dataset's images. Prints one line
    saying what was loaded.

    Bad input raises absl's `app.UsageError` naming the problem (`check_model(model, path)` may raise one
    too, right after loading); data that is missing or unreadable stops the command with `error: ...`.
    Imports TensorFlow and every custom object a saved model refers to.
    """
    import sys

    from absl import app

    from keras_latentquant.datasets.registry import get_dataset_spec

    try:
        model_path = resolve_model_path(model)
    except (FileNotFoundError, ValueError) as error:
        raise app.UsageError(str(error)) from None
    data = resolve_data_settings(model_path, dataset, dataset_config, data_dir)
    try:
        spec = get_dataset_spec(data["dataset"])
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    exit_unless_data_prepared(data["dataset"], data["data_dir"])
    import keras_latentquant

    keras_latentquant.import_all()  # TensorFlow (quietly) and every custom object a saved model refers to
    from keras_latentquant.datasets import DATA_ERRORS
    from keras_latentquant.datasets.pipeline import load_arrays

    try:
        loaded = load_model_file(model_path)
    except (FileNotFoundError, ValueError) as error:
        raise app.UsageError(str(error)) from None
    if check_model is not None:
        check_model(loaded, model_path)
    model_shape = model_image_shape(loaded)
    if model_shape != tuple(spec.image_shape):
        raise app.UsageError(
            f"The model takes images of shape {model_shape} but {data['dataset']} has {tuple(spec.image_shape)}; "
            f"{command} it on the dataset it was trained on."
        )
    split = split or f"train[-{num_samples}:]"
    try:
        images, factors = load_arrays(data["dataset"], data["dataset_config"], split=split,
                                      data_dir=data["data_dir"], max_examples=num_samples)
    except DATA_ERRORS as error:
        sys.exit(f"error: {error}")
    source = " (the training run's, from its config.json)" if data["from_run"] else ""
    print(f"model {model_path}; data {data['dataset']}{source} split {split}: {len(images)} samples", flush=True)
    return ModelAndData(model_path, loaded, data, spec, split, images, factors)


def _last_evaluated_step(folder: str) -> int | None:
    try:
        with open(os.path.join(folder, "evaluations.jsonl"), encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        return int(rows[-1]["step"]) if rows else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def unfinished_run(path: str) -> str | None:
    """Why the training output folder `path` does not hold a finished model, or None when it does (or `path` is
    a file, or not a run folder).

    Unfinished: a trainer still holds the folder's lock (`folder_lock`; then even an existing `model.keras` is
    from an earlier end of the run, which is being continued), or there is no `model.keras`, only the
    checkpoint of the last evaluation.
    """
    if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "config.json")):
        return None
    from keras_latentquant.folder_lock import describe_holder, lock_holder

    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as handle:
            target = json.load(handle).get("steps")
    except (OSError, ValueError, AttributeError):
        target = None
    evaluated = _last_evaluated_step(path)
    progress = (f"config.json asks for {target} steps" if target else "the target step is unknown") + (
        f"; the last evaluation and checkpoint were at step {evaluated}" if evaluated is not None else
        "; no evaluation has been written yet")
    holder = lock_holder(path)
    if holder is not None:
        ended = ("its model.keras is from an earlier end of the run, which is being continued"
                 if os.path.exists(os.path.join(path, "model.keras")) else "it has no model.keras yet")
        return f"a trainer is still running in it ({describe_holder(holder)}); {ended}; {progress}"
    if not os.path.exists(os.path.join(path, "model.keras")):
        return f"it has no model.keras (training stopped before the end, or was killed); {progress}"
    return None


def trained_steps(model) -> int | None:
    """Training steps a loaded model has taken: its (generator's) optimizer's step count, None if it has none."""
    optimizer = getattr(model, "generator_optimizer", None) or getattr(model, "optimizer", None)
    iterations = getattr(optimizer, "iterations", None)
    try:
        return int(iterations.numpy()) if iterations is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def apply_default_permissions(path: str) -> None:
    """Gives a file or folder made by `tempfile` (owner-only: 0600 / 0700) the permissions a plain
    `open` / `os.makedirs` would, under the current umask, so other users (a TF Serving container, a
    colleague) can read what a command wrote once it is renamed into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~umask)


@contextlib.contextmanager
def atomic_path(path: str, *, allow_empty: bool = False):
    """Yields a temporary path next to `path` to write a file to; renames it to `path` on success.

    A reader (or a rerun after a crash) sees either the previous file or the complete new one, never half
    a file: the temporary name sits in the same folder (so the rename is atomic on one filesystem), ends
    in the same extension (Keras and matplotlib pick the format from it) and starts with `.` and ends
    `.tmp<ext>` so it cannot be mistaken for an output. The file gets the permissions of a plain `open`
    (`apply_default_permissions`). If the body raises, or leaves the file empty (unless `allow_empty`),
    the temporary file is removed and `path` is left as it was.

    Example:
        with atomic_path(os.path.join(output_dir, "model.keras")) as temporary:
            model.save(temporary)
    """
    folder = os.path.dirname(os.path.abspath(path))
    base, extension = os.path.splitext(os.path.basename(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{extension}", dir=folder)
    os.close(handle)
    try:
        yield temporary
        if not os.path.isfile(temporary) or (not allow_empty and os.path.getsize(temporary) == 0):
            raise RuntimeError(f"Nothing was written to the temporary file for {path!r}; {path!r} is left as it was.")
        apply_default_permissions(temporary)  # mkstemp makes it owner-only
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text_atomic(path: str, text: str) -> None:
    """Writes `text` to `path` (UTF-8) through `atomic_path`: readers see the old file or all of the new one."""
    with atomic_path(path, allow_empty=True) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)


def write_json_atomic(path: str, payload) -> None:
    """Writes `payload` to `path` as JSON with `indent=2`, atomically (`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(payload, indent=2))


def check_model_file(path: str) -> None:
    """The checks of `load_model_file` that need no Keras: a `.keras` archive of today's model format at `path`.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not a `.keras` archive (truncated, corrupt, another format), or was written by
            keras-latentquant 0.1 (model format 1).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file {path!r}; pass a .keras file or a training output folder.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path!r} is not a readable .keras file (a .keras file is a zip archive; this one is truncated, "
            "corrupt or another format). Use checkpoints/latest.keras of the run (kept during training, and after it "
            "with --keep_checkpoints), or retrain to rewrite it."
        )
    if _is_model_format_1(path):
        raise ValueError(f"Cannot load {path!r}: {RETIRED_MODEL_FORMAT_MESSAGE}.")


def load_model_file(path: str):
    """`keras.saving.load_model(path)`, with an error that says what is wrong with the file and what to do.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not a `.keras` archive (truncated, corrupt, another format), or its saved
            weights do not fit the architecture in its config (a checkpoint of another model copied in).
    """
    check_model_file(path)
    import keras

    try:
        return keras.saving.load_model(path)
    except (ValueError, KeyError, OSError, TypeError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"Could not load the model in {path!r}: its saved weights or config do not fit together ({error}). "
            "The file was probably written by another architecture or model, or is corrupt; pass the .keras "
            "file written by the run you mean (its model.keras or checkpoints/latest.keras), or retrain."
        ) from error


def _is_model_format_1(path: str) -> bool:
    """Whether the `.keras` archive at `path` holds a format-1 model (read from its config.json)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = archive.read("config.json").decode("utf-8", errors="replace")
    except (KeyError, OSError, zipfile.BadZipFile):
        return False  # keras.saving.load_model reports what is wrong with it
    return any(f'"{name}"' in config for name in _FORMAT_1_CLASS_NAMES)


#: Every model name an export can write (`keras_latentquant.export`), so a caller can check for an existing
#: version before loading.
SERVING_MODEL_NAMES = ("encoder", "decoder", "generator")


def existing_versions(output_dir: str, version: int, names=SERVING_MODEL_NAMES) -> list[str]:
    """The `output_dir/<name>/<version>` folders that already exist."""
    paths = [os.path.join(output_dir, name, str(version)) for name in names]
    return [path for path in paths if os.path.exists(path)]


class RunConfigMismatchError(ValueError):
    """An output folder holds a run whose saved config differs from the new run's (see `check_resumable_run`)."""


# Config fields that may change when a run is resumed in the same output folder: they change neither the
# model nor the data it sees. `steps` may grow (training continues to the new total) but not shrink.
RESUME_MAY_DIFFER = ("output_dir", "verbose", "strategy", "tpu", "jit_compile", "data_dir", "steps", "backup_interval",
                     "deterministic", "keep_checkpoints")


def _flatten(config: dict) -> dict:
    """`{"options": {"a": 1}}` -> `{"options.a": 1}` (one level), so that differences name the entry."""
    flat = {}
    for name, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{key}": item for key, item in value.items()})
        else:
            flat[name] = value
    return flat


def check_resumable_run(output_dir: str, config: dict, upgrade: Callable[[dict], dict] | None = None) -> bool:
    """Checks that `output_dir` holds no run, or a run this config may resume (BackupAndRestore).

    Compares `output_dir/config.json` with `config` (a dataclass as a dict). Every field must be equal
    except those in `RESUME_MAY_DIFFER`, and `steps` may only grow: resuming with other weights' shapes
    (another architecture, number of latents, model) would load a backup that does not fit, and other
    hyperparameters would mix two experiments in one folder. A nested dict (the model's `options`) is compared
    entry by entry, and each differing entry is named (`options.num_values`).

    Args:
        output_dir: the run folder.
        config: the new run's config as a dict.
        upgrade: turns a saved config of an earlier layout into the current one before comparing
            (`training.config.upgrade_saved_config`).

    Returns:
        True when `output_dir` already holds a run (resumed), False when it holds none.

    Raises:
        RunConfigMismatchError: (a ValueError) naming each differing field (saved value -> new value) and the two fixes: rerun with
            the saved flags to resume, or pass a new --output_dir.
    """
    path = os.path.join(output_dir, "config.json")
    if not os.path.exists(path):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            saved = json.load(handle)
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        raise RunConfigMismatchError(
            f"{path} is unreadable ({error}), so it is unknown whether this run may resume there; pass a new "
            f"--output_dir, or delete {output_dir} to start over."
        ) from None
    if upgrade is not None:
        saved = upgrade(saved)
    new = json.loads(json.dumps(config))
    if saved.get("model_format", 1) != new.get("model_format", 1):
        raise RunConfigMismatchError(
            f"--output_dir {output_dir} holds a run that cannot be resumed: "
            + (RETIRED_MODEL_FORMAT_MESSAGE if saved.get("model_format", 1) == 1
               else f"its model format is {saved.get('model_format')!r}, this version writes {new.get('model_format')!r}")
            + ". Pass a new --output_dir to start a new run."
        )
    # Through JSON so tuples and lists (num_values) compare equal, as they will be saved.
    saved, new = _flatten(saved), _flatten(new)
    differences = []
    for name in sorted(set(saved) | set(new)):
        if name in RESUME_MAY_DIFFER and name != "steps":
            continue
        old_value, new_value = saved.get(name, "<absent>"), new.get(name, "<absent>")
        if name == "steps" and isinstance(old_value, int) and isinstance(new_value, int) and new_value >= old_value:
            continue
        if old_value != new_value:
            differences.append(f"{name}: {old_value!r} -> {new_value!r}")
    if differences:
        raise RunConfigMismatchError(
            f"--output_dir {output_dir} already holds a run with a different config ({'; '.join(differences)}; "
            "saved -> now), so its backup and checkpoints do not belong to this run. To resume that run, rerun "
            "with the flags in its config.json (steps may only grow); to start a new run, pass a new "
            "--output_dir."
        )
    return True
