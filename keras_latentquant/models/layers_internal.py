"""Small building-block layers for the encoder and decoder architectures.

These are the pieces that paper.md section 3 (Architectures) names but Keras does not ship, each computing
what the paper authors' reference implementation (github kylehkhsu/latent_quantization, `disentangle/blocks/`)
computes:

- `InstanceNormalization`: per-sample, per-channel normalisation over the spatial axes, with an optional
  learned affine (`gamma`, `beta`). Used after every conv of the encoder.
- `StyleModulation`: the style block's conditioning. Instance normalisation without affine, then a
  per-channel scale and bias predicted from the style vector `w` by one dense projection followed by a ReLU:
  `y = IN(x) * s + b` with `[s, b] = ReLU(w @ kernel + bias)`, so both are non-negative and there is no
  `1 +` (reference `blocks/style.py`). Used after every transposed conv (and its leaky ReLU) of the decoder.
- `LearnedConstant`: the decoder's trainable constant input map (4x4x256 in the paper), initialised to 0.1
  everywhere, broadcast to the batch size of whatever tensor it is called on.

Instance normalisation, for a feature map `x` of shape `(batch, height, width, channels)`:
`IN(x)[b, h, w, c] = (x[b, h, w, c] - mean_hw x[b, :, :, c]) / sqrt(var_hw x[b, :, :, c] + epsilon)`,
with the biased variance and `epsilon = 1e-6`, the reference's (equinox `GroupNorm(groups=channels,
eps=1e-6)`; PyTorch's InstanceNorm2d uses 1e-5, Keras's GroupNormalization 1e-3). The statistics are always
computed in float32, so the layers are safe under a `mixed_float16` policy.

Initialisation (`fan_in_uniform`): every kernel and bias of the encoder and decoder is drawn from
`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, the reference framework's default (equinox `Linear`, `Conv` and
`ConvTranspose`), where `fan_in` is the number of inputs of one output unit: the input width of a dense
layer, `in_channels * kernel_height * kernel_width` of a conv, and the same with the transposed conv's
*input* channels for a transposed conv.
"""

import math
import operator

import keras
from keras import ops

from keras_latentquant.models import choices

#: Added to the spatial variance before the square root, as in the reference (equinox GroupNorm eps=1e-6).
INSTANCE_NORM_EPSILON = 1e-6

#: Initial value of every entry of the decoder's learned constant input (reference `0.1 * ones`).
LEARNED_CONSTANT_INIT = 0.1


#: `(kernel_size, stride)` of the convs of one resolution stage, the same in the encoder (convs) and the
#: decoder (transposed convs): a "paper" stage is three (k3 s1, k3 s1, k4 s2), the others one k4 s2.
STAGE_CONVS = {"paper": ((3, 1), (3, 1), (4, 2)), "paper_small": ((4, 2),), "fast": ((4, 2),)}


def stage_blocks(architecture, stage):
    """`(layer name prefix, kernel_size, stride)` of each conv of `stage` (1-based) of `architecture`."""
    convs = STAGE_CONVS[architecture]
    return [
        (f"stage{stage}_block{block}" if len(convs) > 1 else f"stage{stage}", kernel_size, strides)
        for block, (kernel_size, strides) in enumerate(convs, start=1)
    ]


def fan_in_uniform(fan_in):
    """`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`: the reference's initialiser of every kernel and bias.

    Args:
        fan_in: inputs of one output unit (dense: input width; conv and transposed conv:
            input channels x kernel height x kernel width).

    Returns:
        A `keras.initializers.RandomUniform` (unseeded: drawn from Keras's global seed, so
        `keras.utils.set_random_seed` makes it reproducible).
    """
    fan_in = check_positive_int(fan_in, "fan_in")
    limit = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(minval=-limit, maxval=limit)


def reference_dense(units, fan_in, activation=None, use_bias=True, name=None, dtype=None):
    """A `keras.layers.Dense` with the reference's initialisation of kernel and bias (`fan_in_uniform`)."""
    return keras.layers.Dense(
        units,
        activation=activation,
        use_bias=use_bias,
        kernel_initializer=fan_in_uniform(fan_in),
        bias_initializer=fan_in_uniform(fan_in),
        dtype=dtype,
        name=name,
    )


