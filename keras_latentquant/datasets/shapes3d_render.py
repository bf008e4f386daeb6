"""Vectorized NumPy ray caster for Shapes3D-like images.

The paper evaluates disentanglement on Shapes3D (Burgess and Kim 2018): 64x64 colour images of one
object standing in a room, generated from six independent factors crossed on a full grid. The
original file cannot be downloaded on our machines, so this module redraws the same factor grid
procedurally:

| factor      | values                                                |
| ----------- | ----------------------------------------------------- |
| floor_hue   | 10: linspace(0, 0.9, 10), hue as a fraction of a turn |
| wall_hue    | 10: linspace(0, 0.9, 10)                              |
| object_hue  | 10: linspace(0, 0.9, 10)                              |
| scale       | 8: linspace(0.75, 1.25, 8)                            |
| shape       | 4: cube, cylinder, sphere, capsule                    |
| orientation | 15: linspace(-30, 30, 15) degrees                     |

480,000 images in all. The flat index of an image is row-major over (floor_hue, wall_hue,
object_hue, scale, shape, orientation), the order of the original release.

Geometry (world units, y up). The floor is the plane y = 0; a back wall (z = -BACK_WALL_Z) and two
side walls (x = +-SIDE_WALL_X) close the room on three sides. The object stands on the floor at the
origin. At scale 1 the cube has side 1, the cylinder diameter and height 1, the sphere diameter 1
and the upright capsule diameter 0.7 and height 1.3. A pinhole camera at distance CAMERA_DISTANCE
and height CAMERA_HEIGHT looks at the point (0, TARGET_HEIGHT, 0) above the object. The object never
turns: as in the original, orientation orbits the camera about the vertical axis through the object
(positive angles move it counter-clockwise seen from above), so the walls, the floor-wall edges and
the lit side of the object move in the image for every shape, the sphere included. A directional
light from above, in front of and left of the object gives Lambertian shading,
`AMBIENT + (1 - AMBIENT) max(0, n . l)`, and the object casts a hard shadow. Colours are
HSV(hue, 1, 1) times that shading.

Speed. Only the shape, scale and orientation set where the floor, walls and object appear and how
they are lit; the three hues only colour them. So the 4 x 8 x 15 = 480 distinct scenes are ray cast
once (with `supersample x supersample` rays a pixel) into a table of each pixel's shaded coverage by
each region, and an image is then its table entry times the three region colours: a per-pixel
weighted sum, vectorized over a chunk of images.
"""

from __future__ import annotations

import functools

import numpy as np

from keras_latentquant.datasets import factor_grid

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")
# The regions a pixel can be covered by, in the order of the last axis of `region_coverage`.
REGION_NAMES = ("floor", "wall", "object")
IMAGE_SHAPE = (64, 64, 3)
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 480,000


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


# The value each factor index stands for, in FACTOR_NAMES order: hues as fractions of a turn, the
# scale as a size multiplier, the shape as its index and the orientation in degrees (the original's
# units).
FACTOR_VALUES = (
    _read_only(np.linspace(0.0, 0.9, 10)),
    _read_only(np.linspace(0.0, 0.9, 10)),
    _read_only(np.linspace(0.0, 0.9, 10)),
    _read_only(np.linspace(0.75, 1.25, 8)),
    _read_only(np.arange(4, dtype=np.float64)),
    _read_only(np.linspace(-30.0, 30.0, 15)),
)

# Room: the back wall and the side walls, in world units; the camera stays inside it at every angle.
BACK_WALL_Z = 3.0
SIDE_WALL_X = 3.0
# Camera at orientation 0: at (0, CAMERA_HEIGHT, CAMERA_DISTANCE), looking at (0, TARGET_HEIGHT, 0).
CAMERA_DISTANCE = 4.0
CAMERA_HEIGHT = 1.8
TARGET_HEIGHT = 0.7
# Vertical (and horizontal: the image is square) field of view.
FIELD_OF_VIEW_DEGREES = 42.0
# Direction towards the light (normalised below): above, in front of and left of the object, so
# the floor, the back wall and the two side walls all get different brightness.
LIGHT_DIRECTION = (-0.45, 1.0, 0.7)
AMBIENT = 0.4
# Half-extent of the cube, cylinder and sphere at scale 1 (half side, radius), and the capsule's
# radius and total height at scale 1.
OBJECT_HALF_SIZE = 0.5
CAPSULE_RADIUS = 0.35
CAPSULE_HEIGHT = 1.3

