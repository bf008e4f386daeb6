"""Tests of keras_latentquant.interpret.curve: fitting, errors, factors along the curve, decoding."""

import keras
import numpy as np
import pytest

from keras_latentquant.interpret import (
    CurveFit,
    decode_curve,
    factors_along_curve,
    fit_curve,
    latent_space,
    model_latents,
    quantization_errors,
)
from keras_latentquant.layers import SpaceFillingVectorQuantization
from keras_latentquant.metrics import nmi_matrix
from keras_latentquant.models import build_ae, build_infowgan_gp, build_qlae, build_qlinfogan, encode
from keras_latentquant.models.catalogue import build_model


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def curve_layer(points, num_points=8):
    """A built layer whose active corner points are `points`."""
    points = np.asarray(points, dtype="float32")
    layer = SpaceFillingVectorQuantization(num_points=num_points, initial_points=2)
    layer.build((None, points.shape[1]))
    codebook = np.repeat(points[-1:], num_points, axis=0)
    codebook[: len(points)] = points
    layer.codebook.assign(codebook)
    layer.active_points.assign(float(len(points)))
    return layer


def polyline_samples(corners, count, rng):
    """Points drawn uniformly (per segment) along the polyline through `corners`, no noise."""
    corners = np.asarray(corners, dtype=np.float64)
    segment = rng.integers(0, len(corners) - 1, count)
    fraction = rng.uniform(0, 1, count)[:, None]
    return (corners[segment] + fraction * (corners[segment + 1] - corners[segment])).astype("float32")


# ---------------------------------------------------------------- fitting
@pytest.fixture(scope="module")
def sine_fit():
    # 2-D points around y = 0.5 sin(pi x), x in [-1, 1], plus isotropic Gaussian noise of standard
    # deviation sigma. The squared distance of such a point to the true curve is about the squared
    # normal component of the noise: sigma^2 on average. Scaled by 3 and shifted, so the fit works
    # through the stored standardization.
    sigma = 0.05
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, 2048)
    clean = np.stack([x, 0.5 * np.sin(np.pi * x)], axis=1)
    data = (3.0 * (clean + rng.normal(scale=sigma, size=clean.shape)) + [10.0, -4.0]).astype("float32")
    curve = fit_curve(data, num_points=16, initial_points=4, epochs=16, batch_size=64, learning_rate=0.02, seed=0)
    return data, 3.0 * sigma, curve


def test_fit_curve_follows_a_noisy_sine(sine_fit):
    data, sigma, curve = sine_fit
    assert isinstance(curve, CurveFit) and curve.num_points == 16 and curve.dim == 2
    # 32 steps a pass, 16 passes; doublings after 1/3 and 2/3 of the 512 steps.
    assert curve.num_steps == 512 and curve.growth_steps == [171, 341]
    assert len(curve.history["loss"]) == 16 and np.all(np.isfinite(curve.history["loss"]))
    errors = quantization_errors(data, curve)
    # Bound: 3 sigma^2 (a well fitted curve is near sigma^2; with 16 points it also folds across the
    # noise band and gets below it). The best straight line leaves the smaller principal variance.
    best_line = np.linalg.eigvalsh(np.cov(data.T, bias=True))[0]
    assert errors["sfvq"] < 3 * sigma**2, (errors, sigma**2)
    assert errors["sfvq"] < best_line / 10, (errors, best_line)
    for key in ("sfvq", "vq_kmeans", "sfvq_corner_points", "total_variance"):
        assert np.isfinite(errors[key]) and errors[key] > 0, key
    # Corner points lie on the curve: as a plain codebook they cannot beat it.
    assert errors["sfvq_corner_points"] >= errors["sfvq"]
    assert errors["num_points"] == 16 and errors["num_samples"] == len(data)


