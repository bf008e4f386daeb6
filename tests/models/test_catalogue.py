"""The model catalogue: every autoencoder builds through the one builder, trains with model.fit, and its loss
falls; options are declared once, checked, and foreign ones are errors."""

import dataclasses

import keras
import numpy as np
import pytest

from keras_latentquant.models import encode, get_bottleneck
from keras_latentquant.models.catalogue import MODELS, Option, all_options, build_model, get_model
from tests.conftest import square_images


# Models that differ from another model of this list only in a number (a weight decay, beta): the same code
# trains them, so their training is checked with the slow tests; their construction is checked below.
_SAME_CODE_AS_ANOTHER = {"qlae_no_weight_decay": "qlae", "ae_weight_decay": "ae", "beta_vae": "vae",
                         "vqvae_weight_decay": "vqvae"}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.slow) if name in _SAME_CODE_AS_ANOTHER else name
    for name in sorted(name for name, entry in MODELS.items() if entry.family == "autoencoder")
])
def test_model_trains_and_its_loss_falls(name):
    keras.utils.set_random_seed(0)
    images = square_images(64, (32, 32, 1), side=8, low=4, high=20)  # 32x32: a quarter of the work of 64x64
    model = build_model(name, (32, 32, 1), architecture="fast", num_latents=4, dataset_size=len(images))
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
        ("qlae_global_codebook", 0.1, "LatentQuantization"),
        ("qlae_frozen_codebook", 0.1, "LatentQuantization"),
        ("vqvae_weight_decay", 0.1, "VectorQuantization"),
        ("factorqvae", 0.0, "FactorQuantization"),
    ],
)
def test_defaults_and_bottlenecks(name, weight_decay, bottleneck):
    model = build_model(name, architecture="fast", num_latents=4, dataset_size=1000, compile=True)
    assert model.optimizer.weight_decay == pytest.approx(weight_decay)
    layer = get_bottleneck(model)
    assert (None if layer is None else type(layer).__name__) == bottleneck
    if bottleneck in ("GaussianPosterior", "ARDGaussianPosterior"):
        assert model.get_layer("encoder").output_shape[-1] == 8  # means and log-variances
    assert {entry.name for entry in MODELS.values()} == set(MODELS)


def test_beta_defaults_and_overrides():
    assert get_bottleneck(build_model("vae", architecture="fast", num_latents=2)).beta == 1.0
    assert get_bottleneck(build_model("beta_vae", architecture="fast", num_latents=2)).beta == 4.0
    assert get_bottleneck(build_model("beta_vae", architecture="fast", num_latents=2, beta=8.0)).beta == 8.0
    # The KL is per image; the reconstruction loss is per pixel: the catalogue scales it by 1/pixels.
    assert get_bottleneck(build_model("vae", architecture="fast", num_latents=2)).loss_scale == pytest.approx(1 / 4096)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="Registered models"):
        get_model("transformer")
    with pytest.raises(ValueError, match=r"'qlae' has no option not_an_option \(not_an_option is no model's option\)"):
        build_model("qlae", architecture="fast", num_latents=2, not_an_option=1)
    # A foreign option (another model's) is an error naming the models that have it, not silently ignored.
    with pytest.raises(ValueError, match=r"'ae' has no option beta \(beta is an option of vae, beta_vae"):
        build_model("ae", architecture="fast", num_latents=2, beta=2.0)
    with pytest.raises(ValueError, match="dataset_size"):
        build_model("beta_tcvae", architecture="fast", num_latents=2)
    with pytest.raises(ValueError, match=r"num_values of 'qlae' must be an integer or a list of integers >= 2; got 1"):
        build_model("qlae", architecture="fast", num_latents=2, num_values=1)
    with pytest.raises(ValueError, match=r"beta_1 of 'qlinfogan' must be a number in \[0, 1\); got 1.0"):
        build_model("qlinfogan", architecture="fast", num_latents=2, beta_1=1.0)
    with pytest.raises(ValueError, match=r"prior of 'infowgan_gp' must be one of \('uniform', 'normal'\)"):
        build_model("infowgan_gp", architecture="fast", num_latents=2, prior="laplace")


