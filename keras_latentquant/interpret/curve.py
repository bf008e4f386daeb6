"""Interpreting a latent space with a space-filling curve (paper.md section 7).

A `SpaceFillingVectorQuantization` curve is fitted to a model's latents (`fit_curve`); each latent then
has a 1-D coordinate, its position along the curve (`CurveFit.positions`). Three questions follow:

- How well does the curve represent the latents? `quantization_errors` compares the mean squared
  distance to the curve with k-means (plain VQ) using the same number of codewords, and with the
  curve's corner points used as a plain codebook.
- What does the curve pass through? `decode_curve` decodes evenly spaced points along it into images.
- Which ground-truth factors change along it? `factors_along_curve` bins the positions and gives each
  factor's distribution per bin and the normalised mutual information
  `NMI = I(position bin; factor) / H(factor)` (plug-in, as InfoMEC's discrete NMI).

Scale: the curve is fitted to `(z - centre) / scale` with one scalar `scale` (the root mean variance of
the latents), an isotropic map, so nearest points and the order along the curve are those of the raw
latents and squared distances differ by the factor `scale^2`. Every array `CurveFit` takes or returns,
and every error here, is in the raw latent units.
"""

from __future__ import annotations

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from keras_latentquant.layers import SFVQGrowth, SpaceFillingVectorQuantization
from keras_latentquant.layers.validation import validate_int
from keras_latentquant.models.autoencoders import decoder_latents, encode, get_bottleneck

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

# Inputs projected onto the curve per chunk: the projection holds (chunk, segments) matrices.
_PROJECTION_CHUNK = 8192


@dataclasses.dataclass
class CurveFit:
    """A fitted curve and the map between latent units and the curve layer's units.

    Attributes:
        layer: the fitted `SpaceFillingVectorQuantization` layer; it works in standardized units
            `(z - centre) / scale`.
        centre: float64 `(dim,)` subtracted from the latents before the layer sees them.
        scale: float, the latents are divided by it after centring (1 when not standardized).
        history: `fit` history: per-epoch lists of `loss`, `sfvq_quantization_error` (standardized
            units), `sfvq_perplexity`, `sfvq_usage`.
        growth_steps: optimizer steps after which the curve doubled.
        num_steps: optimizer steps taken.
        seconds: wall time of the fit.
    """

    layer: SpaceFillingVectorQuantization
    centre: np.ndarray
    scale: float = 1.0
    history: dict = dataclasses.field(default_factory=dict)
    growth_steps: list = dataclasses.field(default_factory=list)
    num_steps: int = 0
    seconds: float = 0.0

    @property
    def num_points(self) -> int:
        """Corner points in use."""
        return self.layer.num_active_points

    @property
    def dim(self) -> int:
        """Width of the latents."""
        return self.layer.dim

    def to_curve_units(self, latents) -> np.ndarray:
        """`(latents - centre) / scale` as float32."""
        return ((np.asarray(latents, dtype=np.float64) - self.centre) / self.scale).astype("float32")

    def to_latent_units(self, points) -> np.ndarray:
        """`points * scale + centre` as float32 (inverse of `to_curve_units`)."""
        return (np.asarray(points, dtype=np.float64) * self.scale + self.centre).astype("float32")

    def project(self, latents) -> tuple[np.ndarray, np.ndarray]:
        """Nearest curve points (latent units, float32 `(N, dim)`) and positions (float32 `(N,)`)."""
        latents = _validate_latents(latents, "latents")
        _check_width(latents, self.dim)
        standardized = self.to_curve_units(latents)
        quantized, positions = [], []
        for start in range(0, len(standardized), _PROJECTION_CHUNK):
            chunk_quantized, segment, fraction = self.layer.project(standardized[start : start + _PROJECTION_CHUNK])
            quantized.append(keras.ops.convert_to_numpy(chunk_quantized))
            position = keras.ops.convert_to_numpy(segment).astype("float32") + keras.ops.convert_to_numpy(fraction)
            positions.append(position)
        return self.to_latent_units(np.concatenate(quantized)), np.concatenate(positions)

    def positions(self, latents) -> np.ndarray:
        """Position along the curve of each latent, float32 `(N,)` in `[0, num_points - 1]`."""
        return self.project(latents)[1]

    def corner_points(self) -> np.ndarray:
        """The corner points in use, in order, in latent units: float32 `(num_points, dim)`."""
        return self.to_latent_units(keras.ops.convert_to_numpy(self.layer.codebook)[: self.num_points])

    def points(self, num: int) -> np.ndarray:
        """`num` points evenly spaced in position from the curve's start to its end, latent units."""
        return self.to_latent_units(keras.ops.convert_to_numpy(self.layer.curve_points(num)))

    def point_positions(self, num: int) -> np.ndarray:
        """The positions `points(num)` are at: `linspace(0, num_points - 1, num)`."""
        return np.linspace(0.0, self.num_points - 1, num, dtype="float32")