def test_fit_curve_stores_an_isotropic_standardization(sine_fit):
    data, _, curve = sine_fit
    np.testing.assert_allclose(curve.centre, data.mean(axis=0), rtol=1e-6)
    assert curve.scale == pytest.approx(np.sqrt(np.mean(data.var(axis=0))), rel=1e-6)
    np.testing.assert_allclose(curve.to_latent_units(curve.to_curve_units(data)), data, atol=1e-4)
    # Projections and errors come back in latent units: the layer's own squared distances (in its
    # standardized units) times scale^2.
    quantized, positions = curve.project(data)
    standardized = curve.to_curve_units(data)
    layer_quantized, _, _ = curve.layer.project(standardized)
    layer_error = np.mean(np.sum((to_numpy(layer_quantized) - standardized) ** 2, axis=1))
    assert np.mean(np.sum((quantized - data) ** 2, axis=1)) == pytest.approx(layer_error * curve.scale**2, rel=1e-3)
    np.testing.assert_allclose(positions, to_numpy(curve.layer.curve_position(standardized)), atol=1e-5)
    assert positions.min() >= 0 and positions.max() <= 15
    # Points along the curve: the ends are the first and last corner points, in latent units.
    points = curve.points(5)
    np.testing.assert_allclose(points[[0, -1]], curve.corner_points()[[0, -1]], atol=1e-4)
    np.testing.assert_allclose(curve.point_positions(5), [0, 3.75, 7.5, 11.25, 15])


def test_sfvq_beats_kmeans_on_points_along_a_polyline():
    # Points exactly on a zigzag of 4 segments (length 4 sqrt 2). k-means with 8 codewords leaves about
    # (length / 8)^2 / 12 = 0.04; a curve of 8 corner points can pass through every point. (With these
    # settings, over 12 data and fit seeds, k-means / SFVQ was 14 to 12,000, mostly near 1,000. Fits
    # can end in a local optimum with corner points bunched on one segment, still 3 to 6 times better
    # than k-means: seen with initial_points=2 or more epochs.)
    data = polyline_samples([[0, 0], [1, 1], [2, 0], [3, 1], [4, 0]], 2000, np.random.default_rng(3))
    curve = fit_curve(data, num_points=8, initial_points=4, epochs=12, batch_size=64, learning_rate=0.01, seed=0)
    errors = quantization_errors(data, curve)
    assert 0.02 < errors["vq_kmeans"] < 0.06, errors
    assert errors["sfvq"] < errors["vq_kmeans"] / 5, errors


def test_fit_curve_is_reproducible_and_can_skip_standardization():
    data = polyline_samples([[0, 0, 0], [1, 2, 0], [2, 0, 1]], 256, np.random.default_rng(4))
    kwargs = {"num_points": 8, "initial_points": 4, "epochs": 3, "batch_size": 32, "seed": 5}
    first, second = fit_curve(data, **kwargs), fit_curve(data, **kwargs)
    np.testing.assert_array_equal(first.corner_points(), second.corner_points())
    raw = fit_curve(data, standardize=False, **kwargs)
    assert raw.scale == 1.0 and np.all(raw.centre == 0)
    # No growth (num_points == initial_points) works too, with a single epoch.
    single = fit_curve(data, num_points=4, initial_points=4, epochs=1, batch_size=32)
    assert single.num_points == 4 and single.growth_steps == []


