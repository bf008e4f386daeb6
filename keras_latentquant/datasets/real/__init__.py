"""TFDS builders that read the real benchmark files a user already has; importing registers them.

The paper's datasets cannot be downloaded on our machines, and these builders never try: each reads
the original release from TFDS's manual directory (`<data_dir>/downloads/manual/`, or
`tfds.download.DownloadConfig(manual_dir=...)`), checks its format and writes 64x64 images with
`label_<factor>` indices in the layout the input pipeline expects.

| builder          | configs              | manual directory holds                                |
| ---------------- | -------------------- | ----------------------------------------------------- |
| `real_dsprites`  | default              | `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`      |
| `real_shapes3d`  | default              | `3dshapes.h5`                                         |
| `real_mpi3d`     | toy, realistic, real | `mpi3d_toy.npz`, `mpi3d_realistic.npz`, `mpi3d_real.npz` |
| `real_falcor3d`  | default              | `Falcor3D_down128/` (`images/*.png`, `train-rec.labels`) |
| `real_isaac3d`   | default              | `Isaac3D_down128/` (`images/*.png`, `labels.npy`)     |

A missing file raises `ManualFileNotFoundError` (a `FileNotFoundError`) naming the file, where it
must go and where it comes from; a file in the wrong format raises `ManualFileFormatError` (a
`ValueError`) saying what was found and what was expected.
"""

from keras_latentquant.datasets.real.dsprites import RealDsprites
from keras_latentquant.datasets.real.falcor3d import RealFalcor3d
from keras_latentquant.datasets.real.isaac3d import RealIsaac3d
from keras_latentquant.datasets.real.manual_files import (
    ManualFileFormatError,
    ManualFileNotFoundError,
)
from keras_latentquant.datasets.real.mpi3d import RealMpi3d, RealMpi3dConfig
from keras_latentquant.datasets.real.shapes3d import RealShapes3d

__all__ = [
    "ManualFileFormatError",
    "ManualFileNotFoundError",
    "RealDsprites",
    "RealFalcor3d",
    "RealIsaac3d",
    "RealMpi3d",
    "RealMpi3dConfig",
    "RealShapes3d",
]
