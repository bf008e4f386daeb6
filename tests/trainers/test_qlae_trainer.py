"""Smoke runs of trainers/qlae.py as a user runs it: a few steps that write every promised output."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "trainers", "qlae.py")


def _run(arguments, cwd, timeout=600):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, SCRIPT, *arguments], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.mark.parametrize(
    "model, strategy, dataset",
    [
        # QLAE under MirroredStrategy (QLAE with the default strategy goes through the same trainer in the
        # evaluation, interpretation, resume and determinism tests), and AE on the colour dataset.
        ("qlae", "mirrored", "procedural_dsprites"),
        ("ae", "default", "procedural_shapes3d"),
    ],
)
def test_smoke_run_writes_outputs(model, strategy, dataset, tmp_path, data_dir):
    flagfile = tmp_path / "smoke.flags"
    flagfile.write_text(
        "\n".join(
            [
                f"--dataset={dataset}",
                "--dataset_config=tiny",
                f"--data_dir={data_dir}",
                "--architecture=fast",
                "--batch_size=16",
                "--steps=6",
                "--eval_interval=3",
                "--eval_samples=200",
                "--verbose=2",
            ]
        )
    )
    output_dir = tmp_path / "run"
    completed = _run(
        [f"--flagfile={flagfile}", f"--model={model}", f"--strategy={strategy}", f"--output_dir={output_dir}"], tmp_path
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    for name in ["metrics.json", "model.keras", "reconstructions.png", "traversals.png", "config.json",
                 "evaluations.jsonl", "timings.json"]:
        assert (output_dir / name).exists(), name
    assert not (output_dir / "checkpoints").exists()  # one copy of the final weights: model.keras
    assert "retracing" not in completed.stderr, completed.stderr[-2000:]
    assert any((output_dir / "logs").rglob("events.out.tfevents.*")), "no TensorBoard events"
    metrics = json.loads((output_dir / "metrics.json").read_text())
    num_factors = 5 if dataset == "procedural_dsprites" else 6
    assert metrics["model"] == model and metrics["steps"] == 6 and metrics["num_latents"] == 2 * num_factors
    for key in ("infom", "infoe", "infoc", "psnr"):
        assert 0.0 <= metrics["final"][key] <= (100.0 if key == "psnr" else 1.0)
    assert len(metrics["final"]["nmi"]) == num_factors and len(metrics["final"]["nmi"][0]) == 2 * num_factors
    assert metrics["final"]["latents"] == ("codes" if model == "qlae" else "continuous")
    assert len(metrics["history"]["loss"]) == 2
    assert "InfoM" in completed.stdout and "PSNR" in completed.stdout
    last_factor = "position_y" if dataset == "procedural_dsprites" else "orientation"
    assert "which latent holds each factor" in completed.stdout and f"  {last_factor}  " in completed.stdout
    evaluations = [json.loads(line) for line in (output_dir / "evaluations.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evaluations] == [3, 6]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--no_such_flag=1"], "no_such_flag"),
        (["--steps=10", "--eval_interval=4"], "multiple of eval_interval"),
        (["--model=no_such_model"], "Registered models: qlae, ae, qlae_no_weight_decay"),
        (["--model=qlea"], "Unknown model 'qlea'. Did you mean 'qlae'?"),
        (["--dataset=procedural_dsprite"], "Did you mean 'procedural_dsprites'"),
        (["--dataset_config=sample50k"], "Unknown config 'sample50k' for dataset 'procedural_dsprites'. Did you mean "
                                         "'sample_50k'"),
        (["--architecture=Fast"], "Did you mean 'fast'?"),
        (["--precision=mixed_bfloat"], "Did you mean 'mixed_bfloat16'"),
        (["--datset=x"], "Did you mean: dataset"),  # absl's own suggestion for an unknown flag
        (["--num_values=1"], "num_values of 'qlae' must be an integer or a list of integers >= 2"),
        (["--batch_size=abc"], "batch_size"),
        (["--flagfile=/nonexistent/quick.flags"], "nonexistent"),
    ],
)
def test_bad_flags_fail_with_a_message(arguments, message, tmp_path):
    completed = _run(arguments + [f"--output_dir={tmp_path / 'run'}"], tmp_path, timeout=120)
    assert completed.returncode != 0
    assert message in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    # The error, not the usage text: a few lines, nothing prepared, no folder made.
    assert "Rerunning the same command after an interruption" not in completed.stderr
    assert not (tmp_path / "run").exists()


def test_unknown_dataset_names_the_valid_ones(tmp_path):
    completed = _run(["--dataset=mnist", f"--output_dir={tmp_path / 'run'}"], tmp_path, timeout=120)
    assert completed.returncode != 0
    assert "procedural_dsprites" in completed.stderr


def test_tfds_dataset_not_prepared_says_how_to_prepare_it(tmp_path):
    completed = _run(
        ["--dataset=shapes3d", f"--data_dir={tmp_path / 'tfds'}", f"--output_dir={tmp_path / 'run'}"],
        tmp_path,
        timeout=120,
    )
    assert completed.returncode != 0
    assert "tfds build shapes3d" in completed.stderr and "--dataset=procedural_shapes3d" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "run").exists()
