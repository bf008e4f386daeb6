"""Tests of the shared base of the procedural builders (`keras_latentquant.datasets.procedural`)."""

import dataclasses

import pytest
import tensorflow_datasets as tfds

from keras_latentquant.datasets import procedural
from keras_latentquant.datasets.procedural_dsprites import ProceduralDsprites, ProceduralDspritesConfig
from keras_latentquant.datasets.procedural_dsprites import procedural_dsprites
from keras_latentquant.datasets.procedural_shapes3d import ProceduralShapes3d
from keras_latentquant.datasets.procedural_shapes3d import procedural_shapes3d


def test_the_base_is_not_registered_as_a_dataset():
    assert "procedural_builder" not in tfds.list_builders()
    assert {"procedural_dsprites", "procedural_shapes3d"} <= set(tfds.list_builders())


def test_grid_size_is_a_class_constant_not_a_config_parameter():
    fields = {field.name for field in dataclasses.fields(ProceduralDspritesConfig)}
    assert {"num_examples", "seed"} <= fields and "NUM_IMAGES" not in fields


@pytest.mark.parametrize("num_examples", [0, 737_281])
def test_selected_flat_indices_refuses_sizes_outside_the_grid(num_examples):
    config = ProceduralDspritesConfig(name="bad", num_examples=num_examples)
    with pytest.raises(ValueError, match=r"num_examples must lie in \[1, 737280\]"):
        procedural.selected_flat_indices(config)


@pytest.mark.parametrize(
    "builder_class, module",
    [(ProceduralDsprites, procedural_dsprites), (ProceduralShapes3d, procedural_shapes3d)],
)
def test_each_builder_is_described_by_its_own_module_docstring(tmp_path, builder_class, module):
    # Not the class docstring, nor the base module's: the description is stored with prepared data.
    builder = builder_class(config="tiny", data_dir=str(tmp_path))
    assert builder.info.description == module.__doc__.strip()
