"""Tests of keras_latentquant.layers.vector_quantization, with numbers worked out by hand or in NumPy."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.layers.vector_quantization import VectorQuantization
from tests import test_case

SPEC = test_case.LayerSpec(
    layer_class=VectorQuantization,
    # A seed makes two layers built from these arguments share their codebook (mixed-precision check).
    default_kwargs={"num_codes": 16, "seed": 0},
    non_default_kwargs={
        "num_codes": 12,
        "vector_dim": 4,
        "quantization_weight": 0.5,
        "commitment_weight": 0.5,
        "ema": True,
        "decay": 0.9,
        "epsilon": 1e-4,
        "dead_code_threshold": 0.01,
        "initializer": "random_normal",
        "seed": 7,
    },
    input_shape=(8, 8),
)


def numpy_quantize(latents, codebook):
    """Reference: nearest codeword of every vector_dim-slice, by brute force over codewords."""
    latents = np.asarray(latents, dtype=np.float64)
    codebook = np.asarray(codebook, dtype=np.float64)
    vector_dim = codebook.shape[1]
    vectors = latents.reshape(latents.shape[:-1] + (-1, vector_dim))
    codes = np.zeros(vectors.shape[:-1], dtype=np.int64)
    for index in np.ndindex(codes.shape):
        codes[index] = int(np.argmin([np.sum((vectors[index] - e) ** 2) for e in codebook]))
    return codes, codebook[codes].reshape(latents.shape)


def numpy_ema_step(vectors, codebook, ema_count, ema_sum, decay, epsilon):
    """Reference: one EMA codebook step on vectors (M, D), as in VQ-VAE appendix A.1 with smoothing."""
    codes = numpy_quantize(vectors, codebook)[0].ravel()
    num_codes = len(codebook)
    counts = np.bincount(codes, minlength=num_codes).astype(np.float64)
    sums = np.zeros_like(ema_sum, dtype=np.float64)
    np.add.at(sums, codes, vectors)
    ema_count = decay * ema_count + (1 - decay) * counts
    ema_sum = decay * ema_sum + (1 - decay) * sums
    total = ema_count.sum()
    smoothed = (ema_count + epsilon) / (total + num_codes * epsilon) * total
    return counts, ema_count, ema_sum, ema_sum / smoothed[:, None]


def constant(values):
    return keras.initializers.Constant(np.asarray(values, dtype="float32"))


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


# ---------------------------------------------------------------- forward values
def test_forward_matches_numpy_brute_force_for_any_leading_axes():
    rng = np.random.default_rng(0)
    layer = VectorQuantization(num_codes=7, vector_dim=3, initializer="random_normal", seed=1)
    latents = rng.normal(scale=0.05, size=(4, 5, 6)).astype("float32")
    outputs, codes = layer(latents, return_codes=True)
    expected_codes, expected_values = numpy_quantize(latents, to_numpy(layer.codebook))
    assert outputs.shape == (4, 5, 6) and codes.shape == (4, 5, 2)
    assert keras.backend.standardize_dtype(codes.dtype) == "int32"
    np.testing.assert_array_equal(to_numpy(codes), expected_codes)
    # The forward value is exactly a codeword, not the codeword up to a rounding error.
    np.testing.assert_array_equal(to_numpy(outputs), expected_values.astype("float32"))
    assert len(np.unique(expected_codes)) > 1


def test_hand_worked_example():
    # Codewords (0, 0), (1, 0), (0, 2). Vector (0.9, 0.2) -> code 1; (0.1, 1.2) -> code 2 (distance
    # 0.65 vs 1.45); (0.4, 0.4) -> code 0 (0.32 vs 0.52 and 2.72).
    layer = VectorQuantization(num_codes=3, vector_dim=2, initializer=constant([[0, 0], [1, 0], [0, 2]]))
    latents = np.array([[0.9, 0.2, 0.1, 1.2, 0.4, 0.4]], dtype="float32")
    outputs, codes = layer(latents, return_codes=True)
    np.testing.assert_array_equal(to_numpy(codes), [[1, 2, 0]])
    np.testing.assert_array_equal(to_numpy(outputs), [[1, 0, 0, 2, 0, 0]])


def test_default_initializer_is_uniform_within_one_over_num_codes():
    layer = VectorQuantization(num_codes=50, vector_dim=4, seed=3)
    layer.build((None, 8))
    codebook = to_numpy(layer.codebook)
    assert codebook.shape == (50, 4) and layer.num_vectors == 2
    assert np.all(np.abs(codebook) <= 1 / 50) and codebook.std() > 0.5 / 50 / np.sqrt(3)
    assert layer.codebook.trainable and keras.backend.standardize_dtype(codebook.dtype) == "float32"


def test_losses_match_hand_computation():
    # Codewords (0, 0) and (1, 1). Vectors (0.2, -0.1) -> (0, 0), errors 0.2, -0.1; (0.7, 1.4) -> (1, 1),
    # errors -0.3, 0.4. Mean square over the 4 elements = (0.04 + 0.01 + 0.09 + 0.16) / 4 = 0.075.
    layer = VectorQuantization(
        num_codes=2, vector_dim=2, quantization_weight=0.5, commitment_weight=0.25,
        initializer=constant([[0, 0], [1, 1]]),
    )
    layer(np.array([[0.2, -0.1, 0.7, 1.4]], dtype="float32"))
    (loss,) = layer.losses
    np.testing.assert_allclose(float(loss), (0.5 + 0.25) * 0.075, rtol=1e-5)
    np.testing.assert_allclose(float(layer.quantization_loss_tracker.result()), 0.075, rtol=1e-5)
    np.testing.assert_allclose(float(layer.commitment_loss_tracker.result()), 0.075, rtol=1e-5)


def test_ema_mode_adds_only_the_commitment_loss():
    layer = VectorQuantization(
        num_codes=2, vector_dim=2, quantization_weight=0.5, commitment_weight=0.25, ema=True,
        initializer=constant([[0, 0], [1, 1]]),
    )
    layer(np.array([[0.2, -0.1, 0.7, 1.4]], dtype="float32"))
    (loss,) = layer.losses
    np.testing.assert_allclose(float(loss), 0.25 * 0.075, rtol=1e-5)
    # The codebook loss is still reported, and the codebook is moved by averages, not the optimizer.
    np.testing.assert_allclose(float(layer.quantization_loss_tracker.result()), 0.075, rtol=1e-5)
    assert not layer.codebook.trainable and not layer.trainable_weights


def test_usage_metrics_by_hand():
    # Codes used by 4 vectors: 0, 0, 1, 2 of 4 codewords -> p = (.5, .25, .25, 0), perplexity 2^1.5,
    # fraction of codewords used 3/4.
    layer = VectorQuantization(
        num_codes=4, vector_dim=1, initializer=constant([[0.0], [1.0], [2.0], [3.0]])
    )
    layer(np.array([[0.1, -0.2], [1.1, 2.2]], dtype="float32"))
    np.testing.assert_allclose(float(layer.perplexity_tracker.result()), 2**1.5, rtol=1e-5)
    np.testing.assert_allclose(float(layer.usage_tracker.result()), 0.75, rtol=1e-6)


# ---------------------------------------------------------------- gradients
def test_straight_through_gradient_is_identity_on_input():
    layer = VectorQuantization(
        num_codes=8, vector_dim=2, quantization_weight=0.0, commitment_weight=0.0, seed=0
    )
    latents = tf.constant(np.random.default_rng(1).normal(size=(6, 4)).astype("float32"))
    upstream = tf.constant(np.random.default_rng(2).normal(size=(6, 4)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(latents)
        loss = tf.reduce_sum(layer(latents) * upstream)
    gradient = tape.gradient(loss, latents)
    np.testing.assert_allclose(gradient.numpy(), upstream.numpy(), rtol=1e-6)


def test_codebook_gets_only_the_quantization_loss_gradient():
    # d/de_k of beta * mean((sg(z) - q)^2) over the N*d latent elements
    #   = -2 beta / (N d) * sum_{i: k_i = k} (z_i - e_k);
    # the task loss through the straight-through output and the commitment loss give the codebook nothing.
    beta, gamma = 0.5, 0.25
    codebook = np.array([[0, 0], [1, 1], [-1, 1]], dtype="float32")
    layer = VectorQuantization(
        num_codes=3, vector_dim=2, quantization_weight=beta, commitment_weight=gamma,
        initializer=constant(codebook),
    )
    latents = np.array([[0.2, -0.3, 0.8, 1.1], [-0.7, 0.9, 0.1, 0.2], [0.6, 0.7, 2.0, -1.0]], "float32")
    with tf.GradientTape() as tape:
        outputs = layer(latents)
        loss = tf.reduce_sum(outputs * 7.0) + tf.add_n(layer.losses)
    gradient = tape.gradient(loss, layer.codebook).numpy()
    vectors = latents.reshape(-1, 2)
    codes = numpy_quantize(vectors, codebook)[0].ravel()
    expected = np.zeros((3, 2))
    for i, k in enumerate(codes):
        expected[k] += -2 * beta / latents.size * (vectors[i] - codebook[k])
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-7)
    assert np.all(expected[np.bincount(codes, minlength=3) > 0] != 0)


def test_input_gradient_includes_commitment_term():
    # d/dz of gamma * mean((z - sg(q))^2) = 2 gamma (z - q) / (N d), added to the straight-through identity.
    gamma = 0.5
    layer = VectorQuantization(
        num_codes=2, vector_dim=2, quantization_weight=3.0, commitment_weight=gamma,
        initializer=constant([[0, 0], [1, 1]]),
    )
    latents = tf.constant([[0.2, -0.1, 0.7, 1.4]])
    with tf.GradientTape() as tape:
        tape.watch(latents)
        loss = tf.reduce_sum(layer(latents)) + tf.add_n(layer.losses)
    gradient = tape.gradient(loss, latents).numpy()
    expected = 1.0 + 2 * gamma * (latents.numpy() - np.array([[0, 0, 1, 1]])) / 4
    np.testing.assert_allclose(gradient, expected, rtol=1e-5)


def test_every_trainable_weight_gets_a_gradient_in_a_model():
    inputs = keras.Input((6,))
    latents = keras.layers.Dense(4, name="to_latents")(inputs)
    quantized = VectorQuantization(num_codes=4, vector_dim=2, initializer="random_normal")(latents)
    outputs = keras.layers.Dense(6, name="from_latents")(quantized)
    model = keras.Model(inputs, outputs)
    data = np.random.default_rng(3).normal(size=(32, 6)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(data) - data)) + tf.add_n(model.losses)
    gradients = tape.gradient(loss, model.trainable_weights)
    assert any(w.name == "codebook" for w in model.trainable_weights)
    for weight, gradient in zip(model.trainable_weights, gradients):
        assert gradient is not None and np.any(gradient.numpy() != 0), weight.path


# ---------------------------------------------------------------- EMA codebook
def test_ema_step_matches_numpy():
    decay, epsilon = 0.9, 1e-3
    codebook = np.array([[0, 0], [1, 1], [-1, 1], [5, 5]], dtype="float32")
    # A threshold below every usage after one step (0.9 * 1/4 at least): usage is tracked, nothing re-seeded.
    layer = VectorQuantization(
        num_codes=4, vector_dim=2, ema=True, decay=decay, epsilon=epsilon, dead_code_threshold=0.01,
        initializer=constant(codebook), seed=0,
    )
    latents = np.random.default_rng(5).normal(scale=0.8, size=(10, 4)).astype("float32")
    outputs = layer(latents, training=True)
    vectors = latents.reshape(-1, 2)
    counts, ema_count, ema_sum, new_codebook = numpy_ema_step(
        vectors, codebook, np.ones(4), codebook.astype(np.float64), decay, epsilon
    )
    assert counts[3] == 0 and np.all(counts[:3] > 0)  # one codeword unused: smoothing matters
    # The forward value uses the codebook from before the update.
    np.testing.assert_array_equal(to_numpy(outputs), numpy_quantize(latents, codebook)[1].astype("float32"))
    np.testing.assert_allclose(to_numpy(layer.ema_count), ema_count, rtol=1e-6)
    np.testing.assert_allclose(to_numpy(layer.ema_sum), ema_sum, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(layer.codebook), new_codebook, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        to_numpy(layer.code_usage), decay * 0.25 + (1 - decay) * counts / counts.sum(), rtol=1e-6
    )


def test_ema_state_moves_only_in_training():
    layer = VectorQuantization(num_codes=4, vector_dim=2, ema=True, seed=0)
    latents = np.random.default_rng(6).normal(size=(8, 4)).astype("float32")
    layer(latents)
    before = [to_numpy(w).copy() for w in layer.weights]
    layer(latents, training=False)
    layer.encode_codes(latents)
    for b, w in zip(before, layer.weights):
        np.testing.assert_array_equal(to_numpy(w), b, err_msg=w.name)
    layer(latents, training=True)
    assert not np.array_equal(to_numpy(layer.codebook), before[0])


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
@pytest.mark.parametrize("jit_compile", [False, True])
def test_ema_fit_moves_codewords_to_cluster_means(jit_compile):
    # Four tight clusters, one codeword started next to each: EMA codewords go to the cluster means.
    centres = np.array([[2, 2], [-2, 2], [-2, -2], [2, -2]], dtype="float32")
    rng = np.random.default_rng(7)
    vectors = centres[rng.integers(0, 4, size=512)] + rng.normal(scale=0.1, size=(512, 2)).astype("float32")
    layer = VectorQuantization(
        num_codes=4, vector_dim=2, ema=True, decay=0.8, initializer=constant(0.5 * centres), seed=0,
        dead_code_threshold=0.05,  # exercised, never triggered: every cluster keeps about 1/4 of the data
    )
    inputs = keras.Input((2,))
    model = keras.Model(inputs, layer(inputs))
    model.compile(keras.optimizers.Adam(1e-2), "mse", jit_compile=jit_compile)
    model.fit(vectors, vectors, batch_size=64, epochs=4, verbose=0)
    codes = numpy_quantize(vectors, to_numpy(layer.codebook))[0].ravel()
    means = np.stack([vectors[codes == k].mean(axis=0) for k in range(4)])
    np.testing.assert_allclose(to_numpy(layer.codebook), means, atol=0.05)
    np.testing.assert_allclose(to_numpy(layer.codebook), centres, atol=0.1)


def _replica_train_step(strategy, layer, latents):
    """One step of `identity encoder -> layer` on each replica (gradients taken, none applied).

    Inside a multi-replica strategy the layer updates its state in the backward pass, so the step
    computes gradients of a trainable encoder through it, as `fit` does.
    """
    width = latents.shape[-1]
    with strategy.scope():
        encoder = keras.layers.Dense(width, kernel_initializer="identity", bias_initializer="zeros")
        encoder.build((None, width))
    batches = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(latents).batch(len(latents))
    )

    def replica_step(x):
        with tf.GradientTape() as tape:
            outputs = layer(encoder(x), training=True)
            loss = tf.reduce_mean(tf.square(outputs)) + tf.add_n(layer.losses)
        return tape.gradient(loss, encoder.trainable_weights)

    tf.function(lambda batch: strategy.run(replica_step, args=(batch,)))(next(iter(batches)))


def test_ema_under_mirrored_strategy_equals_one_device_on_the_global_batch():
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    decay, epsilon = 0.8, 1e-3
    codebook = np.array([[0, 0], [1, 1], [-1, 1], [5, 5]], dtype="float32")
    latents = np.random.default_rng(8).normal(scale=0.8, size=(8, 4)).astype("float32")
    with strategy.scope():
        layer = VectorQuantization(
            num_codes=4, vector_dim=2, ema=True, decay=decay, epsilon=epsilon, initializer=constant(codebook)
        )
        layer.build((None, 4))
    _replica_train_step(strategy, layer, latents)
    # Each replica saw 4 rows; the all-reduced statistics make the step the one-device step on all 8.
    _, ema_count, ema_sum, new_codebook = numpy_ema_step(
        latents.reshape(-1, 2), codebook, np.ones(4), codebook.astype(np.float64), decay, epsilon
    )
    per_replica = lambda variable: [v.numpy() for v in variable.value.values]  # noqa: E731
    expectations = [(layer.ema_count, ema_count), (layer.ema_sum, ema_sum), (layer.codebook, new_codebook)]
    for variable, expected in expectations:
        replicas = per_replica(variable)
        assert len(replicas) == 2
        for value in replicas:
            np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=variable.name)


def _fit_history_and_codebook(strategy):
    codebook = np.array([[0, 0], [1, 1], [-1, 1], [5, 5]], dtype="float32")
    data = np.random.default_rng(15).normal(scale=0.8, size=(32, 4)).astype("float32")
    with strategy.scope():
        layer = VectorQuantization(
            num_codes=4, vector_dim=2, ema=True, decay=0.8, initializer=constant(codebook), name="quantizer"
        )
        inputs = keras.Input((4,))
        encoder = keras.layers.Dense(4, kernel_initializer="identity", bias_initializer="zeros")
        model = keras.Model(inputs, layer(encoder(inputs)))
        # A zero learning rate keeps the encoder fixed, so both runs see the same encodings.
        model.compile(keras.optimizers.SGD(0.0), "mse")
    history = model.fit(data, np.zeros_like(data), batch_size=8, epochs=1, shuffle=False, verbose=0)
    return history.history, to_numpy(layer.codebook)


def test_fit_under_mirrored_strategy_matches_one_device_losses_and_codebook():
    # A cross-replica call in the forward pass would let the replicas' add_loss terms mix (the
    # reported loss then differs from one device's); the layer defers it to the backward pass.
    from tests.conftest import shared_mirrored_strategy

    one_device, one_device_codebook = _fit_history_and_codebook(tf.distribute.get_strategy())
    mirrored, mirrored_codebook = _fit_history_and_codebook(shared_mirrored_strategy())
    # Means over the batch agree; per-batch perplexity is not additive over replicas, so not compared.
    for name in ["loss", "quantizer_commitment_loss"]:
        np.testing.assert_allclose(mirrored[name], one_device[name], rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(mirrored_codebook, one_device_codebook, rtol=1e-5, atol=1e-6)
    assert not np.allclose(one_device_codebook[:3], [[0, 0], [1, 1], [-1, 1]])


# ---------------------------------------------------------------- dead codes
def _distinct_codes_after_training(dead_code_threshold, ema, steps=6):
    # Collapse by construction: one codeword inside the data, seven far away; no encoding ever
    # picks the far ones.
    codebook = np.concatenate([[[0.0, 0.0]], 50.0 + np.arange(14, dtype="float32").reshape(7, 2)])
    layer = VectorQuantization(
        num_codes=8, vector_dim=2, ema=ema, decay=0.5, dead_code_threshold=dead_code_threshold,
        initializer=constant(codebook), seed=0,
    )
    rng = np.random.default_rng(9)
    step = tf.function(lambda x: layer(x, training=True))
    for _ in range(steps):
        step(tf.constant(rng.uniform(-1, 1, size=(128, 2)).astype("float32")))
    data = rng.uniform(-1, 1, size=(1000, 2)).astype("float32")
    return len(np.unique(to_numpy(layer.encode_codes(data)))), layer


@pytest.mark.parametrize("ema", [False, True])
def test_dead_code_reseeding_restores_usage(ema):
    used_without, _ = _distinct_codes_after_training(0.0, ema)
    used_with, layer = _distinct_codes_after_training(0.05, ema)
    assert used_without == 1
    assert used_with >= 6, used_with
    # Re-seeded codewords come from the batch, so they lie inside the data's square.
    assert np.all(np.abs(to_numpy(layer.codebook)) <= 1.0 + 1e-6)


def test_dead_code_reseeding_only_in_training():
    codebook = np.array([[0.0, 0.0], [50.0, 50.0]], dtype="float32")
    layer = VectorQuantization(
        num_codes=2, vector_dim=2, decay=0.5, dead_code_threshold=0.4, initializer=constant(codebook), seed=0
    )
    latents = np.random.default_rng(10).uniform(-1, 1, size=(16, 2)).astype("float32")
    for _ in range(5):
        layer(latents)
        layer(latents, training=False)
    np.testing.assert_array_equal(to_numpy(layer.codebook), codebook)
    # Usage of code 1 after one training step: 0.5 * 0.5 + 0.5 * 0 = 0.25 < 0.4: re-seeded at once.
    layer(latents, training=True)
    assert not np.array_equal(to_numpy(layer.codebook)[1], codebook[1])
    assert any(np.array_equal(to_numpy(layer.codebook)[1], row) for row in latents)


def test_dead_code_reseeding_keeps_replicas_in_sync():
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    codebook = np.array([[0.0, 0.0]] + [[50.0, 50.0]] * 3, dtype="float32")
    with strategy.scope():
        layer = VectorQuantization(
            num_codes=4, vector_dim=2, decay=0.5, dead_code_threshold=0.2, initializer=constant(codebook),
            seed=0,
        )
        layer.build((None, 2))
    latents = np.random.default_rng(11).uniform(-1, 1, size=(16, 2)).astype("float32")
    _replica_train_step(strategy, layer, latents)
    first, second = [v.numpy() for v in layer.codebook.value.values]
    np.testing.assert_array_equal(first, second)
    # Usage of the far codewords: 0.5 * 1/4 = 0.125 < 0.2 after one step; all three re-seeded from the
    # first replica's half of the batch.
    assert all(any(np.array_equal(row, x) for x in latents[:8]) for row in first[1:])


def test_dead_code_reseeding_in_fit_under_mirrored_strategy():
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    codebook = np.array([[0.0, 0.0]] + [[50.0, 50.0]] * 3, dtype="float32")
    with strategy.scope():
        layer = VectorQuantization(
            num_codes=4, vector_dim=2, ema=True, decay=0.5, dead_code_threshold=0.2,
            initializer=constant(codebook), seed=0,
        )
        inputs = keras.Input((2,))
        model = keras.Model(inputs, keras.layers.Dense(2)(layer(keras.layers.Dense(2)(inputs))))
        model.compile(keras.optimizers.Adam(1e-2), "mse")
    # 36 rows, batch 8: the last global batch of 4 still splits over both replicas; history stays finite.
    data = np.random.default_rng(12).uniform(-1, 1, size=(36, 2)).astype("float32")
    history = model.fit(data, data, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    for variable in layer.weights:
        first, second = [v.numpy() for v in variable.value.values]
        np.testing.assert_array_equal(first, second, err_msg=variable.name)
    assert np.all(np.abs(to_numpy(layer.codebook)) < 50.0)


# ---------------------------------------------------------------- codes
def test_codes_round_trip():
    layer = VectorQuantization(num_codes=6, vector_dim=3, initializer="random_normal", seed=4)
    latents = np.random.default_rng(13).normal(scale=0.05, size=(10, 9)).astype("float32")
    quantized = to_numpy(layer(latents))
    codes = layer.encode_codes(latents)
    assert codes.shape == (10, 3)
    np.testing.assert_array_equal(to_numpy(layer.decode_codes(codes)), quantized)
    np.testing.assert_array_equal(to_numpy(layer.encode_codes(quantized)), to_numpy(codes))
    evaluation, discrete = layer.evaluation_latents(latents)
    assert discrete is True
    np.testing.assert_array_equal(to_numpy(evaluation), to_numpy(codes))
    codebook = to_numpy(layer.codebook)
    np.testing.assert_array_equal(
        to_numpy(layer.decode_codes(np.array([[5, 0, 2]]))),
        [np.concatenate([codebook[5], codebook[0], codebook[2]])],
    )


def test_decode_codes_rejects_bad_codes_and_needs_a_built_layer():
    with pytest.raises(ValueError, match="built"):
        VectorQuantization(num_codes=4).decode_codes(np.array([[0]]))
    layer = VectorQuantization(num_codes=4, vector_dim=2)
    layer.build((None, 4))
    with pytest.raises(ValueError, match="out of range"):
        layer.decode_codes(np.array([[4, 0]]))
    with pytest.raises(ValueError, match="integers"):
        layer.decode_codes(np.array([[0.5, 0.0]]))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        layer.decode_codes(np.array([[0, 0, 0]]))


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_codes": 1}, "num_codes must be an int >= 2"),
        ({"num_codes": 2.5}, "num_codes"),
        ({"vector_dim": 0}, "vector_dim must be an int >= 1"),
        ({"vector_dim": True}, "vector_dim"),
        ({"quantization_weight": -1.0}, "quantization_weight"),
        ({"commitment_weight": "x"}, "commitment_weight"),
        ({"decay": 1.0}, "decay must lie strictly between 0 and 1"),
        ({"decay": 0.0}, "decay"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"num_codes": 10, "dead_code_threshold": 0.1}, r"dead_code_threshold .*\[0, 0.1\)"),
        ({"dead_code_threshold": -0.01}, "dead_code_threshold"),
        ({"initializer": "no_such_initializer"}, "initializer"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VectorQuantization(**kwargs)


def test_bad_input_shapes_raise_value_error():
    with pytest.raises(ValueError, match="rank-0"):
        VectorQuantization().build(())
    with pytest.raises(ValueError, match="known last axis"):
        VectorQuantization().build((None, None))
    with pytest.raises(ValueError, match="divisible by vector_dim=4"):
        VectorQuantization(vector_dim=4)(np.zeros((1, 6), "float32"))


def test_get_config_has_every_constructor_argument():
    arguments = set(inspect.signature(VectorQuantization.__init__).parameters) - {"self", "kwargs"}
    config = VectorQuantization(**SPEC.non_default_kwargs).get_config()
    assert arguments <= set(config), arguments - set(config)
    restored = VectorQuantization.from_config(config)
    assert all(restored.get_config()[name] == config[name] for name in arguments)


def test_initializer_object_is_serialized():
    initializer = keras.initializers.RandomNormal(0.0, 2.0, seed=1)
    layer = VectorQuantization(num_codes=3, vector_dim=1, initializer=initializer)
    restored = VectorQuantization.from_config(layer.get_config())
    layer.build((None, 2))
    restored.build((None, 2))
    np.testing.assert_array_equal(to_numpy(layer.codebook), to_numpy(restored.codebook))
    assert to_numpy(layer.codebook).std() > 0.5


# ---------------------------------------------------------------- shared checks
def test_output_shape_and_dtype():
    test_case.check_output_shape_and_dtype(SPEC)


def test_keras_round_trip_with_non_default_arguments(tmp_path):
    test_case.check_keras_round_trip(SPEC, tmp_path)


def test_savedmodel_round_trip(tmp_path):
    test_case.check_savedmodel_round_trip(SPEC, tmp_path)


def test_jit_compile():
    test_case.check_jit_compile(SPEC)


def test_mirrored_strategy_fit():
    test_case.check_mirrored_strategy(SPEC)


def test_mixed_precision_keeps_quantizer_float32():
    test_case.check_mixed_precision(SPEC)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = VectorQuantization(num_codes=8, vector_dim=2, ema=True, initializer="random_normal", seed=2)
        latents = np.random.default_rng(14).normal(scale=0.05, size=(16, 4)).astype("float16")
        outputs, codes = layer(latents, training=True, return_codes=True)
        (loss,) = layer.losses
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    for weight in layer.weights:
        assert keras.backend.standardize_dtype(weight.dtype) == "float32", weight.name


def test_metrics_appear_in_fit_history():
    inputs = keras.Input((4,))
    quantized = VectorQuantization(num_codes=6, vector_dim=2, name="quantizer")(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4)(quantized))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    history = model.fit(np.random.randn(32, 4), np.random.randn(32, 4), epochs=1, verbose=0)
    for name in ["quantization_loss", "commitment_loss", "perplexity", "usage"]:
        name = f"quantizer_{name}"
        assert name in history.history, sorted(history.history)
    assert 1.0 <= history.history["quantizer_perplexity"][0] <= 6.0


def test_return_codes_in_a_functional_model_gives_both_outputs():
    """`return_codes=True` inside a functional model yields (quantized, codes) with one code per vector."""
    inputs = keras.Input((4,))
    quantized, codes = VectorQuantization(num_codes=8, vector_dim=2)(inputs, return_codes=True)
    model = keras.Model(inputs, [quantized, codes])
    assert tuple(codes.shape) == (None, 2)
    out_quantized, out_codes = model(np.zeros((3, 4), "float32"))
    assert tuple(out_codes.shape) == (3, 2) and tuple(out_quantized.shape) == (3, 4)
    assert keras.backend.standardize_dtype(out_codes.dtype) == "int32"
