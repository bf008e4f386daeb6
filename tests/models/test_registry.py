"""Every registered model builds through the one builder, trains with model.fit, and its loss falls."""

import keras
import numpy as np
import pytest

from keras_latentquant.models import encode, get_bottleneck
from keras_latentquant.models.registry import MODELS, OPTION_DEFAULTS, build_model, get_model_spec


def _blobs(count=64, seed=0):
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 64, 64, 1), "float32")
    for n, (row, column) in enumerate(rng.integers(8, 48, size=(count, 2))):
        images[n, row : row + 10, column : column + 10] = 1.0
    return images


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_trains_and_its_loss_falls(name):
    keras.utils.set_random_seed(0)
    images = _blobs()
    model = build_model(name, architecture="fast", num_latents=4, dataset_size=len(images))
    assert model.name == name
    initial = model.evaluate(images, images, verbose=0, return_dict=True)["loss"]
    model.fit(images, images, batch_size=32, epochs=12, verbose=0)
    final = model.evaluate(images, images, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(final) and final < 0.6 * initial, (name, initial, final)
    latents = encode(model, images[:8])
    assert latents["latents"].shape[0] == 8


@pytest.mark.parametrize(
    "name, weight_decay, bottleneck",
    [
        ("qlae", 0.1, "LatentQuantization"),
        ("ae", 0.0, None),
        ("qlae_no_weight_decay", 0.0, "LatentQuantization"),
        ("ae_weight_decay", 0.1, None),
        ("vae", 0.0, "GaussianPosterior"),
        ("beta_vae", 0.0, "GaussianPosterior"),
        ("beta_tcvae", 0.0, "GaussianPosterior"),
        ("ard_vae", 0.0, "ARDGaussianPosterior"),
        ("bioae", 0.01, "NonNegativeLatents"),
        ("vqvae", 0.0, "VectorQuantization"),
        ("fsq", 0.1, "FiniteScalarQuantization"),
    ],
)
def test_defaults_and_bottlenecks(name, weight_decay, bottleneck):
    model = build_model(name, architecture="fast", num_latents=4, dataset_size=1000, compile=True)
    assert model.optimizer.weight_decay == pytest.approx(weight_decay)
    layer = get_bottleneck(model)
    assert (None if layer is None else type(layer).__name__) == bottleneck
    if bottleneck in ("GaussianPosterior", "ARDGaussianPosterior"):
        assert model.get_layer("encoder").output_shape[-1] == 8  # means and log-variances
    assert {spec.name for spec in MODELS.values()} == set(MODELS)


def test_beta_defaults_and_overrides():
    assert get_bottleneck(build_model("vae", architecture="fast", num_latents=2)).beta == 1.0
    assert get_bottleneck(build_model("beta_vae", architecture="fast", num_latents=2)).beta == 4.0
    assert get_bottleneck(build_model("beta_vae", architecture="fast", num_latents=2, beta=8.0)).beta == 8.0
    # The KL is per image; the reconstruction loss is per pixel: the registry scales it by 1/pixels.
    assert get_bottleneck(build_model("vae", architecture="fast", num_latents=2)).loss_scale == pytest.approx(1 / 4096)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="Registered models"):
        get_model_spec("transformer")
    with pytest.raises(ValueError, match="Unknown model options"):
        build_model("qlae", architecture="fast", num_latents=2, not_an_option=1)
    with pytest.raises(ValueError, match="dataset_size"):
        build_model("beta_tcvae", architecture="fast", num_latents=2)
    assert "dataset_size" in OPTION_DEFAULTS