_FRAME_PX = IMAGE_SHAPE[0]
# Shadow rays start this far off the surface they leave, so they do not hit it again by round-off.
_SURFACE_OFFSET = 1e-4


def factor_indices_to_flat_index(factor_indices: np.ndarray) -> np.ndarray:
    """Maps factor indices to the flat index of the image in the full grid.

    Args:
        factor_indices: integer array `[N, 6]`, one column per factor in `FACTOR_NAMES` order.

    Returns:
        int64 array `[N]` of flat indices in `[0, NUM_IMAGES)`, row-major over the factors.
    """
    return factor_grid.factor_indices_to_flat_index(factor_indices, FACTOR_NAMES, FACTOR_SIZES)


def flat_index_to_factor_indices(flat_index: np.ndarray) -> np.ndarray:
    """Maps flat grid indices back to factor indices (inverse of `factor_indices_to_flat_index`).

    Args:
        flat_index: integer array `[N]` of indices in `[0, NUM_IMAGES)`.

    Returns:
        int64 array `[N, 6]` of factor indices in `FACTOR_NAMES` order.
    """
    return factor_grid.flat_index_to_factor_indices(flat_index, FACTOR_SIZES)


def factor_indices_to_values(factor_indices: np.ndarray) -> np.ndarray:
    """Looks up the value of each factor (hue fraction, scale, shape index, angle in degrees).

    Args:
        factor_indices: integer array `[N, 6]` in `FACTOR_NAMES` order.

    Returns:
        float32 array `[N, 6]`; the shape column holds the shape index (0 cube, 1 cylinder,
        2 sphere, 3 capsule).
    """
    factor_indices = _validate_factor_indices(factor_indices)
    columns = [FACTOR_VALUES[i][factor_indices[:, i]] for i in range(len(FACTOR_NAMES))]
    return np.stack(columns, axis=1).astype(np.float32)


def hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """HSV colour of full saturation and value as RGB.

    Args:
        hue: float array of hues as fractions of a turn (0 red, 1/3 green, 2/3 blue).

    Returns:
        float32 array of shape `hue.shape + (3,)` with RGB components in [0, 1].
    """
    hue = np.asarray(hue, dtype=np.float64)[..., None] % 1.0
    # With S = V = 1 each channel is a clipped triangle wave of the hue: red peaks at 0, green at
    # 1/3, blue at 2/3, each flat at 1 for a sixth of a turn either side.
    sector = 6.0 * hue - np.array([3.0, 2.0, 4.0])
    sign = np.array([1.0, -1.0, -1.0])
    offset = np.array([-1.0, 2.0, 2.0])
    return np.clip(sign * np.abs(sector) + offset, 0.0, 1.0).astype(np.float32)


def region_coverage(factor_indices: np.ndarray, supersample: int = 2) -> np.ndarray:
    """Fraction of each pixel covered by the floor, the walls and the object.

    Depends on the shape, scale and orientation only. Useful to locate the object (a segmentation
    mask) and in tests.

    Args:
        factor_indices: integer array `[N, 6]` in `FACTOR_NAMES` order.
        supersample: rays a pixel side, as in `render_shapes3d`.

    Returns:
        float32 array `[N, 64, 64, 3]`, last axis in `REGION_NAMES` order (floor, wall, object);
        it sums to 1 over that axis.
    """
    factor_indices = _validate_factor_indices(factor_indices)
    _validate_supersample(supersample)
    _, coverage = _scene_table(supersample)
    return coverage[factor_indices[:, 4], factor_indices[:, 3], factor_indices[:, 5]]


