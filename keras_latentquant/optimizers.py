"""The optimizer rule of the paper, in one place, computing what the reference implementation's optax
chain computes.

Weight decay is the method's second inductive bias (paper section 2). The reference (github
kylehkhsu/latent_quantization, `models/ae.py` and `models/info_gan.py`, `construct_optimizer`) splits the
parameters into two groups by name:

- the *decayed* group: every kernel, the instance norms' scales and the decoder's learned constant. Their
  update is `optax.chain(optax.clip(1.0), optax.adamw(lr, b1, b2, eps=1e-8, weight_decay=wd))`: the
  gradient is clipped element-wise to [-1, 1], then

      m = b1 * m + (1 - b1) * g           v = b2 * v + (1 - b2) * g^2
      m_hat = m / (1 - b1^t)              v_hat = v / (1 - b2^t)
      w <- w - lr * (m_hat / (sqrt(v_hat) + eps) + wd * w)

- the *undecayed* group: biases (the instance norms' offsets too) and codebook values, updated by plain
  `optax.adam(lr, b1, b2, eps=1e-8)`, with no clipping.

The group is fixed by the name, not by the value of `wd`: with `wd = 0` (AE) the first group is still
clipped. The epsilon is added to `sqrt(v_hat)` *after* bias correction. Keras's `Adam` adds it to `sqrt(v)`
before, which in optax's terms is an epsilon of `eps / sqrt(1 - b2^t)`: 3.2e-6 at step 1 and 1.3e-7 at step
1000 with Keras's 1e-7, so small-gradient weights move 20-80% less early on while the decay acts in full.
Hence this optimizer of our own rather than `keras.optimizers.AdamW`.
"""

from __future__ import annotations

import re
from typing import Sequence

import keras
from keras import ops

__all__ = ["DecoupledWeightDecayAdam", "build_optimizer", "NO_DECAY_VARIABLE_NAMES", "decayed_variables"]

# Variable names (the last path component) outside the decayed group: biases (instance-norm offsets,
# "beta", are biases too) and codebook values, as the reference's `relabel_attr(..., 'bias')` and
# `relabel_attr(..., 'latent')` mark them.
NO_DECAY_VARIABLE_NAMES = ("bias", "beta", "codebook")
_REPLICA_SUFFIX = re.compile(r"/replica_\d+$")


