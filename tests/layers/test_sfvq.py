"""Tests of keras_latentquant.layers.sfvq, against NumPy brute force and numbers worked out by hand."""

import inspect
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.layers import SFVQGrowth, SpaceFillingVectorQuantization
from tests import test_case

SPEC = test_case.LayerSpec(
    layer_class=SpaceFillingVectorQuantization,
    # The default initializer (a straight curve) is deterministic: two layers built from these
    # arguments share their codebook (mixed-precision check).
    default_kwargs={"num_points": 16, "seed": 0},
    non_default_kwargs={
        "num_points": 32,
        "initial_points": 8,
        "training_mode": "straight_through",
        "replacement_threshold": 0.02,
        "quantization_weight": 0.5,
        "commitment_weight": 0.5,
        "split_perturbation": 0.05,
        "initializer": "random_normal",
        "seed": 7,
    },
    input_shape=(8, 3),
)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def numpy_project(inputs, points):
    """Reference: projection of every input onto every segment of the curve `points` (brute force).

    Returns `(quantized, segment, fraction, squared_distance, ambiguous)`. `ambiguous` marks inputs
    whose best and second-best segments are within 1e-3 in squared distance and give different curve
    points (float32 may pick either); near a corner both adjacent segments give the same point, which
    is not ambiguous.
    """
    points = np.asarray(points, dtype=np.float64)
    flat = np.asarray(inputs, dtype=np.float64).reshape(-1, points.shape[1])
    starts, directions = points[:-1], points[1:] - points[:-1]
    fractions = np.clip(
        np.einsum("msd,sd->ms", flat[:, None, :] - starts, directions) / np.sum(directions**2, axis=-1), 0, 1
    )
    projections = starts + fractions[..., None] * directions  # (M, S, D)
    distances = np.sum((flat[:, None, :] - projections) ** 2, axis=-1)
    order = np.argsort(distances, axis=1)
    rows = np.arange(len(flat))
    segment = order[:, 0]
    if len(points) > 2:
        second = order[:, 1]
        ambiguous = (distances[rows, second] - distances[rows, segment] < 1e-3) & (
            np.abs(second + fractions[rows, second] - segment - fractions[rows, segment]) > 1e-6
        )
    else:
        ambiguous = np.zeros(len(flat), dtype=bool)
    leading = np.shape(inputs)[:-1]
    return (
        projections[rows, segment].reshape(np.shape(inputs)),
        segment.reshape(leading),
        fractions[rows, segment].reshape(leading),
        distances[rows, segment].reshape(leading),
        ambiguous.reshape(leading),
    )


def set_curve(layer, points, rest=100.0):
    """Makes `points` the active corner points; the unused rows far away (masking must ignore them)."""
    points = np.asarray(points, dtype="float32")
    if not layer.built:
        layer.build((None, points.shape[1]))
    codebook = np.full((layer.num_points, points.shape[1]), rest, dtype="float32")
    codebook[: len(points)] = points
    layer.codebook.assign(codebook)
    layer.active_points.assign(float(len(points)))


def expected_codebook_gradient(inputs, points, num_points):
    """d/dc of mean((x - q)^2) over all M*D elements: c_k gets -2/(M D) sum (1 - t)(x - q), c_{k+1} t.

    (The derivative through t vanishes: t minimizes the distance, or is clipped and constant.)"""
    flat = np.asarray(inputs, dtype=np.float64).reshape(-1, np.shape(points)[1])
    quantized, segment, fraction, _, _ = numpy_project(flat, points)
    scale = -2.0 / flat.size
    gradient = np.zeros((num_points, flat.shape[1]))
    np.add.at(gradient, segment, scale * (1 - fraction)[:, None] * (flat - quantized))
    np.add.at(gradient, segment + 1, scale * fraction[:, None] * (flat - quantized))
    return gradient


