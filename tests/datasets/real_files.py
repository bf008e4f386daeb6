"""Helpers of the real-file builder tests: tiny files in the releases' formats, offline preparation.

The real releases are gigabytes and cannot be downloaded here, so each test writes a handful of
examples with the release's file names, keys, dtypes and per-image shapes, prepares the builder from
them with every network call refused, and reads the result back.
"""

from __future__ import annotations

import pathlib
import socket

import numpy as np
import pytest
import tensorflow_datasets as tfds


def _refuse_network(*args, **kwargs):
    raise AssertionError(f"a real-file builder tried to open a network connection: {args}")


def default_manual_dir(data_dir: pathlib.Path) -> pathlib.Path:
    """TFDS's default manual directory for a data directory, created."""
    manual_dir = pathlib.Path(data_dir) / "downloads" / "manual"
    manual_dir.mkdir(parents=True, exist_ok=True)
    return manual_dir


def prepare(builder: tfds.core.DatasetBuilder, manual_dir: pathlib.Path | None = None):
    """Prepares `builder` offline; any connection attempt fails the test.

    Args:
        builder: the builder.
        manual_dir: passed through `DownloadConfig(manual_dir=...)`; `None` keeps TFDS's default.

    Returns:
        The prepared builder.
    """
    config = tfds.download.DownloadConfig(
        try_download_gcs=False, manual_dir=None if manual_dir is None else str(manual_dir)
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse_network)
        patch.setattr(socket, "create_connection", _refuse_network)
        patch.setattr(socket, "getaddrinfo", _refuse_network)
        builder.download_and_prepare(download_config=config)
    return builder


def read_in_file_order(builder: tfds.core.DatasetBuilder) -> dict[str, np.ndarray]:
    """Every example of the train split as NumPy arrays, sorted by `index` (the file's row order)."""
    examples = tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False, batch_size=-1))
    order = np.argsort(examples["index"])
    return {key: np.asarray(value)[order] for key, value in examples.items()}


def stack_labels(examples: dict[str, np.ndarray], factor_names) -> np.ndarray:
    """The `label_<factor>` columns, in `factor_names` order, as an `[N, K]` array."""
    return np.stack([examples[f"label_{name}"] for name in factor_names], axis=1)


def stack_values(examples: dict[str, np.ndarray], factor_names) -> np.ndarray:
    """The `value_<factor>` columns, in `factor_names` order, as an `[N, K]` array."""
    return np.stack([examples[f"value_{name}"] for name in factor_names], axis=1)


def truncate(path: pathlib.Path, keep_fraction: float = 0.5) -> None:
    """Cuts a file short, as an interrupted download would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def write_png_release(
    manual_dir: pathlib.Path,
    folder: str,
    labels_file: str,
    factor_sizes,
    num_images: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writes a tiny Falcor3D/Isaac3D-style release: 128x128 RGB PNGs and an `.npy` label array.

    Every factor shows each of its values at least once (the builders index values by rank among a
    column's distinct values): row r of column k holds value `perm_k[r % m_k]` of
    `linspace(0, 1, m_k)`.

    Args:
        manual_dir: the manual directory.
        folder: the release's folder name.
        labels_file: the label file's name (written with `np.save` to an open file, so no `.npy`
            is appended to names such as `train-rec.labels`).
        factor_sizes: number of values of each factor.
        num_images: images to write; at least the largest factor size.
        seed: seed of the pixels and value order.

    Returns:
        `(images, values, indices)`: the uint8 `[N, 128, 128, 3]` images written, the float64
        `[N, K]` stored values, and the int `[N, K]` factor indices they stand for.
    """
    import PIL.Image

    assert num_images >= max(factor_sizes)
    rng = np.random.default_rng(seed)
    root = manual_dir / folder
    (root / "images").mkdir(parents=True, exist_ok=True)
    indices = np.stack(
        [rng.permutation(size)[np.arange(num_images) % size] for size in factor_sizes], axis=1
    )
    values = np.stack(
        [np.linspace(0.0, 1.0, size)[indices[:, k]] for k, size in enumerate(factor_sizes)], axis=1
    )
    with open(root / labels_file, "wb") as file:
        np.save(file, values)
    images = rng.integers(0, 256, size=(num_images, 128, 128, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        PIL.Image.fromarray(image, "RGB").save(root / "images" / f"{index:06d}.png")
    return images, values, indices


def area_downsample(images: np.ndarray) -> np.ndarray:
    """The expected 64x64 images: the mean of each 2x2 block, rounded half up."""
    blocks = images.reshape(len(images), 64, 2, 64, 2, 3).astype(np.float64)
    return np.floor(blocks.mean(axis=(2, 4)) + 0.5).astype(np.uint8)


def write_npz_member_cut_short(path: pathlib.Path, key: str, array: np.ndarray, missing_rows: int):
    """Writes an `.npz` whose `key` member declares `array`'s shape but lacks its last rows.

    The zip itself is intact (its central directory is there), so only reading the member's data
    can tell that it ends early, as in an archive assembled from an interrupted write.
    """
    import io
    import zipfile

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, np.lib.format.header_data_from_array_1_0(array)
    )
    data = buffer.getvalue() + array[: len(array) - missing_rows].tobytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{key}.npy", data)
