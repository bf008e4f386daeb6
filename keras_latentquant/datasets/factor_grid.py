"""Fully crossed factor grids: factor indices <-> flat index of an image, row-major as the releases store them.

Shared by the procedural renderers (dSprites, Shapes3D): the flat index of factor indices
`(k_1, ..., k_K)` over sizes `(n_1, ..., n_K)` is `sum_i k_i * prod_{j > i} n_j`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["validate_factor_indices", "factor_indices_to_flat_index", "flat_index_to_factor_indices"]


def validate_factor_indices(factor_indices, names: Sequence[str], sizes: Sequence[int]) -> np.ndarray:
    """Checks an `[N, K]` integer array of factor indices against a grid; returns it as int64.

    Raises:
        ValueError: wrong shape or dtype, or an index outside its factor's range (named).
    """
    factor_indices = np.asarray(factor_indices)
    if factor_indices.ndim != 2 or factor_indices.shape[1] != len(names):
        raise ValueError(
            f"factor_indices must have shape [N, {len(names)}] (columns {tuple(names)}), "
            f"got shape {factor_indices.shape}."
        )
    if not np.issubdtype(factor_indices.dtype, np.integer):
        raise ValueError(f"factor_indices must be integers, got dtype {factor_indices.dtype}.")
    if factor_indices.size:
        bad = (factor_indices < 0) | (factor_indices >= np.asarray(sizes))
        if bad.any():
            column = int(np.argwhere(bad)[0, 1])
            raise ValueError(
                f"factor_indices column {column} ({names[column]}) must lie in "
                f"[0, {sizes[column]}), got values in "
                f"[{factor_indices[:, column].min()}, {factor_indices[:, column].max()}]."
            )
    return factor_indices.astype(np.int64, copy=False)


def factor_indices_to_flat_index(factor_indices, names: Sequence[str], sizes: Sequence[int]) -> np.ndarray:
    """int64 `[N]` flat indices in `[0, prod(sizes))` of `[N, K]` factor indices (validated)."""
    factor_indices = validate_factor_indices(factor_indices, names, sizes)
    return np.ravel_multi_index(tuple(factor_indices.T), tuple(sizes)).astype(np.int64)


def flat_index_to_factor_indices(flat_index, sizes: Sequence[int]) -> np.ndarray:
    """int64 `[N, K]` factor indices of `[N]` flat indices (the inverse; validated)."""
    flat_index = np.asarray(flat_index)
    total = int(np.prod(sizes))
    if flat_index.ndim != 1 or not np.issubdtype(flat_index.dtype, np.integer):
        raise ValueError(
            f"flat_index must be a 1-D integer array, got shape {flat_index.shape} and dtype "
            f"{flat_index.dtype}."
        )
    if flat_index.size and (flat_index.min() < 0 or flat_index.max() >= total):
        raise ValueError(
            f"flat_index values must lie in [0, {total}), got range [{flat_index.min()}, {flat_index.max()}]."
        )
    return np.stack(np.unravel_index(flat_index, tuple(sizes)), axis=1).astype(np.int64)


#: The configs of the procedural builders: name -> grid points drawn (None: the whole grid, in grid order). The
#: samples share seed 0, so each holds the smaller ones (`grid_selection`).
PROCEDURAL_SAMPLE_SIZES = {"full": None, "sample_50k": 50_000, "sample_10k": 10_000, "tiny": 2_000}


def grid_selection(num_images: int, num_examples: int | None, seed: int = 0) -> np.ndarray:
    """The flat grid indices a procedural config holds, in the order they are generated: `arange(num_images)`
    for the whole grid (`num_examples` None), else the first `num_examples` of a permutation seeded with `seed`.
    """
    if num_examples is None:
        return np.arange(num_images, dtype=np.int64)
    if not 0 < num_examples <= num_images:
        raise ValueError(f"num_examples must lie in [1, {num_images}], got {num_examples}.")
    return np.random.default_rng(seed).permutation(num_images)[:num_examples].astype(np.int64)
