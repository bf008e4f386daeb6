"""The same trainer command twice gives a byte-identical metrics.json, even with the two runs at once on a
machine busier than its cores (`TrainConfig.deterministic`, the default; `training.run.configure_determinism`).

Batch 64 of 64x64 images through the fast model: large enough that the kernels split their work across
threads, which is where concurrent ops made runs differ before (from the first backward pass). The control
with `--nodeterministic` is marked slow: concurrency only sometimes reorders the sums within a few steps.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "trainers", "qlae.py")
BURNER = "import time\nend = time.time() + 120\nwhile time.time() < end:\n    pass\n"


def _command(output_dir, data_dir, extra=()):
    arguments = ["--dataset_config=tiny", f"--data_dir={data_dir}", "--architecture=fast", "--batch_size=64",
                 "--steps=8", "--eval_interval=4", "--eval_samples=100", "--verbose=0",
                 f"--output_dir={output_dir}", *extra]
    return [sys.executable, SCRIPT, *arguments]


def _environment():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


def _metrics(completed, output_dir):
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    return (output_dir / "metrics.json").read_bytes()


def _train(output_dir, data_dir, extra=(), busy=False):
    burner = subprocess.Popen([sys.executable, "-c", BURNER]) if busy else None
    try:
        completed = subprocess.run(_command(output_dir, data_dir, extra), capture_output=True, text=True,
                                   timeout=600, env=_environment())
    finally:
        if burner:
            burner.kill()
            burner.wait()
    return _metrics(completed, output_dir)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_two_runs_of_a_command_give_identical_metrics(tmp_path, data_dir):
    # Both at once: each multi-threaded run competes with the other (and with the rest of the test run). The
    # second to want the tiny dataset waits while the first prepares it (`datasets.pipeline`'s lock).
    folders = [tmp_path / "first", tmp_path / "second"]
    processes = [subprocess.Popen(_command(folder, data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=_environment()) for folder in folders]
    outputs = [process.communicate(timeout=600) for process in processes]
    first, second = (_metrics(subprocess.CompletedProcess(p.args, p.returncode, *out), folder)
                     for p, out, folder in zip(processes, outputs, folders))
    assert first == second
    assert b"train_seconds" not in first and (tmp_path / "second" / "timings.json").exists()


@pytest.mark.slow
def test_without_determinism_runs_can_differ(tmp_path, data_dir):
    """The control: concurrent ops change the last bits (seen in every pair tried at 30 steps; not guaranteed)."""
    runs = [_train(tmp_path / f"run_{i}", data_dir, ["--nodeterministic", "--steps=40", "--eval_interval=40"],
                   busy=bool(i % 2)) for i in range(3)]
    assert len(set(runs)) > 1
