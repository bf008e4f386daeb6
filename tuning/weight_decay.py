"""Search a model's weight decay (log-uniform on [1e-4, 1]) with KerasTuner, optionally with its
quantizer's loss weights and number of values, and tabulate and plot the trials.

    python tuning/weight_decay.py --flagfile=tuning/flags/quick.flags
    python tuning/weight_decay.py --flagfile=tuning/flags/quick.flags --tuner=bayesian --objective=mix

Writes `results.md`, `results.csv` and `objective_vs_weight_decay.png` into --output_dir (default: the
KerasTuner project folder `<directory>/<project_name>`) and prints the table. With KerasTuner's
environment variables set (KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT) the
process is the chief (it serves the oracle, trains nothing, and writes the results when every trial has
ended) or a worker (it trains trials); see tuning/README.md and tuning/distributed_local.sh.
"""

import contextlib
import os
import shutil
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The package's imports deferred (keras_latentquant/__init__.py): the flags are checked before TensorFlow starts.
# Removed again once imported, so the processes this one starts import the package normally.
os.environ["KERAS_LATENTQUANT_DEFER_IMPORTS"] = "1"

from absl import app, flags, logging  # noqa: E402

from keras_latentquant.model_files import exit_unless_data_prepared  # noqa: E402
from keras_latentquant.models.catalogue import MODELS, PRECISIONS  # noqa: E402
from keras_latentquant.models.choices import ARCHITECTURES  # noqa: E402
from keras_latentquant.training.config import TrainConfig  # noqa: E402
from keras_latentquant.tuning.space import OBJECTIVES, TUNERS, SearchSpace  # noqa: E402

os.environ.pop("KERAS_LATENTQUANT_DEFER_IMPORTS", None)

FLAGS = flags.FLAGS
# The search.
flags.DEFINE_enum("tuner", "random", list(TUNERS), "KerasTuner algorithm: RandomSearch, BayesianOptimization, "
                  "Hyperband (Hyperband ignores --max_trials and sizes its brackets from --evaluations_per_trial).")
flags.DEFINE_integer("max_trials", 6, "Trials of random and bayesian searches.", lower_bound=1)
flags.DEFINE_integer("steps_per_trial", 200, "Training steps of one trial (Hyperband: of its longest trials).",
                     lower_bound=1)
flags.DEFINE_integer("evaluations_per_trial", 1, "Held-out measurements per trial, evenly spaced (fit epochs; "
                     "Hyperband's max_epochs). --steps_per_trial must be a multiple of it.", lower_bound=1)
flags.DEFINE_enum("objective", "infom_infoc", list(OBJECTIVES), "val_reconstruction: held-out per-pixel BCE "
                  "(minimized); infom_infoc: InfoM + InfoC (maximized); mix: InfoM + InfoC - alpha * "
                  "val_reconstruction (maximized).")
flags.DEFINE_float("alpha", 1.0, "Weight of the reconstruction loss in --objective=mix.", lower_bound=0.0)
flags.DEFINE_float("weight_decay_min", 1e-4, "Lower end of the log-uniform weight decay range.")
flags.DEFINE_float("weight_decay_max", 1.0, "Upper end of the log-uniform weight decay range.")
flags.DEFINE_bool("tune_quantization_weight", False, "Also search the codebook loss weight (log-uniform on "
                  "[--loss_weight_min, --loss_weight_max]); otherwise fixed at --quantization_weight.")
flags.DEFINE_bool("tune_commitment_weight", False, "Also search the commitment loss weight (same range); "
                  "otherwise fixed at --commitment_weight.")
flags.DEFINE_float("loss_weight_min", 1e-4, "Lower end of the log-uniform quantizer loss weight range.")
flags.DEFINE_float("loss_weight_max", 1.0, "Upper end of the log-uniform quantizer loss weight range.")
flags.DEFINE_list("num_values_choices", [], "Also search the values per latent among these (e.g. 5,10,20); "
                  "empty: fixed at --num_values.")
flags.DEFINE_string("directory", "runs/tuning", "KerasTuner's folder (shared by chief and workers).")
flags.DEFINE_string("project_name", "weight_decay", "KerasTuner project; trials go in <directory>/<project_name>.")
flags.DEFINE_string("output_dir", None, "Where results.md/.csv and the plot go (default <directory>/<project_name>).")
flags.DEFINE_bool("overwrite", True, "Start the search afresh (--nooverwrite resumes it from --directory).")
# The model, as trainers/qlae.py names them.
# Names are strings checked with the run's config, whose errors suggest the closest valid name.
AUTOENCODERS = [name for name, entry in MODELS.items() if entry.family == "autoencoder"]
flags.DEFINE_string("model", "qlae", f"Catalogued autoencoder: {', '.join(AUTOENCODERS)}.")
flags.DEFINE_string("architecture", "fast", f"Encoder/decoder ({', '.join(ARCHITECTURES)}): paper, paper_small or "
                    "fast (the reference's blocks at CPU-sized widths).")
