"""TFDS builder `real_dsprites`: the original dSprites archive, read from TFDS's manual directory.

dSprites (Matthey et al. 2017) is the 737,280 binary 64x64 images of one white sprite crossed over
shape 3, scale 6, orientation 40, position_x 32, position_y 32 (plus a colour factor with a single
value). The release is one NumPy archive, `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`, holding
`imgs` (uint8 0/1, `[737280, 64, 64]`), `latents_classes` (integer indices, `[737280, 6]`) and
`latents_values` (`[737280, 6]`), columns colour, shape, scale, orientation, position x, position y,
and a pickled `metadata` dict that is never read here (unpickling runs code).

Nothing is downloaded: the user puts the archive in the manual directory. The builder drops the
constant colour column, keeps the same factor names as `procedural_dsprites`, writes images as
uint8 0/255 `[64, 64, 1]` and writes each factor's index (`label_<factor>`) and stored value
(`value_<factor>`; the shape's stored values are 1, 2, 3). It reads the images a chunk at a time
(the archive is compressed and holds 3 GB of pixels), so memory stays bounded.

An archive with fewer images than the release (a subset in the same format, e.g. in tests) is
accepted: its labels come from `latents_classes`, not from the row order, and a log line says how
many of the 737,280 images it holds. `index` is the image's row in the archive, which is its flat
grid index in the full release. One config (`default`), one split (`train`), stored in TFDS's
hashed-key order, so slices such as `train[:90%]` are random subsets.
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from keras_latentquant.datasets import dsprites_render
from keras_latentquant.datasets.real import grids, manual_files

FILE_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SOURCE = "the dSprites release by DeepMind (Matthey et al. 2017, project 'dsprites-dataset')"
FACTOR_NAMES = grids.DSPRITES_FACTOR_NAMES  # procedural_dsprites's grid (`dsprites_render`)
FACTOR_SIZES = grids.DSPRITES_FACTOR_SIZES
IMAGE_SHAPE = grids.DSPRITES_IMAGE_SHAPE
NUM_IMAGES = 737_280

# Columns of latents_classes / latents_values: colour (one value), then FACTOR_NAMES.
_LATENT_COLUMNS = 6


def read_latents(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """Checks a dSprites archive's structure and reads its factor indices and values.

    Args:
        path: the `.npz` archive.

    Returns:
        `(labels, values)`: int64 `[N, 5]` factor indices and float32 `[N, 5]` stored values, in
        `FACTOR_NAMES` order (the colour column dropped).

    Raises:
        ManualFileFormatError: not an `.npz`, missing arrays, wrong shapes or dtypes, arrays of
            different lengths, a colour other than 0, or an index outside its factor's range.
    """
    with manual_files.NpzArchive(path) as archive:
        archive.require_keys(("imgs", "latents_classes", "latents_values"))
        counts = {
            "imgs": manual_files.check_array(
                path, "imgs", *archive.header("imgs"), row_shape=(64, 64), kind="uint8"
            ),
            "latents_classes": manual_files.check_array(
                path,
                "latents_classes",
                *archive.header("latents_classes"),
                row_shape=(_LATENT_COLUMNS,),
                kind="integer",
            ),
            "latents_values": manual_files.check_array(
                path,
                "latents_values",
                *archive.header("latents_values"),
                row_shape=(_LATENT_COLUMNS,),
                kind="number",
            ),
        }
        manual_files.check_num_rows(path, counts)
        classes = archive.read("latents_classes").astype(np.int64)
        values = archive.read("latents_values").astype(np.float64)
    if np.any(classes[:, 0] != 0):
        raise manual_files.format_error(
            path,
            f"latents_classes column 0 (colour) holds {np.unique(classes[:, 0]).tolist()}; expected "
            "only 0 (this release has a single colour).",
        )
    labels = classes[:, 1:]
    for column, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES), start=1):
        outside = (labels[:, column - 1] < 0) | (labels[:, column - 1] >= size)
        if np.any(outside):
            row = int(np.flatnonzero(outside)[0])
            raise manual_files.format_error(
                path,
                f"latents_classes column {column} ({name}) holds {labels[row, column - 1]} in row "
                f"{row}; expected indices 0..{size - 1}.",
            )
    if not np.all(np.isfinite(values)):
        raise manual_files.format_error(path, "latents_values holds NaN or infinite values.")
    return labels, values[:, 1:].astype(np.float32)


class RealDsprites(tfds.core.GeneratorBasedBuilder):
    """The original dSprites archive from the manual directory; see the module docstring."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(
            name="default", description="Every image of the archive (737,280 in the release)."
        )
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "default"
    NUM_IMAGES = NUM_IMAGES
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    This dataset is never downloaded. Get `{FILE_NAME}` from {SOURCE} and put it, under
    exactly that name, directly in the manual directory:

        <manual_dir>/{FILE_NAME}

    The manual directory is `<data_dir>/downloads/manual/` unless you pass another with
    `download_config=tfds.download.DownloadConfig(manual_dir=...)`.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=manual_files.features_dict(
                image_shape=IMAGE_SHAPE,
                factor_names=FACTOR_NAMES,
                factor_sizes=FACTOR_SIZES,
                class_names={"shape": dsprites_render.SHAPE_NAMES},
                value_factor_names=FACTOR_NAMES,
            ),
            homepage="https://github.com/deepmind/dsprites-dataset",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = manual_files.resolve_manual_dir(dl_manager)
        path = manual_files.require_path(manual_dir, FILE_NAME, dataset=self.name, source=SOURCE)
        # Checked before generation starts, so a wrong file fails at once and not mid-way.
        labels, values = read_latents(path)
        if len(labels) != NUM_IMAGES:
            logging.warning(
                "%s holds %d of the release's %d images; preparing those.",
                path,
                len(labels),
                NUM_IMAGES,
            )
        return {"train": self._generate_examples(path, labels, values)}

    def _generate_examples(self, path: pathlib.Path, labels: np.ndarray, values: np.ndarray):
        start = 0
        with manual_files.NpzArchive(path) as archive:
            for chunk in archive.iter_rows("imgs"):
                if chunk.size and chunk.max() > 1:
                    raise manual_files.format_error(
                        path,
                        f"imgs holds pixel values up to {int(chunk.max())} near row {start}; "
                        "expected binary images (0 and 1).",
                    )
                # Binary 0/1 pixels become 0/255 so they read like any other uint8 image.
                images = chunk[..., np.newaxis] * np.uint8(255)
                for row, image in enumerate(images):
                    index = start + row
                    yield index, manual_files.example(
                        image, index, FACTOR_NAMES, labels[index], values[index], FACTOR_NAMES
                    )
                start += len(chunk)
