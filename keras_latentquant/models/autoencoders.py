"""Autoencoder objectives as functional models: `image -> encoder -> bottleneck -> decoder -> logits`.

Every autoencoder of the library (QLAE, the AE baseline, and the baselines the paper compares with) is
this one graph with a different *bottleneck* layer between encoder and decoder: `LatentQuantization`
for QLAE (paper section 3), none for AE, a Gaussian posterior for the VAE family, a vector quantizer for
VQ-VAE. A bottleneck adds its own loss terms with `add_loss`; the reconstruction loss is the per-pixel
binary cross-entropy of the logits; the optimizer rule is `training.optimizers.build_optimizer`. So
every model trains through the same `model.fit`.

The returned model has sub-models named `encoder` and `decoder` and, when there is one, a bottleneck
layer named `bottleneck` (`latent_quantization` for QLAE), so each part can be pulled out and exported.
A bottleneck may define `evaluation_latents(encoder_outputs) -> (latents, discrete)`, the
representation the disentanglement metrics score (QLAE: integer codes; VAE: posterior means).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from keras_latentquant.layers import LatentQuantization
from keras_latentquant.models.decoders import build_decoder
from keras_latentquant.models.encoders import build_encoder
from keras_latentquant.models.losses import ImageBinaryCrossentropy
from keras_latentquant.training.optimizers import build_optimizer

__all__ = [
    "build_autoencoder",
    "build_qlae",
    "build_ae",
    "decoder_latents",
    "encode",
    "get_bottleneck",
    "get_quantizer",
    "DEFAULT_WEIGHT_DECAY",
]

# Paper defaults per model: QLAE relies on strong decoupled weight decay, the AE baseline has none.
DEFAULT_WEIGHT_DECAY = {"qlae": 0.1, "ae": 0.0}


def build_autoencoder(
    bottleneck: keras.layers.Layer | None,
    image_shape: Sequence[int] = (64, 64, 1),
    num_latents: int = 10,
    encoder_output_dim: int | None = None,
    architecture: str = "paper",
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    clip_value: float | None = 1.0,
    compile: bool = True,
    jit_compile: bool | str = False,
    name: str = "autoencoder",
) -> keras.Model:
    """Builds (and by default compiles) `image -> encoder -> bottleneck -> decoder -> pixel logits`.

    Args:
        bottleneck: a layer from encoder outputs to the `num_latents` latents the decoder reads, adding
            its loss terms with `add_loss`; None passes the encoder outputs straight through.
        image_shape: `(height, width, channels)` of the images, pixel values in [0, 1].
        num_latents: width of the decoder's input.
        encoder_output_dim: width of the encoder's head (default `num_latents`; `2 * num_latents` for a
            Gaussian posterior's means and log-variances).
        architecture: `"paper"`, `"paper_small"` or `"fast"` encoder/decoder (see `build_encoder`).
        learning_rate: Adam learning rate (paper 1e-3).
        weight_decay: decoupled weight decay on kernels (not biases or codebooks).
        clip_value: element-wise gradient clipping (paper 1.0).
        compile: compile with the optimizer rule and the per-pixel BCE loss.
        jit_compile: passed to `Model.compile`.
        name: model name.

    Returns:
        A functional `keras.Model` from images to pixel logits.
    """
    encoder = build_encoder(
        image_shape=image_shape,
        latent_dim=num_latents,
        output_dim=encoder_output_dim,
        architecture=architecture,
    )
    decoder = build_decoder(latent_dim=num_latents, image_shape=image_shape, architecture=architecture)
    images = keras.Input(tuple(image_shape), name="image")
    encoded = encoder(images)
    latents = bottleneck(encoded) if bottleneck is not None else encoded
    model = keras.Model(images, decoder(latents), name=name)
    if compile:
        model.compile(
            optimizer=build_optimizer(learning_rate=learning_rate, weight_decay=weight_decay, clip_value=clip_value),
            loss=ImageBinaryCrossentropy(),
            jit_compile=jit_compile,
        )
    return model


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
    jit_compile: bool | str = False,
    name: str = "qlae",
) -> keras.Model:
    """Builds (and by default compiles) a quantized-latent autoencoder.

    Args:
        image_shape: `(height, width, channels)` of the images, pixel values in [0, 1].
        num_latents: number of latent dimensions `d` (paper: twice the number of factors).
        num_values: codebook values per dimension (int or one per dimension; paper: 10).
        architecture: `"paper"`, `"paper_small"` or `"fast"` encoder/decoder (see `build_encoder`).
        value_range: range of the evenly spaced initial codebook values.
        learnable_codebook: False freezes the codebook at its initial grid.
        quantization_weight: weight of the codebook loss (paper 0.01).
        commitment_weight: weight of the commitment loss (paper 0.01).
        learning_rate: Adam learning rate (paper 1e-3).
        weight_decay: decoupled weight decay on kernels (paper 0.1 for QLAE).
        clip_value: element-wise gradient clipping (paper 1.0).
        compile: compile with the optimizer rule and the per-pixel BCE loss.
        jit_compile: passed to `Model.compile`.
        name: model name.

    Returns:
        A functional `keras.Model` from images to pixel logits.

    Example:

    >>> model = build_qlae(num_latents=10, architecture="fast")
    >>> model.fit(images, images, batch_size=64, epochs=1)
    """
    quantizer = LatentQuantization(
        num_values=num_values,
        value_range=value_range,
        learnable_codebook=learnable_codebook,
        quantization_weight=quantization_weight,
        commitment_weight=commitment_weight,
        name="latent_quantization",
    )
    return build_autoencoder(
        quantizer, image_shape, num_latents, architecture=architecture, learning_rate=learning_rate,
        weight_decay=weight_decay, clip_value=clip_value, compile=compile, jit_compile=jit_compile, name=name,
    )


def build_ae(
    image_shape: Sequence[int] = (64, 64, 1),
    num_latents: int = 10,
    architecture: str = "paper",
    learning_rate: float = 1e-3,
    weight_decay: float = DEFAULT_WEIGHT_DECAY["ae"],
    clip_value: float | None = 1.0,
    compile: bool = True,
    jit_compile: bool | str = False,
    name: str = "ae",
) -> keras.Model:
    """Builds (and by default compiles) the plain autoencoder baseline: QLAE without the quantizer.

    Args:
        image_shape: `(height, width, channels)` of the images, pixel values in [0, 1].
        num_latents: number of continuous latent dimensions.
        architecture: `"paper"`, `"paper_small"` or `"fast"` encoder/decoder.
        learning_rate: Adam learning rate.
        weight_decay: decoupled weight decay on kernels (default 0: the AE baseline).
        clip_value: element-wise gradient clipping.
        compile: compile with the optimizer rule and the per-pixel BCE loss.
        jit_compile: passed to `Model.compile`.
        name: model name.

    Returns:
        A functional `keras.Model` from images to pixel logits.
    """
    return build_autoencoder(
        None, image_shape, num_latents, architecture=architecture, learning_rate=learning_rate,
        weight_decay=weight_decay, clip_value=clip_value, compile=compile, jit_compile=jit_compile, name=name,
    )


def get_bottleneck(model: keras.Model) -> keras.layers.Layer | None:
    """The layer between the model's `encoder` and `decoder`, or None for a plain AE."""
    for layer in model.layers:
        if layer.name not in ("encoder", "decoder") and not isinstance(layer, keras.layers.InputLayer):
            return layer
    return None


