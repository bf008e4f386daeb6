"""Tests of the dSprites rasteriser: factor grid, index maps and the geometry of the drawn sprites."""

import time

import numpy as np
import pytest

from keras_latentquant.datasets import dsprites_render
from keras_latentquant.datasets.dsprites_render import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    FACTOR_VALUES,
    NUM_IMAGES,
    factor_indices_to_flat_index,
    factor_indices_to_values,
    flat_index_to_factor_indices,
    render_dsprites,
)

SQUARE, ELLIPSE, HEART = 0, 1, 2


def _render_one(shape, scale, orientation, position_x, position_y):
    """Renders one image and returns it as a boolean [64, 64] foreground mask."""
    image = render_dsprites(np.array([[shape, scale, orientation, position_x, position_y]]))
    return image[0, :, :, 0] > 0


def _centre_of_mass(mask):
    rows, columns = np.nonzero(mask)
    # Pixel (r, c) covers [c, c + 1) x [r, r + 1): its centre is at (c + 0.5, r + 0.5).
    return columns.mean() + 0.5, rows.mean() + 0.5


def _expected_centre(position_index):
    span = dsprites_render.CENTRE_MAX_PX - dsprites_render.CENTRE_MIN_PX
    return dsprites_render.CENTRE_MIN_PX + span * position_index / 31.0


