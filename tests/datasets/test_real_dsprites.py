"""Tests of the `real_dsprites` builder on a tiny archive in the release's format, and of the pipeline.

The archive holds 40 grid points drawn at random, with the release's keys (`imgs`,
`latents_classes`, `latents_values` and a pickled `metadata` the builder must leave alone), dtypes
and per-image shape.
"""

import re

import numpy as np
import pytest

from keras_latentquant.datasets import dsprites_render
from keras_latentquant.datasets.pipeline import load_arrays, load_dataset
from keras_latentquant.datasets.real import (
    ManualFileFormatError,
    ManualFileNotFoundError,
    RealDsprites,
)
from keras_latentquant.datasets.real import dsprites as real_dsprites
from keras_latentquant.datasets.registry import get_dataset_spec
from tests.datasets import real_files

FILE_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
NUM_EXAMPLES = 40
# The release's stored values of each latent column: colour, shape, scale, orientation, x, y.
LATENT_VALUES = (
    np.ones(1),
    np.arange(1.0, 4.0),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2.0 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)


def _tiny_arrays(seed=0):
    rng = np.random.default_rng(seed)
    flat = rng.choice(real_dsprites.NUM_IMAGES, size=NUM_EXAMPLES, replace=False)
    classes = np.zeros((NUM_EXAMPLES, 6), dtype=np.int64)
    classes[:, 1:] = np.stack(np.unravel_index(flat, real_dsprites.FACTOR_SIZES), axis=1)
    values = np.stack([LATENT_VALUES[k][classes[:, k]] for k in range(6)], axis=1)
    imgs = rng.integers(0, 2, size=(NUM_EXAMPLES, 64, 64), dtype=np.uint8)
    return {"imgs": imgs, "latents_classes": classes, "latents_values": values}


def _write(directory, arrays, file_name=FILE_NAME, compressed=True):
    metadata = np.array({"latents_names": ("color", "shape", "scale")}, dtype=object)
    save = np.savez_compressed if compressed else np.savez
    path = directory / file_name
    save(path, metadata=metadata, **arrays)
    return path


@pytest.fixture(scope="module")
def tiny_arrays():
    return _tiny_arrays()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, tiny_arrays):
    data_dir = tmp_path_factory.mktemp("tfds_real_dsprites")
    _write(real_files.default_manual_dir(data_dir), tiny_arrays)
    return data_dir


@pytest.fixture(scope="module")
def examples(data_dir):
    builder = real_files.prepare(RealDsprites(data_dir=str(data_dir)))
    return real_files.read_in_file_order(builder)


def test_builder_registration_features_and_spec():
    assert RealDsprites.name == "real_dsprites"
    assert [config.name for config in RealDsprites.BUILDER_CONFIGS] == ["default"]
    assert RealDsprites.NUM_IMAGES == 737_280
    assert FILE_NAME in RealDsprites.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert "downloads/manual" in RealDsprites.MANUAL_DOWNLOAD_INSTRUCTIONS
    spec = get_dataset_spec("real_dsprites")
    assert spec.builder is RealDsprites
    assert spec.factor_names == ("shape", "scale", "orientation", "position_x", "position_y")
    assert spec.factor_names == dsprites_render.FACTOR_NAMES
    assert spec.factor_sizes == (3, 6, 40, 32, 32)
    assert spec.image_shape == (64, 64, 1)
    assert spec.default_config == "default" and spec.config_names == ("default",)


def test_features_and_split(data_dir, examples):
    builder = RealDsprites(data_dir=str(data_dir))
    features = builder.info.features
    assert features["image"].shape == (64, 64, 1)
    assert features["label_shape"].names == ["square", "ellipse", "heart"]
    for name, size in zip(real_dsprites.FACTOR_NAMES, real_dsprites.FACTOR_SIZES):
        assert features[f"label_{name}"].num_classes == size
        assert f"value_{name}" in features
    assert list(builder.info.splits) == ["train"]
    assert builder.info.splits["train"].num_examples == NUM_EXAMPLES


def test_images_labels_and_values_match_the_file(examples, tiny_arrays):
    np.testing.assert_array_equal(examples["index"], np.arange(NUM_EXAMPLES))
    images = examples["image"]
    assert images.shape == (NUM_EXAMPLES, 64, 64, 1) and images.dtype == np.uint8
    # Binary 0/1 pixels are written as 0/255.
    np.testing.assert_array_equal(images[..., 0], tiny_arrays["imgs"] * 255)
    labels = real_files.stack_labels(examples, real_dsprites.FACTOR_NAMES)
    np.testing.assert_array_equal(labels, tiny_arrays["latents_classes"][:, 1:])
    values = real_files.stack_values(examples, real_dsprites.FACTOR_NAMES)
    np.testing.assert_allclose(values, tiny_arrays["latents_values"][:, 1:], rtol=1e-6)


