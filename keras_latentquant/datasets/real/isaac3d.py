"""TFDS builder `real_isaac3d`: the 128x128 Isaac3D release, read from TFDS's manual directory.

Isaac3D (Nie et al. 2020, NVIDIA) renders a robot arm and an object in a kitchen, crossed over nine
factors: 737,280 images. Its downsampled release is the folder `Isaac3D_down128/` with
`images/000000.png` ... `images/737279.png` (RGB, 128x128) and `labels.npy` (`[737280, 9]`) of factor
values, columns in this order:

| column | factor             | values |
| ------ | ------------------ | ------ |
| 0      | object_shape       | 3      |
| 1      | robot_x            | 8      |
| 2      | robot_y            | 5      |
| 3      | camera_height      | 4      |
| 4      | object_scale       | 4      |
| 5      | lighting_intensity | 4      |
| 6      | lighting_y_dir     | 6      |
| 7      | object_color       | 4      |
| 8      | wall_color         | 4      |

(robot_x and robot_y are the robot's movement.) Nothing is downloaded: the user puts the folder in
the manual directory. Images are shrunk to 64x64 by area and each factor is indexed by the rank of
its value; see `png_folder` for the details and what a subset of the release must hold. One config
(`default`), one split (`train`), stored in TFDS's hashed-key order; `index` is the image's number
(its file name).
"""

from __future__ import annotations

from keras_latentquant.datasets.real import grids, png_folder

FOLDER_NAME = "Isaac3D_down128"
LABELS_FILE_NAME = "labels.npy"
SOURCE = "NVIDIA's 'High-res-disentanglement-datasets' release (Isaac3D, 128x128 version)"
FACTOR_NAMES = grids.ISAAC3D_FACTOR_NAMES
FACTOR_SIZES = grids.ISAAC3D_FACTOR_SIZES
IMAGE_SHAPE = png_folder.IMAGE_SHAPE
NUM_IMAGES = 737_280


class RealIsaac3d(png_folder.LabelledPngFolderBuilder):
    """The 128x128 Isaac3D release from the manual directory; see the module docstring."""

    FOLDER_NAME = FOLDER_NAME
    LABELS_FILE_NAME = LABELS_FILE_NAME
    SOURCE = SOURCE
    HOMEPAGE = "https://github.com/NVlabs/High-res-disentanglement-datasets"
    DESCRIPTION = __doc__
    FACTOR_NAMES = FACTOR_NAMES
    FACTOR_SIZES = FACTOR_SIZES
    NUM_IMAGES = NUM_IMAGES
    MANUAL_DOWNLOAD_INSTRUCTIONS = png_folder.instructions(
        FOLDER_NAME, LABELS_FILE_NAME, SOURCE, NUM_IMAGES
    )