def test_factor_grid_matches_dsprites():
    assert FACTOR_NAMES == ("shape", "scale", "orientation", "position_x", "position_y")
    assert FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert NUM_IMAGES == 737_280 == 3 * 6 * 40 * 32 * 32
    assert dsprites_render.SHAPE_NAMES == ("square", "ellipse", "heart")
    np.testing.assert_array_equal(FACTOR_VALUES[0], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(FACTOR_VALUES[1], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    np.testing.assert_allclose(FACTOR_VALUES[2], 2.0 * np.pi * np.arange(40) / 40.0)
    # Orientations cover [0, 2 pi): 2 pi itself would repeat 0.
    assert FACTOR_VALUES[2][0] == 0.0 and FACTOR_VALUES[2][-1] < 2.0 * np.pi
    np.testing.assert_allclose(FACTOR_VALUES[3], np.arange(32) / 31.0)
    np.testing.assert_allclose(FACTOR_VALUES[4], np.arange(32) / 31.0)
    assert [len(values) for values in FACTOR_VALUES] == list(FACTOR_SIZES)


def test_flat_index_is_row_major_over_the_factors():
    # ((((shape * 6 + scale) * 40 + orientation) * 32 + position_x) * 32 + position_y), by hand.
    factors = np.array(
        [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [1, 2, 3, 4, 5], [2, 5, 39, 31, 31]]
    )
    expected = [0, 1, 32, (((1 * 6 + 2) * 40 + 3) * 32 + 4) * 32 + 5, 737_279]
    np.testing.assert_array_equal(factor_indices_to_flat_index(factors), expected)
    np.testing.assert_array_equal(flat_index_to_factor_indices(np.array(expected)), factors)


def test_flat_index_round_trip_over_the_whole_grid():
    flat = np.arange(NUM_IMAGES)
    factors = flat_index_to_factor_indices(flat)
    assert factors.shape == (NUM_IMAGES, 5)
    np.testing.assert_array_equal(factors.max(axis=0), np.array(FACTOR_SIZES) - 1)
    np.testing.assert_array_equal(factor_indices_to_flat_index(factors), flat)


def test_factor_values_look_up_each_column():
    factors = np.array([[2, 5, 10, 31, 0], [1, 0, 0, 0, 31]])
    values = factor_indices_to_values(factors)
    assert values.dtype == np.float32
    np.testing.assert_allclose(values[0], [2.0, 1.0, np.pi / 2, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(values[1], [1.0, 0.5, 0.0, 0.0, 1.0], rtol=1e-6)


def test_render_returns_binary_uint8_images():
    factors = flat_index_to_factor_indices(np.random.default_rng(0).integers(0, NUM_IMAGES, 64))
    images = render_dsprites(factors)
    assert images.shape == (64, 64, 64, 1)
    assert images.dtype == np.uint8
    assert set(np.unique(images).tolist()) == {0, 255}
    np.testing.assert_array_equal(render_dsprites(factors), images)


def test_render_does_not_depend_on_chunking_or_batch_neighbours():
    factors = flat_index_to_factor_indices(np.random.default_rng(1).integers(0, NUM_IMAGES, 50))
    batched = render_dsprites(factors)
    np.testing.assert_array_equal(render_dsprites(factors, chunk_size=7), batched)
    np.testing.assert_array_equal(render_dsprites(factors[13:14]), batched[13:14])


@pytest.mark.parametrize("factor", range(5))
def test_changing_one_factor_changes_the_image(factor):
    # A heart has no rotational symmetry, so every value of every factor draws a distinct image.
    base = [HEART, 3, 7, 10, 20]
    images = []
    for value in range(FACTOR_SIZES[factor]):
        factors = list(base)
        factors[factor] = value
        images.append(_render_one(*factors).tobytes())
    assert len(set(images)) == FACTOR_SIZES[factor]


def test_shapes_differ_at_every_scale_and_orientation():
    for scale in range(6):
        for orientation in (0, 3, 7):
            masks = [_render_one(shape, scale, orientation, 16, 16) for shape in range(3)]
            assert not np.array_equal(masks[0], masks[1])
            assert not np.array_equal(masks[0], masks[2])
            assert not np.array_equal(masks[1], masks[2])


def test_symmetric_shapes_repeat_like_the_original():
    # The square looks the same after a quarter turn (10 steps), the ellipse after a half turn (20).
    orientations = np.arange(10)
    for shape, period in ((SQUARE, 10), (ELLIPSE, 20)):
        base = np.array([[shape, 4, o, 9, 22] for o in orientations])
        turned = base.copy()
        turned[:, 2] += period
        np.testing.assert_array_equal(render_dsprites(base), render_dsprites(turned))
        assert not np.array_equal(_render_one(shape, 4, 0, 9, 22), _render_one(shape, 4, 5, 9, 22))


def test_largest_shapes_stay_inside_the_frame():
    # Every shape and orientation at the largest scale, in the four corners of the position grid.
    factors = np.array(
        [
            [shape, 5, orientation, position_x, position_y]
            for shape in range(3)
            for orientation in range(40)
            for position_x in (0, 31)
            for position_y in (0, 31)
        ]
    )
    images = render_dsprites(factors)[..., 0] > 0
    assert not images[:, 0, :].any() and not images[:, -1, :].any()
    assert not images[:, :, 0].any() and not images[:, :, -1].any()
    # The position range uses the frame: sprites in a corner come within 3 pixels of its edges.
    rows = images.any(axis=2)
    columns = images.any(axis=1)
    corner = (factors[:, 3] == 0) & (factors[:, 4] == 0)
    assert rows[corner, :3].any(axis=1).any() and columns[corner, :3].any(axis=1).any()


def test_pixel_count_grows_with_scale_and_is_never_trivial():
    for shape in range(3):
        for orientation in (0, 5, 13):
            counts = [_render_one(shape, scale, orientation, 16, 16).sum() for scale in range(6)]
            assert np.all(np.diff(counts) > 0), (shape, orientation, counts)
            assert counts[0] >= 30, (shape, orientation, counts)
    # At scale 1 the sprites are about 20 px across: a horizontal ellipse is 19 to 22 px wide.
    widest = _render_one(ELLIPSE, 5, 0, 16, 16).any(axis=0).sum()
    assert 19 <= widest <= 22


@pytest.mark.parametrize("shape", range(3))
def test_sprites_are_centred_on_their_position(shape):
    for position_x, position_y in ((0, 0), (16, 5), (31, 31)):
        centre_x, centre_y = _centre_of_mass(_render_one(shape, 5, 7, position_x, position_y))
        assert abs(centre_x - _expected_centre(position_x)) < 1.0
        assert abs(centre_y - _expected_centre(position_y)) < 1.0


def test_positions_move_right_and_down_and_orientation_turns_counter_clockwise():
    centres = [_centre_of_mass(_render_one(SQUARE, 2, 0, p, p)) for p in (0, 10, 20, 31)]
    assert np.all(np.diff([c[0] for c in centres]) > 0)
    assert np.all(np.diff([c[1] for c in centres]) > 0)
    # The ellipse's long axis is horizontal at angle 0 and vertical after a quarter turn.
    flat = _render_one(ELLIPSE, 5, 0, 16, 16)
    upright = _render_one(ELLIPSE, 5, 10, 16, 16)
    assert flat.any(axis=0).sum() > 1.5 * flat.any(axis=1).sum()
    assert upright.any(axis=1).sum() > 1.5 * upright.any(axis=0).sum()
    # A heart at angle 0 has its lobes up and its tip down: the top row is wider than the bottom row.
    heart = _render_one(HEART, 5, 0, 16, 16)
    rows = np.nonzero(heart.any(axis=1))[0]
    assert heart[rows[0]].sum() > heart[rows[-1]].sum()
    # Counter-clockwise on screen: a quarter turn puts the lobes on the left and the tip on the right.
    turned = _render_one(HEART, 5, 10, 16, 16)
    columns = np.nonzero(turned.any(axis=0))[0]
    assert turned[:, columns[-1]].sum() < turned[:, columns[0]].sum()


def test_rendering_is_fast():
    factors = flat_index_to_factor_indices(np.random.default_rng(2).integers(0, NUM_IMAGES, 10_000))
    start = time.perf_counter()
    render_dsprites(factors)
    # About 0.6 s here on 2 cores; the bound leaves room for a loaded machine.
    assert time.perf_counter() - start < 15.0


@pytest.mark.parametrize(
    "factors, message",
    [
        (np.zeros((3, 4), dtype=np.int64), "shape"),
        (np.zeros((3, 5), dtype=np.float32), "integers"),
        (np.array([[3, 0, 0, 0, 0]]), "shape"),
        (np.array([[0, 0, 40, 0, 0]]), "orientation"),
        (np.array([[0, 0, 0, 0, -1]]), "position_y"),
    ],
)
def test_render_rejects_bad_factor_indices(factors, message):
    with pytest.raises(ValueError, match=message):
        render_dsprites(factors)


def test_flat_index_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="737280"):
        flat_index_to_factor_indices(np.array([NUM_IMAGES]))
