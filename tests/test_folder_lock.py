"""`folder_lock`: one process per output folder, the holder named in the refusal, stale locks taken over, and
the trainer taking the lock before it loads anything."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from keras_latentquant.folder_lock import LOCK_FILE, FolderInUseError, folder_lock, lock_holder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _holding_process(folder, purpose="training qlae"):
    """A child process that takes `folder`'s lock, prints 'locked' and sleeps until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {ROOT!r})
        from keras_latentquant.folder_lock import folder_lock
        with folder_lock({str(folder)!r}, {purpose!r}):
            print("locked", flush=True)
            time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_second_process_is_refused_with_the_holder_named(tmp_path):
    folder = tmp_path / "run"
    child = _holding_process(folder)
    try:
        holder = lock_holder(str(folder))
        assert holder["pid"] == child.pid and holder["purpose"] == "training qlae"
        start = time.perf_counter()
        with pytest.raises(FolderInUseError) as caught:
            with folder_lock(str(folder), "exporting"):
                pytest.fail("entered a folder another process holds")
        assert time.perf_counter() - start < 1.0  # refused at once, no waiting
        message = str(caught.value)
        for fragment in (repr(str(folder)), f"pid {child.pid}", "training qlae since", "exporting here",
                         "another output folder"):
            assert fragment in message, (fragment, message)
        assert caught.value.holder["pid"] == child.pid
    finally:
        child.kill()
        child.wait()


def test_a_killed_holders_lock_is_taken_over(tmp_path):
    folder = tmp_path / "run"
    child = _holding_process(folder)
    child.send_signal(signal.SIGKILL)
    child.wait()
    # The dead process's record is still in the file, but nobody holds the lock.
    assert json.loads((folder / LOCK_FILE).read_text())["pid"] == child.pid
    assert lock_holder(str(folder)) is None
    with folder_lock(str(folder), "training ae"):
        holder = lock_holder(str(folder))
        assert holder is None or holder["pid"] == os.getpid()  # our own lock does not block our shared probe
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (folder / LOCK_FILE).exists()  # released and removed


def test_reentrant_in_one_process_and_a_folder_made_for_nothing_is_removed(tmp_path):
    folder = tmp_path / "new" / "run"
    with folder_lock(str(folder), "training"):
        with folder_lock(str(folder), "training"):  # a command that locked early, then its training: held once
            assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()
        assert (folder / LOCK_FILE).exists()  # still held after the inner block
    assert not folder.exists()  # made by the lock and empty when released (a command that failed early)
    with folder_lock(str(folder), "training"):
        (folder / "config.json").write_text("{}")
    assert os.listdir(folder) == ["config.json"]  # what was written stays; the lock file goes
    with folder_lock(str(folder), "tuning"):  # taken again after release
        pass
    assert os.listdir(folder) == ["config.json"]  # a folder it did not make is never removed


def test_the_trainer_stops_at_once_on_a_folder_in_use(tmp_path):
    from keras_latentquant.training.config import TrainConfig
    from keras_latentquant.training.run import train

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "evaluations.jsonl").write_text("{}\n")
    config = TrainConfig(output_dir=str(folder), model="qlae", dataset="procedural_dsprites",
                         dataset_config="tiny", data_dir=str(tmp_path / "tfds"), architecture="fast", steps=2,
                         eval_interval=2, eval_samples=50)
    child = _holding_process(folder)
    try:
        start = time.perf_counter()
        with pytest.raises(FolderInUseError, match="training qlae since"):
            train(config)
        assert time.perf_counter() - start < 5.0
    finally:
        child.kill()
        child.wait()
    # Nothing of the other process's was touched, and no data was prepared.
    assert sorted(os.listdir(folder)) == [LOCK_FILE, "evaluations.jsonl"]  # the killed holder's lock file stays
    assert not (tmp_path / "tfds").exists()


def test_a_second_trainer_command_stops_before_tensorflow_starts(tmp_path):
    folder = tmp_path / "run"
    child = _holding_process(folder)
    try:
        start = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-X", "importtime", os.path.join(ROOT, "trainers", "qlae.py"), "--dataset_config=tiny",
             f"--data_dir={tmp_path / 'tfds'}", f"--output_dir={folder}"],
            capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT),
        )
        seconds = time.perf_counter() - start
    finally:
        child.kill()
        child.wait()
    assert completed.returncode == 1
    assert f"error: Output folder {str(folder)!r} is in use by another process (pid {child.pid}" in completed.stderr
    assert "Traceback" not in completed.stderr
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in completed.stderr.splitlines()
                if line.startswith("import time:")}
    assert "tensorflow" not in imported and "keras" not in imported
    assert seconds < 30  # in practice well under a second; the bound only catches a hang
    assert not (tmp_path / "tfds").exists()
