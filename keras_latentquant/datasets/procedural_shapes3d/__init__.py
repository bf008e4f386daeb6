"""The `procedural_shapes3d` TFDS builder; importing this package registers it with TFDS."""

from keras_latentquant.datasets.procedural import selected_flat_indices
from keras_latentquant.datasets.procedural_shapes3d.procedural_shapes3d import (
    ProceduralShapes3d,
    ProceduralShapes3dConfig,
)

__all__ = ["ProceduralShapes3d", "ProceduralShapes3dConfig", "selected_flat_indices"]
