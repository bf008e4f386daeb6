"""Common base of the builders whose release is a folder of PNG images plus one label array.

Falcor3D and Isaac3D (Nie et al. 2020) come the same way in their 128x128 downsampled releases:

    <manual_dir>/<Folder>/images/000000.png, 000001.png, ...   (image i is `f"{i:06d}.png"`)
    <manual_dir>/<Folder>/<labels file>                        (a NumPy `.npy` array `[N, K]`)

Row i of the label array holds the K factor values of image i. The releases document how many
values each factor takes (values "uniformly sampled in [0, 1]") but not the values themselves, so
each factor's index is the rank of its value among the column's distinct values, and a column must
hold exactly the documented number of distinct values: a label file with any other count is refused,
and a subset of the release must still show every value of every factor at least once. The stored
value is kept as `value_<factor>`.

Images are read with Pillow, several at a time on a few threads (decoding releases the GIL), and
shrunk to 64x64 by averaging each 2x2 block of pixels (`manual_files.downsample_by_area`, the same as
`tf.image.resize(..., method="area")`). Memory holds one chunk of images at a time.

Subclasses set the class attributes below and their own `MANUAL_DOWNLOAD_INSTRUCTIONS` (see
`instructions`).
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from keras_latentquant.datasets.real import grids, manual_files

IMAGE_SHAPE = grids.PNG_FOLDER_IMAGE_SHAPE

# Images decoded at once; 512 128x128x3 PNGs are 24 MiB decoded.
_IMAGE_CHUNK = 512
# Pillow releases the GIL while it inflates a PNG, so a few threads decode faster than one.
_DECODE_THREADS = min(8, os.cpu_count() or 1)


def image_name(index: int) -> str:
    """File name of image `index` in the release's `images/` folder, e.g. `000042.png`."""
    return f"{index:06d}.png"


def instructions(folder: str, labels_file: str, source: str, num_images: int) -> str:
    """The `MANUAL_DOWNLOAD_INSTRUCTIONS` of a PNG-folder release.

    Args:
        folder: the release's top folder, e.g. `Falcor3D_down128`.
        labels_file: the label file's name inside it.
        source: where the release comes from.
        num_images: images in the release.

    Returns:
        The instructions text.
    """
    return f"""
    This dataset is never downloaded. Get the folder `{folder}` (the 128x128 release) from
    {source}.
    Unpack it and put it, under exactly that name, directly in the manual directory:

        <manual_dir>/{folder}/{labels_file}
        <manual_dir>/{folder}/images/000000.png ... {image_name(num_images - 1)}

    The manual directory is `<data_dir>/downloads/manual/` unless you pass another with
    `download_config=tfds.download.DownloadConfig(manual_dir=...)`.
    """


