"""TFDS builder for procedurally rendered Shapes3D (`procedural_shapes3d`).

The paper's Shapes3D experiments need the full factor grid of Burgess and Kim (2018): floor_hue 10,
wall_hue 10, object_hue 10, scale 8, shape 4, orientation 15 (480,000 colour 64x64 images). The
original file cannot be downloaded on our machines, so this builder draws every image with
`keras_latentquant.datasets.shapes3d_render` instead: nothing is downloaded, ever, and a config
gives the same data on every run (across machines, floating-point round-off could at most move rare
pixels by one level).

Configs:
- `full`: the whole grid, stored in grid order (row-major over floor_hue, wall_hue, object_hue,
  scale, shape, orientation, like the original .h5). Because of that order, slices such as
  `train[:90%]` of `full` are NOT random subsets; shuffle when reading or use a sampled config to
  hold data out.
- `sample_50k` (default), `sample_10k`, `tiny` (2,000): grid points drawn uniformly without
  replacement. All sampled configs take the first `num_examples` entries of one seeded permutation
  of the grid, so `tiny` is inside `sample_10k`, which is inside `sample_50k`. They are stored in
  TFDS's hashed-key order, which is unrelated to the factors, so slices such as `train[:90%]` and
  `train[90%:]` are disjoint random subsets.

Every config has a single `train` split. The key of each example, and its `index` feature, is its
flat grid index.
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from keras_latentquant.datasets import procedural, shapes3d_render


class ProceduralShapes3dConfig(procedural.ProceduralConfig):
    """Which grid points a `procedural_shapes3d` config holds; see `procedural.ProceduralConfig`."""

    NUM_IMAGES = shapes3d_render.NUM_IMAGES


class ProceduralShapes3d(procedural.ProceduralBuilder):
    """Shapes3D drawn procedurally on the original factor grid; see the module docstring."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = procedural.grid_configs(ProceduralShapes3dConfig)
    DEFAULT_BUILDER_CONFIG_NAME = "sample_50k"
    RENDERER = shapes3d_render
    RENDER = staticmethod(shapes3d_render.render_shapes3d)
