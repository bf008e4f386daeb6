"""Smoke runs of trainers/infogan.py as a user runs it, the evaluation command on its output, bad flags."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "trainers", "infogan.py")


def _run(arguments, cwd, timeout=600, script=SCRIPT):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    command = [sys.executable, script, *arguments] if script else [sys.executable, *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


SMOKE_FLAGS = [
    "--dataset_config=tiny",
    "--architecture=fast",
    "--batch_size=8",
    "--critic_steps=2",
    "--steps=4",
    "--eval_interval=2",
    "--eval_samples=200",
    "--num_samples_shown=9",
    "--verbose=2",
]


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory, data_dir):
    """`run(model, strategy, script)`: the smoke run's folder and its output, trained once per module (the
    generator-file and evaluation tests read the default-strategy runs of the smoke test)."""
    done = {}

    def run(model, strategy="default", script="infogan.py"):
        key = (model, strategy, script)
        if key not in done:
            folder = tmp_path_factory.mktemp(f"{model}_{strategy}")
            output_dir = folder / "run"
            completed = _run(
                SMOKE_FLAGS + [f"--data_dir={data_dir}", f"--model={model}", f"--strategy={strategy}",
                               f"--output_dir={output_dir}"],
                folder, script=os.path.join(ROOT, "trainers", script),
            )
            assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
            done[key] = output_dir, completed
        return done[key]

    return run


@pytest.mark.parametrize(
    "model, strategy, script",
    # One trainer for every model (infogan.py is its alias): QLInfoGAN under MirroredStrategy through qlae.py,
    # InfoWGAN-GP with the default strategy through infogan.py.
    [("infowgan_gp", "default", "infogan.py"), ("qlinfogan", "mirrored", "qlae.py")],
)
def test_smoke_run_writes_outputs(model, strategy, script, smoke_runs):
    output_dir, completed = smoke_runs(model, strategy, script)
    for name in ["metrics.json", "model.keras", "generator.keras", "samples.png", "traversals.png", "config.json",
                 "evaluations.jsonl", "timings.json",
                 os.path.join("images", "step_0000002_samples.png"),
                 os.path.join("images", "step_0000004_traversals.png")]:
        assert (output_dir / name).exists(), name
    assert not (output_dir / "checkpoints").exists()  # one copy of the final weights: model.keras
    assert any((output_dir / "logs" / "images").glob("events.out.tfevents.*")), "no TensorBoard images"
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert metrics["model"] == model and metrics["steps"] == 4 and metrics["num_latents"] == 10
    for key in ("infom", "infoe", "infoc"):
        assert 0.0 <= metrics["final"][key] <= 1.0
    assert "psnr" not in metrics["final"]
    assert metrics["final"]["latents"] == ("codes" if model == "qlinfogan" else "continuous")
    history = metrics["history"]
    assert len(history["critic_loss"]) == 2 and len(history["generator_loss"]) == 2
    assert all(np.isfinite(history["gradient_penalty"])) and "loss" not in history
    assert ("latent_quantization_perplexity" in history) == (model == "qlinfogan")
    assert ("codebook" in metrics) == (model == "qlinfogan")
    evaluations = [json.loads(line) for line in (output_dir / "evaluations.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evaluations] == [2, 4]
    assert "InfoM" in completed.stdout and "PSNR" not in completed.stdout


def test_generator_file_maps_latents_to_images(tmp_path, smoke_runs):
    output_dir, _ = smoke_runs("qlinfogan", "mirrored", "qlae.py")
    check = (
        "import keras, numpy as np, keras_latentquant\n"
        f"gan = keras.saving.load_model({str(output_dir / 'model.keras')!r})\n"
        f"generator = keras.saving.load_model({str(output_dir / 'generator.keras')!r})\n"
        "z = np.random.default_rng(0).uniform(-0.5, 0.5, (3, 10)).astype('float32')\n"
        "a, b = generator.predict(z, verbose=0), gan.generator.predict(z, verbose=0)\n"
        "assert a.shape == (3, 64, 64, 1) and 0 <= a.min() and a.max() <= 1, a.shape\n"
        "assert np.array_equal(a, b)\n"
        "print('ok', gan.optimizer.iterations.numpy(), gan.generator_optimizer.iterations.numpy())\n"
    )
    completed = _run(["-c", check], tmp_path, script=None)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "ok 8 4" in completed.stdout  # 4 steps x 2 critic updates, 4 generator updates


def test_evaluate_command_scores_a_gan_without_psnr(tmp_path, data_dir, smoke_runs):
    output_dir, _ = smoke_runs("infowgan_gp")
    completed = _run(
        ["-m", "keras_latentquant.evaluate", f"--model={output_dir}", "--dataset_config=tiny",
         f"--data_dir={data_dir}", "--num_samples=300", "--dci_importance=linear"],
        tmp_path, script=None,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for label in ("InfoM", "InfoE", "InfoC", "DCI D", "MIG"):
        assert label in completed.stdout
    assert "PSNR" not in completed.stdout
    evaluation = json.loads((output_dir / "evaluation" / "evaluation.json").read_text())
    assert evaluation["latents"] == "continuous" and evaluation["num_samples"] == 300
    assert 0.0 <= evaluation["mig"] <= 1.0


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--model=qlinfogn"], "qlinfogan"),  # the enum names the valid models
        (["--critic_steps=0"], "critic_steps"),
        (["--beta_1=1.5"], "beta_1"),
        (["--prior=cauchy"], "prior"),
        (["--steps=10", "--eval_interval=4"], "multiple of eval_interval"),
        (["--dataset=mnist"], "procedural_dsprites"),
        (["--no_such_flag=1"], "no_such_flag"),
        (["--flagfile=/nonexistent/gan.flags"], "nonexistent"),
    ],
)
def test_bad_flags_fail_with_a_message(arguments, message, tmp_path):
    completed = _run(arguments + [f"--output_dir={tmp_path / 'run'}"], tmp_path, timeout=120)
    assert completed.returncode != 0
    assert message in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr


def test_flagfiles_parse(tmp_path):
    # The shipped flagfiles name only flags the trainer defines (a typo would fail at parse time).
    names = sorted(os.listdir(os.path.join(ROOT, "trainers", "flags")))
    assert {"quickstart.flags", "qlinfogan_quick.flags", "infowgan_gp_quick.flags"} <= set(names)
    for name in names:
        flagfile = os.path.join(ROOT, "trainers", "flags", name)
        completed = _run([f"--flagfile={flagfile}", "--steps=10", "--eval_interval=3"], tmp_path, timeout=120)
        assert "multiple of eval_interval" in completed.stderr, completed.stderr[-2000:]
