"""`python -m keras_latentquant.explore --model=RUN_DIR_OR_.keras`: serves the latent explorer on 127.0.0.1.

The page shows one slider per latent (snapping to each latent's codebook values for a quantized model, over
the encoded samples' range for a continuous one), the decoded image following every move, a "random sample"
and a "reset to a dataset image" button, the model's NMI heatmap with each latent's best-matching factor named
by its slider, and the traversal strip of the latent under the pointer. GANs work through their generator.

The dataset images and the evaluation come from the run: its dataset (config.json), the last
`--num_samples` examples of its train split (the trainer's held-out slice), and the NMI of
`evaluation/evaluation.json` (the evaluation command's) or else of `metrics.json` (the trainer's last
evaluation). Binds to 127.0.0.1 unless `--host` says otherwise.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from keras_latentquant.model_files import (  # noqa: E402
    define_data_flags, exit_unless_data_prepared, resolve_data_settings, resolve_model_path,
)

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras file, a training output folder holding model.keras, or a folder "
                    "that export/savedmodel.py wrote (encoder/N/, decoder/N/).")
flags.DEFINE_string("host", "127.0.0.1", "Interface to listen on (127.0.0.1: this machine only).")
flags.DEFINE_integer("port", 8600, "Port to listen on.", lower_bound=0, upper_bound=65535)
flags.DEFINE_string("serving_url", None, "A TF Serving REST address (http://host:8501) serving the exported "
                    "decoder; the page's predictions then come from it.")
flags.DEFINE_integer("num_samples", 16, "Dataset images offered by 'reset to a dataset image' (0: none).",
                     lower_bound=0)
define_data_flags()  # of the sample images


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments (flags need --): {' '.join(argv[1:])}")
    if not FLAGS.model:
        raise app.UsageError("--model is required: a .keras file, a training output folder or an export folder.")
    exported = _is_export(FLAGS.model)
    if exported:
        model_path = FLAGS.model
    else:
        try:
            model_path = resolve_model_path(FLAGS.model)
        except (FileNotFoundError, ValueError) as error:
            raise app.UsageError(str(error)) from None
    data = resolve_data_settings(model_path, FLAGS.dataset, FLAGS.dataset_config, FLAGS.data_dir)
    if FLAGS.num_samples:
        exit_unless_data_prepared(data["dataset"], data["data_dir"])
    logging.set_verbosity(logging.WARNING)  # TFDS's reading notes
    import keras_latentquant

    keras_latentquant.import_all()
    from keras_latentquant.datasets import DATA_ERRORS, get_dataset_spec
    from keras_latentquant.datasets.pipeline import load_arrays
    from keras_latentquant.explore.server import ExplorerModel, create_app, find_evaluation
    from keras_latentquant.model_files import load_model_file

    try:
        if exported:
            explorer = ExplorerModel.from_export(model_path)
        else:
            model = load_model_file(model_path)
            explorer = ExplorerModel.from_keras(model)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    images = None
    spec = get_dataset_spec(data["dataset"])
    if FLAGS.num_samples and list(spec.image_shape) != explorer.image_shape:
        print(f"no dataset images: {data['dataset']} has images of shape {tuple(spec.image_shape)}, the model "
              f"{tuple(explorer.image_shape)} (pass --dataset)", flush=True)
    elif FLAGS.num_samples:
        try:
            images, _ = load_arrays(data["dataset"], data["dataset_config"], split=f"train[-{FLAGS.num_samples}:]",
                                    data_dir=data["data_dir"], max_examples=FLAGS.num_samples)
        except DATA_ERRORS as error:
            sys.exit(f"error: {error}")
    nmi, factor_names = find_evaluation(os.path.join(model_path, "model.keras") if exported else model_path)
    explorer.attach(images=images, nmi=nmi, factor_names=factor_names)
    print(f"latent explorer for {model_path}: {explorer.num_latents} latents ({explorer.kind}), "
          f"{0 if images is None else len(images)} dataset images from {data['dataset']}; "
          f"open http://{FLAGS.host}:{FLAGS.port}/ (Ctrl-C stops)", flush=True)
    create_app(explorer, serving_url=FLAGS.serving_url).run(host=FLAGS.host, port=FLAGS.port, threaded=True)


def _is_export(path: str) -> bool:
    """Whether `path` is a folder that export/savedmodel.py wrote (numbered versions under encoder/)."""
    encoder = os.path.join(path, "encoder")
    return os.path.isdir(encoder) and any(entry.isdigit() for entry in os.listdir(encoder))


if __name__ == "__main__":
    app.run(main)
