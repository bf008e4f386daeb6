"""Tests of the `procedural_shapes3d` TFDS builder: configs, labels, determinism, offline use, and
its registry entry and input pipeline."""

import socket

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_latentquant.datasets import shapes3d_render
from keras_latentquant.datasets.pipeline import get_builder, load_arrays, load_dataset
from keras_latentquant.datasets.procedural_shapes3d import (
    ProceduralShapes3d,
    ProceduralShapes3dConfig,
    selected_flat_indices,
)
from keras_latentquant.datasets.registry import DATASETS, get_dataset_spec


def _refuse_network(*args, **kwargs):
    raise AssertionError(f"procedural_shapes3d tried to open a network connection: {args}")


def _prepare_tiny(data_dir):
    builder = ProceduralShapes3d(config="tiny", data_dir=str(data_dir))
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
    return _prepare_tiny(tmp_path_factory.mktemp("tfds_shapes3d"))


@pytest.fixture(scope="module")
def tiny_examples(tiny_builder):
    return _read_all(tiny_builder)


def test_builder_is_registered_with_its_configs():
    assert ProceduralShapes3d.name == "procedural_shapes3d"
    assert "procedural_shapes3d" in tfds.list_builders()
    assert str(ProceduralShapes3d.VERSION) == "1.0.0"
    configs = {config.name: config for config in ProceduralShapes3d.BUILDER_CONFIGS}
    assert list(configs) == ["full", "sample_50k", "sample_10k", "tiny"]
    assert {name: config.num_examples for name, config in configs.items()} == {
        "full": None,
        "sample_50k": 50_000,
        "sample_10k": 10_000,
        "tiny": 2_000,
    }
    assert all(isinstance(config, ProceduralShapes3dConfig) for config in configs.values())
    assert ProceduralShapes3d.DEFAULT_BUILDER_CONFIG_NAME == "sample_50k"


def test_sampled_configs_draw_without_replacement_and_nest():
    configs = {config.name: config for config in ProceduralShapes3d.BUILDER_CONFIGS}
    sample_50k = selected_flat_indices(configs["sample_50k"])
    tiny = selected_flat_indices(configs["tiny"])
    assert len(np.unique(sample_50k)) == 50_000
    assert sample_50k.min() >= 0 and sample_50k.max() < shapes3d_render.NUM_IMAGES
    np.testing.assert_array_equal(selected_flat_indices(configs["sample_10k"])[:2_000], tiny)
    np.testing.assert_array_equal(sample_50k[:2_000], tiny)
    np.testing.assert_array_equal(selected_flat_indices(configs["sample_50k"]), sample_50k)
    # Uniform draw: each shape holds about a quarter of the sample, each floor hue a tenth.
    factors = shapes3d_render.flat_index_to_factor_indices(sample_50k)
    np.testing.assert_allclose(np.bincount(factors[:, 4]) / 50_000, [0.25] * 4, atol=0.01)
    np.testing.assert_allclose(np.bincount(factors[:, 0]) / 50_000, [0.1] * 10, atol=0.01)
    full = selected_flat_indices(configs["full"])
    np.testing.assert_array_equal(full, np.arange(shapes3d_render.NUM_IMAGES))


def test_only_the_full_grid_keeps_grid_order(tmp_path):
    # Info is built without preparing anything.
    full = ProceduralShapes3d(config="full", data_dir=str(tmp_path))
    tiny = ProceduralShapes3d(config="tiny", data_dir=str(tmp_path))
    assert full.info.disable_shuffling
    assert not tiny.info.disable_shuffling
    assert not full.is_prepared()


def test_features_and_split(tiny_builder):
    features = tiny_builder.info.features
    assert features["image"].shape == (64, 64, 3)
    assert features["image"].dtype == np.uint8
    assert features["label_shape"].names == ["cube", "cylinder", "sphere", "capsule"]
    for name, size in zip(shapes3d_render.FACTOR_NAMES, shapes3d_render.FACTOR_SIZES):
        assert features[f"label_{name}"].num_classes == size
        assert features[f"value_{name}"].dtype == np.float32
    assert list(tiny_builder.info.splits) == ["train"]
    assert tiny_builder.info.splits["train"].num_examples == 2_000


def test_examples_hold_the_configs_grid_points(tiny_examples):
    config = next(c for c in ProceduralShapes3d.BUILDER_CONFIGS if c.name == "tiny")
    index = tiny_examples["index"]
    assert sorted(index.tolist()) == sorted(selected_flat_indices(config).tolist())
    # Stored in hashed-key order, unrelated to the grid, so slices of the split are random subsets.
    assert not np.all(np.diff(index) > 0)


