"""The factor grids and image shapes of the real release files, as plain data (no TensorFlow, no TFDS).

The dataset registry reads them before anything imports TFDS (so the commands check `--dataset` at once); each
of our builder modules (`real/mpi3d.py`, ...) takes its `FACTOR_NAMES`, `FACTOR_SIZES` and
`IMAGE_SHAPE` from here, and its module docstring describes the factors.
"""

from keras_latentquant.datasets import dsprites_render

#: `dsprites` (TFDS's builder): the release's grid is the one `procedural_dsprites` draws (its constant colour
#: column is dropped); binary images with one channel.
DSPRITES_FACTOR_NAMES = dsprites_render.FACTOR_NAMES
DSPRITES_FACTOR_SIZES = dsprites_render.FACTOR_SIZES
DSPRITES_IMAGE_SHAPE = (64, 64, 1)

#: `shapes3d` (TFDS's builder): the columns of `3dshapes.h5`'s `labels`, in order (TFDS's label names).
SHAPES3D_FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
SHAPES3D_FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
SHAPES3D_IMAGE_SHAPE = (64, 64, 3)

#: `real_mpi3d`: the row-major order of the images in each MPI3D archive.
MPI3D_FACTOR_NAMES = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
MPI3D_FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)
MPI3D_IMAGE_SHAPE = (64, 64, 3)

#: `real_falcor3d` and `real_isaac3d` shrink the releases' 128x128 PNGs by area to this shape (`png_folder`).
PNG_FOLDER_IMAGE_SHAPE = (64, 64, 3)

#: `real_falcor3d`: the columns of `train-rec.labels`, in order.
FALCOR3D_FACTOR_NAMES = (
    "lighting_intensity",
    "lighting_x",
    "lighting_y",
    "lighting_z",
    "camera_x",
    "camera_y",
    "camera_z",
)
FALCOR3D_FACTOR_SIZES = (5, 6, 6, 6, 6, 6, 6)

#: `real_isaac3d`: the columns of `labels.npy`, in order.
ISAAC3D_FACTOR_NAMES = (
    "object_shape",
    "robot_x",
    "robot_y",
    "camera_height",
    "object_scale",
    "lighting_intensity",
    "lighting_y_dir",
    "object_color",
    "wall_color",
)
ISAAC3D_FACTOR_SIZES = (3, 8, 5, 4, 4, 4, 6, 4, 4)
