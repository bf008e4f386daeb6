"""Flags every trainer shares (data, architecture, optimisation, evaluation, distribution), and its main.

`trainers/qlae.py` and `trainers/infogan.py` define these through `define_run_flags` with their own
defaults, then add their model's flags.
"""

import sys

from absl import app, flags, logging

from keras_latentquant.training.config import ARCHITECTURES, STRATEGIES

FLAGS = flags.FLAGS


def define_run_flags(output_dir: str, learning_rate: float, batch_size: int, steps: int, batch_help: str) -> None:
    """Defines the shared flags with a trainer's defaults."""
    flags.DEFINE_string("output_dir", output_dir, "Folder for checkpoints, logs, metrics.json and figures.")
    flags.DEFINE_string("dataset", "procedural_dsprites", "Registered dataset name.")
    flags.DEFINE_string("dataset_config", None, "Builder config, e.g. sample_50k, full, tiny (default: the dataset's).")
    flags.DEFINE_string("data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).")
    flags.DEFINE_string("architecture", "paper", f"Encoder/decoder, one of {', '.join(ARCHITECTURES)}: the reference's "
                        "'paper' model, its 'paper_small', or 'fast' (the reference's blocks, CPU-sized widths).")
    flags.DEFINE_integer("num_latents", None, "Latent dimensions (default: twice the number of factors).", lower_bound=1)
    flags.DEFINE_list("num_values", ["10"], "Codebook values per latent: one int, or one per latent (comma list).")
    flags.DEFINE_float("quantization_weight", None, "Weight of the codebook loss (default: the reference's for the "
                       "dataset, e.g. 0.001 on dSprites, else 0.01).", lower_bound=0.0)
    flags.DEFINE_float("commitment_weight", None, "Weight of the commitment loss (default: the reference's for the "
                       "dataset, e.g. 0.001 on dSprites, else 0.01).", lower_bound=0.0)
    flags.DEFINE_float("learning_rate", learning_rate, "Adam learning rate.")
    flags.DEFINE_integer("batch_size", batch_size, batch_help, lower_bound=1)
    flags.DEFINE_integer("steps", steps, "Training steps (a multiple of --eval_interval).", lower_bound=1)
    flags.DEFINE_integer("seed", 0, "Seed of initialisation, data order and latent draws.")
    flags.DEFINE_integer("eval_interval", 10_000, "Steps between evaluations.", lower_bound=1)
    flags.DEFINE_integer("eval_samples", 10_000, "Held-out samples per evaluation.", lower_bound=10)
    flags.DEFINE_integer("backup_interval", None, "Steps between backups of the training state (default: "
                         "min(eval_interval, 1000)); rerunning a killed command resumes from the last one.",
                         lower_bound=1)
    flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy (multi_worker reads TF_CONFIG).")
    flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
    flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
    flags.DEFINE_integer("verbose", 1, "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")


def num_values_flag():
    """--num_values as an int, or a list with one int per latent."""
    try:
        num_values = [int(v) for v in FLAGS.num_values]
    except ValueError:
        raise app.UsageError(f"--num_values must be integers; got {FLAGS.num_values}.") from None
    return num_values[0] if len(num_values) == 1 else num_values


def run_flag_values() -> dict:
    """The shared flags' values, as config keyword arguments."""
    names = ("output_dir", "dataset", "dataset_config", "data_dir", "architecture", "num_latents",
             "quantization_weight", "commitment_weight", "learning_rate", "batch_size", "steps", "seed",
             "eval_interval", "eval_samples", "backup_interval", "strategy", "tpu", "jit_compile", "verbose")
    return {"num_values": num_values_flag(), **{name: getattr(FLAGS, name) for name in names}}


def run(argv, config, train) -> None:
    """A trainer's main: validates the config (bad values are usage errors) and trains."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments (flags need --): {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # TFDS reports every file it opens at INFO
    try:
        config.validate()
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    from keras_latentquant.datasets import DATA_ERRORS
    from keras_latentquant.model_files import RunConfigMismatchError
    from keras_latentquant.training.callbacks import NonFiniteLossError

    try:
        train(config)
    except (*DATA_ERRORS, RunConfigMismatchError, NonFiniteLossError) as error:
        # A user's data or output-folder problem, not a bug: the message says what is wrong and the fix.
        sys.exit(f"error: {error}")
