"""Figures of a latent-space curve: decoded images along it, and ground-truth factors against position.

Rendered without a screen: the strip through `keras_latentquant.plotting` (Agg backend), the factor panels
on a pyplot-free `matplotlib.figure.Figure`.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from keras_latentquant import plotting
from keras_latentquant.interpret.curve import CurveFactors

__all__ = ["save_curve_strip", "save_factors_along_curve"]


def save_curve_strip(images: np.ndarray, positions, path: str, title: str | None = None) -> str:
    """Saves decoded images along the curve as one row, each labelled with its curve position.

    Args:
        images: `(num, H, W, C)` images in [0, 1] (`decode_curve`).
        positions: `num` curve positions of the images.
        path: output PNG path; its folder is created.
        title: optional title.

    Returns:
        The path written.
    """
    images = np.asarray(images)
    positions = np.asarray(positions, dtype=np.float64).ravel()
    if images.ndim != 4 or len(images) != len(positions):
        raise ValueError(
            f"images must be (num, H, W, C) with one position each; got images {images.shape} and "
            f"{len(positions)} positions."
        )
    return plotting.save_image_grid(
        images[None], path, column_labels=[f"{position:.1f}" for position in positions], title=title
    )


def save_factors_along_curve(factors: CurveFactors, path: str, title: str | None = None) -> str:
    """Saves one panel per factor: its value distribution in each position bin, with the bin means.

    The top panel is the histogram of positions. Each factor panel shows, per position bin (x), the
    share of the bin's samples taking each factor value (y, colour; columns sum to 1), the mean value
    per bin in red, and the NMI between binned position and the factor in the panel title.

    Args:
        factors: `factors_along_curve` result.
        path: output PNG path; its folder is created.
        title: optional figure title.

    Returns:
        The path written.
    """
    edges = factors.bin_edges
    centres = 0.5 * (edges[:-1] + edges[1:])
    num_panels = len(factors.factors) + 1
    # A Figure without pyplot: no global figure state, and it saves through Agg on any machine.
    figure = Figure(figsize=(8.0, 1.1 + 1.7 * num_panels), layout="constrained")
    axes = figure.subplots(num_panels, 1, sharex=True, squeeze=False)
    axes = axes[:, 0]
    axes[0].bar(centres, factors.bin_counts, width=np.diff(edges), color="0.5", edgecolor="white", linewidth=0.3)
    axes[0].set_ylabel("samples", fontsize=8)
    axes[0].set_title("positions along the curve", fontsize=9)
    for axis, profile in zip(axes[1:], factors.factors):
        values = profile.values.astype(np.float64)
        # Shares per bin: each column (position bin) of the image sums to 1; empty bins stay blank.
        totals = profile.counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(totals > 0, profile.counts / np.maximum(totals, 1), np.nan)
        image = axis.pcolormesh(
            edges, _value_edges(values), shares.T, cmap="viridis", vmin=0.0, vmax=1.0, shading="flat"
        )
        axis.plot(centres, profile.mean, color="red", linewidth=1.2, marker=".", markersize=3, label="mean")
        nmi = "undefined" if not np.isfinite(profile.nmi) else f"{profile.nmi:.3f}"
        axis.set_title(f"{profile.name}: NMI(position; {profile.name}) = {nmi}", fontsize=9)
        axis.set_ylabel(profile.name, fontsize=8)
        axis.tick_params(labelsize=7)
    if len(factors.factors):
        # One colour scale for every panel (all axes, so the panels keep one width and align).
        colorbar = figure.colorbar(image, ax=list(axes), fraction=0.025, pad=0.01)
        colorbar.set_label("share of the bin's samples", fontsize=8)
    axes[-1].set_xlabel("curve position")
    axes[-1].set_xlim(edges[0], edges[-1])
    if title:
        figure.suptitle(title, fontsize=10)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=90)
    return path


def _value_edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted values: midpoints between neighbours, half a gap beyond the ends."""
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    middle = 0.5 * (values[:-1] + values[1:])
    return np.concatenate([[2 * values[0] - middle[0]], middle, [2 * values[-1] - middle[-1]]])
