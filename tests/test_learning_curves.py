"""benchmarks/learning_curves.py on fabricated evaluations.jsonl files, and reproduce.py's --evaluations."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.test_reproduce import BUDGET, ROOT, reproduce

SCRIPT = os.path.join(ROOT, "benchmarks", "learning_curves.py")
spec = importlib.util.spec_from_file_location("benchmarks_learning_curves", SCRIPT)
curves_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(curves_module)


def _write(folder, rows, finished=True):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "evaluations.jsonl"), "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    if finished:
        with open(os.path.join(folder, reproduce.SCORES_FILE), "w") as handle:
            handle.write("{}")


def _fabricate(root):
    for seed, offset in enumerate((0.0, 0.1, 0.2)):
        _write(root / "procedural_shapes3d" / "qlae" / f"seed_{seed}",
               [{"step": step, "infom": 0.3 + step / 10000 + offset, "infoc": 0.1, "psnr": 20.0 + seed}
                for step in (500, 1000, 1500)])
    # A fourth QLAE seed still training: not read (it would cut every curve at its last step).
    _write(root / "procedural_shapes3d" / "qlae" / "seed_3", [{"step": 500, "infom": 0.9, "infoc": 0.9, "psnr": 9.0}],
           finished=False)
    for seed in (0, 1):  # ae: two seeds, the second stopped after 1000 steps
        steps = (500, 1000, 1500) if seed == 0 else (500, 1000)
        _write(root / "procedural_shapes3d" / "ae" / f"seed_{seed}",
               [{"step": step, "infom": 0.2 + 0.1 * seed, "infoc": 0.05, "psnr": 21.0} for step in steps])


def test_curves_are_means_with_intervals_over_seeds(tmp_path):
    _fabricate(tmp_path)
    curves = curves_module.load_curves(str(tmp_path), "procedural_shapes3d", ["qlae", "ae", "vae"])
    assert set(curves) == {"qlae", "ae"}  # vae has no runs
    qlae = curves["qlae"]
    assert qlae["seeds"] == [0, 1, 2] and qlae["steps"] == [500, 1000, 1500]
    np.testing.assert_allclose(qlae["infom"]["mean"], [0.45, 0.5, 0.55])
    half_width = 4.302652729911275 * 0.1 / np.sqrt(3)  # t(0.975, 2) * std 0.1 / sqrt(3)
    np.testing.assert_allclose(np.array(qlae["infom"]["high"]) - qlae["infom"]["mean"], half_width)
    ae = curves["ae"]
    assert ae["steps"] == [500, 1000]  # only the steps every seed reached
    np.testing.assert_allclose(ae["infom"]["low"], [0.2, 0.2])  # two seeds: their min-max
    np.testing.assert_allclose(ae["infom"]["high"], [0.3, 0.3])


def test_command_writes_the_png(tmp_path):
    _fabricate(tmp_path)
    output = tmp_path / "curves.png"
    completed = subprocess.run([sys.executable, SCRIPT, f"--output_dir={tmp_path}", "--dataset=procedural_shapes3d",
                                "--models=qlae,ae", f"--output={output}"], capture_output=True, text=True, cwd=ROOT,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    completed = subprocess.run([sys.executable, SCRIPT, f"--output_dir={tmp_path / 'none'}", "--models=qlae"],
                               capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert completed.returncode != 0 and "No run of qlae" in completed.stderr


def test_many_models_get_their_legend_in_rows_under_the_panels(tmp_path):
    _fabricate(tmp_path)
    curves = curves_module.load_curves(str(tmp_path), "procedural_shapes3d", ["qlae", "ae"])
    many = {f"{model}_{copy}": curve for copy in range(3) for model, curve in curves.items()}  # 6 models

    def png_size(path):  # width and height from the PNG's IHDR chunk
        data = open(path, "rb").read(24)
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")

    two = png_size(curves_module.plot_curves(curves, str(tmp_path / "two.png"), "two"))
    six = png_size(curves_module.plot_curves(many, str(tmp_path / "six.png"), "six"))
    # Six models: two legend rows of 4 under the panels, 0.25 inch each at 110 dpi; two models: in the first panel.
    assert six[0] == two[0] and six[1] - two[1] == round(2 * 0.25 * 110)


def test_reproduce_spreads_evaluations_over_the_run():
    budget = dict(BUDGET, steps=12, gan_steps=4)
    planned = reproduce.run_config("procedural_dsprites", "qlae", 0, "out", evaluations=4, **budget)
    assert planned["config"]["eval_interval"] == 3 and planned["config"]["steps"] == 12
    assert reproduce.run_config("procedural_dsprites", "qlinfogan", 0, "out", evaluations=4,
                                **budget)["config"]["eval_interval"] == 1
    with pytest.raises(ValueError, match="--evaluations=5 must divide the steps"):
        reproduce.run_config("procedural_dsprites", "qlae", 0, "out", evaluations=5, **budget)


def test_factorqvae_gets_twice_the_batch_so_its_autoencoder_sees_as_many_images():
    planned = reproduce.run_config("procedural_dsprites", "factorqvae", 0, "out", **BUDGET)
    assert planned["config"]["batch_size"] == 2 * BUDGET["batch_size"]
    assert reproduce.run_config("procedural_dsprites", "qlae", 0, "out", **BUDGET)["config"]["batch_size"] == \
        BUDGET["batch_size"]
