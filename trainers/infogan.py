"""Train a QLInfoGAN (default) or an InfoWGAN-GP: `trainers/qlae.py` with `--model=qlinfogan` as default.

    python trainers/infogan.py --flagfile=trainers/flags/qlinfogan_quick.flags
    python trainers/infogan.py --flagfile=trainers/flags/infowgan_gp_quick.flags

One step = --critic_steps critic updates (each on --batch_size real and fake images) and one generator
update. Writes sample and traversal grids at every evaluation (PNG and TensorBoard). Rerunning the same
command after an interruption resumes from the last backup in --output_dir.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The package's imports deferred (keras_latentquant/__init__.py): the flags are checked before TensorFlow starts.
# Removed again once imported, so the processes this one starts import the package normally.
os.environ["KERAS_LATENTQUANT_DEFER_IMPORTS"] = "1"

from absl import app  # noqa: E402

from trainers.common_flags import define_flags, main  # noqa: E402

os.environ.pop("KERAS_LATENTQUANT_DEFER_IMPORTS", None)

define_flags(default_model="qlinfogan")

if __name__ == "__main__":
    app.run(main)