flags.DEFINE_integer("num_latents", None, "Latent dimensions (default: twice the number of factors).", lower_bound=1)
# Quantizer options held fixed when not searched (unset: the model's default, or the reference's for the dataset).
flags.DEFINE_integer("num_values", None, "Codebook values per latent when not searched.", lower_bound=2)
flags.DEFINE_float("quantization_weight", None, "Codebook loss weight when not searched.", lower_bound=0.0)
flags.DEFINE_float("commitment_weight", None, "Commitment loss weight when not searched.", lower_bound=0.0)
flags.DEFINE_float("learning_rate", None, "Adam learning rate (default: the model's).")
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_string("precision", "float32", f"Keras dtype policy of every trial's model ({', '.join(PRECISIONS)}).")
# The data, as the trainers name them.
flags.DEFINE_string("dataset", "procedural_dsprites", "Registered dataset name.")
flags.DEFINE_string("dataset_config", None, "Builder config, e.g. sample_10k, tiny (default: the dataset's).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).")
flags.DEFINE_integer("batch_size", 64, "Batch size.", lower_bound=1)
flags.DEFINE_integer("eval_samples", 1000, "Held-out labelled images the objectives are measured on.", lower_bound=10)
flags.DEFINE_integer("seed", 0, "Seed of the tuner, initialisation and data order.")
flags.DEFINE_integer("verbose", 0, "Keras fit verbosity inside each trial.")


def run_config():
    """The flags as a `TrainConfig` (validated like a trainer's, before TensorFlow starts): one trial trains like
    this run."""
    if FLAGS.steps_per_trial % FLAGS.evaluations_per_trial:
        sys.exit(f"error: --steps_per_trial ({FLAGS.steps_per_trial}) must be a multiple of --evaluations_per_trial "
                 f"({FLAGS.evaluations_per_trial}).\n(--helpshort lists the flags)")
    config = TrainConfig(
        output_dir=FLAGS.output_dir or os.path.join(FLAGS.directory, FLAGS.project_name),
        dataset=FLAGS.dataset, dataset_config=FLAGS.dataset_config, data_dir=FLAGS.data_dir, model=FLAGS.model,
        architecture=FLAGS.architecture, num_latents=FLAGS.num_latents, options=fixed_options(),
        learning_rate=FLAGS.learning_rate, batch_size=FLAGS.batch_size, steps=FLAGS.steps_per_trial,
        eval_interval=FLAGS.steps_per_trial // FLAGS.evaluations_per_trial, eval_samples=FLAGS.eval_samples,
        seed=FLAGS.seed, jit_compile=FLAGS.jit_compile, precision=FLAGS.precision, verbose=FLAGS.verbose,
    )
    try:
        resolved = config.resolved()
    except ValueError as error:
        # The message names the flag, the value and what is valid; the whole usage text would bury it.
        sys.exit(f"error: {error}\n(--helpshort lists the flags)")
    if resolved.model not in AUTOENCODERS:
        sys.exit(f"error: --model={resolved.model} is a GAN; the tuner searches autoencoders: "
                 f"{', '.join(AUTOENCODERS)}.")
    exit_unless_data_prepared(resolved.dataset, resolved.data_dir)
    return resolved


def fixed_options() -> dict:
    """The quantizer flags that were set (a model without a quantizer must have none set)."""
    names = ("num_values", "quantization_weight", "commitment_weight")
    return {name: getattr(FLAGS, name) for name in names if getattr(FLAGS, name) is not None}


def num_values_choices() -> tuple[int, ...]:
    """--num_values_choices as integers (checked before TensorFlow starts)."""
    try:
        return tuple(int(value) for value in FLAGS.num_values_choices)
    except ValueError:
        sys.exit(f"error: --num_values_choices must be integers; got {FLAGS.num_values_choices}.\n"
                 "(--helpshort lists the flags)")


