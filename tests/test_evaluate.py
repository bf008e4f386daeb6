"""`python -m keras_latentquant.evaluate` on a model the trainer wrote: table, JSON, heatmap, errors."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import run_command_cases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(arguments, cwd, timeout=600):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment
    )


@pytest.fixture(scope="module")
def trained(trained_tiny_qlae):
    # A QLAE (10 latents, fast architecture) trained 4 steps on the 2,000-image `tiny` config (shared, conftest).
    return trained_tiny_qlae


def test_evaluate_prints_table_and_writes_json_and_heatmap(trained):
    folder, data_dir, output_dir = trained
    completed = _run(
        # No --dataset, --dataset_config or --data_dir: the run's own, from its config.json.
        ["-m", "keras_latentquant.evaluate", f"--model={output_dir}", "--num_samples=300", "--dci_importance=linear"],
        folder,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "data procedural_dsprites (the training run's, from its config.json)" in completed.stdout
    for label in ("InfoM", "InfoE", "InfoC", "DCI D", "DCI C", "DCI I", "MIG", "PSNR"):
        assert label in completed.stdout
    evaluation = json.loads((output_dir / "evaluation" / "evaluation.json").read_text())
    assert evaluation["num_samples"] == 300 and evaluation["latents"] == "codes"
    for key in ("infom", "infoe", "infoc", "dci_d", "dci_c", "dci_i", "mig"):
        assert 0.0 <= evaluation[key] <= 1.0, key
    assert len(evaluation["nmi"]) == 5 and evaluation["factor_names"][0] == "shape"
    assert (output_dir / "evaluation" / "nmi_heatmap.png").stat().st_size > 1000


ERROR_CASES = [
    (["--model=/nonexistent/model.keras"], "does not exist"),
    (["--dataset=procedural_shapes3d"], "takes images of shape (64, 64, 1)"),
    (["--dataset=mnist"], "procedural_dsprites"),
]


@pytest.fixture(scope="module")
def error_runs(trained):
    # All the cases in one interpreter (conftest.run_command_cases): one TensorFlow start-up, not one per case.
    folder, data_dir, output_dir = trained
    base = [f"--model={output_dir}", "--dataset_config=tiny", f"--data_dir={data_dir}", "--num_samples=50"]
    cases = {str(index): base + arguments for index, (arguments, _) in enumerate(ERROR_CASES)}
    return run_command_cases("keras_latentquant.evaluate", cases, folder)


@pytest.mark.parametrize("index", range(len(ERROR_CASES)))
def test_evaluate_errors_name_the_problem(error_runs, index):
    arguments, message = ERROR_CASES[index]
    result = error_runs[str(index)]
    assert result["code"] != 0, arguments
    assert message in result["output"], (arguments, result["output"][-2000:])


def test_data_settings_come_from_the_run_unless_given(tmp_path):
    from keras_latentquant.model_files import resolve_data_settings

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(
        {"dataset": "procedural_shapes3d", "dataset_config": "tiny", "data_dir": "/data/tfds", "steps": 4}))
    for model in (run / "model.keras", run / "checkpoints" / "latest.keras"):
        assert resolve_data_settings(str(model), None, None, None) == {
            "dataset": "procedural_shapes3d", "dataset_config": "tiny", "data_dir": "/data/tfds", "from_run": True}
    # Another dataset named: not the run's config (it belongs to the run's dataset), but the run's data folder.
    assert resolve_data_settings(str(run / "model.keras"), "procedural_dsprites", None, None) == {
        "dataset": "procedural_dsprites", "dataset_config": None, "data_dir": "/data/tfds", "from_run": False}
    assert resolve_data_settings(str(run / "model.keras"), None, "full", "/other") == {
        "dataset": "procedural_shapes3d", "dataset_config": "full", "data_dir": "/other", "from_run": True}
    # A file outside a run folder (or an unreadable config) keeps the old default.
    (tmp_path / "loose").mkdir()
    assert resolve_data_settings(str(tmp_path / "loose" / "m.keras"), None, None, None) == {
        "dataset": "procedural_dsprites", "dataset_config": None, "data_dir": None, "from_run": False}
    (run / "config.json").write_text("{not json")
    assert resolve_data_settings(str(run / "model.keras"), None, None, None)["dataset"] == "procedural_dsprites"
