"""TFDS builder for procedurally rendered dSprites (`procedural_dsprites`).

The paper's dSprites experiments need the full factor grid of Matthey et al. (2017): shape 3, scale 6,
orientation 40, position_x 32, position_y 32 (737,280 binary 64x64 images). The original archive
cannot be downloaded on our machines, so this builder draws every image with
`keras_latentquant.datasets.dsprites_render` instead: nothing is downloaded, ever, and the data are
the same on every machine for a given config.

Configs:
- `full`: the whole grid, stored in grid order (row-major over shape, scale, orientation,
  position_x, position_y). Because of that order, slices such as `train[:90%]` of `full` are NOT random
  subsets; shuffle when reading or use a sampled config to hold data out.
- `sample_50k` (default), `sample_10k`, `tiny` (2,000): grid points drawn uniformly without
  replacement. All sampled configs take the first `num_examples` entries of one seeded permutation of
  the grid, so `tiny` is inside `sample_10k`, which is inside `sample_50k`. They are stored in TFDS's
  hashed-key order, which is unrelated to the factors, so slices such as `train[:90%]` and
  `train[90%:]` are disjoint random subsets.

Every config has a single `train` split. The key of each example, and its `index` feature, is its
flat grid index.
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from keras_latentquant.datasets import dsprites_render, procedural


class ProceduralDspritesConfig(procedural.ProceduralConfig):
    """Which grid points a `procedural_dsprites` config holds; see `procedural.ProceduralConfig`."""

    NUM_IMAGES = dsprites_render.NUM_IMAGES


class ProceduralDsprites(procedural.ProceduralBuilder):
    """dSprites drawn procedurally on the original factor grid; see the module docstring."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = procedural.grid_configs(ProceduralDspritesConfig)
    DEFAULT_BUILDER_CONFIG_NAME = "sample_50k"
    RENDERER = dsprites_render
    RENDER = staticmethod(dsprites_render.render_dsprites)