# ---------------------------------------------------------------- errors by hand
def test_quantization_errors_by_hand():
    # Curve (0, 0) -> (1, 0) -> (1, 1). a = (0.5, 0.2) projects to (0.5, 0), b = (0.8, 0.5) to (1, 0.5):
    # 0.04 each; the corners (0, 0) and (1, 1) lie on the curve. SFVQ: (0.04 + 0.04) / 4 = 0.02.
    # Nearest corner point: a and b are both 0.29 from two corners; mean (0.29 + 0.29) / 4 = 0.145.
    # k-means with 3 codewords merges the closest pair, a and b (0.18 apart squared): each 0.045 from
    # their mean, so (0.045 + 0.045) / 4 = 0.0225.
    layer = curve_layer([[0, 0], [1, 0], [1, 1]])
    latents = np.array([[0.5, 0.2], [0.8, 0.5], [0, 0], [1, 1]], "float32")
    errors = quantization_errors(latents, layer)
    assert errors["sfvq"] == pytest.approx(0.02, abs=1e-6)
    assert errors["sfvq_corner_points"] == pytest.approx(0.145, abs=1e-6)
    assert errors["vq_kmeans"] == pytest.approx(0.0225, abs=1e-6)
    assert errors["total_variance"] == pytest.approx(np.mean(np.sum((latents - latents.mean(0)) ** 2, 1)))
    assert errors["num_points"] == 3


# ---------------------------------------------------------------- factors
def test_factors_along_curve_by_hand():
    # Bins [0, 1), [1, 2), [2, 3]: bin 0 holds factor values 0 and 2, bins 1 and 2 the value 1.
    # H(f) = 1.5 bits (p = 1/4, 1/2, 1/4); H(f | bin) = 1/2 * 1 bit; NMI = (1.5 - 0.5) / 1.5 = 2/3.
    result = factors_along_curve([0.1, 0.2, 1.5, 2.9], [[0], [2], [1], [1]], num_bins=3, position_range=(0, 3))
    np.testing.assert_allclose(result.bin_edges, [0, 1, 2, 3])
    np.testing.assert_array_equal(result.bin_counts, [2, 1, 1])
    (profile,) = result.factors
    assert profile.name == "f0"
    np.testing.assert_array_equal(profile.values, [0, 1, 2])
    np.testing.assert_array_equal(profile.counts, [[1, 0, 1], [0, 1, 0], [0, 1, 0]])
    np.testing.assert_allclose(profile.mean, [1, 1, 1])
    assert profile.nmi == pytest.approx(2 / 3, abs=1e-12)
    # An empty bin has no mean; positions outside the range go to the end bins.
    result = factors_along_curve([-5.0, 0.5, 9.0], [1, 2, 4], num_bins=3, position_range=(0, 3))
    np.testing.assert_array_equal(result.bin_counts, [2, 0, 1])
    assert np.isnan(result.factors[0].mean[1]) and result.factors[0].mean[0] == 1.5
    assert result.as_dict()["factors"][0]["mean"][1] is None


def test_factors_along_curve_known_answers():
    rng = np.random.default_rng(0)
    count = 20_000
    positions = rng.uniform(0, 15, count)
    monotone = np.floor(positions / 3).astype(int)  # 5 values, constant on each of the 15 bins
    parity = np.floor(positions).astype(int) % 2  # a function of the bin, not monotone
    independent = rng.integers(0, 4, count)
    mixed = np.where(rng.uniform(size=count) < 0.5, monotone, rng.integers(0, 5, count))
    constant = np.zeros(count, int)
    factors = np.stack([monotone, parity, independent, mixed, constant], axis=1)
    names = ["monotone", "parity", "independent", "mixed", "constant"]
    result = factors_along_curve(positions, factors, num_bins=15, position_range=(0, 15), factor_names=names)
    nmi = result.nmi
    assert nmi["monotone"] == pytest.approx(1.0, abs=1e-12)
    assert nmi["parity"] == pytest.approx(1.0, abs=1e-12)
    # Plug-in bias about (15 - 1)(4 - 1) / (2 N) nats / log 4 = 0.0008.
    assert nmi["independent"] < 0.005
    assert 0.2 < nmi["mixed"] < 0.8
    assert np.isnan(nmi["constant"])
    assert result.bin_counts.sum() == count
    for profile in result.factors:
        assert profile.counts.sum() == count and profile.counts.shape == (15, len(profile.values))
    monotone_mean = result.factors[0].mean
    assert np.all(np.diff(monotone_mean) >= 0) and monotone_mean[0] == 0 and monotone_mean[-1] == 4
    # The same numbers as InfoMEC's plug-in NMI with the position bins as a discrete latent.
    bins = np.clip(np.floor(positions).astype(int), 0, 14)
    expected = nmi_matrix(factors[:, :4], bins[:, None], discrete_latents=True)[:, 0]
    np.testing.assert_allclose([nmi[name] for name in names[:4]], expected, atol=1e-9)


