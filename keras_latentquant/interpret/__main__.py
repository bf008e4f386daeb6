"""Interpret a trained model's latent space with a space-filling curve (SFVQ, paper.md section 7).

    python -m keras_latentquant.interpret --model=runs/quickstart --dataset=procedural_dsprites \\
        --num_samples=10000 --num_points=32 --output_dir=runs/quickstart/interpretation

`--model` is a `.keras` file or a training output folder (its `model.keras`, else
`checkpoints/latest.keras`), an autoencoder or a QLInfoGAN / InfoWGAN-GP. The last `--num_samples`
training examples (the trainer's held-out slice) are encoded with a progress bar (QLAE: the encoder's
continuous outputs, before the quantizer; InfoGAN: the encoder's latent estimate), a curve of
`--num_points` corner points is fitted to them (growing from `--initial_points`), and the command
prints a table (errors of the curve, of k-means with as many codewords, and of the corner points alone;
NMI between position and each factor) and writes into `--output_dir`: `curve_strip.png` (images
decoded at evenly spaced positions), `factors_along_curve.png` (each factor against position) and
`curve.json` (all numbers, the corner points and the standardization).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging

from keras_latentquant.model_files import define_data_flags, load_model_and_data

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras file, or a training output folder holding model.keras.")
define_data_flags()
flags.DEFINE_integer("num_samples", 10_000, "Encode the last this many training examples.", lower_bound=2)
flags.DEFINE_integer("num_points", 32, "Corner points of the final curve (initial_points * 2^m).", lower_bound=2)
flags.DEFINE_integer("initial_points", 4, "Corner points at the start; doubled up to --num_points.", lower_bound=2)
flags.DEFINE_integer("epochs", 40, "Passes over the latents while fitting (at least 1 + number of doublings).",
                     lower_bound=1)
flags.DEFINE_integer("batch_size", 128, "Fitting batch size.", lower_bound=1)
flags.DEFINE_float("learning_rate", 0.01, "Adam learning rate of the fit (standardized latent units).")
flags.DEFINE_integer("num_bins", None, "Curve position bins for the factor plots and NMI "
                     "(default: one per segment, num_points - 1).", lower_bound=1)
flags.DEFINE_integer("num_images", 16, "Images decoded along the curve.", lower_bound=2)
flags.DEFINE_integer("encode_batch_size", 256, "Encoding and decoding batch size.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the fit (shuffling, NSVQ noise) and of k-means.")
flags.DEFINE_string("output_dir", None, "Where to write the figures and curve.json "
                    "(default: <model folder>/interpretation).")
flags.DEFINE_integer("verbose", 1, "1: progress bars; 0: only the table.", lower_bound=0, upper_bound=1)


def _check_encoder(model, model_path):
    if not hasattr(model, "encode_images") and "encoder" not in {layer.name for layer in model.layers}:
        raise app.UsageError(
            f"{model_path} holds {type(model).__name__} {model.name!r}, neither an autoencoder with an "
            "'encoder' sub-model nor an InfoGAN (keras_latentquant.models)."
        )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments (flags need --): {' '.join(argv[1:])}")
    if not FLAGS.model:
        raise app.UsageError("--model is required: a .keras file or a training output folder.")
    logging.set_verbosity(logging.WARNING)
    ratio = FLAGS.num_points // FLAGS.initial_points
    if FLAGS.num_points % FLAGS.initial_points or ratio < 1 or ratio & (ratio - 1):
        raise app.UsageError(
            f"--num_points must be --initial_points times a power of two (the curve grows by doubling); got "
            f"{FLAGS.num_points} and {FLAGS.initial_points}."
        )
    if FLAGS.epochs < ratio.bit_length():
        raise app.UsageError(
            f"--epochs must be at least {ratio.bit_length()} (one per curve size, {FLAGS.initial_points} to "
            f"{FLAGS.num_points} corner points); got {FLAGS.epochs}."
        )
    if FLAGS.num_samples < FLAGS.num_points:
        raise app.UsageError(
            f"--num_samples={FLAGS.num_samples} is fewer than --num_points={FLAGS.num_points}; a curve needs "
            "more samples than corner points (thousands, for a meaningful fit)."
        )

    loaded = load_model_and_data(FLAGS.model, FLAGS.dataset, FLAGS.dataset_config, FLAGS.data_dir,
                                 num_samples=FLAGS.num_samples, command="interpret", check_model=_check_encoder)
    model, model_path, data, spec, split, images = (
        loaded.model, loaded.model_path, loaded.data, loaded.spec, loaded.split, loaded.images)
    from keras_latentquant.interpret.command import OUTPUT_FILES, format_table, interpret_model

    if len(images) < FLAGS.num_points:
        raise app.UsageError(
            f"{data['dataset']} split {split} has only {len(images)} examples, fewer than --num_points="
            f"{FLAGS.num_points}."
        )

    # The run folder when --model names one (also for its checkpoints/latest.keras), else the file's folder.
    run_dir = FLAGS.model if os.path.isdir(FLAGS.model) else os.path.dirname(os.path.abspath(model_path))
    output_dir = FLAGS.output_dir or os.path.join(run_dir, "interpretation")
    summary = interpret_model(
        model, images, loaded.factors, output_dir, factor_names=spec.factor_names, num_points=FLAGS.num_points,
        initial_points=FLAGS.initial_points, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate, num_bins=FLAGS.num_bins, num_images=FLAGS.num_images,
        seed=FLAGS.seed, encode_batch_size=FLAGS.encode_batch_size, verbose=FLAGS.verbose,
        metadata={"model": model_path, "dataset": data["dataset"], "dataset_config": data["dataset_config"],
                  "split": split, "factor_names": list(spec.factor_names)},
    )
    print(format_table(summary))
    print("wrote " + ", ".join(os.path.join(output_dir, name) for name in OUTPUT_FILES))


if __name__ == "__main__":
    app.run(main)
