"""Train a QLInfoGAN (default) or an InfoWGAN-GP and score its encoder's latents for disentanglement.

    python trainers/infogan.py --flagfile=trainers/flags/qlinfogan_quick.flags
    python trainers/infogan.py --flagfile=trainers/flags/qlinfogan_quick.flags --model=infowgan_gp \
        --output_dir=runs/infowgan_gp_quick

One step = --critic_steps critic updates (each on --batch_size real and fake images) and one generator
update. Writes sample and traversal grids at every evaluation (PNG and TensorBoard). Rerunning the same
command after an interruption resumes from the last backup in --output_dir.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from keras_latentquant.training.config import InfoGANConfig  # noqa: E402
from trainers.common_flags import define_run_flags, run, run_flag_values  # noqa: E402

FLAGS = flags.FLAGS
define_run_flags("runs/qlinfogan", learning_rate=2e-4, batch_size=64, steps=100_000,
                 batch_help="Global batch of each critic step and of the generator step.")
flags.DEFINE_enum("model", "qlinfogan", ["qlinfogan", "infowgan_gp"],
                  "qlinfogan: quantized latent grid and estimate; infowgan_gp: continuous prior.")
flags.DEFINE_float("weight_decay", None, "Decoupled weight decay of both networks (default: 1e-3 for qlinfogan, "
                   "0 for infowgan_gp).", lower_bound=0.0)
flags.DEFINE_enum("prior", "uniform", ["uniform", "normal"], "infowgan_gp's prior: uniform on [-0.5, 0.5] or N(0, 1).")
flags.DEFINE_integer("critic_steps", 5, "Critic updates per generator update.", lower_bound=1)
flags.DEFINE_float("gradient_penalty_weight", 10.0, "WGAN-GP gradient penalty weight.", lower_bound=0.0)
flags.DEFINE_float("latent_regression_weight", 200.0, "Latent regression (InfoGAN) loss weight.", lower_bound=0.0)
flags.DEFINE_float("beta_1", 0.0, "Adam beta1.", lower_bound=0.0, upper_bound=0.999)
flags.DEFINE_float("beta_2", 0.9, "Adam beta2.", lower_bound=0.0, upper_bound=0.9999)
flags.DEFINE_integer("num_samples_shown", 64, "Images in the sample grid.", lower_bound=1)


def config_from_flags() -> InfoGANConfig:
    names = ("model", "weight_decay", "prior", "critic_steps", "gradient_penalty_weight", "latent_regression_weight",
             "beta_1", "beta_2", "num_samples_shown")
    return InfoGANConfig(**run_flag_values(), **{name: getattr(FLAGS, name) for name in names})


def main(argv):
    from keras_latentquant.training.run_gan import train_gan

    run(argv, config_from_flags(), train_gan)


if __name__ == "__main__":
    app.run(main)
