"""Tests of `keras_latentquant.models.decoders` and the StyleModulation and LearnedConstant layers it uses.

The expected parameter counts are worked out by hand from the reference implementation's architectures
(paper.md section 3); the style block's value is checked against a NumPy transcription of its formula.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.models.decoders import STYLE_HIDDEN_UNITS, build_decoder
from keras_latentquant.models.layers_internal import LearnedConstant, StyleModulation

# A tiny "fast" decoder (two stride-2 stages to 16x16 images) for the behavioural tests that build or
# train several models, so the file stays fast on two CPU cores.
TINY = dict(latent_dim=4, image_shape=(16, 16, 3), architecture="fast", widths=(16, 8))


def _random_latents(batch, latent_dim, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, latent_dim)).astype("float32")


def _numpy_style_modulation(x, style, kernel, bias, epsilon=1e-6):
    # The reference's style block after its transposed conv and leaky ReLU: IN(x) * s + b with
    # [s, b] = ReLU(w @ kernel + bias), both non-negative, no "1 +".
    mean = x.mean(axis=(1, 2), keepdims=True)
    variance = x.var(axis=(1, 2), keepdims=True)
    normalized = (x - mean) / np.sqrt(variance + epsilon)
    modulation = np.maximum(style @ kernel + bias, 0.0)
    channels = x.shape[-1]
    scale = modulation[:, None, None, :channels]
    shift = modulation[:, None, None, channels:]
    return normalized * scale + shift


def _leaky_relu(x, slope=0.2):
    return np.where(x >= 0, x, slope * x)


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ---------------------------------------------------------------------------------------------------
# StyleModulation


def test_style_modulation_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=(3, 5, 6, 4)).astype("float32")
    style = rng.normal(size=(3, 7)).astype("float32")
    layer = StyleModulation()
    layer.build([x.shape, style.shape])
    kernel = rng.normal(scale=0.3, size=(7, 8)).astype("float32")
    bias = rng.normal(scale=0.3, size=(8,)).astype("float32")
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    outputs = keras.ops.convert_to_numpy(layer([x, style]))
    expected = _numpy_style_modulation(x, style, kernel, bias)
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-4)
    # Some projections are negative here, so the ReLU acts: the signed formula would differ.
    assert np.any(style @ kernel + bias < 0)


def test_style_modulation_scale_and_bias_are_non_negative_and_split_scale_first():
    # With a projection of scale -1 (ReLU -> 0) and bias 2 per channel, every output is exactly 2: the
    # normalised map is multiplied by 0, the first half of the projection being the scales.
    x = np.random.default_rng(2).normal(4.0, 2.0, size=(2, 8, 8, 3)).astype("float32")
    style = np.ones((2, 1), "float32")
    layer = StyleModulation(
        kernel_initializer=keras.initializers.Constant([[-1.0] * 3 + [2.0] * 3]), bias_initializer="zeros"
    )
    outputs = keras.ops.convert_to_numpy(layer([x, style]))
    np.testing.assert_allclose(outputs, 2.0)
    # Scale 1, bias 0 leaves plain instance normalisation (no "1 +": a unit projection, not zero).
    layer = StyleModulation(
        kernel_initializer=keras.initializers.Constant([[1.0] * 3 + [0.0] * 3]), bias_initializer="zeros"
    )
    outputs = keras.ops.convert_to_numpy(layer([x, style]))
    np.testing.assert_allclose(outputs.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(outputs.var(axis=(1, 2)), 1.0, atol=1e-3)


def test_style_modulation_initialisation_is_fan_in_uniform():
    keras.utils.set_random_seed(0)
    layer = StyleModulation()
    layer.build([(None, 4, 4, 64), (None, 256)])
    limit = 1.0 / np.sqrt(256)
    for weight in (layer.kernel, layer.bias):
        values = keras.ops.convert_to_numpy(weight)
        assert np.all(np.abs(values) <= limit * (1 + 1e-6))
        assert np.std(values) == pytest.approx(limit / np.sqrt(3), rel=0.15)


def test_style_modulation_weights_shapes_and_config():
    layer = StyleModulation(epsilon=1e-3, kernel_initializer="ones", name="style")
    layer.build([(None, 4, 4, 6), (None, 9)])
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == [("kernel", (9, 12)), ("bias", (12,))]
    assert layer.compute_output_shape([(None, 4, 4, 6), (None, 9)]) == (None, 4, 4, 6)
    clone = StyleModulation.from_config(layer.get_config())
    assert clone.epsilon == 1e-3
    assert isinstance(clone.kernel_initializer, keras.initializers.Ones)
    assert clone.bias_initializer is None
    assert StyleModulation().epsilon == 1e-6


@pytest.mark.parametrize(
    "inputs, message",
    [
        ([np.zeros((2, 4, 4, 3)), np.zeros((2, 5, 1))], "style"),
        ([np.zeros((2, 4, 3)), np.zeros((2, 5))], "4-D"),
    ],
    ids=["style-rank", "feature-rank"],
)
def test_style_modulation_rejects_bad_input_shapes(inputs, message):
    with pytest.raises(ValueError, match=message):
        StyleModulation()([np.asarray(t, "float32") for t in inputs])


def test_style_modulation_in_float32_under_mixed_precision(mixed_precision):
    # Feature values near 300: their squares overflow float16, the float32 statistics do not.
    rng = np.random.default_rng(4)
    x = rng.normal(300.0, 20.0, size=(2, 8, 8, 4)).astype("float16")
    style = rng.normal(size=(2, 6)).astype("float16")
    layer = StyleModulation()
    outputs = layer([x, style])
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"
    expected = _numpy_style_modulation(
        x.astype("float32"), style.astype("float32"), layer.kernel.numpy(), layer.bias.numpy()
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs), expected, rtol=1e-2, atol=5e-2)


# ---------------------------------------------------------------------------------------------------
# LearnedConstant


def test_learned_constant_broadcasts_to_batch_size():
    layer = LearnedConstant((2, 3, 4), name="learned_constant")
    outputs = keras.ops.convert_to_numpy(layer(np.zeros((5, 7), "float32")))
    assert outputs.shape == (5, 2, 3, 4)
    assert [(w.name, tuple(w.shape), w.trainable) for w in layer.weights] == [
        ("constant", (2, 3, 4), True)
    ]
    for sample in outputs:
        np.testing.assert_array_equal(sample, layer.constant.numpy())
    assert layer.compute_output_shape((None, 7)) == (None, 2, 3, 4)


def test_learned_constant_batch_size_is_dynamic_under_tf_function():
    layer = LearnedConstant((2, 2, 1))
    spec = tf.TensorSpec((None, 3), tf.float32)
    broadcast = tf.function(lambda z: layer(z), input_signature=[spec])
    assert tuple(broadcast(tf.zeros((1, 3))).shape) == (1, 2, 2, 1)
    assert tuple(broadcast(tf.zeros((6, 3))).shape) == (6, 2, 2, 1)


def test_learned_constant_starts_at_the_references_0_1():
    layer = LearnedConstant((2, 3, 4))
    outputs = keras.ops.convert_to_numpy(layer(np.zeros((2, 1), "float32")))
    np.testing.assert_array_equal(outputs, np.full((2, 2, 3, 4), 0.1, "float32"))


def test_learned_constant_config_round_trip():
    layer = LearnedConstant((4, 4, 2), initializer="ones")
    clone = LearnedConstant.from_config(layer.get_config())
    assert clone.constant_shape == (4, 4, 2)
    assert isinstance(clone.initializer, keras.initializers.Ones)


@pytest.mark.parametrize("shape", [(), (4, 0, 2), "4x4", None])
def test_learned_constant_rejects_bad_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        LearnedConstant(shape)


# ---------------------------------------------------------------------------------------------------
# build_decoder: shapes and structure


@pytest.mark.parametrize("architecture", ["paper", "paper_small", "fast"])
@pytest.mark.parametrize("latent_dim, channels", [(1, 1), (10, 3), (12, 1)])
def test_decoder_output_shape_and_dtype(architecture, latent_dim, channels):
    decoder = build_decoder(latent_dim, (64, 64, channels), architecture=architecture)
    logits = decoder(_random_latents(2, latent_dim))
    assert tuple(logits.shape) == (2, 64, 64, channels)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


def test_paper_decoder_follows_paper():
    decoder = build_decoder(10, (64, 64, 1), architecture="paper")
    assert tuple(decoder.get_layer("learned_constant").constant.shape) == (4, 4, 256)
    style = [layer for layer in decoder.layers if layer.name.startswith("style_dense")]
    assert [(layer.units, layer.activation.__name__) for layer in style] == [(256, "relu"), (256, "relu")]
    convs = [layer for layer in decoder.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [conv.filters for conv in convs] == [256, 256, 256, 128, 128, 128, 64, 64, 64, 32, 32, 32]
    assert [conv.kernel_size[0] for conv in convs] == [3, 3, 4] * 4
    assert [conv.strides[0] for conv in convs] == [1, 1, 2] * 4
    # k3 s1 "same" keeps the size, k4 s2 "same" doubles it exactly: 4 -> 8 -> 16 -> 32 -> 64.
    assert [conv.output.shape[1] for conv in convs] == [4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64]
    styles = [layer for layer in decoder.layers if isinstance(layer, StyleModulation)]
    assert len(styles) == 12 and all(layer.epsilon == 1e-6 for layer in styles)
    leaky = [layer for layer in decoder.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert len(leaky) == 12 and all(layer.negative_slope == pytest.approx(0.2) for layer in leaky)
    # The reference's block order: transposed conv -> leaky ReLU -> style modulation, nothing after it.
    for index, conv in enumerate(convs):
        stage, block = divmod(index, 3)
        prefix = f"stage{stage + 1}_block{block + 1}"
        assert conv.name == f"{prefix}_conv_transpose"
        relu = decoder.get_layer(f"{prefix}_leaky_relu")
        style = decoder.get_layer(f"{prefix}_style")
        assert relu.input is conv.output and style.input[0] is relu.output
    logits = decoder.get_layer("logits")
    assert logits.kernel_size == (3, 3) and logits.activation.__name__ == "linear" and not logits.use_bias
    assert logits.input is styles[-1].output


def test_fast_decoder_structure():
    decoder = build_decoder(10, (64, 64, 1), architecture="fast")
    assert tuple(decoder.get_layer("learned_constant").constant.shape) == (4, 4, 128)
    convs = [layer for layer in decoder.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [conv.filters for conv in convs] == [128, 64, 32, 16]
    assert all(conv.kernel_size == (4, 4) and conv.strides == (2, 2) for conv in convs)
    assert [conv.output.shape[1] for conv in convs] == [8, 16, 32, 64]
    assert len([layer for layer in decoder.layers if isinstance(layer, StyleModulation)]) == 4


def test_paper_small_decoder_follows_the_reference_style_image_small():
    # Reference configs/decoder_partial/style_image_small.yaml: style MLP dense 512; input 512 channels;
    # transposed convs 512, 256, 128, 64 with kernel 4, stride 2, padding 1; 3x3 logits conv.
    decoder = build_decoder(10, (64, 64, 1), architecture="paper_small")
    assert tuple(decoder.get_layer("learned_constant").constant.shape) == (4, 4, 512)
    style = [layer for layer in decoder.layers if layer.name.startswith("style_dense")]
    assert [layer.units for layer in style] == [512]
    convs = [layer for layer in decoder.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [conv.filters for conv in convs] == [512, 256, 128, 64]
    assert [conv.output.shape[1] for conv in convs] == [8, 16, 32, 64]


def test_decoder_parameter_counts_worked_out_by_hand():
    # "paper": style MLP 10 -> 256 -> 256; constant 4 * 4 * 256; bias-free transposed convs
    # (k * k * c_in * c_out); one style projection per conv (256 * 2 * c_out + 2 * c_out); a bias-free 3x3
    # logits conv 32 -> 1.
    widths = [256, 256, 256, 128, 128, 128, 64, 64, 64, 32, 32, 32]
    kernels = [3, 3, 4] * 4
    inputs = [256] + widths[:-1]
    convs = sum(k * k * c_in * c_out for k, c_in, c_out in zip(kernels, inputs, widths))
    styles = sum(256 * 2 * c_out + 2 * c_out for c_out in widths)
    other = (10 * 256 + 256) + (256 * 256 + 256) + 4 * 4 * 256 + 9 * 32 * 1
    assert convs + styles + other == 3_966_048
    assert build_decoder(10, (64, 64, 1), "paper").count_params() == 3_966_048
    # "paper_small": style MLP 10 -> 512; constant 4 * 4 * 512; k4 transposed convs 512 -> 512 -> 256 ->
    # 128 -> 64; style projections from 512; logits 64 -> 1. With the encoder's 6,955,402 that is the
    # reference's 14.9 million parameters.
    pairs = [(512, 512), (512, 256), (256, 128), (128, 64)]
    convs = sum(16 * c_in * c_out for c_in, c_out in pairs)
    styles = sum(512 * 2 * c_out + 2 * c_out for _, c_out in pairs)
    other = (10 * 512 + 512) + 4 * 4 * 512 + 9 * 64 * 1
    assert convs + styles + other == 7_946_176
    assert build_decoder(10, (64, 64, 1), "paper_small").count_params() == 7_946_176
    # "fast": style MLP 10 -> 256; constant 4 * 4 * 128; k4 transposed convs 128 -> 128 -> 64 -> 32 -> 16.
    pairs = [(128, 128), (128, 64), (64, 32), (32, 16)]
    convs = sum(16 * c_in * c_out for c_in, c_out in pairs)
    styles = sum(256 * 2 * c_out + 2 * c_out for _, c_out in pairs)
    other = (10 * 256 + 256) + 4 * 4 * 128 + 9 * 16 * 1
    assert convs + styles + other == 562_544
    assert build_decoder(10, (64, 64, 1), "fast").count_params() == 562_544


@pytest.mark.parametrize("architecture", ["paper", "fast"])
def test_decoder_initialisation_is_the_references_fan_in_uniform(architecture):
    # Every kernel and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); a transposed conv's fan-in is its input
    # channels x kernel area (equinox's ConvTranspose); the learned constant starts at 0.1.
    keras.utils.set_random_seed(5)
    decoder = build_decoder(10, (64, 64, 1), architecture=architecture)
    checked = 0
    for layer in decoder.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            kernel = keras.ops.convert_to_numpy(layer.kernel)  # (kh, kw, out, in)
            fan_in = kernel.shape[0] * kernel.shape[1] * kernel.shape[3]
            weights = [kernel]
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            fan_in = int(np.prod(kernel.shape[:-1]))
            weights = [kernel] + ([keras.ops.convert_to_numpy(layer.bias)] if layer.use_bias else [])
        elif isinstance(layer, StyleModulation):
            fan_in = layer.kernel.shape[0]
            weights = [keras.ops.convert_to_numpy(layer.kernel), keras.ops.convert_to_numpy(layer.bias)]
        else:
            continue
        limit = 1.0 / np.sqrt(fan_in)
        for values in weights:
            assert np.all(np.abs(values) <= limit * (1 + 1e-6)), layer.name  # float32 rounding of the limit
            if values.size >= 200:
                assert np.std(values) == pytest.approx(limit / np.sqrt(3), rel=0.15), layer.name
        checked += 1
    convs = 12 if architecture == "paper" else 4
    assert checked == 2 * convs + len(STYLE_HIDDEN_UNITS[architecture]) + 1
    constant = keras.ops.convert_to_numpy(decoder.get_layer("learned_constant").constant)
    np.testing.assert_array_equal(constant, np.float32(0.1))


@pytest.mark.parametrize("architecture", ["paper", "paper_small", "fast"])
def test_decoder_variable_names_separate_weights_from_biases(architecture):
    decoder = build_decoder(architecture=architecture)
    names = {variable.name for variable in decoder.trainable_variables}
    assert names == {"kernel", "bias", "constant"}
    assert all(
        not layer.use_bias
        for layer in decoder.layers
        if isinstance(layer, keras.layers.Conv2DTranspose)
    )


def test_decoder_generalises_to_other_image_sizes():
    decoder = build_decoder(5, (32, 48, 3), architecture="paper", widths=(16, 8, 8, 4))
    assert tuple(decoder.get_layer("learned_constant").constant.shape) == (2, 3, 16)
    assert tuple(decoder(_random_latents(2, 5)).shape) == (2, 32, 48, 3)


# ---------------------------------------------------------------------------------------------------
# build_decoder: behaviour


@pytest.mark.parametrize(
    "architecture, widths", [("paper", (8, 4)), ("fast", (16, 8))], ids=["paper", "fast"]
)
def test_every_decoder_weight_receives_a_gradient(architecture, widths):
    decoder = build_decoder(4, (16, 16, 3), architecture=architecture, widths=widths)
    latents = tf.constant(_random_latents(4, 4))
    targets = tf.constant(np.random.default_rng(1).uniform(size=(4, 16, 16, 3)), tf.float32)
    with tf.GradientTape() as tape:
        logits = decoder(latents, training=True)
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(targets, logits))
    gradients = tape.gradient(loss, decoder.trainable_variables)
    for variable, gradient in zip(decoder.trainable_variables, gradients):
        assert gradient is not None, variable.path
        assert np.any(np.abs(gradient.numpy()) > 0), variable.path
    constant = decoder.get_layer("learned_constant").constant
    assert constant.trainable and any(v is constant for v in decoder.trainable_variables)


@pytest.mark.parametrize("architecture", ["paper", "paper_small", "fast"])
def test_changing_the_latent_changes_the_image(architecture):
    # The latent reaches the image only through the style modulations.
    decoder = build_decoder(6, (64, 64, 1), architecture=architecture)
    latents = _random_latents(2, 6, seed=2)
    latents[1] = latents[0]
    latents[1, 3] += 1.0
    logits = keras.ops.convert_to_numpy(decoder(latents))
    assert np.max(np.abs(logits[0] - logits[1])) > 1e-3
    # The same latent twice gives the same image: the constant input is shared across the batch.
    repeated = keras.ops.convert_to_numpy(decoder(np.stack([latents[0], latents[0]])))
    np.testing.assert_allclose(repeated[0], repeated[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(latent_dim=7, image_shape=(32, 32, 3), architecture="paper", widths=(8, 4)),
        dict(latent_dim=3, image_shape=(16, 16, 2), architecture="fast", widths=(16, 8, 8)),
    ],
    ids=["paper", "fast"],
)
def test_decoder_keras_save_load_round_trip(tmp_path, kwargs):
    decoder = build_decoder(name="custom_decoder", **kwargs)
    latents = _random_latents(3, kwargs["latent_dim"], seed=3)
    path = str(tmp_path / "decoder.keras")
    decoder.save(path)
    reloaded = keras.models.load_model(path)
    assert reloaded.name == "custom_decoder"
    np.testing.assert_allclose(reloaded(latents), decoder(latents), rtol=1e-6, atol=1e-6)
    for original, restored in zip(decoder.weights, reloaded.weights):
        assert original.path == restored.path
        np.testing.assert_array_equal(original.numpy(), restored.numpy())


def test_decoder_savedmodel_export_round_trip(tmp_path):
    decoder = build_decoder(**TINY)
    latents = _random_latents(2, TINY["latent_dim"], seed=4)
    path = str(tmp_path / "decoder_export")
    decoder.export(path, verbose=False)
    restored = tf.saved_model.load(path)
    np.testing.assert_allclose(restored.serve(latents), decoder(latents), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "architecture, widths", [("paper", (8, 4)), ("fast", (16, 8))], ids=["paper", "fast"]
)
def test_decoder_jit_compile_matches_eager(architecture, widths):
    decoder = build_decoder(3, (16, 16, 1), architecture=architecture, widths=widths)
    latents = _random_latents(4, 3, seed=5)
    compiled = tf.function(lambda z: decoder(z, training=False), jit_compile=True)
    np.testing.assert_allclose(compiled(latents), decoder(latents), rtol=1e-4, atol=1e-4)


def test_decoder_mixed_precision_keeps_float32_logits(mixed_precision):
    decoder = build_decoder(3, (16, 16, 1), architecture="paper", widths=(8, 4))
    logits = decoder(_random_latents(2, 3))
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert decoder.get_layer("stage1_block1_conv_transpose").compute_dtype == "float16"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(logits)))


def test_decoder_trains_under_mirrored_strategy():
    assert len(tf.config.list_logical_devices("CPU")) >= 2, "tests/conftest.py should have made 2 logical CPUs"
    from tests.conftest import shared_mirrored_strategy

    strategy = shared_mirrored_strategy()
    with strategy.scope():
        decoder = build_decoder(**TINY)
        decoder.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
        )
    assert isinstance(
        decoder.get_layer("learned_constant").constant.value, tf.distribute.DistributedValues
    )
    latents = _random_latents(8, TINY["latent_dim"], seed=6)
    targets = (np.random.default_rng(6).uniform(size=(8, 16, 16, 3)) > 0.5).astype("float32")
    history = decoder.fit(latents, targets, batch_size=8, epochs=5, verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_fast_decoder_fits_a_fixed_batch():
    # 30 Adam steps fitting 8 random binary images from 8 fixed latents lower the BCE clearly.
    keras.utils.set_random_seed(7)
    decoder = build_decoder(latent_dim=10, image_shape=(64, 64, 1), architecture="fast")
    latents = tf.constant(_random_latents(8, 10, seed=7))
    targets = tf.constant(
        (np.random.default_rng(7).uniform(size=(8, 64, 64, 1)) > 0.5).astype("float32")
    )
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            logits = decoder(latents, training=True)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(targets, logits))
        gradients = tape.gradient(loss, decoder.trainable_variables)
        optimizer.apply(gradients, decoder.trainable_variables)
        return loss

    losses = [float(train_step()) for _ in range(30)]
    assert losses[-1] < 0.8 * losses[0], losses


# ---------------------------------------------------------------------------------------------------
# build_decoder: argument validation


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(architecture="dcgan"), "architecture"),
        (dict(latent_dim=0), "latent_dim"),
        (dict(latent_dim="10"), "latent_dim"),
        (dict(image_shape=(64, 64)), "image_shape"),
        (dict(image_shape=(64, 40, 1)), "image_shape"),
        (dict(image_shape=(64, 64, -3)), "image_shape"),
        (dict(widths=[]), "widths"),
        (dict(widths=(32, 0)), "widths"),
        (dict(architecture="fast", widths=(8, 8, 8, 8, 8), image_shape=(64, 48, 1)), "image_shape"),
    ],
)
def test_decoder_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        build_decoder(**kwargs)


def test_unknown_decoder_architecture_error_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'paper', 'paper_small', 'fast'"):
        build_decoder(architecture="stylegan")
    with pytest.raises(ValueError, match="retired"):
        build_decoder(architecture="small")