def read_labels(
    path: pathlib.Path, factor_names: tuple[str, ...], factor_sizes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Reads a release's label array and indexes each factor's values by rank.

    Args:
        path: the `.npy` label file.
        factor_names: factor names, in column order.
        factor_sizes: number of values of each factor.

    Returns:
        `(labels, values)`: int64 `[N, K]` factor indices and float32 `[N, K]` stored values.

    Raises:
        ManualFileFormatError: not a `.npy` array, wrong shape or dtype, no rows, or a column whose
            number of distinct values is not its factor's.
    """
    try:
        values = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise manual_files.format_error(
            path,
            f"it is not a readable NumPy .npy array ({error}); the file may be truncated or of "
            "another format.",
        ) from None
    if not isinstance(values, np.ndarray):
        # np.load returns an NpzFile for a zip archive.
        raise manual_files.format_error(
            path, f"it is a {type(values).__name__}, expected a single .npy array."
        )
    count = manual_files.check_array(
        path, "labels", values.shape, values.dtype, row_shape=(len(factor_names),), kind="number"
    )
    manual_files.check_num_rows(path, {"labels": count})
    labels = np.stack(
        [
            manual_files.distinct_values_to_indices(
                values[:, column], size, path=path, factor=name, column=column
            )
            for column, (name, size) in enumerate(zip(factor_names, factor_sizes))
        ],
        axis=1,
    )
    return labels, values.astype(np.float32)


class LabelledPngFolderBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of `real_falcor3d` and `real_isaac3d`; see the module docstring.

    Subclasses set `FOLDER_NAME`, `LABELS_FILE_NAME`, `SOURCE`, `HOMEPAGE`, `DESCRIPTION`,
    `FACTOR_NAMES`, `FACTOR_SIZES`, `NUM_IMAGES` and `MANUAL_DOWNLOAD_INSTRUCTIONS`.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(
            name="default",
            description="Every image of the release, shrunk from 128x128 to 64x64 by area.",
        )
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "default"

    FOLDER_NAME: str
    LABELS_FILE_NAME: str
    SOURCE: str
    HOMEPAGE: str
    DESCRIPTION: str
    FACTOR_NAMES: tuple[str, ...]
    FACTOR_SIZES: tuple[int, ...]
    NUM_IMAGES: int

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=self.DESCRIPTION,
            features=manual_files.features_dict(
                image_shape=IMAGE_SHAPE,
                factor_names=self.FACTOR_NAMES,
                factor_sizes=self.FACTOR_SIZES,
                value_factor_names=self.FACTOR_NAMES,
            ),
            homepage=self.HOMEPAGE,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = manual_files.resolve_manual_dir(dl_manager)
        folder = self.FOLDER_NAME
        find = dict(dataset=self.name, source=self.SOURCE)
        manual_files.require_path(manual_dir, folder, directory=True, **find)
        labels_path = manual_files.require_path(
            manual_dir, f"{folder}/{self.LABELS_FILE_NAME}", **find
        )
        images_dir = manual_files.require_path(manual_dir, f"{folder}/images", directory=True, **find)
        # Checked before generation starts, so a wrong file fails at once and not mid-way.
        labels, values = read_labels(labels_path, self.FACTOR_NAMES, self.FACTOR_SIZES)
        if len(labels) != self.NUM_IMAGES:
            logging.warning(
                "%s holds labels of %d of the release's %d images; preparing those.",
                labels_path,
                len(labels),
                self.NUM_IMAGES,
            )
        # The first and last images must exist; a gap in between is reported when it is reached.
        for index in (0, len(labels) - 1):
            manual_files.require_path(manual_dir, f"{folder}/images/{image_name(index)}", **find)
        first = manual_files.read_png(images_dir / image_name(0), **find)
        height, width, _ = first.shape
        if height != width or height % IMAGE_SHAPE[0]:
            raise manual_files.format_error(
                images_dir / image_name(0),
                f"the image is {height}x{width}; expected a square image whose side is a multiple "
                f"of {IMAGE_SHAPE[0]} (128x128 in the release).",
            )
        return {"train": self._generate_examples(images_dir, first.shape, labels, values)}

    def _generate_examples(
        self,
        images_dir: pathlib.Path,
        source_shape: tuple[int, int, int],
        labels: np.ndarray,
        values: np.ndarray,
    ):
        find = dict(dataset=self.name, source=self.SOURCE)

        def load(index: int) -> np.ndarray:
            path = images_dir / image_name(index)
            image = manual_files.read_png(path, **find)
            if image.shape != source_shape:
                raise manual_files.format_error(
                    path,
                    f"the image is {image.shape[0]}x{image.shape[1]}, unlike the first image "
                    f"({source_shape[0]}x{source_shape[1]}); all images must share one size.",
                )
            return manual_files.downsample_by_area(image, IMAGE_SHAPE[0])

        with concurrent.futures.ThreadPoolExecutor(max_workers=_DECODE_THREADS) as pool:
            for start in range(0, len(labels), _IMAGE_CHUNK):
                indices = range(start, min(start + _IMAGE_CHUNK, len(labels)))
                for index, image in zip(indices, pool.map(load, indices)):
                    yield index, manual_files.example(
                        image,
                        index,
                        self.FACTOR_NAMES,
                        labels[index],
                        values[index],
                        self.FACTOR_NAMES,
                    )
