"""Vectorized NumPy rasteriser for dSprites-like images.

The paper evaluates disentanglement on dSprites (Matthey et al. 2017): 64x64 binary images of one
white sprite on black, generated from five independent factors crossed on a full grid. The original
file cannot be downloaded on our machines, so this module redraws the same factor grid procedurally:

| factor        | values                                   |
| ------------- | ---------------------------------------- |
| shape         | 3: square, ellipse, heart                |
| scale         | 6: linspace(0.5, 1.0, 6)                 |
| orientation   | 40: 2 pi k / 40, k = 0..39 (in [0, 2 pi)) |
| position_x    | 32: linspace(0, 1, 32)                   |
| position_y    | 32: linspace(0, 1, 32)                   |

737,280 images in all. The flat index of an image is row-major over (shape, scale, orientation,
position_x, position_y), the order of the original release.

Geometry. Every shape is drawn inside a disc of radius `SHAPE_RADIUS_PX * scale` pixels around its
centre: the square's corners, the ellipse's major axis ends and the heart's farthest point touch that
disc. Positions map [0, 1] linearly onto centres in [CENTRE_MIN_PX, CENTRE_MAX_PX], chosen so that the
largest shape at any orientation keeps the one-pixel border of the frame empty. position_x moves the
sprite right, position_y moves it down (image row order). Orientation turns the sprite
counter-clockwise as displayed. As in the original, the square repeats every quarter turn and the
ellipse every half turn, so some orientation values draw identical images for those shapes.

Rendering samples each pixel on an `supersample x supersample` grid of points and lights the pixel when
at least half of them fall inside the shape. To stay fast, only a small window around each sprite is
evaluated and then pasted into the frame; all work is vectorized over a chunk of images.
"""

from __future__ import annotations

import functools

import numpy as np

from keras_latentquant.datasets import factor_grid

FACTOR_NAMES = ("shape", "scale", "orientation", "position_x", "position_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
IMAGE_SHAPE = (64, 64, 1)
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


# The value each factor index stands for, in FACTOR_NAMES order. The shape's "value" is its index.
FACTOR_VALUES = (
    _read_only(np.arange(3, dtype=np.float64)),
    _read_only(np.linspace(0.5, 1.0, 6)),
    _read_only(2.0 * np.pi * np.arange(40) / 40.0),
    _read_only(np.linspace(0.0, 1.0, 32)),
    _read_only(np.linspace(0.0, 1.0, 32)),
)

# Circumradius of every shape at scale 1: the ellipse is 21 px long, the square 14.8 px a side.
SHAPE_RADIUS_PX = 10.5
# Centres span [11.5, 52.5]: 11.5 - 10.5 = 1, so pixel 0 (covering [0, 1)) and pixel 63 stay empty.
CENTRE_MIN_PX = 11.5
CENTRE_MAX_PX = 52.5
# Ellipse semi-minor / semi-major axis: 2:1 makes its orientation plain to see.
ELLIPSE_AXIS_RATIO = 0.5

# Side of the square window rendered around each sprite; it must hold the disc of diameter 21 px
# whatever the sub-pixel offset of the centre.
_WINDOW_PX = 24
_FRAME_PX = IMAGE_SHAPE[0]


def factor_indices_to_flat_index(factor_indices: np.ndarray) -> np.ndarray:
    """Maps factor indices to the flat index of the image in the full grid.

    Args:
        factor_indices: integer array `[N, 5]`, one column per factor in `FACTOR_NAMES` order.

    Returns:
        int64 array `[N]` of flat indices in `[0, NUM_IMAGES)`, row-major over the factors.
    """
    return factor_grid.factor_indices_to_flat_index(factor_indices, FACTOR_NAMES, FACTOR_SIZES)


def flat_index_to_factor_indices(flat_index: np.ndarray) -> np.ndarray:
    """Maps flat grid indices back to factor indices (inverse of `factor_indices_to_flat_index`).

    Args:
        flat_index: integer array `[N]` of indices in `[0, NUM_IMAGES)`.

    Returns:
        int64 array `[N, 5]` of factor indices in `FACTOR_NAMES` order.
    """
    return factor_grid.flat_index_to_factor_indices(flat_index, FACTOR_SIZES)


def factor_indices_to_values(factor_indices: np.ndarray) -> np.ndarray:
    """Looks up the value of each factor (scale, angle in radians, position in [0, 1], ...).

    Args:
        factor_indices: integer array `[N, 5]` in `FACTOR_NAMES` order.

    Returns:
        float32 array `[N, 5]`; the shape column holds the shape index (0 square, 1 ellipse, 2 heart).
    """
    factor_indices = _validate_factor_indices(factor_indices)
    columns = [FACTOR_VALUES[i][factor_indices[:, i]] for i in range(len(FACTOR_NAMES))]
    return np.stack(columns, axis=1).astype(np.float32)


def render_dsprites(
    factor_indices: np.ndarray, chunk_size: int = 2048, supersample: int = 2
) -> np.ndarray:
    """Draws the dSprites image of each row of factor indices.

    Args:
        factor_indices: integer array `[N, 5]` in `FACTOR_NAMES` order (shape, scale, orientation,
            position_x, position_y).
        chunk_size: images rendered at once; bounds the temporary memory (about
            `chunk_size * 24^2 * supersample^2 * 4` bytes per temporary array).
        supersample: sample points per pixel side; a pixel is lit when at least half of its
            `supersample^2` points are inside the shape. 1 samples pixel centres only.

    Returns:
        uint8 array `[N, 64, 64, 1]` with values 0 (background) and 255 (sprite).

    Example:
        >>> images = render_dsprites(np.array([[2, 5, 0, 16, 16]]))  # a large upright heart
        >>> images.shape, images.dtype
        ((1, 64, 64, 1), dtype('uint8'))
    """
    factor_indices = _validate_factor_indices(factor_indices)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
    if supersample < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample}.")
    images = np.zeros((len(factor_indices),) + IMAGE_SHAPE, dtype=np.uint8)
    for start in range(0, len(factor_indices), chunk_size):
        chunk = factor_indices[start : start + chunk_size]
        images[start : start + len(chunk), :, :, 0] = _render_chunk(chunk, supersample)
    return images


