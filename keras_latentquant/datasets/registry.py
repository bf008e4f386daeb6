"""Registry of the datasets the library can train and evaluate on.

Trainers, evaluation and the input pipeline look datasets up here by name, so adding a dataset (the
procedural Shapes3D, real-file builders, ...) means adding one `DatasetSpec` to `DATASETS` and nothing
else. A spec records what the models and metrics need to know without opening the data: the factor
names and sizes (for InfoMEC, DCI and MIG, and for the number of latents, twice the number of
factors), the image shape (for the encoder and decoder), the builder's configs, and the TFDS builder
that makes the data: one of ours (procedural renderers, readers of real release files) or one of TFDS's own
catalogue builders (`dsprites`, `shapes3d`), read from the user's TFDS data directory and never downloaded.

The registry is plain data: it imports neither TensorFlow nor TFDS, so the commands check `--dataset` and
`--dataset_config` before TensorFlow starts. A spec names its builder class as `"module:ClassName"`, imported
(and so registered with TFDS) the first time `DatasetSpec.builder` is read. The config names and default
config are the builder's; tests/datasets/test_registry.py checks that every spec's agree with its builder's.
"""

from __future__ import annotations

import dataclasses
import importlib
import os

from keras_latentquant.datasets import dsprites_render, factor_grid
from keras_latentquant.datasets import shapes3d_render
from keras_latentquant.datasets.real import grids as real_grids
from keras_latentquant.suggest import did_you_mean

#: `builder_path` prefix of TFDS's own catalogue builders.
_CATALOG = "tfds"

