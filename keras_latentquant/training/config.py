"""Training configuration: one dataclass from which the trainer builds data, model and callbacks."""

from __future__ import annotations

import dataclasses
import json
from typing import Sequence

__all__ = ["TrainConfig", "InfoGANConfig", "STRATEGIES", "ARCHITECTURES", "MODEL_FORMAT", "with_reference_defaults"]

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# The same names as `models.layers_internal.ARCHITECTURES` (kept here too so flag parsing needs no Keras).
ARCHITECTURES = ("paper", "paper_small", "fast")

#: Generation of the function our models compute, saved in every run's config.json. 2: the reference
#: implementation's style block, initialisation, instance-norm epsilon and optax Adam (keras-latentquant
#: 0.2). Run folders of an earlier generation are refused with a message (`model_files.check_resumable_run`).
MODEL_FORMAT = 2


@dataclasses.dataclass
class TrainConfig:
    """Everything one training run needs. `None` fields take the paper's default for the model/dataset.

    Attributes:
        output_dir: where checkpoints, logs, metrics.json and figures go.
        dataset: registered dataset name.
        dataset_config: builder config (None: the dataset's default).
        data_dir: TFDS data directory (None: TFDS default).
        model: a registered model name (`keras_latentquant.models.registry.MODELS`).
        architecture: `paper`, `paper_small` or `fast` (see `models.encoders`).
        num_latents: latent dimensions (None: twice the dataset's number of factors).
        num_values: codebook values per dimension (QLAE).
        quantization_weight, commitment_weight: quantizer loss weights (QLAE; None: the reference's value
            for the dataset, `models.reference_defaults`, else 0.01).
        weight_decay: decoupled weight decay (None: the reference's value for the model and dataset, else
            the model's default, 0.1 for QLAE, 0 for AE).
        beta: KL weight of the VAE family (None: the reference's value for the dataset, else 1 for
            vae/ard_vae, 4 for beta_vae).
        total_correlation_weight: beta-TCVAE's total-correlation weight (None: the reference's value for
            the dataset, else 6).
        activity_weight: BioAE's activity energy weight.
        vq_num_codes, vq_vector_dim, vq_ema, vq_dead_code_threshold: VQ-VAE codebook options.
        fsq_levels: levels per latent of finite scalar quantization.
        learning_rate: Adam learning rate.
        batch_size: global batch size.
        steps: total training steps.
        seed: seed of initialisation and data order.
        eval_interval: steps between evaluations (also the epoch length of `fit`).
        eval_samples: held-out samples used by each evaluation (taken from the end of the split).
        backup_interval: steps between backups of the training state inside an eval interval (None:
            min(eval_interval, 1000)); a killed run reruns at most this many steps when resumed.
        strategy: `default`, `mirrored`, `multi_worker` or `tpu`.
        tpu: TPU name or address for the `tpu` strategy.
        jit_compile: compile the train step with XLA.
        verbose: Keras `fit` verbosity (1: progress bar).
    """

    output_dir: str = "runs/qlae"
    dataset: str = "procedural_dsprites"
    dataset_config: str | None = None
    data_dir: str | None = None
    model: str = "qlae"
    architecture: str = "paper"
    num_latents: int | None = None
    num_values: int | Sequence[int] = 10
    quantization_weight: float | None = None
    commitment_weight: float | None = None
    weight_decay: float | None = None
    beta: float | None = None
    total_correlation_weight: float | None = None
    activity_weight: float = 0.1
    vq_num_codes: int = 64
    vq_vector_dim: int = 2
    vq_ema: bool = False
    vq_dead_code_threshold: float = 0.0
    fsq_levels: int = 10
    learning_rate: float = 1e-3
    batch_size: int = 128
    steps: int = 200_000
    seed: int = 0
    eval_interval: int = 10_000
    eval_samples: int = 10_000
    backup_interval: int | None = None
    strategy: str = "default"
    tpu: str = ""
    jit_compile: bool = False
    verbose: int = 1
    model_format: int = MODEL_FORMAT

    def validate(self) -> "TrainConfig":
        """Checks every field; raises ValueError naming the field, its value and what is valid."""
        from keras_latentquant.models.registry import get_model_spec

        get_model_spec(self.model)  # raises ValueError listing the registered names
        _validate_run_fields(self)
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def _validate_run_fields(config) -> None:
    """Checks the fields every training run has (dataset, architecture, strategy, step counts...)."""
    from keras_latentquant.datasets.registry import get_dataset_spec

    from keras_latentquant.models.layers_internal import check_architecture

    get_dataset_spec(config.dataset)  # raises ValueError listing the registered names
    check_architecture(config.architecture)  # names the replacement of a retired architecture
    if config.strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {config.strategy!r}.")
    for name in ("batch_size", "steps", "eval_interval", "eval_samples"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    if config.steps % config.eval_interval:
        raise ValueError(
            f"steps ({config.steps}) must be a multiple of eval_interval ({config.eval_interval}): "
            "training runs as steps/eval_interval epochs with an evaluation after each."
        )
    backup_interval = getattr(config, "backup_interval", None)
    if backup_interval is not None and (not isinstance(backup_interval, int) or backup_interval < 1):
        raise ValueError(
            f"backup_interval must be a positive integer (steps between backups) or unset for the default; "
            f"got {backup_interval!r}."
        )
    if config.eval_samples < 10:
        raise ValueError(f"eval_samples must be at least 10 to estimate InfoMEC; got {config.eval_samples}.")
    if config.num_latents is not None and config.num_latents < 1:
        raise ValueError(f"num_latents must be >= 1 (or unset for twice the factors); got {config.num_latents}.")
    if not config.learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0; got {config.learning_rate}.")
    if config.weight_decay is not None and config.weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0; got {config.weight_decay}.")


@dataclasses.dataclass
class InfoGANConfig:
    """One QLInfoGAN or InfoWGAN-GP run (`trainers/infogan.py`); paper.md section 3 defaults.

    Attributes:
        output_dir, dataset, dataset_config, data_dir, architecture, num_latents, seed, eval_interval,
        eval_samples, backup_interval, strategy, tpu, jit_compile, verbose: as in `TrainConfig`.
        model: `qlinfogan` or `infowgan_gp`.
        num_values, quantization_weight, commitment_weight: QLInfoGAN's quantizer (loss weights None: 0.01).
        weight_decay: decoupled weight decay of both networks (None: the reference's value for the dataset,
            else 1e-3 QLInfoGAN, 0 InfoWGAN-GP).
        prior: InfoWGAN-GP's latent prior, `uniform` on [-0.5, 0.5] or `normal`.
        critic_steps: critic updates per generator update (paper 5).
        gradient_penalty_weight: WGAN-GP weight (paper 10).
        latent_regression_weight: latent regression weight (paper 200).
        learning_rate, beta_1, beta_2: Adam's, both networks (paper 2e-4, 0, 0.9).
        batch_size: images per critic step (and fakes per generator step), global; one training step
            reads `critic_steps * batch_size` real images.
        steps: generator steps.
        num_samples_shown: images in the sample grid written at every evaluation.
    """

    output_dir: str = "runs/qlinfogan"
    dataset: str = "procedural_dsprites"
    dataset_config: str | None = None
    data_dir: str | None = None
    model: str = "qlinfogan"
    architecture: str = "paper"
    num_latents: int | None = None
    num_values: int | Sequence[int] = 10
    quantization_weight: float | None = None
    commitment_weight: float | None = None
    weight_decay: float | None = None
    prior: str = "uniform"
    critic_steps: int = 5
    gradient_penalty_weight: float = 10.0
    latent_regression_weight: float = 200.0
    learning_rate: float = 2e-4
    beta_1: float = 0.0
    beta_2: float = 0.9
    batch_size: int = 64
    steps: int = 100_000
    seed: int = 0
    eval_interval: int = 10_000
    eval_samples: int = 10_000
    num_samples_shown: int = 64
    backup_interval: int | None = None
    strategy: str = "default"
    tpu: str = ""
    jit_compile: bool = False
    verbose: int = 1
    model_format: int = MODEL_FORMAT

    def validate(self) -> "InfoGANConfig":
        """Checks every field; raises ValueError naming the field, its value and what is valid."""
        from keras_latentquant.models.infogan import GAN_MODELS, PRIORS

        if self.model not in GAN_MODELS:
            raise ValueError(f"Unknown GAN {self.model!r}; trainers/infogan.py trains: {', '.join(GAN_MODELS)}.")
        _validate_run_fields(self)
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}; got {self.prior!r}.")
        if not isinstance(self.critic_steps, int) or self.critic_steps < 1:
            raise ValueError(f"critic_steps must be a positive integer; got {self.critic_steps!r}.")
        for name in ("gradient_penalty_weight", "latent_regression_weight", "quantization_weight", "commitment_weight"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}.")
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)}.")
        if self.num_samples_shown < 1:
            raise ValueError(f"num_samples_shown must be >= 1; got {self.num_samples_shown}.")
        return self


