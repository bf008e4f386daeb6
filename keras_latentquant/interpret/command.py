"""What `python -m keras_latentquant.interpret` does, as functions (the flags live in `__main__`).

`interpret_model` encodes labelled images, fits the curve, compares its error with k-means, relates
position to the factors, decodes images along the curve and writes `curve_strip.png`,
`factors_along_curve.png` and `curve.json`; `format_table` is the summary the command prints.
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np

from keras_latentquant.interpret import figures
from keras_latentquant.interpret.curve import (
    decode_curve,
    factors_along_curve,
    fit_curve,
    latent_space,
    model_latents,
    quantization_errors,
)
from keras_latentquant.model_files import resolve_model_path
from keras_latentquant.model_files import write_json_atomic

__all__ = ["OUTPUT_FILES", "format_table", "interpret_model", "resolve_model_path"]

OUTPUT_FILES = ("curve_strip.png", "factors_along_curve.png", "curve.json")


def interpret_model(
    model: keras.Model,
    images: np.ndarray,
    factors: np.ndarray,
    output_dir: str,
    factor_names=None,
    num_points: int = 32,
    initial_points: int = 4,
    epochs: int = 40,
    batch_size: int = 128,
    learning_rate: float = 0.01,
    num_bins: int | None = None,
    num_images: int = 16,
    seed: int = 0,
    encode_batch_size: int = 256,
    metadata: dict | None = None,
    verbose: int = 1,
) -> dict:
    """Fits a curve to the model's latents of `images` and writes the figures and `curve.json`.

    Args:
        model: an autoencoder from `keras_latentquant.models` or an `InfoGAN`.
        images: float images `(N, H, W, C)` in [0, 1].
        factors: their factor labels `(N, K)`.
        output_dir: folder for `OUTPUT_FILES` (created).
        factor_names: K names (default `f0`...).
        num_points, initial_points, epochs, batch_size, learning_rate, seed: `fit_curve`'s.
        num_bins: position bins for `factors_along_curve`; None: one per segment (`num_points - 1`).
        num_images: images in the strip along the curve.
        encode_batch_size: encoding and decoding batch size.
        metadata: extra entries for `curve.json` (model path, dataset...).
        verbose: 1 shows progress bars (encoding and fitting).

    Returns:
        The summary written to `curve.json`.
    """
    seconds = {}
    start = time.time()
    latents = model_latents(model, images, batch_size=encode_batch_size, verbose=verbose)
    seconds["encode"] = time.time() - start

    curve = fit_curve(
        latents, num_points=num_points, initial_points=initial_points, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, verbose=verbose,
    )
    seconds["fit"] = curve.seconds

    start = time.time()
    errors = quantization_errors(latents, curve, kmeans_seed=seed)
    seconds["errors"] = time.time() - start

    start = time.time()
    positions = curve.positions(latents)
    num_bins = num_points - 1 if num_bins is None else num_bins
    profiles = factors_along_curve(
        positions, factors, num_bins=num_bins, position_range=(0.0, num_points - 1.0), factor_names=factor_names
    )
    seconds["factors"] = time.time() - start

    start = time.time()
    os.makedirs(output_dir, exist_ok=True)
    strip_path, factors_path, json_path = (os.path.join(output_dir, name) for name in OUTPUT_FILES)
    strip_positions = curve.point_positions(num_images)
    strip = decode_curve(model, curve, num_images, batch_size=encode_batch_size)
    figures.save_curve_strip(
        strip, strip_positions, strip_path,
        title=f"decoded along the SFVQ curve ({num_points} corner points): image at each curve position",
    )
    figures.save_factors_along_curve(
        profiles, factors_path,
        title=f"factors along the SFVQ curve ({len(latents)} samples, {num_bins} position bins)",
    )
    seconds["figures"] = time.time() - start

    summary = {
        **(metadata or {}),
        "num_samples": len(latents),
        "latent_space": latent_space(model),
        "latent_dim": int(latents.shape[1]),
        "num_points": int(curve.num_points),
        "initial_points": int(initial_points),
        "epochs": int(epochs),
        "num_steps": int(curve.num_steps),
        "growth_steps": [int(step) for step in curve.growth_steps],
        "learning_rate": float(learning_rate),
        "batch_size": int(batch_size),
        "seed": int(seed),
        "standardization": {"centre": curve.centre.tolist(), "scale": float(curve.scale)},
        "errors": errors,
        "nmi": {name: _json_float(value) for name, value in profiles.nmi.items()},
        "positions_histogram": {
            "bin_edges": profiles.bin_edges.tolist(), "counts": profiles.bin_counts.tolist()
        },
        "factors_along_curve": [profile.as_dict() for profile in profiles.factors],
        "strip_positions": strip_positions.tolist(),
        "corner_points": curve.corner_points().tolist(),
        "final_loss": curve.history["loss"][-1],
        "history": curve.history,
        "seconds": {key: round(value, 2) for key, value in seconds.items()},
        "files": {"strip": strip_path, "factors": factors_path},
    }
    write_json_atomic(json_path, summary)
    return summary


def format_table(summary: dict) -> str:
    """The command's printed summary: errors (absolute and as a share of the total variance), NMIs."""
    errors = summary["errors"]
    total = errors["total_variance"]
    k = summary["num_points"]
    rows = [
        (f"SFVQ curve ({k} corner points)", errors["sfvq"]),
        (f"VQ k-means ({k} codewords)", errors["vq_kmeans"]),
        ("SFVQ corner points as codebook", errors["sfvq_corner_points"]),
        ("total variance (1 codeword)", total),
    ]
    lines = [
        f"{summary['num_samples']} samples, {summary['latent_dim']}-D {summary['latent_space']}",
        f"{'mean squared error':<32} {'value':>9} {'/ total var':>11}",
        f"{'-' * 32} {'-' * 9} {'-' * 11}",
    ]
    lines += [f"{label:<32} {value:9.4f} {value / total:11.3f}" for label, value in rows]
    lines += ["", f"{'factor':<16} {'NMI(position; factor)':>21}", f"{'-' * 16} {'-' * 21}"]
    for name, value in summary["nmi"].items():
        lines.append(f"{name:<16} {'undefined' if value is None else format(value, '.3f'):>21}")
    seconds = summary["seconds"]
    lines += ["", "seconds: " + ", ".join(f"{key} {value:.1f}" for key, value in seconds.items())
              + f" ({summary['num_steps']} fit steps)"]
    return "\n".join(lines)


def _json_float(value):
    value = float(value)
    return value if np.isfinite(value) else None
