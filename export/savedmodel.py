"""Export a trained model's encoder and decoder (or generator) as TF Serving SavedModels.

    python export/savedmodel.py --model=runs/quickstart --output=exported [--version=N]

writes `exported/encoder/<N>/`, `exported/decoder/<N>/` (an InfoGAN run: `encoder` and `generator`) and
`exported/models.config` for `tensorflow_model_server --model_config_file=...`, then prints the tree.
An existing version folder is never overwritten. A run that is still training, or that stopped before its
end (no model.keras), is refused unless --allow_unfinished, which exports its last checkpoint and says at which
step. The export root is locked while it is written (a second export or trainer into it stops at once).
Signatures and the REST format: export/README.md.

The flags, the run folder, the model file and the export root are checked before TensorFlow starts (the
package's imports are deferred, keras_latentquant/__init__.py), so a mistake is answered at once.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The package's imports deferred (keras_latentquant/__init__.py): the flags and files are checked before TensorFlow
# starts. Removed again once imported, so the processes this one starts import the package normally.
os.environ["KERAS_LATENTQUANT_DEFER_IMPORTS"] = "1"

from absl import app, flags, logging  # noqa: E402

from keras_latentquant.folder_lock import FolderInUseError, folder_lock, lock_holder  # noqa: E402
from keras_latentquant.model_files import (  # noqa: E402
    SERVING_MODEL_NAMES,
    check_model_file,
    existing_versions,
    load_model_file,
    resolve_model_path,
    trained_steps,
    unfinished_run,
)

os.environ.pop("KERAS_LATENTQUANT_DEFER_IMPORTS", None)

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras file, or a training output folder holding model.keras.")
flags.DEFINE_string("output", None, "Export root: gets <model name>/<version>/ folders and models.config.")
flags.DEFINE_integer("version", 1, "Version folder number to write (TF Serving serves the highest).", lower_bound=1)
flags.DEFINE_string("serving_base_path", None, "Where the server sees --output, for models.config "
                    "(e.g. /models in a container); default: the absolute --output.")
flags.DEFINE_bool("allow_unfinished", False, "Export a run that is still training or stopped before its end "
                  "(its last checkpoint); refused otherwise.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments (flags need --): {' '.join(argv[1:])}")
    if not FLAGS.model:
        raise app.UsageError("--model is required: a .keras file or a training output folder.")
    if not FLAGS.output:
        raise app.UsageError("--output is required: the folder to write the SavedModels into.")
    logging.set_verbosity(logging.WARNING)
    unfinished = unfinished_run(FLAGS.model)
    try:
        model_path = resolve_model_path(FLAGS.model)
    except (FileNotFoundError, ValueError) as error:
        if unfinished:  # a run too young to have a checkpoint
            sys.exit(f"error: Run {FLAGS.model!r} is unfinished: {unfinished}; it has no checkpoint to export yet "
                     "(one is written at every evaluation).")
        raise app.UsageError(str(error)) from None
    if unfinished and not FLAGS.allow_unfinished:
        sys.exit(
            f"error: Run {FLAGS.model!r} is unfinished: {unfinished}. Wait for it to finish (or rerun its training "
            f"command to complete it), or pass --allow_unfinished to export {model_path}."
        )

    try:
        check_model_file(model_path)  # load_model_file checks again
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    # Checked before the (slow) model load too; export_models checks again for the exact names.
    existing = existing_versions(FLAGS.output, FLAGS.version, SERVING_MODEL_NAMES)
    if existing:
        raise app.UsageError(
            f"Version {FLAGS.version} exists already: {', '.join(existing)}. Pass --version with a new number "
            "(TF Serving serves the highest) or remove it."
        )
    holder = lock_holder(FLAGS.output)  # taken when the export is written; a busy root stops us before the load
    if holder is not None:
        raise app.UsageError(str(FolderInUseError(FLAGS.output, f"exporting {model_path}", holder)))

    import keras_latentquant

    keras_latentquant.import_all()  # TensorFlow (quietly) and every custom object a saved model refers to
    from keras_latentquant.export import export_models, format_tree

    try:
        model = load_model_file(model_path)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    steps = trained_steps(model)
    at_step = f"at step {steps}" if steps is not None else "at an unknown step"
    if unfinished:
        print(f"warning: exporting an unfinished run ({unfinished}): {model_path}, {at_step}.", flush=True)
    try:
        with folder_lock(FLAGS.output, f"exporting {model_path}"):
            written = export_models(model, FLAGS.output, FLAGS.version, serving_base_path=FLAGS.serving_base_path)
    except (FileExistsError, ValueError, FolderInUseError) as error:
        raise app.UsageError(str(error)) from None
    print(f"exported {model_path} ({at_step}; {', '.join(written)}) as version {FLAGS.version}:")
    print(format_tree(FLAGS.output))


if __name__ == "__main__":
    app.run(main)
