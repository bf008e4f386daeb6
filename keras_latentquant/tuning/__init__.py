"""KerasTuner searches over a catalogued model's weight decay (and its quantizer's loss weights and values).

Weight decay is the method's second inductive bias (paper section 2), and the paper's value (0.1 for
QLAE) was chosen for its datasets; this module searches it, log-uniformly on `[1e-4, 1]` by default,
optionally together with the quantizer's codebook and commitment loss weights (log-uniform) and its
number of values per latent (a choice). Every trial builds its model with
`keras_latentquant.models.catalogue.build_model`, the catalogue `trainers/qlae.py` trains from, and trains it
with the same `model.fit`.

Objectives, all measured on held-out labelled images after each `fit` epoch:

    val_reconstruction = mean over images and pixels of BCE(x, sigmoid(logits))      (minimize)
    infom_infoc        = InfoM + InfoC                                               (maximize)
    mix                = InfoM + InfoC - alpha * val_reconstruction                  (maximize)

`val_reconstruction` is the model's reconstruction loss alone (no quantizer losses, and weight decay is
decoupled so it never enters a loss), in nats per pixel value; InfoM and InfoC lie in [0, 1].

`tuning/weight_decay.py` is the command-line front end; KerasTuner's own chief/worker mode distributes a
search (`tuning/README.md`).

The names below are imported from their submodule on first use (PEP 562): `tuning.space` (the search space and
objectives, plain data) imports no TensorFlow, so the command checks its flags before TensorFlow starts;
`tuning.search` holds the KerasTuner parts.
"""

from keras_latentquant._lazy import lazy_exports

_SPACE = ("OBJECTIVES", "TUNERS", "SearchSpace", "objective_value")
_SEARCH = ("LatentQuantHyperModel", "TuningObjective", "keras_tuner_objective", "reconstruction_loss", "make_tuner",
           "trial_rows", "write_results", "format_markdown_table", "plot_objective_vs_weight_decay",
           "report_every_trial", "MEASUREMENTS")

__all__ = [
    "OBJECTIVES",
    "TUNERS",
    "SearchSpace",
    "LatentQuantHyperModel",
    "TuningObjective",
    "objective_value",
    "keras_tuner_objective",
    "reconstruction_loss",
    "make_tuner",
    "trial_rows",
    "write_results",
    "format_markdown_table",
    "plot_objective_vs_weight_decay",
    "report_every_trial",
]


__getattr__, __dir__ = lazy_exports(__name__, {**dict.fromkeys(_SPACE, "space"), **dict.fromkeys(_SEARCH, "search")})
