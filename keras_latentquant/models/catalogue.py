"""Every trainable model of the library, declared once: its options, builder, optimizer and data.

One `ModelEntry` per model (the autoencoders, the paper's ablations, QLInfoGAN and InfoWGAN-GP) says

- its options, each an `Option` with its default, help text and check (the trainers' flags, the run config's
  validation and the tuner's search space are all generated from these);
- its builder: an uncompiled model from image shape, number of latents, architecture and options;
- its optimizer defaults (learning rate; the weight decay and, for the GANs, Adam's betas are options);
- how it consumes data (`family`: an autoencoder reads `(image, image)` batches of `batch_size`; a GAN reads
  `critic_steps` batches of real images per step) and its run defaults (batch size, steps).

An option left unset takes the reference's value for the model and dataset (`reference_defaults`), else the
entry's default. A new model is one entry here (plus its bottleneck layer, if it has a new one); a new option
is one `Option` and its use in the builder, and its default must leave the model as it was before the option
existed: runs saved before it then resume with that default (`training.config.upgrade_saved_config`).

This module imports neither Keras nor TensorFlow (the builders, `dtype_policy` and compiling import them when
called), so the trainers can check a command line against the catalogue before TensorFlow starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from keras_latentquant.models.choices import PRIORS
from keras_latentquant.models.reference_defaults import reference_dataset_defaults
from keras_latentquant.suggest import did_you_mean

if TYPE_CHECKING:  # annotations only: Keras is imported where a model is built
    import keras

__all__ = [
    "Option",
    "ModelEntry",
    "MODELS",
    "FAMILIES",
    "PRECISIONS",
    "dtype_policy",
    "get_model",
    "all_options",
    "build_model",
    "build_qlae",
    "build_ae",
    "build_qlinfogan",
    "build_infowgan_gp",
    "pixel_scale",
]

#: `autoencoder`: image -> latents -> image, trained on `(image, image)`; `gan`: generator and critic.
FAMILIES = ("autoencoder", "gan")
#: Keras dtype policies a model can be built under. Mixed policies compute in bfloat16 / float16 and keep the
#: variables, the quantizers' distances and codebooks, normalisation statistics, the encoder head, the
#: decoder's logits and the losses in float32; under mixed_float16 the losses are scaled
#: (`keras.optimizers.LossScaleOptimizer`, both of a GAN's optimizers).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
_KINDS = ("float", "int", "bool", "choice", "ints", "range")


@dataclasses.dataclass(frozen=True)
class Option:
    """One model option: its name (the flag's), default, help and check.

    Attributes:
        name: option (and trainer flag) name.
        default: the value a model takes when neither the user nor the reference's per-dataset table sets
            it (`ModelEntry` may override it per model with `Option.with_default`).
        help: one line for `--help`.
        kind: `float`, `int`, `bool`, `choice` (one of `choices`), `ints` (an int >= `lower`, or a list of
            them) or `range` (two floats, low < high).
        lower: smallest valid value (float and int kinds; `ints` elements).
        upper: values must be below it (exclusive), for Adam's betas.
        choices: the valid values of a `choice` option.
    """

    name: str
    default: Any
    help: str
    kind: str = "float"
    lower: float | None = None
    upper: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Option kind must be one of {_KINDS}; got {self.kind!r}.")

    def with_default(self, default: Any) -> "Option":
        """The same option with another default (a model whose paper value differs)."""
        return dataclasses.replace(self, default=default)

    def check(self, value: Any, model: str) -> Any:
        """The value in canonical form (ints as int, lists as lists); ValueError naming option, model, value."""

        def fail(expected: str):
            raise ValueError(f"Model option {self.name} of {model!r} must be {expected}; got {value!r}.")

        def number(item, integer: bool):
            if isinstance(item, bool) or not isinstance(item, (int, float, np.integer, np.floating)):
                fail(self._expected())
            if integer and float(item) != int(item):
                fail(self._expected())
            item = int(item) if integer else float(item)
            if (self.lower is not None and item < self.lower) or (self.upper is not None and item >= self.upper):
                fail(self._expected())
            return item

        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                fail("True or False")
            return bool(value)
        if self.kind == "choice":
            if value not in self.choices:
                fail(f"one of {self.choices}")
            return value
        if self.kind == "ints":
            if isinstance(value, (list, tuple, np.ndarray)):
                if len(value) == 0:
                    fail(self._expected())
                values = [number(item, True) for item in value]
                return values[0] if len(values) == 1 else values
            return number(value, True)
        if self.kind == "range":
            if not isinstance(value, (list, tuple, np.ndarray)) or len(value) != 2:
                fail("two numbers (low, high)")
            low, high = (number(item, False) for item in value)
            if not low < high:
                fail("two numbers (low, high) with low < high")
            return [low, high]
        return number(value, self.kind == "int")

    def _expected(self) -> str:
        what = {"float": "a number", "int": "an integer", "ints": "an integer or a list of integers",
                "range": "two numbers"}[self.kind]
        if self.lower is not None and self.upper is not None:
            return f"{what} in [{self.lower:g}, {self.upper:g})"
        if self.lower is not None:
            return f"{what} >= {self.lower:g}"
        return what


# Every option, declared once. A model that needs another default uses `.with_default`.
NUM_VALUES = Option("num_values", 10, "Codebook values per latent: one int, or one per latent (comma list).",
                    "ints", lower=2)
VALUE_RANGE = Option("value_range", [-0.5, 0.5], "Range of the initial evenly spaced codebook values (and of "
                     "InfoWGAN-GP's uniform prior).", "range")
LEARNABLE_CODEBOOK = Option("learnable_codebook", True, "Train the codebook values (False: keep the initial evenly "
                            "spaced grid).", "bool")
SHARED_CODEBOOK = Option("shared_codebook", False, "One scalar codebook shared by every latent (the paper's "
                         "global-codebook ablation) instead of one per latent.", "bool")
QUANTIZATION_WEIGHT = Option("quantization_weight", 0.01, "Weight of the codebook loss.", lower=0.0)
COMMITMENT_WEIGHT = Option("commitment_weight", 0.01, "Weight of the commitment loss.", lower=0.0)
WEIGHT_DECAY = Option("weight_decay", 0.0, "Decoupled weight decay of the kernels (not biases or codebooks).",
                      lower=0.0)
BETA = Option("beta", 1.0, "KL weight of the VAE family (FactorQVAE: of the KL to the uniform prior over its "
              "codebook entries).", lower=0.0)
TOTAL_CORRELATION_WEIGHT = Option("total_correlation_weight", 6.0, "Total-correlation weight (beta-TCVAE: of its "
                                  "minibatch estimate; FactorQVAE: of its discriminator's estimate).", lower=0.0)
ACTIVITY_WEIGHT = Option("activity_weight", 0.1, "BioAE's activity energy weight.", lower=0.0)
VQ_NUM_CODES = Option("vq_num_codes", 64, "VQ-VAE: codewords in the shared codebook.", "int", lower=2)
VQ_VECTOR_DIM = Option("vq_vector_dim", 2, "VQ-VAE: size of each quantized latent vector.", "int", lower=1)
VQ_EMA = Option("vq_ema", False, "VQ-VAE: update the codebook by exponential moving averages.", "bool")
VQ_DEAD_CODE_THRESHOLD = Option("vq_dead_code_threshold", 0.0, "VQ-VAE: reinitialise codes used less than "
                                "this (0: off).", lower=0.0)
FSQ_LEVELS = Option("fsq_levels", 10, "FSQ: levels per latent dimension.", "int", lower=2)
PRIOR = Option("prior", "uniform", "InfoWGAN-GP's prior: uniform on the value range, or N(0, 1).", "choice",
               choices=PRIORS)
CRITIC_STEPS = Option("critic_steps", 5, "Critic updates per generator update.", "int", lower=1)
GRADIENT_PENALTY_WEIGHT = Option("gradient_penalty_weight", 10.0, "WGAN-GP gradient penalty weight.", lower=0.0)
LATENT_REGRESSION_WEIGHT = Option("latent_regression_weight", 200.0, "Latent regression (InfoGAN) loss weight.",
                                  lower=0.0)
FQ_NUM_VALUES = Option("fq_num_values", 64, "FactorQVAE: entries of its global scalar codebook.", "int", lower=2)
FQ_TEMPERATURE_DECAY = Option("fq_temperature_decay", 1e-5, "FactorQVAE: the Gumbel-softmax temperature is "
                              "exp(-fq_temperature_decay * step); 0 keeps it at 1, as FactorQVAE's released code "
                              "does.", lower=0.0)
FQ_DISCRIMINATOR_UNITS = Option("fq_discriminator_units", 1000, "FactorQVAE: width of the total-correlation "
                                "discriminator's hidden layers.", "int", lower=1)
FQ_DISCRIMINATOR_LAYERS = Option("fq_discriminator_layers", 5, "FactorQVAE: hidden layers of its discriminator.",
                                 "int", lower=1)
BETA_1 = Option("beta_1", 0.0, "Adam beta1 of both GAN optimizers.", lower=0.0, upper=1.0)
BETA_2 = Option("beta_2", 0.9, "Adam beta2 of both GAN optimizers.", lower=0.0, upper=1.0)
NUM_SAMPLES_SHOWN = Option("num_samples_shown", 64, "Images in the sample grid written at every evaluation.",
                           "int", lower=1)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One trainable model.

    Attributes:
        name: the trainers' `--model`.
        description: one line for `--help` and tables.
        family: `autoencoder` or `gan` (how it is trained, what it consumes, which files a run writes).
        options: its `Option`s (with this model's defaults).
        make: `(image_shape, num_latents, architecture, options, context) -> uncompiled keras.Model`, with
            `options` complete and checked, and `context` holding `dataset_size` (training examples) and
            `seed`.
        learning_rate: Adam's default learning rate.
        batch_size: default global batch size (a GAN: of each critic step).
        steps: default training steps (a GAN: generator steps).
        compiler: `(model, learning_rate, options, jit_compile) -> model` for a model whose optimizer and step
            are its own (FactorQVAE); None compiles by family (`compile_autoencoder`, `compile_infogan`).
        reconstruction_share: the share of each batch its autoencoder trains on (FactorQVAE: 0.5, the other half
            trains its discriminator); a comparison at equal images per autoencoder update gives it batches
            `1 / reconstruction_share` times as large (`benchmarks/reproduce.py`).
    """

    name: str
    description: str
    family: str
    options: tuple[Option, ...]
    make: Callable[..., keras.Model]
    learning_rate: float
    batch_size: int
    steps: int
    compiler: Callable[..., keras.Model] | None = None
    reconstruction_share: float = 1.0

    def option_names(self) -> tuple[str, ...]:
        return tuple(option.name for option in self.options)

    def defaults(self) -> dict[str, Any]:
        """Every option's default for this model."""
        return {option.name: option.default for option in self.options}

    def resolve_options(self, given: dict[str, Any], dataset: str | None = None) -> dict[str, Any]:
        """Every option's value: `given` where set, else the reference's for `dataset`, else the default.

        Raises:
            ValueError: an option this model does not have (naming the models that have it), or a bad value.
        """
        unknown = sorted(set(given) - set(self.option_names()))
        if unknown:
            owners = {name: [entry.name for entry in MODELS.values() if name in entry.option_names()] for name in unknown}
            detail = "; ".join(
                f"{name} is an option of {', '.join(models)}" if models else
                f"{name} is no model's option" + did_you_mean(name, all_options()).rstrip("?").replace(
                    " Did you mean", "; did you mean")
                for name, models in owners.items()
            )
            raise ValueError(
                f"Model {self.name!r} has no option {', '.join(unknown)} ({detail}). Its options: "
                f"{', '.join(self.option_names()) or 'none'}."
            )
        reference = reference_dataset_defaults(self.name, dataset) if dataset else {}
        resolved = {}
        for option in self.options:
            value = given.get(option.name)
            if value is None:
                value = reference.get(option.name, option.default)
            resolved[option.name] = option.check(value, self.name)
        return resolved

    def build(
        self,
        image_shape: Sequence[int],
        num_latents: int,
        architecture: str = "paper",
        options: dict[str, Any] | None = None,
        *,
        dataset_size: int | None = None,
        seed: int | None = None,
        precision: str = "float32",
    ) -> keras.Model:
        """The uncompiled model (`options`: the given ones; the rest take their defaults), its layers built
        under the dtype policy `precision` (one of `PRECISIONS`)."""
        resolved = self.resolve_options(options or {})
        context = {"dataset_size": dataset_size, "seed": seed, "name": self.name}
        with dtype_policy(precision):
            return self.make(tuple(image_shape), num_latents, architecture, resolved, context)

    def compile(self, model: keras.Model, options: dict[str, Any], learning_rate: float | None = None,
                jit_compile: bool | str = False) -> keras.Model:
        """Compiles `model` with this model's optimizer (its learning rate unless given) and loss."""
        resolved = self.resolve_options(options)
        learning_rate = self.learning_rate if learning_rate is None else learning_rate
        if self.compiler is not None:
            self.compiler(model, learning_rate, resolved, jit_compile)
        elif self.family == "gan":
            from keras_latentquant.models.infogan import compile_infogan

            compile_infogan(model, learning_rate, resolved["beta_1"], resolved["beta_2"], resolved["weight_decay"],
                            jit_compile=jit_compile)
        else:
            from keras_latentquant.models.autoencoders import compile_autoencoder

            compile_autoencoder(model, learning_rate, resolved["weight_decay"], jit_compile=jit_compile)
        return model


@contextlib.contextmanager
def dtype_policy(precision: str):
    """Keras's global dtype policy set to `precision` inside the block, and restored after it: layers take
    their policy when they are made, so a model built inside keeps it and nothing else is affected."""
    import keras

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def pixel_scale(image_shape: Sequence[int]) -> float:
    """1 / number of pixel values: turns a per-image loss into the units of the per-pixel BCE."""
    return 1.0 / float(np.prod(image_shape))


def _autoencoder(bottleneck: Callable[[dict, tuple, dict], keras.layers.Layer | None], outputs_per_latent: int = 1):
    """`make` of an autoencoder: `bottleneck(options, image_shape, context)` between encoder and decoder."""

    def make(image_shape, num_latents, architecture, options, context):
        from keras_latentquant.models.autoencoders import build_autoencoder

        # The bottleneck is made first (it names its layer and metrics at construction), then the networks:
        # the order of the weight initialisations is part of what a seed reproduces.
        layer = bottleneck(options, image_shape, context)
        return build_autoencoder(
            layer, image_shape=image_shape, num_latents=num_latents,
            encoder_output_dim=outputs_per_latent * num_latents, architecture=architecture, name=context["name"],
        )

    return make


def _latent_quantization(options, image_shape, context):
    from keras_latentquant.layers import LatentQuantization

    return LatentQuantization(
        num_values=options["num_values"], value_range=tuple(options["value_range"]),
        learnable_codebook=options["learnable_codebook"], shared_codebook=options["shared_codebook"],
        quantization_weight=options["quantization_weight"],
        commitment_weight=options["commitment_weight"], name="latent_quantization",
    )


def _no_bottleneck(options, image_shape, context):
    return None


def _gaussian_posterior(with_total_correlation: bool):
    def make(options, image_shape, context):
        from keras_latentquant.layers.gaussian_posterior import GaussianPosterior

        if with_total_correlation and not context["dataset_size"]:
            raise ValueError(
                "beta_tcvae needs dataset_size (the number of training examples) for its "
                "minibatch-weighted-sampling estimator; the trainer sets it from the dataset."
            )
        return GaussianPosterior(
            beta=options["beta"],
            total_correlation_weight=options["total_correlation_weight"] if with_total_correlation else 0.0,
            dataset_size=context["dataset_size"] if with_total_correlation else None,
            loss_scale=pixel_scale(image_shape),
            name="bottleneck",
        )

    return make


def _ard_gaussian_posterior(options, image_shape, context):
    from keras_latentquant.layers.ard_gaussian_posterior import ARDGaussianPosterior

    return ARDGaussianPosterior(beta=options["beta"], loss_scale=pixel_scale(image_shape), name="bottleneck")


def _nonnegative_latents(options, image_shape, context):
    from keras_latentquant.layers.nonnegative_latents import NonNegativeLatents

    return NonNegativeLatents(activity_weight=options["activity_weight"], loss_scale=pixel_scale(image_shape),
                              name="bottleneck")


def _vector_quantization(options, image_shape, context):
    from keras_latentquant.layers.vector_quantization import VectorQuantization

    return VectorQuantization(
        num_codes=options["vq_num_codes"], vector_dim=options["vq_vector_dim"], ema=options["vq_ema"],
        dead_code_threshold=options["vq_dead_code_threshold"], name="bottleneck",
    )


def _factorqvae(image_shape, num_latents, architecture, options, context):
    from keras_latentquant.layers.factor_quantization import FactorQuantization
    from keras_latentquant.models.autoencoders import build_autoencoder
    from keras_latentquant.models.factorqvae import FactorQVAE

    layer = FactorQuantization(
        num_values=options["fq_num_values"], kl_weight=options["beta"], tc_weight=options["total_correlation_weight"],
        temperature_decay=options["fq_temperature_decay"], discriminator_units=options["fq_discriminator_units"],
        discriminator_layers=options["fq_discriminator_layers"], seed=context["seed"], name="bottleneck",
    )
    return build_autoencoder(layer, image_shape=image_shape, num_latents=num_latents, architecture=architecture,
                             name=context["name"], model_class=FactorQVAE)


def _compile_factorqvae(model, learning_rate, options, jit_compile):
    from keras_latentquant.models.factorqvae import compile_factorqvae

    return compile_factorqvae(model, learning_rate, jit_compile=jit_compile)


def _finite_scalar_quantization(options, image_shape, context):
    from keras_latentquant.layers.finite_scalar_quantization import FiniteScalarQuantization

    return FiniteScalarQuantization(levels=options["fsq_levels"], name="bottleneck")


# The options `build_infogan` takes as they are (a model passes those it has; the others keep its defaults).
_GAN_BUILD_OPTIONS = ("num_values", "quantization_weight", "commitment_weight", "critic_steps",
                      "gradient_penalty_weight", "latent_regression_weight", "prior")


def _gan(quantized: bool):
    def make(image_shape, num_latents, architecture, options, context):
        from keras_latentquant.models.infogan import build_infogan

        return build_infogan(
            quantized, image_shape, num_latents, architecture, value_range=tuple(options["value_range"]),
            seed=context["seed"], name=context["name"],
            **{name: options[name] for name in _GAN_BUILD_OPTIONS if name in options},
        )

    return make


_QUANTIZER = (NUM_VALUES, VALUE_RANGE, QUANTIZATION_WEIGHT, COMMITMENT_WEIGHT)
_QLAE_CODEBOOK = (LEARNABLE_CODEBOOK, SHARED_CODEBOOK)
_GAN_TRAINING = (CRITIC_STEPS, GRADIENT_PENALTY_WEIGHT, LATENT_REGRESSION_WEIGHT, BETA_1, BETA_2, NUM_SAMPLES_SHOWN)
_AE_RUN = {"learning_rate": 1e-3, "batch_size": 128, "steps": 200_000}
_GAN_RUN = {"learning_rate": 2e-4, "batch_size": 64, "steps": 100_000}


def _entry(name, description, make, options, family="autoencoder", compiler=None, **run):
    run = {**(_AE_RUN if family == "autoencoder" else _GAN_RUN), **run}
    return ModelEntry(name, description, family, tuple(options), make, **run, compiler=compiler)


#: Every trainable model by name (the trainers' `--model`).
MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in [
        _entry("qlae", "quantized-latent autoencoder (latent quantization + weight decay 0.1)",
               _autoencoder(_latent_quantization), (*_QUANTIZER, *_QLAE_CODEBOOK, WEIGHT_DECAY.with_default(0.1))),
        _entry("ae", "plain autoencoder: continuous latents, no weight decay", _autoencoder(_no_bottleneck),
               (WEIGHT_DECAY,)),
        # The paper's ablations: each ingredient of QLAE alone, or changed (they take QLAE's per-dataset loss
        # weights, `reference_defaults`, so only the named ingredient differs).
        _entry("qlae_no_weight_decay", "ablation: latent quantization without weight decay",
               _autoencoder(_latent_quantization), (*_QUANTIZER, *_QLAE_CODEBOOK, WEIGHT_DECAY)),
        _entry("ae_weight_decay", "ablation: weight decay 0.1 without quantization", _autoencoder(_no_bottleneck),
               (WEIGHT_DECAY.with_default(0.1),)),
        _entry("qlae_global_codebook", "ablation: QLAE with one scalar codebook shared by all latents",
               _autoencoder(_latent_quantization),
               (*_QUANTIZER, LEARNABLE_CODEBOOK, SHARED_CODEBOOK.with_default(True), WEIGHT_DECAY.with_default(0.1))),
        _entry("qlae_frozen_codebook", "ablation: QLAE with its codebook frozen at the evenly spaced grid",
               _autoencoder(_latent_quantization),
               (*_QUANTIZER, LEARNABLE_CODEBOOK.with_default(False), SHARED_CODEBOOK, WEIGHT_DECAY.with_default(0.1))),
        _entry("vae", "VAE: diagonal Gaussian posterior, KL to N(0, I)", _autoencoder(_gaussian_posterior(False), 2),
               (BETA, WEIGHT_DECAY)),
        _entry("beta_vae", "beta-VAE: VAE with the KL weighted by beta (default 4)",
               _autoencoder(_gaussian_posterior(False), 2), (BETA.with_default(4.0), WEIGHT_DECAY)),
        _entry("beta_tcvae", "beta-TCVAE: total-correlation penalty, minibatch-weighted sampling",
               _autoencoder(_gaussian_posterior(True), 2), (BETA, TOTAL_CORRELATION_WEIGHT, WEIGHT_DECAY)),
        _entry("ard_vae", "ARD-VAE: prior variances estimated from the data switch unused axes off",
               _autoencoder(_ard_gaussian_posterior, 2), (BETA, WEIGHT_DECAY)),
        _entry("bioae", "BioAE: non-negative latents, activity energy, weight energy (decay 0.01)",
               _autoencoder(_nonnegative_latents), (ACTIVITY_WEIGHT, WEIGHT_DECAY.with_default(0.01))),
        _entry("vqvae", "VQ-VAE: one shared codebook of vectors for every latent group",
               _autoencoder(_vector_quantization),
               (VQ_NUM_CODES, VQ_VECTOR_DIM, VQ_EMA, VQ_DEAD_CODE_THRESHOLD, WEIGHT_DECAY)),
        _entry("vqvae_weight_decay", "ablation: VQ-VAE with QLAE's weight decay (0.1)",
               _autoencoder(_vector_quantization),
               (VQ_NUM_CODES, VQ_VECTOR_DIM, VQ_EMA, VQ_DEAD_CODE_THRESHOLD, WEIGHT_DECAY.with_default(0.1))),
        _entry("fsq", "finite scalar quantization: fixed per-dimension grid, weight decay 0.1",
               _autoencoder(_finite_scalar_quantization), (FSQ_LEVELS, WEIGHT_DECAY.with_default(0.1))),
        _entry("factorqvae", "FactorQVAE: global scalar codebook, Gumbel-softmax, discriminator total correlation",
               _factorqvae, (FQ_NUM_VALUES, BETA.with_default(1e-3), TOTAL_CORRELATION_WEIGHT.with_default(1e-4),
                             FQ_TEMPERATURE_DECAY, FQ_DISCRIMINATOR_UNITS, FQ_DISCRIMINATOR_LAYERS),
               compiler=_compile_factorqvae, batch_size=512, steps=100_000, reconstruction_share=0.5),
        _entry("qlinfogan", "QLInfoGAN: WGAN-GP generator on a quantized latent grid, with its encoder",
               _gan(quantized=True), (*_QUANTIZER, *_GAN_TRAINING, WEIGHT_DECAY.with_default(1e-3)), family="gan"),
        _entry("infowgan_gp", "InfoWGAN-GP: continuous prior, no weight decay",
               _gan(quantized=False), (VALUE_RANGE, PRIOR, *_GAN_TRAINING, WEIGHT_DECAY), family="gan"),
    ]
}


