"""FactorQuantization (FactorQVAE's bottleneck): values against NumPy transcriptions, the Gumbel-softmax
relaxation's distribution, the temperature schedule, the permutation, and the discriminator's TC estimate."""

import keras
import numpy as np
import pytest

from keras_latentquant.layers import FactorQuantization
from tests import test_case

SPEC = test_case.LayerSpec(
    layer_class=FactorQuantization,
    default_kwargs={"discriminator_units": 16, "seed": 0},
    non_default_kwargs={"num_values": 12, "kl_weight": 0.5, "tc_weight": 0.25, "temperature_decay": 1e-3,
                        "discriminator_units": 24, "discriminator_layers": 2, "seed": 3},
    input_shape=(8, 4),
)


def numpy_kl_to_uniform(distances):
    """mean over (n, j) of sum_k p log(K p + 1e-10), p = softmax(-d) (FactorQVAE's RelaxedVQQuantizer)."""
    logits = -np.asarray(distances, dtype=np.float64)
    posterior = np.exp(logits - logits.max(-1, keepdims=True))
    posterior /= posterior.sum(-1, keepdims=True)
    return float(np.mean(np.sum(posterior * np.log(posterior * distances.shape[-1] + 1e-10), axis=-1)))


def _layer(**kwargs):
    layer = FactorQuantization(**{"num_values": 8, "discriminator_units": 32, "seed": 0, **kwargs})
    layer.build((None, 3))
    return layer


def test_inference_picks_the_nearest_value_and_kl_matches_numpy():
    layer = _layer()
    codebook = keras.ops.convert_to_numpy(layer.codebook)
    latents = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    values, weights, kl = layer.relax(latents, training=False)
    distances = (latents[..., None] - codebook) ** 2
    nearest = distances.argmin(-1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(values), codebook[nearest], atol=1e-7)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(weights).argmax(-1), nearest)
    assert float(kl) == pytest.approx(numpy_kl_to_uniform(distances), rel=1e-5)
    # Codes are ranks in the sorted codebook, and decode back to the values.
    ranks = np.argsort(np.argsort(codebook))
    codes = keras.ops.convert_to_numpy(layer.encode_codes(latents))
    np.testing.assert_array_equal(codes, ranks[nearest])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.decode_codes(codes)), codebook[nearest], atol=1e-7)
    assert layer.evaluation_latents(latents)[1] is True


def test_relaxed_weights_follow_the_gumbel_softmax_distribution():
    # Gumbel-max: argmax_k (-d_k + g_k) is distributed as softmax(-d); the soft weights sum to 1, and their
    # mean is the expected Gumbel-softmax sample (near the softmax at temperature 1 for well-separated logits).
    layer = _layer(num_values=4)
    layer.codebook.assign(np.array([-1.0, 0.0, 0.5, 2.0], "float32"))
    latents = np.full((20000, 3), 0.3, "float32")
    values, weights, _ = layer.relax(latents, training=True)
    weights = keras.ops.convert_to_numpy(weights)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    distances = (0.3 - np.array([-1.0, 0.0, 0.5, 2.0])) ** 2
    expected = np.exp(-distances) / np.exp(-distances).sum()
    frequencies = np.bincount(weights.argmax(-1).ravel(), minlength=4) / weights[..., 0].size
    np.testing.assert_allclose(frequencies, expected, atol=0.01)  # 60,000 draws: standard error < 0.003
    np.testing.assert_allclose(keras.ops.convert_to_numpy(values), weights @ np.array([-1.0, 0.0, 0.5, 2.0]),
                               atol=1e-5)
    # A cold temperature hardens the weights towards one-hot.
    layer.temperature.assign(0.01)
    cold = keras.ops.convert_to_numpy(layer.relax(latents[:2000], training=True)[1])
    assert np.mean(cold.max(-1) > 0.99) > 0.95


def test_temperature_schedule():
    layer = _layer(temperature_decay=1e-5)
    for step in (0, 1000, 100_000):
        assert float(layer.temperature_at(step)) == pytest.approx(np.exp(-1e-5 * step), rel=1e-6)


