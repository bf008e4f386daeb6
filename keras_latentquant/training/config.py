"""Training configuration: one dataclass from which the trainer builds data, model and callbacks."""

from __future__ import annotations

import dataclasses
import json
from typing import Sequence

__all__ = ["TrainConfig", "STRATEGIES", "ARCHITECTURES"]

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
ARCHITECTURES = ("paper", "small")


@dataclasses.dataclass
class TrainConfig:
    """Everything one training run needs. `None` fields take the paper's default for the model/dataset.

    Attributes:
        output_dir: where checkpoints, logs, metrics.json and figures go.
        dataset: registered dataset name.
        dataset_config: builder config (None: the dataset's default).
        data_dir: TFDS data directory (None: TFDS default).
        model: a registered model name (`keras_latentquant.models.registry.MODELS`).
        architecture: `paper` or `small`.
        num_latents: latent dimensions (None: twice the dataset's number of factors).
        num_values: codebook values per dimension (QLAE).
        quantization_weight, commitment_weight: quantizer loss weights (QLAE).
        weight_decay: decoupled weight decay (None: the model's default, 0.1 for QLAE, 0 for AE).
        beta: KL weight of the VAE family (None: 1 for vae/ard_vae, 4 for beta_vae).
        total_correlation_weight: beta-TCVAE's total-correlation weight.
        activity_weight: BioAE's activity energy weight.
        vq_num_codes, vq_vector_dim, vq_ema, vq_dead_code_threshold: VQ-VAE codebook options.
        fsq_levels: levels per latent of finite scalar quantization.
        learning_rate: Adam learning rate.
        batch_size: global batch size.
        steps: total training steps.
        seed: seed of initialisation and data order.
        eval_interval: steps between evaluations (also the epoch length of `fit`).
        eval_samples: held-out samples used by each evaluation (taken from the end of the split).
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
    quantization_weight: float = 0.01
    commitment_weight: float = 0.01
    weight_decay: float | None = None
    beta: float | None = None
    total_correlation_weight: float = 6.0
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
    strategy: str = "default"
    tpu: str = ""
    jit_compile: bool = False
    verbose: int = 1

    def validate(self) -> "TrainConfig":
        """Checks every field; raises ValueError naming the field, its value and what is valid."""
        from keras_latentquant.datasets.registry import get_dataset_spec

        from keras_latentquant.models.registry import get_model_spec

        get_dataset_spec(self.dataset)  # raises ValueError listing the registered names
        get_model_spec(self.model)  # likewise
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {self.architecture!r}.")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}; got {self.strategy!r}.")
        for name in ("batch_size", "steps", "eval_interval", "eval_samples"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.steps % self.eval_interval:
            raise ValueError(
                f"steps ({self.steps}) must be a multiple of eval_interval ({self.eval_interval}): "
                "training runs as steps/eval_interval epochs with an evaluation after each."
            )
        if self.eval_samples < 10:
            raise ValueError(f"eval_samples must be at least 10 to estimate InfoMEC; got {self.eval_samples}.")
        if self.num_latents is not None and self.num_latents < 1:
            raise ValueError(f"num_latents must be >= 1 (or unset for twice the factors); got {self.num_latents}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate}.")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0; got {self.weight_decay}.")
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)
