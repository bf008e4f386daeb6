"""Exact resumption: a trainer killed with SIGKILL at a random step and rerun with the same command ends
with the same metrics, evaluations, weights and optimizer state, bit for bit, as an uninterrupted run.

Progress is read from the run's own backup (`backup/state.json`, rewritten atomically every
`--backup_interval` steps), so the kill lands after a known backup and, most often, between two backups:
the rerun then redoes the steps after the backup, starting the input at the backup's batch.
"""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

import h5py
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

COMMON = [
    "--dataset=procedural_dsprites", "--dataset_config=tiny", "--architecture=fast", "--batch_size=16",
    "--eval_samples=200", "--verbose=0",
]


def _command(script, arguments, data_dir, output_dir):
    return [sys.executable, os.path.join(ROOT, "trainers", script), *COMMON, *arguments,
            f"--data_dir={data_dir}", f"--output_dir={output_dir}"]


def _environment():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


def _run(command, timeout=600):
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_environment())
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return completed


def _backup_step(output_dir):
    try:
        with open(os.path.join(output_dir, "backup", "state.json"), encoding="utf-8") as handle:
            return json.load(handle)["step"]
    except (OSError, ValueError):  # not written yet (the file is replaced atomically, never half-read)
        return 0


def _kill_after_backup(command, output_dir, step, timeout=300):
    """Starts `command`, SIGKILLs it as soon as its backup reaches `step`; returns the backup step then."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=_environment())
    deadline = time.monotonic() + timeout
    try:
        while _backup_step(output_dir) < step:
            assert process.poll() is None, f"run ended before step {step}: {process.stderr.read()[-4000:]}"
            assert time.monotonic() < deadline, f"no backup at step {step} after {timeout} s"
            time.sleep(0.01)  # polling interval of the progress file, not a synchronisation guess
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL, "the run ended on its own before it could be killed"
    return _backup_step(output_dir)


def _h5_arrays(path):
    if path.endswith(".keras"):  # a finished run's backup reads the weights of its model.keras
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as folder:
            return _h5_arrays(archive.extract("model.weights.h5", folder))
    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def _final_state(output_dir):
    """metrics.json without wall time, the evaluations, and the final backup's arrays (weights, optimizer)."""
    with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as handle:
        metrics = json.load(handle)
    assert "train_seconds" not in metrics and "seconds" not in metrics["final"]  # wall times: timings.json
    with open(os.path.join(output_dir, "evaluations.jsonl"), encoding="utf-8") as handle:
        evaluations = [json.loads(line) for line in handle]
    for evaluation in evaluations:
        evaluation.pop("seconds", None)
    backup = os.path.join(output_dir, "backup")
    with open(os.path.join(backup, "state.json"), encoding="utf-8") as handle:
        state = json.load(handle)
    arrays = _h5_arrays(os.path.join(backup, state["weights"]))
    with np.load(os.path.join(backup, state["extra"])) as extra:
        arrays.update({f"extra/{key}": extra[key] for key in extra.files})
    return metrics, evaluations, state["step"], arrays