# ---------------------------------------------------------------- projection
def test_projection_matches_numpy_brute_force_with_inactive_points_and_leading_axes():
    rng = np.random.default_rng(0)
    layer = SpaceFillingVectorQuantization(num_points=16, initial_points=2)
    points = rng.normal(size=(7, 3)).astype("float32")  # 7 of 16 points in use; the rest at 100
    set_curve(layer, points)
    # Inputs spread wider than the curve: many lie beyond its ends (t clipped to 0 or 1 there).
    inputs = rng.normal(scale=2.0, size=(3, 4, 5, 3)).astype("float32")
    quantized, segment, fraction = layer.project(inputs)
    expected = numpy_project(inputs, points)
    expected_q, expected_segment, expected_fraction, expected_distance, ambiguous = expected
    assert quantized.shape == (3, 4, 5, 3) and segment.shape == (3, 4, 5) and fraction.shape == (3, 4, 5)
    assert keras.backend.standardize_dtype(segment.dtype) == "int32"
    quantized, segment, fraction = to_numpy(quantized), to_numpy(segment), to_numpy(fraction)
    # Every input's distance to the curve is the brute-force minimum (whichever segment float32 picks).
    distance = np.sum((inputs - quantized) ** 2, axis=-1)
    np.testing.assert_allclose(distance, expected_distance, rtol=1e-4, atol=1e-5)
    clear = ~ambiguous
    assert clear.mean() > 0.95
    # Position and point agree wherever the nearest point is unambiguous (an input nearest to a corner
    # point is on segment k - 1 at t = 1 or segment k at t = 0: position k either way).
    np.testing.assert_allclose(
        (segment + fraction)[clear], (expected_segment + expected_fraction)[clear], atol=1e-5
    )
    np.testing.assert_allclose(quantized[clear], expected_q[clear], atol=1e-5)
    interior = clear & (expected_fraction > 1e-3) & (expected_fraction < 1 - 1e-3)
    assert interior.sum() > 10
    np.testing.assert_array_equal(segment[interior], expected_segment[interior])
    assert np.all(segment <= 5) and np.all((fraction >= 0) & (fraction <= 1))
    beyond_start = (expected_segment == 0) & (expected_fraction == 0)
    beyond_end = (expected_segment == 5) & (expected_fraction == 1)
    assert beyond_start.sum() > 0 and beyond_end.sum() > 0
    # The call, at inference, returns exactly this projection and the same positions.
    outputs, position = layer(inputs, return_position=True)
    np.testing.assert_array_equal(to_numpy(outputs), quantized)
    np.testing.assert_allclose(to_numpy(position), segment + fraction, atol=1e-6)
    np.testing.assert_allclose(to_numpy(layer.curve_position(inputs)), segment + fraction, atol=1e-6)


def test_hand_worked_projection_corners_and_ends():
    # Curve (0, 0) -> (1, 0) -> (1, 1), 3 of 8 points in use.
    layer = SpaceFillingVectorQuantization(num_points=8, initial_points=2)
    set_curve(layer, [[0, 0], [1, 0], [1, 1]])
    inputs = np.array(
        [
            [-1.0, 0.0],  # before the start: t clipped to 0 -> (0, 0), position 0
            [2.0, -1.0],  # past the corner (1, 0) on both segments -> (1, 0), position 1
            [1.0, 3.0],  # beyond the end -> (1, 1), position 2
            [0.0, 0.0], [1.0, 0.0], [1.0, 1.0],  # exactly on the corners: positions 0, 1, 2
            [0.5, 0.2],  # -> (0.5, 0) at distance 0.2 (segment 1 is 0.5 away), position 0.5
            [0.8, 0.5],  # -> (1, 0.5) at distance 0.2 (segment 0 is 0.5 away), position 1.5
        ],
        dtype="float32",
    )
    quantized, position = layer(inputs, return_position=True)
    np.testing.assert_allclose(
        to_numpy(quantized), [[0, 0], [1, 0], [1, 1], [0, 0], [1, 0], [1, 1], [0.5, 0], [1, 0.5]], atol=1e-6
    )
    np.testing.assert_allclose(to_numpy(position), [0, 1, 2, 0, 1, 2, 0.5, 1.5], atol=1e-6)
    # The inner corner (1, 0) is reported as the start of segment 1, the end as t = 1 on segment 1.
    _, segment, fraction = layer.project(inputs)
    np.testing.assert_array_equal(to_numpy(segment), [0, 1, 1, 0, 1, 1, 0, 1])
    np.testing.assert_allclose(to_numpy(fraction), [0, 0, 1, 0, 0, 1, 0.5, 0.5], atol=1e-6)


