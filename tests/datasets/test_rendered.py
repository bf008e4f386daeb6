"""The procedural datasets rendered in memory (`datasets.rendered`, for backends without TensorFlow): the same
images and factors as the TFDS builders' configs, a cache that is read instead of rendering again, clear errors."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_latentquant.datasets import factor_grid, rendered
from keras_latentquant.datasets.procedural_dsprites import ProceduralDsprites


def _rows(images, factors):
    """Images keyed by their factor tuple (each grid point once)."""
    return {tuple(row): image for row, image in zip(factors.tolist(), images)}


def test_same_grid_points_and_pixels_as_the_tfds_builder(tmp_path):
    builder = ProceduralDsprites(config="tiny", data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    stored = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1))
    names = rendered.RENDERERS["procedural_dsprites"][0].FACTOR_NAMES
    stored_factors = np.stack([stored[f"label_{name}"] for name in names], axis=1)
    images, factors = rendered.rendered_arrays("procedural_dsprites", "tiny")
    assert images.dtype == np.uint8 and factors.dtype == np.int32 and images.shape == (2000, 64, 64, 1)
    mine, theirs = _rows(images, factors), _rows(stored["image"], stored_factors)
    assert len(mine) == 2000 and mine.keys() == theirs.keys()
    assert all(np.array_equal(mine[key], theirs[key]) for key in mine)
    # Another order than TFDS's (hashed keys): the selection's, a uniform permutation of the grid.
    assert not np.array_equal(factors, stored_factors)
    expected = factor_grid.grid_selection(737_280, factor_grid.PROCEDURAL_SAMPLE_SIZES["tiny"])
    np.testing.assert_array_equal(factors, rendered.RENDERERS["procedural_dsprites"][0]
                                  .flat_index_to_factor_indices(expected))


def test_cache_is_read_and_forked_rendering_is_identical(tmp_path, monkeypatch):
    monkeypatch.setattr(rendered, "_CHUNK", 500)  # 4 tasks for the 2,000 images
    images, factors = rendered.rendered_arrays("procedural_dsprites", "tiny", cache_dir=str(tmp_path), processes=2)
    serial_images, serial_factors = rendered.rendered_arrays("procedural_dsprites", "tiny")
    np.testing.assert_array_equal(images, serial_images)
    np.testing.assert_array_equal(factors, serial_factors)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "procedural_dsprites-tiny.factors.npy", "procedural_dsprites-tiny.images.npy"]

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered again although the cache holds the arrays")

    monkeypatch.setattr(rendered, "_render_chunk", no_rendering)
    cached_images, cached_factors = rendered.rendered_arrays("procedural_dsprites", "tiny", cache_dir=str(tmp_path))
    assert isinstance(cached_images, np.memmap)
    np.testing.assert_array_equal(cached_images, images)
    np.testing.assert_array_equal(cached_factors, factors)


@pytest.mark.parametrize("dataset, config, message", [
    ("procedural_dsprite", "tiny", "procedural_dsprites"),  # the registry's unknown-name message
    ("real_mpi3d", "tiny", "only procedural_dsprites, procedural_shapes3d are"),
    ("procedural_dsprites", "sample_5k", "valid: full, sample_50k, sample_10k, tiny"),
])
def test_errors_name_the_problem(dataset, config, message):
    with pytest.raises(ValueError, match=message):
        rendered.rendered_arrays(dataset, config)
