"""Style decoders of paper.md section 3 (Hsu et al., "Disentanglement via Latent Quantization").

A decoder maps a batch of latents `(batch, latent_dim)` to image logits `(batch, height, width, channels)`;
the autoencoder loss is binary cross-entropy from those logits, and the GAN generators apply a sigmoid
(or use the logits directly). The design is StyleGAN-like: the latent never enters the conv stack as a
feature map. Instead

1. a ReLU MLP maps the latent to a style vector `w`;
2. a learned constant map (`height / 2**S`, `width / 2**S`, `widths[0]`), 4x4x256 for 64x64 images, is
   upsampled by transposed convs, `S` stages of them;
3. after every transposed conv, AdaIN: instance normalisation without affine, then a per-channel scale and
   bias predicted from `w`, `IN(x) * (1 + scale(w)) + bias(w)` (the `1 +` makes the layer start near
   plain instance normalisation), then leaky ReLU (slope 0.2);
4. a final 3x3 conv (padding "same", linear, float32) gives one logit per pixel and channel.

Two architectures, chosen by `architecture`:

- `"paper"`: style MLP dense 256, dense 256 (ReLU); four stages of three transposed convs with kernels
  3, 3, 4 and strides 1, 1, 2 (the encoder's pattern), stage widths 256, 128, 64, 32, i.e. the paper's
  twelve widths 256,256,256,128,128,128,64,64,64,32,32,32; 4 -> 8 -> 16 -> 32 -> 64.
- `"small"`: style MLP dense 256 (ReLU); four transposed convs, kernel 4 stride 2, default widths
  (128, 64, 32, 16), constant map 4x4x128. paper.md only says "a smaller variant exists"; these widths
  are chosen so an encoder + decoder train step at batch 64 stays fast on 2 CPU cores (the 64x64 stage
  dominates the cost, so its width is kept small); pass `widths=(256, 128, 64, 32)` for a mirror of a
  (32, 64, 128, 256) encoder.

Transposed convs use padding "same": with stride 1 that keeps the size, and with kernel 4 stride 2 it gives
exactly twice the input size, cropping one pixel on each side of the full `2n + 2` output, the same as
PyTorch's `ConvTranspose2d(kernel_size=4, stride=2, padding=1)`. Transposed convs that feed AdaIN have no
bias (instance normalisation cancels it).
"""

import keras

from keras_latentquant.models.layers_internal import (
    ARCHITECTURES,
    LEAKY_RELU_SLOPE,
    AdaptiveInstanceNormalization,
    LearnedConstant,
    check_architecture,
    check_image_shape,
    check_positive_int,
    check_widths,
)

#: Per-stage widths of the "paper" decoder; each stage is three transposed convs of that width.
PAPER_DECODER_WIDTHS = (256, 128, 64, 32)
#: Per-stage widths of the "small" decoder; each stage is one kernel-4 stride-2 transposed conv.
SMALL_DECODER_WIDTHS = (128, 64, 32, 16)
#: Units of the ReLU dense layers that map the latent to the style vector `w`.
STYLE_HIDDEN_UNITS = {"paper": (256, 256), "small": (256,)}

_DEFAULT_WIDTHS = {"paper": PAPER_DECODER_WIDTHS, "small": SMALL_DECODER_WIDTHS}

__all__ = [
    "ARCHITECTURES",
    "PAPER_DECODER_WIDTHS",
    "SMALL_DECODER_WIDTHS",
    "STYLE_HIDDEN_UNITS",
    "build_decoder",
]


def _style_block(x, style, filters, kernel_size, strides, name):
    """Transposed conv (no bias), AdaIN modulated by the style vector, leaky ReLU."""
    x = keras.layers.Conv2DTranspose(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        name=f"{name}_conv_transpose",
    )(x)
    x = AdaptiveInstanceNormalization(name=f"{name}_adain")([x, style])
    return keras.layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=f"{name}_leaky_relu")(x)


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
        architecture: `"paper"` (twelve transposed convs) or `"small"` (four, fast on CPU).
        widths: one width per resolution stage (each stage doubles height and width); the learned
            constant has `widths[0]` channels. None gives `PAPER_DECODER_WIDTHS` or
            `SMALL_DECODER_WIDTHS`. In `"paper"` each stage is three transposed convs (k3 s1, k3 s1,
            k4 s2) of that width; in `"small"` one k4 s2 transposed conv.
        name: name of the returned model.

    Returns:
        A `keras.Model` with input `latent` of shape `(batch, latent_dim)` and a float32 output of shape
        `(batch,) + image_shape`: pixel logits from a linear 3x3 conv named `logits`.

    Raises:
        ValueError: naming the argument, for an unknown `architecture`, `latent_dim` below 1, bad
            `widths`, or an `image_shape` that is not `(height, width, channels)` with sizes divisible by
            the total stride.

    Example:
    >>> decoder = build_decoder(latent_dim=10, image_shape=(64, 64, 1), architecture="small")
    >>> decoder(keras.ops.zeros((2, 10))).shape
    TensorShape([2, 64, 64, 1])
    """
    architecture = check_architecture(architecture)
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    widths = check_widths(widths, _DEFAULT_WIDTHS[architecture])
    height, width, channels = check_image_shape(image_shape, num_halvings=len(widths))

    latents = keras.Input(shape=(latent_dim,), name="latent")
    style = latents
    for index, units in enumerate(STYLE_HIDDEN_UNITS[architecture], start=1):
        style = keras.layers.Dense(units, activation="relu", name=f"style_dense{index}")(style)

    total_stride = 2 ** len(widths)
    x = LearnedConstant(
        (height // total_stride, width // total_stride, widths[0]), name="learned_constant"
    )(latents)
    for stage, stage_width in enumerate(widths, start=1):
        if architecture == "paper":
            # Kernels 3, 3, 4 with strides 1, 1, 2: two size-keeping convs, then a doubling one.
            x = _style_block(x, style, stage_width, 3, 1, name=f"stage{stage}_block1")
            x = _style_block(x, style, stage_width, 3, 1, name=f"stage{stage}_block2")
            x = _style_block(x, style, stage_width, 4, 2, name=f"stage{stage}_block3")
        else:
            x = _style_block(x, style, stage_width, 4, 2, name=f"stage{stage}")
    # Linear float32 logits: the loss is binary cross-entropy from logits, computed in float32.
    logits = keras.layers.Conv2D(channels, 3, padding="same", dtype="float32", name="logits")(x)
    return keras.Model(latents, logits, name=name)
