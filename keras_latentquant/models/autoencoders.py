"""Autoencoder objectives: QLAE (quantized latents) and the plain AE baseline, as functional models.

QLAE (paper section 3): `image -> encoder -> LatentQuantization -> decoder -> pixel logits`, trained on
per-image binary cross-entropy plus the quantizer's 0.01 * quantization + 0.01 * commitment losses,
with AdamW weight decay 0.1 on kernels. AE: the same without the quantizer (continuous latents) and, by
default, without weight decay: the paper's ablations add each ingredient separately.

The returned model is functional, with sub-models named `encoder` and `decoder` and (QLAE) a quantizer
layer named `latent_quantization`, so each part can be pulled out (`model.get_layer("encoder")`) and
exported on its own.
"""

from __future__ import annotations

from typing import Sequence

import keras

from keras_latentquant.layers import LatentQuantization
from keras_latentquant.models.decoders import build_decoder
from keras_latentquant.models.encoders import build_encoder
from keras_latentquant.models.losses import ImageBinaryCrossentropy
from keras_latentquant.training.optimizers import build_optimizer

__all__ = ["build_qlae", "build_ae", "encode", "MODEL_BUILDERS", "DEFAULT_WEIGHT_DECAY"]

# Paper defaults per model: QLAE relies on strong decoupled weight decay, the AE baseline has none.
DEFAULT_WEIGHT_DECAY = {"qlae": 0.1, "ae": 0.0}


def build_qlae(
    image_shape: Sequence[int] = (64, 64, 1),
    num_latents: int = 10,
    num_values: int | Sequence[int] = 10,
    architecture: str = "paper",
    value_range: Sequence[float] = (-0.5, 0.5),
    learnable_codebook: bool = True,
    quantization_weight: float = 0.01,
    commitment_weight: float = 0.01,
    learning_rate: float = 1e-3,
    weight_decay: float = DEFAULT_WEIGHT_DECAY["qlae"],
    clip_value: float | None = 1.0,
    compile: bool = True,
    name: str = "qlae",
) -> keras.Model:
    """Builds (and by default compiles) a quantized-latent autoencoder.

    Args:
        image_shape: `(height, width, channels)` of the images, pixel values in [0, 1].
        num_latents: number of latent dimensions `d` (paper: twice the number of factors).
        num_values: codebook values per dimension (int or one per dimension; paper: 10).
        architecture: `"paper"` or `"small"` encoder/decoder (see `build_encoder`).
        value_range: range of the evenly spaced initial codebook values.
        learnable_codebook: False freezes the codebook at its initial grid.
        quantization_weight: weight of the codebook loss (paper 0.01).
        commitment_weight: weight of the commitment loss (paper 0.01).
        learning_rate: Adam learning rate (paper 1e-3).
        weight_decay: decoupled weight decay on kernels (paper 0.1 for QLAE).
        clip_value: element-wise gradient clipping (paper 1.0).
        compile: compile with the optimizer rule and the per-image BCE loss.
        name: model name.

    Returns:
        A functional `keras.Model` from images to pixel logits.

    Example:

    >>> model = build_qlae(num_latents=10, architecture="small")
    >>> model.fit(images, images, batch_size=64, epochs=1)
    """
    encoder = build_encoder(image_shape=image_shape, latent_dim=num_latents, architecture=architecture)
    decoder = build_decoder(latent_dim=num_latents, image_shape=image_shape, architecture=architecture)
    quantizer = LatentQuantization(
        num_values=num_values,
        value_range=value_range,
        learnable_codebook=learnable_codebook,
        quantization_weight=quantization_weight,
        commitment_weight=commitment_weight,
        name="latent_quantization",
    )
    images = keras.Input(tuple(image_shape), name="image")
    logits = decoder(quantizer(encoder(images)))
    model = keras.Model(images, logits, name=name)
    if compile:
        _compile(model, learning_rate, weight_decay, clip_value)
    return model


def build_ae(
    image_shape: Sequence[int] = (64, 64, 1),
    num_latents: int = 10,
    architecture: str = "paper",
    learning_rate: float = 1e-3,
    weight_decay: float = DEFAULT_WEIGHT_DECAY["ae"],
    clip_value: float | None = 1.0,
    compile: bool = True,
    name: str = "ae",
) -> keras.Model:
    """Builds (and by default compiles) the plain autoencoder baseline: QLAE without the quantizer.

    Args:
        image_shape: `(height, width, channels)` of the images, pixel values in [0, 1].
        num_latents: number of continuous latent dimensions.
        architecture: `"paper"` or `"small"` encoder/decoder.
        learning_rate: Adam learning rate.
        weight_decay: decoupled weight decay on kernels (default 0: the AE baseline).
        clip_value: element-wise gradient clipping.
        compile: compile with the optimizer rule and the per-image BCE loss.
        name: model name.

    Returns:
        A functional `keras.Model` from images to pixel logits.
    """
    encoder = build_encoder(image_shape=image_shape, latent_dim=num_latents, architecture=architecture)
    decoder = build_decoder(latent_dim=num_latents, image_shape=image_shape, architecture=architecture)
    images = keras.Input(tuple(image_shape), name="image")
    model = keras.Model(images, decoder(encoder(images)), name=name)
    if compile:
        _compile(model, learning_rate, weight_decay, clip_value)
    return model


MODEL_BUILDERS = {"qlae": build_qlae, "ae": build_ae}


def _compile(model, learning_rate, weight_decay, clip_value):
    model.compile(
        optimizer=build_optimizer(learning_rate=learning_rate, weight_decay=weight_decay, clip_value=clip_value),
        loss=ImageBinaryCrossentropy(),
    )


def get_quantizer(model: keras.Model) -> LatentQuantization | None:
    """The model's `LatentQuantization` layer, or None for a model without one."""
    for layer in model.layers:
        if isinstance(layer, LatentQuantization):
            return layer
    return None


def encode(model: keras.Model, images, batch_size: int = 256) -> dict:
    """Latents of `images` under an autoencoder built here.

    Args:
        model: a model from `build_qlae` or `build_ae`.
        images: float array `(N, H, W, C)` in [0, 1].
        batch_size: encoding batch size.

    Returns:
        Dict of NumPy arrays: `continuous` (encoder outputs, N x d); for a QLAE also `quantized`
        (codebook values) and `codes` (int32 code indices).
    """
    continuous = model.get_layer("encoder").predict(images, batch_size=batch_size, verbose=0)
    result = {"continuous": continuous}
    quantizer = get_quantizer(model)
    if quantizer is not None:
        codes = keras.ops.convert_to_numpy(quantizer.encode_codes(continuous))
        result["codes"] = codes
        result["quantized"] = keras.ops.convert_to_numpy(quantizer.decode_codes(codes))
    return result
