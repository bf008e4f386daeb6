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

from absl import app, flags  # noqa: E402

from keras_latentquant.training.config import TrainConfig  # noqa: E402
from trainers.common_flags import define_run_flags, run, run_flag_values  # noqa: E402

FLAGS = flags.FLAGS
define_run_flags("runs/qlae", learning_rate=1e-3, batch_size=128, steps=200_000, batch_help="Global batch size.")
flags.DEFINE_string("model", "qlae", "Model: qlae (default), ae, or any registered baseline or ablation "
                    "(see keras_latentquant/models/registry.py; an unknown name lists them).")
flags.DEFINE_float("weight_decay", None, "Decoupled weight decay (default: the reference's for the model "
                   "and dataset, e.g. 0.001 for qlae on MPI3D, else the model's: 0.1 for qlae, 0 for ae).", lower_bound=0.0)
flags.DEFINE_float("beta", None, "VAE family: KL weight (default: the reference's for beta_vae on "
                   "the dataset, else 1 for vae/ard_vae, 4 for beta_vae).", lower_bound=0.0)
flags.DEFINE_float("total_correlation_weight", None, "beta_tcvae: total-correlation weight (default: the "
                   "reference's for the dataset, else 6).", lower_bound=0.0)
flags.DEFINE_float("activity_weight", 0.1, "bioae: activity energy weight.", lower_bound=0.0)
flags.DEFINE_integer("vq_num_codes", 64, "vqvae: codewords in the shared codebook.", lower_bound=2)
flags.DEFINE_integer("vq_vector_dim", 2, "vqvae: size of each quantized latent vector.", lower_bound=1)
flags.DEFINE_bool("vq_ema", False, "vqvae: update the codebook by exponential moving averages.")
flags.DEFINE_float("vq_dead_code_threshold", 0.0, "vqvae: reinitialise codes used less than this (0: off).",
                   lower_bound=0.0)
flags.DEFINE_integer("fsq_levels", 10, "fsq: levels per latent dimension.", lower_bound=2)


def config_from_flags() -> TrainConfig:
    names = ("model", "weight_decay", "beta", "total_correlation_weight", "activity_weight", "vq_num_codes",
             "vq_vector_dim", "vq_ema", "vq_dead_code_threshold", "fsq_levels")
    return TrainConfig(**run_flag_values(), **{name: getattr(FLAGS, name) for name in names})


def main(argv):
    from keras_latentquant.training.run import train

    run(argv, config_from_flags(), train)


if __name__ == "__main__":
    app.run(main)