def _assert_same_run(resumed_dir, reference_dir):
    metrics, evaluations, step, arrays = _final_state(resumed_dir)
    reference_metrics, reference_evaluations, reference_step, reference_arrays = _final_state(reference_dir)
    assert metrics == reference_metrics  # final scores and the whole per-epoch history, exactly
    assert evaluations == reference_evaluations
    assert step == reference_step
    assert sorted(arrays) == sorted(reference_arrays)
    assert any("optimizer" in name for name in arrays), sorted(arrays)
    different = [name for name in arrays if not np.array_equal(arrays[name], reference_arrays[name])]
    assert not different, f"arrays differ after resuming: {different}"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def _kill_and_resume(script, arguments, tmp_path, data_dir, kill_steps, seed, reference_arguments=()):
    # The uninterrupted reference first (it also prepares the tiny dataset for the others).
    reference = tmp_path / "uninterrupted"
    _run(_command(script, [*arguments, *reference_arguments], data_dir, reference))
    resumed = tmp_path / "resumed"
    command = _command(script, arguments, data_dir, resumed)
    rng = random.Random(seed)
    killed_at = []
    for index in range(kill_steps):
        # Kill i lands in the i-th of kill_steps equal stretches of steps 1-29 (after the previous kill,
        # which can overshoot its target by a few steps), so a later kill always has steps left to land in.
        low = max(killed_at, default=0) + 1
        target = rng.randrange(low, max(low + 1, 30 * (index + 1) // kill_steps))
        killed_at.append(_kill_after_backup(command, resumed, target))
    completed = _run(command)
    assert f"resuming from the backup at step {killed_at[-1]}" in completed.stdout
    _assert_same_run(resumed, reference)
    return killed_at


def test_qlae_killed_at_random_steps_resumes_to_the_same_result(tmp_path, data_dir):
    # 40 steps, evaluations at 20 and 40, backups every 3 steps: kills land inside and across epochs.
    arguments = ["--model=qlae", "--steps=40", "--eval_interval=20", "--backup_interval=3", "--seed=3"]
    # The reference keeps its checkpoints (which changes nothing it computes): checked here, saving a run.
    killed_at = _kill_and_resume("qlae.py", arguments, tmp_path, data_dir, kill_steps=1, seed=0,
                                 reference_arguments=["--keep_checkpoints"])
    assert all(0 < step < 40 for step in killed_at)
    kept = tmp_path / "uninterrupted"
    assert (kept / "checkpoints" / "latest.keras").exists()
    assert json.loads((kept / "backup" / "state.json").read_text())["weights"] == "step_000000040.weights.h5"


@pytest.mark.slow
def test_vae_noise_resumes_exactly(tmp_path, data_dir):
    # The VAE's reparameterisation noise comes from a SeedGenerator, whose state save_weights leaves out;
    # the backup keeps it, so the resumed run draws the same noise.
    arguments = ["--model=vae", "--steps=40", "--eval_interval=20", "--backup_interval=3", "--seed=1"]
    _kill_and_resume("qlae.py", arguments, tmp_path, data_dir, kill_steps=1, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["beta_tcvae", "vqvae"])
def test_other_models_killed_twice_resume_exactly(model, tmp_path, data_dir):
    arguments = [f"--model={model}", "--steps=40", "--eval_interval=20", "--backup_interval=3", "--seed=2"]
    killed_at = _kill_and_resume("qlae.py", arguments, tmp_path, data_dir, kill_steps=2, seed=2)
    assert killed_at == sorted(killed_at)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["qlinfogan", "infowgan_gp"])
def test_gan_killed_at_a_random_step_resumes_exactly(model, tmp_path, data_dir):
    arguments = [f"--model={model}", "--steps=40", "--eval_interval=20", "--backup_interval=3", "--seed=4",
                 "--critic_steps=2", "--batch_size=8"]
    _kill_and_resume("infogan.py", arguments, tmp_path, data_dir, kill_steps=1, seed=4)


def _finished_run(model, tmp_path, data_dir):
    """A finished 6-step run, checked: one copy of the weights; rerunning the command trains nothing and changes
    nothing, its training time included. Returns (its arguments, its folder, its training seconds)."""
    arguments = [f"--model={model}", "--eval_interval=3", "--backup_interval=2"]
    if model == "qlinfogan":
        arguments += ["--critic_steps=2", "--batch_size=8"]
    continued = tmp_path / "continued"
    finished = _command("qlae.py", arguments + ["--steps=6"], data_dir, continued)
    _run(finished)
    assert not (continued / "checkpoints").exists()
    state = json.loads((continued / "backup" / "state.json").read_text())
    assert state["weights"] == os.path.join("..", "model.keras")
    assert sorted(os.listdir(continued / "backup")) == ["state.json", "step_000000006.state.npz"]
    first = _final_state(continued)
    first_seconds = json.loads((continued / "timings.json").read_text())["train_seconds"]
    completed = _run(finished)
    assert "resuming from the backup at step 6" in completed.stdout
    second = _final_state(continued)
    assert first[:3] == second[:3]
    assert all(np.array_equal(first[3][name], second[3][name]) for name in first[3])
    # The rerun trained nothing: its training time is the first process's, as the backup recorded it when that
    # fit ended, which is also the time the first process reported.
    rerun_seconds = json.loads((continued / "timings.json").read_text())["train_seconds"]
    assert abs(rerun_seconds - first_seconds) <= 0.1, (first_seconds, rerun_seconds)
    return arguments, continued, rerun_seconds


def test_a_finished_run_keeps_one_weights_copy_and_is_unchanged_by_a_rerun(tmp_path, data_dir):
    _finished_run("qlae", tmp_path, data_dir)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["qlae", "qlinfogan"])
def test_a_finished_run_continues_to_more_steps_as_an_uninterrupted_one(model, tmp_path, data_dir):
    # --steps=9 continues from the finished run's backup (which reads model.keras): the same end as 9
    # uninterrupted steps, and the training time adds up.
    arguments, continued, seconds = _finished_run(model, tmp_path, data_dir)
    completed = _run(_command("qlae.py", arguments + ["--steps=9"], data_dir, continued))
    assert "resuming from the backup at step 6" in completed.stdout
    assert json.loads((continued / "timings.json").read_text())["train_seconds"] > seconds
    reference = tmp_path / "uninterrupted"
    _run(_command("qlae.py", arguments + ["--steps=9"], data_dir, reference))
    _assert_same_run(continued, reference)
