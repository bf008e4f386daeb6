"""Tests of the `real_falcor3d` builder on a tiny `Falcor3D_down128/` folder in the release's layout.

The folder holds 12 RGB 128x128 PNGs named `000000.png` ... and `train-rec.labels`, an `[12, 7]`
array written with `np.save` in which every factor shows each of its values at least once.
"""

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from keras_latentquant.datasets.real import (
    ManualFileFormatError,
    ManualFileNotFoundError,
    RealFalcor3d,
)
from keras_latentquant.datasets.real import falcor3d as real_falcor3d
from keras_latentquant.datasets.registry import get_dataset_spec
from tests.datasets import real_files

FOLDER = "Falcor3D_down128"
LABELS = "train-rec.labels"
NUM_EXAMPLES = 12


def _write_release(manual_dir, seed=0):
    return real_files.write_png_release(
        manual_dir, FOLDER, LABELS, real_falcor3d.FACTOR_SIZES, NUM_EXAMPLES, seed=seed
    )


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds_real_falcor3d")
    images, values, indices = _write_release(real_files.default_manual_dir(data_dir))
    builder = real_files.prepare(RealFalcor3d(data_dir=str(data_dir)))
    return images, values, indices, real_files.read_in_file_order(builder), builder


def test_builder_registration_and_spec():
    assert RealFalcor3d.name == "real_falcor3d"
    assert [config.name for config in RealFalcor3d.BUILDER_CONFIGS] == ["default"]
    assert RealFalcor3d.NUM_IMAGES == 233_280
    instructions = RealFalcor3d.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert f"{FOLDER}/{LABELS}" in instructions and f"{FOLDER}/images/000000.png" in instructions
    spec = get_dataset_spec("real_falcor3d")
    assert spec.builder is RealFalcor3d
    assert spec.factor_names == (
        "lighting_intensity",
        "lighting_x",
        "lighting_y",
        "lighting_z",
        "camera_x",
        "camera_y",
        "camera_z",
    )
    assert spec.factor_sizes == (5, 6, 6, 6, 6, 6, 6)
    assert spec.image_shape == (64, 64, 3)
    assert spec.default_config == "default"


def test_images_are_the_files_shrunk_by_area(release):
    images, _, _, examples, builder = release
    assert builder.info.features["image"].shape == (64, 64, 3)
    np.testing.assert_array_equal(examples["index"], np.arange(NUM_EXAMPLES))
    assert examples["image"].shape == (NUM_EXAMPLES, 64, 64, 3)
    np.testing.assert_array_equal(examples["image"], real_files.area_downsample(images))
    # The same as TensorFlow's area resize, up to the rounding of halves.
    tf_area = tf.image.resize(images.astype(np.float32), (64, 64), method="area").numpy()
    assert np.max(np.abs(examples["image"] - tf_area)) <= 0.5 + 1e-4


def test_labels_are_value_ranks_and_values_are_kept(release):
    _, values, indices, examples, _ = release
    labels = real_files.stack_labels(examples, real_falcor3d.FACTOR_NAMES)
    np.testing.assert_array_equal(labels, indices)
    stored = real_files.stack_values(examples, real_falcor3d.FACTOR_NAMES)
    np.testing.assert_allclose(stored, values, rtol=1e-6)


def test_missing_folder_labels_or_image_are_named(tmp_path):
    manual_dir = tmp_path / "downloads" / "manual"
    with pytest.raises(ManualFileNotFoundError, match=f"folder '{FOLDER}'") as raised:
        real_files.prepare(RealFalcor3d(data_dir=str(tmp_path)))
    assert str(manual_dir / FOLDER) in str(raised.value)
    assert "does not exist" in str(raised.value)
    _write_release(real_files.default_manual_dir(tmp_path))
    (manual_dir / FOLDER / LABELS).unlink()
    with pytest.raises(ManualFileNotFoundError, match=f"file '{FOLDER}/{LABELS}'"):
        real_files.prepare(RealFalcor3d(data_dir=str(tmp_path)))
    _write_release(manual_dir)
    (manual_dir / FOLDER / "images" / "000005.png").unlink()
    with pytest.raises(ManualFileNotFoundError, match="'000005.png'.*images folder is incomplete"):
        real_files.prepare(RealFalcor3d(data_dir=str(tmp_path)))


def _labels_edit(edit):
    def apply(root):
        values = np.load(root / LABELS)
        with open(root / LABELS, "wb") as file:
            np.save(file, edit(values))

    return apply


def _merge_intensities(values):
    values = values.copy()
    # Two of the five intensities become one: only 4 distinct values remain.
    values[values[:, 0] == 1.0, 0] = 0.75
    return values


def _garbage_labels(root):
    (root / LABELS).write_bytes(b"\x00\x01 not numpy")


def _grey_image(root):
    PIL.Image.new("L", (128, 128)).save(root / "images" / "000000.png")


def _odd_size_image(root):
    PIL.Image.new("RGB", (100, 100)).save(root / "images" / "000000.png")


def _other_size_image(root):
    PIL.Image.new("RGB", (192, 192)).save(root / "images" / "000003.png")


def _broken_image(root):
    (root / "images" / "000004.png").write_bytes(b"\x89PNG not really")


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            _labels_edit(_merge_intensities),
            r"column 0 \(lighting_intensity\) holds 4 distinct values .*expected exactly 5",
        ),
        (
            _labels_edit(lambda values: values[:, :6]),
            r"'labels' has shape \(12, 6\); expected \('N', 7\)",
        ),
        (_labels_edit(lambda values: values[:0]), "hold no images"),
        (_garbage_labels, "not a readable NumPy .npy array"),
        (_grey_image, "mode 'L'; expected 'RGB'"),
        (_odd_size_image, "100x100; expected a square image whose side is a multiple of 64"),
        (_other_size_image, r"000003.png .*192x192, unlike the first image \(128x128\)"),
        (_broken_image, "000004.png .*not a readable PNG image"),
    ],
)
def test_wrong_contents_say_what_was_found(tmp_path, edit, message):
    manual_dir = real_files.default_manual_dir(tmp_path)
    _write_release(manual_dir)
    edit(manual_dir / FOLDER)
    with pytest.raises(ManualFileFormatError, match=message):
        real_files.prepare(RealFalcor3d(data_dir=str(tmp_path)))
