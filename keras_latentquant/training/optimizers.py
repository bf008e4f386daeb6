"""The optimizer rule of the paper, in one place.

Weight decay is the method's second inductive bias (paper section 2): AdamW with an unusually high
decoupled weight decay (0.1 for QLAE) on every weight except biases and the codebook values, which get
plain Adam; learning rate 1e-3 and element-wise clipping at 1.0 of what enters Adam.
"""

from __future__ import annotations

import re
from typing import Sequence

import keras

__all__ = ["DecoupledWeightDecayAdam", "build_optimizer", "NO_DECAY_VARIABLE_NAMES"]

# Variable names (the last path component) that never get weight decay: biases (instance-norm
# shifts, "beta", are biases too) and codebook values.
NO_DECAY_VARIABLE_NAMES = ("bias", "beta", "codebook")
_REPLICA_SUFFIX = re.compile(r"/replica_\d+$")


@keras.saving.register_keras_serializable(package="keras_latentquant")
class DecoupledWeightDecayAdam(keras.optimizers.AdamW):
    """AdamW whose decoupled weight decay skips variables by name, and keeps that rule when reloaded.

    `keras.optimizers.AdamW.exclude_from_weight_decay` is not part of the optimizer's config, so a
    model reloaded from `.keras` would silently decay its biases and codebook; here the rule is a
    constructor argument.

    Args:
        no_decay_names: variable names (exact, last path component) excluded from weight decay.
        **kwargs: `keras.optimizers.AdamW` arguments (`learning_rate`, `weight_decay`, `clipvalue`...).
    """

    def __init__(self, no_decay_names: Sequence[str] = NO_DECAY_VARIABLE_NAMES, **kwargs):
        super().__init__(**kwargs)
        self.no_decay_names = tuple(no_decay_names)
        self._no_decay_pattern = re.compile("|".join(f"^{re.escape(n)}$" for n in self.no_decay_names))

    def _use_weight_decay(self, variable):
        # Under the TensorFlow backend the variable seen here can be the backing tf.Variable, named
        # "layer/name:0", and under MirroredStrategy a replica's copy "layer/name/replica_1:0": compare the
        # last path component of the name without the replica suffix (else replica 1 alone decays biases
        # and codebooks and the replicas drift apart).
        short_name = _REPLICA_SUFFIX.sub("", variable.name.split(":")[0]).rsplit("/", 1)[-1]
        if self.no_decay_names and self._no_decay_pattern.match(short_name):
            return False
        return super()._use_weight_decay(variable)

    def get_config(self):
        config = super().get_config()
        config["no_decay_names"] = list(self.no_decay_names)
        return config


def build_optimizer(
    learning_rate: float = 1e-3,
    weight_decay: float = 0.1,
    clip_value: float | None = 1.0,
    no_decay_names: Sequence[str] = NO_DECAY_VARIABLE_NAMES,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
) -> DecoupledWeightDecayAdam:
    """The paper's optimizer: AdamW, decoupled weight decay on kernels only, element-wise clipping.

    Args:
        learning_rate: Adam step size (paper: 1e-3 for the autoencoder family).
        weight_decay: decoupled decay factor; each step multiplies decayed weights by
            `1 - learning_rate * weight_decay` (paper: 0.1 for QLAE). 0 gives plain Adam.
        clip_value: gradients are clipped element-wise to `[-clip_value, clip_value]` before Adam
            (the reference clips before its AdamW chain); None disables clipping.
        no_decay_names: variable names that get no decay (biases and codebook values by default).
        beta_1, beta_2: Adam's moment decay rates (Keras defaults; the GANs use 0 and 0.9).

    Returns:
        A `DecoupledWeightDecayAdam`.
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0; got {learning_rate}.")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0; got {weight_decay}.")
    if clip_value is not None and not clip_value > 0:
        raise ValueError(f"clip_value must be > 0 or None; got {clip_value}.")
    return DecoupledWeightDecayAdam(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        clipvalue=clip_value,
        no_decay_names=no_decay_names,
        beta_1=beta_1,
        beta_2=beta_2,
    )


def decayed_variables(optimizer: DecoupledWeightDecayAdam, variables) -> list:
    """The subset of `variables` that `optimizer` applies weight decay to (for tests and logs)."""
    return [v for v in variables if optimizer.weight_decay and optimizer._use_weight_decay(v)]
