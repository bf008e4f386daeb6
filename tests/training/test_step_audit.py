"""The compiled train steps stay on the device: no Python callbacks, prints, summaries or host copies."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.models.catalogue import build_infowgan_gp, build_qlinfogan
from keras_latentquant.models.catalogue import build_model
from keras_latentquant.layers import LatentQuantization
from keras_latentquant.training.step_audit import (
    HOST_OPS, host_ops, profile_train_step, scope_seconds, train_step_op_counts,
)

IMAGE_SHAPE = (64, 64, 1)


def _images(count, seed=0):
    return (np.random.default_rng(seed).random((count, *IMAGE_SHAPE)) < 0.5).astype("float32")


@pytest.mark.parametrize("name", ["qlae", "ae", "beta_vae", "beta_tcvae", "vqvae", "ard_vae"])
def test_autoencoder_train_steps_have_no_host_ops(name):
    model = build_model(name, IMAGE_SHAPE, num_latents=4, architecture="fast", dataset_size=1000)
    images = _images(8)
    counts = train_step_op_counts(model, (images, images))
    # The step is really there (convolutions, their gradients, the optimizer's updates) and stays on device.
    assert counts.get("Conv2D", 0) > 0 and counts.get("Conv2DBackpropInput", 0) > 0
    assert counts.get("AssignVariableOp", 0) + counts.get("AssignSubVariableOp", 0) > 0
    assert {op: n for op, n in counts.items() if op in HOST_OPS} == {}


@pytest.mark.parametrize("builder", [build_qlinfogan, build_infowgan_gp])
def test_gan_train_steps_have_no_host_ops(builder):
    model = builder(IMAGE_SHAPE, num_latents=4, architecture="fast", critic_steps=2)
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


def _repeated(images):
    return tf.data.Dataset.from_tensors((images, images)).repeat()


def test_profile_attributes_op_time_to_the_quantizer_and_none_to_the_ae():
    dataset = _repeated(_images(16))
    qlae = build_model("qlae", IMAGE_SHAPE, num_latents=4, architecture="fast")
    quantizer = next(layer for layer in qlae.layers if isinstance(layer, LatentQuantization))
    op_seconds = profile_train_step(qlae, dataset, steps=2)
    total = sum(op_seconds.values())
    in_quantizer = scope_seconds(op_seconds, quantizer.name)
    gradient_ops = [name for name in op_seconds if "gradient_tape" in name and f"/{quantizer.name}" in name]
    assert in_quantizer > 0 and gradient_ops  # its forward ops and their gradients are found
    assert scope_seconds(op_seconds, "encoder") > 10 * in_quantizer  # a scalar codebook is cheap next to convs
    assert in_quantizer / total < 0.05
    ae = build_model("ae", IMAGE_SHAPE, num_latents=4, architecture="fast")
    ae_seconds = profile_train_step(ae, dataset, steps=2)
    assert sum(ae_seconds.values()) > 0 and scope_seconds(ae_seconds, quantizer.name) == 0.0


def test_profile_finds_the_layer_that_takes_the_time():
    """Positive control: one large matrix product against a one-unit layer."""
    inputs = keras.Input((1024,))
    heavy = keras.layers.Dense(1024, name="heavy")(inputs)
    outputs = keras.layers.Dense(1, name="light")(heavy)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    data = np.random.default_rng(0).normal(size=(512, 1024)).astype("float32")
    dataset = tf.data.Dataset.from_tensors((data, data[:, :1])).repeat()
    op_seconds = profile_train_step(model, dataset, steps=3)
    heavy_seconds, light_seconds = scope_seconds(op_seconds, "heavy"), scope_seconds(op_seconds, "light")
    assert heavy_seconds / sum(op_seconds.values()) > 0.5
    assert heavy_seconds > 10 * light_seconds > 0


def test_scope_seconds_matches_whole_path_components():
    op_seconds = {
        "StatefulPartitionedCall/qlae_1/latent_quantization_1/sub:Sub": 1.0,
        "StatefulPartitionedCall/gradient_tape/qlae_1/latent_quantization_1/Tile:Tile": 2.0,
        "StatefulPartitionedCall/qlae_1/latent_quantization_extra/sub:Sub": 4.0,
        "StatefulPartitionedCall/qlae_1/decoder_1/latent_quantization:Mul": 8.0,  # an op named like the scope
    }
    assert scope_seconds(op_seconds, "latent_quantization") == 3.0
    assert scope_seconds(op_seconds, "decoder") == 8.0


def test_profile_refuses_an_xla_step_it_cannot_break_down():
    model = build_model("qlae", IMAGE_SHAPE, num_latents=4, architecture="fast", jit_compile=True)
    with pytest.raises(ValueError, match="jit_compile=False to profile it"):
        profile_train_step(model, _repeated(_images(4)), steps=1)
