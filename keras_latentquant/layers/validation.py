"""Argument and shape checks shared by the layers: each raises a ValueError naming the argument (or the
layer) and the value it got."""

from __future__ import annotations

import math

import keras
import numpy as np

__all__ = [
    "validate_int",
    "validate_weight",
    "validate_positive",
    "validate_loss_scale",
    "validate_fraction",
    "validate_share",
    "validate_range",
    "validate_counts",
    "validate_seed",
    "validate_dataset_size",
    "validate_initializer",
    "latent_axis_size",
    "check_one_count_per_latent",
    "posterior_num_latents",
    "require_built",
    "validate_codes",
]


# ---------------------------------------------------------------------------------- arguments
def validate_int(name, value, minimum):
    """An int (not a bool) >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {name}={value!r}.")
    return int(value)


def validate_weight(name, value):
    """A non-negative finite float (a loss weight, a threshold)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-negative float; got {value!r}.") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite float; got {name}={value}.")
    return value


def validate_positive(name, value, note=""):
    """A positive finite float; `note`, if given, says in the error what the value is for."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive float; got {value!r}.") from None
    if not math.isfinite(value) or value <= 0:
        note = f" ({note})" if note else ""
        raise ValueError(f"{name} must be a positive finite float{note}; got {name}={value}.")
    return value


def validate_loss_scale(value):
    """The `loss_scale` of the posterior and BioAE layers: a positive finite float."""
    return validate_positive("loss_scale", value, "1 / num_pixels to match a per-pixel reconstruction loss")


def validate_fraction(name, value, high=1.0, *, include_zero=False, note=""):
    """A float in `(0, high)`, or in `[0, high)` with `include_zero`; `note` explains the value in the error."""
    interval = f"{'[' if include_zero else '('}0, {high:g})"
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a float in {interval}; got {value!r}.") from None
    if not ((0.0 <= value if include_zero else 0.0 < value) and value < high):
        where = f"be in {interval}" if include_zero else f"lie strictly between 0 and {high:g}"
        note = f" ({note})" if note else ""
        raise ValueError(f"{name} must {where}{note}; got {name}={value}.")
    return value


def validate_share(name, value, count, counted, extra=""):
    """A share of `counted` (inputs, assignments) in `[0, 1 / count)`: the threshold below which one of
    `count` codewords is called unused (a larger one would call codewords unused under uniform use)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a float; got {value!r}.") from None
    if not 0.0 <= value < 1.0 / count:
        raise ValueError(
            f"{name} is a share of the {counted} and must lie in [0, 1/{count}) = [0, {1.0 / count:g}) (a larger "
            f"one would call codewords unused under uniform use); got {name}={value}.{extra}"
        )
    return value


def validate_range(name, value):
    """A pair `(low, high)` of finite floats with `low < high`, returned as a tuple."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of floats; got {value!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(f"{name} must be finite with low < high; got {name}=({low}, {high}).")
    return (low, high)


def validate_counts(name, value, note):
    """An int >= 2 (one count for every latent) or a non-empty list of them (one per latent), as int or
    list of int; `note` says in the error why a count of 1 is too few."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an int >= 2 or a list of them; got {value!r}.")
    if isinstance(value, (int, np.integer)):
        if value < 2:
            raise ValueError(f"{name} must be at least 2 ({note}); got {name}={value}.")
        return int(value)
    try:
        counts = list(value)
    except TypeError:
        raise ValueError(f"{name} must be an int >= 2 or a list of ints >= 2; got {value!r}.") from None
    if not counts:
        raise ValueError(f"{name} is an empty list; give one count (>= 2) per latent dimension.")
    bad = [c for c in counts if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) or c < 2]
    if bad:
        raise ValueError(f"every entry of {name} must be an int >= 2; got {counts} (bad entries: {bad}).")
    return [int(c) for c in counts]


