"""Reconstruction quality of autoencoders: peak signal-to-noise ratio (PSNR).

For an image x with reconstruction x' and pixel range [0, MAX]:

    MSE  = mean over pixels and channels of (x - x')^2
    PSNR = 10 log10(MAX^2 / MSE)   (decibels)

`psnr` averages the per-image PSNR over the batch (the mean of the logs, not the log of the mean MSE).
Identical images have MSE = 0 and an infinite PSNR; the MSE is floored at ``1e-10 * MAX^2`` so that such
images score a finite 100 dB whatever MAX is.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["PSNR_MSE_FLOOR", "per_image_psnr", "psnr"]

# Relative MSE floor: PSNR is capped at 10 log10(1 / 1e-10) = 100 dB.
PSNR_MSE_FLOOR = 1e-10


def per_image_psnr(
    images: npt.ArrayLike, reconstructions: npt.ArrayLike, max_value: float = 1.0
) -> npt.NDArray[np.float64]:
    """PSNR of each image of a batch.

    Args:
        images: (N, ...) batch of images (e.g. (N, H, W, C)); the first axis indexes images.
        reconstructions: reconstructions of the same shape as `images`.
        max_value: the largest possible pixel value (1.0 for images in [0, 1], 255 for uint8).

    Returns:
        (N,) float64 PSNR in decibels, at most 100 dB (identical images).

    Raises:
        ValueError: shape mismatch, fewer than 2 axes, an empty batch, non-finite values, or
            max_value <= 0.
    """
    image_array = np.asarray(images, dtype=np.float64)
    reconstruction_array = np.asarray(reconstructions, dtype=np.float64)
    if image_array.shape != reconstruction_array.shape:
        raise ValueError(
            "`images` and `reconstructions` must have the same shape; got "
            f"{image_array.shape} and {reconstruction_array.shape}."
        )
    if image_array.ndim < 2:
        raise ValueError(
            "`images` must be a batch of shape (num_images, ...) with at least 2 axes; got shape "
            f"{image_array.shape}."
        )
    if image_array.shape[0] == 0 or image_array[0].size == 0:
        raise ValueError(f"`images` must not be empty; got shape {image_array.shape}.")
    if not (np.isfinite(max_value) and max_value > 0):
        raise ValueError(f"`max_value` must be a positive finite number; got {max_value}.")
    if not (np.isfinite(image_array).all() and np.isfinite(reconstruction_array).all()):
        raise ValueError("`images` and `reconstructions` must hold finite values (no NaN or inf).")

    pixel_axes = tuple(range(1, image_array.ndim))
    # MSE_n = mean_pixels (x_n - x'_n)^2, floored so identical images give a finite PSNR.
    mse = np.mean(np.square(image_array - reconstruction_array), axis=pixel_axes)
    mse = np.maximum(mse, PSNR_MSE_FLOOR * max_value**2)
    # PSNR_n = 10 log10(MAX^2 / MSE_n)
    return 10.0 * np.log10(max_value**2 / mse)


def psnr(images: npt.ArrayLike, reconstructions: npt.ArrayLike, max_value: float = 1.0) -> float:
    """Mean over images of the per-image PSNR (decibels).

    Args:
        images: (N, ...) batch of images; the first axis indexes images.
        reconstructions: reconstructions of the same shape as `images`.
        max_value: the largest possible pixel value.

    Returns:
        The mean PSNR in decibels (at most 100 dB).

    Example:
        >>> x = np.zeros((2, 4, 4, 1))
        >>> round(psnr(x, x + 0.1), 6)
        20.0
    """
    return float(np.mean(per_image_psnr(images, reconstructions, max_value)))
