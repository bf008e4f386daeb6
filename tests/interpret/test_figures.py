"""Tests of keras_latentquant.interpret.figures: the strip and the factor panels are written."""

import matplotlib.image
import numpy as np
import pytest

from keras_latentquant.interpret import factors_along_curve
from keras_latentquant.interpret.figures import save_curve_strip, save_factors_along_curve


def test_curve_strip_is_one_row_of_images(tmp_path):
    images = np.random.default_rng(0).uniform(size=(5, 16, 16, 1))
    path = save_curve_strip(images, np.linspace(0, 7, 5), str(tmp_path / "strip" / "curve_strip.png"), title="t")
    written = matplotlib.image.imread(path)
    assert written.shape[1] > 3 * written.shape[0]
    with pytest.raises(ValueError, match="one position each"):
        save_curve_strip(images, np.linspace(0, 7, 4), str(tmp_path / "bad.png"))
    with pytest.raises(ValueError, match="one position each"):
        save_curve_strip(images[0], [0.0], str(tmp_path / "bad.png"))


def test_factor_panels_with_a_constant_factor_and_empty_bins(tmp_path):
    rng = np.random.default_rng(1)
    positions = rng.uniform(0, 3, 400)  # bins beyond position 3 stay empty
    factors = np.stack([np.floor(positions).astype(int), np.zeros(400, int), rng.integers(0, 40, 400)], axis=1)
    result = factors_along_curve(positions, factors, num_bins=7, position_range=(0, 7))
    assert np.isnan(result.nmi["f1"]) and result.nmi["f0"] == pytest.approx(1.0)
    path = save_factors_along_curve(result, str(tmp_path / "factors.png"), title="t")
    written = matplotlib.image.imread(path)[..., :3]
    # The per-bin means are drawn in red over the (viridis) shares.
    red = (written[..., 0] > 0.9) & (written[..., 1] < 0.2) & (written[..., 2] < 0.2)
    assert red.sum() > 100
