"""Style decoders of paper.md section 3 (Hsu et al., "Disentanglement via Latent Quantization").

A decoder maps a batch of latents `(batch, latent_dim)` to image logits `(batch, height, width, channels)`;
the autoencoder loss is binary cross-entropy from those logits, and the GAN generators apply a sigmoid.
Every architecture computes the reference implementation's function (github kylehkhsu/latent_quantization,
`decoders/style_image.py`, `blocks/style.py`): the latent never enters the conv stack as a feature map.

1. a ReLU MLP (dense layers with bias) maps the latent to a style vector `w`;
2. a learned constant map (`height / 2**S`, `width / 2**S`, `widths[0]`), 4x4x256 for 64x64 images,
   initialised to 0.1 everywhere and weight-decayed, is upsampled by `S` stages of transposed convs;
3. every style block is: transposed conv (no bias) -> leaky ReLU (0.2) -> instance normalisation without
   affine (eps 1e-6) -> `x * s + b` with `[s, b] = ReLU(Dense(w))`, a dense projection of its own per
   block (`layers_internal.StyleModulation`); nothing follows the modulation;
4. a final 3x3 conv (padding 1, no bias, linear, float32) gives one logit per pixel and channel.

Every kernel and bias is initialised `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` (a transposed conv's fan-in is
its input channels x kernel area).

Three architectures, chosen by `architecture`:

- `"paper"` (reference `style_image`): style MLP dense 256, dense 256; four stages of three transposed convs
  with kernels 3, 3, 4 and strides 1, 1, 2 (the encoder's pattern), stage widths 256, 128, 64, 32, i.e. the
  reference's twelve widths 256,256,256,128,128,128,64,64,64,32,32,32; 4 -> 8 -> 16 -> 32 -> 64.
- `"paper_small"` (reference `style_image_small`): style MLP dense 512; constant 4x4x512; four transposed
  convs, kernel 4, stride 2, widths 512, 256, 128, 64.
- `"fast"` (ours, for CPU runs and tests): the `"paper_small"` blocks at CPU-sized widths: style MLP dense
  256; constant 4x4x128; transposed convs 128, 64, 32, 16 (the 64x64 stage dominates the cost, so its width
  is kept small).

Transposed convs use padding "same": with stride 1 that keeps the size, and with kernel 4 stride 2 it gives
exactly twice the input size, cropping one pixel on each side of the full `2n + 2` output, the same as the
reference's `ConvTranspose2d(kernel_size=4, stride=2, padding=1)` (and PyTorch's). Keras stores a transposed
conv's kernel as `(kh, kw, out, in)` and applies it spatially flipped relative to equinox's
`(out, in, kh, kw)`; the functions are equal once a kernel is flipped and transposed.
"""

import keras

from keras_latentquant.models.layers_internal import (
    ARCHITECTURES,
    LEAKY_RELU_SLOPE,
    LearnedConstant,
    STAGE_CONVS,
    StyleModulation,
    check_architecture,
    check_image_shape,
    check_positive_int,
    check_widths,
    fan_in_uniform,
    reference_dense,
    stage_blocks,
)

#: Per-stage widths of the decoders; a "paper" stage is three transposed convs (k3 s1, k3 s1, k4 s2) of
#: that width, a "paper_small" or "fast" stage one k4 s2 transposed conv. The learned constant has
#: `widths[0]` channels.
DECODER_WIDTHS = {"paper": (256, 128, 64, 32), "paper_small": (512, 256, 128, 64), "fast": (128, 64, 32, 16)}
#: Units of the ReLU dense layers that map the latent to the style vector `w`.
STYLE_HIDDEN_UNITS = {"paper": (256, 256), "paper_small": (512,), "fast": (256,)}

__all__ = [
    "ARCHITECTURES",
    "DECODER_WIDTHS",
    "STAGE_CONVS",
    "STYLE_HIDDEN_UNITS",
    "build_decoder",
]


def _style_block(x, style, filters, kernel_size, strides, name):
    """Transposed conv (no bias), leaky ReLU, then the style modulation `IN(x) * s + b`."""
    x = keras.layers.Conv2DTranspose(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=fan_in_uniform(x.shape[-1] * kernel_size * kernel_size),
        name=f"{name}_conv_transpose",
    )(x)
    x = keras.layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=f"{name}_leaky_relu")(x)
    return StyleModulation(name=f"{name}_style")([x, style])


def build_decoder(
    latent_dim=10,
    image_shape=(64, 64, 1),
    architecture="paper",
    widths=None,
    name="decoder",
):
    """Builds a functional Keras style decoder from latents to image logits.

    Args:
        latent_dim: number of latent dimensions `d`, >= 1.
        image_shape: `(height, width, channels)` of the images to produce; height and width must be
            divisible by `2 ** len(widths)` (16 with the default four stages), e.g. 64x64 as in the paper.
        architecture: `"paper"` (twelve transposed convs), `"paper_small"` (four wide ones) or `"fast"`
            (four narrow ones, for CPU runs).
        widths: one width per resolution stage (each stage doubles height and width); the learned
            constant has `widths[0]` channels. None gives `DECODER_WIDTHS[architecture]`. In `"paper"`
            each stage is three transposed convs (k3 s1, k3 s1, k4 s2) of that width; in the others one
            k4 s2 transposed conv.
        name: name of the returned model.

    Returns:
        A `keras.Model` with input `latent` of shape `(batch, latent_dim)` and a float32 output of shape
        `(batch,) + image_shape`: pixel logits from a linear, bias-free 3x3 conv named `logits`.

    Raises:
        ValueError: naming the argument, for an unknown `architecture`, `latent_dim` below 1, bad
            `widths`, or an `image_shape` that is not `(height, width, channels)` with sizes divisible by
            the total stride.

    Example:
    >>> decoder = build_decoder(latent_dim=10, image_shape=(64, 64, 1), architecture="fast")
    >>> decoder(keras.ops.zeros((2, 10))).shape
    TensorShape([2, 64, 64, 1])
    """
    architecture = check_architecture(architecture)
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    widths = check_widths(widths, DECODER_WIDTHS[architecture])
    height, width, channels = check_image_shape(image_shape, num_halvings=len(widths))

    latents = keras.Input(shape=(latent_dim,), name="latent")
    style = latents
    for index, units in enumerate(STYLE_HIDDEN_UNITS[architecture], start=1):
        style = reference_dense(units, style.shape[-1], activation="relu", name=f"style_dense{index}")(style)

    total_stride = 2 ** len(widths)
    x = LearnedConstant(
        (height // total_stride, width // total_stride, widths[0]), name="learned_constant"
    )(latents)
    for stage, stage_width in enumerate(widths, start=1):
        for block_name, kernel_size, strides in stage_blocks(architecture, stage):
            x = _style_block(x, style, stage_width, kernel_size, strides, name=block_name)
    # Linear, bias-free float32 logits (the reference's final Conv2DBlock has no bias); the loss is binary
    # cross-entropy from logits, computed in float32.
    logits = keras.layers.Conv2D(
        channels,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer=fan_in_uniform(x.shape[-1] * 9),
        dtype="float32",
        name="logits",
    )(x)
    return keras.Model(latents, logits, name=name)
