"""The compiled train steps stay on the device: no Python callbacks, prints, summaries or host copies."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.models.infogan import build_infowgan_gp, build_qlinfogan
from keras_latentquant.models.registry import build_model
from keras_latentquant.training.step_audit import HOST_OPS, host_ops, train_step_op_counts

IMAGE_SHAPE = (64, 64, 1)


def _images(count, seed=0):
    return (np.random.default_rng(seed).random((count, *IMAGE_SHAPE)) < 0.5).astype("float32")


@pytest.mark.parametrize("name", ["qlae", "ae", "beta_vae", "beta_tcvae", "vqvae", "ard_vae"])
def test_autoencoder_train_steps_have_no_host_ops(name):
    model = build_model(name, IMAGE_SHAPE, num_latents=4, architecture="small", dataset_size=1000)
    images = _images(8)
    counts = train_step_op_counts(model, (images, images))
    # The step is really there (convolutions, their gradients, the optimizer's updates) and stays on device.
    assert counts.get("Conv2D", 0) > 0 and counts.get("Conv2DBackpropInput", 0) > 0
    assert counts.get("AssignVariableOp", 0) + counts.get("AssignSubVariableOp", 0) > 0
    assert {op: n for op, n in counts.items() if op in HOST_OPS} == {}


@pytest.mark.parametrize("builder", [build_qlinfogan, build_infowgan_gp])
def test_gan_train_steps_have_no_host_ops(builder):
    model = builder(IMAGE_SHAPE, num_latents=4, architecture="small", critic_steps=2)
    assert host_ops(model, _images(2 * 4)) == {}


def test_audit_finds_python_and_print_inside_a_step():
    """Positive control: a train step with a py_function and a tf.print is caught."""

    class Chatty(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self.dense(x) - y))
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(gradients, self.trainable_variables)
            tf.print("loss", loss)
            doubled = tf.py_function(lambda value: value * 2, [loss], tf.float32)
            return {"loss": doubled}

    model = Chatty()
    model.compile(optimizer="sgd")
    model.build((None, 3))
    batch = (np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32"))
    found = host_ops(model, batch)
    assert found.get("PrintV2") == 1
    assert found.get("EagerPyFunc") == 1
