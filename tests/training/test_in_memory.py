"""The in-memory trainer (`training.in_memory`, the backends without TensorFlow): its batches, its refusals, and
`training.train` choosing it by backend. Its run under JAX without TensorFlow is checked in
tests/backends (cross_backend_case.py trains there)."""

import os

import numpy as np
import pytest

from keras_latentquant.training import in_memory
from keras_latentquant.training.config import TrainConfig


def test_batches_are_seeded_per_epoch_and_resume_at_any_step():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * 25
    generate = in_memory.batches_from(images, batch_size=3, seed=4)  # 3 batches an epoch, one image dropped
    stream = generate(0)
    first = [next(stream) for _ in range(7)]
    for x, y in first:
        assert x.dtype == np.float32 and x.shape == (3, 1, 1, 1) and x is y and 0.0 <= x.min() <= x.max() <= 1.0
    epoch = np.concatenate([x for x, _ in first[:3]]).ravel()
    assert len(set(epoch.tolist())) == 9  # an epoch draws without replacement
    assert not np.array_equal(epoch, np.concatenate([x for x, _ in first[3:6]]).ravel())  # reshuffled
    resumed = generate(4)  # from step 4 on: the same batches as an uninterrupted stream
    for expected, _ in first[4:]:
        np.testing.assert_array_equal(next(resumed)[0], expected)
    with pytest.raises(ValueError, match="batch_size \\(11\\) exceeds the 10 training images"):
        in_memory.batches_from(images, batch_size=11, seed=0)


@pytest.mark.parametrize("fields, message", [
    ({"model": "qlinfogan"}, "qlinfogan is a GAN: its train step needs TensorFlow"),
    ({"strategy": "mirrored"}, "strategy='mirrored' is a tf.distribute strategy"),
])
def test_refuses_what_needs_tensorflow(tmp_path, fields, message):
    config = TrainConfig(**{"output_dir": str(tmp_path / "run"), "dataset_config": "tiny", **fields})
    with pytest.raises(ValueError, match=message):
        in_memory.train_in_memory(config)
    assert not os.path.exists(tmp_path / "run")


def test_refuses_a_folder_holding_a_run(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="already holds a run; the in-memory trainer .* does not resume"):
        in_memory.train_in_memory(TrainConfig(output_dir=str(tmp_path), dataset_config="tiny"))
