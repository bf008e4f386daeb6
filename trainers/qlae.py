"""Train any catalogued model (default QLAE) and score it for disentanglement.

    python trainers/qlae.py --flagfile=trainers/flags/quickstart.flags
    python trainers/qlae.py --flagfile=trainers/flags/quickstart.flags --model=ae --output_dir=runs/ae
    python trainers/qlae.py --flagfile=trainers/flags/qlinfogan_quick.flags

`--model` is any model of `keras_latentquant/models/catalogue.py` (the autoencoders, their ablations,
QLInfoGAN, InfoWGAN-GP); each model option is a flag (`--helpfull` lists them with the models that have
them). Rerunning the same command after an interruption resumes from the last backup in --output_dir.
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

define_flags(default_model="qlae")

if __name__ == "__main__":
    app.run(main)