def test_manual_dir_passed_through_the_download_config(tmp_path, tiny_arrays):
    elsewhere = tmp_path / "my_files"
    elsewhere.mkdir()
    # An uncompressed archive (np.savez) reads the same as a compressed one.
    _write(elsewhere, tiny_arrays, compressed=False)
    builder = real_files.prepare(RealDsprites(data_dir=str(tmp_path / "tfds")), elsewhere)
    labels = real_files.stack_labels(
        real_files.read_in_file_order(builder), real_dsprites.FACTOR_NAMES
    )
    np.testing.assert_array_equal(labels, tiny_arrays["latents_classes"][:, 1:])
    # Once prepared, the pipeline reads the data without needing the manual directory again.
    _, factors = load_arrays(name="real_dsprites", data_dir=str(tmp_path / "tfds"))
    assert len(factors) == NUM_EXAMPLES


def test_missing_archive_says_what_where_and_from_whom(tmp_path):
    builder = RealDsprites(data_dir=str(tmp_path))
    manual_dir = tmp_path / "downloads" / "manual"
    with pytest.raises(ManualFileNotFoundError) as raised:
        real_files.prepare(builder)
    message = str(raised.value)
    assert isinstance(raised.value, FileNotFoundError)
    assert repr(FILE_NAME) in message
    assert str(manual_dir / FILE_NAME) in message
    assert "dsprites-dataset" in message and "DownloadConfig(manual_dir=" in message
    assert not builder.is_prepared()


def _drop(key):
    def edit(arrays):
        del arrays[key]

    return edit


def _set(key, value_fn):
    def edit(arrays):
        arrays[key] = value_fn(arrays[key])

    return edit


def _set_cell(key, row, column, value):
    def edit(arrays):
        arrays[key] = arrays[key].copy()
        arrays[key][row, column] = value

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (_drop("latents_values"), r"\['latents_values'\] are missing"),
        (
            _set("imgs", lambda imgs: imgs[:, :, :32]),
            r"'imgs' has shape \(40, 64, 32\); expected \('N', 64, 64\)",
        ),
        (
            _set("imgs", lambda imgs: imgs.astype(np.float32)),
            "'imgs' has dtype float32; expected uint8",
        ),
        (_set("latents_classes", lambda c: c[:, :5]), r"'latents_classes' has shape \(40, 5\)"),
        (_set("latents_classes", lambda c: c[:-1]), "disagree on the number of images"),
        (
            _set_cell("latents_classes", 3, 4, 32),
            r"column 4 \(position_x\) holds 32 in row 3; expected indices 0..31",
        ),
        (_set_cell("latents_classes", 0, 0, 1), r"column 0 \(colour\) holds \[0, 1\]"),
        (_set_cell("latents_values", 5, 2, np.nan), "NaN"),
        (_set_cell("imgs", 7, 10, 2), "pixel values up to 2 near row 0; expected binary"),
    ],
)
def test_wrong_contents_say_what_was_found(tmp_path, tiny_arrays, edit, message):
    arrays = dict(tiny_arrays)
    edit(arrays)
    _write(real_files.default_manual_dir(tmp_path), arrays)
    with pytest.raises(ManualFileFormatError, match=message) as raised:
        real_files.prepare(RealDsprites(data_dir=str(tmp_path)))
    assert FILE_NAME in str(raised.value)


def test_truncated_or_foreign_files_are_format_errors(tmp_path, tiny_arrays):
    manual_dir = real_files.default_manual_dir(tmp_path)
    real_files.truncate(_write(manual_dir, tiny_arrays))
    with pytest.raises(ManualFileFormatError, match="not a readable NumPy .npz .*truncated"):
        real_files.prepare(RealDsprites(data_dir=str(tmp_path)))
    (manual_dir / FILE_NAME).write_bytes(b"<html>not found</html>")
    with pytest.raises(ManualFileFormatError, match=re.escape(str(manual_dir / FILE_NAME))):
        real_files.prepare(RealDsprites(data_dir=str(tmp_path)))


def test_pipeline_loads_the_prepared_file_end_to_end(data_dir, tiny_arrays):
    # get_builder prepares the data from the default manual directory of data_dir.
    dataset = load_dataset(
        name="real_dsprites",
        data_dir=str(data_dir),
        mode="factors",
        batch_size=8,
        shuffle=False,
        repeat=False,
        drop_remainder=False,
    )
    assert dataset.element_spec[0].shape.as_list() == [None, 64, 64, 1]
    images, factors = zip(*dataset.as_numpy_iterator())
    images, factors = np.concatenate(images), np.concatenate(factors)
    assert images.dtype == np.float32 and factors.dtype == np.int32
    # Stored in hashed order: match each example to its row of the file by its factors.
    expected_factors = tiny_arrays["latents_classes"][:, 1:]
    rows = [
        int(np.flatnonzero((expected_factors == factor).all(axis=1))[0]) for factor in factors
    ]
    assert sorted(rows) == list(range(NUM_EXAMPLES))
    np.testing.assert_array_equal(images[..., 0], tiny_arrays["imgs"][rows].astype(np.float32))
    arrays_images, arrays_factors = load_arrays(name="real_dsprites", data_dir=str(data_dir))
    assert arrays_images.shape == (NUM_EXAMPLES, 64, 64, 1)
    np.testing.assert_array_equal(arrays_factors, factors)
