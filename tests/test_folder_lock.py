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


def test_the_same_process_cannot_enter_twice_and_can_reenter_after_release(tmp_path):
    folder = str(tmp_path / "new" / "run")
    with folder_lock(folder, "training"):
        assert os.path.isdir(folder)
        with pytest.raises(FolderInUseError, match=f"pid {os.getpid()}"):
            with folder_lock(folder, "tuning"):
                pass
    with folder_lock(folder, "tuning"):
        pass
    assert os.listdir(folder) == []


def test_the_trainer_stops_at_once_on_a_folder_in_use(tmp_path):
    from keras_latentquant.training.config import TrainConfig
    from keras_latentquant.training.run import train

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "evaluations.jsonl").write_text("{}\n")
    config = TrainConfig(output_dir=str(folder), model="qlae", dataset="procedural_dsprites",
                         dataset_config="tiny", data_dir=str(tmp_path / "tfds"), architecture="fast", steps=2,
                         eval_interval=2, eval_samples=50)
    with folder_lock(str(folder), "training qlae"):
        start = time.perf_counter()
        with pytest.raises(FolderInUseError, match="training qlae since"):
            train(config)
        assert time.perf_counter() - start < 5.0
    # Nothing of the other process's was touched, and no data was prepared.
    assert sorted(os.listdir(folder)) == ["evaluations.jsonl"]
    assert not (tmp_path / "tfds").exists()