#: The configs of the procedural builders (`procedural.grid_configs`): the whole grid and nested samples of it.
_PROCEDURAL_CONFIGS = tuple(factor_grid.PROCEDURAL_SAMPLE_SIZES)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What is known about a dataset before reading it.

    Args:
        name: registry name, the same as the TFDS builder's name.
        factor_names: names of the ground-truth factors, in the order of the factor columns that
            the input pipeline returns.
        factor_sizes: number of values of each factor; their product is the size of the full grid.
        image_shape: `(height, width, channels)` of one image.
        builder_path: the `tfds.core.DatasetBuilder` subclass that prepares the data, as
            `"module:ClassName"` (imported by `builder`); for a TFDS catalogue dataset, `"tfds:<name>"`.
        config_names: names of the builder's configs, in the builder's order (`("default",)` for a
            catalogue builder without configs).
        default_config: builder config used when none is asked for.
        splits: split names the builder writes.
        label_keys: the feature holding each factor's index, in `factor_names` order; `None` means
            `label_<factor name>` (our builders, and TFDS's where its names are ours).
        binary_images: the stored images are 0/1 masks (TFDS's dSprites), read as 0/255.
        prepare_hint: for a catalogue dataset, how a user prepares it (its size and source).
    """

    name: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    image_shape: tuple[int, int, int]
    builder_path: str
    config_names: tuple[str, ...]
    default_config: str
    splits: tuple[str, ...] = ("train",)
    label_keys: tuple[str, ...] | None = None
    binary_images: bool = False
    prepare_hint: str = ""

    def __post_init__(self) -> None:
        if self.default_config not in self.config_names:
            raise ValueError(f"default_config {self.default_config!r} of dataset {self.name!r} is not one of its "
                             f"config_names {self.config_names}.")

    @property
    def num_factors(self) -> int:
        """Number of ground-truth factors."""
        return len(self.factor_names)

    @property
    def catalog_name(self) -> str | None:
        """The TFDS catalogue name of a dataset TFDS itself builds (e.g. `"shapes3d"`), else None."""
        module, _, name = self.builder_path.partition(":")
        return name if module == _CATALOG else None

    @property
    def feature_keys(self) -> tuple[str, ...]:
        """The TFDS feature holding each factor's index, in `factor_names` order."""
        return self.label_keys or tuple(f"label_{name}" for name in self.factor_names)

    @property
    def builder(self) -> type:
        """The `tfds.core.DatasetBuilder` subclass (importing its module registers it with TFDS)."""
        if self.catalog_name is not None:
            import tensorflow_datasets as tfds  # only here: the registry stays importable without TFDS

            return tfds.builder_cls(self.catalog_name)
        module, _, class_name = self.builder_path.partition(":")
        return getattr(importlib.import_module(module), class_name)

    def resolve_config(self, config: str | None) -> str:
        """`config`, or the default config for None; ValueError naming the valid ones (and the closest) else."""
        if config is None:
            return self.default_config
        if config not in self.config_names:
            raise ValueError(
                f"Unknown config {config!r} for dataset {self.name!r}.{did_you_mean(config, self.config_names)} "
                f"Valid configs: {', '.join(self.config_names)}."
            )
        return config


DATASETS: dict[str, DatasetSpec] = {
    "procedural_dsprites": DatasetSpec(
        name="procedural_dsprites",
        factor_names=dsprites_render.FACTOR_NAMES,
        factor_sizes=dsprites_render.FACTOR_SIZES,
        image_shape=dsprites_render.IMAGE_SHAPE,
        builder_path="keras_latentquant.datasets.procedural_dsprites:ProceduralDsprites",
        config_names=_PROCEDURAL_CONFIGS,
        default_config="sample_50k",
    ),
    "procedural_shapes3d": DatasetSpec(
        name="procedural_shapes3d",
        factor_names=shapes3d_render.FACTOR_NAMES,
        factor_sizes=shapes3d_render.FACTOR_SIZES,
        image_shape=shapes3d_render.IMAGE_SHAPE,
        builder_path="keras_latentquant.datasets.procedural_shapes3d:ProceduralShapes3d",
        config_names=_PROCEDURAL_CONFIGS,
        default_config="sample_50k",
    ),
    # TFDS's own builders, as users prepare them (`tfds build dsprites`); read from the data directory only.
    "dsprites": DatasetSpec(
        name="dsprites",
        factor_names=real_grids.DSPRITES_FACTOR_NAMES,
        factor_sizes=real_grids.DSPRITES_FACTOR_SIZES,
        image_shape=real_grids.DSPRITES_IMAGE_SHAPE,
        builder_path=f"{_CATALOG}:dsprites",
        config_names=("default",),
        default_config="default",
        label_keys=("label_shape", "label_scale", "label_orientation", "label_x_position", "label_y_position"),
        binary_images=True,
        prepare_hint="a 26.7 MiB download from github.com/deepmind/dsprites-dataset",
    ),
    "shapes3d": DatasetSpec(
        name="shapes3d",
        factor_names=real_grids.SHAPES3D_FACTOR_NAMES,
        factor_sizes=real_grids.SHAPES3D_FACTOR_SIZES,
        image_shape=real_grids.SHAPES3D_IMAGE_SHAPE,
        builder_path=f"{_CATALOG}:shapes3d",
        config_names=("default",),
        default_config="default",
        prepare_hint="a 255 MiB download from storage.googleapis.com/3d-shapes",
    ),
    # Builders of the real release files TFDS has no builder for, read from TFDS's manual directory (never
    # downloaded).
    "real_mpi3d": DatasetSpec(
        name="real_mpi3d",
        factor_names=real_grids.MPI3D_FACTOR_NAMES,
        factor_sizes=real_grids.MPI3D_FACTOR_SIZES,
        image_shape=real_grids.MPI3D_IMAGE_SHAPE,
        builder_path="keras_latentquant.datasets.real.mpi3d:RealMpi3d",
        config_names=("toy", "realistic", "real"),
        default_config="toy",
    ),
    "real_falcor3d": DatasetSpec(
        name="real_falcor3d",
        factor_names=real_grids.FALCOR3D_FACTOR_NAMES,
        factor_sizes=real_grids.FALCOR3D_FACTOR_SIZES,
        image_shape=real_grids.PNG_FOLDER_IMAGE_SHAPE,
        builder_path="keras_latentquant.datasets.real.falcor3d:RealFalcor3d",
        config_names=("default",),
        default_config="default",
    ),
    "real_isaac3d": DatasetSpec(
        name="real_isaac3d",
        factor_names=real_grids.ISAAC3D_FACTOR_NAMES,
        factor_sizes=real_grids.ISAAC3D_FACTOR_SIZES,
        image_shape=real_grids.PNG_FOLDER_IMAGE_SHAPE,
        builder_path="keras_latentquant.datasets.real.isaac3d:RealIsaac3d",
        config_names=("default",),
        default_config="default",
    ),
}


#: Former names, still accepted: our readers of the dSprites and Shapes3D release files gave way to TFDS's own
#: builders of the same files (the same grids, factor order and images).
DATASET_ALIASES: dict[str, str] = {"real_dsprites": "dsprites", "real_shapes3d": "shapes3d"}


def get_dataset_spec(name: str) -> DatasetSpec:
    """Looks a dataset up by name (or a former name, `DATASET_ALIASES`).

    Args:
        name: registry name, e.g. `"procedural_dsprites"`.

    Returns:
        The dataset's `DatasetSpec`.

    Raises:
        ValueError: `name` is not registered; the message lists the registered names.
    """
    try:
        return DATASETS[DATASET_ALIASES.get(name, name)]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown dataset name {name!r}.{did_you_mean(name, DATASETS)} Known datasets: "
            f"{', '.join(sorted(DATASETS))}."
        ) from None


class DatasetNotPreparedError(FileNotFoundError):
    """A TFDS catalogue dataset is not prepared in the data directory (this library never downloads it)."""


def default_data_dir() -> str:
    """TFDS's default data directory, by TFDS's own rule: `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`."""
    return os.environ.get("TFDS_DATA_DIR", os.path.join(os.path.expanduser("~"), "tensorflow_datasets"))


def not_prepared_message(spec: DatasetSpec, root: str, looked_for: str) -> str:
    """What `DatasetNotPreparedError` says: where it looked, and the ways to go on."""
    return (
        f"TFDS's {spec.name!r} dataset is not prepared in the data directory {root!r} ({looked_for}), and this "
        f"library never downloads it. Prepare it once with `tfds build {spec.name} --data_dir={root}` "
        f"({spec.prepare_hint}; on a machine without internet, run it elsewhere and copy the {spec.name}/ folder "
        "into the data directory), or pass the --data_dir (data_dir=) where it is prepared; or use "
        f"--dataset=procedural_{spec.name}, rendered here with no download."
    )


def check_catalog_prepared(name: str, data_dir: str | None) -> None:
    """Raises `DatasetNotPreparedError` when `name` is a TFDS catalogue dataset of which no version at all is
    prepared in `data_dir` (default: TFDS's), without TensorFlow or TFDS, so that a command stops at once.

    Only the clear case is decided here: a local data directory without any `<name>/.../dataset_info.json`.
    Anything else (our own builders, a prepared version, a remote data directory) passes, and the input
    pipeline's full check (`pipeline._catalog_builder`: which versions, and TFDS's own verdict) follows.
    """
    spec = get_dataset_spec(name)
    if spec.catalog_name is None:
        return
    root = data_dir or default_data_dir()
    if "://" in root:  # gs://, s3://: TFDS's file systems decide
        return
    folder = os.path.join(os.path.expanduser(root), spec.catalog_name)
    for _, _, files in os.walk(folder):
        if "dataset_info.json" in files:
            return
    raise DatasetNotPreparedError(not_prepared_message(spec, root, f"no prepared version in {folder}"))
