"""The same trainer command twice gives a byte-identical metrics.json, even with another process burning a
core during one of the runs (`TrainConfig.deterministic`, the default; `training.run.configure_determinism`).

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


def _train(output_dir, data_dir, extra=(), busy=False):
    arguments = ["--dataset_config=tiny", f"--data_dir={data_dir}", "--architecture=fast", "--batch_size=64",
                 "--steps=8", "--eval_interval=4", "--eval_samples=100", "--verbose=0",
                 f"--output_dir={output_dir}", *extra]
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    burner = subprocess.Popen([sys.executable, "-c", BURNER]) if busy else None
    try:
        completed = subprocess.run([sys.executable, SCRIPT, *arguments], capture_output=True, text=True,
                                   timeout=600, env=environment)
    finally:
        if burner:
            burner.kill()
            burner.wait()
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    return (output_dir / "metrics.json").read_bytes()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_two_runs_of_a_command_give_identical_metrics(tmp_path, data_dir):
    first = _train(tmp_path / "first", data_dir)
    second = _train(tmp_path / "second", data_dir, busy=True)
    assert first == second
    assert b"train_seconds" not in first and (tmp_path / "second" / "timings.json").exists()


@pytest.mark.slow
def test_without_determinism_runs_can_differ(tmp_path, data_dir):
    """The control: concurrent ops change the last bits (seen in every pair tried at 30 steps; not guaranteed)."""
    runs = [_train(tmp_path / f"run_{i}", data_dir, ["--nodeterministic", "--steps=40", "--eval_interval=40"],
                   busy=bool(i % 2)) for i in range(3)]
    assert len(set(runs)) > 1
