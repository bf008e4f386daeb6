"""The KerasTuner search: the HyperModel, the objective callback, the tuners, and the results table and plot
(the search space and the objectives' definitions are in `tuning.space`)."""

from __future__ import annotations

import csv
import math
import os
import textwrap
import time
from typing import Sequence

import keras
import keras_tuner
import numpy as np

from keras_latentquant.models.catalogue import build_model, get_model
from keras_latentquant.training.evaluation import evaluate_model
from keras_latentquant.tuning.space import OBJECTIVES, TUNERS, SearchSpace, objective_value

__all__ = [
    "LatentQuantHyperModel",
    "TuningObjective",
    "keras_tuner_objective",
    "reconstruction_loss",
    "make_tuner",
    "trial_rows",
    "write_results",
    "format_markdown_table",
    "plot_objective_vs_weight_decay",
    "report_every_trial",
]


def keras_tuner_objective(objective: str) -> keras_tuner.Objective:
    """The `keras_tuner.Objective` of one of `OBJECTIVES`, with its direction."""
    if objective not in OBJECTIVES:
        raise ValueError(f"Unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}.")
    return keras_tuner.Objective(objective, direction=OBJECTIVES[objective])


def reconstruction_loss(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> float:
    """Mean per-pixel binary cross-entropy of the model's reconstructions of `images` (nats)."""
    logits = model.predict(images, batch_size=batch_size, verbose=0).astype("float64")
    targets = images.astype("float64")
    # -x log s(l) - (1 - x) log(1 - s(l)) = max(l, 0) - l x + log(1 + exp(-|l|)), stable for any l.
    per_pixel = np.maximum(logits, 0.0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return float(per_pixel.mean())


class TuningObjective(keras.callbacks.Callback):
    """Adds the held-out measurements and every objective to the epoch logs `fit` reports.

    Listed before KerasTuner's own callbacks, so the History that `HyperModel.fit` returns (and the
    oracle reads) carries `infom`, `infoe`, `infoc`, `val_reconstruction`, `infom_infoc` and `mix`.

    Args:
        images: held-out images `(N, H, W, C)` in [0, 1].
        factors: their integer factor labels `(N, K)`.
        alpha: weight of the reconstruction loss in `mix`.
    """

    def __init__(self, images: np.ndarray, factors: np.ndarray, alpha: float = 1.0):
        super().__init__()
        self.images = images
        self.factors = factors
        self.alpha = alpha
        self.last: dict | None = None

    def measure(self) -> dict:
        """InfoM, InfoE, InfoC and the reconstruction loss of the held-out images."""
        scores = evaluate_model(self.model, self.images, self.factors, metrics=("infomec",))
        measured = {
            "infom": float(scores["infom"]),
            "infoe": float(scores["infoe"]),
            "infoc": float(scores["infoc"]),
            "val_reconstruction": reconstruction_loss(self.model, self.images),
        }
        return measured

    def on_epoch_end(self, epoch, logs=None):
        measured = self.measure()
        for objective in OBJECTIVES:
            measured[objective] = objective_value(
                objective, measured["infom"], measured["infoc"], measured["val_reconstruction"], self.alpha
            )
        self.last = measured
        if logs is not None:
            logs.update(measured)


class LatentQuantHyperModel(keras_tuner.HyperModel):
    """A catalogued model (QLAE by default) whose weight decay and quantizer options are hyperparameters.

    `build` samples the search space and returns the compiled catalogue model; `fit` trains it on the
    given pipeline with `TuningObjective` first among the callbacks, so every epoch's logs carry the
    held-out InfoM, InfoC, reconstruction loss and objectives.

    Args:
        model_name: a catalogued autoencoder (`keras_latentquant.models.catalogue.MODELS`).
        image_shape: `(height, width, channels)`.
        num_latents: latent dimensions.
        search_space: a `SearchSpace`.
        architecture: `paper`, `paper_small` or `fast`.
        learning_rate: Adam learning rate (None: the model's).
        jit_compile: passed to `Model.compile`.
        alpha: weight of the reconstruction loss in the `mix` objective.
        precision: dtype policy of every trial's model (`models.catalogue.PRECISIONS`).
        **fixed_options: model options held fixed (`num_values`, `quantization_weight`, ...).

    Example:

    >>> hypermodel = LatentQuantHyperModel("qlae", (64, 64, 1), 10, SearchSpace(), architecture="fast")
    >>> model = hypermodel.build(keras_tuner.HyperParameters())
    >>> float(model.optimizer.weight_decay)  # the hyperparameter's default, its lower bound
    0.0001
    """

    def __init__(
        self,
        model_name: str,
        image_shape: Sequence[int],
        num_latents: int,
        search_space: SearchSpace = SearchSpace(),
        architecture: str = "paper",
        learning_rate: float | None = None,
        jit_compile: bool = False,
        alpha: float = 1.0,
        precision: str = "float32",
        **fixed_options,
    ):
        super().__init__(name=f"{model_name}_hypermodel")
        if get_model(model_name).family != "autoencoder":
            raise ValueError(f"The tuner trains autoencoders on (image, image) batches; {model_name!r} is a GAN.")
        get_model(model_name).resolve_options(fixed_options)  # unknown fixed options fail here, not in a trial
        self.model_name = model_name
        self.image_shape = tuple(image_shape)
        self.num_latents = num_latents
        self.search_space = search_space.validate(model_name)
        self.architecture = architecture
        self.learning_rate = learning_rate
        self.jit_compile = jit_compile
        self.alpha = alpha
        self.precision = precision
        self.fixed_options = fixed_options

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        space = self.search_space
        options = dict(self.fixed_options)
        low, high = space.weight_decay_range
        weight_decay = hp.Float("weight_decay", low, high, sampling="log")
        if space.quantization_weight_range is not None:
            options["quantization_weight"] = hp.Float("quantization_weight", *space.quantization_weight_range, sampling="log")
        if space.commitment_weight_range is not None:
            options["commitment_weight"] = hp.Float("commitment_weight", *space.commitment_weight_range, sampling="log")
        if space.num_values_choices:
            options["num_values"] = hp.Choice("num_values", list(space.num_values_choices))
        return build_model(
            self.model_name,
            image_shape=self.image_shape,
            num_latents=self.num_latents,
            architecture=self.architecture,
            learning_rate=self.learning_rate,
            weight_decay=weight_decay,
            jit_compile=self.jit_compile,
            precision=self.precision,
            **options,
        )

    def fit(self, hp, model, x, *, eval_images, eval_factors, steps_per_epoch, epochs=1, callbacks=None, verbose=0,
            **kwargs):
        """Trains `model` on the pipeline `x` and measures the objectives after every epoch.

        Args:
            hp: the trial's hyperparameters (`build` read them; printed once per trial).
            model: the model `build` returned.
            x: a repeated `tf.data` pipeline of `(image, image)` batches.
            eval_images, eval_factors: held-out labelled images for the objectives.
            steps_per_epoch: training steps between measurements.
            epochs: measurements (Hyperband sets it, with `initial_epoch`).
            callbacks: KerasTuner's callbacks; `TuningObjective` goes before them.
            verbose: Keras `fit` verbosity.
            **kwargs: other `model.fit` arguments (`initial_epoch`).

        Returns:
            The `History`; KerasTuner reads the objective from its best epoch.
        """
        searched = ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                             for name, value in hp.values.items())
        # One line per trial, so each process's log shows which trials it trained (distributed search).
        print(f"{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}: training {searched}", flush=True)
        objective_callback = TuningObjective(eval_images, eval_factors, alpha=self.alpha)
        return model.fit(
            x,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            callbacks=[objective_callback, *(callbacks or [])],
            verbose=verbose,
            shuffle=False,  # the tf.data pipeline shuffles
            **kwargs,
        )


def make_tuner(
    tuner: str,
    hypermodel: LatentQuantHyperModel,
    objective: str,
    max_trials: int,
    max_epochs: int,
    directory: str,
    project_name: str,
    overwrite: bool = True,
    seed: int | None = 0,
) -> keras_tuner.Tuner:
    """A KerasTuner tuner by name (`random`, `bayesian`, `hyperband`).

    `max_trials` bounds `random` and `bayesian`; Hyperband sizes its own brackets from `max_epochs`
    (the most epochs a trial trains, factor 3), so it ignores `max_trials`.
    """
    common = dict(
        objective=keras_tuner_objective(objective), directory=directory, project_name=project_name,
        overwrite=overwrite, seed=seed,
    )
    if tuner == "random":
        return keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if tuner == "bayesian":
        return keras_tuner.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    if tuner == "hyperband":
        return keras_tuner.Hyperband(hypermodel, max_epochs=max_epochs, factor=3, **common)
    raise ValueError(f"Unknown tuner {tuner!r}; valid: {', '.join(TUNERS)}.")


MEASUREMENTS = ("infom", "infoc", "val_reconstruction")


def trial_rows(oracle, hyperparameter_names: Sequence[str], objective: str) -> list[dict]:
    """One row per trial: id, status, hyperparameters, objective, InfoM, InfoC, reconstruction loss.

    The measurements are those of the trial's best epoch (the step KerasTuner recorded). Rows are in
    trial order; `best` marks the best completed trial.
    """
    rows = []
    for trial_id, trial in sorted(oracle.trials.items(), key=lambda item: (len(item[0]), item[0])):
        row = {"trial": trial_id, "status": str(trial.status)}
        for name in hyperparameter_names:
            row[name] = trial.hyperparameters.values.get(name)
        if "tuner/epochs" in trial.hyperparameters.values:
            row["epochs"] = trial.hyperparameters.values["tuner/epochs"]
        for name in (objective, *MEASUREMENTS):
            row[name] = trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None
        rows.append(row)
    scored = [row for row in rows if row[objective] is not None and math.isfinite(row[objective])]
    sign = -1.0 if OBJECTIVES[objective] == "max" else 1.0
    best = min(scored, key=lambda row: sign * row[objective]) if scored else None
    for row in rows:
        row["best"] = row is best
    return rows


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_markdown_table(rows: Sequence[dict]) -> str:
    """The rows as a Markdown table (floats to 4 significant digits)."""
    if not rows:
        return "(no trials)\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_format(row[column]) for column in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_objective_vs_weight_decay(rows: Sequence[dict], objective: str, path: str, title: str | None = None) -> str:
    """Scatter of each trial's objective against its weight decay (log x axis); the best trial ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [row for row in rows if row[objective] is not None and row.get("weight_decay") is not None]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.scatter([row["weight_decay"] for row in points], [row[objective] for row in points], color="tab:blue")
    for row in points:
        axis.annotate(row["trial"], (row["weight_decay"], row[objective]), fontsize=7, xytext=(3, 3),
                      textcoords="offset points")
        if row["best"]:
            axis.scatter([row["weight_decay"]], [row[objective]], s=160, facecolors="none", edgecolors="tab:red",
                         label="best")
    axis.set_xscale("log")
    axis.set_xlabel("weight decay (log scale)")
    axis.set_ylabel(f"{objective} ({'higher' if OBJECTIVES[objective] == 'max' else 'lower'} is better)")
    axis.set_title(textwrap.fill(title or f"{objective} vs weight decay, {len(points)} trials", 60), fontsize=9)
    if any(row["best"] for row in points):
        axis.legend()
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def report_every_trial(tuner, hyperparameter_names: Sequence[str], objective: str, output_dir: str,
                       title: str | None = None, total: int | None = None, log=None) -> None:
    """After each trial ends: one progress line (its time, values, score and the best so far) and the results
    table, CSV and plot rewritten with every trial so far, so a long or interrupted search has them.

    Hooks the tuner's `on_trial_end` (single-process searches; a distributed search's chief writes at the end).
    """
    log = log or (lambda line: print(line, flush=True))
    original_end, original_begin = tuner.on_trial_end, tuner.on_trial_begin
    started = {}

    def on_trial_begin(trial):
        started[trial.trial_id] = time.perf_counter()
        return original_begin(trial)

    def on_trial_end(trial):
        result = original_end(trial)
        rows = trial_rows(tuner.oracle, hyperparameter_names, objective)
        write_results(rows, objective, output_dir, title=title)
        row = next((row for row in rows if row["trial"] == trial.trial_id), None)
        best = next((row for row in rows if row["best"]), None)
        seconds = time.perf_counter() - started.pop(trial.trial_id, time.perf_counter())
        values = ", ".join(f"{name} {_format(row[name])}" for name in hyperparameter_names) if row else ""
        score = f"{objective} {_format(row[objective])}" if row else "no score"
        best_text = f"best so far: trial {best['trial']}, {_format(best[objective])}" if best else "no score yet"
        done = f"{len(rows)}/{total}" if total else str(len(rows))
        log(f"trial {trial.trial_id} ended ({done} trials, {seconds:.0f} s): {values}: {score}; {best_text}; "
            f"table in {os.path.join(output_dir, 'results.md')}")
        return result

    tuner.on_trial_begin, tuner.on_trial_end = on_trial_begin, on_trial_end


def write_results(rows: Sequence[dict], objective: str, output_dir: str, title: str | None = None) -> dict:
    """Writes `results.md`, `results.csv` and `objective_vs_weight_decay.png` into `output_dir`.

    Returns:
        The paths written, by kind (`markdown`, `csv`, `plot`).
    """
    os.makedirs(output_dir, exist_ok=True)
    paths = {
        "markdown": os.path.join(output_dir, "results.md"),
        "csv": os.path.join(output_dir, "results.csv"),
        "plot": os.path.join(output_dir, "objective_vs_weight_decay.png"),
    }
    header = f"# {title}\n\n" if title else ""
    with open(paths["markdown"], "w", encoding="utf-8") as handle:
        handle.write(header + format_markdown_table(rows))
    with open(paths["csv"], "w", newline="", encoding="utf-8") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    plot_objective_vs_weight_decay(rows, objective, paths["plot"], title=title)
    return paths