def as_curve(curve) -> CurveFit:
    """A `CurveFit` as is; a bare built layer as a `CurveFit` in its own units (centre 0, scale 1)."""
    if isinstance(curve, CurveFit):
        return curve
    if isinstance(curve, SpaceFillingVectorQuantization):
        if not curve.built:
            raise ValueError("The SpaceFillingVectorQuantization layer is not built; fit it first (fit_curve).")
        return CurveFit(layer=curve, centre=np.zeros(curve.dim), scale=1.0)
    raise ValueError(
        f"curve must be a CurveFit (from fit_curve) or a SpaceFillingVectorQuantization layer; got "
        f"{type(curve).__name__}."
    )


# ---------------------------------------------------------------------------------------------- fitting
def fit_curve(
    latents,
    num_points: int = 32,
    initial_points: int = 4,
    epochs: int = 40,
    batch_size: int = 128,
    learning_rate: float = 0.01,
    standardize: bool = True,
    replacement_threshold: float | None = None,
    seed: int = 0,
    verbose: int = 0,
) -> CurveFit:
    """Fits a space-filling curve to latents with `model.fit` (NSVQ, growth by doubling).

    The model is `Input(dim) -> SpaceFillingVectorQuantization`, trained with Adam on the mean squared
    error between its output and its input. In NSVQ training the output is `z + ||q - z|| v / ||v||`,
    so that loss is the quantization error `||q - z||^2 / dim` and its gradient reaches the corner
    points. The curve starts with `initial_points` corner points (a straight line) and doubles
    `m = log2(num_points / initial_points)` times, after equal shares of the training steps
    (`SFVQGrowth`); rarely used corner points are replaced before each doubling and every half share
    (at least one epoch apart, so the usage counts every latent), except in the last epoch, which trains the final curve without replacement so that no corner
    point ends untrained.

    Args:
        latents: float array `(N, dim)`, finite, `N >= num_points`.
        num_points: final number of corner points, `initial_points * 2**m`.
        initial_points: corner points at the start (paper: 4).
        epochs: passes over the latents; at least `m + 1` (one per curve size).
        batch_size: latents per step. An epoch is `ceil(N / batch_size)` steps over the repeated,
            reshuffled latents (a batch may span two passes; every batch is full).
        learning_rate: Adam learning rate, in standardized units.
        standardize: fit `(z - mean) / s`, `s` the root mean variance of the columns (one number for
            all dimensions, so distances keep their meaning); False fits the raw latents.
        replacement_threshold: share of the inputs below which a corner point is replaced (the layer's
            argument; None: its default).
        seed: seeds the shuffling and the NSVQ noise: equal seeds give equal curves.
        verbose: 1 shows Keras progress bars.

    Returns:
        A `CurveFit` holding the layer, the standardization and the training history.

    Raises:
        ValueError: latents not a finite 2-D float array, fewer samples than `num_points`,
            `num_points` not `initial_points * 2**m`, too few epochs, or a bad option.
    """
    latents = _validate_latents(latents, "latents")
    num_points = validate_int("num_points", num_points, minimum=2)
    initial_points = validate_int("initial_points", initial_points, minimum=2)
    ratio = num_points // initial_points
    if initial_points > num_points or num_points % initial_points or ratio & (ratio - 1):
        raise ValueError(
            f"num_points must be initial_points times a power of two (the curve grows by doubling); got "
            f"num_points={num_points} and initial_points={initial_points}. E.g. initial_points=4 with "
            "num_points 4, 8, 16, 32 or 64."
        )
    num_samples, dim = latents.shape
    if num_samples < num_points:
        raise ValueError(
            f"latents has {num_samples} samples but the curve has num_points={num_points} corner points; "
            f"pass at least {num_points} samples (many more, for a meaningful fit) or fewer points."
        )
    num_doublings = ratio.bit_length() - 1
    epochs = validate_int("epochs", epochs, minimum=num_doublings + 1)
    batch_size = validate_int("batch_size", batch_size, minimum=1)
    learning_rate = float(learning_rate)
    if not math.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be a positive float; got learning_rate={learning_rate}.")

    start_time = time.time()
    centre = np.zeros(dim)
    scale = 1.0
    if standardize:
        centre = latents.mean(axis=0)
        # One scalar for every column: sqrt(mean_j var_j), the RMS distance to the mean per dimension.
        scale = float(np.sqrt(np.mean(latents.var(axis=0))))
        if scale == 0.0:
            raise ValueError("latents are all equal (zero variance): there is no curve to fit.")
    curve = CurveFit(
        layer=SpaceFillingVectorQuantization(
            num_points=num_points, initial_points=initial_points, replacement_threshold=replacement_threshold,
            seed=seed, name="sfvq",
        ),
        centre=centre,
        scale=scale,
    )
    standardized = curve.to_curve_units(latents)

    batch_size = min(batch_size, num_samples)
    steps_per_epoch = math.ceil(num_samples / batch_size)
    total_steps = epochs * steps_per_epoch
    # Growth after equal shares of all steps; the m-th share ends at or before the last epoch starts
    # (epochs >= m + 1). Replacement every half share, but at least one pass over the latents apart, so
    # the usage it reads counts every latent.
    stage_steps = total_steps / (num_doublings + 1)
    growth_steps = [round(stage_steps * g) for g in range(1, num_doublings + 1)]
    replace_every = max(steps_per_epoch, int(stage_steps) // 2)
    growth = SFVQGrowth(
        curve.layer, schedule=growth_steps or total_steps + 1, replace_unused=True, replace_every=replace_every
    )

    # A repeated, seeded shuffle: equal seeds give the same batches; batches keep one shape.
    dataset = (
        tf.data.Dataset.from_tensor_slices(standardized)
        .shuffle(num_samples, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .map(lambda batch: (batch, batch))
        .prefetch(tf.data.AUTOTUNE)
    )
    # The last epoch trains the final curve without replacement, so no corner point ends untrained.
    last_epoch = epochs - 1

    def stop_replacing(epoch, logs=None):
        if epoch == last_epoch:
            growth.replace_every, growth.replace_unused = None, False

    inputs = keras.Input((dim,), name="latents")
    model = keras.Model(inputs, curve.layer(inputs), name="sfvq_fit")
    model.compile(keras.optimizers.Adam(learning_rate), loss="mse")
    fitted = model.fit(
        dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=verbose,
        callbacks=[growth, keras.callbacks.LambdaCallback(on_epoch_begin=stop_replacing)],
    )
    history = {key: [float(value) for value in values] for key, values in fitted.history.items()}
    curve.history = history
    curve.growth_steps = growth_steps
    curve.num_steps = total_steps
    curve.seconds = time.time() - start_time
    return curve


# ---------------------------------------------------------------------------------------------- errors
def quantization_errors(latents, curve, kmeans_seed: int = 0, kmeans_init: int = 3) -> dict:
    """Mean squared distance of the latents to the curve, to k-means codewords and to the corner points.

    With `k` corner points in use, all in latent units:

    - `sfvq`: `mean_n min_{q on the curve} ||z_n - q||^2`, the distance to the nearest curve point;
    - `vq_kmeans`: plain vector quantization with the same `k` codewords, fitted to these latents by
      scikit-learn `KMeans(n_clusters=k)`: `mean_n min_i ||z_n - m_i||^2`;
    - `sfvq_corner_points`: the corner points used as a plain codebook, `mean_n min_i ||z_n - c_i||^2`
      (at least `sfvq`, since the corner points lie on the curve);
    - `total_variance`: `mean_n ||z_n - mean||^2`, the error of a single codeword, for scale.

    A curve also represents the points between its codewords, so on latents that lie along a curve
    `sfvq` is far below `vq_kmeans`; on a blob filling many dimensions the curve's corner points are
    placed to serve the segments, and k-means may win.

    Args:
        latents: float array `(N, dim)`, `N >= k`.
        curve: a `CurveFit`, or a fitted `SpaceFillingVectorQuantization` layer (latents in its units).
        kmeans_seed: k-means `random_state`.
        kmeans_init: k-means `n_init`.

    Returns:
        Dict of floats `sfvq`, `vq_kmeans`, `sfvq_corner_points`, `total_variance`, and the ints
        `num_points`, `num_samples`.
    """
    from sklearn.cluster import KMeans

    curve = as_curve(curve)
    latents = _validate_latents(latents, "latents")
    _check_width(latents, curve.dim)
    num_points = curve.num_points
    if len(latents) < num_points:
        raise ValueError(
            f"latents has {len(latents)} samples, fewer than the {num_points} k-means codewords to compare "
            "with; pass more samples."
        )
    values = latents.astype(np.float64)
    quantized, _ = curve.project(latents)
    sfvq = np.mean(np.sum((values - quantized) ** 2, axis=1))
    corner = _nearest_squared_distance(values, curve.corner_points().astype(np.float64))
    kmeans = KMeans(n_clusters=num_points, n_init=kmeans_init, random_state=kmeans_seed).fit(values)
    vq = _nearest_squared_distance(values, kmeans.cluster_centers_)
    return {
        "sfvq": float(sfvq),
        "vq_kmeans": float(vq),
        "sfvq_corner_points": float(corner),
        "total_variance": float(np.mean(np.sum((values - values.mean(axis=0)) ** 2, axis=1))),
        "num_points": int(num_points),
        "num_samples": len(latents),
    }


def _nearest_squared_distance(values, codewords):
    """`mean_n min_i ||x_n - c_i||^2`, in chunks."""
    nearest = []
    for start in range(0, len(values), _PROJECTION_CHUNK):
        chunk = values[start : start + _PROJECTION_CHUNK]
        squared = np.sum((chunk[:, None, :] - codewords[None, :, :]) ** 2, axis=-1)
        nearest.append(squared.min(axis=1))
    return float(np.mean(np.concatenate(nearest)))


# ---------------------------------------------------------------------------------------------- factors
@dataclasses.dataclass
class FactorProfile:
    """One ground-truth factor along the curve.

    Attributes:
        name: the factor's name.
        values: its distinct values, sorted `(V,)`.
        counts: int64 `(num_bins, V)`: samples in each position bin with each value.
        mean: float64 `(num_bins,)`: mean factor value per bin (NaN for an empty bin).
        nmi: `I(bin; factor) / H(factor)` in [0, 1] (plug-in, nats); NaN for a constant factor.
    """

    name: str
    values: np.ndarray
    counts: np.ndarray
    mean: np.ndarray
    nmi: float

    def as_dict(self) -> dict:
        """JSON-ready (lists; NaN as None)."""
        return {
            "name": self.name,
            "nmi": _json_float(self.nmi),
            "values": self.values.tolist(),
            "counts": self.counts.tolist(),
            "mean": [_json_float(value) for value in self.mean],
        }


@dataclasses.dataclass
class CurveFactors:
    """Factors against binned curve position.

    Attributes:
        bin_edges: float64 `(num_bins + 1,)`, equal-width bins of position.
        bin_counts: int64 `(num_bins,)` samples per bin (the positions histogram).
        factors: one `FactorProfile` per factor column.
    """

    bin_edges: np.ndarray
    bin_counts: np.ndarray
    factors: list

    @property
    def nmi(self) -> dict:
        """`{factor name: NMI}`."""
        return {profile.name: profile.nmi for profile in self.factors}

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {
            "bin_edges": self.bin_edges.tolist(),
            "bin_counts": self.bin_counts.tolist(),
            "factors": [profile.as_dict() for profile in self.factors],
        }


def factors_along_curve(
    positions, factors, num_bins: int = 32, position_range=None, factor_names=None
) -> CurveFactors:
    """How each ground-truth factor is distributed along the curve, and how much position tells of it.

    Positions are cut into `num_bins` equal-width bins `b` over `position_range`. For each factor `f`:
    the counts of (bin, value) pairs, the mean value per bin, and
    `NMI = I(b; f) / H(f)`, with the plug-in `I(b; f) = sum p(b, f) log(p(b, f) / (p(b) p(f)))` and
    `H(f) = -sum p(f) log p(f)` from the counts (InfoMEC's discrete NMI, `metrics.infomec.nmi_matrix`
    with the bins as the latent). A factor that is a function of the bin has NMI 1; one independent
    of position about 0 (the plug-in estimate is biased upwards by about
    `(num_bins - 1)(V - 1) / (2 N H(f))`).

    Args:
        positions: float array `(N,)` (or `(N, 1)`) of curve positions, finite.
        factors: array `(N, K)` (or `(N,)` for one factor) of factor labels, finite.
        num_bins: number of position bins.
        position_range: `(low, high)` of the bins; values outside go to the first / last bin. Default
            the positions' minimum and maximum; for a curve pass `(0, num_points - 1)`.
        factor_names: K names (default `f0`, `f1`...).

    Returns:
        A `CurveFactors`.
    """
    positions = np.asarray(positions)
    if positions.ndim == 2 and positions.shape[1] == 1:
        positions = positions[:, 0]
    if positions.ndim != 1 or not np.issubdtype(positions.dtype, np.number):
        raise ValueError(f"positions must be a numeric array of shape (N,); got shape {positions.shape}.")
    positions = positions.astype(np.float64)
    if not np.all(np.isfinite(positions)):
        raise ValueError("positions must be finite; got NaN or inf values.")
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    if factors.ndim != 2 or not (np.issubdtype(factors.dtype, np.number) or factors.dtype == np.bool_):
        raise ValueError(f"factors must be a numeric array of shape (N, K); got shape {factors.shape}.")
    if len(factors) != len(positions):
        raise ValueError(
            f"positions and factors must have the same number of samples; got {len(positions)} and {len(factors)}."
        )
    if len(positions) == 0:
        raise ValueError("positions is empty; pass at least one sample.")
    if np.issubdtype(factors.dtype, np.floating) and not np.all(np.isfinite(factors)):
        raise ValueError("factors must be finite; got NaN or inf values.")
    num_bins = validate_int("num_bins", num_bins, minimum=1)
    if factor_names is None:
        factor_names = [f"f{i}" for i in range(factors.shape[1])]
    factor_names = list(factor_names)
    if len(factor_names) != factors.shape[1]:
        raise ValueError(f"{len(factor_names)} factor_names for {factors.shape[1]} factor columns.")
    if position_range is None:
        low, high = float(positions.min()), float(positions.max())
        if high == low:
            high = low + 1.0
    else:
        low, high = (float(value) for value in position_range)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"position_range must be (low, high) with low < high; got {position_range!r}.")

    bin_edges = np.linspace(low, high, num_bins + 1)
    # Bin b holds [edge_b, edge_{b+1}); the last bin also holds `high` and anything beyond.
    bins = np.clip(np.floor((positions - low) / (high - low) * num_bins).astype(np.int64), 0, num_bins - 1)
    bin_counts = np.bincount(bins, minlength=num_bins)
    profiles = []
    for column, name in enumerate(factor_names):
        values, codes = np.unique(factors[:, column], return_inverse=True)
        counts = np.zeros((num_bins, len(values)), dtype=np.int64)
        np.add.at(counts, (bins, codes), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = counts @ values.astype(np.float64) / bin_counts
        profiles.append(
            FactorProfile(name=str(name), values=values, counts=counts, mean=mean, nmi=_plug_in_nmi(counts))
        )
    return CurveFactors(bin_edges=bin_edges, bin_counts=bin_counts, factors=profiles)


def _plug_in_nmi(counts) -> float:
    """`I(b; f) / H(f)` from a (bins x values) contingency table; NaN when `H(f) = 0`."""
    joint = counts / counts.sum()
    bin_marginal = joint.sum(axis=1, keepdims=True)
    value_marginal = joint.sum(axis=0, keepdims=True)
    occupied = joint > 0
    # I = sum_{b, f} p(b, f) log(p(b, f) / (p(b) p(f))), over occupied cells.
    information = np.sum(joint[occupied] * np.log(joint[occupied] / (bin_marginal * value_marginal)[occupied]))
    entropy = -np.sum(value_marginal[value_marginal > 0] * np.log(value_marginal[value_marginal > 0]))
    if entropy <= 0:
        return float("nan")
    return float(np.clip(information / entropy, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------- models
def latent_space(model: keras.Model) -> str:
    """Which latents of the model a curve is fitted to (and decoded from), in words.

    - InfoGAN: `"encoder estimate"`, the critic's latent estimate (`encode_images(...)["continuous"]`),
      quantized by its `LatentQuantization` (QLInfoGAN) before the generator when decoding.
    - Autoencoder with no bottleneck or one that keeps the width (QLAE's quantizer, VQ, FSQ, ...):
      `"encoder outputs"`, the continuous values before the bottleneck; decoding passes curve points
      through the bottleneck at inference (QLAE: to the nearest codebook values), then the decoder.
    - Autoencoder whose bottleneck changes the width (a Gaussian posterior: means and log-variances
      in, latents out): `"decoder inputs"`, the bottleneck's inference output (posterior means),
      decoded directly.
    """
    if hasattr(model, "encode_images"):
        return "encoder estimate"
    _require_autoencoder(model)
    bottleneck = get_bottleneck(model)
    if bottleneck is None:
        return "encoder outputs"
    width = model.get_layer("encoder").outputs[0].shape[-1]
    if tuple(bottleneck.compute_output_shape((None, width)))[-1] == width:
        return "encoder outputs"
    return "decoder inputs"


def model_latents(model: keras.Model, images, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
    """The latents of `images` that a curve is fitted to (see `latent_space`), float32 `(N, d)`.

    Args:
        model: an autoencoder from `keras_latentquant.models` or an `InfoGAN`.
        images: float images `(N, H, W, C)` in [0, 1].
        batch_size: encoding batch size.
        verbose: 1 shows a Keras progress bar.
    """
    space = latent_space(model)
    if space == "encoder estimate":
        latents = model.encode_images(images, batch_size=batch_size, verbose=verbose)["continuous"]
    elif space == "encoder outputs":
        latents = encode(model, images, batch_size=batch_size, verbose=verbose)["encoder_outputs"]
    else:
        latents = decoder_latents(model, images, batch_size=batch_size)
    return np.asarray(latents, dtype="float32")


def decode_curve(model: keras.Model, curve, num: int = 16, batch_size: int = 256) -> np.ndarray:
    """Images of `num` points evenly spaced in position along the curve, start to end.

    The points (`CurveFit.points(num)`, at positions `linspace(0, num_points - 1, num)`) are latents in
    the space `latent_space(model)` names. InfoGAN: `model.quantizer(points, training=False)` when it
    has a quantizer, then `model.generator`. Autoencoder: `bottleneck(points, training=False)` when the
    curve lives before the bottleneck (QLAE: `LatentQuantization` snaps to codebook values), then the
    `decoder` and a sigmoid of its pixel logits.

    Args:
        model: the model whose latents the curve was fitted to.
        curve: a `CurveFit` or a fitted `SpaceFillingVectorQuantization` layer (in latent units).
        num: number of images, at least 2.
        batch_size: decoding batch size.

    Returns:
        float32 images `(num, H, W, C)` in [0, 1].
    """
    curve = as_curve(curve)
    num = validate_int("num", num, minimum=2)
    space = latent_space(model)
    points = curve.points(num)
    if space == "encoder estimate":
        width = model.latent_dim
    elif space == "encoder outputs":
        width = model.get_layer("encoder").outputs[0].shape[-1]
    else:
        width = model.get_layer("decoder").inputs[0].shape[-1]
    if points.shape[-1] != width:
        raise ValueError(
            f"The curve has points of width {points.shape[-1]} but the model's {space} have width {width}; "
            "decode with the model whose latents the curve was fitted to."
        )
    if space == "encoder estimate":
        if model.quantizer is not None:
            points = keras.ops.convert_to_numpy(model.quantizer(points, training=False))
        images = model.generator.predict(points, batch_size=batch_size, verbose=0)
    else:
        bottleneck = get_bottleneck(model)
        if space == "encoder outputs" and bottleneck is not None:
            points = keras.ops.convert_to_numpy(bottleneck(points, training=False))
        logits = model.get_layer("decoder").predict(points, batch_size=batch_size, verbose=0)
        images = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    return np.asarray(images, dtype="float32")


def _require_autoencoder(model):
    names = {layer.name for layer in getattr(model, "layers", [])}
    if not {"encoder", "decoder"} <= names:
        raise ValueError(
            f"Model {getattr(model, 'name', model)!r} is neither an InfoGAN (no encode_images) nor an "
            "autoencoder with sub-models named 'encoder' and 'decoder' (keras_latentquant.models)."
        )


# ---------------------------------------------------------------------------------------------- helpers
def _validate_latents(latents, name) -> np.ndarray:
    array = np.asarray(latents)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_samples, dim); got shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers; got dtype {array.dtype}.")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} must have at least one sample and one column; got shape {array.shape}.")
    finite = np.isfinite(array)
    if not finite.all():
        row, column = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} must be finite; got {array[row, column]} at row {row}, column {column} "
            f"({int((~finite).any(axis=1).sum())} rows with NaN or inf)."
        )
    return array


def _check_width(latents, dim):
    if latents.shape[1] != dim:
        raise ValueError(f"latents have width {latents.shape[1]} but the curve was fitted to width {dim}.")


def _json_float(value):
    value = float(value)
    return value if math.isfinite(value) else None
