"""Interpreting a trained model's latent space with a space-filling curve (paper.md section 7).

`fit_curve` fits a `SpaceFillingVectorQuantization` curve to latents; `quantization_errors` compares it
with plain VQ; `factors_along_curve` relates curve position to ground-truth factors; `decode_curve`
turns points along the curve into images. `python -m keras_latentquant.interpret --model=RUN_DIR` does
all of it for a trained model and writes figures and `curve.json`. The names below are imported on first use.
"""

from keras_latentquant._lazy import lazy_exports

__all__ = [
    "CurveFactors",
    "CurveFit",
    "FactorProfile",
    "as_curve",
    "decode_curve",
    "factors_along_curve",
    "fit_curve",
    "latent_space",
    "model_latents",
    "quantization_errors",
]


# Imported from `curve` on first use, so `python -m keras_latentquant.interpret` can check its flags before
# TensorFlow starts (the curve needs Keras).
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "curve"))
