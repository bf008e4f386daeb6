"""Tests of the dataset registry and the tf.data input pipeline, on the `tiny` procedural dSprites."""

import dataclasses
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_latentquant.datasets import dsprites_render
from keras_latentquant.datasets.pipeline import get_builder, load_arrays, load_dataset
from keras_latentquant.datasets.procedural_dsprites import ProceduralDsprites
from keras_latentquant.datasets.registry import DATASETS, DatasetSpec, get_dataset_spec

TINY = {"config": "tiny"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    # The pipeline prepares the data itself on first use.
    directory = str(tmp_path_factory.mktemp("tfds"))
    builder = get_builder("procedural_dsprites", "tiny", directory)
    assert builder.is_prepared()
    return directory


@pytest.fixture(scope="module")
def stored_examples(data_dir):
    builder = get_builder("procedural_dsprites", "tiny", data_dir, prepare=False)
    return tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False, batch_size=-1))


def _stored_factors(examples):
    return np.stack([examples[f"label_{name}"] for name in dsprites_render.FACTOR_NAMES], axis=1)


# Registry.


def test_registry_describes_procedural_dsprites():
    spec = get_dataset_spec("procedural_dsprites")
    assert DATASETS["procedural_dsprites"] is spec
    assert spec.factor_names == ("shape", "scale", "orientation", "position_x", "position_y")
    assert spec.factor_sizes == (3, 6, 40, 32, 32)
    assert spec.num_factors == 5
    assert spec.image_shape == (64, 64, 1)
    assert spec.builder is ProceduralDsprites
    assert spec.default_config == "sample_50k"
    assert spec.config_names == ("full", "sample_50k", "sample_10k", "tiny")
    assert spec.splits == ("train",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.default_config = "tiny"
    assert isinstance(spec, DatasetSpec)


def test_unknown_dataset_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"'dsprite'.*Did you mean 'dsprites'.*procedural_dsprites"):
        get_dataset_spec("dsprite")
    with pytest.raises(ValueError, match="procedural_dsprites"):
        load_dataset("shapes3d_real", **TINY)


# Pipeline.


def test_autoencoder_mode_yields_equal_float_image_pairs(data_dir):
    dataset = load_dataset(data_dir=data_dir, batch_size=32, **TINY)
    assert dataset.element_spec[0].shape.as_list() == [32, 64, 64, 1]
    inputs, targets = next(iter(dataset))
    assert inputs.dtype == tf.float32 and inputs.shape == (32, 64, 64, 1)
    np.testing.assert_array_equal(inputs.numpy(), targets.numpy())
    assert set(np.unique(inputs.numpy()).tolist()) == {0.0, 1.0}


def test_images_mode_yields_images_only(data_dir):
    dataset = load_dataset(data_dir=data_dir, mode="images", batch_size=16, **TINY)
    images = next(iter(dataset))
    assert isinstance(images, tf.Tensor)
    assert images.shape == (16, 64, 64, 1) and images.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0


def test_factors_mode_matches_the_builders_labels(data_dir, stored_examples):
    dataset = load_dataset(
        data_dir=data_dir,
        mode="factors",
        batch_size=None,
        shuffle=False,
        repeat=False,
        **TINY,
    )
    assert dataset.element_spec[1].dtype == tf.int32
    images, factors = zip(*dataset.as_numpy_iterator())
    factors = np.stack(factors)
    assert factors.dtype == np.int32 and factors.shape == (2_000, 5)
    np.testing.assert_array_equal(factors, _stored_factors(stored_examples))
    np.testing.assert_array_equal(np.stack(images), stored_examples["image"] / 255.0)


def test_one_unbatched_pass_keeps_the_last_partial_batch(data_dir):
    dataset = load_dataset(
        data_dir=data_dir, batch_size=300, repeat=False, drop_remainder=False, **TINY
    )
    sizes = [inputs.shape[0] for inputs, _ in dataset]
    assert sum(sizes) == 2_000 and sizes[-1] == 2_000 % 300


