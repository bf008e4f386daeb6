"""Datasets with known generative factors, as TFDS builders, and their tf.data input pipeline.

The paper measures disentanglement on datasets whose images are generated from a full grid of
independent factors. Their original files cannot be downloaded on our machines, so the library renders
them procedurally on the same factor grids: `procedural_dsprites` (shape, scale, orientation,
position_x, position_y) and `procedural_shapes3d` (floor_hue, wall_hue, object_hue, scale, shape,
orientation). Datasets are looked up by name in `DATASETS`; `load_dataset` builds the
training/evaluation `tf.data` pipeline and `load_arrays` reads held-out samples into NumPy.

Users who have prepared TFDS's own `dsprites` and `shapes3d` (`tfds build dsprites`) train on them by those
names: the pipeline reads them from the TFDS data directory, with our factor names and image format, and never
downloads them (`DatasetNotPreparedError` says how to prepare them). The benchmarks TFDS has no builder for are
read from release files a user has with the `real_*` builders (`keras_latentquant.datasets.real`: real_mpi3d,
real_falcor3d, real_isaac3d), which take them from TFDS's manual directory.

Importing this package registers the builders with TFDS (`tfds.builder("procedural_dsprites")`), except under
the command-line scripts' deferred imports (`KERAS_LATENTQUANT_DEFER_IMPORTS`, see the package root): there the
names below are imported from their submodule on first use (PEP 562), and the package and its plain-data parts
(`registry`, the render modules, `real.grids`) import neither TensorFlow nor TFDS, so the commands check
`--dataset` before TensorFlow starts; a builder then registers when its class is first used (`get_builder`,
`load_dataset`, `load_arrays`, `DATASETS[name].builder`).
"""


import os as _os

from keras_latentquant import IMPORTS_DEFERRED
from keras_latentquant._lazy import lazy_exports

# Each public name and where it is declared: `(submodule, name there)`.
_SOURCES = {
    "DSPRITES_FACTOR_NAMES": ("dsprites_render", "FACTOR_NAMES"),
    "DSPRITES_FACTOR_SIZES": ("dsprites_render", "FACTOR_SIZES"),
    "factor_indices_to_flat_index": ("dsprites_render", "factor_indices_to_flat_index"),
    "factor_indices_to_values": ("dsprites_render", "factor_indices_to_values"),
    "flat_index_to_factor_indices": ("dsprites_render", "flat_index_to_factor_indices"),
    "render_dsprites": ("dsprites_render", "render_dsprites"),
    "SHAPES3D_FACTOR_NAMES": ("shapes3d_render", "FACTOR_NAMES"),
    "SHAPES3D_FACTOR_SIZES": ("shapes3d_render", "FACTOR_SIZES"),
    "render_shapes3d": ("shapes3d_render", "render_shapes3d"),
    "MODES": ("pipeline", "MODES"),
    "DataDirError": ("pipeline", "DataDirError"),
    "DatasetNotPreparedError": ("registry", "DatasetNotPreparedError"),
    "get_builder": ("pipeline", "get_builder"),
    "load_arrays": ("pipeline", "load_arrays"),
    "load_dataset": ("pipeline", "load_dataset"),
    "ProceduralDsprites": ("procedural_dsprites", "ProceduralDsprites"),
    "ProceduralDspritesConfig": ("procedural_dsprites", "ProceduralDspritesConfig"),
    "ProceduralShapes3d": ("procedural_shapes3d", "ProceduralShapes3d"),
    "ProceduralShapes3dConfig": ("procedural_shapes3d", "ProceduralShapes3dConfig"),
    "ManualFileFormatError": ("real", "ManualFileFormatError"),
    "ManualFileNotFoundError": ("real", "ManualFileNotFoundError"),
    "RealFalcor3d": ("real", "RealFalcor3d"),
    "RealIsaac3d": ("real", "RealIsaac3d"),
    "RealMpi3d": ("real", "RealMpi3d"),
    "RealMpi3dConfig": ("real", "RealMpi3dConfig"),
    "DATASETS": ("registry", "DATASETS"),
    "DatasetSpec": ("registry", "DatasetSpec"),
    "get_dataset_spec": ("registry", "get_dataset_spec"),
}

__all__ = [
    "DATASETS",
    "DatasetNotPreparedError",
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
    "RealFalcor3d",
    "RealIsaac3d",
    "RealMpi3d",
    "RealMpi3dConfig",
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


_lazy_getattr, __dir__ = lazy_exports(__name__, _SOURCES)


def __getattr__(name):
    if name == "DATA_ERRORS":
        # Problems with a user's data files or data folder, not bugs: commands print their message (which names
        # the file or folder and the fix) without a traceback.
        value = (_lazy_getattr("ManualFileNotFoundError"), _lazy_getattr("ManualFileFormatError"),
                 _lazy_getattr("DataDirError"), _lazy_getattr("DatasetNotPreparedError"))
        globals()[name] = value
        return value
    return _lazy_getattr(name)


# Under another Keras backend the builders are not registered: TFDS needs TensorFlow, and the in-memory trainer
# (`training.in_memory`) renders the procedural datasets itself.
if not IMPORTS_DEFERRED and _os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    for _spec in __getattr__("DATASETS").values():
        _spec.builder  # imports the builder's class, which registers it with TFDS