def test_decode_position_and_curve_points():
    layer = SpaceFillingVectorQuantization(num_points=8, initial_points=2)
    set_curve(layer, [[0, 0], [1, 0], [1, 1], [3, 1]])
    # Position 1.25: a quarter of the way from (1, 0) to (1, 1); 2.5: half way to (3, 1); the last
    # position is the end point; positions outside [0, 3] are clipped.
    decoded = layer.decode_position(np.array([[0.0, 1.25], [2.5, 3.0], [-2.0, 7.0]], "float32"))
    assert decoded.shape == (3, 2, 2)
    np.testing.assert_allclose(
        to_numpy(decoded), [[[0, 0], [1, 0.25]], [[2, 1], [3, 1]], [[0, 0], [3, 1]]], atol=1e-6
    )
    samples = to_numpy(layer.curve_points(7))  # positions 0, 0.5, ..., 3
    np.testing.assert_allclose(
        samples, [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1], [2, 1], [3, 1]], atol=1e-6
    )
    # Positions of points on the curve are recovered exactly.
    positions = np.array([0.3, 1.0, 1.7, 2.9], "float32")
    recovered = layer.curve_position(layer.decode_position(positions))
    np.testing.assert_allclose(to_numpy(recovered), positions, atol=1e-5)
    latents, discrete = layer.evaluation_latents(np.array([[1.0, 0.5]], "float32"))
    assert discrete is False
    np.testing.assert_allclose(to_numpy(latents), [[1.5]], atol=1e-6)


def test_functional_model_with_positions():
    inputs = keras.Input((5, 2))
    quantized, position = SpaceFillingVectorQuantization(num_points=8)(inputs, return_position=True)
    assert tuple(quantized.shape) == (None, 5, 2) and tuple(position.shape) == (None, 5)
    model = keras.Model(inputs, [quantized, position])
    data = np.random.default_rng(12).normal(size=(3, 5, 2)).astype("float32")
    outputs, positions = model(data)
    layer = model.layers[-1]
    np.testing.assert_array_equal(to_numpy(positions), to_numpy(layer.curve_position(data)))
    np.testing.assert_array_equal(to_numpy(outputs), to_numpy(layer.project(data)[0]))


def test_default_initializer_is_a_straight_curve_of_the_initial_points():
    layer = SpaceFillingVectorQuantization(num_points=16, initial_points=4)
    layer.build((None, 3))
    codebook = to_numpy(layer.codebook)
    line = np.array([-0.5, -0.5 + 1 / 3, 0.5 - 1 / 3, 0.5])
    np.testing.assert_allclose(codebook[:4], np.repeat(line[:, None], 3, axis=1), atol=1e-6)
    np.testing.assert_allclose(codebook[4:], 0.5)
    assert layer.num_active_points == 4 and layer.codebook.trainable
    assert not layer.active_points.trainable and not layer.point_usage.trainable


# ---------------------------------------------------------------- NSVQ
def test_nsvq_output_has_the_quantization_error_norm_and_inference_is_exact():
    rng = np.random.default_rng(1)
    layer = SpaceFillingVectorQuantization(num_points=8, initial_points=2, seed=3)
    points = rng.normal(size=(5, 4)).astype("float32")
    set_curve(layer, points)
    inputs = rng.normal(size=(6, 10, 4)).astype("float32")
    expected_q, _, _, expected_distance, _ = numpy_project(inputs, points)
    first = to_numpy(layer(inputs, training=True))
    second = to_numpy(layer(inputs, training=True))
    # ||x_hat - x|| = ||q - x|| for every input, with a random direction (fresh each call).
    for outputs in [first, second]:
        np.testing.assert_allclose(
            np.linalg.norm(outputs - inputs, axis=-1), np.sqrt(expected_distance), rtol=1e-4
        )
    assert not np.allclose(first, second)
    assert np.mean(np.linalg.norm(first - expected_q, axis=-1) > 1e-3) > 0.9
    for training in [False, None]:
        np.testing.assert_allclose(to_numpy(layer(inputs, training=training)), expected_q, atol=1e-5)
    assert not layer.losses  # NSVQ adds no loss term


def test_nsvq_gradients_reach_input_and_codebook():
    rng = np.random.default_rng(2)
    layer = SpaceFillingVectorQuantization(num_points=8, initial_points=2, seed=4)
    points = rng.normal(size=(6, 3)).astype("float32")
    set_curve(layer, points)
    inputs = rng.normal(scale=1.5, size=(40, 3)).astype("float32")
    # One input exactly on a corner point: zero error, and still finite gradients.
    inputs[0] = points[2]
    latents = tf.constant(inputs)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(latents)
        outputs = layer(latents, training=True)
        # mean((x_hat - x)^2) with x held fixed equals mean over elements of ||q - x||^2, exactly
        # (the noise direction has unit norm).
        loss = tf.reduce_mean(tf.square(outputs - tf.constant(inputs)))
        # A loss whose gradient does not vanish where the error does (the norm's derivative at 0).
        projected_loss = tf.reduce_sum(outputs * tf.constant(rng.normal(size=(40, 3)).astype("float32")))
    codebook_gradient = tf.convert_to_tensor(tape.gradient(loss, layer.codebook)).numpy()
    input_gradient = tape.gradient(loss, latents).numpy()
    assert np.all(np.isfinite(codebook_gradient)) and np.all(np.isfinite(input_gradient))
    for gradient in tape.gradient(projected_loss, [latents, layer.codebook]):
        assert np.all(np.isfinite(tf.convert_to_tensor(gradient).numpy()))
    expected = expected_codebook_gradient(inputs, points, layer.num_points)
    np.testing.assert_allclose(codebook_gradient, expected, rtol=1e-3, atol=1e-6)
    assert np.all(np.abs(codebook_gradient[:6]).sum(axis=1) > 0)
    np.testing.assert_array_equal(codebook_gradient[6:], 0.0)  # inactive points get nothing
    assert np.mean(np.abs(input_gradient).sum(axis=1) > 0) > 0.9


