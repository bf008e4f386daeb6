"""Autoencoder objectives as functional models: `image -> encoder -> bottleneck -> decoder -> logits`.

Every autoencoder of the library (QLAE, the AE baseline, and the baselines the paper compares with) is
this one graph with a different *bottleneck* layer between encoder and decoder: `LatentQuantization`
for QLAE (paper section 3), none for AE, a Gaussian posterior for the VAE family, a vector quantizer for
VQ-VAE. A bottleneck adds its own loss terms with `add_loss`; the reconstruction loss is the per-pixel
binary cross-entropy of the logits; the optimizer rule is `optimizers.build_optimizer`; each model's defaults are in `models.catalogue`. So
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
from keras_latentquant.optimizers import build_optimizer

__all__ = [
    "build_autoencoder",
    "compile_autoencoder",
    "decoder_latents",
    "encode",
    "get_bottleneck",
    "get_quantizer",
]


def build_autoencoder(
    bottleneck: keras.layers.Layer | None,
    image_shape: Sequence[int] = (64, 64, 1),
    num_latents: int = 10,
    encoder_output_dim: int | None = None,
    architecture: str = "paper",
    name: str = "autoencoder",
    model_class: type = keras.Model,
) -> keras.Model:
    """Builds `image -> encoder -> bottleneck -> decoder -> pixel logits` (uncompiled; `compile_autoencoder`).

    Args:
        bottleneck: a layer from encoder outputs to the `num_latents` latents the decoder reads, adding
            its loss terms with `add_loss`; None passes the encoder outputs straight through.
        image_shape: `(height, width, channels)` of the images, pixel values in [0, 1].
        num_latents: width of the decoder's input.
        encoder_output_dim: width of the encoder's head (default `num_latents`; `2 * num_latents` for a
            Gaussian posterior's means and log-variances).
        architecture: `"paper"`, `"paper_small"` or `"fast"` encoder/decoder (see `build_encoder`).
        name: model name.
        model_class: the functional model's class (a `keras.Model` subclass with its own train step, such as
            `models.factorqvae.FactorQVAE`, or `keras.Model`).

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
    return model_class(images, decoder(latents), name=name)


def compile_autoencoder(
    model: keras.Model,
    learning_rate: float,
    weight_decay: float,
    clip_value: float | None = 1.0,
    jit_compile: bool | str = False,
) -> keras.Model:
    """Compiles an autoencoder with the paper's optimizer rule (`optimizers.build_optimizer`) and the
    per-pixel binary cross-entropy of its logits.

    Args:
        model: from `build_autoencoder`.
        learning_rate: Adam learning rate.
        weight_decay: decoupled weight decay on kernels (not biases or codebooks).
        clip_value: element-wise gradient clipping of the decayed group (the reference's 1.0).
        jit_compile: passed to `Model.compile`.

    Returns:
        `model`, compiled.
    """
    optimizer = build_optimizer(learning_rate=learning_rate, weight_decay=weight_decay, clip_value=clip_value)
    if model.dtype_policy.name == "mixed_float16":
        # Wrapped here rather than by `Model.compile`, so the saved compile config holds the wrapper: a loaded
        # Functional model's own policy is float32 (Keras does not save it), and `compile_from_config` would
        # otherwise build a bare optimizer and skip the saved state, loss scale included.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss=ImageBinaryCrossentropy(),
        jit_compile=jit_compile,
    )
    return model


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
