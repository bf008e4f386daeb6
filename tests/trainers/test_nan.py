"""A run whose loss turns NaN fails with the step, the last good backup and what to try, and keeps that
backup (and the checkpoint, metrics.json, model.keras) free of the NaN weights."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.training import run
from keras_latentquant.training.callbacks import NonFiniteLossError
from keras_latentquant.training.config import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _h5_floats(path):
    arrays = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    return [a for a in arrays if np.issubdtype(a.dtype, np.floating)]


def test_nan_batch_stops_at_its_step_and_keeps_the_last_good_backup(tmp_path, monkeypatch):
    nan_step = 8  # batch 7 (0-based) is NaN: its step's loss is the first non-finite one
    load_run_data = run.load_run_data

    def poisoned_run_data(config, mode, batch_size):
        data = load_run_data(config, mode, batch_size)
        clean_from = data.train_from

        def train_from(step=0):
            def poison(index, batch):
                images, targets = batch
                poisoned = tf.fill(tf.shape(images), np.float32(np.nan))
                return tf.where(index + step == nan_step - 1, poisoned, images), targets

            return clean_from(step).enumerate().map(poison)

        data.train_from = train_from
        return data

    monkeypatch.setattr(run, "load_run_data", poisoned_run_data)
    output_dir = tmp_path / "run"
    config = TrainConfig(
        output_dir=str(output_dir), model="ae", dataset_config="tiny", data_dir=str(tmp_path / "tfds"),
        architecture="fast", batch_size=16, steps=12, eval_interval=4, backup_interval=3, eval_samples=200,
        verbose=0,
    )
    with pytest.raises(NonFiniteLossError) as error:
        run.train(config)
    message = str(error.value)
    backup = output_dir / "backup"
    state = json.loads((backup / "state.json").read_text())
    assert state["step"] == 6  # backups at 3, 4 (epoch end), 6; none at or after the NaN step
    # The AE's logged loss stays finite on the NaN batch (see the report); its update makes the weights NaN,
    # which the epoch-end check (step 8 ends epoch 2) catches before evaluation, backup and checkpoint.
    assert f"Training stopped at step {nan_step}: the " in message
    assert "became non-finite" in message or "became nan" in message
    assert f"Last good backup: {backup / state['weights']} (step 6)" in message
    assert f"Last good checkpoint: {output_dir / 'checkpoints' / 'latest.keras'} (step 4)" in message
    assert "lower --learning_rate (this run: 0.001)" in message
    floats = _h5_floats(backup / state["weights"])
    assert floats and all(np.all(np.isfinite(a)) for a in floats)
    assert not (output_dir / "metrics.json").exists() and not (output_dir / "model.keras").exists()
    logged = [json.loads(line)["step"] for line in (output_dir / "evaluations.jsonl").read_text().splitlines()]
    assert logged == [4]
    assert sorted(os.listdir(backup)) == sorted([state["weights"], state["extra"], "state.json"])


def test_trainer_exits_nonzero_with_the_message(tmp_path):
    # A learning rate of 1e30 overflows the weights within the first steps.
    output_dir = tmp_path / "run"
    command = [
        sys.executable, os.path.join(ROOT, "trainers", "qlae.py"), "--model=ae", "--dataset_config=tiny",
        "--architecture=fast", "--batch_size=16", "--eval_samples=200", "--verbose=0", "--steps=8",
        "--eval_interval=4", "--learning_rate=1e30", f"--data_dir={tmp_path / 'tfds'}", f"--output_dir={output_dir}",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT))
    assert completed.returncode == 1, completed.stderr[-4000:]
    assert "Traceback" not in completed.stderr
    assert "error: Training stopped at step " in completed.stderr
    assert "lower --learning_rate (this run: 1e+30)" in completed.stderr
    assert not (output_dir / "metrics.json").exists() and not (output_dir / "model.keras").exists()


def test_a_monitored_value_without_data_is_not_a_failed_loss():
    """Under JAX's fit the layers' own trackers hold no value and report NaN (layers.monitoring): not a NaN loss.
    A NaN training loss, or an infinite monitored one, still stops the run."""
    import keras

    from keras_latentquant.layers import LatentQuantization
    from keras_latentquant.training.callbacks import StopOnNonFiniteLoss

    inputs = keras.Input((4,))
    model = keras.Model(inputs, LatentQuantization(num_values=3)(inputs))
    guard = StopOnNonFiniteLoss(steps_per_epoch=10)
    guard.set_model(model)
    guard.set_params({"steps": 10})
    guard.on_train_begin()
    monitored = next(name for name in guard._monitored if name.endswith("commitment_loss"))
    guard.on_train_batch_end(0, {"loss": 0.5, monitored: float("nan")})
    with pytest.raises(NonFiniteLossError, match=f"step 2: the loss '{monitored}' became inf"):
        guard.on_train_batch_end(1, {"loss": 0.5, monitored: float("inf")})
    with pytest.raises(NonFiniteLossError, match="the loss 'loss' became nan"):
        guard.on_train_batch_end(2, {"loss": float("nan"), monitored: 0.1})
