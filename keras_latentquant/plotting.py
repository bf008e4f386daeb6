"""Figures people look at: reconstruction grids, latent traversals, NMI heatmaps.

Matplotlib with the non-interactive Agg backend, so figures render on machines without a screen.
"""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["image_montage", "save_reconstructions", "save_traversals", "save_image_grid", "save_nmi_heatmap"]


def _as_display(image: np.ndarray) -> np.ndarray:
    image = np.clip(np.asarray(image, dtype="float32"), 0.0, 1.0)
    return image[..., 0] if image.shape[-1] == 1 else image


def image_montage(images: np.ndarray, gap: int | None = None) -> np.ndarray:
    """The `(rows, columns, H, W, C)` images as one `(rows * H + (rows - 1) * gap, columns * W + ..., C)` array,
    cells in reading order, separated by white lines `gap` pixels wide (default `max(1, H // 16)`)."""
    images = np.clip(np.asarray(images, dtype="float32"), 0.0, 1.0)
    if images.ndim != 5:
        raise ValueError(f"images must have shape (rows, columns, H, W, C); got {images.shape}.")
    rows, columns, height, width, channels = images.shape
    gap = max(1, height // 16) if gap is None else gap
    canvas = np.ones((rows * height + (rows - 1) * gap, columns * width + (columns - 1) * gap, channels), "float32")
    for r in range(rows):
        for c in range(columns):
            top, left = r * (height + gap), c * (width + gap)
            canvas[top:top + height, left:left + width] = images[r, c]
    return canvas


def save_image_grid(
    images: np.ndarray,
    path: str,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    title: str | None = None,
    cell_size: float = 1.0,
) -> str:
    """Saves a grid of images (rows x columns x H x W x C, values in [0, 1]) as a PNG.

    One picture of the montage (`image_montage`) with the labels as ticks: a 10 x 10 traversal renders in about
    0.1 s, where one Matplotlib axes per image took about 2 s.

    Args:
        images: array of shape `(rows, columns, H, W, C)`.
        path: output PNG path; its folder is created.
        row_labels, column_labels: optional axis labels.
        title: optional figure title.
        cell_size: inches per image.

    Returns:
        The path written.
    """
    canvas = image_montage(images)
    rows, columns, height, width = np.shape(images)[:4]
    gap = max(1, height // 16)
    figure, axis = plt.subplots(figsize=(cell_size * columns + 0.8, cell_size * rows + 0.6))
    axis.imshow(_as_display(canvas), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    axis.set_xticks([c * (width + gap) + (width - 1) / 2 for c in range(columns)],
                    list(column_labels) if column_labels is not None else [""] * columns, fontsize=8)
    axis.set_yticks([r * (height + gap) + (height - 1) / 2 for r in range(rows)],
                    list(row_labels) if row_labels is not None else [""] * rows, fontsize=8)
    axis.xaxis.tick_top()
    axis.tick_params(length=0)
    for spine in axis.spines.values():
        spine.set_visible(False)
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


def save_nmi_heatmap(
    nmi: np.ndarray,
    path: str,
    source_names: Sequence[str] | None = None,
    active: Sequence[bool] | None = None,
    title: str | None = None,
) -> str:
    """Saves the sources x latents normalised mutual information matrix as an annotated heatmap.

    Args:
        nmi: `(K, d)` NMI values in [0, 1].
        path: output PNG path; its folder is created.
        source_names: K row labels (default `s0`...).
        active: d booleans; inactive latents are marked with a `*` in their column label.
        title: optional title (e.g. the InfoM/InfoC scores).

    Returns:
        The path written.
    """
    nmi = np.asarray(nmi, dtype="float64")
    if nmi.ndim != 2:
        raise ValueError(f"nmi must be a (sources, latents) matrix; got shape {nmi.shape}.")
    num_sources, num_latents = nmi.shape
    source_names = list(source_names) if source_names is not None else [f"s{i}" for i in range(num_sources)]
    if len(source_names) != num_sources:
        raise ValueError(f"{len(source_names)} source names for {num_sources} NMI rows.")
    columns = [f"z{j}" + ("" if active is None or active[j] else "*") for j in range(num_latents)]
    figure, axis = plt.subplots(figsize=(0.55 * num_latents + 2.2, 0.5 * num_sources + 1.4))
    image = axis.imshow(nmi, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(num_sources):
        for j in range(num_latents):
            # Dark text on the bright end of viridis, light text on the dark end.
            axis.text(j, i, f"{nmi[i, j]:.2f}", ha="center", va="center", fontsize=7,
                      color="black" if nmi[i, j] > 0.6 else "white")
    axis.set_xticks(range(num_latents), columns, fontsize=8)
    axis.set_yticks(range(num_sources), source_names, fontsize=8)
    axis.set_xlabel("latent" + ("  (* inactive)" if active is not None and not all(active) else ""))
    axis.set_ylabel("source")
    figure.colorbar(image, ax=axis, fraction=0.03, label="NMI")
    if title:
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
