"""benchmarks/compare_runs.py and the interval helpers of benchmarks/reproduce.py, on fabricated scores."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from tests.test_reproduce import ROOT, _fake_run, reproduce

SCRIPT = os.path.join(ROOT, "benchmarks", "compare_runs.py")


def _load_module():
    spec = importlib.util.spec_from_file_location("benchmarks_compare_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare_runs = _load_module()


def test_mean_interval_is_the_student_t_interval():
    mean, half_width = reproduce.mean_interval([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0)
    assert half_width == pytest.approx(4.302652729911275 / np.sqrt(3))  # t(0.975, 2) * std 1 / sqrt(3)
    assert reproduce.mean_interval([0.5]) == (0.5, None)


def test_paired_difference_uses_the_per_seed_differences():
    a = {0: 0.40, 1: 0.50, 2: 0.60}
    b = {0: 0.42, 1: 0.525, 2: 0.615}  # differences 0.02, 0.025, 0.015: a large seed spread, a tight difference
    result = reproduce.difference_interval(a, b)
    low, high = stats.ttest_rel([b[s] for s in a], [a[s] for s in a]).confidence_interval()
    assert result["method"] == "paired"
    assert result["difference"] == pytest.approx(0.02)
    assert result["half_width"] == pytest.approx((high - low) / 2)
    assert result["difference"] - result["half_width"] > 0  # excludes 0, though the raw intervals overlap


def test_welch_difference_when_the_seeds_differ():
    a = {0: 0.40, 1: 0.50, 2: 0.60}
    b = {0: 0.70, 1: 0.72, 3: 0.80, 4: 0.75}
    result = reproduce.difference_interval(a, b)
    test = stats.ttest_ind(list(b.values()), list(a.values()), equal_var=False)
    low, high = test.confidence_interval()
    assert result["method"] == "welch" and (result["n_a"], result["n_b"]) == (3, 4)
    assert result["difference"] == pytest.approx((low + high) / 2)
    assert result["half_width"] == pytest.approx((high - low) / 2)
    assert reproduce.difference_interval({0: 1.0}, {1: 2.0})["half_width"] is None


def _two_folders(tmp_path, second_precision="mixed_bfloat16"):
    first, second = tmp_path / "f32", tmp_path / "bf16"
    for seed, infom in [(0, 0.40), (1, 0.50), (2, 0.60)]:
        _fake_run(first, "procedural_dsprites", "qlae", seed, infom=infom, psnr=20.0 + seed)
        _fake_run(first, "procedural_dsprites", "ae", seed, infom=0.3)
    for seed, infom in [(0, 0.41), (1, 0.52), (2, 0.60)]:
        folder = _fake_run(second, "procedural_dsprites", "qlae", seed, infom=infom, psnr=20.5 + seed)
        # The second folder's runs were made under another policy: only that field differs.
        path = os.path.join(folder, reproduce.SCORES_FILE)
        with open(path) as handle:
            payload = json.load(handle)
        payload["budget"]["precision"] = second_precision
        with open(path, "w") as handle:
            json.dump(payload, handle)
    return first, second


def test_compare_rows_and_budget_differences(tmp_path):
    first, second = _two_folders(tmp_path)
    a, b = reproduce.load_scores(str(first)), reproduce.load_scores(str(second))
    rows = compare_runs.compare(a, b)
    assert {row["model"] for row in rows} == {"qlae"}  # ae is only in the first folder
    infom = next(row for row in rows if row["column"] == "InfoM")
    assert infom["method"] == "paired" and infom["difference"] == pytest.approx(0.01)
    assert infom["a"][0] == pytest.approx(0.5) and infom["b"][0] == pytest.approx(0.51)
    assert infom["in_seed_stds"] == pytest.approx(0.01 / 0.1)  # the larger seed std: the first folder's
    assert infom["agree"] is True
    psnr = next(row for row in rows if row["column"] == "PSNR (dB)")
    assert psnr["difference"] == pytest.approx(0.5) and psnr["half_width"] == pytest.approx(0.0)
    assert psnr["agree"] is False  # a constant shift: the paired interval has zero width
    assert compare_runs.budget_differences(a, b) == {"precision": ("'float32'", "'mixed_bfloat16'")}
    table = compare_runs.format_comparison(rows, ("float32", "mixed_bfloat16"))
    assert "| procedural_dsprites | qlae | InfoM | 0.500 ± 0.248 | 0.510 ± " in table
    assert "**no**" in table


def test_command_prints_the_table_and_rejects_bad_runs(tmp_path):
    first, second = _two_folders(tmp_path)
    output = tmp_path / "comparison.md"
    completed = subprocess.run(
        [sys.executable, SCRIPT, f"--runs=float32={first},mixed_bfloat16={second}", f"--output={output}"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "Budget fields that differ: precision: 'float32' in float32, 'mixed_bfloat16' in mixed_bfloat16." \
        in completed.stdout
    assert output.read_text().count("| procedural_dsprites | qlae |") == len(reproduce.COLUMNS)
    for runs, message in [(f"--runs={first}", "label=folder"), (f"--runs=a={first}", "exactly two"),
                          (f"--runs=a={first},b={tmp_path / 'empty'}", "holds no finished run")]:
        completed = subprocess.run([sys.executable, SCRIPT, runs], capture_output=True, text=True, cwd=ROOT,
                                   timeout=120)
        assert completed.returncode != 0 and message in completed.stderr, completed.stderr[-2000:]
