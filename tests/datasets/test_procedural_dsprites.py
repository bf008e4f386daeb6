"""Tests of the `procedural_dsprites` TFDS builder: configs, labels, determinism, offline use."""

import socket

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_latentquant.datasets import dsprites_render
from keras_latentquant.datasets.procedural_dsprites import (
    ProceduralDsprites,
    ProceduralDspritesConfig,
    selected_flat_indices,
)


def _refuse_network(*args, **kwargs):
    raise AssertionError(f"procedural_dsprites tried to open a network connection: {args}")


def _prepare_tiny(data_dir):
    builder = ProceduralDsprites(config="tiny", data_dir=str(data_dir))
    # Any connection attempt, GCS included, fails the test instead of hanging or downloading.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse_network)
        patch.setattr(socket, "create_connection", _refuse_network)
        patch.setattr(socket, "getaddrinfo", _refuse_network)
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False)
        )
    return builder


def _read_all(builder):
    """Every example of the train split in stored order, as NumPy arrays keyed by feature."""
    examples = tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False, batch_size=-1))
    return {key: np.asarray(value) for key, value in examples.items()}


@pytest.fixture(scope="module")
def tiny_builder(tmp_path_factory):
    return _prepare_tiny(tmp_path_factory.mktemp("tfds_a"))


@pytest.fixture(scope="module")
def tiny_examples(tiny_builder):
    return _read_all(tiny_builder)


def test_builder_is_registered_with_its_configs():
    assert ProceduralDsprites.name == "procedural_dsprites"
    assert str(ProceduralDsprites.VERSION) == "1.0.0"
    configs = {config.name: config for config in ProceduralDsprites.BUILDER_CONFIGS}
    assert list(configs) == ["full", "sample_50k", "sample_10k", "tiny"]
    assert {name: config.num_examples for name, config in configs.items()} == {
        "full": None,
        "sample_50k": 50_000,
        "sample_10k": 10_000,
        "tiny": 2_000,
    }
    assert all(isinstance(config, ProceduralDspritesConfig) for config in configs.values())
    assert ProceduralDsprites.DEFAULT_BUILDER_CONFIG_NAME == "sample_50k"


def test_sampled_configs_draw_without_replacement_and_nest():
    configs = {config.name: config for config in ProceduralDsprites.BUILDER_CONFIGS}
    sample_50k = selected_flat_indices(configs["sample_50k"])
    tiny = selected_flat_indices(configs["tiny"])
    assert len(np.unique(sample_50k)) == 50_000
    assert sample_50k.min() >= 0 and sample_50k.max() < dsprites_render.NUM_IMAGES
    np.testing.assert_array_equal(selected_flat_indices(configs["sample_10k"])[:2_000], tiny)
    np.testing.assert_array_equal(sample_50k[:2_000], tiny)
    np.testing.assert_array_equal(selected_flat_indices(configs["sample_50k"]), sample_50k)
    # Uniform draw: each shape holds about a third of the sample.
    shapes = dsprites_render.flat_index_to_factor_indices(sample_50k)[:, 0]
    np.testing.assert_allclose(np.bincount(shapes) / 50_000, [1 / 3] * 3, atol=0.01)
    full = selected_flat_indices(configs["full"])
    np.testing.assert_array_equal(full, np.arange(dsprites_render.NUM_IMAGES))


def test_only_the_full_grid_keeps_grid_order(tmp_path):
    # Info is built without preparing anything.
    full = ProceduralDsprites(config="full", data_dir=str(tmp_path))
    tiny = ProceduralDsprites(config="tiny", data_dir=str(tmp_path))
    assert full.info.disable_shuffling
    assert not tiny.info.disable_shuffling
    assert not full.is_prepared()


def test_features_and_split(tiny_builder):
    features = tiny_builder.info.features
    assert features["image"].shape == (64, 64, 1)
    assert features["label_shape"].names == ["square", "ellipse", "heart"]
    for name, size in zip(dsprites_render.FACTOR_NAMES, dsprites_render.FACTOR_SIZES):
        assert features[f"label_{name}"].num_classes == size
        assert f"value_{name}" in features
    assert list(tiny_builder.info.splits) == ["train"]
    assert tiny_builder.info.splits["train"].num_examples == 2_000


def test_examples_hold_the_configs_grid_points(tiny_examples):
    config = next(c for c in ProceduralDsprites.BUILDER_CONFIGS if c.name == "tiny")
    index = tiny_examples["index"]
    assert sorted(index.tolist()) == sorted(selected_flat_indices(config).tolist())
    # Stored in hashed-key order, unrelated to the grid, so slices of the split are random subsets.
    assert not np.all(np.diff(index) > 0)


def test_labels_values_and_images_match_the_grid(tiny_examples):
    labels = np.stack([tiny_examples[f"label_{name}"] for name in dsprites_render.FACTOR_NAMES], 1)
    index = tiny_examples["index"]
    np.testing.assert_array_equal(labels, dsprites_render.flat_index_to_factor_indices(index))
    np.testing.assert_array_equal(dsprites_render.factor_indices_to_flat_index(labels), index)
    values = np.stack([tiny_examples[f"value_{name}"] for name in dsprites_render.FACTOR_NAMES], 1)
    np.testing.assert_allclose(values, dsprites_render.factor_indices_to_values(labels))
    images = tiny_examples["image"]
    assert images.shape == (2_000, 64, 64, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, dsprites_render.render_dsprites(labels))


def test_preparing_twice_gives_identical_data(tmp_path, tiny_examples):
    again = _read_all(_prepare_tiny(tmp_path))
    assert again.keys() == tiny_examples.keys()
    for key in tiny_examples:
        np.testing.assert_array_equal(again[key], tiny_examples[key])


def test_tfds_load_reads_the_prepared_data_by_name(tiny_builder, tiny_examples):
    dataset = tfds.load(
        "procedural_dsprites/tiny",
        split="train[:10]",
        data_dir=str(tiny_builder.data_dir_root),
        download=False,
        try_gcs=False,
        shuffle_files=False,
    )
    first = [int(example["index"]) for example in tfds.as_numpy(dataset)]
    np.testing.assert_array_equal(first, tiny_examples["index"][:10])