def _check_feature_map_shape(input_shape, layer_name):
    """Raises ValueError unless `input_shape` is a channels-last 4-D shape with a known channel count."""
    if len(input_shape) != 4:
        raise ValueError(
            f"{layer_name} expects a 4-D feature map (batch, height, width, channels); "
            f"received input_shape={tuple(input_shape)}."
        )
    if input_shape[-1] is None:
        raise ValueError(
            f"{layer_name} needs a known channel count; received input_shape={tuple(input_shape)}."
        )


def _check_epsilon(epsilon):
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or epsilon <= 0:
        raise ValueError(f"`epsilon` must be a positive number; received epsilon={epsilon!r}.")
    return float(epsilon)


def _normalize_and_modulate(inputs, epsilon, scale=None, offset=None):
    """Float32 instance normalisation of a channels-last 4-D tensor, then an optional affine map.

    Computes `IN(x) * scale + offset`, where `IN(x) = (x - mean_hw) / sqrt(var_hw + epsilon)`; the
    reciprocal standard deviation and `scale` are multiplied first, on the small per-(sample, channel)
    tensor, so the full-size feature map is touched by one subtraction, one product and one sum.

    Args:
        inputs: tensor of shape `(batch, height, width, channels)`, any float dtype.
        epsilon: added to the variance.
        scale: None, or float32 tensor broadcastable to `(batch, 1, 1, channels)`.
        offset: None, or float32 tensor broadcastable to `(batch, 1, 1, channels)`.

    Returns:
        Float32 tensor of the same shape as `inputs`.
    """
    # float16 sums over a 64x64 map overflow or lose precision: take the moments in float32.
    inputs = ops.cast(inputs, "float32")
    mean, variance = ops.moments(inputs, axes=[1, 2], keepdims=True)
    multiplier = ops.rsqrt(variance + epsilon)
    if scale is not None:
        multiplier = multiplier * scale
    # Subtracting the mean before scaling (rather than folding it into the offset) keeps full precision
    # for maps whose mean is large next to their spread.
    outputs = (inputs - mean) * multiplier
    if offset is not None:
        outputs = outputs + offset
    return outputs


@keras.saving.register_keras_serializable(package="keras_latentquant")
class InstanceNormalization(keras.layers.Layer):
    """Instance normalisation over the spatial axes of a channels-last feature map.

    Every (sample, channel) slice is shifted and scaled to zero mean and unit variance over height and
    width; with `center` / `scale` a learned per-channel `beta` / `gamma` is then applied:
    `y = gamma * (x - mean_hw) / sqrt(var_hw + epsilon) + beta`.

    Statistics are computed in float32 whatever the layer's compute dtype; the output is cast back to the
    compute dtype (float16 under `mixed_float16`). `gamma` and `beta` are float32 variables that are not
    autocast.

    Args:
        epsilon: positive float added to the variance; default 1e-5.
        center: whether to learn a per-channel offset `beta` (initialised to zeros).
        scale: whether to learn a per-channel scale `gamma` (initialised to ones).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of shape `(batch, height, width, channels)`.

    Input shape:
        4-D `(batch, height, width, channels)`, channels known.

    Output shape:
        Same as the input.

    Example:
    >>> layer = InstanceNormalization()
    >>> y = layer(keras.random.normal((2, 8, 8, 3)))
    >>> y.shape
    TensorShape([2, 8, 8, 3])
    """

    def __init__(self, epsilon=INSTANCE_NORM_EPSILON, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = _check_epsilon(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        # Inputs are taken in whatever dtype they arrive and cast to float32 in call.
        self.autocast = False

    def build(self, input_shape):
        _check_feature_map_shape(input_shape, "InstanceNormalization")
        channels = input_shape[-1]
        self.gamma = None
        self.beta = None
        if self.scale:
            self.gamma = self.add_weight(
                name="gamma", shape=(channels,), initializer="ones", autocast=False
            )
        if self.center:
            self.beta = self.add_weight(
                name="beta", shape=(channels,), initializer="zeros", autocast=False
            )

    def call(self, inputs):
        gamma = None if self.gamma is None else ops.cast(self.gamma, "float32")
        beta = None if self.beta is None else ops.cast(self.beta, "float32")
        outputs = _normalize_and_modulate(inputs, self.epsilon, scale=gamma, offset=beta)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "center": self.center, "scale": self.scale})
        return config


