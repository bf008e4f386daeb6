"""Tests of `keras_latentquant.models.encoders` and the InstanceNormalization layer its "paper" encoder uses.

The expected parameter counts are worked out by hand from the reference implementation's architectures
(paper.md section 3).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_latentquant.models.encoders import build_encoder
from keras_latentquant.models.layers_internal import InstanceNormalization

# A tiny "fast" encoder (two stride-2 stages on 16x16 images) for the behavioural tests that build or
# train several models, so the file stays fast on two CPU cores.
TINY = dict(image_shape=(16, 16, 3), latent_dim=4, architecture="fast", widths=(8, 16))


def _random_images(batch, image_shape, seed=0):
    return np.random.default_rng(seed).uniform(size=(batch,) + tuple(image_shape)).astype("float32")


def _numpy_instance_norm(x, gamma, beta, epsilon=1e-6):
    mean = x.mean(axis=(1, 2), keepdims=True)
    variance = x.var(axis=(1, 2), keepdims=True)
    return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ---------------------------------------------------------------------------------------------------
# InstanceNormalization


def test_instance_norm_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(loc=3.0, scale=2.0, size=(2, 5, 7, 3)).astype("float32")
    layer = InstanceNormalization()
    layer.build(x.shape)
    gamma = np.array([0.5, 2.0, -1.0], "float32")
    beta = np.array([0.1, -0.2, 0.3], "float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    outputs = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(outputs, _numpy_instance_norm(x, gamma, beta), rtol=1e-4, atol=1e-4)


def test_instance_norm_epsilon_is_the_references_by_default():
    # A slice of variance 1e-6: with the reference's epsilon 1e-6 it is scaled by 1/sqrt(2e-6); PyTorch's
    # 1e-5 would give 1/sqrt(1.1e-5), 2.3x smaller.
    x = np.zeros((1, 2, 2, 1), "float32")
    x[0, :, :, 0] = [[1e-3, -1e-3], [1e-3, -1e-3]]
    layer = InstanceNormalization(center=False, scale=False)
    assert layer.epsilon == 1e-6
    outputs = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(outputs[0, :, :, 0], x[0, :, :, 0] / np.sqrt(1e-6 + 1e-6), rtol=1e-4)


def test_instance_norm_without_affine_gives_zero_mean_unit_variance():
    x = np.random.default_rng(2).normal(5.0, 3.0, size=(4, 8, 8, 6)).astype("float32")
    layer = InstanceNormalization(center=False, scale=False)
    outputs = keras.ops.convert_to_numpy(layer(x))
    assert layer.trainable_weights == []
    # Every (sample, channel) slice is standardised over the spatial axes.
    np.testing.assert_allclose(outputs.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(outputs.var(axis=(1, 2)), 1.0, atol=1e-3)


def test_instance_norm_weights_are_named_gamma_and_beta():
    layer = InstanceNormalization(name="norm")
    layer.build((None, 4, 4, 5))
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == [("gamma", (5,)), ("beta", (5,))]
    assert layer.compute_output_shape((None, 4, 4, 5)) == (None, 4, 4, 5)


def test_instance_norm_config_round_trip():
    layer = InstanceNormalization(epsilon=1e-3, center=False, scale=True, name="norm")
    config = layer.get_config()
    assert (config["epsilon"], config["center"], config["scale"]) == (1e-3, False, True)
    clone = InstanceNormalization.from_config(config)
    assert (clone.epsilon, clone.center, clone.scale) == (1e-3, False, True)


@pytest.mark.parametrize("epsilon", [0.0, -1.0, "small"])
def test_instance_norm_rejects_bad_epsilon(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        InstanceNormalization(epsilon=epsilon)


def test_instance_norm_rejects_non_image_input():
    with pytest.raises(ValueError, match="4-D"):
        InstanceNormalization()(np.zeros((2, 3), "float32"))


def test_instance_norm_statistics_in_float32_under_mixed_precision(mixed_precision):
    # Values near 300: their squares (9e4) overflow float16 (max 65504), float32 statistics do not.
    x = np.random.default_rng(3).normal(300.0, 20.0, size=(2, 8, 8, 4)).astype("float16")
    layer = InstanceNormalization()
    outputs = layer(x)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert keras.backend.standardize_dtype(layer.gamma.dtype) == "float32"
    expected = _numpy_instance_norm(x.astype("float32"), 1.0, 0.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs), expected, atol=2e-2)


# ---------------------------------------------------------------------------------------------------
# build_encoder: shapes and structure


@pytest.mark.parametrize("architecture", ["paper", "paper_small", "fast"])
@pytest.mark.parametrize("latent_dim, channels", [(1, 1), (10, 3), (12, 1)])
def test_encoder_output_shape_and_dtype(architecture, latent_dim, channels):
    encoder = build_encoder((64, 64, channels), latent_dim=latent_dim, architecture=architecture)
    outputs = encoder(_random_images(2, (64, 64, channels)))
    assert tuple(outputs.shape) == (2, latent_dim)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"


def test_encoder_output_dim_overrides_head_width():
    encoder = build_encoder((64, 64, 1), latent_dim=6, architecture="fast", output_dim=12)
    assert tuple(encoder.output.shape) == (None, 12)
    assert encoder.get_layer("head").units == 12


def test_paper_encoder_conv_stack_follows_paper():
    encoder = build_encoder((64, 64, 1), latent_dim=10, architecture="paper")
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [32, 32, 32, 64, 64, 64, 128, 128, 128, 256, 256, 256]
    assert [conv.kernel_size[0] for conv in convs] == [3, 3, 4] * 4
    assert [conv.strides[0] for conv in convs] == [1, 1, 2] * 4
    # Padding 1: k3 s1 keeps the size, k4 s2 halves it: 64 -> 32 -> 16 -> 8 -> 4.
    assert [conv.output.shape[1] for conv in convs] == [64, 64, 32, 32, 32, 16, 16, 16, 8, 8, 8, 4]
    norms = [layer for layer in encoder.layers if isinstance(layer, InstanceNormalization)]
    assert len(norms) == 12 and all(norm.center and norm.scale for norm in norms)
    leaky = [layer for layer in encoder.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert len(leaky) == 12 and all(layer.negative_slope == pytest.approx(0.2) for layer in leaky)
    dense = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Dense)]
    assert [(layer.units, layer.activation.__name__) for layer in dense] == [
        (256, "relu"),
        (256, "relu"),
        (10, "linear"),
    ]


def test_fast_encoder_conv_stack():
    encoder = build_encoder((64, 64, 1), latent_dim=10, architecture="fast")
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [32, 64, 128, 256]
    assert all(conv.kernel_size == (4, 4) and conv.strides == (2, 2) for conv in convs)
    assert [conv.output.shape[1] for conv in convs] == [32, 16, 8, 4]
    # The reference's inductive bias: instance norm with affine after every conv, then leaky ReLU.
    norms = [layer for layer in encoder.layers if isinstance(layer, InstanceNormalization)]
    assert len(norms) == 4 and all(norm.center and norm.scale and norm.epsilon == 1e-6 for norm in norms)
    dense = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [256, 10]
    paper_widths = build_encoder((64, 64, 1), architecture="fast", widths=(64, 128, 256, 512))
    assert [layer.filters for layer in paper_widths.layers if isinstance(layer, keras.layers.Conv2D)] == [
        64,
        128,
        256,
        512,
    ]


def test_paper_small_encoder_follows_the_reference_image_small():
    # Reference configs/encoder_partial/image_small.yaml: widths 64, 128, 256, 512, kernel 4, stride 2,
    # padding 1, instance norm, leaky ReLU; dense 512.
    encoder = build_encoder((64, 64, 1), latent_dim=10, architecture="paper_small")
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [64, 128, 256, 512]
    assert all(conv.kernel_size == (4, 4) and conv.strides == (2, 2) and not conv.use_bias for conv in convs)
    assert len([layer for layer in encoder.layers if isinstance(layer, InstanceNormalization)]) == 4
    dense = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Dense)]
    assert [(layer.units, layer.activation.__name__) for layer in dense] == [(512, "relu"), (10, "linear")]


def test_encoder_parameter_counts_worked_out_by_hand():
    # "paper": bias-free convs (k * k * c_in * c_out), instance-norm gamma and beta (2 * c_out), then
    # flatten 4 * 4 * 256 = 4096 -> dense 256 -> dense 256 -> head 10.
    widths = [32, 32, 32, 64, 64, 64, 128, 128, 128, 256, 256, 256]
    kernels = [3, 3, 4] * 4
    inputs = [1] + widths[:-1]
    convs = sum(k * k * c_in * c_out + 2 * c_out for k, c_in, c_out in zip(kernels, inputs, widths))
    dense = (4096 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    assert convs + dense == 3_683_434
    assert build_encoder((64, 64, 1), 10, "paper").count_params() == 3_683_434
    # "paper_small": bias-free k4 convs 1 -> 64 -> 128 -> 256 -> 512 with instance norm, flatten
    # 4 * 4 * 512 = 8192 -> dense 512 -> head 10.
    pairs = [(1, 64), (64, 128), (128, 256), (256, 512)]
    convs = sum(16 * c_in * c_out + 2 * c_out for c_in, c_out in pairs)
    dense = (8192 * 512 + 512) + (512 * 10 + 10)
    assert convs + dense == 6_955_402
    assert build_encoder((64, 64, 1), 10, "paper_small").count_params() == 6_955_402
    # "fast": the same blocks, 1 -> 32 -> 64 -> 128 -> 256, flatten 4096 -> dense 256 -> head 10.
    convs = sum(16 * c_in * c_out + 2 * c_out for c_in, c_out in [(1, 32), (32, 64), (64, 128), (128, 256)])
    dense = (4096 * 256 + 256) + (256 * 10 + 10)
    assert convs + dense == 1_741_002
    assert build_encoder((64, 64, 1), 10, "fast").count_params() == 1_741_002


@pytest.mark.parametrize("architecture", ["paper", "paper_small", "fast"])
def test_encoder_variable_names_separate_weights_from_biases(architecture):
    encoder = build_encoder((64, 64, 1), architecture=architecture)
    names = {variable.name for variable in encoder.trainable_variables}
    assert names == {"kernel", "bias", "gamma", "beta"}
    # Convs carry no bias, as in the reference (the instance norm after each would cancel it).
    assert all(not layer.use_bias for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D))


@pytest.mark.parametrize("architecture", ["paper", "fast"])
def test_encoder_initialisation_is_the_references_fan_in_uniform(architecture):
    # Every kernel and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = inputs of one output unit;
    # instance norms start at gamma = 1, beta = 0.
    keras.utils.set_random_seed(3)
    encoder = build_encoder((64, 64, 1), latent_dim=10, architecture=architecture)
    checked = 0
    for layer in encoder.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            fan_in = int(np.prod(kernel.shape[:-1]))  # (kh, kw, c_in) or (units_in,)
            limit = 1.0 / np.sqrt(fan_in)
            weights = [kernel] + ([keras.ops.convert_to_numpy(layer.bias)] if layer.use_bias else [])
            for values in weights:
                assert np.all(np.abs(values) <= limit * (1 + 1e-6)), layer.name  # float32 rounding of the limit
                if values.size >= 200:  # a uniform on [-l, l] has standard deviation l / sqrt(3)
                    assert np.std(values) == pytest.approx(limit / np.sqrt(3), rel=0.15), layer.name
            if layer.use_bias:
                assert np.any(keras.ops.convert_to_numpy(layer.bias) != 0), layer.name
            checked += 1
        if isinstance(layer, InstanceNormalization):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.gamma), 1.0)
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.beta), 0.0)
    assert checked == (12 if architecture == "paper" else 4) + (3 if architecture == "paper" else 2)


def test_encoder_generalises_to_other_image_sizes():
    encoder = build_encoder((32, 48, 3), latent_dim=5, architecture="paper", widths=(8, 8, 16, 16))
    assert tuple(encoder(_random_images(2, (32, 48, 3))).shape) == (2, 5)
    assert tuple(build_encoder(**TINY)(_random_images(1, (16, 16, 3))).shape) == (1, 4)


# ---------------------------------------------------------------------------------------------------
# build_encoder: behaviour


@pytest.mark.parametrize(
    "architecture, widths", [("paper", (4, 8)), ("fast", (8, 16))], ids=["paper", "fast"]
)
def test_every_encoder_weight_receives_a_gradient(architecture, widths):
    encoder = build_encoder((16, 16, 3), latent_dim=4, architecture=architecture, widths=widths)
    images = tf.constant(_random_images(4, (16, 16, 3)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(encoder(images, training=True) - 1.0))
    gradients = tape.gradient(loss, encoder.trainable_variables)
    for variable, gradient in zip(encoder.trainable_variables, gradients):
        assert gradient is not None, variable.path
        assert np.any(np.abs(gradient.numpy()) > 0), variable.path


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(image_shape=(32, 32, 3), latent_dim=7, architecture="paper", widths=(4, 8), output_dim=14),
        dict(image_shape=(16, 16, 2), latent_dim=3, architecture="fast", widths=(8, 16, 8)),
    ],
    ids=["paper", "fast"],
)
def test_encoder_keras_save_load_round_trip(tmp_path, kwargs):
    encoder = build_encoder(name="custom_encoder", **kwargs)
    images = _random_images(3, kwargs["image_shape"], seed=4)
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    reloaded = keras.models.load_model(path)
    assert reloaded.name == "custom_encoder"
    np.testing.assert_allclose(reloaded(images), encoder(images), rtol=1e-6, atol=1e-6)
    for original, restored in zip(encoder.weights, reloaded.weights):
        assert original.path == restored.path
        np.testing.assert_array_equal(original.numpy(), restored.numpy())


def test_encoder_savedmodel_export_round_trip(tmp_path):
    encoder = build_encoder(**TINY)
    images = _random_images(2, TINY["image_shape"], seed=5)
    path = str(tmp_path / "encoder_export")
    encoder.export(path, verbose=False)
    restored = tf.saved_model.load(path)
    np.testing.assert_allclose(restored.serve(images), encoder(images), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "architecture, widths", [("paper", (4, 8)), ("fast", (8, 16))], ids=["paper", "fast"]
)
def test_encoder_jit_compile_matches_eager(architecture, widths):
    encoder = build_encoder((16, 16, 1), latent_dim=3, architecture=architecture, widths=widths)
    images = _random_images(4, (16, 16, 1), seed=6)
    compiled = tf.function(lambda x: encoder(x, training=False), jit_compile=True)
    np.testing.assert_allclose(compiled(images), encoder(images), rtol=1e-4, atol=1e-5)


def test_encoder_mixed_precision_keeps_float32_output(mixed_precision):
    encoder = build_encoder((16, 16, 1), latent_dim=3, architecture="paper", widths=(4, 8))
    outputs = encoder(_random_images(2, (16, 16, 1)))
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    assert encoder.get_layer("stage1_block1_conv").compute_dtype == "float16"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))


# ---------------------------------------------------------------------------------------------------
# build_encoder: argument validation


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(architecture="resnet"), "architecture"),
        (dict(latent_dim=0), "latent_dim"),
        (dict(latent_dim=2.5), "latent_dim"),
        (dict(latent_dim=True), "latent_dim"),
        (dict(output_dim=0), "output_dim"),
        (dict(image_shape=(64, 64)), "image_shape"),
        (dict(image_shape=(60, 64, 1)), "image_shape"),
        (dict(image_shape=(64, 64, 0)), "image_shape"),
        (dict(image_shape="64x64"), "image_shape"),
        (dict(widths=()), "widths"),
        (dict(widths=(32, -1)), "widths"),
    ],
)
def test_encoder_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        build_encoder(**kwargs)


def test_unknown_architecture_error_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'paper', 'paper_small', 'fast'"):
        build_encoder(architecture="Paper")


def test_retired_small_architecture_names_its_replacements():
    with pytest.raises(ValueError, match="retired.*'fast'.*'paper_small'"):
        build_encoder(architecture="small")


def test_images_too_small_for_the_stages_are_refused():
    # 16 pixels through four halvings leave 1x1 maps, which instance normalisation turns into its bias.
    with pytest.raises(ValueError, match="last stage's feature maps would be 1x1") as raised:
        build_encoder((16, 16, 1), latent_dim=2, architecture="fast")
    assert "at least 32 pixels a side" in str(raised.value) and "fewer stages" in str(raised.value)
    assert build_encoder((16, 16, 1), latent_dim=2, architecture="fast", widths=(8, 8, 8)).output_shape == (None, 2)
