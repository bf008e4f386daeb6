"""Evaluation of a trained model on labelled images: InfoMEC (and optionally DCI, MIG) and PSNR.

Autoencoders and the InfoGANs alike: a GAN's representation is its encoder's latent estimate of real
images (`InfoGAN.encode_images`: QLInfoGAN's integer codes, InfoWGAN-GP's continuous estimate); PSNR
is defined for autoencoders only.

Each model's bottleneck says which representation is scored (`models.autoencoders.encode`): QLAE
latents as discrete codes (plug-in mutual information), AE latents as continuous values (k-NN
estimator), as the paper does for quantized and continuous representations. The trainer's
callback scores InfoMEC and PSNR at every interval; `python -m keras_latentquant.evaluate` adds DCI and
MIG through the same function.
"""

from __future__ import annotations

import time
from typing import Sequence

import keras
import numpy as np

from keras_latentquant.metrics import compute_infomec, psnr
from keras_latentquant.models.autoencoders import encode
from keras_latentquant.models.catalogue import MODELS

__all__ = [
    "evaluate_model", "evaluate_autoencoder", "reconstruct", "METRICS", "default_metrics", "is_autoencoder",
    "check_images",
]

METRICS = ("infomec", "dci", "mig", "psnr")


def check_images(images, image_shape=None, name: str = "images") -> np.ndarray:
    """`images` as a float array `(N, H, W, C)` of finite pixels in [0, 1], or a ValueError saying what is
    wrong (dtype, shape, which samples are NaN/inf, the range) and how to fix it.

    Args:
        images: the batch a model is asked to encode, reconstruct or be scored on.
        image_shape: the model's `(H, W, C)`; None skips the shape check.
        name: what the caller calls the batch, for the message.
    """
    images = np.asarray(images)
    if images.dtype.kind in "iub":
        raise ValueError(
            f"{name} are {images.dtype} (pixel values 0..{int(images.max()) if images.size else 0}); the models "
            f"take float pixels in [0, 1]: scale to [0, 1] float32 first, e.g. {name}.astype('float32') / 255."
        )
    if images.dtype.kind != "f":
        raise ValueError(f"{name} must be a float array of pixels in [0, 1]; got dtype {images.dtype}. "
                         "Convert them with np.asarray(..., dtype='float32').")
    if image_shape is not None and (images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape)):
        raise ValueError(
            f"{name} must have shape (N,) + {tuple(image_shape)} for this model; got {images.shape}. Resize "
            f"them to {tuple(image_shape)} (height, width, channels), or use a model trained on images of "
            "that shape."
        )
    finite = np.isfinite(images).reshape(len(images), -1).all(axis=1) if images.ndim else np.isfinite(images)
    if not np.all(finite):
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{name} hold NaN or inf pixels in {len(bad)} of {len(images)} samples (indices "
            f"{bad[:10].tolist()}{' ...' if len(bad) > 10 else ''}); drop or repair those samples, e.g. keep "
            f"{name}[np.isfinite({name}).reshape(len({name}), -1).all(axis=1)]."
        )
    if images.size and (images.min() < 0.0 or images.max() > 1.0):
        raise ValueError(
            f"{name} must hold pixel values in [0, 1]; got values in [{images.min():g}, {images.max():g}]. "
            "Scale to [0, 1] float32 first (divide 0..255 pixels by 255)."
        )
    return images


def _model_image_shape(model: keras.Model):
    shape = getattr(model, "image_shape", None)
    if shape is None and getattr(model, "inputs", None):
        shape = model.inputs[0].shape[1:]
    return None if shape is None else tuple(int(size) for size in shape)