@keras.saving.register_keras_serializable(package="keras_latentquant")
class StyleModulation(keras.layers.Layer):
    """The style block's conditioning: instance normalisation, then a non-negative per-channel scale and bias
    predicted from a style vector.

    `y = IN(x) * s + b`, where `[s, b] = ReLU(w @ kernel + bias_vector)` is one dense projection of the
    style vector `w` to `2 * channels` values followed by a ReLU (first half the scales, second half the
    biases) and `IN` is instance normalisation without affine. This is the reference implementation's
    `StyleConvTranspose2DBlock` after its transposed conv and leaky ReLU: scales and biases are
    non-negative, the scale has no `1 +`, and nothing follows the modulation. (An AdaIN with
    `IN(x) * (1 + s) + b`, signed `s` and `b`, and the activation after it is another function: with the
    reference's weights copied in, its logits differ from the reference's by 15x, relative.)

    All arithmetic is in float32 (inputs are cast), the output is cast to the compute dtype; the kernel
    and bias are float32 variables that are not autocast.

    Args:
        epsilon: positive float added to the variance; default 1e-6 (the reference's).
        kernel_initializer: initializer of the projection's kernel, shape `(style_dim, 2 * channels)`;
            None (default): `fan_in_uniform(style_dim)`, the reference's.
        bias_initializer: initializer of the projection's bias, shape `(2 * channels,)`; None (default):
            `fan_in_uniform(style_dim)`, the reference's.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: list `[x, w]` of a feature map `x` of shape `(batch, height, width, channels)` and a style
            vector `w` of shape `(batch, style_dim)`.

    Input shape:
        `[(batch, height, width, channels), (batch, style_dim)]`.

    Output shape:
        Same as `x`.

    Example:
    >>> layer = StyleModulation()
    >>> y = layer([keras.random.normal((2, 8, 8, 3)), keras.random.normal((2, 16))])
    >>> y.shape
    TensorShape([2, 8, 8, 3])
    """

    def __init__(self, epsilon=INSTANCE_NORM_EPSILON, kernel_initializer=None, bias_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = _check_epsilon(epsilon)
        self.kernel_initializer = None if kernel_initializer is None else keras.initializers.get(kernel_initializer)
        self.bias_initializer = None if bias_initializer is None else keras.initializers.get(bias_initializer)
        self.autocast = False

    def _split_shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                "StyleModulation expects inputs [x, w] (a feature map and a style vector); "
                f"received input_shape={input_shape}."
            )
        feature_shape, style_shape = input_shape
        _check_feature_map_shape(feature_shape, "StyleModulation")
        if len(style_shape) != 2 or style_shape[-1] is None:
            raise ValueError(
                "StyleModulation expects a style vector of shape (batch, style_dim); "
                f"received style shape {tuple(style_shape)}."
            )
        return tuple(feature_shape), tuple(style_shape)

    def build(self, input_shape):
        feature_shape, style_shape = self._split_shapes(input_shape)
        self.channels = feature_shape[-1]
        style_dim = style_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(style_dim, 2 * self.channels),
            initializer=self.kernel_initializer or fan_in_uniform(style_dim),
            autocast=False,
        )
        self.bias = self.add_weight(
            name="bias",
            shape=(2 * self.channels,),
            initializer=self.bias_initializer or fan_in_uniform(style_dim),
            autocast=False,
        )

    def call(self, inputs):
        features, style = inputs
        style = ops.cast(style, "float32")
        # [s, b] = ReLU(w @ kernel + bias_vector): one non-negative scale and bias per channel and sample.
        modulation = ops.relu(ops.matmul(style, self.kernel) + self.bias)
        scale = modulation[:, None, None, : self.channels]
        bias = modulation[:, None, None, self.channels :]
        outputs = _normalize_and_modulate(features, self.epsilon, scale=scale, offset=bias)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        feature_shape, _ = self._split_shapes(input_shape)
        return feature_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "epsilon": self.epsilon,
                "kernel_initializer": (
                    None if self.kernel_initializer is None else keras.initializers.serialize(self.kernel_initializer)
                ),
                "bias_initializer": (
                    None if self.bias_initializer is None else keras.initializers.serialize(self.bias_initializer)
                ),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_latentquant")
