"""TFDS's own `dsprites` and `shapes3d` builders, read through our pipeline from mock data (nothing downloaded)."""

import contextlib
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_latentquant.datasets.pipeline import load_arrays, load_dataset
from keras_latentquant.datasets.registry import DATASETS, DatasetNotPreparedError, check_catalog_prepared
from keras_latentquant.training.config import TrainConfig
from keras_latentquant.training.run import train


@contextlib.contextmanager
def prepared_catalog(data_dir, num_examples=64, as_dataset_fn=None):
    """TFDS's `dsprites` and `shapes3d` as `tfds build` leaves them in `data_dir` (their metadata: one train split
    of `num_examples`), with TFDS's mock examples standing in for the records."""
    for name in ("dsprites", "shapes3d"):
        builder = tfds.builder(name, data_dir=str(data_dir))
        builder.info.set_splits(
            tfds.core.SplitDict([tfds.core.SplitInfo(name="train", shard_lengths=[num_examples], num_bytes=0)])
        )
        os.makedirs(builder.data_path, exist_ok=True)
        builder.info.write_to_directory(builder.data_path)
        assert tfds.builder(name, data_dir=str(data_dir)).is_prepared()
    with tfds.testing.mock_data(num_examples=num_examples, as_dataset_fn=as_dataset_fn, data_dir=str(data_dir)):
        yield str(data_dir)


def _known_dsprites(self, split, decoders=None, read_config=None, **kwargs):
    """Examples as TFDS's dSprites stores them: 0/1 masks, labels under TFDS's names."""
    count = 6
    masks = np.zeros((count, 64, 64, 1), np.uint8)
    masks[:, 10:20, 30:40] = 1
    labels = {
        "label_shape": np.arange(count) % 3,
        "label_scale": np.arange(count) % 6,
        "label_orientation": np.arange(count) + 30,
        "label_x_position": np.arange(count) + 20,  # our position_x
        "label_y_position": np.arange(count) + 10,  # our position_y
    }
    return tf.data.Dataset.from_tensor_slices({"image": masks, **{k: v.astype(np.int64) for k, v in labels.items()}})


def test_dsprites_masks_and_factor_names_are_ours(tmp_path):
    with prepared_catalog(tmp_path, as_dataset_fn=_known_dsprites) as data_dir:
        images, factors = load_arrays("dsprites", data_dir=data_dir)
    assert images.shape == (6, 64, 64, 1) and images.dtype == np.float32
    # 0/1 masks read as 0.0/1.0 images, like the procedural dSprites' 0/255.
    np.testing.assert_array_equal(np.unique(images), [0.0, 1.0])
    assert images[:, 10:20, 30:40].min() == 1.0 and images.sum() == 6 * 100
    # Columns in our factor order (shape, scale, orientation, position_x, position_y).
    assert DATASETS["dsprites"].factor_names == ("shape", "scale", "orientation", "position_x", "position_y")
    row = np.arange(6)
    np.testing.assert_array_equal(factors, np.stack([row % 3, row % 6, row + 30, row + 20, row + 10], axis=1))


@pytest.mark.parametrize("name", ["shapes3d", "dsprites", "real_shapes3d"])
def test_catalogue_datasets_feed_the_training_pipeline(name, tmp_path):
    spec = DATASETS[name.removeprefix("real_")]
    with prepared_catalog(tmp_path, num_examples=40) as data_dir:
        images, targets = next(iter(load_dataset(name, batch_size=8, data_dir=data_dir)))
        _, factors = load_arrays(name, data_dir=data_dir)
    assert images.shape == (8, *spec.image_shape) and images.dtype == tf.float32
    np.testing.assert_array_equal(images.numpy(), targets.numpy())
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    assert factors.shape == (40, spec.num_factors)
    assert np.all(factors >= 0) and np.all(factors < np.array(spec.factor_sizes))


def test_training_on_tfds_shapes3d(tmp_path):
    config = TrainConfig(
        output_dir=str(tmp_path / "run"), dataset="shapes3d", data_dir=str(tmp_path / "tfds"), architecture="fast",
        num_latents=12, batch_size=8, steps=4, eval_interval=2, eval_samples=20, verbose=0,
    )
    with prepared_catalog(tmp_path / "tfds", num_examples=96):
        train(config)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["dataset"] == "shapes3d/default" and metrics["factor_names"] == list(DATASETS["shapes3d"].factor_names)
    final = metrics["final"]
    # (TFDS's mock gives every split slice its num_examples, so the held-out "20" are 96 here.)
    assert final["step"] == 4 and final["num_samples"] >= 20
    # InfoMEC over the 6 Shapes3D factors and 12 latents, finite.
    assert np.array(final["nmi"]).shape == (6, 12)
    assert all(np.isfinite(final[key]) for key in ("infom", "infoe", "infoc", "psnr"))
    assert (tmp_path / "run" / "model.keras").exists()


def test_the_quick_check_stops_only_where_nothing_is_prepared(tmp_path, monkeypatch):
    # Nothing under <data_dir>/shapes3d: stopped, with the folder it looked in and how to prepare the data.
    with pytest.raises(DatasetNotPreparedError, match=r"no prepared version in .*shapes3d\).*tfds build shapes3d"):
        check_catalog_prepared("shapes3d", str(tmp_path))
    (tmp_path / "shapes3d" / "incomplete.abc").mkdir(parents=True)  # a build that never finished
    with pytest.raises(DatasetNotPreparedError):
        check_catalog_prepared("shapes3d", str(tmp_path))
    # Without --data_dir: TFDS's default, $TFDS_DATA_DIR.
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotPreparedError, match="dsprites"):
        check_catalog_prepared("dsprites", None)
    # A version holding dataset_info.json, a dataset of ours, a remote folder: passed on to
    # the pipeline's full check.
    (tmp_path / "shapes3d" / "2.0.0").mkdir()
    (tmp_path / "shapes3d" / "2.0.0" / "dataset_info.json").write_text("{}")
    check_catalog_prepared("shapes3d", str(tmp_path))
    check_catalog_prepared("procedural_shapes3d", str(tmp_path / "empty"))
    check_catalog_prepared("dsprites", "gs://some-bucket/tensorflow_datasets")
