"""Per-dataset defaults of the reference configs: which value a run takes when an option is left unset."""

import dataclasses

import pytest

from keras_latentquant.models.reference_defaults import (
    REFERENCE_DATASET_DEFAULTS,
    dataset_family,
    reference_dataset_defaults,
)
from keras_latentquant.models.catalogue import MODELS
from keras_latentquant.training.config import TrainConfig


def _resolved(model, dataset="procedural_dsprites", **options):
    """The options a run of `model` on `dataset` takes, with `options` set explicitly."""
    return TrainConfig(model=model, dataset=dataset, options=options).resolved().options


@pytest.mark.parametrize(
    "dataset, expected",
    [
        # The reference's configs/params: dSprites QLAE uses loss weights 0.001, the others 0.01;
        # MPI3D's weight decay is 0.001, the others' 0.1.
        ("procedural_dsprites", (0.001, 0.001, 0.1)),
        ("dsprites", (0.001, 0.001, 0.1)),
        ("real_dsprites", (0.001, 0.001, 0.1)),  # the former name of TFDS's dsprites
        ("procedural_shapes3d", (0.01, 0.01, 0.1)),
        ("real_mpi3d", (0.01, 0.01, 0.001)),
        ("real_falcor3d", (0.01, 0.01, 0.1)),
        ("real_isaac3d", (0.01, 0.01, 0.1)),
    ],
)
def test_qlae_takes_the_reference_value_of_its_dataset(dataset, expected):
    options = _resolved(model="qlae", dataset=dataset)
    assert (options["quantization_weight"], options["commitment_weight"], options["weight_decay"]) == expected


def test_explicit_values_win_and_unset_ones_fall_back_to_the_model_default():
    options = _resolved(model="qlae", dataset="procedural_dsprites", quantization_weight=0.05, weight_decay=0.0)
    assert (options["quantization_weight"], options["commitment_weight"], options["weight_decay"]) == (0.05, 0.001, 0.0)
    # No reference value for the AE's weight decay: the model's own default (0).
    assert _resolved(model="ae", dataset="real_mpi3d")["weight_decay"] == 0.0
    assert _resolved(model="ae_weight_decay", dataset="real_mpi3d")["weight_decay"] == 0.1
    # The ablation without weight decay keeps QLAE's loss weights but never takes its decay.
    ablation = _resolved(model="qlae_no_weight_decay", dataset="procedural_dsprites")
    assert (ablation["quantization_weight"], ablation["weight_decay"]) == (0.001, 0.0)


def test_vae_family_weights():
    assert _resolved(model="beta_vae", dataset="real_falcor3d")["beta"] == 10.0
    assert _resolved(model="beta_vae", dataset="procedural_dsprites")["beta"] == 4.0  # the model's default
    assert _resolved(model="vae", dataset="procedural_dsprites")["beta"] == 1.0
    assert _resolved(model="beta_tcvae", dataset="real_mpi3d")["total_correlation_weight"] == 0.3
    assert _resolved(model="beta_tcvae", dataset="procedural_dsprites")["total_correlation_weight"] == 6.0


def test_gan_weight_decay():
    assert _resolved(model="qlinfogan", dataset="real_falcor3d")["weight_decay"] == 1e-4
    assert _resolved(model="qlinfogan", dataset="procedural_shapes3d")["weight_decay"] == 1e-3
    assert _resolved(model="infowgan_gp", dataset="real_falcor3d")["weight_decay"] == 0.0
    gan = _resolved(model="qlinfogan", dataset="procedural_dsprites")
    assert (gan["quantization_weight"], gan["commitment_weight"]) == (0.01, 0.01)


def test_resolution_is_idempotent_and_leaves_nothing_unset():
    for model in MODELS:
        once = TrainConfig(model=model, dataset="real_shapes3d").resolved()
        assert once.resolved() == once
        assert set(once.options) == set(MODELS[model].option_names())
        assert None not in (once.learning_rate, once.batch_size, once.steps, once.output_dir)
    assert dataclasses.asdict(TrainConfig(model="qlae").resolved())["options"]["quantization_weight"] == 0.001


def test_table_names_only_registered_models_and_known_families():
    families = {"dsprites", "shapes3d", "mpi3d", "falcor3d", "isaac3d"}
    for model, per_dataset in REFERENCE_DATASET_DEFAULTS.items():
        assert model in MODELS, model
        assert set(per_dataset) <= families, (model, set(per_dataset) - families)
    assert dataset_family("procedural_shapes3d") == dataset_family("shapes3d") == dataset_family("real_shapes3d") == "shapes3d"
    assert reference_dataset_defaults("vqvae", "real_mpi3d") == {}
    returned = reference_dataset_defaults("qlae", "real_mpi3d")
    returned["weight_decay"] = 5.0  # a copy: the table itself is not changed
    assert reference_dataset_defaults("qlae", "real_mpi3d")["weight_decay"] == 0.001
