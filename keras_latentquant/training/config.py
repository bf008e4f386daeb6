"""Training configuration: one dataclass from which the trainer builds data, model and callbacks.

Imports neither TensorFlow nor Keras (the model catalogue and the dataset registry are plain data), so the commands
validate a `TrainConfig` made from their flags before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from keras_latentquant.datasets.registry import get_dataset_spec
from keras_latentquant.models.catalogue import MODELS, PRECISIONS, get_model
from keras_latentquant.models.choices import ARCHITECTURES, check_architecture
from keras_latentquant.models.reference_defaults import reference_dataset_defaults
from keras_latentquant.suggest import did_you_mean

__all__ = ["TrainConfig", "STRATEGIES", "ARCHITECTURES", "MODEL_FORMAT", "CONFIG_FORMAT", "upgrade_saved_config"]

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")

#: Generation of the function our models compute, saved in every run's config.json. 2: the reference
#: implementation's style block, initialisation, instance-norm epsilon and optax Adam (keras-latentquant
#: 0.2). Run folders of an earlier generation are refused with a message (`model_files.check_resumable_run`).
MODEL_FORMAT = 2
#: Layout of the config a run saves in config.json. 2: the model's options under `options` (the model
#: catalogue); 1: every option a top-level field. `upgrade_saved_config` reads layout 1.
CONFIG_FORMAT = 2


@dataclasses.dataclass
class TrainConfig:
    """Everything one training run needs, for every catalogued model (`models.catalogue.MODELS`).

    Fields left None take the model's defaults (`resolved`): its learning rate, batch size and steps, and
    `runs/<model>` as output folder. `options` holds the model's options by name (`num_values`,
    `weight_decay`, `critic_steps`, ...); an option left out takes the reference's value for the model and
    dataset (`models.reference_defaults`), else the model's default. An option the model does not have is an
    error, not ignored.

    Attributes:
        output_dir: where checkpoints, logs, metrics.json and figures go (None: `runs/<model>`).
        dataset: registered dataset name.
        dataset_config: builder config (None: the dataset's default).
        data_dir: TFDS data directory (None: TFDS default).
        model: a catalogued model name.
        architecture: `paper`, `paper_small` or `fast` (see `models.encoders`).
        num_latents: latent dimensions (None: twice the dataset's number of factors).
        options: the model's options by name.
        learning_rate: Adam learning rate (None: the model's).
        batch_size: global batch size (a GAN: of each critic step; None: the model's).
        steps: training steps (a GAN: generator steps; None: the model's).
        seed: seed of initialisation, data order and latent draws.
        eval_interval: steps between evaluations (also the epoch length of `fit`).
        eval_samples: held-out samples used by each evaluation (taken from the end of the split).
        backup_interval: steps between backups of the training state inside an eval interval (None:
            min(eval_interval, 1000)); a killed run reruns at most this many steps when resumed.
        strategy: `default`, `mirrored`, `multi_worker` or `tpu`.
        tpu: TPU name or address for the `tpu` strategy.
        jit_compile: compile the train step with XLA.
        precision: Keras dtype policy the model is built under: `float32`, `mixed_bfloat16` (AMX / AVX512-BF16
            CPUs, TPUs, recent GPUs) or `mixed_float16` (GPUs; losses scaled). A resumed run keeps it.
        verbose: Keras `fit` verbosity (1: a progress bar on a terminal, one line per evaluation interval when
            the output goes to a file or pipe; 2: always one line; 0: silent).
        deterministic: run TensorFlow's ops one at a time (inter-op parallelism 1), which makes a CPU run
            bit-for-bit reproducible whatever else the machine is doing; False lets independent ops run
            concurrently, whose timing-dependent order changes results in the last bits (see `training.run`).
        keep_checkpoints: keep `checkpoints/latest.keras` and the backup's own copy of the weights when training
            ends (False: the folder keeps one copy of the final weights, `model.keras`, which the backup then
            points to, so a finished run can still be continued with a larger `steps`).
        model_format: generation of the function the models compute (`MODEL_FORMAT`).
        config_format: layout of this config in a run's config.json (`CONFIG_FORMAT`).
    """

    output_dir: str | None = None
    dataset: str = "procedural_dsprites"
    dataset_config: str | None = None
    data_dir: str | None = None
    model: str = "qlae"
    architecture: str = "paper"
    num_latents: int | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    learning_rate: float | None = None
    batch_size: int | None = None
    steps: int | None = None
    seed: int = 0
    eval_interval: int = 10_000
    eval_samples: int = 10_000
    backup_interval: int | None = None
    strategy: str = "default"
    tpu: str = ""
    jit_compile: bool = False
    precision: str = "float32"
    verbose: int = 1
    deterministic: bool = True
    keep_checkpoints: bool = False
    model_format: int = MODEL_FORMAT
    config_format: int = CONFIG_FORMAT

    def validate(self) -> "TrainConfig":
        """Checks every field and option; raises ValueError naming the field, its value and what is valid."""
        entry = get_model(self.model)  # raises ValueError listing the registered names
        if not isinstance(self.options, dict):
            raise ValueError(f"options must be a dict of the model's options by name; got {self.options!r}.")
        entry.resolve_options(self.options)  # unknown options and bad values
        _validate_run_fields(self._with_run_defaults())
        return self

    def resolved(self) -> "TrainConfig":
        """A validated copy with nothing left to defaults: every option of the model (the user's, else the
        reference's for the dataset, else the model's), its learning rate, batch size, steps and output
        folder. This is what a run saves in config.json, so a resumed run can never take other values."""
        self.validate()
        return dataclasses.replace(
            self._with_run_defaults(), options=get_model(self.model).resolve_options(self.options, self.dataset)
        )

    def _with_run_defaults(self) -> "TrainConfig":
        entry = get_model(self.model)
        return dataclasses.replace(
            self,
            output_dir=self.output_dir or f"runs/{self.model}",
            learning_rate=entry.learning_rate if self.learning_rate is None else self.learning_rate,
            batch_size=entry.batch_size if self.batch_size is None else self.batch_size,
            steps=entry.steps if self.steps is None else self.steps,
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def upgrade_saved_config(saved: dict) -> dict:
    """A run's saved config.json in today's layout (`CONFIG_FORMAT`).

    Layout 1 (before the model catalogue) kept every option as a top-level field, those of other models
    included (the autoencoder runs saved all the autoencoders' options). Its model's options move into
    `options`; other models' options, which did not act on the run, are dropped. A config saved before
    `precision` existed was trained in float32. An option the model gained after the run was saved (say
    `shared_codebook`) takes its default, which by the catalogue's rule is the behaviour the model had before the
    option existed; so adding an option does not make earlier runs unresumable. Other configs are returned
    unchanged.
    """
    if not isinstance(saved.get("model"), str) or saved["model"] not in MODELS:
        return saved
    upgraded = dict(saved)
    if saved.get("config_format", 1) == 1:
        names = set(get_model(saved["model"]).option_names())
        run_fields = {field.name for field in dataclasses.fields(TrainConfig)}
        upgraded = {key: value for key, value in saved.items() if key in run_fields}
        upgraded["options"] = {key: value for key, value in saved.items() if key in names}
        upgraded["config_format"] = CONFIG_FORMAT
    upgraded.setdefault("precision", "float32")
    if isinstance(upgraded.get("options"), dict):
        entry = get_model(saved["model"])
        missing = [option for option in entry.options if option.name not in upgraded["options"]]
        if missing:
            reference = reference_dataset_defaults(entry.name, saved["dataset"]) if isinstance(
                saved.get("dataset"), str) else {}
            upgraded["options"] = dict(upgraded["options"], **{
                option.name: reference.get(option.name, option.default) for option in missing})
    return upgraded


def _validate_run_fields(config: "TrainConfig") -> None:
    """Checks the fields every training run has (dataset, architecture, strategy, step counts...)."""
    get_dataset_spec(config.dataset).resolve_config(config.dataset_config)  # ValueErrors name the valid names
    check_architecture(config.architecture)  # names the replacement of a retired architecture
    if config.strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {config.strategy!r}."
                         f"{did_you_mean(config.strategy, STRATEGIES)}")
    if config.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {config.precision!r}."
                         f"{did_you_mean(config.precision, PRECISIONS)}")
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