def get_quantizer(model: keras.Model) -> LatentQuantization | None:
    """The model's `LatentQuantization` layer, or None for a model without one."""
    bottleneck = get_bottleneck(model)
    return bottleneck if isinstance(bottleneck, LatentQuantization) else None


def decoder_latents(model: keras.Model, images, batch_size: int = 256) -> np.ndarray:
    """What the decoder reads for `images` at inference: the bottleneck's output with `training=False`
    (QLAE: codebook values; VAE: posterior means; AE: encoder outputs)."""
    outputs = model.get_layer("encoder").predict(images, batch_size=batch_size, verbose=0)
    bottleneck = get_bottleneck(model)
    if bottleneck is None:
        return outputs
    return np.concatenate(
        [keras.ops.convert_to_numpy(bottleneck(outputs[i : i + batch_size], training=False))
         for i in range(0, len(outputs), batch_size)]
    )


def encode(model: keras.Model, images, batch_size: int = 256, verbose: int = 0) -> dict:
    """Latents of `images` under an autoencoder built here.

    Args:
        model: a model from `build_autoencoder` (or `build_qlae` / `build_ae`).
        images: float array `(N, H, W, C)` in [0, 1].
        batch_size: encoding batch size.
        verbose: 1 shows a Keras progress bar.

    Returns:
        Dict of NumPy arrays: `encoder_outputs` (N x head width); `latents`, the representation the
        metrics score, with the bool `discrete` saying how to score it; for a QLAE also `continuous`
        (= encoder outputs), `codes` (int32 code indices) and `quantized` (codebook values).
    """
    outputs = model.get_layer("encoder").predict(images, batch_size=batch_size, verbose=verbose)
    result = {"encoder_outputs": outputs}
    bottleneck = get_bottleneck(model)
    if bottleneck is None:
        result.update(latents=outputs, discrete=False)
    elif hasattr(bottleneck, "evaluation_latents"):
        latents, discrete = bottleneck.evaluation_latents(outputs)
        result.update(latents=keras.ops.convert_to_numpy(latents), discrete=bool(discrete))
    else:
        raise TypeError(
            f"Bottleneck layer {bottleneck.name!r} ({type(bottleneck).__name__}) has no "
            "evaluation_latents(encoder_outputs) method, so its representation cannot be scored."
        )
    if isinstance(bottleneck, LatentQuantization):
        codes = result["latents"]  # evaluation_latents already gave the codes
        result.update(
            continuous=outputs, codes=codes, quantized=keras.ops.convert_to_numpy(bottleneck.decode_codes(codes))
        )
    result["latents"] = np.asarray(result["latents"])
    return result