def reconstruct(model: keras.Model, images: np.ndarray, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
    """Reconstructions in [0, 1]: the sigmoid of the model's pixel logits.

    Raises:
        ValueError: from `check_images` for integer, wrongly shaped, non-finite or out-of-range images.
    """
    images = check_images(images, _model_image_shape(model))
    logits = predict_logits(model, images, batch_size, verbose)
    return 1.0 / (1.0 + np.exp(-logits.astype("float64")))


#: Inputs up to this many rows go through one direct model call (`predict_logits`).
DIRECT_ROWS = 1024


def predict_logits(model: keras.Model, inputs: np.ndarray, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
    """`model`'s outputs for `inputs`: one direct call for up to `DIRECT_ROWS` rows, else `predict` in batches.

    Keras traces `predict` anew for each input shape; the few-row calls of a run's end (8 reconstructions, one
    traversal grid) would each trace it again and set off TensorFlow's retracing warning.
    """
    if len(inputs) > DIRECT_ROWS or verbose:
        return model.predict(inputs, batch_size=batch_size, verbose=verbose)
    return keras.ops.convert_to_numpy(model(inputs, training=False)).astype("float32")


def is_autoencoder(model: keras.Model) -> bool:
    """True for an autoencoder (images -> reconstruction logits), False for a GAN: the catalogue's family of a
    catalogued model (by its name), else whether it has a GAN's `encode_images`."""
    if model.name in MODELS:
        return MODELS[model.name].family == "autoencoder"
    return not hasattr(model, "encode_images")


def default_metrics(model: keras.Model) -> tuple[str, ...]:
    """What the trainer scores at each evaluation: InfoMEC, plus PSNR for an autoencoder."""
    return ("infomec", "psnr") if is_autoencoder(model) else ("infomec",)


def _encode(model, images, batch_size, verbose):
    if is_autoencoder(model):
        return encode(model, images, batch_size=batch_size, verbose=verbose)
    return model.encode_images(images, batch_size=batch_size, verbose=verbose)


def evaluate_model(
    model: keras.Model,
    images: np.ndarray,
    factors: np.ndarray,
    metrics: Sequence[str] | None = None,
    dci_importance: str = "gbt",
    batch_size: int = 256,
    verbose: int = 0,
) -> dict:
    """Disentanglement metrics of the model's latents and (autoencoders) reconstruction PSNR.

    Args:
        model: an autoencoder from `keras_latentquant.models` (QLAE, AE, baselines) or an `InfoGAN`.
        images: float images `(N, H, W, C)` in [0, 1].
        factors: their integer factor labels `(N, K)`.
        metrics: any of `infomec`, `dci`, `mig`, `psnr` (`psnr` for autoencoders only); None gives
            `default_metrics(model)`.
        dci_importance: DCI's importance measure, `gbt` (disentanglement_lib's), `sklearn_gbt`, `hist_gbt`
            or `linear` (`keras_latentquant.metrics.dci`).
        batch_size: inference batch size.
        verbose: 1 shows a Keras progress bar while encoding (reconstruction for PSNR runs silently).

    Returns:
        Dict with the requested floats (`infom`, `infoe`, `infoc`; `dci_d`, `dci_c`, `dci_i`; `mig`;
        `psnr`), for InfoMEC the lists `nmi` (K x d) and `active` (d), `latents` = "codes" or
        "continuous" saying which latents were scored, and `seconds` per metric.

    Raises:
        ValueError: images that are not float pixels in [0, 1] of the model's shape, or NaN/inf samples
            (the message lists their indices); factors without one row per image; unknown metrics.
    """
    images = check_images(images, _model_image_shape(model))
    factors = np.asarray(factors)
    if factors.ndim != 2 or len(factors) != len(images):
        raise ValueError(
            f"factors must have shape (N, K) with one row per image (N = {len(images)}); got {factors.shape}. "
            "Pass the factor labels of the same samples as the images."
        )
    metrics = default_metrics(model) if metrics is None else tuple(metrics)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"Unknown metrics {unknown}; valid: {list(METRICS)}.")
    if "psnr" in metrics and not is_autoencoder(model):
        raise ValueError(
            f"psnr needs an autoencoder; {model.name!r} is a GAN (no reconstruction). Leave psnr out of metrics."
        )
    seconds = {}
    start = time.time()
    encoded = _encode(model, images, batch_size, verbose)
    latents, discrete = encoded["latents"], encoded["discrete"]
    kind = "codes" if discrete else "continuous"
    seconds["encode"] = time.time() - start
    result: dict = {"latents": kind, "num_samples": int(len(images))}

    if "infomec" in metrics:
        start = time.time()
        infomec = compute_infomec(factors, latents, discrete_latents=discrete)
        result.update(infomec.as_dict())
        result["nmi"] = np.round(infomec.nmi, 4).tolist()
        result["active"] = infomec.active.tolist()
        seconds["infomec"] = time.time() - start
    if "dci" in metrics:
        from keras_latentquant.metrics.dci import compute_dci

        start = time.time()
        result.update(compute_dci(factors, latents.astype("float64"), importance=dci_importance).as_dict())
        seconds["dci"] = time.time() - start
    if "mig" in metrics:
        from keras_latentquant.metrics.mig import compute_mig

        start = time.time()
        result.update(compute_mig(factors, latents).as_dict())
        seconds["mig"] = time.time() - start
    if "psnr" in metrics:
        start = time.time()
        result["psnr"] = float(psnr(images, reconstruct(model, images, batch_size)))  # one bar: the encoding's
        seconds["psnr"] = time.time() - start
    result["seconds"] = {key: round(value, 2) for key, value in seconds.items()}
    return result


def evaluate_autoencoder(model, images, factors, metrics=("infomec", "psnr"), **kwargs) -> dict:
    """`evaluate_model` with the autoencoder default metrics (InfoMEC and PSNR)."""
    return evaluate_model(model, images, factors, metrics=metrics, **kwargs)