@keras.saving.register_keras_serializable(package="keras_latentquant")
class DecoupledWeightDecayAdam(keras.optimizers.Optimizer):
    """optax's `adamw` on the decayed group (clipped) and `adam` on the rest, as the reference chains them.

    One step, for a variable `w` with gradient `g` at step `t` (1-based):
    decayed group (names not in `no_decay_names`): `g <- clip(g, -clip_value, clip_value)`;
    `m <- b1 m + (1 - b1) g`, `v <- b2 v + (1 - b2) g^2`;
    `u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + epsilon)`;
    decayed group: `w <- w - lr (u + weight_decay w)`; undecayed group: `w <- w - lr u`.

    Args:
        learning_rate: step size `lr` (a float or a schedule).
        weight_decay: decoupled decay `wd` of the decayed group (0 gives Adam on every variable, the
            decayed group still clipped).
        clip_value: element-wise clipping of the decayed group's gradients; None disables it.
        beta_1, beta_2: moment decay rates.
        epsilon: added to `sqrt(v_hat)` after bias correction (optax's default 1e-8).
        no_decay_names: variable names (exact, last path component) of the undecayed group.
        name: optimizer name.
        **kwargs: other `keras.optimizers.Optimizer` arguments (`gradient_accumulation_steps`, ...);
            `clipvalue`, `clipnorm` and `global_clipnorm` are refused (they would clip every variable).

    Example:
    >>> optimizer = DecoupledWeightDecayAdam(learning_rate=1e-3, weight_decay=0.1, clip_value=1.0)
    >>> model.compile(optimizer=optimizer, loss=...)
    """

    def __init__(
        self,
        learning_rate=1e-3,
        weight_decay: float = 0.0,
        clip_value: float | None = 1.0,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        no_decay_names: Sequence[str] = NO_DECAY_VARIABLE_NAMES,
        name: str = "decoupled_weight_decay_adam",
        **kwargs,
    ):
        for clip_argument in ("clipvalue", "clipnorm", "global_clipnorm"):
            if kwargs.get(clip_argument) is not None:
                raise ValueError(
                    f"DecoupledWeightDecayAdam takes clip_value (element-wise clipping of the decayed group "
                    f"only, as the reference does), not {clip_argument}={kwargs[clip_argument]!r}."
                )
            kwargs.pop(clip_argument, None)
        if weight_decay is None or weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0; got {weight_decay}.")
        # The base class keeps `weight_decay`, but its own decay step is switched off
        # (`_apply_weight_decay`): the decay is part of `update_step`, optax's way.
        super().__init__(learning_rate=learning_rate, weight_decay=float(weight_decay), name=name, **kwargs)
        if clip_value is not None and not clip_value > 0:
            raise ValueError(f"clip_value must be > 0 or None; got {clip_value}.")
        for argument, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= value < 1:
                raise ValueError(f"{argument} must be in [0, 1); got {value}.")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0; got {epsilon}.")
        self.clip_value = None if clip_value is None else float(clip_value)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.no_decay_names = tuple(no_decay_names)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def in_decayed_group(self, variable) -> bool:
        """Whether `variable` is in the decayed (and clipped) group: its name is not in `no_decay_names`."""
        # Under the TensorFlow backend the variable seen in `update_step` can be the backing tf.Variable,
        # named "layer/name:0", and under MirroredStrategy a replica's copy "layer/name/replica_1:0": compare
        # the last path component of the name without the replica suffix (else replica 1 alone would decay
        # biases and codebooks and the replicas would drift apart).
        short_name = _REPLICA_SUFFIX.sub("", variable.name.split(":")[0]).rsplit("/", 1)[-1]
        return short_name not in self.no_decay_names

    def _apply_weight_decay(self, variables):
        # The decay is part of `update_step` (optax adds `wd * w` to the Adam direction, then scales by lr).
        return

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        decayed = self.in_decayed_group(variable)
        if decayed and self.clip_value is not None:
            gradient = ops.clip(gradient, -self.clip_value, self.clip_value)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        momentum = self._momentums[self._get_variable_index(variable)]
        velocity = self._velocities[self._get_variable_index(variable)]
        # m = b1 m + (1 - b1) g and v = b2 v + (1 - b2) g^2 (optax's `update_moment`).
        new_momentum = (1.0 - beta_1) * gradient + beta_1 * momentum
        new_velocity = (1.0 - beta_2) * ops.square(gradient) + beta_2 * velocity
        self.assign(momentum, new_momentum)
        self.assign(velocity, new_velocity)
        m_hat = new_momentum / (1.0 - ops.power(beta_1, step))
        v_hat = new_velocity / (1.0 - ops.power(beta_2, step))
        direction = m_hat / (ops.sqrt(v_hat) + ops.cast(self.epsilon, dtype))
        if decayed and self.weight_decay:
            direction = direction + ops.cast(self.weight_decay, dtype) * variable
        self.assign_sub(variable, lr * direction)

    def get_config(self):
        config = super().get_config()
        for name in ("clipvalue", "clipnorm", "global_clipnorm"):
            config.pop(name, None)
        config.update(
            {
                "clip_value": self.clip_value,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "no_decay_names": list(self.no_decay_names),
            }
        )
        return config


def build_optimizer(
    *,
    learning_rate: float,
    weight_decay: float,
    clip_value: float | None = 1.0,
    no_decay_names: Sequence[str] = NO_DECAY_VARIABLE_NAMES,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
) -> DecoupledWeightDecayAdam:
    """The paper's optimizer: optax-style AdamW with decay and clipping on the decayed group only.

    Args:
        learning_rate: Adam step size (each model's default is in `models.catalogue`).
        weight_decay: decoupled decay factor; each step subtracts `learning_rate * weight_decay * w` from
            every decayed weight (each model's default is in `models.catalogue`). 0 gives plain Adam.
        clip_value: the decayed group's gradients are clipped element-wise to `[-clip_value, clip_value]`
            before Adam (the reference: 1.0, for the autoencoders and the GANs); None disables clipping.
        no_decay_names: variable names that get neither decay nor clipping (biases, instance-norm offsets
            and codebook values by default).
        beta_1, beta_2: Adam's moment decay rates (the GANs use 0 and 0.9).
        epsilon: added to `sqrt(v_hat)` after bias correction (optax's 1e-8).

    Returns:
        A `DecoupledWeightDecayAdam`.
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0; got {learning_rate}.")
    return DecoupledWeightDecayAdam(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        clip_value=clip_value,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        no_decay_names=no_decay_names,
    )


def decayed_variables(optimizer: DecoupledWeightDecayAdam, variables) -> list:
    """The subset of `variables` that `optimizer` applies weight decay to (for tests and logs)."""
    return [v for v in variables if optimizer.weight_decay and optimizer.in_decayed_group(v)]
