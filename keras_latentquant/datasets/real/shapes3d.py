"""TFDS builder `real_shapes3d`: the original 3dshapes HDF5 file, read from TFDS's manual directory.

Shapes3D (Burgess and Kim 2018) is 480,000 RGB 64x64 images of one object in a room, crossed over six
factors. The release is one HDF5 file, `3dshapes.h5`, with two datasets: `images` (uint8
`[480000, 64, 64, 3]`) and `labels` (float64 `[480000, 6]`). `labels` holds factor VALUES, not
indices, in this order and on these grids:

| column | factor      | values                            |
| ------ | ----------- | --------------------------------- |
| 0      | floor_hue   | 10: 0.0, 0.1, ..., 0.9            |
| 1      | wall_hue    | 10: 0.0, 0.1, ..., 0.9            |
| 2      | object_hue  | 10: 0.0, 0.1, ..., 0.9            |
| 3      | scale       | 8: linspace(0.75, 1.25, 8)        |
| 4      | shape       | 4: 0, 1, 2, 3                     |
| 5      | orientation | 15: linspace(-30, 30, 15) degrees |

Nothing is downloaded: the user puts the file in the manual directory. Each stored value becomes the
index of the nearest grid value (`label_<factor>`); a value farther than 1% of a grid step from every
grid value is an error, so float round-off passes and a wrong file does not. The stored value is kept
as `value_<factor>`. Images are read from the HDF5 file a chunk at a time (1.5 GB in all).

A file with fewer images than the release (a subset in the same format, e.g. in tests) is accepted:
labels come from `labels`, not from the row order, and a log line says how many of the 480,000
images it holds. `index` is the image's row in the file, its flat grid index in the full release.
One config (`default`), one split (`train`), stored in TFDS's hashed-key order.
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from keras_latentquant.datasets.real import grids, manual_files

FILE_NAME = "3dshapes.h5"
SOURCE = "the 3dshapes release by DeepMind (Burgess and Kim 2018, project '3d-shapes')"
FACTOR_NAMES = grids.SHAPES3D_FACTOR_NAMES
FACTOR_SIZES = grids.SHAPES3D_FACTOR_SIZES
IMAGE_SHAPE = grids.SHAPES3D_IMAGE_SHAPE
NUM_IMAGES = 480_000


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


# The grid of values of each factor, in FACTOR_NAMES order; hues stop at 0.9 because hue wraps at 1.
FACTOR_VALUES = (
    _read_only(np.linspace(0.0, 0.9, 10)),
    _read_only(np.linspace(0.0, 0.9, 10)),
    _read_only(np.linspace(0.0, 0.9, 10)),
    _read_only(np.linspace(0.75, 1.25, 8)),
    _read_only(np.arange(4, dtype=np.float64)),
    _read_only(np.linspace(-30.0, 30.0, 15)),
)


def _open_h5(path: pathlib.Path):
    # Imported here so that registering the builders does not need h5py, only reading this file does.
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise manual_files.format_error(
            path,
            f"it is not a readable HDF5 file ({error}); the file may be truncated (an interrupted "
            "download) or of another format.",
        ) from None


def _require_datasets(path: pathlib.Path, h5_file) -> None:
    import h5py

    found = sorted(h5_file.keys())
    missing = [
        key for key in ("images", "labels") if not isinstance(h5_file.get(key), h5py.Dataset)
    ]
    if missing:
        raise manual_files.format_error(
            path,
            f"the file holds {found}, but the datasets {missing} are missing (expected 'images' "
            "and 'labels').",
        )


def read_labels(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """Checks a 3dshapes file's structure and turns its stored factor values into indices.

    Args:
        path: the HDF5 file.

    Returns:
        `(labels, values)`: int64 `[N, 6]` factor indices and float32 `[N, 6]` stored values, in
        `FACTOR_NAMES` order.

    Raises:
        ManualFileFormatError: not HDF5, missing datasets, wrong shapes or dtypes, datasets of
            different lengths, or a value off its factor's grid.
    """
    with _open_h5(path) as h5_file:
        _require_datasets(path, h5_file)
        images, labels = h5_file["images"], h5_file["labels"]
        counts = {
            "images": manual_files.check_array(
                path, "images", images.shape, images.dtype, row_shape=IMAGE_SHAPE, kind="uint8"
            ),
            "labels": manual_files.check_array(
                path,
                "labels",
                labels.shape,
                labels.dtype,
                row_shape=(len(FACTOR_NAMES),),
                kind="number",
            ),
        }
        manual_files.check_num_rows(path, counts)
        try:
            values = np.asarray(labels[()], dtype=np.float64)
        except (OSError, ValueError) as error:
            raise manual_files.format_error(path, f"reading 'labels' failed ({error}).") from None
    indices = np.stack(
        [
            manual_files.values_to_grid_indices(
                values[:, column], FACTOR_VALUES[column], path=path, factor=name, column=column
            )
            for column, name in enumerate(FACTOR_NAMES)
        ],
        axis=1,
    )
    return indices, values.astype(np.float32)


class RealShapes3d(tfds.core.GeneratorBasedBuilder):
    """The original 3dshapes file from the manual directory; see the module docstring."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(
            name="default", description="Every image of the file (480,000 in the release)."
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
                value_factor_names=FACTOR_NAMES,
            ),
            homepage="https://github.com/deepmind/3d-shapes",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = manual_files.resolve_manual_dir(dl_manager)
        path = manual_files.require_path(manual_dir, FILE_NAME, dataset=self.name, source=SOURCE)
        # Checked before generation starts, so a wrong file fails at once and not mid-way.
        labels, values = read_labels(path)
        if len(labels) != NUM_IMAGES:
            logging.warning(
                "%s holds %d of the release's %d images; preparing those.",
                path,
                len(labels),
                NUM_IMAGES,
            )
        return {"train": self._generate_examples(path, labels, values)}

    def _generate_examples(self, path: pathlib.Path, labels: np.ndarray, values: np.ndarray):
        with _open_h5(path) as h5_file:
            images = h5_file["images"]
            for start in range(0, len(labels), manual_files.READ_CHUNK_ROWS):
                stop = min(start + manual_files.READ_CHUNK_ROWS, len(labels))
                try:
                    chunk = images[start:stop]
                except (OSError, ValueError) as error:
                    raise manual_files.format_error(
                        path,
                        f"reading images {start}..{stop - 1} failed ({error}); the file is "
                        "probably truncated or damaged.",
                    ) from None
                for row, image in enumerate(chunk):
                    index = start + row
                    yield index, manual_files.example(
                        image, index, FACTOR_NAMES, labels[index], values[index], FACTOR_NAMES
                    )
