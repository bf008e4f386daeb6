"""Learning curves of a reproduction: InfoM, InfoC and PSNR against training steps, mean and band over seeds.

    python benchmarks/reproduce.py --models=qlae,ae --datasets=procedural_shapes3d --seeds=0,1,2 --steps=3000 \
        --evaluations=6 --output_dir=runs/curves
    python benchmarks/learning_curves.py --output_dir=runs/curves --dataset=procedural_shapes3d --models=qlae,ae \
        --output=benchmarks/figures/learning_curves_shapes3d.png

Reads every run's `evaluations.jsonl` (one line per evaluation, written by the trainer) under
`<output_dir>/<dataset>/<model>/seed_<s>/`. Each panel shows, per model, the mean over seeds at every evaluated
step and a band of the mean's 95% Student-t interval (the seeds' min-max where only two seeds are there); the
legend says how many seeds each curve has. Only finished runs (with `scores.json`) are read, so a run still
training does not cut the curves short; a step some seed has not reached is left out of that model's curve.
"""

from __future__ import annotations

import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/ (reproduce.py)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

import reproduce  # noqa: E402

FLAGS = flags.FLAGS
PANELS = (("infom", "InfoM"), ("infoc", "InfoC"), ("psnr", "PSNR (dB)"))
# Legend entries per row when the legend goes under the panels (more than 3 models).
LEGEND_COLUMNS = 4


def load_curves(output_dir: str, dataset: str, models) -> dict:
    """`{model: {"seeds": [...], "steps": [...], key: {"mean": [...], "low": [...], "high": [...]}}}` for the
    models with at least one run; each step is one every seed evaluated."""
    curves = {}
    for model in models:
        folder = os.path.join(output_dir, dataset, model)
        per_seed = {}
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            path = os.path.join(folder, name, "evaluations.jsonl")
            finished = os.path.exists(os.path.join(folder, name, reproduce.SCORES_FILE))
            if name.startswith("seed_") and finished and os.path.exists(path):
                with open(path, encoding="utf-8") as handle:
                    rows = [json.loads(line) for line in handle if line.strip()]
                per_seed[int(name[len("seed_"):])] = {row["step"]: row for row in rows}
        if not per_seed:
            continue
        steps = sorted(set.intersection(*(set(rows) for rows in per_seed.values())))
        curve = {"seeds": sorted(per_seed), "steps": steps}
        for key, _ in PANELS:
            series = {"mean": [], "low": [], "high": []}
            for step in steps:
                values = [rows[step][key] for rows in per_seed.values() if rows[step].get(key) is not None]
                if not values:
                    break
                mean, half_width = reproduce.mean_interval(values)
                if half_width is None or len(values) == 2:
                    low, high = min(values), max(values)
                else:
                    low, high = mean - half_width, mean + half_width
                for name, value in (("mean", mean), ("low", low), ("high", high)):
                    series[name].append(value)
            else:
                curve[key] = series
        curves[model] = curve
    return curves


def plot_curves(curves: dict, path: str, title: str) -> str:
    """One panel per metric (PSNR only where the models reconstruct); writes the PNG at `path`."""
    from keras_latentquant.plotting import plt

    panels = [(key, label) for key, label in PANELS if any(key in curve for curve in curves.values())]
    # Up to 3 models the legend fits in the first panel; more go in rows under the panels, off the curves.
    legend_rows = 0 if len(curves) <= 3 else math.ceil(len(curves) / LEGEND_COLUMNS)
    height = 3.4 + 0.25 * legend_rows
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), height), squeeze=False)
    for axis, (key, label) in zip(axes[0], panels):
        for model, curve in curves.items():
            if key not in curve:
                continue
            series = curve[key]
            line, = axis.plot(curve["steps"], series["mean"], marker="o", markersize=3,
                              label=f"{model} ({len(curve['seeds'])} seed{'s' if len(curve['seeds']) != 1 else ''})")
            axis.fill_between(curve["steps"], series["low"], series["high"], color=line.get_color(), alpha=0.2)
        axis.set_xlabel("training step")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    if legend_rows:
        figure.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=LEGEND_COLUMNS, fontsize=8,
                      frameon=False)
        figure.tight_layout(rect=(0, 0.25 * legend_rows / height, 1, 1))
    else:
        axes[0][0].legend(fontsize=8)
        figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv):
    del argv
    curves = load_curves(FLAGS.output_dir, FLAGS.dataset, FLAGS.models)
    if not curves:
        raise app.UsageError(f"No run of {', '.join(FLAGS.models)} with evaluations.jsonl under "
                             f"{os.path.join(FLAGS.output_dir, FLAGS.dataset)}; pass a benchmarks/reproduce.py "
                             "--output_dir (run with --evaluations > 1 for curves).")
    single = [model for model, curve in curves.items() if len(curve["steps"]) < 2]
    if single:
        print(f"note: {', '.join(single)} evaluated at one step only (rerun reproduce.py with --evaluations > 1)")
    title = FLAGS.title or (f"{FLAGS.dataset}: mean over seeds, band = 95% t-interval of the mean "
                            "(min-max with two seeds)")
    print("wrote", plot_curves(curves, FLAGS.output, title))


if __name__ == "__main__":
    flags.DEFINE_string("output_dir", "runs/reproduce", "a benchmarks/reproduce.py --output_dir")
    flags.DEFINE_string("dataset", "procedural_shapes3d", "dataset folder under --output_dir")
    flags.DEFINE_list("models", ["qlae", "ae"], "models to plot, in legend order")
    flags.DEFINE_string("output", "benchmarks/figures/learning_curves.png", "PNG to write")
    flags.DEFINE_string("title", None, "figure title (default: dataset and what the band is)")
    app.run(main)
