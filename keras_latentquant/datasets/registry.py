"""Registry of the datasets the library can train and evaluate on.

Trainers, evaluation and the input pipeline look datasets up here by name, so adding a dataset (the
procedural Shapes3D, real-file builders, ...) means adding one `DatasetSpec` to `DATASETS` and nothing
else. A spec records what the models and metrics need to know without opening the data: the factor
names and sizes (for InfoMEC, DCI and MIG, and for the number of latents, twice the number of
factors), the image shape (for the encoder and decoder), and the TFDS builder that makes the data.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from keras_latentquant.datasets import dsprites_render
from keras_latentquant.datasets import shapes3d_render
from keras_latentquant.datasets.procedural_dsprites import ProceduralDsprites
from keras_latentquant.datasets.procedural_shapes3d import ProceduralShapes3d
from keras_latentquant.datasets.real import dsprites as real_dsprites
from keras_latentquant.datasets.real import falcor3d as real_falcor3d
from keras_latentquant.datasets.real import isaac3d as real_isaac3d
from keras_latentquant.datasets.real import mpi3d as real_mpi3d
from keras_latentquant.datasets.real import shapes3d as real_shapes3d
from keras_latentquant.suggest import did_you_mean


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What is known about a dataset before reading it.

    Args:
        name: registry name, the same as the TFDS builder's name.
        factor_names: names of the ground-truth factors, in the order of the factor columns that
            the input pipeline returns.
        factor_sizes: number of values of each factor; their product is the size of the full grid.
        image_shape: `(height, width, channels)` of one image.
        builder: the `tfds.core.DatasetBuilder` subclass that prepares the data.
        default_config: builder config used when none is asked for.
        splits: split names the builder writes.
    """

    name: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    image_shape: tuple[int, int, int]
    builder: type[tfds.core.DatasetBuilder]
    default_config: str
    splits: tuple[str, ...] = ("train",)

    @property
    def num_factors(self) -> int:
        """Number of ground-truth factors."""
        return len(self.factor_names)

    @property
    def config_names(self) -> tuple[str, ...]:
        """Names of the builder's configs, in the builder's order."""
        return tuple(config.name for config in self.builder.BUILDER_CONFIGS)

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
        builder=ProceduralDsprites,
        default_config=ProceduralDsprites.DEFAULT_BUILDER_CONFIG_NAME,
    ),
    "procedural_shapes3d": DatasetSpec(
        name="procedural_shapes3d",
        factor_names=shapes3d_render.FACTOR_NAMES,
        factor_sizes=shapes3d_render.FACTOR_SIZES,
        image_shape=shapes3d_render.IMAGE_SHAPE,
        builder=ProceduralShapes3d,
        default_config=ProceduralShapes3d.DEFAULT_BUILDER_CONFIG_NAME,
    ),
    # Builders of the real release files, read from TFDS's manual directory (never downloaded).
    "real_dsprites": DatasetSpec(
        name="real_dsprites",
        factor_names=real_dsprites.FACTOR_NAMES,
        factor_sizes=real_dsprites.FACTOR_SIZES,
        image_shape=real_dsprites.IMAGE_SHAPE,
        builder=real_dsprites.RealDsprites,
        default_config=real_dsprites.RealDsprites.DEFAULT_BUILDER_CONFIG_NAME,
    ),
    "real_shapes3d": DatasetSpec(
        name="real_shapes3d",
        factor_names=real_shapes3d.FACTOR_NAMES,
        factor_sizes=real_shapes3d.FACTOR_SIZES,
        image_shape=real_shapes3d.IMAGE_SHAPE,
        builder=real_shapes3d.RealShapes3d,
        default_config=real_shapes3d.RealShapes3d.DEFAULT_BUILDER_CONFIG_NAME,
    ),
    "real_mpi3d": DatasetSpec(
        name="real_mpi3d",
        factor_names=real_mpi3d.FACTOR_NAMES,
        factor_sizes=real_mpi3d.FACTOR_SIZES,
        image_shape=real_mpi3d.IMAGE_SHAPE,
        builder=real_mpi3d.RealMpi3d,
        default_config=real_mpi3d.RealMpi3d.DEFAULT_BUILDER_CONFIG_NAME,
    ),
    "real_falcor3d": DatasetSpec(
        name="real_falcor3d",
        factor_names=real_falcor3d.FACTOR_NAMES,
        factor_sizes=real_falcor3d.FACTOR_SIZES,
        image_shape=real_falcor3d.IMAGE_SHAPE,
        builder=real_falcor3d.RealFalcor3d,
        default_config=real_falcor3d.RealFalcor3d.DEFAULT_BUILDER_CONFIG_NAME,
    ),
    "real_isaac3d": DatasetSpec(
        name="real_isaac3d",
        factor_names=real_isaac3d.FACTOR_NAMES,
        factor_sizes=real_isaac3d.FACTOR_SIZES,
        image_shape=real_isaac3d.IMAGE_SHAPE,
        builder=real_isaac3d.RealIsaac3d,
        default_config=real_isaac3d.RealIsaac3d.DEFAULT_BUILDER_CONFIG_NAME,
    ),
}


def get_dataset_spec(name: str) -> DatasetSpec:
    """Looks a dataset up by name.

    Args:
        name: registry name, e.g. `"procedural_dsprites"`.

    Returns:
        The dataset's `DatasetSpec`.

    Raises:
        ValueError: `name` is not registered; the message lists the registered names.
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown dataset name {name!r}.{did_you_mean(name, DATASETS)} Known datasets: "
            f"{', '.join(sorted(DATASETS))}."
        ) from None
