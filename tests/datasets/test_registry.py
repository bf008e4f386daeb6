"""The dataset registry (keras_latentquant/datasets/registry.py): plain data that agrees with the builders it names."""

import pytest
import tensorflow_datasets as tfds

from keras_latentquant.datasets.registry import (
    DATASET_ALIASES, DATASETS, DatasetSpec, default_data_dir, get_dataset_spec,
)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_spec_agrees_with_its_builder(name):
    # The registry repeats what the command-line checks need so that they run without TFDS; the builder stays
    # the authority on its configs.
    spec = DATASETS[name]
    builder = spec.builder
    assert issubclass(builder, tfds.core.DatasetBuilder) and builder.name == name == spec.name
    if spec.catalog_name is not None:  # TFDS's own builder, without configs: its features hold our factors
        assert not builder.BUILDER_CONFIGS and spec.config_names == ("default",)
        features = builder(data_dir="/nonexistent").info.features
        assert [features[key].num_classes for key in spec.feature_keys] == list(spec.factor_sizes)
        assert features["image"].shape == spec.image_shape
        return
    assert spec.config_names == tuple(config.name for config in builder.BUILDER_CONFIGS)
    assert spec.default_config == builder.DEFAULT_BUILDER_CONFIG_NAME


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_reading_the_builder_registers_it_with_tfds(name):
    DATASETS[name].builder
    assert name in tfds.list_builders(with_community_datasets=False)


def test_a_default_config_outside_the_configs_is_refused():
    spec = DATASETS["procedural_dsprites"]
    with pytest.raises(ValueError, match="default_config 'small' of dataset 'x' is not one of its config_names"):
        DatasetSpec("x", spec.factor_names, spec.factor_sizes, spec.image_shape, spec.builder_path,
                    spec.config_names, "small")


def test_former_names_are_aliases():
    assert get_dataset_spec("real_dsprites") is DATASETS["dsprites"]
    assert get_dataset_spec("real_shapes3d") is DATASETS["shapes3d"]
    assert all(alias not in DATASETS and target in DATASETS for alias, target in DATASET_ALIASES.items())


@pytest.mark.parametrize("env", [None, "/somewhere/tfds"])
def test_the_default_data_dir_is_tfds_own(monkeypatch, tmp_path, env):
    # The registry answers without importing TFDS; it must name the folder TFDS itself writes to.
    monkeypatch.setenv("HOME", str(tmp_path))
    if env is None:
        monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    else:
        monkeypatch.setenv("TFDS_DATA_DIR", env)
    assert default_data_dir() == tfds.core.constants.get_default_data_dir()
    assert default_data_dir() == (env or str(tmp_path / "tensorflow_datasets"))
