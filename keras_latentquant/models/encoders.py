"""Convolutional encoders of paper.md section 3 (Hsu et al., "Disentanglement via Latent Quantization").

An encoder maps a batch of images `(batch, height, width, channels)` to one linear vector per image: the
`latent_dim` continuous encodings `z` that the latent quantizer rounds (QLAE, AE), or `2 * latent_dim`
values (mean and log-variance) for a Gaussian posterior (VAE family), or any `output_dim` a model asks for
(the InfoGAN critic's value plus latent estimate).

Every architecture computes the reference implementation's function (github kylehkhsu/latent_quantization,
`encoders/image.py`, `blocks/conv.py`, `blocks/dense.py`): convs without bias, padding 1, each followed by
instance normalisation with affine (eps 1e-6) and a leaky ReLU (slope 0.2); flatten; ReLU dense layers with
bias; a linear head with bias; every kernel and bias initialised `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
Flattening is channels-last here and channels-first there: a fixed permutation of the first dense layer's
inputs, so the two compute the same function family (and equal functions once the weights are permuted).

Three architectures, chosen by `architecture`:

- `"paper"` (reference `image`): four stages, each of three convs with kernels 3, 3, 4 and strides 1, 1, 2
  (so k3 s1 keeps the size, `(n + 2 - 3) / 1 + 1 = n`, and k4 s2 halves it, `(n + 2 - 4) / 2 + 1 = n / 2`;
  64 -> 32 -> 16 -> 8 -> 4). Stage widths 32, 64, 128, 256 give the reference's twelve widths
  32,32,32,64,64,64,128,128,128,256,256,256; then dense 256, dense 256.
- `"paper_small"` (reference `image_small`): four convs, kernel 4, stride 2, widths 64, 128, 256, 512;
  then dense 512.
- `"fast"` (ours, for CPU runs and tests): the `"paper_small"` blocks at a quarter of the widths, four
  convs of widths 32, 64, 128, 256; then dense 256.

Convs have no bias (the reference's `Conv2DBlock` default): the instance normalisation after each would
subtract it anyway.
"""

import keras

from keras_latentquant.models.layers_internal import (
    ARCHITECTURES,
    InstanceNormalization,
    LEAKY_RELU_SLOPE,
    STAGE_CONVS,
    check_architecture,
    check_image_shape,
    check_positive_int,
    check_widths,
    fan_in_uniform,
    reference_dense,
    stage_blocks,
)

#: Per-stage widths of the encoders; a "paper" stage is three convs (k3 s1, k3 s1, k4 s2) of that width,
#: a "paper_small" or "fast" stage one k4 s2 conv.
ENCODER_WIDTHS = {"paper": (32, 64, 128, 256), "paper_small": (64, 128, 256, 512), "fast": (32, 64, 128, 256)}
#: Units of the ReLU dense layers between the conv stack and the linear head.
ENCODER_HIDDEN_UNITS = {"paper": (256, 256), "paper_small": (512,), "fast": (256,)}

__all__ = [
    "ARCHITECTURES",
    "ENCODER_HIDDEN_UNITS",
    "ENCODER_WIDTHS",
    "STAGE_CONVS",
    "build_encoder",
]


def _conv_block(x, filters, kernel_size, strides, name):
    """Padding 1, a 'valid' conv without bias, instance normalisation with affine, leaky ReLU."""
    # Explicit padding 1 (rather than padding="same") reproduces the reference's arithmetic for any input
    # size, odd ones included.
    x = keras.layers.ZeroPadding2D(padding=1, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="valid",
        use_bias=False,
        kernel_initializer=fan_in_uniform(x.shape[-1] * kernel_size * kernel_size),
        name=f"{name}_conv",
    )(x)
    x = InstanceNormalization(name=f"{name}_instance_norm")(x)
    return keras.layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=f"{name}_leaky_relu")(x)


def build_encoder(
    image_shape=(64, 64, 1),
    latent_dim=10,
    architecture="paper",
    output_dim=None,
    widths=None,
    name="encoder",
):
    """Builds a functional Keras encoder from images to a linear vector per image.

    Args:
        image_shape: `(height, width, channels)` of the input images; height and width must be divisible
            by `2 ** len(widths)` (16 with the default four stages), e.g. 64x64 as in the paper.
        latent_dim: number of latent dimensions `d`, >= 1; the head width when `output_dim` is None.
        architecture: `"paper"` (twelve convs), `"paper_small"` (four wide convs) or `"fast"` (four
            narrow convs, for CPU runs).
        output_dim: width of the linear head, overriding `latent_dim` (e.g. `2 * latent_dim` for a
            Gaussian posterior's mean and log-variance); None means `latent_dim`.
        widths: one width per resolution stage (each stage halves height and width); None gives
            `ENCODER_WIDTHS[architecture]`. In `"paper"` each stage is three convs (k3 s1, k3 s1, k4 s2)
            of that width; in the others one k4 s2 conv.
        name: name of the returned model.

    Returns:
        A `keras.Model` with input `image` of shape `(batch,) + image_shape` and a float32 output of shape
        `(batch, output_dim)` from a linear dense layer named `head`.

    Raises:
        ValueError: naming the argument, for an unknown `architecture`, `latent_dim` or `output_dim` below
            1, bad `widths`, or an `image_shape` that is not `(height, width, channels)` with sizes
            divisible by the total stride.

    Example:
    >>> encoder = build_encoder((64, 64, 1), latent_dim=10, architecture="fast")
    >>> encoder(keras.ops.zeros((2, 64, 64, 1))).shape
    TensorShape([2, 10])
    """
    architecture = check_architecture(architecture)
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    output_dim = latent_dim if output_dim is None else check_positive_int(output_dim, "output_dim")
    widths = check_widths(widths, ENCODER_WIDTHS[architecture])
    image_shape = check_image_shape(image_shape, num_halvings=len(widths))
    final_size = min(image_shape[:2]) // 2 ** len(widths)
    if final_size < 2:
        raise ValueError(
            f"image_shape={image_shape} is too small for {len(widths)} encoder stages: the last stage's feature "
            "maps would be 1x1, and instance normalisation over a single pixel returns its bias whatever the "
            "image, so the encoder could not see its input. Use images of at least "
            f"{2 ** (len(widths) + 1)} pixels a side, or fewer stages (a shorter `widths`)."
        )

    images = keras.Input(shape=image_shape, name="image")
    x = images
    for stage, width in enumerate(widths, start=1):
        for block_name, kernel_size, strides in stage_blocks(architecture, stage):
            x = _conv_block(x, width, kernel_size, strides, name=block_name)
    x = keras.layers.Flatten(name="flatten")(x)
    for index, units in enumerate(ENCODER_HIDDEN_UNITS[architecture], start=1):
        x = reference_dense(units, x.shape[-1], activation="relu", name=f"dense{index}")(x)
    # float32 head: under mixed_float16 the encodings fed to the quantizer stay float32.
    outputs = reference_dense(output_dim, x.shape[-1], dtype="float32", name="head")(x)
    return keras.Model(images, outputs, name=name)