def render_shapes3d(
    factor_indices: np.ndarray, chunk_size: int = 1024, supersample: int = 2
) -> np.ndarray:
    """Draws the Shapes3D image of each row of factor indices.

    Args:
        factor_indices: integer array `[N, 6]` in `FACTOR_NAMES` order (floor_hue, wall_hue,
            object_hue, scale, shape, orientation).
        chunk_size: images coloured at once; bounds the temporary memory (about
            `chunk_size * 64 * 64 * 3 * 4` bytes per temporary array).
        supersample: rays a pixel side; each pixel averages `supersample^2` rays. The 480 scenes are
            ray cast once a process for each value used: about 2 s for 2 on 2 cores, 10 s for 3
            (memory grows as `supersample^2`).

    Returns:
        uint8 array `[N, 64, 64, 3]` of RGB images.

    Example:
        >>> images = render_shapes3d(np.array([[0, 5, 3, 7, 2, 7]]))  # a large sphere, front view
        >>> images.shape, images.dtype
        ((1, 64, 64, 3), dtype('uint8'))
    """
    factor_indices = _validate_factor_indices(factor_indices)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
    _validate_supersample(supersample)
    shaded, _ = _scene_table(supersample)
    hue_colours = hue_to_rgb(FACTOR_VALUES[0])  # the three hue factors share their values
    images = np.empty((len(factor_indices),) + IMAGE_SHAPE, dtype=np.uint8)
    for start in range(0, len(factor_indices), chunk_size):
        chunk = factor_indices[start : start + chunk_size]
        weights = shaded[chunk[:, 4], chunk[:, 3], chunk[:, 5]].reshape(len(chunk), -1, 3)
        # Rows: the floor, wall and object colours of each image, [n, 3 regions, 3 channels].
        colours = np.stack([hue_colours[chunk[:, region]] for region in range(3)], axis=1)
        # pixel = sum over regions of (shaded coverage) x (region colour): one [P, 3] x [3, 3]
        # product an image, the same for an image whatever its chunk.
        image = np.matmul(weights, colours)
        # Shaded coverage sums to at most 1 over the regions, so the image lies in [0, 255]
        # up to round-off; adding 0.5 then truncating rounds to the nearest level.
        image *= np.float32(255.0)
        image += np.float32(0.5)
        np.clip(image, 0.0, 255.0, out=image)
        images[start : start + len(chunk)] = image.astype(np.uint8).reshape((-1,) + IMAGE_SHAPE)
    return images


def _validate_factor_indices(factor_indices: np.ndarray) -> np.ndarray:
    return factor_grid.validate_factor_indices(factor_indices, FACTOR_NAMES, FACTOR_SIZES)


def _validate_supersample(supersample: int) -> None:
    if not isinstance(supersample, (int, np.integer)) or supersample < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample!r}.")


# Ray casting. Vectors are tuples of three broadcastable arrays (x, y, z); a hit is `(t, normal)`
# with t = inf where the ray misses.


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _point(origin, direction, t):
    return tuple(o + t * d for o, d in zip(origin, direction))


def _closer(first, second):
    """The nearer of two hits, ray by ray."""
    t_first, normal_first = first
    t_second, normal_second = second
    take_second = t_second < t_first
    normal = tuple(np.where(take_second, b, a) for a, b in zip(normal_first, normal_second))
    return np.where(take_second, t_second, t_first), normal


def _valid(t, condition):
    """t where the hit is in front of the ray origin and `condition` holds, else inf."""
    return np.where(condition & (t > _SURFACE_OFFSET), t, np.inf)


def _hit_sphere(origin, direction, centre_y, radius):
    # |o + t d - c|^2 = r^2 with |d| = 1: t = -b - sqrt(b^2 - c), the near root.
    relative = (origin[0], origin[1] - centre_y, origin[2])
    b = _dot(relative, direction)
    c = _dot(relative, relative) - radius * radius
    discriminant = b * b - c
    t = _valid(-b - np.sqrt(np.maximum(discriminant, 0.0)), discriminant >= 0.0)
    hit = _point(relative, direction, np.where(np.isfinite(t), t, 0.0))
    return t, tuple(component / radius for component in hit)


def _hit_cylinder_side(origin, direction, radius, bottom, top):
    # Vertical cylinder x^2 + z^2 = r^2 between heights bottom and top; the near root only, which
    # is the visible one for a ray from outside.
    a = direction[0] ** 2 + direction[2] ** 2
    b = origin[0] * direction[0] + origin[2] * direction[2]
    c = origin[0] ** 2 + origin[2] ** 2 - radius * radius
    discriminant = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(discriminant, 0.0))) / a
    height = origin[1] + np.nan_to_num(t) * direction[1]
    inside_band = (height >= bottom) & (height <= top)
    t = _valid(np.nan_to_num(t, nan=np.inf), (discriminant >= 0.0) & (a > 0.0) & inside_band)
    hit = _point(origin, direction, np.where(np.isfinite(t), t, 0.0))
    zero = np.zeros_like(t)
    return t, (hit[0] / radius, zero, hit[2] / radius)


