"""Tests of the `real_mpi3d` builder on tiny archives in the release's format.

MPI3D stores no labels: they are the image's position in a row-major grid, so a file is readable
only when it holds a whole grid. The tests write archives of a tiny grid (48 images) and read them
through a custom config whose `grid_sizes` is that grid, the documented hook for smaller archives.
"""

import numpy as np
import pytest

from keras_latentquant.datasets.real import (
    ManualFileFormatError,
    ManualFileNotFoundError,
    RealMpi3d,
    RealMpi3dConfig,
)
from keras_latentquant.datasets.real import mpi3d as real_mpi3d
from keras_latentquant.datasets.registry import get_dataset_spec
from tests.datasets import real_files

TINY_GRID = (2, 2, 1, 2, 1, 3, 2)
NUM_EXAMPLES = int(np.prod(TINY_GRID))  # 48


def _tiny_config(name="toy_tiny", file_name="mpi3d_toy.npz", grid_sizes=TINY_GRID):
    return RealMpi3dConfig(name=name, file_name=file_name, grid_sizes=grid_sizes)


def _tiny_images(seed=0, count=NUM_EXAMPLES):
    return np.random.default_rng(seed).integers(0, 256, size=(count, 64, 64, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny_images():
    return _tiny_images()


@pytest.fixture(scope="module")
def examples(tmp_path_factory, tiny_images):
    data_dir = tmp_path_factory.mktemp("tfds_real_mpi3d")
    np.savez_compressed(real_files.default_manual_dir(data_dir) / "mpi3d_toy.npz", images=tiny_images)
    builder = real_files.prepare(RealMpi3d(config=_tiny_config(), data_dir=str(data_dir)))
    assert builder.info.splits["train"].num_examples == NUM_EXAMPLES
    return real_files.read_in_file_order(builder)


def test_builder_registration_configs_and_spec():
    assert RealMpi3d.name == "real_mpi3d"
    configs = {config.name: config.file_name for config in RealMpi3d.BUILDER_CONFIGS}
    assert configs == {
        "toy": "mpi3d_toy.npz",
        "realistic": "mpi3d_realistic.npz",
        "real": "mpi3d_real.npz",
    }
    assert all(config.grid_sizes == (6, 6, 2, 3, 3, 40, 40) for config in RealMpi3d.BUILDER_CONFIGS)
    assert RealMpi3d.NUM_IMAGES == 1_036_800
    for file_name in configs.values():
        assert file_name in RealMpi3d.MANUAL_DOWNLOAD_INSTRUCTIONS
    spec = get_dataset_spec("real_mpi3d")
    assert spec.builder is RealMpi3d
    assert spec.factor_names == (
        "object_color",
        "object_shape",
        "object_size",
        "camera_height",
        "background_color",
        "horizontal_axis",
        "vertical_axis",
    )
    assert spec.factor_sizes == (6, 6, 2, 3, 3, 40, 40)
    assert spec.image_shape == (64, 64, 3)
    assert spec.default_config == "toy"
    assert spec.config_names == ("toy", "realistic", "real")


def test_labels_come_from_the_row_order(examples, tiny_images):
    np.testing.assert_array_equal(examples["index"], np.arange(NUM_EXAMPLES))
    np.testing.assert_array_equal(examples["image"], tiny_images)
    labels = real_files.stack_labels(examples, real_mpi3d.FACTOR_NAMES)
    expected = np.stack(np.unravel_index(np.arange(NUM_EXAMPLES), TINY_GRID), axis=1)
    np.testing.assert_array_equal(labels, expected)
    # Same order as the release's README: image 1 differs from image 0 in the last factor only.
    np.testing.assert_array_equal(labels[1], [0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(labels[2], [0, 0, 0, 0, 0, 1, 0])
    assert not any(key.startswith("value_") for key in examples)


def test_features_keep_the_release_classes_with_a_tiny_grid(tmp_path):
    features = RealMpi3d(config=_tiny_config(), data_dir=str(tmp_path)).info.features
    assert features["label_object_color"].names[:2] == ["white", "green"]
    sizes = [features[f"label_{name}"].num_classes for name in real_mpi3d.FACTOR_NAMES]
    assert sizes == [6, 6, 2, 3, 3, 40, 40]


def test_registered_config_needs_the_whole_grid(tmp_path, tiny_images):
    np.savez(real_files.default_manual_dir(tmp_path) / "mpi3d_toy.npz", images=tiny_images)
    with pytest.raises(
        ManualFileFormatError,
        match=r"'images' holds 48 images; expected 1036800, the whole grid \(6, 6, 2, 3, 3, 40, 40\)",
    ):
        real_files.prepare(RealMpi3d(config="toy", data_dir=str(tmp_path)))


def test_uncompressed_archive_of_another_config(tmp_path, tiny_images):
    config = _tiny_config(name="real_tiny", file_name="mpi3d_real.npz")
    np.savez(real_files.default_manual_dir(tmp_path) / "mpi3d_real.npz", images=tiny_images)
    builder = real_files.prepare(RealMpi3d(config=config, data_dir=str(tmp_path)))
    np.testing.assert_array_equal(real_files.read_in_file_order(builder)["image"], tiny_images)


def test_missing_archive_names_the_configs_file(tmp_path):
    with pytest.raises(ManualFileNotFoundError) as raised:
        real_files.prepare(RealMpi3d(config="realistic", data_dir=str(tmp_path)))
    message = str(raised.value)
    assert "'mpi3d_realistic.npz'" in message
    assert str(tmp_path / "downloads" / "manual" / "mpi3d_realistic.npz") in message
    assert "disentanglement_dataset" in message


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"imgs": _tiny_images()}, r"holds the arrays \['imgs'\], but \['images'\] are missing"),
        (
            {"images": _tiny_images()[..., 0]},
            r"'images' has shape \(48, 64, 64\); expected \('N', 64, 64, 3\)",
        ),
        ({"images": _tiny_images(count=47)}, "'images' holds 47 images; expected 48"),
        ({"images": _tiny_images().astype(np.int16)}, "dtype int16; expected uint8"),
    ],
)
def test_wrong_contents_say_what_was_found(tmp_path, arrays, message):
    np.savez_compressed(real_files.default_manual_dir(tmp_path) / "mpi3d_toy.npz", **arrays)
    with pytest.raises(ManualFileFormatError, match=message):
        real_files.prepare(RealMpi3d(config=_tiny_config(), data_dir=str(tmp_path)))


