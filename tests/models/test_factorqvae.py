"""FactorQVAE through the catalogue: its two-half train step, its losses at inference against NumPy, gradient
routing between autoencoder and discriminator, its learning-rate schedule, and saving."""

import keras
import numpy as np
import pytest

from keras_latentquant.models import encode, get_bottleneck
from keras_latentquant.models.catalogue import build_model, get_model
from keras_latentquant.models.factorqvae import FactorQVAE, PeriodicCosine
from tests.conftest import square_images
from tests.layers.test_factor_quantization import numpy_kl_to_uniform

IMAGE_SHAPE = (32, 32, 1)


def _model(**options):
    keras.utils.set_random_seed(0)
    options = {"fq_discriminator_units": 64, **options}
    return build_model("factorqvae", IMAGE_SHAPE, num_latents=4, architecture="fast", seed=0, **options)


def test_training_lowers_the_loss_and_reports_every_term():
    model = _model()
    assert isinstance(model, FactorQVAE) and [layer.name for layer in model.layers] == [
        "image", "encoder", "bottleneck", "decoder"]
    images = square_images(64, IMAGE_SHAPE, side=8, low=4, high=20)
    before = model.evaluate(images, images, batch_size=64, verbose=0, return_dict=True)
    history = model.fit(images, images, batch_size=32, epochs=8, verbose=0).history
    after = model.evaluate(images, images, batch_size=64, verbose=0, return_dict=True)
    assert set(history) == {"loss", "reconstruction_loss", "total_correlation", "discriminator_loss",
                            "bottleneck_kl", "bottleneck_perplexity", "bottleneck_usage"}
    assert after["reconstruction_loss"] < 0.7 * before["reconstruction_loss"], (before, after)
    assert np.all(np.isfinite(history["loss"]))
    # 16 steps of two halves of 16: the temperature was set from the step count at the last step.
    bottleneck = get_bottleneck(model)
    assert float(bottleneck.temperature.numpy()) == pytest.approx(np.exp(-1e-5 * 15), rel=1e-6)
    assert int(model.optimizer.iterations.numpy()) == 16
    codes = encode(model, images[:8])
    assert codes["discrete"] and codes["latents"].shape == (8, 4) and codes["latents"].max() < 64


def test_inference_losses_match_numpy():
    model = _model(beta=0.5, total_correlation_weight=0.25)
    images = square_images(16, IMAGE_SHAPE, side=8, low=4, high=20)
    result = model.evaluate(images, images, batch_size=16, verbose=0, return_dict=True)
    bottleneck = get_bottleneck(model)
    encoded = model.get_layer("encoder").predict(images, verbose=0)
    codebook = keras.ops.convert_to_numpy(bottleneck.codebook)
    distances = (encoded[..., None].astype("float64") - codebook) ** 2
    logits = model.predict(images, verbose=0).astype("float64")
    reconstruction = np.mean((1 / (1 + np.exp(-logits)) - images) ** 2)
    kl = numpy_kl_to_uniform(distances)
    one_hot = np.eye(64, dtype="float32")[distances.argmin(-1)]
    critic = keras.ops.convert_to_numpy(bottleneck.discriminate(one_hot))
    total_correlation = np.mean(critic[:, 0] - critic[:, 1])
    assert result["reconstruction_loss"] == pytest.approx(reconstruction, rel=1e-4)
    assert result["bottleneck_kl"] == pytest.approx(kl, rel=1e-4)
    assert result["total_correlation"] == pytest.approx(total_correlation, rel=1e-3, abs=1e-6)
    assert result["loss"] == pytest.approx(reconstruction + 0.5 * kl + 0.25 * total_correlation, rel=1e-4)


def test_the_discriminator_learns_only_from_its_cross_entropy():
    # One step with the TC weight 0 and one with 1000, from the same weights and the same random draws: the
    # discriminator's update is the same (the autoencoder's TC term does not reach it), the encoder's is not.
    images = square_images(32, IMAGE_SHAPE, side=8, low=4, high=20)
    after = {}
    for weight in (0.0, 1000.0):
        model = _model(total_correlation_weight=weight)
        bottleneck = get_bottleneck(model)
        initial = [w.numpy().copy() for w in bottleneck.discriminator.weights]
        model.fit(images, images, batch_size=32, epochs=1, shuffle=False, verbose=0)
        # Adam's first step moves every weight with a gradient by about the learning rate.
        assert all(np.abs(a - w.numpy()).max() > 5e-4 for a, w in zip(initial, bottleneck.discriminator.weights))
        after[weight] = ([w.numpy() for w in bottleneck.discriminator.weights],
                         [w.numpy() for w in model.get_layer("encoder").weights])
    for a, b in zip(after[0.0][0], after[1000.0][0]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(after[0.0][1], after[1000.0][1]))