def test_training_pipeline_repeats_and_shuffles_reproducibly(data_dir):
    def first_factor_batches(seed, count=20):
        dataset = load_dataset(data_dir=data_dir, mode="factors", batch_size=128, seed=seed, **TINY)
        # 20 batches of 128 is more than the 2,000 examples: only a repeated dataset gets there.
        return np.stack([factors for _, factors in dataset.take(count).as_numpy_iterator()])

    first = first_factor_batches(seed=0)
    assert first.shape == (20, 128, 5)
    np.testing.assert_array_equal(first_factor_batches(seed=0), first)
    assert not np.array_equal(first_factor_batches(seed=1), first)


def test_split_slices_hold_out_disjoint_examples(data_dir):
    _, train_factors = load_arrays(split="train[:90%]", data_dir=data_dir, **TINY)
    _, held_out_factors = load_arrays(split="train[90%:]", data_dir=data_dir, **TINY)
    assert len(train_factors) == 1_800 and len(held_out_factors) == 200
    to_flat = dsprites_render.factor_indices_to_flat_index
    assert not set(to_flat(train_factors).tolist()) & set(to_flat(held_out_factors).tolist())


def test_load_arrays_returns_float_images_and_their_factors(data_dir, stored_examples):
    images, factors = load_arrays(data_dir=data_dir, max_examples=300, **TINY)
    assert images.shape == (300, 64, 64, 1) and images.dtype == np.float32
    assert factors.shape == (300, 5) and factors.dtype == np.int32
    np.testing.assert_array_equal(factors, _stored_factors(stored_examples)[:300])
    np.testing.assert_array_equal(images, dsprites_render.render_dsprites(factors) / np.float32(255.0))


def test_unknown_config_lists_the_valid_ones(data_dir):
    with pytest.raises(ValueError, match=r"'huge'.*full, sample_50k, sample_10k, tiny"):
        load_dataset(config="huge", data_dir=data_dir)
    with pytest.raises(ValueError, match="tiny"):
        load_arrays(config="sample_1k", data_dir=data_dir)


@pytest.mark.parametrize(
    "split, message",
    [
        ("test", r"'test'.*Valid splits: train"),
        ("train+validation[:10%]", "'validation'"),
        ("train[:abc]", "Malformed"),
        ("", "non-empty"),
    ],
)
def test_bad_split_strings_are_value_errors(data_dir, split, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(split=split, data_dir=data_dir, **TINY)


@pytest.mark.parametrize(
    "arguments, message",
    [({"mode": "pairs"}, "autoencoder, images, factors"), ({"batch_size": 0}, "batch_size")],
)
def test_bad_arguments_are_value_errors(data_dir, arguments, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(data_dir=data_dir, **TINY, **arguments)


# Concurrent preparation.

_PREPARE_WHEN_TOLD = """
import os, sys, time
from keras_latentquant.datasets.pipeline import get_builder
open(sys.argv[3], "w").close()  # imported: ready
go = sys.argv[2]
while not os.path.exists(go):  # every process is ready: start preparing together
    time.sleep(0.005)
builder = get_builder("procedural_dsprites", "tiny", sys.argv[1])
print("examples", builder.info.splits["train"].num_examples)
"""


def test_processes_preparing_one_dataset_at_once_wait_for_each_other(tmp_path):
    """Multi-worker workers, or a tuner's chief and workers, all prepare the same data on first use: one
    of them writes it, the others wait and read it, instead of writing the same files at once."""
    data_dir, go = tmp_path / "tfds", tmp_path / "go"
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    ready = [tmp_path / f"ready_{index}" for index in range(3)]
    processes = [
        subprocess.Popen([sys.executable, "-c", _PREPARE_WHEN_TOLD, str(data_dir), str(go), str(path)],
                         env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for path in ready
    ]
    deadline = time.monotonic() + 300
    while not all(path.exists() for path in ready):  # polling for the ready files, not a timing guess
        assert time.monotonic() < deadline and all(p.poll() is None for p in processes), "a process did not start"
        time.sleep(0.01)
    go.touch()
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
        assert "examples 2000" in stdout, stdout
    assert get_builder("procedural_dsprites", "tiny", str(data_dir), prepare=False).is_prepared()
