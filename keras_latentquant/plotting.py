"""Figures people look at: reconstruction grids, latent traversals (NMI heatmaps come with later metrics).

Matplotlib with the non-interactive Agg backend, so figures render on machines without a screen.
"""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["save_reconstructions", "save_traversals", "save_image_grid"]


def _as_display(image: np.ndarray) -> np.ndarray:
    image = np.clip(np.asarray(image, dtype="float32"), 0.0, 1.0)
    return image[..., 0] if image.shape[-1] == 1 else image


def save_image_grid(
    images: np.ndarray,
    path: str,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    title: str | None = None,
    cell_size: float = 1.0,
) -> str:
    """Saves a grid of images (rows x columns x H x W x C, values in [0, 1]) as a PNG.

    Args:
        images: array of shape `(rows, columns, H, W, C)`.
        path: output PNG path; its folder is created.
        row_labels, column_labels: optional axis labels.
        title: optional figure title.
        cell_size: inches per image.

    Returns:
        The path written.
    """
    images = np.asarray(images)
    if images.ndim != 5:
        raise ValueError(f"images must have shape (rows, columns, H, W, C); got {images.shape}.")
    rows, columns = images.shape[:2]
    figure, axes = plt.subplots(
        rows, columns, figsize=(cell_size * columns + 0.8, cell_size * rows + 0.6), squeeze=False
    )
    for r in range(rows):
        for c in range(columns):
            axis = axes[r][c]
            axis.imshow(_as_display(images[r, c]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if c == 0 and row_labels is not None:
                axis.set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=8)
            if r == 0 and column_labels is not None:
                axis.set_title(column_labels[c], fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def save_reconstructions(images: np.ndarray, reconstructions: np.ndarray, path: str, title=None) -> str:
    """Saves originals (top row) above their reconstructions (bottom row).

    Args:
        images: `(N, H, W, C)` originals in [0, 1].
        reconstructions: `(N, H, W, C)` reconstructions in [0, 1].
        path: output PNG path.
        title: optional title.

    Returns:
        The path written.
    """
    if np.shape(images) != np.shape(reconstructions):
        raise ValueError(
            f"images and reconstructions differ in shape: {np.shape(images)} vs {np.shape(reconstructions)}."
        )
    grid = np.stack([images, reconstructions])
    return save_image_grid(grid, path, row_labels=["input", "output"], title=title)


def save_traversals(traversals: np.ndarray, path: str, row_labels=None, column_labels=None, title=None) -> str:
    """Saves a latent traversal grid: one row per latent dimension, one column per value.

    Args:
        traversals: `(num_latents, num_steps, H, W, C)` decoded images in [0, 1].
        path: output PNG path.
        row_labels, column_labels: optional labels (e.g. `z0`..., codebook values).
        title: optional title.

    Returns:
        The path written.
    """
    return save_image_grid(traversals, path, row_labels=row_labels, column_labels=column_labels, title=title)
