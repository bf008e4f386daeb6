"""Test session setup shared by every test module.

TensorFlow fixes its device list the first time it is used, so the two logical CPUs that the
MirroredStrategy tests need are configured here, at import, before any test touches TensorFlow.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TFDS_DISABLE_GCS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# One op at a time, as training runs by default (`training.run.configure_determinism`).
tf.config.threading.set_inter_op_parallelism_threads(1)
_cpus = tf.config.list_physical_devices("CPU")
if _cpus:
    try:
        tf.config.set_logical_device_configuration(
            _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except RuntimeError:
        # Already initialised by an earlier import: the strategy tests skip if only one CPU is visible.
        pass


_MIRRORED_STRATEGY = None


def shared_mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy over the first 2 logical CPUs for the whole test session.

    Several MirroredStrategy instances in one process draw collective-op instance keys that can
    collide ("Shape mismatch in the collective instance ..."), so every test uses this one.
    """
    global _MIRRORED_STRATEGY
    if _MIRRORED_STRATEGY is None:
        devices = [device.name for device in tf.config.list_logical_devices("CPU")][:2]
        _MIRRORED_STRATEGY = tf.distribute.MirroredStrategy(devices)
    return _MIRRORED_STRATEGY


def square_images(count=64, shape=(64, 64, 1), side=10, low=8, high=48, seed=0):
    """Float32 images in {0, 1}: one bright `side` x `side` square per image, its top-left corner drawn
    uniformly from `[low, high)` on both axes. Easy to reconstruct, quick to learn."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count,) + tuple(shape), "float32")
    for n, (row, column) in enumerate(rng.integers(low, high, size=(count, 2))):
        images[n, row : row + side, column : column + side] = 1.0
    return images
