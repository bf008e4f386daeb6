"""Test session setup shared by every test module.

TensorFlow fixes its device list the first time it is used, so the two logical CPUs that the
MirroredStrategy tests need are configured here, at import, before any test touches TensorFlow.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TFDS_DISABLE_GCS", "1")

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
if _cpus:
    try:
        tf.config.set_logical_device_configuration(
            _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except RuntimeError:
        # Already initialised by an earlier import: the strategy tests skip if only one CPU is visible.
        pass
