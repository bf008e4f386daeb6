"""Convolutional encoders of paper.md section 3 (Hsu et al., "Disentanglement via Latent Quantization").

An encoder maps a batch of images `(batch, height, width, channels)` to one linear vector per image: the
`latent_dim` continuous encodings `z` that the latent quantizer rounds (QLAE, AE), or `2 * latent_dim`
values (mean and log-variance) for a Gaussian posterior (VAE family), or any `output_dim` a model asks for
(the InfoGAN critic's value plus latent estimate).

Two architectures, chosen by `architecture`:

- `"paper"`: four stages, each of three convs with kernels 3, 3, 4 and strides 1, 1, 2 and padding 1
  (so k3 s1 keeps the size, `(n + 2 - 3) / 1 + 1 = n`, and k4 s2 halves it, `(n + 2 - 4) / 2 + 1 = n / 2`;
  64 -> 32 -> 16 -> 8 -> 4). Stage widths 32, 64, 128, 256 give the paper's twelve widths
  32,32,32,64,64,64,128,128,128,256,256,256. Every conv is followed by instance normalisation with
  affine and a leaky ReLU (slope 0.2); then flatten, dense 256, dense 256 (both ReLU), linear head.
- `"small"`: a fast variant for CPU runs: one conv per stage, kernel 4, stride 2, padding 1, leaky ReLU
  (slope 0.2), no normalisation; then flatten, dense 256 (ReLU), linear head. paper.md describes widths
  64..512; the default here is (32, 64, 128, 256), about a quarter of the FLOPs, and
  `widths=(64, 128, 256, 512)` restores the text's sizes.

Convs that feed an instance normalisation have no bias: the normalisation subtracts the per-channel mean,
so a bias there would have exactly zero gradient and only collect weight decay.
"""

import keras

from keras_latentquant.models.layers_internal import (
    ARCHITECTURES,
    LEAKY_RELU_SLOPE,
    InstanceNormalization,
    check_architecture,
    check_image_shape,
    check_positive_int,
    check_widths,
)

#: Per-stage widths of the "paper" encoder; each stage is three convs of that width.
PAPER_ENCODER_WIDTHS = (32, 64, 128, 256)
#: Per-stage widths of the "small" encoder; each stage is one kernel-4 stride-2 conv.
SMALL_ENCODER_WIDTHS = (32, 64, 128, 256)
#: Units of the ReLU dense layers between the conv stack and the linear head.
ENCODER_HIDDEN_UNITS = {"paper": (256, 256), "small": (256,)}

_DEFAULT_WIDTHS = {"paper": PAPER_ENCODER_WIDTHS, "small": SMALL_ENCODER_WIDTHS}

__all__ = [
    "ARCHITECTURES",
    "ENCODER_HIDDEN_UNITS",
    "PAPER_ENCODER_WIDTHS",
    "SMALL_ENCODER_WIDTHS",
    "build_encoder",
]


def _conv_block(x, filters, kernel_size, strides, normalize, name):
    """Padding 1, a 'valid' conv, optionally instance normalisation with affine, then leaky ReLU."""
    # Explicit padding 1 (rather than padding="same") reproduces the paper's arithmetic for any input
    # size, odd ones included.
    x = keras.layers.ZeroPadding2D(padding=1, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="valid",
        use_bias=not normalize,
        name=f"{name}_conv",
    )(x)
    if normalize:
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
        architecture: `"paper"` (twelve convs with instance norm) or `"small"` (four convs, fast on CPU).
        output_dim: width of the linear head, overriding `latent_dim` (e.g. `2 * latent_dim` for a
            Gaussian posterior's mean and log-variance); None means `latent_dim`.
        widths: one width per resolution stage (each stage halves height and width); None gives
            `PAPER_ENCODER_WIDTHS` or `SMALL_ENCODER_WIDTHS`. In `"paper"` each stage is three convs
            (k3 s1, k3 s1, k4 s2) of that width; in `"small"` one k4 s2 conv.
        name: name of the returned model.

    Returns:
        A `keras.Model` with input `image` of shape `(batch,) + image_shape` and a float32 output of shape
        `(batch, output_dim)` from a linear dense layer named `head`.

    Raises:
        ValueError: naming the argument, for an unknown `architecture`, `latent_dim` or `output_dim` below
            1, bad `widths`, or an `image_shape` that is not `(height, width, channels)` with sizes
            divisible by the total stride.

    Example:
    >>> encoder = build_encoder((64, 64, 1), latent_dim=10, architecture="small")
    >>> encoder(keras.ops.zeros((2, 64, 64, 1))).shape
    TensorShape([2, 10])
    """
    architecture = check_architecture(architecture)
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    output_dim = latent_dim if output_dim is None else check_positive_int(output_dim, "output_dim")
    widths = check_widths(widths, _DEFAULT_WIDTHS[architecture])
    image_shape = check_image_shape(image_shape, num_halvings=len(widths))

    images = keras.Input(shape=image_shape, name="image")
    x = images
    for stage, width in enumerate(widths, start=1):
        if architecture == "paper":
            # Kernels 3, 3, 4 with strides 1, 1, 2: two size-keeping convs, then a halving one.
            x = _conv_block(x, width, 3, 1, normalize=True, name=f"stage{stage}_block1")
            x = _conv_block(x, width, 3, 1, normalize=True, name=f"stage{stage}_block2")
            x = _conv_block(x, width, 4, 2, normalize=True, name=f"stage{stage}_block3")
        else:
            x = _conv_block(x, width, 4, 2, normalize=False, name=f"stage{stage}")
    x = keras.layers.Flatten(name="flatten")(x)
    for index, units in enumerate(ENCODER_HIDDEN_UNITS[architecture], start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{index}")(x)
    # float32 head: under mixed_float16 the encodings fed to the quantizer stay float32.
    outputs = keras.layers.Dense(output_dim, dtype="float32", name="head")(x)
    return keras.Model(images, outputs, name=name)