def test_replicas_draw_different_noise():
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    inputs = np.random.default_rng(3).normal(size=(16, 2)).astype("float32")
    with strategy.scope():
        layer = SpaceFillingVectorQuantization(num_points=8, seed=0)
        layer.build((None, 2))
    # The same inputs on both replicas: any difference between their outputs comes from the noise.
    values = strategy.experimental_distribute_values_from_function(lambda context: tf.constant(inputs))
    outputs = strategy.run(tf.function(lambda x: layer(x, training=True)), args=(values,))
    first, second = [to_numpy(value) for value in strategy.experimental_local_results(outputs)]
    np.testing.assert_allclose(
        np.linalg.norm(first - inputs, axis=-1), np.linalg.norm(second - inputs, axis=-1), rtol=1e-4
    )
    assert not np.allclose(first, second)


# ---------------------------------------------------------------- straight-through
def test_straight_through_gradients_and_losses():
    quantization_weight, commitment_weight = 0.5, 0.25
    rng = np.random.default_rng(4)
    layer = SpaceFillingVectorQuantization(
        num_points=8, initial_points=2, training_mode="straight_through",
        quantization_weight=quantization_weight, commitment_weight=commitment_weight,
    )
    points = rng.normal(size=(5, 3)).astype("float32")
    set_curve(layer, points)
    inputs = rng.normal(size=(12, 3)).astype("float32")
    expected_q, _, _, distance, _ = numpy_project(inputs, points)
    latents = tf.constant(inputs)
    upstream = tf.constant(rng.normal(size=(12, 3)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(latents)
        outputs = layer(latents, training=True)
        task_loss = tf.reduce_sum(outputs * upstream)
        (layer_loss,) = layer.losses
    np.testing.assert_allclose(to_numpy(outputs), expected_q, atol=1e-5)
    # Both losses are mean((x - q)^2) over the 36 elements in value.
    mean_square = distance.sum() / inputs.size
    np.testing.assert_allclose(
        float(layer_loss), (quantization_weight + commitment_weight) * mean_square, rtol=1e-4
    )
    # Identity gradient to the input; the task loss gives the codebook nothing.
    np.testing.assert_allclose(tape.gradient(task_loss, latents).numpy(), upstream.numpy(), rtol=1e-6)
    assert tape.gradient(task_loss, layer.codebook) is None
    # The codebook loss's gradient, worked out in NumPy.
    np.testing.assert_allclose(
        tf.convert_to_tensor(tape.gradient(layer_loss, layer.codebook)).numpy(),
        quantization_weight * expected_codebook_gradient(inputs, points, layer.num_points),
        rtol=1e-3, atol=1e-6,
    )
    # The commitment loss's gradient on the input: 2 beta (x - q) / (M D).
    np.testing.assert_allclose(
        tape.gradient(layer_loss, latents).numpy(),
        2 * commitment_weight * (inputs - expected_q) / inputs.size,
        rtol=1e-3, atol=1e-6,
    )


# ---------------------------------------------------------------- metrics
def test_metrics_by_hand():
    # Curve (0, 0) -> (1, 0) -> (2, 0). Inputs (0.2, 0.1), (0.9, -0.2), (1.4, 0.3), (1.2, 0): squared
    # distances 0.01, 0.04, 0.09, 0 (mean 0.035); positions 0.2, 0.9, 1.4, 1.2 -> nearest corner points
    # 0, 1, 1, 1: shares (1/4, 3/4, 0), perplexity exp(-(1/4 ln 1/4 + 3/4 ln 3/4)), 2 of 3 points used.
    layer = SpaceFillingVectorQuantization(num_points=4, initial_points=2, name="sfvq")
    set_curve(layer, [[0, 0], [1, 0], [2, 0]])
    inputs = np.array([[0.2, 0.1], [0.9, -0.2], [1.4, 0.3], [1.2, 0.0]], "float32")
    layer(inputs)
    np.testing.assert_allclose(float(layer.quantization_error_tracker.result()), 0.035, rtol=1e-5)
    perplexity = np.exp(-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)))
    np.testing.assert_allclose(float(layer.perplexity_tracker.result()), perplexity, rtol=1e-5)
    np.testing.assert_allclose(float(layer.usage_tracker.result()), 2 / 3, rtol=1e-6)
    # Usage counts accumulate only in training.
    np.testing.assert_array_equal(to_numpy(layer.point_usage), 0.0)
    layer(inputs, training=True)
    np.testing.assert_array_equal(to_numpy(layer.point_usage), [1, 3, 0, 0])


