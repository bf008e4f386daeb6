"""Common base of the procedural builders, which render every image of a factor grid locally.

`procedural_dsprites` and `procedural_shapes3d` stand in for datasets whose original files cannot be
downloaded on our machines: each draws its images on the original factor grid with a render module
(`dsprites_render`, `shapes3d_render`), so nothing is downloaded, ever. They differ only in that
module and in their description; the configs (`grid_configs`: the whole grid in grid order, and
nested seeded samples of it), the features and the generation are shared, here.

Features: `image` (uint8), `index` (the flat grid index, also the example's key), `label_<factor>`
(`ClassLabel`; the `shape` factor's classes are named by the render module's `SHAPE_NAMES`) and
`value_<factor>` (float32) for every factor. Every config has a single `train` split.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from keras_latentquant.datasets import factor_grid

# Images rendered (and held in memory) at once while generating; bounds memory for `full`.
_GENERATION_CHUNK = 4096


@dataclasses.dataclass(eq=False, kw_only=True)
class ProceduralConfig(tfds.core.BuilderConfig):
    """Which grid points a procedural config holds.

    Each builder subclasses it and sets `NUM_IMAGES`, the size of its whole factor grid.

    Args:
        name: config name.
        num_examples: how many grid points to draw uniformly without replacement; `None` keeps the
            whole grid in grid order.
        seed: seed of the permutation the sampled grid points are taken from (unused for the
            whole grid).
        description: human description, shown by TFDS.
    """

    NUM_IMAGES: ClassVar[int]

    num_examples: int | None = None
    seed: int = 0


def grid_configs(config_class: type[ProceduralConfig]) -> list[ProceduralConfig]:
    """The configs of a procedural builder: its whole grid and three nested samples of it.

    Args:
        config_class: the builder's config class.

    Returns:
        `full`, `sample_50k`, `sample_10k` and `tiny`, in that order. The samples share seed 0, so
        each holds the smaller ones (see `selected_flat_indices`).
    """
    return [
        config_class(
            name="full",
            num_examples=None,
            description=(
                f"The whole factor grid ({config_class.NUM_IMAGES:,} images) in grid order."
            ),
        ),
        config_class(
            name="sample_50k",
            num_examples=factor_grid.PROCEDURAL_SAMPLE_SIZES["sample_50k"],
            seed=0,
            description="50,000 grid points drawn uniformly without replacement.",
        ),
        config_class(
            name="sample_10k",
            num_examples=factor_grid.PROCEDURAL_SAMPLE_SIZES["sample_10k"],
            seed=0,
            description="10,000 grid points drawn uniformly without replacement.",
        ),
        config_class(
            name="tiny",
            num_examples=factor_grid.PROCEDURAL_SAMPLE_SIZES["tiny"],
            seed=0,
            description=(
                "2,000 grid points drawn uniformly without replacement (tests, smoke runs)."
            ),
        ),
    ]


def selected_flat_indices(config: ProceduralConfig) -> np.ndarray:
    """The flat grid indices a config holds, in the order they are generated.

    Args:
        config: a config of a procedural builder (a `ProceduralConfig` subclass).

    Returns:
        int64 array of flat grid indices: `arange(config.NUM_IMAGES)` for the whole grid, otherwise
        the first `config.num_examples` entries of a permutation of the grid seeded with
        `config.seed`.
    """
    return factor_grid.grid_selection(config.NUM_IMAGES, config.num_examples, config.seed)


class ProceduralBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of `procedural_dsprites` and `procedural_shapes3d`; see the module docstring.

    Subclasses set `VERSION`, `RELEASE_NOTES`, `BUILDER_CONFIGS` (from `grid_configs`),
    `DEFAULT_BUILDER_CONFIG_NAME`, `RENDERER` and `RENDER`. The TFDS description is the docstring of
    the subclass's module.
    """

    # The render module: its grid (`FACTOR_NAMES`, `FACTOR_SIZES`, `SHAPE_NAMES`, `IMAGE_SHAPE`) and
    # its `flat_index_to_factor_indices` and `factor_indices_to_values`.
    RENDERER: types.ModuleType
    # The render module's image function of `[N, num_factors]` factor indices, as a staticmethod.
    RENDER: Callable[[np.ndarray], np.ndarray]

    def _info(self) -> tfds.core.DatasetInfo:
        renderer = self.RENDERER
        features = {
            "image": tfds.features.Image(shape=renderer.IMAGE_SHAPE, dtype=np.uint8),
            "index": tfds.features.Scalar(
                dtype=np.int64, doc="Flat index of the image in the full factor grid."
            ),
        }
        for name, size in zip(renderer.FACTOR_NAMES, renderer.FACTOR_SIZES):
            if name == "shape":
                features["label_shape"] = tfds.features.ClassLabel(
                    names=list(renderer.SHAPE_NAMES)
                )
            else:
                features[f"label_{name}"] = tfds.features.ClassLabel(num_classes=size)
        for name in renderer.FACTOR_NAMES:
            features[f"value_{name}"] = tfds.features.Scalar(
                dtype=np.float32, doc=f"Value of the {name} factor."
            )
        return self.dataset_info_from_configs(
            description=sys.modules[type(self).__module__].__doc__,
            features=tfds.features.FeaturesDict(features),
            homepage="https://arxiv.org/abs/2305.18378",
            # The whole grid keeps grid order; TFDS would otherwise reorder examples by hashed key,
            # which is what the sampled configs want (a factor-independent order for slicing).
            disable_shuffling=self.builder_config.num_examples is None,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        # Everything is rendered locally: dl_manager is deliberately left unused.
        del dl_manager
        return {"train": self._generate_examples(selected_flat_indices(self.builder_config))}

    def _generate_examples(self, flat_indices: np.ndarray):
        renderer = self.RENDERER
        for start in range(0, len(flat_indices), _GENERATION_CHUNK):
            chunk_flat = flat_indices[start : start + _GENERATION_CHUNK]
            factor_indices = renderer.flat_index_to_factor_indices(chunk_flat)
            factor_values = renderer.factor_indices_to_values(factor_indices)
            images = self.RENDER(factor_indices)
            for row, flat_index in enumerate(chunk_flat.tolist()):
                example = {"image": images[row], "index": flat_index}
                for column, name in enumerate(renderer.FACTOR_NAMES):
                    example[f"label_{name}"] = int(factor_indices[row, column])
                    example[f"value_{name}"] = factor_values[row, column]
                yield flat_index, example
