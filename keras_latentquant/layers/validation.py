"""Argument checks shared by the layers: each raises a ValueError naming the argument and its value."""

from __future__ import annotations

import math

import keras
import numpy as np

__all__ = ["validate_int", "validate_weight", "validate_share", "validate_seed", "validate_initializer"]


def validate_int(name, value, minimum):
    """An int (not a bool) >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {name}={value!r}.")
    return int(value)


def validate_weight(name, value):
    """A non-negative finite float (a loss weight)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-negative float; got {value!r}.") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite float; got {name}={value}.")
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


def validate_seed(seed):
    """None or an int."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int or None; got seed={seed!r}.")
    return int(seed)


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
