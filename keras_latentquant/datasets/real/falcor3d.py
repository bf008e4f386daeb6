"""TFDS builder `real_falcor3d`: the 128x128 Falcor3D release, read from TFDS's manual directory.

Falcor3D (Nie et al. 2020, NVIDIA) renders one living room, crossed over seven factors: 233,280
images. Its downsampled release is the folder `Falcor3D_down128/` with `images/000000.png` ...
`images/233279.png` (RGB, 128x128) and `train-rec.labels`, a NumPy array saved with `np.save`
(`[233280, 7]`) of factor values, columns in this order:

| column | factor             | values |
| ------ | ------------------ | ------ |
| 0      | lighting_intensity | 5      |
| 1      | lighting_x         | 6      |
| 2      | lighting_y         | 6      |
| 3      | lighting_z         | 6      |
| 4      | camera_x           | 6      |
| 5      | camera_y           | 6      |
| 6      | camera_z           | 6      |

(lighting_x/y/z are the light's direction, camera_x/y/z the camera's position.) Nothing is
downloaded: the user puts the folder in the manual directory. Images are shrunk to 64x64 by area and
each factor is indexed by the rank of its value; see `png_folder` for the details and what a subset
of the release must hold. One config (`default`), one split (`train`), stored in TFDS's hashed-key
order; `index` is the image's number (its file name).
"""

from __future__ import annotations

from keras_latentquant.datasets.real import grids, png_folder

FOLDER_NAME = "Falcor3D_down128"
LABELS_FILE_NAME = "train-rec.labels"
SOURCE = "NVIDIA's 'High-res-disentanglement-datasets' release (Falcor3D, 128x128 version)"
FACTOR_NAMES = grids.FALCOR3D_FACTOR_NAMES
FACTOR_SIZES = grids.FALCOR3D_FACTOR_SIZES
IMAGE_SHAPE = png_folder.IMAGE_SHAPE
NUM_IMAGES = 233_280


class RealFalcor3d(png_folder.LabelledPngFolderBuilder):
    """The 128x128 Falcor3D release from the manual directory; see the module docstring."""

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
