"""The `procedural_dsprites` TFDS builder; importing this package registers it with TFDS."""

from keras_latentquant.datasets.procedural import selected_flat_indices
from keras_latentquant.datasets.procedural_dsprites.procedural_dsprites import (
    ProceduralDsprites,
    ProceduralDspritesConfig,
)

__all__ = ["ProceduralDsprites", "ProceduralDspritesConfig", "selected_flat_indices"]
