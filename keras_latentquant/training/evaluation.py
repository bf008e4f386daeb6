"""Evaluation of a trained autoencoder on held-out samples: InfoMEC of its latents and PSNR.

QLAE latents are evaluated as discrete codes (plug-in mutual information), AE latents as continuous
values (k-NN estimator), as the paper does for quantized and continuous representations.
"""

from __future__ import annotations

import keras
import numpy as np

from keras_latentquant.metrics import compute_infomec, psnr
from keras_latentquant.models.autoencoders import encode

__all__ = ["evaluate_autoencoder", "reconstruct"]


def reconstruct(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Reconstructions in [0, 1]: the sigmoid of the model's pixel logits."""
    logits = model.predict(images, batch_size=batch_size, verbose=0)
    return 1.0 / (1.0 + np.exp(-logits.astype("float64")))


def evaluate_autoencoder(
    model: keras.Model, images: np.ndarray, factors: np.ndarray, batch_size: int = 256
) -> dict:
    """InfoM, InfoE, InfoC (and the NMI matrix) of the model's latents, and reconstruction PSNR.

    Args:
        model: a QLAE or AE from `keras_latentquant.models`.
        images: held-out float images `(N, H, W, C)` in [0, 1].
        factors: their integer factor labels `(N, K)`.
        batch_size: inference batch size.

    Returns:
        Dict with floats `infom`, `infoe`, `infoc`, `psnr`, the lists `nmi` (K x d) and `active` (d),
        and `latents` = "codes" or "continuous" saying which latents were scored.
    """
    latents = encode(model, images, batch_size=batch_size)
    if "codes" in latents:
        scored, discrete, kind = latents["codes"], True, "codes"
    else:
        scored, discrete, kind = latents["continuous"], False, "continuous"
    result = compute_infomec(factors, scored, discrete_latents=discrete)
    reconstructions = reconstruct(model, images, batch_size=batch_size)
    return {
        **result.as_dict(),
        "psnr": float(psnr(images, reconstructions)),
        "nmi": np.round(result.nmi, 4).tolist(),
        "active": result.active.tolist(),
        "latents": kind,
    }
