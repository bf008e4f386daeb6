"""Tests of the Shapes3D ray caster: factor grid, index maps, colours and scene geometry."""

import time

import numpy as np
import pytest

from keras_latentquant.datasets import shapes3d_render
from keras_latentquant.datasets.shapes3d_render import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    FACTOR_VALUES,
    NUM_IMAGES,
    factor_indices_to_flat_index,
    factor_indices_to_values,
    flat_index_to_factor_indices,
    hue_to_rgb,
    region_coverage,
    render_shapes3d,
)

FLOOR_HUE, WALL_HUE, OBJECT_HUE, SCALE, SHAPE, ORIENTATION = range(6)
FLOOR, WALL, OBJECT = range(3)
CUBE, CYLINDER, SPHERE, CAPSULE = range(4)
# A medium cube seen from the front, with three distinct hues.
BASE = (0, 6, 3, 4, CUBE, 7)
# Rows that hold only wall (top) and only floor (bottom) in every scene; checked below.
TOP_ROWS = slice(0, 10)
BOTTOM_ROWS = slice(56, 64)


def _with(factor, value, base=BASE):
    factors = list(base)
    factors[factor] = value
    return factors


def _render(*rows):
    return render_shapes3d(np.array(rows)).astype(np.int64)


def test_factor_grid_matches_shapes3d():
    assert FACTOR_NAMES == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert FACTOR_SIZES == (10, 10, 10, 8, 4, 15)
    assert NUM_IMAGES == 480_000 == 10 * 10 * 10 * 8 * 4 * 15
    assert shapes3d_render.SHAPE_NAMES == ("cube", "cylinder", "sphere", "capsule")
    assert shapes3d_render.IMAGE_SHAPE == (64, 64, 3)
    for hue in FACTOR_VALUES[:3]:
        np.testing.assert_allclose(hue, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    np.testing.assert_allclose(FACTOR_VALUES[3], 0.75 + np.arange(8) / 14.0)
    np.testing.assert_array_equal(FACTOR_VALUES[4], [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(FACTOR_VALUES[5], -30.0 + np.arange(15) * 60.0 / 14.0)
    assert FACTOR_VALUES[5][7] == 0.0
    assert [len(values) for values in FACTOR_VALUES] == list(FACTOR_SIZES)
    with pytest.raises(ValueError):
        FACTOR_VALUES[3][0] = 2.0  # read-only, so nobody changes the grid by accident


def test_flat_index_is_row_major_over_the_factors():
    # (((((floor * 10 + wall) * 10 + object) * 8 + scale) * 4 + shape) * 15 + orientation), by hand.
    factors = np.array(
        [
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1, 0],
            [0, 0, 0, 1, 0, 0],
            [1, 0, 0, 0, 0, 0],
            [1, 2, 3, 4, 2, 5],
            [9, 9, 9, 7, 3, 14],
        ]
    )
    expected = [0, 1, 15, 60, 48_000, ((((1 * 10 + 2) * 10 + 3) * 8 + 4) * 4 + 2) * 15 + 5, 479_999]
    np.testing.assert_array_equal(factor_indices_to_flat_index(factors), expected)
    np.testing.assert_array_equal(flat_index_to_factor_indices(np.array(expected)), factors)


def test_flat_index_round_trip_over_the_whole_grid():
    flat = np.arange(NUM_IMAGES)
    factors = flat_index_to_factor_indices(flat)
    assert factors.shape == (NUM_IMAGES, 6)
    np.testing.assert_array_equal(factors.max(axis=0), np.array(FACTOR_SIZES) - 1)
    np.testing.assert_array_equal(factor_indices_to_flat_index(factors), flat)


def test_factor_values_look_up_each_column():
    values = factor_indices_to_values(np.array([[9, 0, 5, 7, 3, 0], [0, 3, 0, 0, 1, 14]]))
    assert values.dtype == np.float32
    np.testing.assert_allclose(values[0], [0.9, 0.0, 0.5, 1.25, 3.0, -30.0], rtol=1e-6)
    np.testing.assert_allclose(values[1], [0.0, 0.3, 0.0, 0.75, 1.0, 30.0], rtol=1e-6)


def test_hue_to_rgb_gives_fully_saturated_colours():
    rgb = hue_to_rgb(np.array([0.0, 0.1, 1 / 3, 0.5, 2 / 3, 0.9, 1.0]))
    assert rgb.dtype == np.float32 and rgb.shape == (7, 3)
    expected = [[1, 0, 0], [1, 0.6, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 0.6], [1, 0, 0]]
    np.testing.assert_allclose(rgb, expected, atol=1e-6)


def test_render_returns_deterministic_uint8_colour_images():
    factors = flat_index_to_factor_indices(np.random.default_rng(0).integers(0, NUM_IMAGES, 64))
    images = render_shapes3d(factors)
    assert images.shape == (64, 64, 64, 3)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(render_shapes3d(factors), images)
    # Anti-aliased edges and shading give many levels, not a handful of flat colours.
    assert len(np.unique(images)) > 100


def test_render_does_not_depend_on_chunking_or_batch_neighbours():
    factors = flat_index_to_factor_indices(np.random.default_rng(1).integers(0, NUM_IMAGES, 50))
    batched = render_shapes3d(factors)
    np.testing.assert_array_equal(render_shapes3d(factors, chunk_size=7), batched)
    np.testing.assert_array_equal(render_shapes3d(factors[13:14]), batched[13:14])


def test_region_coverage_partitions_every_pixel_and_frames_the_scene():
    # Every scene: all shapes, scales and orientations (the hues do not change the geometry).
    everything = np.array(
        [
            [0, 0, 0, scale, shape, orientation]
            for scale in range(8)
            for shape in range(4)
            for orientation in range(15)
        ]
    )
    coverage = region_coverage(everything)
    assert coverage.shape == (480, 64, 64, 3) and coverage.dtype == np.float32
    np.testing.assert_allclose(coverage.sum(axis=-1), 1.0, atol=1e-6)
    # A wall above, a floor below, the object in between and never touching the frame.
    np.testing.assert_array_equal(coverage[:, TOP_ROWS, :, WALL], 1.0)
    np.testing.assert_array_equal(coverage[:, BOTTOM_ROWS, :, FLOOR], 1.0)
    object_pixels = coverage[..., OBJECT] > 0
    assert object_pixels.all(axis=0).any()  # the middle of the frame is object in every scene
    assert not object_pixels[:, :5].any() and not object_pixels[:, -5:].any()
    assert not object_pixels[:, :, :5].any() and not object_pixels[:, :, -5:].any()
    np.testing.assert_array_equal(region_coverage(everything + [9, 4, 7, 0, 0, 0]), coverage)


@pytest.mark.parametrize("factor", range(6))
def test_changing_one_factor_changes_the_image(factor):
    images = [_render(_with(factor, value)).tobytes() for value in range(FACTOR_SIZES[factor])]
    assert len(set(images)) == FACTOR_SIZES[factor]


@pytest.mark.parametrize("shape", range(4))
def test_orientation_turns_the_view_of_every_shape(shape):
    base = _with(SHAPE, shape)
    images = render_shapes3d(np.array([_with(ORIENTATION, value, base) for value in range(15)]))
    assert len({image.tobytes() for image in images}) == 15
    # The camera orbits, so the walls move: the top rows (wall only) change between the extremes.
    assert not np.array_equal(images[0, TOP_ROWS], images[-1, TOP_ROWS])


def test_orbiting_turns_the_cube_but_not_the_sphere():
    def silhouette(shape, orientation):
        factors = np.array([_with(ORIENTATION, orientation, _with(SHAPE, shape))])
        return region_coverage(factors)[0, ..., OBJECT] > 0.5

    # A cube seen from another angle has another outline; a sphere's outline stays put, and it is
    # the room around it that turns.
    assert (silhouette(CUBE, 0) != silhouette(CUBE, 7)).sum() > 30
    np.testing.assert_array_equal(silhouette(SPHERE, 0), silhouette(SPHERE, 7))


def test_each_hue_colours_only_its_own_region():
    coverage = region_coverage(np.array([BASE]))[0]
    base = _render(BASE)[0]
    for factor, region, unchanged_rows in (
        (FLOOR_HUE, FLOOR, TOP_ROWS),
        (WALL_HUE, WALL, BOTTOM_ROWS),
        (OBJECT_HUE, OBJECT, None),
    ):
        changed = (_render(_with(factor, 8))[0] != base).any(axis=-1)
        assert changed.any()
        # Only pixels the region covers (at least in part) change.
        assert not changed[coverage[..., region] == 0].any(), FACTOR_NAMES[factor]
        # and nearly all the pixels it covers do.
        assert changed[coverage[..., region] == 1].mean() > 0.95, FACTOR_NAMES[factor]
        if unchanged_rows is not None:
            assert not changed[unchanged_rows].any()
    floor_changed = (_render(_with(FLOOR_HUE, 8))[0] != base).any(axis=-1)
    assert floor_changed[BOTTOM_ROWS].all()


@pytest.mark.parametrize(
    "factor, region", [(FLOOR_HUE, FLOOR), (WALL_HUE, WALL), (OBJECT_HUE, OBJECT)]
)
def test_pixels_take_their_regions_hue_with_lambertian_shading(factor, region):
    for hue in range(10):
        factors = _with(factor, hue)
        image = _render(factors)[0].astype(np.float64)
        pure = region_coverage(np.array([factors]))[0, ..., region] == 1
        pixels = image[pure]
        # Shading scales the colour HSV(hue, 1, 1): each pixel is brightness x 255 x rgb, up to
        # rounding, with brightness in [AMBIENT, 1].
        rgb = hue_to_rgb(FACTOR_VALUES[factor][hue])
        brightness = pixels.max(axis=-1) / 255.0
        np.testing.assert_allclose(pixels, 255.0 * brightness[:, None] * rgb, atol=1.0)
        assert brightness.min() >= shapes3d_render.AMBIENT - 0.01
        assert brightness.max() <= 1.0


def test_objects_are_shaded_like_solids():
    # Lambertian shading over curved or differently turned faces spreads the object's brightness.
    for shape in range(4):
        factors = _with(OBJECT_HUE, 0, _with(SHAPE, shape, _with(ORIENTATION, 3)))
        image = _render(factors)[0]
        pure = region_coverage(np.array([factors]))[0, ..., OBJECT] == 1
        red = image[pure][:, 0]
        assert red.max() - red.min() > 60, shapes3d_render.SHAPE_NAMES[shape]


def test_object_pixel_count_grows_with_scale():
    for shape in range(4):
        for orientation in (0, 5, 7, 14):
            base = _with(SHAPE, shape, _with(ORIENTATION, orientation))
            rows = np.array([_with(SCALE, scale, base) for scale in range(8)])
            counts = region_coverage(rows)[..., OBJECT].sum(axis=(1, 2))
            assert np.all(np.diff(counts) > 0), (shape, orientation, counts)
    # From the smallest to the largest scale the size grows 5/3 times, the area about (5/3)^2.
    rows = np.array([_with(SCALE, 0), _with(SCALE, 7)])
    small, large = region_coverage(rows)[..., OBJECT].sum(axis=(1, 2))
    assert 2.3 < large / small < 3.3


def test_the_four_shapes_have_different_silhouettes():
    for scale in range(8):
        for orientation in (0, 7, 11):
            base = _with(SCALE, scale, _with(ORIENTATION, orientation))
            rows = np.array([_with(SHAPE, shape, base) for shape in range(4)])
            masks = region_coverage(rows)[..., OBJECT] > 0.5
            for first in range(4):
                for second in range(first + 1, 4):
                    # At least a few dozen pixels apart, not a one-pixel rounding difference.
                    assert (masks[first] != masks[second]).sum() >= 20, (first, second, scale)
    # The cube is the bulkiest, the capsule the tallest.
    rows = np.array([_with(SHAPE, shape) for shape in range(4)])
    masks = region_coverage(rows)[..., OBJECT] > 0.5
    heights = masks.any(axis=2).sum(axis=1)
    areas = masks.sum(axis=(1, 2))
    assert areas.argmax() == CUBE and heights.argmax() == CAPSULE


def test_rendering_is_fast():
    factors = flat_index_to_factor_indices(np.random.default_rng(2).integers(0, NUM_IMAGES, 10_000))
    start = time.perf_counter()
    render_shapes3d(factors)
    # About 0.5 s here on 2 cores once the scenes are cast; the bound leaves room for a loaded
    # machine and for casting the scenes in this call.
    assert time.perf_counter() - start < 20.0


@pytest.mark.parametrize(
    "factors, message",
    [
        (np.zeros((3, 5), dtype=np.int64), "shape"),
        (np.zeros((3, 6), dtype=np.float32), "integers"),
        (np.array([[10, 0, 0, 0, 0, 0]]), "floor_hue"),
        (np.array([[0, 0, 0, 8, 0, 0]]), "scale"),
        (np.array([[0, 0, 0, 0, 4, 0]]), "shape"),
        (np.array([[0, 0, 0, 0, 0, 15]]), "orientation"),
        (np.array([[0, 0, -1, 0, 0, 0]]), "object_hue"),
    ],
)
def test_render_rejects_bad_factor_indices(factors, message):
    with pytest.raises(ValueError, match=message):
        render_shapes3d(factors)


def test_render_rejects_bad_arguments():
    with pytest.raises(ValueError, match="chunk_size"):
        render_shapes3d(np.zeros((1, 6), dtype=np.int64), chunk_size=0)
    with pytest.raises(ValueError, match="supersample"):
        render_shapes3d(np.zeros((1, 6), dtype=np.int64), supersample=0)
    with pytest.raises(ValueError, match="480000"):
        flat_index_to_factor_indices(np.array([NUM_IMAGES]))