def _validate_factor_indices(factor_indices: np.ndarray) -> np.ndarray:
    return factor_grid.validate_factor_indices(factor_indices, FACTOR_NAMES, FACTOR_SIZES)


def _heart_implicit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # The classic heart curve (x^2 + y^2 - 1)^3 - x^2 y^3 = 0; negative inside, lobes towards +y.
    radial = x * x + y * y - 1.0
    return radial * radial * radial - x * x * y * y * y


@functools.cache
def _heart_frame() -> tuple[float, float, float]:
    """Centre of mass and circumradius of the heart curve's interior, in the curve's coordinates.

    Returns:
        `(centre_x, centre_y, radius)`: the sprite is drawn with its centre of mass at the sprite
        centre and scaled so its farthest point lies `radius` curve units from it.
    """
    axis = np.linspace(-1.5, 1.5, 1201)
    x, y = np.meshgrid(axis, axis)
    inside = _heart_implicit(x, y) <= 0.0
    centre_x, centre_y = x[inside].mean(), y[inside].mean()
    # Half a grid step pads the sampled maximum so the true boundary stays within the radius.
    radius = np.hypot(x[inside] - centre_x, y[inside] - centre_y).max() + (axis[1] - axis[0])
    return float(centre_x), float(centre_y), float(radius)


def _inside_shape(shape_index: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether sprite-frame points (u, v), in units of the circumradius, lie inside a shape."""
    if shape_index == 0:
        # Square with its corners on the unit circle.
        return np.maximum(np.abs(u), np.abs(v)) <= np.sqrt(0.5)
    if shape_index == 1:
        v_scaled = v / ELLIPSE_AXIS_RATIO
        return u * u + v_scaled * v_scaled <= 1.0
    centre_x, centre_y, radius = _heart_frame()
    return _heart_implicit(u * radius + centre_x, v * radius + centre_y) <= 0.0


def _render_chunk(factor_indices: np.ndarray, supersample: int) -> np.ndarray:
    """Renders a chunk of images; returns uint8 `[N, 64, 64]`."""
    num_images = len(factor_indices)
    shape_index = factor_indices[:, 0]
    scale = FACTOR_VALUES[1][factor_indices[:, 1]]
    angle = FACTOR_VALUES[2][factor_indices[:, 2]]
    centre_x = CENTRE_MIN_PX + (CENTRE_MAX_PX - CENTRE_MIN_PX) * FACTOR_VALUES[3][factor_indices[:, 3]]
    centre_y = CENTRE_MIN_PX + (CENTRE_MAX_PX - CENTRE_MIN_PX) * FACTOR_VALUES[4][factor_indices[:, 4]]

    # Top-left pixel of each sprite's window; clipping keeps the window in the frame and, since the
    # sprite's disc lies inside [1, 63], still around the whole disc.
    window_left = np.clip(np.floor(centre_x).astype(np.int64) - 11, 0, _FRAME_PX - _WINDOW_PX)
    window_top = np.clip(np.floor(centre_y).astype(np.int64) - 11, 0, _FRAME_PX - _WINDOW_PX)

    # Sample points: pixel p covers [p, p + 1); its points sit at p + (a + 0.5) / supersample.
    sample_offsets = (np.arange(_WINDOW_PX * supersample) + 0.5) / supersample
    # Offsets from the sprite centre in units of its circumradius; dy points up so that positive
    # angles turn the sprite counter-clockwise on screen.
    radius_px = (SHAPE_RADIUS_PX * scale)[:, None]
    dx = ((window_left[:, None] + sample_offsets[None, :]) - centre_x[:, None]) / radius_px
    dy = (centre_y[:, None] - (window_top[:, None] + sample_offsets[None, :])) / radius_px
    dx = dx.astype(np.float32)[:, None, :]  # [N, 1, columns]
    dy = dy.astype(np.float32)[:, :, None]  # [N, rows, 1]
    cos = np.cos(angle).astype(np.float32)[:, None, None]
    sin = np.sin(angle).astype(np.float32)[:, None, None]

    side = _WINDOW_PX * supersample
    inside = np.empty((num_images, side, side), dtype=bool)
    for shape in range(len(SHAPE_NAMES)):
        selected = shape_index == shape
        if not selected.any():
            continue
        # Undo the sprite's rotation: (u, v) = R(-angle) (dx, dy).
        c, s = cos[selected], sin[selected]
        u = c * dx[selected] + s * dy[selected]
        v = c * dy[selected] - s * dx[selected]
        inside[selected] = _inside_shape(shape, u, v)

    # A pixel is lit when at least half of its sample points are inside.
    counts = inside.reshape(num_images, _WINDOW_PX, supersample, _WINDOW_PX, supersample).sum(
        axis=(2, 4), dtype=np.int32
    )
    window = np.where(2 * counts >= supersample * supersample, np.uint8(255), np.uint8(0))

    images = np.zeros((num_images, _FRAME_PX, _FRAME_PX), dtype=np.uint8)
    window_range = np.arange(_WINDOW_PX)
    rows = (window_top[:, None] + window_range)[:, :, None]
    columns = (window_left[:, None] + window_range)[:, None, :]
    images[np.arange(num_images)[:, None, None], rows, columns] = window
    return images