def test_metrics_appear_in_fit_history():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, SpaceFillingVectorQuantization(num_points=8, name="sfvq")(inputs))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    data = np.random.default_rng(5).normal(size=(32, 3)).astype("float32")
    history = model.fit(data, data, epochs=1, verbose=0)
    for name in ["quantization_error", "perplexity", "usage"]:
        assert f"sfvq_{name}" in history.history, sorted(history.history)
    assert 1.0 <= history.history["sfvq_perplexity"][0] <= 4.0


# ---------------------------------------------------------------- growth
def test_grow_doubles_points_and_keeps_the_curve():
    rng = np.random.default_rng(6)
    split = 0.05
    layer = SpaceFillingVectorQuantization(num_points=16, initial_points=8, split_perturbation=split)
    points = rng.normal(size=(8, 3)).astype("float32")
    set_curve(layer, points)
    layer(rng.normal(size=(20, 3)).astype("float32"), training=True)
    assert to_numpy(layer.point_usage).sum() == 20
    old_samples = to_numpy(layer.curve_points(2000))

    assert layer.grow() == 16
    assert layer.num_active_points == 16
    np.testing.assert_array_equal(to_numpy(layer.point_usage), 0.0)
    new_points = to_numpy(layer.codebook)
    # c_k -> (c_k + e (c_{k-1} - c_k), c_k + e (c_{k+1} - c_k)); the ends keep one copy in place.
    previous = np.concatenate([points[:1], points[:-1]])
    following = np.concatenate([points[1:], points[-1:]])
    expected = np.stack([points + split * (previous - points), points + split * (following - points)], 1)
    np.testing.assert_allclose(new_points, expected.reshape(16, 3), atol=1e-6)
    # Order along the old curve: copy one of c_k sits at position k - e, copy two at k + e.
    _, segment, fraction, distance, _ = numpy_project(new_points, points)
    expected_positions = np.stack([np.arange(8) - split, np.arange(8) + split], 1).ravel()
    expected_positions[[0, -1]] = [0, 7]
    np.testing.assert_allclose(segment + fraction, expected_positions, atol=1e-5)
    np.testing.assert_allclose(distance, 0.0, atol=1e-10)
    # Shape kept: the Hausdorff distance between dense samples of the two curves is at most the
    # corner cut, e times the longest segment (and old corner points are that close to the new curve).
    bound = split * np.max(np.linalg.norm(np.diff(points, axis=0), axis=-1)) + 1e-5
    new_samples = to_numpy(layer.curve_points(4000))
    assert np.sqrt(numpy_project(old_samples, new_points)[3].max()) <= bound
    assert np.sqrt(numpy_project(new_samples, points)[3].max()) <= bound
    assert np.sqrt(numpy_project(points, new_points)[3].max()) <= bound
    with pytest.raises(ValueError, match="cannot grow"):
        layer.grow()


def test_fit_to_a_noisy_sine_with_growth_from_4_to_16_points():
    # 2-D points around the curve y = 0.5 sin(pi x), x in [-1, 1], with isotropic Gaussian noise of
    # standard deviation sigma. The squared distance of a noisy point to the true curve is about the
    # squared normal component of the noise, sigma^2 on average; a 16-point curve approximates the sine
    # within about 1e-4 in squared distance, so a well fitted curve has a mean squared error near
    # sigma^2. Bound: 3 sigma^2 (room for the fit), and far below the starting straight curve's error.
    # (In practice it ends near 1e-3 < sigma^2 = 2.5e-3: with 16 points the curve also folds across the
    # noise band, as a space-filling curve does, so positions need not follow x monotonically.)
    sigma = 0.05
    rng = np.random.default_rng(7)

    def sample(count):
        x = rng.uniform(-1, 1, size=count)
        curve = np.stack([x, 0.5 * np.sin(np.pi * x)], axis=1)
        return (curve + rng.normal(scale=sigma, size=(count, 2))).astype("float32")

    train, test = sample(4096), sample(2048)
    layer = SpaceFillingVectorQuantization(num_points=16, initial_points=4, seed=0, name="sfvq")
    inputs = keras.Input((2,))
    model = keras.Model(inputs, layer(inputs))
    # NSVQ: mse(x_hat, x) is the quantization error, so fitting the identity trains the curve.
    model.compile(keras.optimizers.Adam(0.02), "mse")

    def error():
        quantized, _, _ = layer.project(test)
        return float(np.mean(np.sum((to_numpy(quantized) - test) ** 2, axis=-1)))

    initial_error = error()
    growth = SFVQGrowth("sfvq", schedule=[150, 300])
    model.fit(train, train, batch_size=64, epochs=8, callbacks=[growth], verbose=0)  # 512 steps
    assert layer.num_active_points == 16
    final_error = error()
    assert final_error < 3 * sigma**2, (final_error, sigma**2)
    assert final_error < initial_error / 10, (final_error, initial_error)


