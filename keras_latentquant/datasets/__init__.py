"""Datasets with known generative factors, as TFDS builders, and their tf.data input pipeline.

The paper measures disentanglement on datasets whose images are generated from a full grid of
independent factors. Their original files cannot be downloaded on our machines, so the library renders
them procedurally on the same factor grids: `procedural_dsprites` (shape, scale, orientation,
position_x, position_y) and `procedural_shapes3d` (floor_hue, wall_hue, object_hue, scale, shape,
orientation). Datasets are looked up by name in `DATASETS`; `load_dataset` builds the
training/evaluation `tf.data` pipeline and `load_arrays` reads held-out samples into NumPy.

Users who have the real release files can read them with the `real_*` builders
(`keras_latentquant.datasets.real`: real_dsprites, real_shapes3d, real_mpi3d, real_falcor3d,
real_isaac3d), which take them from TFDS's manual directory and never download anything.

Importing this package registers the builders with TFDS (`tfds.builder("procedural_dsprites")`).
"""

from keras_latentquant.datasets.dsprites_render import (
    FACTOR_NAMES as DSPRITES_FACTOR_NAMES,
    FACTOR_SIZES as DSPRITES_FACTOR_SIZES,
    factor_indices_to_flat_index,
    factor_indices_to_values,
    flat_index_to_factor_indices,
    render_dsprites,
)
from keras_latentquant.datasets.shapes3d_render import (
    FACTOR_NAMES as SHAPES3D_FACTOR_NAMES,
    FACTOR_SIZES as SHAPES3D_FACTOR_SIZES,
    render_shapes3d,
)
from keras_latentquant.datasets.pipeline import MODES, DataDirError, get_builder, load_arrays, load_dataset
from keras_latentquant.datasets.procedural_dsprites import (
    ProceduralDsprites,
    ProceduralDspritesConfig,
)
from keras_latentquant.datasets.procedural_shapes3d import (
    ProceduralShapes3d,
    ProceduralShapes3dConfig,
)
from keras_latentquant.datasets.real import (
    ManualFileFormatError,
    ManualFileNotFoundError,
    RealDsprites,
    RealFalcor3d,
    RealIsaac3d,
    RealMpi3d,
    RealMpi3dConfig,
    RealShapes3d,
)
from keras_latentquant.datasets.registry import DATASETS, DatasetSpec, get_dataset_spec

# Problems with a user's data files or data folder, not bugs: commands print their message (which names
# the file or folder and the fix) without a traceback.
DATA_ERRORS = (ManualFileNotFoundError, ManualFileFormatError, DataDirError)

__all__ = [
    "DATASETS",
    "DATA_ERRORS",
    "DataDirError",
    "DSPRITES_FACTOR_NAMES",
    "DSPRITES_FACTOR_SIZES",
    "DatasetSpec",
    "MODES",
    "ManualFileFormatError",
    "ManualFileNotFoundError",
    "ProceduralDsprites",
    "ProceduralDspritesConfig",
    "ProceduralShapes3d",
    "ProceduralShapes3dConfig",
    "RealDsprites",
    "RealFalcor3d",
    "RealIsaac3d",
    "RealMpi3d",
    "RealMpi3dConfig",
    "RealShapes3d",
    "SHAPES3D_FACTOR_NAMES",
    "SHAPES3D_FACTOR_SIZES",
    "factor_indices_to_flat_index",
    "factor_indices_to_values",
    "flat_index_to_factor_indices",
    "get_builder",
    "get_dataset_spec",
    "load_arrays",
    "load_dataset",
    "render_dsprites",
    "render_shapes3d",
]