def _hit_top_disc(origin, direction, radius, height):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (height - origin[1]) / direction[1]
    t = np.nan_to_num(t, nan=np.inf, posinf=np.inf, neginf=-np.inf)
    hit = _point(origin, direction, np.where(np.isfinite(t), t, 0.0))
    t = _valid(t, hit[0] ** 2 + hit[2] ** 2 <= radius * radius)
    zero = np.zeros_like(t)
    return t, (zero, zero + 1.0, zero)


def _hit_box(origin, direction, half):
    # Slab method for the box [-h, h] x [0, 2h] x [-h, h]: the ray is inside all three slabs
    # between the latest entry and the earliest exit; the entry face's axis gives the normal.
    lows = (-half, 0.0 * half, -half)
    highs = (half, 2.0 * half, half)
    entries, exits = [], []
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in range(3):
            inverse = 1.0 / direction[axis]
            t_low = (lows[axis] - origin[axis]) * inverse
            t_high = (highs[axis] - origin[axis]) * inverse
            entries.append(np.nan_to_num(np.minimum(t_low, t_high), nan=-np.inf))
            exits.append(np.nan_to_num(np.maximum(t_low, t_high), nan=np.inf))
    entry = np.maximum(np.maximum(entries[0], entries[1]), entries[2])
    exit_ = np.minimum(np.minimum(exits[0], exits[1]), exits[2])
    t = _valid(entry, entry <= exit_)
    # The entry face is on the slab entered last; ties (edges) go to the first such axis.
    on_x = entries[0] == entry
    on_y = ~on_x & (entries[1] == entry)
    on_z = ~on_x & ~on_y
    normal = tuple(
        np.where(on_axis, -np.sign(direction[axis]), 0.0) + np.zeros_like(t)
        for axis, on_axis in enumerate((on_x, on_y, on_z))
    )
    return t, normal


def _hit_object(shape_index, origin, direction, scale):
    """Ray hits on the object of one shape; `scale` broadcasts against the rays."""
    if shape_index == 0:
        return _hit_box(origin, direction, OBJECT_HALF_SIZE * scale)
    if shape_index == 1:
        radius = OBJECT_HALF_SIZE * scale
        side = _hit_cylinder_side(origin, direction, radius, 0.0, 2.0 * radius)
        # The bottom cap rests on the floor, so only the top cap can be seen or cast a shadow.
        return _closer(side, _hit_top_disc(origin, direction, radius, 2.0 * radius))
    if shape_index == 2:
        radius = OBJECT_HALF_SIZE * scale
        return _hit_sphere(origin, direction, radius, radius)
    # Capsule: a vertical cylinder capped by two hemispheres, its lower pole on the floor.
    radius = CAPSULE_RADIUS * scale
    top_centre = (CAPSULE_HEIGHT * scale) - radius
    hit = _hit_cylinder_side(origin, direction, radius, radius, top_centre)
    hit = _closer(hit, _hit_sphere(origin, direction, radius, radius))
    return _closer(hit, _hit_sphere(origin, direction, top_centre, radius))


def _hit_room(origin, direction):
    """Hits on the floor and the three walls; returns `(t, normal, is_floor)`."""
    shape = np.broadcast(origin[0], direction[0]).shape
    zeros, ones = np.zeros(shape), np.ones(shape)
    planes = (
        (1, 0.0, (zeros, ones, zeros)),  # floor y = 0, facing up
        (2, -BACK_WALL_Z, (zeros, zeros, ones)),  # back wall, facing the camera
        (0, -SIDE_WALL_X, (ones, zeros, zeros)),  # left wall, facing right
        (0, SIDE_WALL_X, (-ones, zeros, zeros)),  # right wall, facing left
    )
    t, normal = np.full(shape, np.inf), (zeros, zeros, zeros)
    for axis, position, plane_normal in planes:
        with np.errstate(divide="ignore", invalid="ignore"):
            t_plane = (position - origin[axis]) / direction[axis]
        # Inside the room (a convex cell) the surface a ray meets is the nearest plane in front.
        t_plane = _valid(np.nan_to_num(t_plane, nan=np.inf), True)
        t, normal = _closer((t, normal), (t_plane, plane_normal))
    # Only the floor faces up.
    return t, normal, normal[1] > 0.5


