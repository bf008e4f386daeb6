"""TFDS builder `real_mpi3d`: the three MPI3D archives, read from TFDS's manual directory.

MPI3D (Gondal et al. 2019) photographs or renders a robot arm holding one object, crossed over seven
factors; each of its three releases is one NumPy archive with a single array `images` (uint8
`[1036800, 64, 64, 3]`) and no labels. The labels are the position in the array: images are stored
in row-major order over

| factor           | values                                                     |
| ---------------- | ---------------------------------------------------------- |
| object_color     | 6: white, green, red, blue, brown, olive                   |
| object_shape     | 6: cone, cube, cylinder, hexagonal, pyramid, sphere        |
| object_size      | 2: small, large                                            |
| camera_height    | 3: top, center, bottom                                     |
| background_color | 3: purple, sea green, salmon                               |
| horizontal_axis  | 40: 0..39                                                  |
| vertical_axis    | 40: 0..39                                                  |

so that image i has factor indices `np.unravel_index(i, (6, 6, 2, 3, 3, 40, 40))`.

Configs, one per release file, all with the same features: `toy` (`mpi3d_toy.npz`, simple renders,
the default), `realistic` (`mpi3d_realistic.npz`, realistic renders) and `real`
(`mpi3d_real.npz`, camera images). Nothing is downloaded: the user puts the file in the manual
directory. The factors have no stored values, so only `label_<factor>` is written (with the value
names above as class names); `index` is the image's flat grid index.

Because labels come from the row order, an archive must hold exactly the whole grid: 1,036,800
images, or it is refused with the count found. The grid is a field of the config, `grid_sizes`, so a
smaller archive in the same layout can still be read by building with a custom config whose grid has
at most the release's number of values per factor, e.g.
`RealMpi3d(config=RealMpi3dConfig(name="toy_tiny", file_name="mpi3d_toy.npz",
grid_sizes=(2, 2, 1, 1, 1, 2, 3)))`; the tests do exactly that. Labels then still fit the release's
`ClassLabel`s, and the registered configs never change.

Memory: the archive is read as a stream (`np.load` cannot memory-map a member of an `.npz`, and
loading it whole would take 12.7 GB), so preparing needs one chunk of 2,048 images (24 MiB) plus
TFDS's own shuffle buffer (at most about 1 GB; it spills to disk beyond that), and about 4 GB of
disk for the prepared data. The split is stored in TFDS's hashed-key order, so slices such as
`train[:90%]` are random subsets.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from keras_latentquant.datasets.real import grids, manual_files

SOURCE = (
    "the MPI3D disentanglement dataset release "
    "(Gondal et al. 2019, project 'disentanglement_dataset')"
)
FACTOR_NAMES = grids.MPI3D_FACTOR_NAMES
FACTOR_SIZES = grids.MPI3D_FACTOR_SIZES
CLASS_NAMES = {
    "object_color": ("white", "green", "red", "blue", "brown", "olive"),
    "object_shape": ("cone", "cube", "cylinder", "hexagonal", "pyramid", "sphere"),
    "object_size": ("small", "large"),
    "camera_height": ("top", "center", "bottom"),
    "background_color": ("purple", "sea_green", "salmon"),
}
IMAGE_SHAPE = grids.MPI3D_IMAGE_SHAPE
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 1,036,800


@dataclasses.dataclass(eq=False, kw_only=True)
class RealMpi3dConfig(tfds.core.BuilderConfig):
    """Which MPI3D archive a `real_mpi3d` config reads, and the factor grid its rows run over.

    Args:
        name: config name.
        file_name: exact name of the archive in the manual directory.
        grid_sizes: number of values of each factor in the archive's row-major order; the release's
            grid `FACTOR_SIZES` unless a smaller archive in the same layout is read (each size at
            most the release's, so labels stay valid for the release's features).
        description: human description, shown by TFDS.
    """

    file_name: str = ""
    grid_sizes: tuple[int, ...] = FACTOR_SIZES


def _check_grid_sizes(config: RealMpi3dConfig) -> tuple[int, ...]:
    """Validates a config's grid against the release's; returns it as a tuple of ints."""
    grid_sizes = tuple(int(size) for size in config.grid_sizes)
    if len(grid_sizes) != len(FACTOR_SIZES) or not all(
        1 <= size <= full for size, full in zip(grid_sizes, FACTOR_SIZES)
    ):
        raise ValueError(
            f"grid_sizes of config {config.name!r} must give {len(FACTOR_SIZES)} sizes, each "
            f"between 1 and the release's {FACTOR_SIZES} ({', '.join(FACTOR_NAMES)}), got "
            f"{config.grid_sizes!r}."
        )
    return grid_sizes


def check_images(path: pathlib.Path, grid_sizes: tuple[int, ...]) -> int:
    """Checks an MPI3D archive's structure and that it holds exactly the grid's images.

    Args:
        path: the `.npz` archive.
        grid_sizes: the factor grid its rows run over.

    Returns:
        The number of images, `prod(grid_sizes)`.

    Raises:
        ManualFileFormatError: not an `.npz`, no `images` array, wrong per-image shape or dtype, or
            a number of images other than the grid's.
    """
    with manual_files.NpzArchive(path) as archive:
        archive.require_keys(("images",))
        count = manual_files.check_array(
            path, "images", *archive.header("images"), row_shape=IMAGE_SHAPE, kind="uint8"
        )
    expected = int(np.prod(grid_sizes))
    if count != expected:
        raise manual_files.format_error(
            path,
            f"'images' holds {count} images; expected {expected}, the whole grid "
            f"{grid_sizes} in row-major order ({', '.join(FACTOR_NAMES)}). MPI3D stores no labels: "
            "they are read from each image's position, so only the complete grid can be labelled.",
        )
    return count


class RealMpi3d(tfds.core.GeneratorBasedBuilder):
    """The MPI3D archives from the manual directory; see the module docstring."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        RealMpi3dConfig(
            name="toy",
            file_name="mpi3d_toy.npz",
            description="Simple renders (mpi3d_toy.npz), 1,036,800 images.",
        ),
        RealMpi3dConfig(
            name="realistic",
            file_name="mpi3d_realistic.npz",
            description="Realistic renders (mpi3d_realistic.npz), 1,036,800 images.",
        ),
        RealMpi3dConfig(
            name="real",
            file_name="mpi3d_real.npz",
            description="Camera images of the real robot (mpi3d_real.npz), 1,036,800 images.",
        ),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "toy"
    NUM_IMAGES = NUM_IMAGES
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    This dataset is never downloaded. Get the archive of the config you build from {SOURCE}
    and put it, under exactly its name, directly in the manual directory:

        <manual_dir>/mpi3d_toy.npz          (config `toy`)
        <manual_dir>/mpi3d_realistic.npz    (config `realistic`)
        <manual_dir>/mpi3d_real.npz         (config `real`)

    Each holds one array `images` of 1,036,800 uint8 64x64x3 images. The manual directory is
    `<data_dir>/downloads/manual/` unless you pass another with
    `download_config=tfds.download.DownloadConfig(manual_dir=...)`.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=manual_files.features_dict(
                image_shape=IMAGE_SHAPE,
                factor_names=FACTOR_NAMES,
                factor_sizes=FACTOR_SIZES,
                class_names=CLASS_NAMES,
            ),
            homepage="https://github.com/rr-learning/disentanglement_dataset",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        grid_sizes = _check_grid_sizes(self.builder_config)
        manual_dir = manual_files.resolve_manual_dir(dl_manager)
        path = manual_files.require_path(
            manual_dir, self.builder_config.file_name, dataset=self.name, source=SOURCE
        )
        # Checked before generation starts, so a wrong file fails at once and not mid-way.
        check_images(path, grid_sizes)
        return {"train": self._generate_examples(path, grid_sizes)}

    def _generate_examples(self, path: pathlib.Path, grid_sizes: tuple[int, ...]):
        start = 0
        with manual_files.NpzArchive(path) as archive:
            for chunk in archive.iter_rows("images"):
                flat_indices = np.arange(start, start + len(chunk))
                labels = np.stack(np.unravel_index(flat_indices, grid_sizes), axis=1)
                for row, image in enumerate(chunk):
                    index = start + row
                    yield index, manual_files.example(image, index, FACTOR_NAMES, labels[row])
                start += len(chunk)