def test_every_option_is_declared_once():
    # One declaration per name: models that share an option share its help, kind and check (defaults may
    # differ, e.g. weight decay).
    for name, declarations in all_options().items():
        first = declarations[0][1]
        for model, option in declarations:
            assert dataclasses.replace(option, default=first.default) == first, (name, model)
    assert [model for model, _ in all_options()["critic_steps"]] == ["qlinfogan", "infowgan_gp"]


def test_option_checks_canonicalise_values():
    values = Option("v", 10, "values", "ints", lower=2)
    assert values.check([5], "m") == 5 and values.check((3, 4), "m") == [3, 4] and values.check(np.int64(7), "m") == 7
    with pytest.raises(ValueError, match="got 2.5"):
        values.check(2.5, "m")
    with pytest.raises(ValueError, match="low < high"):
        Option("r", [0, 1], "range", "range").check([1.0, -1.0], "m")
    with pytest.raises(ValueError, match="True or False"):
        Option("b", False, "flag", "bool").check("yes", "m")


def test_each_model_builds_the_function_its_defaults_say():
    # Defaults in one place: the built, compiled model carries them.
    gan = build_model("qlinfogan", (32, 32, 1), architecture="fast", num_latents=2, seed=0)
    assert gan.critic_steps == 5 and gan.optimizer.weight_decay == pytest.approx(1e-3)
    assert float(gan.optimizer.learning_rate) == pytest.approx(2e-4) and gan.optimizer.beta_2 == pytest.approx(0.9)
    qlae = build_model("qlae", architecture="fast", num_latents=2)
    assert float(qlae.optimizer.learning_rate) == pytest.approx(1e-3) and qlae.optimizer.beta_1 == pytest.approx(0.9)
    assert get_model("qlae").resolve_options({}, "procedural_dsprites")["quantization_weight"] == 0.001


def test_fixed_codebook_option():
    # learnable_codebook=False keeps the initial grid: the codebook is not among the trainable weights.
    fixed = get_bottleneck(build_model("qlae", architecture="fast", num_latents=2, learnable_codebook=False))
    assert not fixed.trainable_weights and len(fixed.non_trainable_weights) >= 1
    assert get_bottleneck(build_model("qlae", architecture="fast", num_latents=2)).trainable_weights


def test_codebook_ablations_change_only_their_codebook():
    # qlae_global_codebook: one (1, 10) codebook; qlae_frozen_codebook: per-latent rows, none trainable; both
    # take QLAE's per-dataset loss weights and weight decay, so only the codebook differs from QLAE.
    shared = get_bottleneck(build_model("qlae_global_codebook", architecture="fast", num_latents=3))
    assert shared.shared_codebook and tuple(shared.codebook.shape) == (1, 10) and shared.trainable_weights
    frozen = get_bottleneck(build_model("qlae_frozen_codebook", architecture="fast", num_latents=3))
    assert not frozen.shared_codebook and tuple(frozen.codebook.shape) == (3, 10) and not frozen.trainable_weights
    for name in ("qlae_global_codebook", "qlae_frozen_codebook"):
        for dataset in ("procedural_dsprites", "procedural_shapes3d", "real_mpi3d"):
            ablation, qlae = (get_model(n).resolve_options({}, dataset) for n in (name, "qlae"))
            assert {k: v for k, v in ablation.items() if k not in ("shared_codebook", "learnable_codebook")} == \
                {k: v for k, v in qlae.items() if k not in ("shared_codebook", "learnable_codebook")}, (name, dataset)
    # The option is QLAE's too, so the ablation is also `--model=qlae --shared_codebook`.
    assert get_bottleneck(build_model("qlae", architecture="fast", num_latents=3, shared_codebook=True)).shared_codebook
