"""The trainers' flags, generated from the model catalogue, and their main.

`trainers/qlae.py` and `trainers/infogan.py` (a thin alias whose default model is QLInfoGAN) call
`define_flags`. Run flags (data, architecture, optimisation, evaluation, distribution) are declared here;
every model option of `keras_latentquant.models.catalogue` becomes a flag of the same name, once, whatever
the number of models that have it. An option flag left unset takes the reference's value for the model and
dataset, else the model's default; set for a model that does not have it, it is an error.

Nothing here imports TensorFlow before the flags are checked: the catalogue, the architecture names and
`TrainConfig` are plain data, and the trainers import the package with its imports deferred (see
`keras_latentquant/__init__.py`), so a mistyped flag is answered at once. `main` then imports the rest.
"""

import contextlib
import sys

from absl import app, flags, logging

from keras_latentquant.models.catalogue import MODELS, PRECISIONS, all_options
from keras_latentquant.models.choices import ARCHITECTURES
from keras_latentquant.training.config import STRATEGIES, TrainConfig

FLAGS = flags.FLAGS

# Run flags that are not model options (each is a `TrainConfig` field of the same name).
_RUN_FIELDS = ("output_dir", "dataset", "dataset_config", "data_dir", "model", "architecture", "num_latents",
               "learning_rate", "batch_size", "steps", "seed", "eval_interval", "eval_samples", "backup_interval",
               "strategy", "tpu", "jit_compile", "precision", "verbose", "deterministic",
               "keep_checkpoints")


def define_flags(default_model: str) -> None:
    """Defines the run flags and one flag per model option, with `--model` defaulting to `default_model`."""
    models = ", ".join(f"{name} ({entry.family})" for name, entry in MODELS.items())
    # Names are strings checked by TrainConfig.validate, whose errors suggest the closest valid name.
    flags.DEFINE_string("model", default_model, f"Model: {models}.")
    flags.DEFINE_string("output_dir", None, "Folder for checkpoints, logs, metrics.json and figures "
                        "(default: runs/<model>).")
    flags.DEFINE_string("dataset", "procedural_dsprites", "Registered dataset name.")
    flags.DEFINE_string("dataset_config", None, "Builder config, e.g. sample_50k, full, tiny (default: the dataset's).")
    flags.DEFINE_string("data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).")
    flags.DEFINE_string("architecture", "paper", f"Encoder/decoder ({', '.join(ARCHITECTURES)}): the reference's "
                        "'paper' model, its 'paper_small', or 'fast' (the reference's blocks, CPU-sized widths).")
    flags.DEFINE_integer("num_latents", None, "Latent dimensions (default: twice the number of factors).", lower_bound=1)
    flags.DEFINE_float("learning_rate", None, "Adam learning rate (default: the model's, "
                       f"{_per_model(lambda entry: entry.learning_rate)}).")
    flags.DEFINE_integer("batch_size", None, "Global batch size; a GAN's, of each critic step and of the generator "
                         f"step (default: the model's, {_per_model(lambda entry: entry.batch_size)}).", lower_bound=1)
    flags.DEFINE_integer("steps", None, "Training steps, a multiple of --eval_interval (a GAN: generator steps; "
                         f"default: the model's, {_per_model(lambda entry: entry.steps)}).", lower_bound=1)
    flags.DEFINE_integer("seed", 0, "Seed of initialisation, data order and latent draws.")
    flags.DEFINE_integer("eval_interval", 10_000, "Steps between evaluations.", lower_bound=1)
    flags.DEFINE_integer("eval_samples", 10_000, "Held-out samples per evaluation.", lower_bound=10)
    flags.DEFINE_integer("backup_interval", None, "Steps between backups of the training state (default: "
                         "min(eval_interval, 1000)); rerunning a killed command resumes from the last one.",
                         lower_bound=1)
    flags.DEFINE_string("strategy", "default", f"tf.distribute strategy ({', '.join(STRATEGIES)}; multi_worker "
                        "reads TF_CONFIG).")
    flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
    flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
    flags.DEFINE_string("precision", "float32", f"Keras dtype policy ({', '.join(PRECISIONS)}): float32, mixed_bfloat16 "
                      "(CPUs with AMX / AVX512-BF16, TPUs, recent GPUs) or mixed_float16 (GPUs, losses scaled); "
                      "variables, quantizer distances, norm statistics, logits and losses stay float32.")
    flags.DEFINE_bool("deterministic", True, "Run ops one at a time, so the same command gives bit-identical "
                      "results on this machine whatever its load (--nodeterministic: independent ops run "
                      "concurrently; see the README for the speed cost).")
    flags.DEFINE_bool("keep_checkpoints", False, "Keep checkpoints/latest.keras and the backup's weights when "
                      "training ends (default: one copy of the final weights, model.keras, which the backup "
                      "points to; a finished run can still be continued with a larger --steps).")
    flags.DEFINE_integer("verbose", 1, "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")
    for name, declarations in all_options().items():
        _define_option_flag(name, declarations)