# ---------------------------------------------------------------- models
@pytest.fixture(scope="module")
def qlae():
    return build_qlae(num_latents=3, architecture="fast", compile=False)


def random_curve(dim, seed, num_points=8):
    """A fitted-looking curve in latent units: random corner points, non-trivial standardization."""
    rng = np.random.default_rng(seed)
    layer = curve_layer(rng.normal(size=(num_points, dim)), num_points=num_points)
    return CurveFit(layer=layer, centre=rng.normal(size=dim), scale=0.7)


def test_decode_curve_qlae_passes_points_through_the_quantizer(qlae):
    curve = random_curve(3, seed=1)
    images = decode_curve(qlae, curve, num=5)
    assert images.shape == (5, 64, 64, 1) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    points = curve.points(5)
    np.testing.assert_allclose(
        points, to_numpy(curve.layer.decode_position(np.linspace(0, 7, 5))) * 0.7 + curve.centre, atol=1e-5
    )
    quantizer, decoder = qlae.get_layer("latent_quantization"), qlae.get_layer("decoder")
    quantized = to_numpy(quantizer(points, training=False))
    np.testing.assert_allclose(quantized, to_numpy(quantizer.decode_codes(quantizer.encode_codes(points))))
    np.testing.assert_allclose(images, sigmoid(to_numpy(decoder(quantized))), atol=1e-5)
    # The quantizer matters: decoding the raw points gives other images.
    assert not np.allclose(images, sigmoid(to_numpy(decoder(points))), atol=1e-3)
    # A bare layer decodes in its own units.
    bare = decode_curve(qlae, curve.layer, num=3)
    raw_points = to_numpy(curve.layer.curve_points(3))
    np.testing.assert_allclose(bare, sigmoid(to_numpy(decoder(quantizer(raw_points, training=False)))), atol=1e-5)


def test_model_latents_of_a_qlae_are_its_continuous_encoder_outputs(qlae):
    images = np.random.default_rng(2).uniform(size=(6, 64, 64, 1)).astype("float32")
    assert latent_space(qlae) == "encoder outputs"
    np.testing.assert_allclose(model_latents(qlae, images), encode(qlae, images)["continuous"], atol=1e-6)


def test_decode_curve_ae_and_vae_use_the_decoder_directly():
    ae = build_ae(num_latents=2, architecture="fast", compile=False)
    curve = random_curve(2, seed=3)
    np.testing.assert_allclose(
        decode_curve(ae, curve, num=4), sigmoid(to_numpy(ae.get_layer("decoder")(curve.points(4)))), atol=1e-5
    )
    # VAE: the curve lives in the decoder's input space (posterior means), not the 2d-wide encoder head.
    vae = build_model("vae", num_latents=2, architecture="fast", compile=False)
    assert latent_space(vae) == "decoder inputs"
    images = np.random.default_rng(4).uniform(size=(4, 64, 64, 1)).astype("float32")
    means = model_latents(vae, images)
    head = to_numpy(vae.get_layer("encoder")(images))
    np.testing.assert_allclose(means, head[:, :2], atol=1e-5)
    np.testing.assert_allclose(
        decode_curve(vae, curve, num=3), sigmoid(to_numpy(vae.get_layer("decoder")(curve.points(3)))), atol=1e-5
    )
    with pytest.raises(ValueError, match="width 3 but the model's decoder inputs have width 2"):
        decode_curve(vae, random_curve(3, seed=5), num=3)


