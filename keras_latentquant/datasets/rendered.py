"""The procedural datasets as NumPy arrays, rendered without TensorFlow or TFDS (Keras's JAX and PyTorch backends).

`rendered_arrays("procedural_shapes3d", "sample_50k")` returns the images (uint8) and factor indices (int32,
columns in the registry's `factor_names` order) of the grid points the TFDS builder's config of that name holds
(`factor_grid.PROCEDURAL_SAMPLE_SIZES`, `factor_grid.grid_selection`), rendered by the same functions
(`dsprites_render`, `shapes3d_render`), so pixel for pixel the builder's examples. What differs is the order: the
builder stores a sampled config in TFDS's hashed-key order, this module in the selection's order (a uniform
random permutation of the grid), so `train[-5000:]` here and there are different uniform samples of the same
grid points.

With `cache_dir` the arrays are rendered once and saved there (`<dataset>-<config>.images.npy` and
`.factors.npy`, each written under a temporary name and then renamed); later calls, other processes too, read
them memory-mapped. `processes > 1` renders in that many forked processes (Shapes3D: about 1.5 ms an image on
one core of this project's CPU machine, 75 s for `sample_50k`).
"""

from __future__ import annotations

import multiprocessing
import os

import numpy as np

from keras_latentquant.datasets import dsprites_render, factor_grid, shapes3d_render
from keras_latentquant.datasets.registry import get_dataset_spec

__all__ = ["RENDERERS", "rendered_arrays", "render_indices"]

#: Dataset name -> (render module, image function of factor indices `[N, K]`).
RENDERERS = {
    "procedural_dsprites": (dsprites_render, dsprites_render.render_dsprites),
    "procedural_shapes3d": (shapes3d_render, shapes3d_render.render_shapes3d),
}

# Images rendered per task when rendering in several processes.
_CHUNK = 2048


def render_indices(dataset: str, flat_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(images uint8 [N, H, W, C], factor indices int32 [N, K])` of flat grid indices of a procedural dataset."""
    module, render = _renderer(dataset)
    factors = module.flat_index_to_factor_indices(np.asarray(flat_indices, dtype=np.int64))
    return render(factors), factors.astype(np.int32)


def _render_chunk(task):
    dataset, flat_indices = task
    return render_indices(dataset, flat_indices)


def rendered_arrays(dataset: str, config_name: str = "sample_50k", cache_dir: str | None = None,
                    processes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A procedural config's `(images uint8 [N, H, W, C], factor indices int32 [N, K])` (see the module docstring).

    Args:
        dataset: `procedural_dsprites` or `procedural_shapes3d`.
        config_name: one of `factor_grid.PROCEDURAL_SAMPLE_SIZES` (`full`, `sample_50k`, `sample_10k`, `tiny`).
        cache_dir: folder to keep the rendered arrays in (None: render every time, keep nothing).
        processes: processes to render in (forked; 1 renders in this process).
    """
    module, _ = _renderer(dataset)
    if config_name not in factor_grid.PROCEDURAL_SAMPLE_SIZES:
        raise ValueError(f"Unknown config {config_name!r} of {dataset}; valid: "
                         f"{', '.join(factor_grid.PROCEDURAL_SAMPLE_SIZES)}.")
    paths = None
    if cache_dir:
        stem = os.path.join(cache_dir, f"{dataset}-{config_name}")
        paths = (f"{stem}.images.npy", f"{stem}.factors.npy")
        if all(os.path.exists(path) for path in paths):
            return np.load(paths[0], mmap_mode="r"), np.load(paths[1])
    flat = factor_grid.grid_selection(module.NUM_IMAGES, factor_grid.PROCEDURAL_SAMPLE_SIZES[config_name])
    tasks = [(dataset, flat[start:start + _CHUNK]) for start in range(0, len(flat), _CHUNK)]
    if processes > 1 and len(tasks) > 1:
        with multiprocessing.get_context("fork").Pool(min(processes, len(tasks))) as pool:
            parts = pool.map(_render_chunk, tasks)
    else:
        parts = [_render_chunk(task) for task in tasks]
    images = np.concatenate([part[0] for part in parts])
    factors = np.concatenate([part[1] for part in parts])
    if paths:
        from keras_latentquant.model_files import atomic_path

        os.makedirs(cache_dir, exist_ok=True)
        for path, array in zip(paths, (images, factors)):
            with atomic_path(path) as temporary, open(temporary, "wb") as handle:
                np.save(handle, array)
    return images, factors


def _renderer(dataset: str):
    get_dataset_spec(dataset)  # an unknown name: the registry's message, with the valid names
    if dataset not in RENDERERS:
        raise ValueError(f"{dataset!r} is not rendered here: only {', '.join(RENDERERS)} are (the others are read "
                         "from prepared TFDS data, which needs TensorFlow).")
    return RENDERERS[dataset]
