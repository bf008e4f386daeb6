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
from keras_latentquant.datasets.procedural_dsprites import ProceduralDsprites


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


DATASETS: dict[str, DatasetSpec] = {
    "procedural_dsprites": DatasetSpec(
        name="procedural_dsprites",
        factor_names=dsprites_render.FACTOR_NAMES,
        factor_sizes=dsprites_render.FACTOR_SIZES,
        image_shape=dsprites_render.IMAGE_SHAPE,
        builder=ProceduralDsprites,
        default_config=ProceduralDsprites.DEFAULT_BUILDER_CONFIG_NAME,
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
            f"Unknown dataset name {name!r}. Known datasets: {', '.join(sorted(DATASETS))}."
        ) from None