def validate_seed(seed):
    """None or an int."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int or None; got seed={seed!r}.")
    return int(seed)


def validate_dataset_size(dataset_size, total_correlation_weight):
    """None or a positive int: the training-set size `N` the beta-TCVAE estimator needs (required when
    `total_correlation_weight > 0`)."""
    if dataset_size is None:
        if total_correlation_weight > 0:
            raise ValueError(
                "dataset_size is required when total_correlation_weight > 0: the minibatch-weighted "
                "sampling estimator of the total correlation needs the number of training examples N; "
                f"got dataset_size=None with total_correlation_weight={total_correlation_weight}."
            )
        return None
    if (
        isinstance(dataset_size, (bool, np.bool_))
        or not isinstance(dataset_size, (int, np.integer))
        or dataset_size < 1
    ):
        raise ValueError(f"dataset_size must be a positive int or None; got dataset_size={dataset_size!r}.")
    return int(dataset_size)


def validate_initializer(initializer):
    """None or a `keras.initializers` identifier, kept as given (a string or a config dict) so
    `get_config` can return it."""
    if initializer is None:
        return None
    if isinstance(initializer, keras.initializers.Initializer):
        initializer = keras.initializers.serialize(initializer)
    try:
        keras.initializers.get(initializer)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"initializer must be None or a keras.initializers identifier; got {initializer!r} ({error})."
        ) from None
    return initializer


# ---------------------------------------------------------------------------------- shapes and state
def latent_axis_size(
    input_shape, layer_name, *, batched=False, size="num_latents", items="latents", meaning="the number of latents"
):
    """The size of the known last axis of `input_shape`.

    ValueError for a scalar (rank-0) input, or with `batched` for any input of rank < 2, and for an unknown
    last axis. `size`, `items` and `meaning` name the last axis in the errors (a layer of vectors: "dim",
    "vectors", "the vector size").
    """
    input_shape = tuple(input_shape)
    if batched and len(input_shape) < 2:
        raise ValueError(
            f"{layer_name} needs inputs of shape (batch, {size}); got input shape {input_shape} of rank "
            f"{len(input_shape)}. Add a batch axis, e.g. {items}[None]."
        )
    if not input_shape:
        raise ValueError(
            f"{layer_name} needs inputs of rank >= 1 with {items} on the last axis; got a scalar (rank-0) "
            f"input. Reshape it to (..., {size})."
        )
    if input_shape[-1] is None:
        raise ValueError(
            f"{layer_name} needs a known last axis ({meaning}); got input shape {input_shape}. Give the "
            "model input a static last dimension."
        )
    return int(input_shape[-1])


def check_one_count_per_latent(name, counts, num_latents, input_shape):
    """A list of per-latent counts (`validate_counts`) must have `num_latents` entries; an int fits any."""
    if isinstance(counts, list) and len(counts) != num_latents:
        raise ValueError(
            f"{name} has {len(counts)} entries but the input has {num_latents} latents (last axis of shape "
            f"{tuple(input_shape)}); give one count per latent or a single int."
        )


def posterior_num_latents(input_shape, layer_name):
    """`d` for an input `(batch, 2 d)` of a Gaussian posterior; ValueError for a rank other than 2, an
    unknown or an odd last axis."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 2:
        raise ValueError(
            f"{layer_name} needs inputs of shape (batch, 2 * num_latents) (means then log-variances on "
            f"the last axis); got input shape {input_shape} of rank {len(input_shape)}. Give it a rank-2 "
            "batch, e.g. the encoder's flat head, or add a batch axis / keras.layers.Flatten()."
        )
    width = latent_axis_size(input_shape, layer_name, size="2 * num_latents", meaning="2 * num_latents")
    if width < 2 or width % 2:
        raise ValueError(
            f"{layer_name} needs an even last axis of at least 2 (the first half means, the second "
            f"half log-variances); got input shape {input_shape} with last axis {width}. Give the "
            "encoder a head of width 2 * num_latents."
        )
    return width // 2


def require_built(layer, caller, *, inputs="latents", shape="(None, num_latents)", reason="the codebook exists"):
    """ValueError unless `layer` is built: `caller` needs what `build` makes (`reason`)."""
    if not layer.built:
        raise ValueError(
            f"{caller} needs the layer built (call it once on {inputs}, or build it with "
            f"layer.build({shape})) so {reason}."
        )


def validate_codes(codes, width, upper, symbol="n_j"):
    """Integer codes given as a NumPy array, list or tuple, checked and returned as an array: integer dtype,
    shape `(..., width)`, entries in `[0, upper)` (`upper` an int, or one bound per last-axis entry, named
    `symbol` in the error). Tensors are returned unchecked (the layers clip those into range)."""
    if not isinstance(codes, (np.ndarray, list, tuple)):
        return codes
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"codes must be integers; got dtype {codes.dtype}.")
    if codes.ndim == 0 or codes.shape[-1] != width:
        raise ValueError(f"codes must have shape (..., {width}); got {codes.shape}.")
    upper = np.asarray(upper)
    if np.any(codes < 0) or np.any(codes >= upper):
        if upper.ndim == 0:
            allowed = f"indices must lie in 0..{int(upper) - 1}"
        else:
            allowed = f"dimension j takes indices 0..{symbol}-1 with {symbol} = {upper.tolist()}"
        raise ValueError(f"codes out of range: {allowed}; got indices from {codes.min()} to {codes.max()}.")
    return codes