def test_permute_dims_shuffles_each_dimension_independently():
    layer = _layer()
    weights = np.eye(8, dtype="float32")[np.arange(64) % 8][:, None, :].repeat(3, axis=1)  # (64, 3, 8)
    weights[:, 1] = np.roll(weights[:, 1], 3, axis=0)
    permuted = keras.ops.convert_to_numpy(layer.permute_dims(weights))
    for j in range(3):  # every dimension keeps its multiset of rows
        assert sorted(map(tuple, permuted[:, j])) == sorted(map(tuple, weights[:, j]))
    # Different dimensions get different orders: the rows' joint pattern changes.
    assert not np.array_equal(permuted[:, 0].argmax(-1), permuted[:, 2].argmax(-1))


def _train_discriminator(layer, sample, steps=300, batch=256, seed=0):
    rng = np.random.default_rng(seed)
    optimizer = keras.optimizers.Adam(1e-3)
    import tensorflow as tf

    for _ in range(steps):
        weights = sample(rng, batch)
        permuted = layer.permute_dims(weights)
        with tf.GradientTape() as tape:
            real, fake = layer.discriminate(weights), layer.discriminate(permuted)
            loss = -0.5 * (tf.reduce_mean(tf.nn.log_softmax(real)[:, 0]) + tf.reduce_mean(tf.nn.log_softmax(fake)[:, 1]))
        variables = layer.discriminator.trainable_variables
        optimizer.apply(tape.gradient(loss, variables), variables)
    return float(layer.total_correlation(sample(rng, 4096)))


def test_discriminator_estimates_total_correlation_of_a_known_case():
    # Two latents with K = 4 entries each. Independent uniform codes: TC = 0. Identical codes (z_2 = z_1): TC =
    # H(z_1) + H(z_2) - H(z_1, z_2) = log 4, and the optimal critic's logit difference on real samples is
    # log(q(z) / q(z_1) q(z_2)) = log 4 for every one of them.
    def independent(rng, n):
        return np.eye(4, dtype="float32")[rng.integers(0, 4, (n, 2))]

    def identical(rng, n):
        codes = rng.integers(0, 4, n)
        return np.eye(4, dtype="float32")[np.stack([codes, codes], 1)]

    keras.utils.set_random_seed(0)
    estimates = {}
    for name, sample in (("independent", independent), ("identical", identical)):
        layer = FactorQuantization(num_values=4, discriminator_units=64, discriminator_layers=2, seed=0)
        layer.build((None, 2))
        estimates[name] = _train_discriminator(layer, sample)
    assert abs(estimates["independent"]) < 0.15, estimates
    assert estimates["identical"] == pytest.approx(np.log(4), abs=0.25), estimates


@pytest.mark.parametrize("kwargs, message", [
    ({"num_values": 1}, "num_values must be an int >= 2"),
    ({"num_values": [4, 4]}, "num_values must be an int"),
    ({"kl_weight": -1.0}, "kl_weight"),
    ({"discriminator_layers": 0}, "discriminator_layers must be an int >= 1"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FactorQuantization(**kwargs)


def test_round_trip(tmp_path):
    layer = _layer()
    model = keras.Sequential([keras.Input((3,)), layer])
    path = str(tmp_path / "fq.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    latents = np.random.default_rng(1).normal(size=(10, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(latents, verbose=0), loaded.predict(latents, verbose=0))
    weights = np.random.default_rng(2).random((5, 3, 8)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.discriminate(weights)),
                                  keras.ops.convert_to_numpy(loaded.layers[-1].discriminate(weights)))


# ---------------------------------------------------------------- shared checks
def test_output_shape_and_dtype():
    test_case.check_output_shape_and_dtype(SPEC)


def test_keras_round_trip_with_non_default_arguments(tmp_path):
    test_case.check_keras_round_trip(SPEC, tmp_path)


def test_savedmodel_round_trip(tmp_path):
    test_case.check_savedmodel_round_trip(SPEC, tmp_path)


def test_jit_compile():
    test_case.check_jit_compile(SPEC)


# Fitted alone, the layer gives its discriminator no gradient (FactorQVAE's train step trains it).
@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_mirrored_strategy_fit():
    test_case.check_mirrored_strategy(SPEC)


def test_mixed_precision():
    test_case.check_mixed_precision(SPEC)