class LearnedConstant(keras.layers.Layer):
    """A trainable constant tensor, repeated once per sample of the input batch.

    The style decoder starts from this learned map rather than from the latent: the latent enters only
    through the style modulations. The constant is weight-decayed like any kernel (as in the reference). The layer reads nothing from its input but the batch size.

    Args:
        shape: shape of the constant without the batch axis, e.g. `(4, 4, 256)`.
        initializer: initializer of the constant; default 0.1 everywhere, the reference's `0.1 * ones`
            (spatially flat: the first transposed conv's zero padding is what breaks the symmetry).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: any tensor whose first axis is the batch, e.g. the latent `(batch, latent_dim)`.

    Input shape:
        `(batch, ...)`.

    Output shape:
        `(batch,) + shape`.

    Example:
    >>> layer = LearnedConstant((4, 4, 8))
    >>> layer(keras.ops.zeros((3, 10))).shape
    TensorShape([3, 4, 4, 8])
    """

    def __init__(self, shape, initializer=None, **kwargs):
        super().__init__(**kwargs)
        message = f"`shape` must be a non-empty sequence of integers >= 1; received shape={shape!r}."
        if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
            raise ValueError(message)
        try:
            constant_shape = tuple(operator.index(size) for size in shape)
        except TypeError:
            raise ValueError(message) from None
        if not constant_shape or any(size < 1 for size in constant_shape):
            raise ValueError(message)
        self.constant_shape = constant_shape
        if initializer is None:
            initializer = keras.initializers.Constant(LEARNED_CONSTANT_INIT)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.constant = self.add_weight(
            name="constant", shape=self.constant_shape, initializer=self.initializer
        )

    def call(self, inputs):
        batch_size = ops.shape(inputs)[0]
        constant = ops.cast(self.constant, self.compute_dtype)
        return ops.broadcast_to(constant[None], (batch_size,) + self.constant_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.constant_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "shape": list(self.constant_shape),
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config


#: Negative slope of every leaky ReLU in the encoder and decoder (the reference's).
LEAKY_RELU_SLOPE = 0.2

# The architecture names are declared in `choices`, which imports no Keras (the scripts check their flags before
# TensorFlow starts); the encoders and decoders take them from here.
ARCHITECTURES = choices.ARCHITECTURES
RETIRED_ARCHITECTURES = choices.RETIRED_ARCHITECTURES
check_architecture = choices.check_architecture


# Argument checks shared by `build_encoder` and `build_decoder` (and `check_architecture` above): both
# builders validate at the boundary and name the offending argument, the value, and what would be valid.


def check_positive_int(value, argument):
    """Returns `value` as an int if it is an integer >= 1, else raises ValueError naming `argument`."""
    message = f"`{argument}` must be an integer >= 1; received {argument}={value!r}."
    if isinstance(value, bool):
        raise ValueError(message)
    try:
        # operator.index accepts Python and NumPy integers and refuses floats such as 10.0.
        as_int = operator.index(value)
    except TypeError:
        raise ValueError(message) from None
    if as_int < 1:
        raise ValueError(message)
    return as_int


def check_widths(widths, default):
    """Returns `widths` (or `default` when None) as a tuple of positive ints, else raises ValueError."""
    if widths is None:
        return tuple(default)
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) == 0:
        raise ValueError(
            f"`widths` must be a non-empty sequence of integers >= 1; received widths={widths!r}."
        )
    try:
        return tuple(check_positive_int(width, "widths") for width in widths)
    except ValueError:
        raise ValueError(
            f"`widths` must be a non-empty sequence of integers >= 1; received widths={widths!r}."
        ) from None


def check_image_shape(image_shape, num_halvings):
    """Returns `image_shape` as an `(height, width, channels)` tuple of ints, else raises ValueError.

    Height and width must be divisible by `2 ** num_halvings`, the total stride of the conv stack, so
    that the encoder and decoder feature maps are exact mirrors of each other.
    """
    message = (
        "`image_shape` must be (height, width, channels) with positive integers and height and width "
        f"divisible by {2 ** num_halvings} (the architecture halves the size {num_halvings} times); "
        f"received image_shape={image_shape!r}."
    )
    if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__len__"):
        raise ValueError(message)
    if len(image_shape) != 3:
        raise ValueError(message)
    try:
        height, width, channels = (check_positive_int(size, "image_shape") for size in image_shape)
    except ValueError:
        raise ValueError(message) from None
    stride = 2**num_halvings
    if height % stride or width % stride:
        raise ValueError(message)
    return height, width, channels