def _camera_rays(supersample: int):
    """Ray origin and unit directions of every sample point, for each orientation.

    Returns:
        `(origin, direction)`: origin components of shape `[15, 1]`, direction components of shape
        `[15, P]` with `P = (64 * supersample)^2` sample points in row-major image order.
    """
    side = _FRAME_PX * supersample
    # Sample point centres across the image plane, in [-1, 1], rows downwards.
    offsets = (np.arange(side) + 0.5) / side * 2.0 - 1.0
    half_width = np.tan(np.radians(FIELD_OF_VIEW_DEGREES) / 2.0)
    screen_x = np.tile(offsets, side) * half_width
    screen_y = -np.repeat(offsets, side) * half_width
    # Camera frame at orientation 0: it looks along -z and down at the target.
    forward = np.array([0.0, TARGET_HEIGHT - CAMERA_HEIGHT, -CAMERA_DISTANCE])
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    local = forward[:, None] + right[:, None] * screen_x + up[:, None] * screen_y
    local /= np.linalg.norm(local, axis=0)
    # Orbit: rotate the camera position and its rays about the y axis by the orientation angle.
    angle = np.radians(FACTOR_VALUES[5])[:, None]
    cos, sin = np.cos(angle), np.sin(angle)
    origin = (CAMERA_DISTANCE * sin, np.full_like(angle, CAMERA_HEIGHT), CAMERA_DISTANCE * cos)
    direction = (
        cos * local[0] + sin * local[2],
        np.broadcast_to(local[1], (len(angle), side * side)),
        -sin * local[0] + cos * local[2],
    )
    return origin, direction


@functools.cache
def _scene_table(supersample: int) -> tuple[np.ndarray, np.ndarray]:
    """Ray casts the 480 scenes (shape x scale x orientation).

    Returns:
        `(shaded, coverage)`, both float32 `[4, 8, 15, 64, 64, 3]` indexed by (shape, scale,
        orientation, row, column, region): `coverage` is the fraction of the pixel's rays that
        hit each region and `shaded` their mean Lambertian brightness, zero for rays that missed
        the region.
    """
    origin, direction = _camera_rays(supersample)
    light = np.asarray(LIGHT_DIRECTION, dtype=np.float64)
    light /= np.linalg.norm(light)
    t_room, room_normal, is_floor = _hit_room(origin, direction)  # [15, P]
    room_point = _point(origin, direction, t_room)
    room_lambert = np.maximum(_dot(room_normal, light), 0.0)
    # Shadow rays leave the room surface towards the light.
    shadow_origin = tuple(p + _SURFACE_OFFSET * n for p, n in zip(room_point, room_normal))
    shadow_direction = tuple(light)

    scale = FACTOR_VALUES[3][:, None, None]  # [8, 1, 1] against rays [15, P]
    num_scenes = (FACTOR_SIZES[4], FACTOR_SIZES[3], FACTOR_SIZES[5])
    shaded = np.empty(num_scenes + (_FRAME_PX, _FRAME_PX, 3), dtype=np.float32)
    coverage = np.empty_like(shaded)
    for shape_index in range(len(SHAPE_NAMES)):
        t_object, object_normal = _hit_object(shape_index, origin, direction, scale)  # [8, 15, P]
        shadow_t, _ = _hit_object(shape_index, shadow_origin, shadow_direction, scale)
        lit = ~np.isfinite(shadow_t)
        is_object = t_object < t_room
        room_brightness = AMBIENT + (1.0 - AMBIENT) * room_lambert * lit
        object_brightness = AMBIENT + (1.0 - AMBIENT) * np.maximum(
            _dot(object_normal, light), 0.0
        )
        hits = np.stack(
            [~is_object & is_floor, ~is_object & ~is_floor, is_object], axis=-1
        ).astype(np.float32)
        brightness = hits * np.stack(
            [room_brightness, room_brightness, object_brightness], axis=-1
        ).astype(np.float32)
        # Average the supersample x supersample rays of each pixel.
        rays = (FACTOR_SIZES[3], FACTOR_SIZES[5], _FRAME_PX, supersample, _FRAME_PX, supersample, 3)
        coverage[shape_index] = hits.reshape(rays).mean(axis=(3, 5))
        shaded[shape_index] = brightness.reshape(rays).mean(axis=(3, 5))
    return _read_only(shaded), _read_only(coverage)