def test_truncated_archive_is_a_format_error(tmp_path, tiny_images):
    path = real_files.default_manual_dir(tmp_path) / "mpi3d_toy.npz"
    np.savez(path, images=tiny_images)
    real_files.truncate(path, keep_fraction=0.9)
    with pytest.raises(ManualFileFormatError, match="mpi3d_toy.npz is not in the expected format"):
        real_files.prepare(RealMpi3d(config=_tiny_config(), data_dir=str(tmp_path)))


def test_a_grid_larger_than_the_release_is_refused(tmp_path, tiny_images):
    np.savez(real_files.default_manual_dir(tmp_path) / "mpi3d_toy.npz", images=tiny_images)
    config = _tiny_config(name="too_many_colours", grid_sizes=(7, 1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"grid_sizes of config 'too_many_colours'.*got \(7, 1"):
        real_files.prepare(RealMpi3d(config=config, data_dir=str(tmp_path)))


def test_member_data_ending_early_is_found_while_reading(tmp_path, tiny_images):
    path = real_files.default_manual_dir(tmp_path) / "mpi3d_toy.npz"
    real_files.write_npz_member_cut_short(path, "images", tiny_images, missing_rows=1)
    with pytest.raises(
        ManualFileFormatError,
        match=r"'images' declares shape \(48, 64, 64, 3\) but its data end at row 47; .* truncated",
    ):
        real_files.prepare(RealMpi3d(config=_tiny_config(), data_dir=str(tmp_path)))
