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
from keras_latentquant.models.autoencoders import DEFAULT_WEIGHT_DECAY, build_autoencoder

__all__ = ["ModelSpec", "MODELS", "OPTION_DEFAULTS", "build_model", "get_model_spec"]

# Model options and their defaults (paper values where the paper gives one). A model reads the ones it
# needs; the trainer exposes each as a flag of the same name.
OPTION_DEFAULTS: dict[str, Any] = {
    # QLAE (paper section 1)
    "num_values": 10,
    "quantization_weight": 0.01,
    "commitment_weight": 0.01,
    # VAE family: KL weight (1: VAE; > 1: beta-VAE), beta-TCVAE total-correlation weight and the
    # dataset size its minibatch-weighted-sampling estimator needs.
    "beta": None,
    "total_correlation_weight": 6.0,
    "dataset_size": None,
    # BioAE: activity energy weight (the weight energy is the decoupled weight decay).
    "activity_weight": 0.1,
    # VQ-VAE: one shared codebook of vq_num_codes vectors of vq_vector_dim; EMA updates; dead codes.
    "vq_num_codes": 64,
    "vq_vector_dim": 2,
    "vq_ema": False,
    "vq_dead_code_threshold": 0.0,
    # FSQ: levels per latent dimension (an int for all).
    "fsq_levels": 10,
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


def _gaussian_posterior(beta_default: float, with_total_correlation: bool):
    def make(num_latents: int, options: dict, image_shape):
        from keras_latentquant.layers.gaussian_posterior import GaussianPosterior

        if with_total_correlation and not options["dataset_size"]:
            raise ValueError(
                "beta_tcvae needs dataset_size (the number of training examples) for its "
                "minibatch-weighted-sampling estimator; the trainer sets it from the dataset."
            )
        return GaussianPosterior(
            beta=beta_default if options["beta"] is None else options["beta"],
            total_correlation_weight=options["total_correlation_weight"] if with_total_correlation else 0.0,
            dataset_size=options["dataset_size"] if with_total_correlation else None,
            loss_scale=pixel_scale(image_shape),
            name="bottleneck",
        )

    return make


def _ard_gaussian_posterior(num_latents: int, options: dict, image_shape):
    from keras_latentquant.layers.ard_gaussian_posterior import ARDGaussianPosterior

    return ARDGaussianPosterior(
        beta=1.0 if options["beta"] is None else options["beta"], loss_scale=pixel_scale(image_shape),
        name="bottleneck",
    )


def _nonnegative_latents(num_latents: int, options: dict, image_shape):
    from keras_latentquant.layers.nonnegative_latents import NonNegativeLatents

    return NonNegativeLatents(
        activity_weight=options["activity_weight"], loss_scale=pixel_scale(image_shape), name="bottleneck"
    )


def _vector_quantization(num_latents: int, options: dict, image_shape):
    from keras_latentquant.layers.vector_quantization import VectorQuantization

    return VectorQuantization(
        num_codes=options["vq_num_codes"],
        vector_dim=options["vq_vector_dim"],
        ema=options["vq_ema"],
        dead_code_threshold=options["vq_dead_code_threshold"],
        name="bottleneck",
    )


def _finite_scalar_quantization(num_latents: int, options: dict, image_shape):
    from keras_latentquant.layers.finite_scalar_quantization import FiniteScalarQuantization

    return FiniteScalarQuantization(levels=options["fsq_levels"], name="bottleneck")


_QLAE_OPTIONS = ("num_values", "quantization_weight", "commitment_weight")

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("qlae", "quantized-latent autoencoder (latent quantization + weight decay 0.1)",
                  _latent_quantization, default_weight_decay=DEFAULT_WEIGHT_DECAY["qlae"], options=_QLAE_OPTIONS),
        ModelSpec("ae", "plain autoencoder: continuous latents, no weight decay",
                  _no_bottleneck, default_weight_decay=DEFAULT_WEIGHT_DECAY["ae"]),
        # The paper's ablations: each ingredient of QLAE alone.
        ModelSpec("qlae_no_weight_decay", "ablation: latent quantization without weight decay",
                  _latent_quantization, default_weight_decay=0.0, options=_QLAE_OPTIONS),
        ModelSpec("ae_weight_decay", "ablation: weight decay 0.1 without quantization",
                  _no_bottleneck, default_weight_decay=0.1),
        ModelSpec("vae", "VAE: diagonal Gaussian posterior, KL to N(0, I)",
                  _gaussian_posterior(1.0, False), encoder_outputs_per_latent=2, options=("beta",)),
        ModelSpec("beta_vae", "beta-VAE: VAE with the KL weighted by beta (default 4)",
                  _gaussian_posterior(4.0, False), encoder_outputs_per_latent=2, options=("beta",)),
        ModelSpec("beta_tcvae", "beta-TCVAE: total-correlation penalty, minibatch-weighted sampling",
                  _gaussian_posterior(1.0, True), encoder_outputs_per_latent=2,
                  options=("total_correlation_weight", "dataset_size")),
        ModelSpec("ard_vae", "ARD-VAE: prior variances estimated from the data switch unused axes off",
                  _ard_gaussian_posterior, encoder_outputs_per_latent=2, options=("beta",)),
        ModelSpec("bioae", "BioAE: non-negative latents, activity energy, weight energy (decay 0.01)",
                  _nonnegative_latents, default_weight_decay=0.01, options=("activity_weight",)),
        ModelSpec("vqvae", "VQ-VAE: one shared codebook of vectors for every latent group",
                  _vector_quantization,
                  options=("vq_num_codes", "vq_vector_dim", "vq_ema", "vq_dead_code_threshold")),
        ModelSpec("fsq", "finite scalar quantization: fixed per-dimension grid, weight decay 0.1",
                  _finite_scalar_quantization, default_weight_decay=0.1, options=("fsq_levels",)),
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
        architecture: `"paper"`, `"paper_small"` or `"fast"` encoder/decoder.
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
    # Factories name their layer "bottleneck" (QLAE's keeps "latent_quantization") at construction:
    # a layer's metric names are fixed then.
    bottleneck = spec.make_bottleneck(num_latents, merged, tuple(image_shape))
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