def test_learning_rate_schedule_is_pytorchs_cosine_annealing():
    schedule = PeriodicCosine(1e-3, 50_000, 1.25e-6)
    for step, expected in ((0, 1e-3), (25_000, (1e-3 + 1.25e-6) / 2), (50_000, 1.25e-6), (100_000, 1e-3)):
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-4)
    model = _model()
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)
    assert model.optimizer.weight_decay == 0.0 and model.optimizer.clip_value is None


def test_defaults_follow_factorqvaes_configs():
    entry = get_model("factorqvae")
    assert (entry.batch_size, entry.steps, entry.learning_rate) == (512, 100_000, 1e-3)
    for dataset, (kl, tc) in {"procedural_shapes3d": (1e-3, 1e-4), "real_isaac3d": (5e-5, 5e-5),
                              "real_mpi3d": (5e-5, 1e-6), "procedural_dsprites": (1e-3, 1e-4)}.items():
        options = entry.resolve_options({}, dataset)
        assert (options["beta"], options["total_correlation_weight"]) == (kl, tc), dataset
        assert options["fq_num_values"] == 64 and options["fq_discriminator_units"] == 1000


def test_saves_loads_and_trains_on(tmp_path):
    model = _model()
    images = square_images(32, IMAGE_SHAPE, side=8, low=4, high=20)
    model.fit(images, images, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "factorqvae.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, FactorQVAE)
    np.testing.assert_array_equal(model.predict(images, verbose=0), loaded.predict(images, verbose=0))
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    loaded.fit(images, images, batch_size=16, epochs=1, verbose=0)
    assert int(loaded.optimizer.iterations.numpy()) == 4


def test_saved_model_loads_in_a_fresh_process_after_importing_the_package(tmp_path):
    # A user's script: `import keras_latentquant` must register FactorQVAE and its learning-rate schedule, which
    # only the catalogue's builder imported before.
    import os
    import subprocess
    import sys

    path = str(tmp_path / "factorqvae.keras")
    _model().save(path)
    script = (
        "import keras, keras_latentquant, numpy as np\n"
        f"model = keras.saving.load_model({path!r})\n"
        "print(type(model).__name__, model.predict(np.zeros((1, 32, 32, 1), 'float32'), verbose=0).shape)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_LATENTQUANT_DEFER_IMPORTS"}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                               env=dict(environment, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3"))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "FactorQVAE (1, 32, 32, 1)" in completed.stdout


def test_mirrored_strategy_fit_step_updates_every_part_on_both_replicas():
    """Under a 2-replica MirroredStrategy a fit step splits each replica's share into its two halves, takes one
    optimizer step for autoencoder and discriminator together, and leaves the replicas' copies equal."""
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    with strategy.scope():
        model = _model()
    bottleneck = get_bottleneck(model)
    before = {v.path: keras.ops.convert_to_numpy(v) for v in model.trainable_variables}
    images = square_images(32, IMAGE_SHAPE, side=8, low=4, high=20)
    history = model.fit(images, images, batch_size=32, epochs=1, shuffle=False, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values()), history
    assert int(model.optimizer.iterations.numpy()) == 1
    assert float(bottleneck.temperature.numpy()) == 1.0  # set from step 0
    parts = {"codebook": [bottleneck.codebook], "discriminator": bottleneck.discriminator.trainable_variables,
             "encoder": model.get_layer("encoder").trainable_variables,
             "decoder": model.get_layer("decoder").trainable_variables}
    for part, variables in parts.items():
        # Adam's first step moves every weight with a gradient by about the learning rate (1e-3).
        moved = [np.abs(keras.ops.convert_to_numpy(v) - before[v.path]).max() for v in variables]
        assert max(moved) > 5e-4, part
    for variable in model.trainable_variables:
        copies = [c.numpy() for c in variable.value.values]
        assert len(copies) == 2, variable.path
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=variable.path)
