"""Tests of the `real_isaac3d` builder on a tiny `Isaac3D_down128/` folder in the release's layout.

The folder holds 16 RGB 128x128 PNGs and `labels.npy` (`[16, 9]`) in which every factor shows each of
its values at least once (robot_x has 8). The PNG-folder machinery shared with Falcor3D is tested in
depth in `test_real_falcor3d.py`; here the Isaac3D specifics: names, sizes, file names, columns.
"""

import numpy as np
import pytest

from keras_latentquant.datasets.pipeline import load_arrays
from keras_latentquant.datasets.real import (
    ManualFileFormatError,
    ManualFileNotFoundError,
    RealIsaac3d,
)
from keras_latentquant.datasets.real import isaac3d as real_isaac3d
from keras_latentquant.datasets.registry import get_dataset_spec
from tests.datasets import real_files

FOLDER = "Isaac3D_down128"
LABELS = "labels.npy"
NUM_EXAMPLES = 16


def _write_release(manual_dir, seed=1):
    return real_files.write_png_release(
        manual_dir, FOLDER, LABELS, real_isaac3d.FACTOR_SIZES, NUM_EXAMPLES, seed=seed
    )


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds_real_isaac3d")
    images, values, indices = _write_release(real_files.default_manual_dir(data_dir))
    builder = real_files.prepare(RealIsaac3d(data_dir=str(data_dir)))
    return images, values, indices, real_files.read_in_file_order(builder), data_dir


def test_builder_registration_and_spec():
    assert RealIsaac3d.name == "real_isaac3d"
    assert [config.name for config in RealIsaac3d.BUILDER_CONFIGS] == ["default"]
    assert RealIsaac3d.NUM_IMAGES == 737_280
    assert f"{FOLDER}/{LABELS}" in RealIsaac3d.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert "737279.png" in RealIsaac3d.MANUAL_DOWNLOAD_INSTRUCTIONS
    spec = get_dataset_spec("real_isaac3d")
    assert spec.builder is RealIsaac3d
    assert spec.factor_names == (
        "object_shape",
        "robot_x",
        "robot_y",
        "camera_height",
        "object_scale",
        "lighting_intensity",
        "lighting_y_dir",
        "object_color",
        "wall_color",
    )
    assert spec.factor_sizes == (3, 8, 5, 4, 4, 4, 6, 4, 4)
    assert spec.image_shape == (64, 64, 3)
    assert spec.default_config == "default"


def test_images_labels_and_values_match_the_files(release):
    images, values, indices, examples, _ = release
    np.testing.assert_array_equal(examples["index"], np.arange(NUM_EXAMPLES))
    np.testing.assert_array_equal(examples["image"], real_files.area_downsample(images))
    labels = real_files.stack_labels(examples, real_isaac3d.FACTOR_NAMES)
    np.testing.assert_array_equal(labels, indices)
    stored = real_files.stack_values(examples, real_isaac3d.FACTOR_NAMES)
    np.testing.assert_allclose(stored, values, rtol=1e-6)


def test_load_arrays_reads_the_prepared_folder(release):
    _, _, indices, examples, data_dir = release
    images, factors = load_arrays(name="real_isaac3d", data_dir=str(data_dir))
    assert images.shape == (NUM_EXAMPLES, 64, 64, 3) and factors.shape == (NUM_EXAMPLES, 9)
    order = np.argsort([np.flatnonzero((indices == row).all(axis=1))[0] for row in factors])
    np.testing.assert_array_equal(factors[order], indices)
    np.testing.assert_allclose(images[order], examples["image"] / np.float32(255.0))


def test_missing_labels_file_is_named(tmp_path):
    manual_dir = real_files.default_manual_dir(tmp_path)
    (manual_dir / FOLDER / "images").mkdir(parents=True)
    with pytest.raises(ManualFileNotFoundError) as raised:
        real_files.prepare(RealIsaac3d(data_dir=str(tmp_path)))
    message = str(raised.value)
    assert f"'{FOLDER}/{LABELS}'" in message and str(manual_dir / FOLDER / LABELS) in message
    assert "High-res-disentanglement-datasets" in message


def test_a_factor_short_of_values_is_refused(tmp_path):
    manual_dir = real_files.default_manual_dir(tmp_path)
    _write_release(manual_dir)
    values = np.load(manual_dir / FOLDER / LABELS)
    # robot_x (column 1) keeps only 7 of its 8 values.
    values[values[:, 1] == 1.0, 1] = 0.0
    np.save(manual_dir / FOLDER / LABELS, values)
    with pytest.raises(
        ManualFileFormatError,
        match=r"column 1 \(robot_x\) holds 7 distinct values .*expected exactly 8",
    ):
        real_files.prepare(RealIsaac3d(data_dir=str(tmp_path)))