#: Options whose unset value (None) is resolved by `with_reference_defaults`.
_DATASET_DEPENDENT_OPTIONS = ("quantization_weight", "commitment_weight", "weight_decay", "beta", "total_correlation_weight")


def with_reference_defaults(config):
    """A copy of `config` whose unset dataset-dependent options hold the values the run will use.

    An option left None takes the reference's value for the model and dataset
    (`models.reference_defaults`), else the model's default (quantizer loss weights 0.01, the model's weight
    decay, the beta-TCVAE weight 6); `beta` stays None where neither says (the VAE factories default it).
    The resolved values are what a run saves in config.json, so a resumed run can never take other ones.
    """
    from keras_latentquant.models.reference_defaults import reference_dataset_defaults

    reference = reference_dataset_defaults(config.model, config.dataset)
    if isinstance(config, InfoGANConfig):
        from keras_latentquant.models.infogan import GAN_MODELS

        model_defaults = {"quantization_weight": 0.01, "commitment_weight": 0.01, "weight_decay": GAN_MODELS[config.model]}
    else:
        from keras_latentquant.models.registry import OPTION_DEFAULTS, get_model_spec

        model_defaults = {
            name: OPTION_DEFAULTS[name]
            for name in ("quantization_weight", "commitment_weight", "total_correlation_weight")
        }
        model_defaults["weight_decay"] = get_model_spec(config.model).default_weight_decay
    updates = {}
    for name in _DATASET_DEPENDENT_OPTIONS:
        if hasattr(config, name) and getattr(config, name) is None:
            value = reference.get(name, model_defaults.get(name))
            if value is not None:
                updates[name] = value
    return dataclasses.replace(config, **updates)
