"""Every trainable model by name: its bottleneck, encoder head width and default weight decay.

One builder (`build_model`) turns a name and options into a compiled model, through
`autoencoders.build_autoencoder`, so every model shares the encoders, decoders, optimizer rule and
`model.fit` of the slice; a new baseline is a new bottleneck layer and one entry here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import keras
import numpy as np

from keras_latentquant.layers import LatentQuantization
from keras_latentquant.models.autoencoders import build_autoencoder

__all__ = ["ModelSpec", "MODELS", "OPTION_DEFAULTS", "build_model", "get_model_spec"]

# Model options and their defaults (paper values where the paper gives one). A model reads the ones it
# needs; the trainer exposes each as a flag of the same name.
OPTION_DEFAULTS: dict[str, Any] = {
    "num_values": 10,
    "quantization_weight": 0.01,
    "commitment_weight": 0.01,
}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one model.

    Attributes:
        name: registry name (the trainer's `--model`).
        description: one line for `--help` and tables.
        make_bottleneck: `(num_latents, options, image_shape) -> layer or None`. Loss terms that are
            per image (a KL in nats, say) must be scaled by `1 / prod(image_shape)` to match the
            per-pixel reconstruction loss; `pixel_scale(image_shape)` gives it.
        encoder_outputs_per_latent: encoder head width per latent (2 for means and log-variances).
        default_weight_decay: decoupled weight decay when the user sets none.
        options: the option names it reads (documentation, and the trainer's per-model help).
    """

    name: str
    description: str
    make_bottleneck: Callable[[int, dict, tuple], keras.layers.Layer | None]
    encoder_outputs_per_latent: int = 1
    default_weight_decay: float = 0.0
    options: tuple[str, ...] = ()


def pixel_scale(image_shape: Sequence[int]) -> float:
    """1 / number of pixel values: turns a per-image loss into the units of the per-pixel BCE."""
    return 1.0 / float(np.prod(image_shape))


def _no_bottleneck(num_latents: int, options: dict, image_shape) -> None:
    return None


def _latent_quantization(num_latents: int, options: dict, image_shape) -> LatentQuantization:
    return LatentQuantization(
        num_values=options["num_values"],
        quantization_weight=options["quantization_weight"],
        commitment_weight=options["commitment_weight"],
        name="latent_quantization",
    )


_QLAE_OPTIONS = ("num_values", "quantization_weight", "commitment_weight")

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("qlae", "quantized-latent autoencoder (latent quantization + weight decay 0.1)",
                  _latent_quantization, default_weight_decay=0.1, options=_QLAE_OPTIONS),
        ModelSpec("ae", "plain autoencoder: continuous latents, no weight decay",
                  _no_bottleneck),
        # The paper's ablations: each ingredient of QLAE alone.
        ModelSpec("qlae_no_weight_decay", "ablation: latent quantization without weight decay",
                  _latent_quantization, default_weight_decay=0.0, options=_QLAE_OPTIONS),
        ModelSpec("ae_weight_decay", "ablation: weight decay 0.1 without quantization",
                  _no_bottleneck, default_weight_decay=0.1),
    ]
}


def get_model_spec(name: str) -> ModelSpec:
    """Looks a model up by name; ValueError lists the registered names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}. Registered models: {', '.join(MODELS)}.") from None


def build_model(
    name: str,
    image_shape: Sequence[int] = (64, 64, 1),
    num_latents: int = 10,
    architecture: str = "paper",
    learning_rate: float = 1e-3,
    weight_decay: float | None = None,
    clip_value: float | None = 1.0,
    jit_compile: bool | str = False,
    compile: bool = True,
    **options,
) -> keras.Model:
    """Builds (and by default compiles) a registered model.

    Args:
        name: registered model name (see `MODELS`).
        image_shape: `(height, width, channels)` of the images.
        num_latents: latent dimensions the decoder reads.
        architecture: `"paper"` or `"small"` encoder/decoder.
        learning_rate: Adam learning rate.
        weight_decay: decoupled weight decay; None takes the model's default.
        clip_value: element-wise gradient clipping.
        jit_compile: passed to `Model.compile`.
        compile: compile the model.
        **options: model options (see `OPTION_DEFAULTS`); options a model does not read are ignored.

    Returns:
        A functional `keras.Model` from images to pixel logits, named after the model.
    """
    spec = get_model_spec(name)
    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown model options {unknown}; known options: {sorted(OPTION_DEFAULTS)}.")
    merged = {**OPTION_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    bottleneck = spec.make_bottleneck(num_latents, merged, tuple(image_shape))
    if bottleneck is not None and bottleneck.name != "latent_quantization":
        bottleneck.name = "bottleneck"
    return build_autoencoder(
        bottleneck,
        image_shape=image_shape,
        num_latents=num_latents,
        encoder_output_dim=spec.encoder_outputs_per_latent * num_latents,
        architecture=architecture,
        learning_rate=learning_rate,
        weight_decay=spec.default_weight_decay if weight_decay is None else weight_decay,
        clip_value=clip_value,
        compile=compile,
        jit_compile=jit_compile,
        name=name,
    )
