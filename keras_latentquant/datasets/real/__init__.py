"""TFDS builders that read the real benchmark files a user already has; importing a builder registers it.

These are the benchmarks TFDS has no builder for (dSprites and Shapes3D are read from TFDS's own `dsprites`
and `shapes3d` builders: the registry's `dsprites` and `shapes3d`, formerly our `real_dsprites` and
`real_shapes3d`, which names still work). They cannot be downloaded on our machines, and these builders never
try: each reads
the original release from TFDS's manual directory (`<data_dir>/downloads/manual/`, or
`tfds.download.DownloadConfig(manual_dir=...)`), checks its format and writes 64x64 images with
`label_<factor>` indices in the layout the input pipeline expects.

| builder          | configs              | manual directory holds                                |
| ---------------- | -------------------- | ----------------------------------------------------- |
| `real_mpi3d`     | toy, realistic, real | `mpi3d_toy.npz`, `mpi3d_realistic.npz`, `mpi3d_real.npz` |
| `real_falcor3d`  | default              | `Falcor3D_down128/` (`images/*.png`, `train-rec.labels`) |
| `real_isaac3d`   | default              | `Isaac3D_down128/` (`images/*.png`, `labels.npy`)     |

A missing file raises `ManualFileNotFoundError` (a `FileNotFoundError`) naming the file, where it
must go and where it comes from; a file in the wrong format raises `ManualFileFormatError` (a
`ValueError`) saying what was found and what was expected.

A builder registers with TFDS when its module is imported: `from keras_latentquant.datasets.real import
RealMpi3d`, or the dataset registry's `DatasetSpec.builder` (which `datasets.get_builder` uses).
"""

from keras_latentquant._lazy import lazy_exports

# Each public name and the submodule that declares it: they are imported on first use (PEP 562), so that
# `real.grids` (the factor grids, plain data) can be read without importing TFDS.
_SUBMODULES = {
    "ManualFileFormatError": "manual_files",
    "ManualFileNotFoundError": "manual_files",
    "RealFalcor3d": "falcor3d",
    "RealIsaac3d": "isaac3d",
    "RealMpi3d": "mpi3d",
    "RealMpi3dConfig": "mpi3d",
}

__all__ = [
    "ManualFileFormatError",
    "ManualFileNotFoundError",
    "RealFalcor3d",
    "RealIsaac3d",
    "RealMpi3d",
    "RealMpi3dConfig",
]


__getattr__, __dir__ = lazy_exports(__name__, _SUBMODULES)
