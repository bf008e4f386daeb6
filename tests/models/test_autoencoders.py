"""QLAE and AE builders: structure, training that lowers the loss, `.keras` round trip, encode()."""

import os

import keras
import numpy as np
import pytest

from keras_latentquant.layers import LatentQuantization
from keras_latentquant.models import ImageBinaryCrossentropy, build_ae, build_qlae, encode, get_quantizer
from keras_latentquant.optimizers import DecoupledWeightDecayAdam
from tests.conftest import square_images


def test_qlae_structure_and_defaults():
    model = build_qlae(num_latents=6, architecture="fast")
    assert model.output_shape == (None, 64, 64, 1)
    quantizer = get_quantizer(model)
    assert isinstance(quantizer, LatentQuantization)
    assert quantizer.num_values == 10 and quantizer.quantization_weight == 0.01
    assert quantizer.commitment_weight == 0.01
    assert isinstance(model.optimizer, DecoupledWeightDecayAdam)
    assert model.optimizer.weight_decay == pytest.approx(0.1)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert model.optimizer.clip_value == 1.0 and model.optimizer.clipvalue is None  # decayed group only
    assert model.optimizer.epsilon == 1e-8  # added after bias correction, as optax
    assert build_ae(num_latents=6, architecture="fast").optimizer.weight_decay == 0.0
    assert get_quantizer(build_ae(num_latents=6, architecture="fast", compile=False)) is None


def test_image_binary_crossentropy_by_hand():
    # Logit 0 everywhere: log 2 per pixel whatever the target; logit l vs target 1: log(1 + e^-l).
    targets = np.ones((2, 4, 4, 1), "float32")
    np.testing.assert_allclose(float(ImageBinaryCrossentropy()(targets, np.zeros_like(targets))), np.log(2), rtol=1e-6)
    np.testing.assert_allclose(
        float(ImageBinaryCrossentropy(pixel_reduction="sum")(targets, np.full_like(targets, 2.0))),
        16 * np.log1p(np.exp(-2.0)),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="pixel_reduction"):
        ImageBinaryCrossentropy(pixel_reduction="max")


@pytest.mark.parametrize("builder", [build_qlae, build_ae])
def test_training_lowers_reconstruction_loss(builder):
    keras.utils.set_random_seed(0)
    images = square_images(64, (32, 32, 1), side=8, low=4, high=20)  # 32x32: a quarter of the work of 64x64
    model = builder((32, 32, 1), num_latents=4, architecture="fast")
    initial = model.evaluate(images, images, verbose=0, return_dict=True)["loss"]
    model.fit(images, images, batch_size=32, epochs=15, verbose=0)
    final = model.evaluate(images, images, verbose=0, return_dict=True)["loss"]
    assert final < 0.5 * initial, (initial, final)


def test_full_qlae_keras_round_trip(tmp_path):
    images = square_images(16)
    model = build_qlae(num_latents=4, num_values=[3, 4, 5, 6], architecture="fast", value_range=(-1.0, 1.0))
    model.fit(images, images, batch_size=8, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "qlae.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(model.predict(images, verbose=0), reloaded.predict(images, verbose=0))
    assert get_quantizer(reloaded).values_per_dimension == [3, 4, 5, 6]
    assert isinstance(reloaded.optimizer, DecoupledWeightDecayAdam)
    before, after = encode(model, images), encode(reloaded, images)
    for key in ("continuous", "codes", "quantized", "latents"):
        np.testing.assert_array_equal(before[key], after[key])


def test_encode_returns_codes_on_the_grid():
    images = square_images(8)
    model = build_qlae(num_latents=3, num_values=5, architecture="fast")
    latents = encode(model, images)
    assert latents["codes"].shape == (8, 3) and latents["codes"].dtype == np.int32
    assert latents["codes"].min() >= 0 and latents["codes"].max() <= 4
    codebook = keras.ops.convert_to_numpy(get_quantizer(model).codebook)
    for j in range(3):
        assert set(np.round(latents["quantized"][:, j], 6)) <= set(np.round(codebook[j], 6))
    assert latents["discrete"] and np.array_equal(latents["latents"], latents["codes"])
    ae_latents = encode(build_ae(num_latents=3, architecture="fast"), images)
    assert set(ae_latents) == {"encoder_outputs", "latents", "discrete"} and not ae_latents["discrete"]


def test_saved_model_loads_in_a_fresh_process_after_importing_the_package(tmp_path):
    # A user's script: `import keras_latentquant` must register every custom object of a saved model.
    import subprocess
    import sys

    model = build_qlae(num_latents=3, architecture="fast")
    path = os.path.join(tmp_path, "qlae.keras")
    model.save(path)
    script = (
        "import keras, keras_latentquant, numpy as np\n"
        f"model = keras.saving.load_model({path!r})\n"
        "print(model.predict(np.zeros((1, 64, 64, 1), 'float32'), verbose=0).shape)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "(1, 64, 64, 1)" in completed.stdout
