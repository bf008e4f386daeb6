"""Evaluate a trained model's latents against ground-truth factors: InfoMEC, DCI, MIG and PSNR.

    python -m keras_latentquant.evaluate --model=runs/quickstart --dataset=procedural_dsprites \\
        --num_samples=10000 --output_dir=runs/quickstart/evaluation

`--model` is a `.keras` file or a training output folder (its `model.keras`, else
`checkpoints/latest.keras`). Images are encoded with a progress bar; QLAE latents are scored as their
integer codes (discrete), AE latents as continuous values; a QLInfoGAN / InfoWGAN-GP run
(`trainers/infogan.py`) on its encoder's latent estimate of the images (codes / continuous values),
without PSNR. Prints a table, writes `evaluation.json` and `nmi_heatmap.png` (sources x latents,
annotated) into `--output_dir`.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from keras_latentquant.metrics.dci import IMPORTANCE_MEASURES  # noqa: E402
from keras_latentquant.model_files import (  # noqa: E402
    define_data_flags, load_model_and_data, resolve_model_path, write_json_atomic,
)

__all__ = ["resolve_model_path", "format_table"]

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras file, or a training output folder holding model.keras.")
define_data_flags()
flags.DEFINE_string("split", None, "TFDS split to score (default: the last --num_samples examples of train, "
                    "the trainer's held-out slice).")
flags.DEFINE_integer("num_samples", 10_000, "Number of samples to encode and score.", lower_bound=10)
flags.DEFINE_string("output_dir", None, "Where to write evaluation.json and nmi_heatmap.png "
                    "(default: <model folder>/evaluation).")
flags.DEFINE_enum("dci_importance", "gbt", list(IMPORTANCE_MEASURES),
                  "DCI importance: gbt (disentanglement_lib's gradient-boosted trees, compiled), "
                  "sklearn_gbt (the same with scikit-learn's classifier, slow), hist_gbt (histogram trees, "
                  "not identical) or linear.")
flags.DEFINE_integer("batch_size", 256, "Encoding batch size.", lower_bound=1)


ROWS = [
    ("InfoM", "infom"), ("InfoE", "infoe"), ("InfoC", "infoc"),
    ("DCI D", "dci_d"), ("DCI C", "dci_c"), ("DCI I", "dci_i"),
    ("MIG", "mig"), ("PSNR (dB)", "psnr"),
]


def format_table(scores: dict) -> str:
    """A two-column text table of the scores."""
    lines = ["metric       value", "-----------  -------"]
    lines += [f"{label:<11}  {scores[key]:7.3f}" for label, key in ROWS if key in scores]
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments (flags need --): {' '.join(argv[1:])}")
    if not FLAGS.model:
        raise app.UsageError("--model is required: a .keras file or a training output folder.")
    logging.set_verbosity(logging.WARNING)
    loaded = load_model_and_data(FLAGS.model, FLAGS.dataset, FLAGS.dataset_config, FLAGS.data_dir,
                                 num_samples=FLAGS.num_samples, split=FLAGS.split, command="evaluate")
    model, model_path, spec, split = loaded.model, loaded.model_path, loaded.spec, loaded.split
    from keras_latentquant import plotting
    from keras_latentquant.training.evaluation import METRICS, evaluate_model, is_autoencoder

    # Every metric; PSNR only for autoencoders (a GAN has no reconstruction).
    metrics = METRICS if is_autoencoder(model) else tuple(m for m in METRICS if m != "psnr")
    scores = evaluate_model(
        model, loaded.images, loaded.factors, metrics=metrics, dci_importance=FLAGS.dci_importance,
        batch_size=FLAGS.batch_size, verbose=1 if sys.stdout.isatty() else 0,  # no bar into a file
    )

    output_dir = FLAGS.output_dir or os.path.join(os.path.dirname(os.path.abspath(model_path)), "evaluation")
    os.makedirs(output_dir, exist_ok=True)
    write_json_atomic(
        os.path.join(output_dir, "evaluation.json"),
        {"model": model_path, "dataset": loaded.data["dataset"], "split": split,
         "factor_names": list(spec.factor_names), **scores},
    )
    plotting.save_nmi_heatmap(
        scores["nmi"], os.path.join(output_dir, "nmi_heatmap.png"), source_names=spec.factor_names,
        active=scores["active"],
        title=f"NMI ({scores['latents']} latents): InfoM {scores['infom']:.2f}, InfoC {scores['infoc']:.2f}",
    )
    print(format_table(scores))
    print(f"wrote {os.path.join(output_dir, 'evaluation.json')} and {os.path.join(output_dir, 'nmi_heatmap.png')}")


if __name__ == "__main__":
    app.run(main)