def get_model(name: str) -> ModelEntry:
    """Looks a model up by name; ValueError lists the registered names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}.{did_you_mean(name, MODELS)} Registered models: "
                         f"{', '.join(MODELS)}.") from None


def all_options() -> dict[str, list[tuple[str, Option]]]:
    """Every option name, with the models that have it and their declarations (for the trainers' flags)."""
    table: dict[str, list[tuple[str, Option]]] = {}
    for entry in MODELS.values():
        for option in entry.options:
            table.setdefault(option.name, []).append((entry.name, option))
    return table


def build_model(
    name: str,
    image_shape: Sequence[int] = (64, 64, 1),
    num_latents: int = 10,
    architecture: str = "paper",
    *,
    learning_rate: float | None = None,
    compile: bool = True,
    jit_compile: bool | str = False,
    dataset_size: int | None = None,
    seed: int | None = None,
    precision: str = "float32",
    **options,
) -> keras.Model:
    """Builds (and by default compiles) a catalogued model.

    Args:
        name: a model of `MODELS`.
        image_shape: `(height, width, channels)` of the images, pixel values in [0, 1].
        num_latents: latent dimensions (paper: twice the number of factors).
        architecture: `"paper"`, `"paper_small"` or `"fast"` networks (see `models.encoders`).
        learning_rate: Adam's (None: the model's default).
        compile: compile with the model's optimizer and loss.
        jit_compile: passed to `compile`.
        dataset_size: training examples (beta-TCVAE's estimator needs it).
        seed: seed of a GAN's latent and mixing draws.
        precision: dtype policy, one of `PRECISIONS` (`float32`, `mixed_bfloat16`, `mixed_float16`).
        **options: the model's options (`MODELS[name].options`); unset ones take their defaults. An option the
            model does not have raises ValueError.

    Returns:
        The `keras.Model` (an autoencoder: images -> pixel logits; a GAN: an `InfoGAN`), named `name`.
    """
    entry = get_model(name)
    model = entry.build(image_shape, num_latents, architecture, options, dataset_size=dataset_size, seed=seed,
                        precision=precision)
    if compile:
        entry.compile(model, options, learning_rate, jit_compile)
    return model


build_qlae = functools.partial(build_model, "qlae")
build_qlae.__doc__ = "`build_model('qlae', ...)`: the quantized-latent autoencoder."
build_ae = functools.partial(build_model, "ae")
build_ae.__doc__ = "`build_model('ae', ...)`: the plain autoencoder baseline."
build_qlinfogan = functools.partial(build_model, "qlinfogan")
build_qlinfogan.__doc__ = "`build_model('qlinfogan', ...)`: QLInfoGAN."
build_infowgan_gp = functools.partial(build_model, "infowgan_gp")
build_infowgan_gp.__doc__ = "`build_model('infowgan_gp', ...)`: InfoWGAN-GP."
