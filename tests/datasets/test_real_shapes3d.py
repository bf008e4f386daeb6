"""Tests of the `real_shapes3d` builder on a tiny `3dshapes.h5` in the release's format.

The file holds 30 grid points drawn at random: `images` uint8 `[30, 64, 64, 3]` and `labels` float64
`[30, 6]` of factor values, with float noise far below the grid step, as the builder must tolerate.
"""

import h5py
import numpy as np
import pytest

from keras_latentquant.datasets.real import (
    ManualFileFormatError,
    ManualFileNotFoundError,
    RealShapes3d,
)
from keras_latentquant.datasets.real import shapes3d as real_shapes3d
from keras_latentquant.datasets.registry import get_dataset_spec
from tests.datasets import real_files

FILE_NAME = "3dshapes.h5"
NUM_EXAMPLES = 30
GRIDS = (
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.75, 1.25, 8),
    np.arange(4.0),
    np.linspace(-30.0, 30.0, 15),
)


def _tiny_arrays(seed=0):
    rng = np.random.default_rng(seed)
    flat = rng.choice(real_shapes3d.NUM_IMAGES, size=NUM_EXAMPLES, replace=False)
    indices = np.stack(np.unravel_index(flat, real_shapes3d.FACTOR_SIZES), axis=1)
    values = np.stack([GRIDS[k][indices[:, k]] for k in range(6)], axis=1)
    # Round-off as a float32 round trip would leave it.
    values = values + rng.uniform(-1e-7, 1e-7, size=values.shape)
    images = rng.integers(0, 256, size=(NUM_EXAMPLES, 64, 64, 3), dtype=np.uint8)
    return {"images": images, "labels": values, "indices": indices}


def _write(directory, arrays):
    path = directory / FILE_NAME
    with h5py.File(path, "w") as file:
        for key in ("images", "labels"):
            if key in arrays:
                file.create_dataset(key, data=arrays[key])
    return path


@pytest.fixture(scope="module")
def tiny_arrays():
    return _tiny_arrays()


@pytest.fixture(scope="module")
def examples(tmp_path_factory, tiny_arrays):
    data_dir = tmp_path_factory.mktemp("tfds_real_shapes3d")
    _write(real_files.default_manual_dir(data_dir), tiny_arrays)
    builder = real_files.prepare(RealShapes3d(data_dir=str(data_dir)))
    assert builder.info.splits["train"].num_examples == NUM_EXAMPLES
    return real_files.read_in_file_order(builder)


def test_builder_registration_and_spec():
    assert RealShapes3d.name == "real_shapes3d"
    assert [config.name for config in RealShapes3d.BUILDER_CONFIGS] == ["default"]
    assert RealShapes3d.NUM_IMAGES == 480_000
    assert FILE_NAME in RealShapes3d.MANUAL_DOWNLOAD_INSTRUCTIONS
    spec = get_dataset_spec("real_shapes3d")
    assert spec.builder is RealShapes3d
    assert spec.factor_names == (
        "floor_hue",
        "wall_hue",
        "object_hue",
        "scale",
        "shape",
        "orientation",
    )
    assert spec.factor_sizes == (10, 10, 10, 8, 4, 15)
    assert spec.image_shape == (64, 64, 3)
    assert spec.default_config == "default"
    for grid, expected in zip(real_shapes3d.FACTOR_VALUES, GRIDS):
        np.testing.assert_allclose(grid, expected)


def test_images_labels_and_values_match_the_file(examples, tiny_arrays):
    np.testing.assert_array_equal(examples["index"], np.arange(NUM_EXAMPLES))
    assert examples["image"].shape == (NUM_EXAMPLES, 64, 64, 3)
    np.testing.assert_array_equal(examples["image"], tiny_arrays["images"])
    labels = real_files.stack_labels(examples, real_shapes3d.FACTOR_NAMES)
    np.testing.assert_array_equal(labels, tiny_arrays["indices"])
    values = real_files.stack_values(examples, real_shapes3d.FACTOR_NAMES)
    np.testing.assert_allclose(values, tiny_arrays["labels"], rtol=1e-6, atol=1e-6)


def test_missing_file_says_what_where_and_from_whom(tmp_path):
    with pytest.raises(ManualFileNotFoundError) as raised:
        real_files.prepare(RealShapes3d(data_dir=str(tmp_path)))
    message = str(raised.value)
    assert repr(FILE_NAME) in message
    assert str(tmp_path / "downloads" / "manual" / FILE_NAME) in message
    assert "3d-shapes" in message


def _set(key, value_fn):
    def edit(arrays):
        arrays[key] = value_fn(arrays[key])

    return edit


def _off_grid(arrays):
    arrays["labels"] = arrays["labels"].copy()
    # Halfway between scale grid values 0.75 and 0.821...
    arrays["labels"][4, 3] = 0.7857


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            _set("labels", lambda _: None),
            r"holds \['images'\], but the datasets \['labels'\] are missing",
        ),
        (
            _set("images", lambda images: images[..., :1]),
            r"'images' has shape \(30, 64, 64, 1\); expected \('N', 64, 64, 3\)",
        ),
        (_set("labels", lambda labels: labels[:, :5]), r"'labels' has shape \(30, 5\)"),
        (_set("labels", lambda labels: labels[:-2]), "disagree on the number of images"),
        (
            _off_grid,
            r"column 3 \(scale\) holds 1 value\(s\) off the factor's grid, e.g. 0.7857 in row 4",
        ),
    ],
)
def test_wrong_contents_say_what_was_found(tmp_path, tiny_arrays, edit, message):
    arrays = dict(tiny_arrays)
    edit(arrays)
    arrays = {key: value for key, value in arrays.items() if value is not None}
    _write(real_files.default_manual_dir(tmp_path), arrays)
    with pytest.raises(ManualFileFormatError, match=message):
        real_files.prepare(RealShapes3d(data_dir=str(tmp_path)))


def test_truncated_or_foreign_files_are_format_errors(tmp_path, tiny_arrays):
    manual_dir = real_files.default_manual_dir(tmp_path)
    real_files.truncate(_write(manual_dir, tiny_arrays))
    with pytest.raises(ManualFileFormatError, match=f"{FILE_NAME} is not in the expected format"):
        real_files.prepare(RealShapes3d(data_dir=str(tmp_path)))
    np.savez(manual_dir / "not_hdf5.npz", images=tiny_arrays["images"])
    (manual_dir / "not_hdf5.npz").rename(manual_dir / FILE_NAME)
    with pytest.raises(ManualFileFormatError, match="not a readable HDF5 file"):
        real_files.prepare(RealShapes3d(data_dir=str(tmp_path)))