def test_labels_values_and_images_match_the_grid(tiny_examples):
    names = shapes3d_render.FACTOR_NAMES
    labels = np.stack([tiny_examples[f"label_{name}"] for name in names], axis=1)
    index = tiny_examples["index"]
    np.testing.assert_array_equal(labels, shapes3d_render.flat_index_to_factor_indices(index))
    np.testing.assert_array_equal(shapes3d_render.factor_indices_to_flat_index(labels), index)
    values = np.stack([tiny_examples[f"value_{name}"] for name in names], axis=1)
    np.testing.assert_allclose(values, shapes3d_render.factor_indices_to_values(labels))
    images = tiny_examples["image"]
    assert images.shape == (2_000, 64, 64, 3) and images.dtype == np.uint8
    # PNG storage is lossless: the stored images are exactly the rendered ones.
    np.testing.assert_array_equal(images, shapes3d_render.render_shapes3d(labels))


def test_preparing_twice_gives_identical_data(tmp_path, tiny_examples):
    again = _read_all(_prepare_tiny(tmp_path))
    assert again.keys() == tiny_examples.keys()
    for key in tiny_examples:
        np.testing.assert_array_equal(again[key], tiny_examples[key])


def test_tfds_load_reads_the_prepared_data_by_name(tiny_builder, tiny_examples):
    dataset = tfds.load(
        "procedural_shapes3d/tiny",
        split="train[:10]",
        data_dir=str(tiny_builder.data_dir_root),
        download=False,
        try_gcs=False,
        shuffle_files=False,
    )
    first = [int(example["index"]) for example in tfds.as_numpy(dataset)]
    np.testing.assert_array_equal(first, tiny_examples["index"][:10])


# Registry and input pipeline.


def test_registry_describes_procedural_shapes3d():
    spec = get_dataset_spec("procedural_shapes3d")
    assert DATASETS["procedural_shapes3d"] is spec
    assert spec.name == "procedural_shapes3d"
    assert spec.factor_names == (
        "floor_hue",
        "wall_hue",
        "object_hue",
        "scale",
        "shape",
        "orientation",
    )
    assert spec.factor_sizes == (10, 10, 10, 8, 4, 15)
    assert spec.num_factors == 6
    assert spec.image_shape == (64, 64, 3)
    assert spec.builder is ProceduralShapes3d
    assert spec.default_config == "sample_50k"
    assert spec.config_names == ("full", "sample_50k", "sample_10k", "tiny")
    assert spec.splits == ("train",)


def test_pipeline_yields_float_images_and_int_factors(tiny_builder, tiny_examples):
    data_dir = str(tiny_builder.data_dir_root)
    # The builder prepared above is found, not rebuilt.
    assert get_builder("procedural_shapes3d", "tiny", data_dir, prepare=False).is_prepared()
    dataset = load_dataset(
        name="procedural_shapes3d",
        config="tiny",
        data_dir=data_dir,
        mode="factors",
        batch_size=None,
        shuffle=False,
        repeat=False,
    )
    assert dataset.element_spec[0].shape == (64, 64, 3)
    assert dataset.element_spec[0].dtype == tf.float32
    assert dataset.element_spec[1].shape == (6,)
    assert dataset.element_spec[1].dtype == tf.int32
    images, factors = [], []
    for image, factor in dataset.as_numpy_iterator():
        images.append(image)
        factors.append(factor)
    images, factors = np.stack(images), np.stack(factors)
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_allclose(images, tiny_examples["image"] / 255.0, atol=1e-6)
    labels = np.stack(
        [tiny_examples[f"label_{name}"] for name in shapes3d_render.FACTOR_NAMES], axis=1
    )
    np.testing.assert_array_equal(factors, labels)


def test_pipeline_autoencoder_batches_and_load_arrays(tiny_builder, tiny_examples):
    data_dir = str(tiny_builder.data_dir_root)
    dataset = load_dataset(
        name="procedural_shapes3d", config="tiny", data_dir=data_dir, batch_size=32
    )
    inputs, targets = next(iter(dataset))
    assert inputs.shape == (32, 64, 64, 3) and inputs.dtype == tf.float32
    np.testing.assert_array_equal(inputs.numpy(), targets.numpy())
    images, factors = load_arrays(
        "procedural_shapes3d", config="tiny", split="train[90%:]", data_dir=data_dir
    )
    assert images.shape == (200, 64, 64, 3) and images.dtype == np.float32
    assert factors.shape == (200, 6) and factors.dtype == np.int32
    np.testing.assert_array_equal(factors[:, 4], tiny_examples["label_shape"][1800:])