def search_space(choices: tuple[int, ...]) -> SearchSpace:
    """The flags' search space, validated for the model (before TensorFlow starts)."""
    loss_range = (FLAGS.loss_weight_min, FLAGS.loss_weight_max)
    space = SearchSpace(
        weight_decay_range=(FLAGS.weight_decay_min, FLAGS.weight_decay_max),
        quantization_weight_range=loss_range if FLAGS.tune_quantization_weight else None,
        commitment_weight_range=loss_range if FLAGS.tune_commitment_weight else None,
        num_values_choices=choices,
    )
    try:
        return space.validate(FLAGS.model)
    except ValueError as error:
        # The message names the flag's field, the value and what is valid; the whole usage text would bury it.
        sys.exit(f"error: {error}\n(--helpshort lists the flags)")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments (flags need --): {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # TFDS reports every file it opens at INFO
    config = run_config()
    space = search_space(num_values_choices())
    role = os.environ.get("KERASTUNER_TUNER_ID", "") if "KERASTUNER_ORACLE_IP" in os.environ else ""
    is_chief = role.startswith("chief")
    from keras_latentquant.folder_lock import FolderInUseError, folder_lock

    # One search per folder (a distributed search's workers share the chief's, which holds the lock).
    locks = [os.path.join(FLAGS.directory, FLAGS.project_name)] if is_chief or not role else []
    if locks and os.path.abspath(config.output_dir) != os.path.abspath(locks[0]):
        locks.append(config.output_dir)
    with contextlib.ExitStack() as stack:
        try:
            for folder in locks:
                stack.enter_context(folder_lock(folder, f"tuning {config.model}"))
        except FolderInUseError as error:
            sys.exit(f"error: {error}")
        import keras_latentquant

        keras_latentquant.import_all()  # TensorFlow (quietly), the layers and the models, now the flags are good
        _search(config, space, role, is_chief)


def _search(config, space, role: str, is_chief: bool) -> None:
    """The search and its results (`main`'s body, inside the folder locks)."""
    import keras

    from keras_latentquant import tuning
    from keras_latentquant.datasets import get_dataset_spec
    from keras_latentquant.training.run import load_run_data

    spec = get_dataset_spec(config.dataset)
    num_latents = config.num_latents or 2 * spec.num_factors
    keras.utils.set_random_seed(config.seed)
    hypermodel = tuning.LatentQuantHyperModel(
        config.model, spec.image_shape, num_latents, space, architecture=config.architecture,
        learning_rate=config.learning_rate, jit_compile=config.jit_compile, alpha=FLAGS.alpha,
        precision=config.precision,
        **{name: value for name, value in config.options.items() if name != "weight_decay"},
    )
    project = os.path.join(FLAGS.directory, FLAGS.project_name)
    if FLAGS.overwrite and os.path.isdir(project) and (is_chief or not role):
        # Cleared here rather than by KerasTuner (which deletes the whole folder, our lock with it).
        from keras_latentquant.folder_lock import LOCK_FILE

        for name in set(os.listdir(project)) - {LOCK_FILE}:
            path = os.path.join(project, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    tuner = tuning.make_tuner(
        FLAGS.tuner, hypermodel, FLAGS.objective, max_trials=FLAGS.max_trials,
        max_epochs=FLAGS.evaluations_per_trial, directory=FLAGS.directory, project_name=FLAGS.project_name,
        overwrite=False, seed=FLAGS.seed,
    )
    print(f"tuner: {FLAGS.tuner}{' (' + role + ')' if role else ''}, objective {FLAGS.objective} "
          f"({tuning.OBJECTIVES[FLAGS.objective]}), searching {', '.join(space.hyperparameter_names())}; "
          f"model {config.model} ({config.architecture}), {num_latents} latents; {config.steps} steps of batch "
          f"{config.batch_size} per trial", flush=True)
    if FLAGS.tuner == "hyperband" and FLAGS.evaluations_per_trial < 2:
        print("note: Hyperband with --evaluations_per_trial=1 has one bracket of full-length trials; use >= 3 "
              "for its successive halving.", flush=True)

    title = (f"{config.model} on {config.dataset}/{config.dataset_config or 'default'}: {FLAGS.tuner} search, "
             f"{{trials}} trials x {config.steps} steps, objective {FLAGS.objective}")
    if not role:
        tuning.report_every_trial(tuner, space.hyperparameter_names(), FLAGS.objective, config.output_dir,
                                  title=title.format(trials="so far"),
                                  total=None if FLAGS.tuner == "hyperband" else FLAGS.max_trials)
    if is_chief:
        # The chief serves the oracle until every trial has ended; it trains nothing, so loads no data.
        tuner.search()
    else:
        data = load_run_data(config, mode="autoencoder", batch_size=config.batch_size)
        tuner.search(
            data.train, eval_images=data.eval_images, eval_factors=data.eval_factors,
            steps_per_epoch=config.eval_interval, epochs=FLAGS.evaluations_per_trial, verbose=config.verbose,
        )
    if role and not is_chief:
        print(f"worker {role}: no more trials; the chief writes the results.", flush=True)
        return

    rows = tuning.trial_rows(tuner.oracle, space.hyperparameter_names(), FLAGS.objective)
    paths = tuning.write_results(rows, FLAGS.objective, config.output_dir, title=title.format(trials=len(rows)))
    print("\n" + tuning.format_markdown_table(rows))
    best = [row for row in rows if row["best"]]
    if best:
        print(f"best: trial {best[0]['trial']}, weight decay {best[0]['weight_decay']:.4g}, "
              f"{FLAGS.objective} {best[0][FLAGS.objective]:.4g}")
    print(f"outputs: {paths['markdown']}, {paths['csv']}, {paths['plot']}")


if __name__ == "__main__":
    app.run(main)
