"""`python -m keras_latentquant.interpret` on a model the trainer wrote: table, figures, JSON, errors."""

import json
import os
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from tests.conftest import run_command_cases

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACTOR_NAMES = ["shape", "scale", "orientation", "position_x", "position_y"]


def _run(arguments, cwd, timeout=600):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, *arguments], check=False, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment
    )


@pytest.fixture(scope="module")
def trained(trained_tiny_qlae):
    # A QLAE (10 latents, fast architecture) trained 4 steps on the 2,000-image `tiny` config (shared, conftest).
    return trained_tiny_qlae


def test_interpret_prints_table_and_writes_figures_and_json(trained):
    folder, data_dir, output_dir = trained
    completed = _run(
        ["-m", "keras_latentquant.interpret", f"--model={output_dir}", "--dataset_config=tiny",
         f"--data_dir={data_dir}", "--num_samples=300", "--num_points=8", "--epochs=4", "--num_images=6"],
        folder,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for label in ("SFVQ curve (8 corner points)", "VQ k-means (8 codewords)", "SFVQ corner points", *FACTOR_NAMES):
        assert label in completed.stdout, label
    assert "300 samples, 10-D encoder outputs" in completed.stdout
    assert "Epoch 4/4" in completed.stdout  # the fit's progress bar

    # Written into <run>/interpretation by default.
    interpretation = output_dir / "interpretation"
    summary = json.loads((interpretation / "curve.json").read_text())
    assert summary["num_samples"] == 300 and summary["num_points"] == 8 and summary["latent_dim"] == 10
    assert summary["latent_space"] == "encoder outputs" and summary["factor_names"] == FACTOR_NAMES
    errors = summary["errors"]
    assert 0 < errors["sfvq"] <= errors["sfvq_corner_points"] < errors["total_variance"]
    assert 0 < errors["vq_kmeans"] < errors["total_variance"]
    assert list(summary["nmi"]) == FACTOR_NAMES
    assert all(0.0 <= value <= 1.0 for value in summary["nmi"].values())
    histogram = summary["positions_histogram"]
    assert len(histogram["bin_edges"]) == 8 and histogram["bin_edges"][-1] == 7.0  # one bin per segment
    assert sum(histogram["counts"]) == 300
    for profile in summary["factors_along_curve"]:
        assert np.array(profile["counts"]).sum() == 300 and len(profile["mean"]) == 7
    assert np.array(summary["corner_points"]).shape == (8, 10)
    assert summary["strip_positions"] == pytest.approx(np.linspace(0, 7, 6).tolist())
    assert summary["num_steps"] == 4 * 3 and len(summary["growth_steps"]) == 1
    assert summary["seconds"]["fit"] > 0

    strip = matplotlib.image.imread(interpretation / "curve_strip.png")
    assert strip.shape[1] > 2.5 * strip.shape[0]  # one row of six images
    assert (interpretation / "factors_along_curve.png").stat().st_size > 10_000


ERROR_CASES = [
    (["--model=/nonexistent/model.keras"], "does not exist"),
    (["--dataset=procedural_shapes3d"], "takes images of shape (64, 64, 1)"),
    (["--num_points=24"], "--num_points must be --initial_points times a power of two"),
    # A Keras model of the right input shape with no encoder: rejected by name before any data is encoded.
    (["--model={folder}/plain.keras"], "neither an autoencoder with an 'encoder' sub-model nor an InfoGAN"),
]


@pytest.fixture(scope="module")
def error_runs(trained):
    # All the cases in one interpreter (conftest.run_command_cases): one TensorFlow start-up, not one per case.
    folder, data_dir, output_dir = trained
    import keras

    plain = keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Flatten(), keras.layers.Dense(2)], name="plain")
    plain.save(os.path.join(folder, "plain.keras"))
    base = [f"--model={output_dir}", "--dataset_config=tiny", f"--data_dir={data_dir}", "--num_samples=50"]
    cases = {str(index): base + [argument.format(folder=folder) for argument in arguments]
             for index, (arguments, _) in enumerate(ERROR_CASES)}
    return run_command_cases("keras_latentquant.interpret.__main__", cases, folder)


@pytest.mark.parametrize("index", range(len(ERROR_CASES)))
def test_interpret_errors_name_the_problem(error_runs, index):
    arguments, message = ERROR_CASES[index]
    result = error_runs[str(index)]
    assert result["code"] != 0, arguments
    assert message in result["output"], (arguments, result["output"][-2000:])