def test_decode_curve_infogan_quantizes_then_generates():
    model = build_qlinfogan(num_latents=3, architecture="fast", compile=False)
    assert latent_space(model) == "encoder estimate"
    curve = random_curve(3, seed=6)
    images = decode_curve(model, curve, num=4)
    points = curve.points(4)
    expected = to_numpy(model.generator(model.quantizer(points, training=False)))
    assert images.shape == (4, 64, 64, 1)
    np.testing.assert_allclose(images, expected, atol=1e-5)
    real = np.random.default_rng(7).uniform(size=(5, 64, 64, 1)).astype("float32")
    np.testing.assert_allclose(model_latents(model, real), model.encode_images(real)["continuous"], atol=1e-6)
    # InfoWGAN-GP has no quantizer: the generator reads the curve points themselves.
    continuous = build_infowgan_gp(num_latents=3, architecture="fast", compile=False)
    np.testing.assert_allclose(
        decode_curve(continuous, curve, num=4), to_numpy(continuous.generator(points)), atol=1e-5
    )


# ---------------------------------------------------------------- bad inputs
GOOD = np.random.default_rng(9).normal(size=(64, 2)).astype("float32")


@pytest.mark.parametrize(
    "latents, kwargs, message",
    [
        (GOOD[:, 0], {}, "2-D array"),
        (GOOD[None], {}, "2-D array"),
        (np.where(np.arange(64)[:, None] == 5, np.nan, GOOD), {}, "must be finite; got nan at row 5"),
        (np.where(np.arange(64)[:, None] == 7, np.inf, GOOD), {}, "must be finite; got inf at row 7"),
        (GOOD.astype(str), {}, "real numbers"),
        (GOOD[:20], {"num_points": 32}, "20 samples but the curve has num_points=32"),
        (GOOD, {"num_points": 24}, "initial_points times a power of two"),
        (GOOD, {"num_points": 8, "initial_points": 16}, "initial_points times a power of two"),
        (GOOD, {"num_points": 16, "epochs": 2}, "epochs must be an int >= 3"),
        (GOOD, {"num_points": 16, "learning_rate": 0.0}, "learning_rate must be a positive float"),
        (GOOD, {"num_points": 16, "batch_size": 0}, "batch_size must be an int >= 1"),
        (np.ones((64, 2), "float32"), {"num_points": 16}, "zero variance"),
    ],
)
def test_fit_curve_bad_inputs(latents, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_curve(latents, **kwargs)


def test_other_bad_inputs():
    layer = curve_layer([[0, 0], [1, 0], [1, 1]])
    with pytest.raises(ValueError, match="width 3 but the curve was fitted to width 2"):
        quantization_errors(np.zeros((10, 3)), layer)
    with pytest.raises(ValueError, match="fewer than the 3 k-means codewords"):
        quantization_errors(np.zeros((2, 2)), layer)
    with pytest.raises(ValueError, match="CurveFit"):
        quantization_errors(GOOD, "curve")
    with pytest.raises(ValueError, match="not built"):
        quantization_errors(GOOD, SpaceFillingVectorQuantization(num_points=8))
    with pytest.raises(ValueError, match="same number of samples"):
        factors_along_curve(np.zeros(5), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="positions must be finite"):
        factors_along_curve([0.0, np.nan], [0, 1])
    with pytest.raises(ValueError, match="position_range"):
        factors_along_curve([0.0, 1.0], [0, 1], position_range=(2, 1))
    with pytest.raises(ValueError, match="num_bins must be an int >= 1"):
        factors_along_curve([0.0, 1.0], [0, 1], num_bins=0)
    with pytest.raises(ValueError, match="2 factor_names for 1 factor columns"):
        factors_along_curve([0.0, 1.0], [0, 1], factor_names=["a", "b"])
    with pytest.raises(ValueError, match="neither an InfoGAN"):
        decode_curve(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]), layer, num=3)
