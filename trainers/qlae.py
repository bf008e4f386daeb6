"""Train a QLAE (or any registered baseline or ablation: --model=ae, vae, beta_vae, beta_tcvae, ard_vae,
bioae, vqvae, fsq, qlae_no_weight_decay, ae_weight_decay) and score it for disentanglement.

    python trainers/qlae.py --flagfile=trainers/flags/quickstart.flags
    python trainers/qlae.py --flagfile=trainers/flags/quickstart.flags --model=ae --output_dir=runs/ae

Rerunning the same command after an interruption resumes from the last backup in --output_dir.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from keras_latentquant.training.config import ARCHITECTURES, STRATEGIES, TrainConfig  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/qlae", "Folder for checkpoints, logs, metrics.json and figures.")
flags.DEFINE_string("dataset", "procedural_dsprites", "Registered dataset name.")
flags.DEFINE_string("dataset_config", None, "Builder config, e.g. sample_50k, full, tiny (default: the dataset's).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).")
flags.DEFINE_string("model", "qlae", "Model: qlae (default), ae, or any registered baseline or ablation "
                    "(see keras_latentquant/models/registry.py; an unknown name lists them).")
flags.DEFINE_enum("architecture", "paper", ARCHITECTURES, "Encoder/decoder: the paper's, or a small fast one.")
flags.DEFINE_integer("num_latents", None, "Latent dimensions (default: twice the number of factors).", lower_bound=1)
flags.DEFINE_list("num_values", ["10"], "Codebook values per latent: one int, or one per latent (comma list).")
flags.DEFINE_float("quantization_weight", 0.01, "Weight of the codebook loss.", lower_bound=0.0)
flags.DEFINE_float("commitment_weight", 0.01, "Weight of the commitment loss.", lower_bound=0.0)
flags.DEFINE_float("weight_decay", None, "Decoupled weight decay (default: 0.1 for qlae, 0 for ae).", lower_bound=0.0)
flags.DEFINE_float("beta", None, "VAE family: KL weight (default 1 for vae/ard_vae, 4 for beta_vae).", lower_bound=0.0)
flags.DEFINE_float("total_correlation_weight", 6.0, "beta_tcvae: total-correlation weight.", lower_bound=0.0)
flags.DEFINE_float("activity_weight", 0.1, "bioae: activity energy weight.", lower_bound=0.0)
flags.DEFINE_integer("vq_num_codes", 64, "vqvae: codewords in the shared codebook.", lower_bound=2)
flags.DEFINE_integer("vq_vector_dim", 2, "vqvae: size of each quantized latent vector.", lower_bound=1)
flags.DEFINE_bool("vq_ema", False, "vqvae: update the codebook by exponential moving averages.")
flags.DEFINE_float("vq_dead_code_threshold", 0.0, "vqvae: reinitialise codes used less than this (0: off).",
                   lower_bound=0.0)
flags.DEFINE_integer("fsq_levels", 10, "fsq: levels per latent dimension.", lower_bound=2)
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("batch_size", 128, "Global batch size.", lower_bound=1)
flags.DEFINE_integer("steps", 200_000, "Training steps (a multiple of --eval_interval).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of initialisation and data order.")
flags.DEFINE_integer("eval_interval", 10_000, "Steps between evaluations.", lower_bound=1)
flags.DEFINE_integer("eval_samples", 10_000, "Held-out samples per evaluation.", lower_bound=10)
flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy (multi_worker reads TF_CONFIG).")
flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_integer("verbose", 1, "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")


def config_from_flags() -> TrainConfig:
    try:
        num_values = [int(v) for v in FLAGS.num_values]
    except ValueError:
        raise app.UsageError(f"--num_values must be integers; got {FLAGS.num_values}.") from None
    return TrainConfig(
        output_dir=FLAGS.output_dir,
        dataset=FLAGS.dataset,
        dataset_config=FLAGS.dataset_config,
        data_dir=FLAGS.data_dir,
        model=FLAGS.model,
        architecture=FLAGS.architecture,
        num_latents=FLAGS.num_latents,
        num_values=num_values[0] if len(num_values) == 1 else num_values,
        quantization_weight=FLAGS.quantization_weight,
        commitment_weight=FLAGS.commitment_weight,
        weight_decay=FLAGS.weight_decay,
        beta=FLAGS.beta,
        total_correlation_weight=FLAGS.total_correlation_weight,
        activity_weight=FLAGS.activity_weight,
        vq_num_codes=FLAGS.vq_num_codes,
        vq_vector_dim=FLAGS.vq_vector_dim,
        vq_ema=FLAGS.vq_ema,
        vq_dead_code_threshold=FLAGS.vq_dead_code_threshold,
        fsq_levels=FLAGS.fsq_levels,
        learning_rate=FLAGS.learning_rate,
        batch_size=FLAGS.batch_size,
        steps=FLAGS.steps,
        seed=FLAGS.seed,
        eval_interval=FLAGS.eval_interval,
        eval_samples=FLAGS.eval_samples,
        strategy=FLAGS.strategy,
        tpu=FLAGS.tpu,
        jit_compile=FLAGS.jit_compile,
        verbose=FLAGS.verbose,
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments (flags need --): {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # TFDS reports every file it opens at INFO
    config = config_from_flags()
    try:
        config.validate()
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    from keras_latentquant.datasets.real import ManualFileFormatError, ManualFileNotFoundError
    from keras_latentquant.training.run import train

    try:
        train(config)
    except (ManualFileNotFoundError, ManualFileFormatError) as error:
        # A user's data problem, not a bug: the message says what is expected and where.
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    app.run(main)
