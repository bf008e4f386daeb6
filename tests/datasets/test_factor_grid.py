"""Flat index <-> factor indices on a small grid worked out by hand."""

import numpy as np
import pytest

from keras_latentquant.datasets import factor_grid

NAMES, SIZES = ("a", "b", "c"), (2, 3, 4)


def test_row_major_by_hand():
    # (1, 2, 3) -> 1*12 + 2*4 + 3 = 23, the last of 24; (0, 1, 0) -> 4.
    flat = factor_grid.factor_indices_to_flat_index(np.array([[1, 2, 3], [0, 1, 0]]), NAMES, SIZES)
    np.testing.assert_array_equal(flat, [23, 4])
    np.testing.assert_array_equal(factor_grid.flat_index_to_factor_indices(flat, SIZES), [[1, 2, 3], [0, 1, 0]])


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"column 1 \(b\)"):
        factor_grid.factor_indices_to_flat_index(np.array([[0, 3, 0]]), NAMES, SIZES)
    with pytest.raises(ValueError, match="shape"):
        factor_grid.factor_indices_to_flat_index(np.array([[0, 0]]), NAMES, SIZES)
    with pytest.raises(ValueError, match=r"\[0, 24\)"):
        factor_grid.flat_index_to_factor_indices(np.array([24]), SIZES)
