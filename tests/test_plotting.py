"""Figures: files are written as PNGs of the expected layout, bad shapes are refused."""

import numpy as np
import pytest
from matplotlib import image as mpimg

from keras_latentquant import plotting


def test_image_grid_and_reconstructions(tmp_path):
    images = np.random.default_rng(0).uniform(size=(4, 16, 16, 1)).astype("float32")
    path = plotting.save_reconstructions(images, images, str(tmp_path / "sub" / "recon.png"))
    picture = mpimg.imread(path)
    assert picture.ndim == 3 and picture.shape[1] > picture.shape[0]  # 2 rows x 4 columns: wide
    with pytest.raises(ValueError, match="differ in shape"):
        plotting.save_reconstructions(images, images[:2], str(tmp_path / "bad.png"))
    with pytest.raises(ValueError, match="rows, columns"):
        plotting.save_image_grid(images, str(tmp_path / "bad.png"))


def test_traversal_grid_rgb(tmp_path):
    traversals = np.random.default_rng(1).uniform(size=(3, 5, 8, 8, 3))
    path = plotting.save_traversals(traversals, str(tmp_path / "t.png"), row_labels=["z0", "z1", "z2"])
    assert mpimg.imread(path).shape[0] > 50


def test_nmi_heatmap(tmp_path):
    nmi = np.array([[0.9, 0.1, 0.0], [0.05, 0.8, 0.0]])
    path = plotting.save_nmi_heatmap(
        nmi, str(tmp_path / "nmi.png"), source_names=["shape", "scale"], active=[True, True, False], title="t"
    )
    assert mpimg.imread(path).ndim == 3
    with pytest.raises(ValueError, match="2 source names for 3"):
        plotting.save_nmi_heatmap(np.zeros((3, 2)), str(tmp_path / "x.png"), source_names=["a", "b"])
    with pytest.raises(ValueError, match="matrix"):
        plotting.save_nmi_heatmap(np.zeros(3), str(tmp_path / "x.png"))


def test_montage_places_each_image_in_reading_order_between_white_lines():
    images = np.zeros((2, 3, 4, 5, 1), "float32")
    for r in range(2):
        for c in range(3):
            images[r, c] = (3 * r + c) / 10
    canvas = plotting.image_montage(images, gap=2)
    assert canvas.shape == (2 * 4 + 2, 3 * 5 + 2 * 2, 1)
    for r in range(2):
        for c in range(3):
            cell = canvas[r * 6:r * 6 + 4, c * 7:c * 7 + 5]
            np.testing.assert_array_equal(cell, np.full((4, 5, 1), (3 * r + c) / 10, "float32"))
    assert np.all(canvas[4:6] == 1.0) and np.all(canvas[:, 5:7] == 1.0)  # the separating lines
    assert plotting.image_montage(np.full((1, 1, 2, 2, 3), 7.0)).max() == 1.0  # clipped to [0, 1]


def test_a_large_grid_renders_fast(tmp_path):
    import time

    traversals = np.random.default_rng(0).uniform(size=(10, 10, 64, 64, 1))
    start = time.process_time()
    plotting.save_traversals(traversals, str(tmp_path / "t.png"), row_labels=[f"z{i}" for i in range(10)])
    assert time.process_time() - start < 1.5  # one axes per image took about 2 s of CPU
    picture = mpimg.imread(str(tmp_path / "t.png"))
    assert 0.8 < picture.shape[0] / picture.shape[1] < 1.25
