"""Two reproductions side by side: each metric's mean and 95% interval in both, and their difference.

    python benchmarks/compare_runs.py --runs=float32=runs/precision_float32,mixed_bfloat16=runs/precision_mixed_bfloat16

Each `--runs` entry is `label=folder`, a `benchmarks/reproduce.py --output_dir`. For every (dataset, model) that
both folders finished, and every column of the reproduction table: the mean over seeds with the half-width of its
Student-t 95% confidence interval, in each folder; the difference (second minus first) with its 95% interval,
paired by seed when both folders hold the same seeds (same initialisation and data order: only the setting that
differs between the folders separates the two runs of a seed), Welch's otherwise; and the difference divided by
the larger of the two seed standard deviations. "agree" means the difference's interval contains 0.

The script also says which budget fields differ between the folders, so a comparison of precisions states that
nothing else changed. `--output` writes the markdown there as well as printing it.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/ (reproduce.py)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository

from absl import app, flags  # noqa: E402

# Only the reproduction's file and table helpers are needed: the package's imports deferred
# (keras_latentquant/__init__.py), so the comparison answers without starting TensorFlow.
os.environ["KERAS_LATENTQUANT_DEFER_IMPORTS"] = "1"
import reproduce  # noqa: E402

os.environ.pop("KERAS_LATENTQUANT_DEFER_IMPORTS", None)

FLAGS = flags.FLAGS


def parse_runs(entries: list[str]) -> list[tuple[str, str]]:
    """`["label=folder", ...]` -> `[(label, folder), ...]`; ValueError names a malformed entry."""
    parsed = []
    for entry in entries:
        label, sep, folder = entry.partition("=")
        if not sep or not label or not folder:
            raise ValueError(f"--runs entries are label=folder (e.g. float32=runs/precision_float32); got {entry!r}.")
        parsed.append((label, folder))
    if len(parsed) != 2:
        raise ValueError(f"--runs takes exactly two label=folder entries; got {len(parsed)}.")
    return parsed


def _by_group(scores: list[dict]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in scores:
        groups.setdefault((run["dataset"], run["model"]), []).append(run)
    return groups


def budget_differences(first: list[dict], second: list[dict]) -> dict[str, tuple]:
    """Budget fields (`reproduce.budget_of`, less dataset and model) whose values differ between two sets of runs:
    `{field: (values in the first, values in the second)}`, each the reprs of its values joined by " / "."""
    def values(scores):
        seen: dict[str, set] = {}
        for run in scores:
            for key, value in run["budget"].items():
                if key not in ("dataset", "model"):
                    seen.setdefault(key, set()).add(repr(value))
        return seen

    a, b = values(first), values(second)
    return {key: (" / ".join(sorted(a.get(key, {"<absent>"}))), " / ".join(sorted(b.get(key, {"<absent>"}))))
            for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)}


def compare(first: list[dict], second: list[dict]) -> list[dict]:
    """One row per (dataset, model, column) present in both: both means with intervals and the difference."""
    rows = []
    a_groups, b_groups = _by_group(first), _by_group(second)
    for key in sorted(set(a_groups) & set(b_groups)):
        for label, name, decimals in reproduce.COLUMNS:
            a = {run["seed"]: run[name] for run in a_groups[key] if run.get(name) is not None}
            b = {run["seed"]: run[name] for run in b_groups[key] if run.get(name) is not None}
            if not a or not b:
                continue
            summary_a, summary_b = reproduce.summarize(list(a.values())), reproduce.summarize(list(b.values()))
            spreads = [s["std"] for s in (summary_a, summary_b) if s["std"] is not None]
            difference = reproduce.difference_interval(a, b)
            rows.append({
                "dataset": key[0], "model": key[1], "column": label, "decimals": decimals,
                "a": reproduce.mean_interval(list(a.values())), "b": reproduce.mean_interval(list(b.values())),
                "seeds_a": sorted(a), "seeds_b": sorted(b), **difference,
                "in_seed_stds": (abs(difference["difference"]) / max(spreads)) if spreads and max(spreads) > 0 else None,
                "agree": (None if difference["half_width"] is None
                          else abs(difference["difference"]) <= difference["half_width"]),
            })
    return rows


def _cell(mean: float, half_width: float | None, decimals: int) -> str:
    return f"{mean:.{decimals}f}" if half_width is None else f"{mean:.{decimals}f} ± {half_width:.{decimals}f}"


def format_comparison(rows: list[dict], labels: tuple[str, str]) -> str:
    """Markdown table of `compare`'s rows."""
    a, b = labels
    lines = [
        f"| dataset | model | metric | {a} (mean ± 95% CI) | {b} (mean ± 95% CI) | {b} − {a} (95% CI) | "
        "difference / seed std | agree |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        d = row["decimals"] + 1
        difference = _cell(row["difference"], row["half_width"], d) + f" ({row['method']}, n={row['n_a']}/{row['n_b']})"
        ratio = "n/a" if row["in_seed_stds"] is None else f"{row['in_seed_stds']:.2f}"
        agree = {True: "yes", False: "**no**", None: "n/a"}[row["agree"]]
        lines.append(f"| {row['dataset']} | {row['model']} | {row['column']} | {_cell(*row['a'], row['decimals'])} | "
                     f"{_cell(*row['b'], row['decimals'])} | {difference} | {ratio} | {agree} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    try:
        (label_a, folder_a), (label_b, folder_b) = parse_runs(FLAGS.runs)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    first, second = reproduce.load_scores(folder_a), reproduce.load_scores(folder_b)
    for label, folder, scores in ((label_a, folder_a, first), (label_b, folder_b, second)):
        if not scores:
            raise app.UsageError(f"{folder} ({label}) holds no finished run (no */*/seed_*/scores.json); "
                                 "pass a benchmarks/reproduce.py --output_dir.")
    rows = compare(first, second)
    differences = budget_differences(first, second)
    said = "; ".join(f"{key}: {was} in {label_a}, {now} in {label_b}" for key, (was, now) in differences.items())
    text = (f"Budget fields that differ: {said or 'none'}.\n\n" + format_comparison(rows, (label_a, label_b)))
    print(text)
    if FLAGS.output:
        with open(FLAGS.output, "w", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    flags.DEFINE_list("runs", None, "two label=folder entries (benchmarks/reproduce.py output folders)")
    flags.DEFINE_string("output", None, "also write the markdown here")
    flags.mark_flag_as_required("runs")
    app.run(main)