def _per_model(value) -> str:
    """'autoencoders 1e-3, GANs 2e-4'-style text of a per-model default, grouped by value."""
    groups: dict = {}
    for name, entry in MODELS.items():
        groups.setdefault(value(entry), []).append(name)
    if len(groups) == 1:
        return f"{next(iter(groups)):g}"
    return "; ".join(f"{', '.join(names)}: {default:g}" for default, names in groups.items())


def _define_option_flag(name: str, declarations) -> None:
    """One flag for a model option (default None: the run resolves it per model and dataset)."""
    option = declarations[0][1]
    defaults: dict = {}
    for model, declared in declarations:
        defaults.setdefault(repr(declared.default), []).append(model)
    if len(defaults) == 1:
        default_text = f"default {next(iter(defaults))}"
    else:
        default_text = "default " + "; ".join(f"{', '.join(models)}: {value}" for value, models in defaults.items())
    help_text = (f"{option.help} Models: {', '.join(model for model, _ in declarations)} ({default_text}, or the "
                 "reference's value for the dataset where it has one).")
    bounds = {"lower_bound": option.lower} if option.lower is not None else {}
    if option.kind == "bool":
        flags.DEFINE_bool(name, None, help_text)
    elif option.kind == "choice":
        flags.DEFINE_enum(name, None, list(option.choices), help_text)
    elif option.kind in ("ints", "range"):
        flags.DEFINE_list(name, None, help_text)
    elif option.kind == "int":
        flags.DEFINE_integer(name, None, help_text, **bounds)
    else:
        flags.DEFINE_float(name, None, help_text, **bounds)


def _option_value(name: str, kind: str):
    """A list flag's value as numbers (ints, or floats for a range); other flags as they are."""
    value = getattr(FLAGS, name)
    if value is None or kind not in ("ints", "range"):
        return value
    try:
        numbers = [int(item) if kind == "ints" else float(item) for item in value]
    except ValueError:
        raise app.UsageError(f"--{name} must be {'integers' if kind == 'ints' else 'numbers'}; got {value}.") from None
    return numbers[0] if kind == "ints" and len(numbers) == 1 else numbers


def config_from_flags() -> TrainConfig:
    """The flags as a `TrainConfig`: run fields, and the option flags that were set."""
    options = {}
    for name, declarations in all_options().items():
        value = _option_value(name, declarations[0][1].kind)
        if value is not None:
            options[name] = value
    return TrainConfig(options=options, **{name: getattr(FLAGS, name) for name in _RUN_FIELDS})


def main(argv) -> None:
    """A trainer's main: validates the flags (bad values are usage errors) and trains."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments (flags need --): {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # TFDS reports every file it opens at INFO
    config = config_from_flags()
    try:
        config.validate()
    except ValueError as error:
        # The message names the flag, the value and what is valid; the whole usage text would bury it.
        sys.exit(f"error: {error}\n(--helpshort lists the flags, --helpfull every model option)")
    from keras_latentquant.folder_lock import FolderInUseError, folder_lock
    from keras_latentquant.model_files import exit_unless_data_prepared

    exit_unless_data_prepared(config.dataset, config.data_dir)  # a missing TFDS dataset: said in a second
    config = config.resolved()
    # The output folder's lock before TensorFlow starts, so a second command into a folder in use stops in a
    # second (`train` takes it again, held once). Multi-worker runs lock each worker's own folder in `train`.
    early_lock = (folder_lock(config.output_dir, f"training {config.model}") if config.strategy != "multi_worker"
                  else contextlib.nullcontext())
    try:
        with early_lock:
            import keras_latentquant

            keras_latentquant.import_all()  # TensorFlow (quietly), the layers and the models, now the flags are good
            from keras_latentquant.datasets import DATA_ERRORS
            from keras_latentquant.model_files import RunConfigMismatchError
            from keras_latentquant.training.callbacks import NonFiniteLossError
            from keras_latentquant.training.run import train

            try:
                train(config)
            except (*DATA_ERRORS, RunConfigMismatchError, NonFiniteLossError) as error:
                # A user's data or output-folder problem, not a bug: the message says what is wrong and the fix.
                sys.exit(f"error: {error}")
    except FolderInUseError as error:
        sys.exit(f"error: {error}")