def test_growth_callback_under_mirrored_strategy_keeps_replicas_in_sync():
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    data = np.random.default_rng(8).uniform(-1, 1, size=(64, 2)).astype("float32")
    with strategy.scope():
        layer = SpaceFillingVectorQuantization(num_points=16, initial_points=4, seed=0)
        inputs = keras.Input((2,))
        model = keras.Model(inputs, layer(keras.layers.Dense(2)(inputs)))
        model.compile(keras.optimizers.Adam(1e-2), "mse")
    # 8 steps of 8 rows (4 per replica); growth after steps 2 and 4, which also resets the counts.
    growth = SFVQGrowth(layer, [2, 4])
    history = model.fit(data, data, batch_size=8, epochs=1, shuffle=False, callbacks=[growth], verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert layer.num_active_points == 16
    for variable in [layer.codebook, layer.active_points]:
        first, second = [v.numpy() for v in variable.value.values]
        np.testing.assert_array_equal(first, second, err_msg=variable.name)
    # Read from the host, the counts sum the replicas: 4 steps of 8 rows after the last growth.
    assert to_numpy(layer.point_usage).sum() == 32


def test_growth_schedule():
    every = SFVQGrowth("sfvq", schedule=100)
    assert [every.growths_due(step) for step in [0, 99, 100, 250]] == [0, 0, 1, 2]
    listed = SFVQGrowth("sfvq", schedule=[10, 30])
    assert [listed.growths_due(step) for step in [9, 10, 29, 30, 1000]] == [0, 1, 1, 2, 2]
    for bad in [0, -5, [], [10, 10], [30, 10], [0, 5], "often", 2.5]:
        with pytest.raises(ValueError, match="schedule"):
            SFVQGrowth("sfvq", schedule=bad)
    with pytest.raises(ValueError, match="layer must be"):
        SFVQGrowth(keras.layers.Dense(2), schedule=10)


# ---------------------------------------------------------------- replacement
def _detour_curve_and_data(num_points=8):
    # Data along the x-axis from 0 to 3; the curve follows it except for corner point 2, a detour up
    # to (1.5, 8) that no input is nearest to (shares about 1/6, 1/3, 0, 1/3, 1/6).
    layer = SpaceFillingVectorQuantization(
        num_points=num_points, initial_points=2, replacement_threshold=0.05
    )
    points = np.array([[0, 0], [1, 0], [1.5, 8], [2, 0], [3, 0]], "float32")
    set_curve(layer, points)
    rng = np.random.default_rng(9)
    data = np.stack([rng.uniform(0, 3, 1000), rng.normal(scale=0.05, size=1000)], 1).astype("float32")
    return layer, points, data


def _usage_and_error(layer, data):
    quantized, segment, fraction = layer.project(data)
    nearest = np.rint(to_numpy(segment) + to_numpy(fraction)).astype(int)
    used = len(np.unique(nearest)) / layer.num_active_points
    return used, float(np.mean(np.sum((to_numpy(quantized) - data) ** 2, axis=-1)))


def test_replace_unused_moves_a_dead_point_next_to_a_busy_one():
    layer, points, data = _detour_curve_and_data()
    used_before, error_before = _usage_and_error(layer, data)
    assert used_before == 4 / 5
    assert layer.replace_unused(inputs=data) == 1
    new_points = to_numpy(layer.codebook)[:5]
    assert layer.num_active_points == 5
    # The detour is gone: every corner point is on the data's line, in order along it...
    np.testing.assert_allclose(new_points[:, 1], 0.0, atol=1e-6)
    assert np.all(np.diff(new_points[:, 0]) > 0)
    # ...the busiest point (1, 0) or (2, 0) was split into copies 0.01 of a segment either side...
    donor = points[1] if np.allclose(new_points[1:3, 0], [0.99, 1.01]) else points[3]
    assert np.sum(np.linalg.norm(new_points - donor, axis=1) <= 0.01 + 1e-6) == 2
    # ...and all five points are now used, with a much smaller quantization error.
    used_after, error_after = _usage_and_error(layer, data)
    assert used_after == 1.0
    assert error_after < error_before / 5
    assert layer.replace_unused(inputs=data) == 0  # nothing unused any more


def test_replace_unused_from_training_counts_and_disabled_by_zero():
    layer, _, data = _detour_curve_and_data()
    assert layer.replace_unused() == 0  # nothing counted yet
    layer(data, training=True)
    counts = to_numpy(layer.point_usage)
    assert counts[2] == 0 and counts.sum() == len(data)
    assert layer.replace_unused(threshold=0.0) == 0
    np.testing.assert_array_equal(to_numpy(layer.point_usage), counts)  # untouched when nothing moved
    assert layer.replace_unused() == 1
    np.testing.assert_array_equal(to_numpy(layer.point_usage), 0.0)
    np.testing.assert_allclose(to_numpy(layer.codebook)[:5, 1], 0.0, atol=1e-6)
    # Explicit counts give the same choice as counting the inputs.
    other, _, _ = _detour_curve_and_data()
    assert other.replace_unused(counts=[100, 300, 0, 300, 100]) == 1
    np.testing.assert_allclose(to_numpy(other.codebook)[:5, 1], 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="counts must be"):
        other.replace_unused(counts=[1, 2, 3])
    with pytest.raises(ValueError, match="not both"):
        other.replace_unused(inputs=data, counts=[1, 1, 1, 1, 1])


def test_growth_callback_replaces_unused_points_between_growths():
    layer, _, data = _detour_curve_and_data()
    inputs = keras.Input((2,))
    model = keras.Model(inputs, layer(inputs))
    # A zero learning rate: only the callback moves corner points.
    model.compile(keras.optimizers.SGD(0.0), "mse")
    callback = SFVQGrowth(layer, schedule=[1000], replace_every=2)
    model.fit(data[:256], data[:256], batch_size=64, epochs=1, callbacks=[callback], verbose=0)
    # After step 2 the detour point (counted unused in steps 1-2) is moved; nothing grew.
    assert layer.num_active_points == 5
    np.testing.assert_allclose(to_numpy(layer.codebook)[:5, 1], 0.0, atol=1e-6)


# ---------------------------------------------------------------- saving
def test_grown_state_survives_keras_round_trip(tmp_path):
    rng = np.random.default_rng(10)
    layer = SpaceFillingVectorQuantization(
        num_points=16, initial_points=2, initializer="random_normal", seed=1
    )
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layer(inputs))
    layer.grow()
    layer.grow()
    data = rng.normal(size=(20, 3)).astype("float32")
    expected = to_numpy(model(data))
    path = os.path.join(tmp_path, "grown.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path).layers[-1]
    assert reloaded.num_active_points == 8
    np.testing.assert_array_equal(to_numpy(reloaded.codebook), to_numpy(layer.codebook))
    np.testing.assert_array_equal(to_numpy(reloaded(data)), expected)
    np.testing.assert_array_equal(
        to_numpy(reloaded.curve_position(data)), to_numpy(layer.curve_position(data))
    )
    assert reloaded.grow() == 16


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_points": 1}, "num_points must be an int >= 2"),
        ({"num_points": 8.0}, "num_points"),
        ({"num_points": 16, "initial_points": 1}, "initial_points must be an int >= 2"),
        ({"num_points": 2}, "initial_points must not exceed num_points"),
        ({"num_points": 12}, "power of two"),
        ({"num_points": 16, "initial_points": 3}, "power of two"),
        ({"num_points": 16, "training_mode": "ema"}, "training_mode must be one of"),
        ({"num_points": 16, "replacement_threshold": 0.1}, r"replacement_threshold .*\[0, 0.0625\)"),
        ({"num_points": 16, "replacement_threshold": -0.01}, "replacement_threshold"),
        ({"num_points": 16, "replacement_threshold": "x"}, "replacement_threshold"),
        ({"num_points": 16, "quantization_weight": -1.0}, "quantization_weight"),
        ({"num_points": 16, "commitment_weight": float("nan")}, "commitment_weight"),
        ({"num_points": 16, "split_perturbation": 0.0}, "split_perturbation"),
        ({"num_points": 16, "split_perturbation": 0.5}, "split_perturbation"),
        ({"num_points": 16, "initializer": "no_such_initializer"}, "initializer"),
        ({"num_points": 16, "seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpaceFillingVectorQuantization(**kwargs)


def test_default_replacement_threshold():
    assert SpaceFillingVectorQuantization(num_points=16).effective_replacement_threshold == 0.01
    assert SpaceFillingVectorQuantization(num_points=256).effective_replacement_threshold == 0.5 / 256
    disabled = SpaceFillingVectorQuantization(num_points=16, replacement_threshold=0.0)
    assert disabled.effective_replacement_threshold == 0


def test_bad_input_shapes_raise_value_error():
    with pytest.raises(ValueError, match="rank-0"):
        SpaceFillingVectorQuantization(num_points=8).build(())
    with pytest.raises(ValueError, match="known last axis"):
        SpaceFillingVectorQuantization(num_points=8).build((None, None))
    layer = SpaceFillingVectorQuantization(num_points=8)
    layer(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="axis -1"):
        layer(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        layer.project(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        layer.curve_position(np.float32(1.0))
    unbuilt = SpaceFillingVectorQuantization(num_points=8)
    for method, argument in [("decode_position", [0.5]), ("curve_points", 5), ("replace_unused", None)]:
        with pytest.raises(ValueError, match="built"):
            getattr(unbuilt, method)(argument)
    with pytest.raises(ValueError, match="num must be"):
        layer.curve_points(1)


def test_get_config_has_every_constructor_argument():
    parameters = inspect.signature(SpaceFillingVectorQuantization.__init__).parameters
    arguments = set(parameters) - {"self", "kwargs"}
    config = SpaceFillingVectorQuantization(**SPEC.non_default_kwargs).get_config()
    assert arguments <= set(config), arguments - set(config)
    restored = SpaceFillingVectorQuantization.from_config(config)
    assert all(restored.get_config()[name] == config[name] for name in arguments)


def test_seeded_random_initializer_is_reproducible():
    first = SpaceFillingVectorQuantization(num_points=8, initializer="random_normal", seed=5)
    second = SpaceFillingVectorQuantization.from_config(first.get_config())
    first.build((None, 3))
    second.build((None, 3))
    np.testing.assert_array_equal(to_numpy(first.codebook), to_numpy(second.codebook))
    assert to_numpy(first.codebook).std() > 0.01


# ---------------------------------------------------------------- shared checks
def test_output_shape_and_dtype():
    test_case.check_output_shape_and_dtype(SPEC)


def test_keras_round_trip_with_non_default_arguments(tmp_path):
    test_case.check_keras_round_trip(SPEC, tmp_path)


def test_savedmodel_round_trip(tmp_path):
    test_case.check_savedmodel_round_trip(SPEC, tmp_path)


def test_jit_compile():
    test_case.check_jit_compile(SPEC)


def test_jit_compiled_training_step_reads_the_grown_active_count():
    # The active count is a variable: a compiled function traced before growth uses the grown curve.
    layer = SpaceFillingVectorQuantization(num_points=8, initial_points=2, seed=0)
    set_curve(layer, [[0, 0], [1, 0]])
    step = tf.function(lambda x: layer(x, training=True, return_position=True)[1], jit_compile=True)
    inputs = tf.constant([[0.5, 0.0], [1.0, 0.0], [3.0, 0.0]])
    np.testing.assert_allclose(step(inputs).numpy(), [0.5, 1.0, 1.0], atol=1e-6)
    layer.grow()  # (0, 0), (0.01, 0), (0.99, 0), (1, 0)
    layer.codebook.assign(np.array([[0, 0], [1, 0], [2, 0], [3, 0]] + [[3, 0]] * 4, "float32"))
    np.testing.assert_allclose(step(inputs).numpy(), [0.5, 1.0, 3.0], atol=1e-6)


def test_mirrored_strategy_fit():
    test_case.check_mirrored_strategy(SPEC)


def test_mixed_precision_keeps_quantizer_float32():
    test_case.check_mixed_precision(SPEC)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = SpaceFillingVectorQuantization(num_points=8, training_mode="straight_through", seed=2)
        latents = np.random.default_rng(11).normal(size=(16, 4)).astype("float16")
        outputs, position = layer(latents, training=True, return_position=True)
        (loss,) = layer.losses
        noisy = SpaceFillingVectorQuantization(num_points=8, seed=2)(latents, training=True)
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert keras.backend.standardize_dtype(noisy.dtype) == "float16"
    assert keras.backend.standardize_dtype(position.dtype) == "float32"
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    for weight in layer.weights:
        assert keras.backend.standardize_dtype(weight.dtype) == "float32", weight.name
