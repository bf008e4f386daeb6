"""Tests for keras_latentquant.metrics.reconstruction: PSNR against hand-computed values."""

import numpy as np
import pytest

from keras_latentquant.metrics import per_image_psnr
from keras_latentquant.metrics import psnr


def test_constant_error_of_one_tenth_is_twenty_db():
    # MSE = 0.1^2 = 0.01 -> 10 log10(1 / 0.01) = 20 dB.
    images = np.zeros((3, 8, 8, 3))
    assert psnr(images, images + 0.1) == pytest.approx(20.0)


def test_max_value_255():
    # MSE = 65.025 = 255^2 / 1000 -> 30 dB.
    images = np.full((2, 4, 4, 1), 100.0)
    reconstructions = images + np.sqrt(65.025)
    assert psnr(images, reconstructions, max_value=255.0) == pytest.approx(30.0)


def test_per_image_values_and_mean_of_logs():
    images = np.zeros((2, 2, 2))
    # Image 0: one pixel off by 0.2 -> MSE 0.04 / 4 = 0.01 -> 20 dB.
    # Image 1: every pixel off by 0.01 -> MSE 1e-4 -> 40 dB.
    reconstructions = np.zeros((2, 2, 2))
    reconstructions[0, 0, 0] = 0.2
    reconstructions[1] = 0.01
    np.testing.assert_allclose(per_image_psnr(images, reconstructions), [20.0, 40.0])
    # The mean of per-image PSNRs (30 dB), not the PSNR of the mean MSE (about 23 dB).
    assert psnr(images, reconstructions) == pytest.approx(30.0)


def test_identical_images_give_the_finite_cap():
    images = np.random.default_rng(0).random((2, 4, 4, 3))
    assert psnr(images, images) == pytest.approx(100.0)
    assert psnr(images * 255, images * 255, max_value=255.0) == pytest.approx(100.0)
    assert np.isfinite(per_image_psnr(images, images)).all()


def test_accepts_integer_images():
    images = np.zeros((1, 4, 4), dtype=np.uint8)
    reconstructions = np.full((1, 4, 4), 10, dtype=np.uint8)  # MSE 100 -> 10 log10(65025 / 100)
    assert psnr(images, reconstructions, max_value=255) == pytest.approx(10 * np.log10(650.25))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="max_value"):
        psnr(np.zeros((2, 4)), np.zeros((2, 4)), max_value=0.0)
    with pytest.raises(ValueError, match="at least 2 axes"):
        psnr(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="empty"):
        psnr(np.zeros((0, 4)), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="finite"):
        psnr(np.full((1, 4), np.nan), np.zeros((1, 4)))
