"""What a weight-decay search varies and what it optimizes: plain data, no TensorFlow.

`tuning/weight_decay.py` checks its flags with these before TensorFlow starts; `search` (KerasTuner) uses them.
"""

from __future__ import annotations

import dataclasses

from keras_latentquant.models.catalogue import get_model

__all__ = ["OBJECTIVES", "TUNERS", "SearchSpace", "objective_value"]

# Objective name -> direction KerasTuner optimizes it in.
OBJECTIVES = {"val_reconstruction": "min", "infom_infoc": "max", "mix": "max"}
TUNERS = ("random", "bayesian", "hyperband")


def objective_value(objective: str, infom: float, infoc: float, val_reconstruction: float, alpha: float = 1.0) -> float:
    """One objective from the held-out measurements (see the module docstring for the formulas).

    Args:
        objective: a key of `OBJECTIVES`.
        infom, infoc: InfoM and InfoC of the held-out latents.
        val_reconstruction: held-out reconstruction loss (per-pixel BCE, nats).
        alpha: weight of the reconstruction loss in `mix`.

    Returns:
        The objective's value (its direction is `OBJECTIVES[objective]`).
    """
    if objective == "val_reconstruction":
        return float(val_reconstruction)
    if objective == "infom_infoc":
        return float(infom + infoc)
    if objective == "mix":
        return float(infom + infoc - alpha * val_reconstruction)
    raise ValueError(f"Unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}.")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """What a search varies; everything else stays at the model's defaults or the fixed options.

    Attributes:
        weight_decay_range: `(low, high)` of the log-uniform weight decay (always searched).
        quantization_weight_range: `(low, high)` of the log-uniform codebook loss weight, None: fixed.
        commitment_weight_range: `(low, high)` of the log-uniform commitment loss weight, None: fixed.
        num_values_choices: values per latent to choose from, empty: fixed.
    """

    weight_decay_range: tuple[float, float] = (1e-4, 1.0)
    quantization_weight_range: tuple[float, float] | None = None
    commitment_weight_range: tuple[float, float] | None = None
    num_values_choices: tuple[int, ...] = ()

    def validate(self, model_name: str) -> "SearchSpace":
        """Raises ValueError naming the bad field, its value and what is valid."""
        ranges = {
            "weight_decay_range": self.weight_decay_range,
            "quantization_weight_range": self.quantization_weight_range,
            "commitment_weight_range": self.commitment_weight_range,
        }
        for name, bounds in ranges.items():
            if bounds is None:
                continue
            low, high = bounds
            if not 0 < low < high:
                raise ValueError(
                    f"{name} must satisfy 0 < low < high for log-uniform sampling; got ({low}, {high})."
                )
        if any(not isinstance(value, int) or value < 2 for value in self.num_values_choices):
            raise ValueError(f"num_values_choices must be integers >= 2; got {list(self.num_values_choices)}.")
        options = get_model(model_name).option_names()
        wanted = [name for name, on in [
            ("weight_decay", True),
            ("quantization_weight", self.quantization_weight_range is not None),
            ("commitment_weight", self.commitment_weight_range is not None),
            ("num_values", bool(self.num_values_choices)),
        ] if on]
        unused = [name for name in wanted if name not in options]
        if unused:
            raise ValueError(
                f"model {model_name!r} has no option(s) {unused} to tune (it reads {list(options) or 'none'}); "
                "tune them on a latent-quantization model such as qlae."
            )
        return self

    def hyperparameter_names(self) -> list[str]:
        names = ["weight_decay"]
        if self.quantization_weight_range is not None:
            names.append("quantization_weight")
        if self.commitment_weight_range is not None:
            names.append("commitment_weight")
        if self.num_values_choices:
            names.append("num_values")
        return names
