"""InfoMEC: information-based modularity, explicitness and compactness (Hsu et al., NeurIPS 2023).

Given sources ``s`` (N x K integer factor labels) and latents ``z`` (N x d, continuous or discrete):

    NMI[i, j] = I(s_i; z_j) / H(s_i)                                   (K x d, >= 0)
    InfoM = rescale_{[1/K, 1]}(mean_{active j} max_i NMI[i, j] / sum_i NMI[i, j])
    InfoC = rescale_{[1/d_active, 1]}(mean_i max_{active j} NMI[i, j] / sum_{active j} NMI[i, j])
    InfoE = mean_i (H_null_i - H_pred_i) / H_null_i

where ``rescale_{[a, 1]}(x) = (x - a) / (1 - a)``. By default every value is the one the paper authors'
reference code computes (github kylehkhsu/latent_quantization, `disentangle/metrics/infomec.py`; this
module's tests transcribe its formulas). Discrete latents use the plug-in mutual information of label-encoded
values; continuous latents are standardised and use Ross's (2014) k-nearest-neighbour estimator for a
continuous and a discrete variable (k = 10; scikit-learn's `mutual_info_classif`, computed here by sorting
instead of k-d trees, `knn_mutual_information.py`, with equal values). ``H(s_i)`` is the plug-in entropy;
all logarithms are natural. A latent is active when its range is > 0 (discrete) or > max range / 20
(continuous); InfoM and InfoC use the active latents only. ``H_pred_i`` is the log loss of an unregularised
multinomial logistic regression from all latents (standardised, or one-hot per latent when discrete) to
``s_i``, fitted with balanced class weights and scored with the plain log loss; ``H_null_i = log C_i``
(`compute_infoe` has the exact rule and the "balanced" variant). The fits follow scikit-learn's L-BFGS-B
path on a faster objective (`multinomial_logistic.py`), one source per core.

Measured beside the reference on 10,000 samples x 12 latents x 6 sources (2 cores; `benchmarks/RESULTS.md`):
values within 5e-6 (mostly 1e-8 or less), time 12.5-18.5x smaller on three cases and 10.4-10.5x (CPU time
12x) on discrete latents of 10 values, where the reference is cheapest and our time is its own L-BFGS path
(which its values depend on).

Ties: continuous latents with repeated values (e.g. quantized codes passed as continuous) are ordered by
scikit-learn's tie-breaking jitter, which the reference leaves unseeded, so the reference itself varies from
run to run there (measured: InfoM over 8 runs within 0.007 on 3,000 samples with one integer-valued latent);
ours seeds it (`random_state`). Pass such latents as discrete, or compare with a tolerance.

Conventions for degenerate cases, where the reference returns NaN (0/0) and ours a number:

- An active latent that carries no information about any source (``sum_i NMI[i, j] = 0``) gets the ratio
  ``1/K``, i.e. it contributes 0 to InfoM after rescaling; likewise a source that no active latent informs
  contributes 0 to InfoC.
- With a single source (K = 1) InfoM is 1; with a single active latent InfoC is 1 (nothing to compare with).
- With no active latent at all, InfoM = InfoE = InfoC = 0 and a ``RuntimeWarning`` is issued.
- NMI values within 1e-12 of zero are set to exactly zero, so that floating-point rounding in the plug-in
  estimate of an exactly independent pair does not masquerade as information (the reference divides such
  rounding by itself).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from keras_latentquant.metrics.knn_mutual_information import jitter_like_sklearn, knn_mutual_information
from keras_latentquant.metrics.multinomial_logistic import OneHotCodes, fit_balanced_multinomial

__all__ = [
    "InfoMECResult",
    "active_latents",
    "compute_infoc",
    "compute_infoe",
    "compute_infom",
    "compute_infomec",
    "nmi_matrix",
]

# A latent is active when its range exceeds this fraction of the largest latent range (continuous only).
ACTIVE_RANGE_FRACTION = 1.0 / 20.0
# InfoE's variants (`infoe=`): "reference" (default) computes it as the paper authors' code does, "balanced"
# is this library's earlier variant (see `compute_infoe`).
INFOE_VARIANTS = ("reference", "balanced")
# Iteration cap of InfoE's L-BFGS fits per variant: the reference's 100; 1000 for "balanced".
LOGISTIC_MAX_ITER = {"reference": 100, "balanced": 1000}
_T = TypeVar("_T")
# NMI entries below this are floating-point rounding of an exact zero.
_NMI_ZERO_TOLERANCE = 1e-12
# Use a dense histogram (np.bincount) while it has at most this many cells per sample-latent pair;
# beyond that (latents with very many distinct values) count only the occupied cells with np.unique.
_DENSE_HISTOGRAM_CELLS_PER_ENTRY = 8


@dataclasses.dataclass(frozen=True, eq=False)
class InfoMECResult:
    """The InfoMEC scores of a representation.

    Attributes:
        infom: modularity in [0, 1].
        infoe: explicitness in [0, 1] (mean of `infoe_per_source`).
        infoc: compactness in [0, 1].
        nmi: (K, d) normalised mutual information between every source and every latent, inactive latents
            included.
        active: (d,) boolean mask of the active latents (the ones InfoM, InfoE and InfoC use).
        infoe_per_source: (K,) explicitness of each source.
    """

    infom: float
    infoe: float
    infoc: float
    nmi: npt.NDArray[np.float64]
    active: npt.NDArray[np.bool_]
    infoe_per_source: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        # Frozen means frozen: the arrays are read-only views too.
        for name in ("nmi", "active", "infoe_per_source"):
            array = np.array(getattr(self, name), copy=True)
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def as_dict(self) -> dict[str, float]:
        """Returns the three scores as plain floats: ``{"infom": ..., "infoe": ..., "infoc": ...}``."""
        return {"infom": float(self.infom), "infoe": float(self.infoe), "infoc": float(self.infoc)}


# ----------------------------------------------------------------------------------------------------------
# Validation at the boundary.
# ----------------------------------------------------------------------------------------------------------


def _validate_latents(latents: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(latents)
    if array.ndim != 2:
        raise ValueError(
            f"`latents` must be a 2-D array of shape (num_samples, num_latents); got shape {array.shape}."
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"`latents` must be numeric; got dtype {array.dtype}.")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"`latents` must be real; got dtype {array.dtype}.")
    if array.shape[0] < 2:
        raise ValueError(f"`latents` needs at least 2 samples; got {array.shape[0]}.")
    if array.shape[1] < 1:
        raise ValueError("`latents` needs at least 1 latent column; got 0.")
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.all():
            bad_column = int(np.flatnonzero(~finite.all(axis=0))[0])
            raise ValueError(
                f"`latents` must be finite; latent column {bad_column} contains NaN or inf values."
            )
    return array


def _validate_sources(sources: npt.ArrayLike) -> npt.NDArray[np.int64]:
    array = np.asarray(sources)
    if array.ndim != 2:
        raise ValueError(
            f"`sources` must be a 2-D array of shape (num_samples, num_sources); got shape {array.shape}."
        )
    if array.shape[0] < 2:
        raise ValueError(f"`sources` needs at least 2 samples; got {array.shape[0]}.")
    if array.shape[1] < 1:
        raise ValueError("`sources` needs at least 1 source column; got 0.")
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.floating):
        # Integer labels stored as floats are accepted; anything else is not a factor label.
        integral = np.isfinite(array) & (array == np.round(array))
        if integral.all():
            return array.astype(np.int64)
        bad_column = int(np.flatnonzero(~integral.all(axis=0))[0])
        example = float(array[~integral[:, bad_column], bad_column][0])
        raise ValueError(
            "`sources` must hold integer factor labels; source column "
            f"{bad_column} contains non-integer values (e.g. {example})."
        )
    raise ValueError(f"`sources` must hold integer factor labels; got dtype {array.dtype}.")


def _validate_pair(
    sources: npt.ArrayLike, latents: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], np.ndarray]:
    source_array = _validate_sources(sources)
    latent_array = _validate_latents(latents)
    if source_array.shape[0] != latent_array.shape[0]:
        raise ValueError(
            "`sources` and `latents` must have the same number of samples; got "
            f"{source_array.shape[0]} and {latent_array.shape[0]}."
        )
    return source_array, latent_array


def _fit_per_source(
    fit: Callable[[int], _T],
    num_sources: int,
    threads: bool = True,
    costs: npt.ArrayLike | None = None,
) -> list[_T]:
    """`[fit(0), ..., fit(num_sources - 1)]`, the sources' independent fits on up to one thread per core.

    With `costs` (an estimate per source, e.g. its number of classes) the most expensive fits start first,
    so that a large last fit does not run alone on one core while the others idle.

    scikit-learn's losses, tree builders and BLAS release the GIL, and the results are bit-identical to
    fitting one source after another. Inside, BLAS and OpenMP use one thread each: on 2 shared cores,
    multithreaded fits of these small problems spend most of their time waiting at barriers (a 2-second
    tree fit took 90 s under load). `threads=False` keeps every fit on the calling thread (for estimators
    that run OpenMP themselves: new threads would not inherit the one-thread cap). `ConvergenceWarning`s are
    silenced here; callers report non-convergence once per call.
    """
    workers = max(1, min(num_sources, os.cpu_count() or 1)) if threads else 1
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if workers == 1:
            return [fit(i) for i in range(num_sources)]
        order = range(num_sources) if costs is None else np.argsort(-np.asarray(costs), kind="stable").tolist()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {i: pool.submit(fit, i) for i in order}
            return [futures[i].result() for i in range(num_sources)]


def _infer_discrete(latents: np.ndarray) -> bool:
    return bool(np.issubdtype(latents.dtype, np.integer) or latents.dtype == np.bool_)


# ----------------------------------------------------------------------------------------------------------
# Plug-in entropies of label-encoded columns.
# ----------------------------------------------------------------------------------------------------------


def _label_encode_columns(
    values: np.ndarray,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Replaces each column's values by their rank among the column's distinct values.

    Args:
        values: (N, d) array.

    Returns:
        codes: (N, d) int64 array, column j holding codes in [0, num_values[j]).
        num_values: (d,) number of distinct values of each column.
    """
    if values.dtype == np.bool_:
        values = values.astype(np.int8)
    if np.issubdtype(values.dtype, np.integer) and values.size:
        dense = _label_encode_small_integers(values)
        if dense is not None:
            return dense
    # Same result as np.unique(column, return_inverse=True) per column, for all columns at once:
    # sort each column, mark where the sorted value changes, and the running count of changes is the code.
    order = np.argsort(values, axis=0, kind="stable")
    sorted_values = np.take_along_axis(values, order, axis=0)
    changes = np.zeros(values.shape, dtype=np.int64)
    changes[1:] = sorted_values[1:] != sorted_values[:-1]
    sorted_codes = np.cumsum(changes, axis=0)
    codes = np.empty(values.shape, dtype=np.int64)
    np.put_along_axis(codes, order, sorted_codes, axis=0)
    return codes, sorted_codes[-1] + 1


def _label_encode_small_integers(
    values: np.ndarray,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """`_label_encode_columns` of integer columns without sorting, when their ranges are small (their cells
    together no more than the entries, so the table is never larger than the codes): mark the values present
    in each column's range, and a value's code is the number of present values below it. None for wider
    ranges. (10,000 x 12 latents of 10 values: 0.8 ms, against 5.6 ms by sorting.)"""
    low = values.min(axis=0)
    # Ranges in Python integers: max - min can overflow the dtype.
    spans = [int(top) - int(bottom) + 1 for top, bottom in zip(values.max(axis=0).tolist(), low.tolist())]
    if sum(spans) > values.size:
        return None
    # Column j's values v occupy cells offsets[j] + (v - low[j]) of one shared table.
    offsets = np.concatenate([[0], np.cumsum(spans)])
    # In int64 (wrapping for uint64 beyond its range, which keeps differences under 2**63 exact).
    cells = values.astype(np.int64) - low.astype(np.int64) + offsets[None, :-1]
    present = np.zeros(int(offsets[-1]), dtype=np.int64)
    present[cells.ravel()] = 1
    # present_before[k]: how many present cells lie before cell k.
    present_before = np.concatenate([[0], np.cumsum(present)])
    codes = present_before[cells] - present_before[offsets[None, :-1]]
    return codes, np.diff(present_before[offsets])


def _column_entropies(
    codes: npt.NDArray[np.int64],
    num_values: npt.NDArray[np.int64],
    max_dense_cells: int | None = None,
) -> npt.NDArray[np.float64]:
    """Plug-in entropy (nats) of every column of label codes, all columns in one histogram.

    Args:
        codes: (N, d) codes, column j in [0, num_values[j]).
        num_values: (d,) number of possible codes of each column.
        max_dense_cells: largest histogram counted densely with np.bincount; larger ones count only the
            occupied cells with np.unique. Defaults to a few cells per entry of `codes`.

    Returns:
        (d,) entropies H_j = -sum_c p_jc log p_jc with p_jc = count_jc / N.
    """
    num_samples, num_columns = codes.shape
    # Column j owns histogram cells [offsets[j], offsets[j] + num_values[j]).
    offsets = np.concatenate([[0], np.cumsum(num_values)[:-1]]).astype(np.int64)
    total_cells = int(np.sum(num_values))
    flat = (codes + offsets[None, :]).ravel()
    if max_dense_cells is None:
        max_dense_cells = _DENSE_HISTOGRAM_CELLS_PER_ENTRY * flat.size
    if total_cells <= max_dense_cells:
        counts = np.bincount(flat, minlength=total_cells)
        cells = np.flatnonzero(counts)
        counts = counts[cells]
    else:
        cells, counts = np.unique(flat, return_counts=True)
    column_of_cell = np.searchsorted(offsets, cells, side="right") - 1
    probabilities = counts / num_samples
    # H_j = -sum_{cells c of column j} p_c log p_c
    return np.bincount(
        column_of_cell, weights=-probabilities * np.log(probabilities), minlength=num_columns
    )


def _discrete_mutual_information(
    source_codes: npt.NDArray[np.int64],
    num_source_values: int,
    latent_codes: npt.NDArray[np.int64],
    num_latent_values: npt.NDArray[np.int64],
    latent_entropies: npt.NDArray[np.float64],
    source_entropy: float,
) -> npt.NDArray[np.float64]:
    """Plug-in I(s; z_j) for one source against every latent column, in nats."""
    # Joint label of (s, z_j): s * |Z_j| + z_j, with |S| * |Z_j| possible values.
    joint_codes = source_codes[:, None] * num_latent_values[None, :] + latent_codes
    joint_entropies = _column_entropies(joint_codes, num_source_values * num_latent_values)
    # I(s; z_j) = H(s) + H(z_j) - H(s, z_j)
    return source_entropy + latent_entropies - joint_entropies


def _standardise(latents: np.ndarray) -> npt.NDArray[np.float64]:
    """Zero mean, unit standard deviation per column; constant columns become zeros."""
    values = latents.astype(np.float64)
    centred = values - values.mean(axis=0)
    std = centred.std(axis=0)
    safe_std = np.where(std > 0, std, 1.0)
    return np.where(std > 0, centred / safe_std, 0.0)


# ----------------------------------------------------------------------------------------------------------
# Public API.
# ----------------------------------------------------------------------------------------------------------


def nmi_matrix(
    sources: npt.ArrayLike,
    latents: npt.ArrayLike,
    discrete_latents: bool,
    n_neighbors: int = 10,
    random_state: int | None = 0,
) -> npt.NDArray[np.float64]:
    """Normalised mutual information between every source and every latent.

    ``NMI[i, j] = I(s_i; z_j) / H(s_i)`` (not clipped at 1: the k-NN estimate can exceed H(s_i) slightly, and
    the reference keeps it). Discrete latents: plug-in mutual information
    of the label-encoded values. Continuous latents: each latent is standardised, then the k-nearest-
    neighbour estimator of the mutual information between a continuous and a discrete variable (Ross 2014)
    gives the values ``sklearn.feature_selection.mutual_info_classif`` gives, computed by sorting
    (`knn_mutual_information`).

    Args:
        sources: (N, K) integer factor labels (any integer values).
        latents: (N, d) latent codes.
        discrete_latents: whether the latents take discrete values (plug-in estimate) or continuous ones
            (k-NN estimate).
        n_neighbors: k of the k-NN estimator (continuous latents only).
        random_state: seed of the tiny jitter the k-NN estimator adds to break ties.

    Returns:
        (K, d) float64 array of NMI values in [0, 1].

    Raises:
        ValueError: on malformed inputs, or when a source is constant (H(s_i) = 0, NMI undefined).
    """
    source_array, latent_array = _validate_pair(sources, latents)
    if n_neighbors < 1:
        raise ValueError(f"`n_neighbors` must be a positive integer; got {n_neighbors}.")
    return _nmi_matrix(source_array, latent_array, bool(discrete_latents), n_neighbors, random_state)


def _nmi_matrix(
    sources: npt.NDArray[np.int64],
    latents: np.ndarray,
    discrete_latents: bool,
    n_neighbors: int,
    random_state: int | None,
) -> npt.NDArray[np.float64]:
    num_sources = sources.shape[1]
    source_codes, num_source_values = _label_encode_columns(sources)
    source_entropies = _column_entropies(source_codes, num_source_values)
    constant = np.flatnonzero(num_source_values < 2)
    if constant.size:
        raise ValueError(
            f"Source column {int(constant[0])} is constant (entropy 0), so its normalised mutual "
            "information is undefined; drop constant factors before computing InfoMEC."
        )

    mutual_information = np.empty((num_sources, latents.shape[1]), dtype=np.float64)
    if discrete_latents:
        latent_codes, num_latent_values = _label_encode_columns(latents)
        latent_entropies = _column_entropies(latent_codes, num_latent_values)
        for i in range(num_sources):
            mutual_information[i] = _discrete_mutual_information(
                source_codes[:, i],
                int(num_source_values[i]),
                latent_codes,
                num_latent_values,
                latent_entropies,
                float(source_entropies[i]),
            )
    else:
        # The latents as mutual_info_classif sees them (rescaled, tie-breaking jitter), then Ross's (2014)
        # k-NN estimate of I(s_i; z_j) for all d latents of a source at once.
        jittered = jitter_like_sklearn(_standardise(latents), random_state)
        mutual_information[:] = knn_mutual_information(jittered, source_codes, n_neighbors)

    # NMI[i, j] = I(s_i; z_j) / H(s_i); the plug-in estimate can round to just below 0.
    nmi = np.maximum(mutual_information / source_entropies[:, None], 0.0)
    nmi[nmi < _NMI_ZERO_TOLERANCE] = 0.0
    return nmi


def active_latents(latents: npt.ArrayLike, discrete_latents: bool) -> npt.NDArray[np.bool_]:
    """Which latents are active (vary enough to count).

    Discrete latents: range (max - min) > 0. Continuous latents: range > (max range over latents) / 20.

    Args:
        latents: (N, d) latent codes.
        discrete_latents: whether the latents are discrete.

    Returns:
        (d,) boolean mask, True for active latents.
    """
    latent_array = _validate_latents(latents)
    return _active_latents(latent_array, bool(discrete_latents))


def _active_latents(latents: np.ndarray, discrete_latents: bool) -> npt.NDArray[np.bool_]:
    values = latents.astype(np.float64)
    ranges = values.max(axis=0) - values.min(axis=0)
    if discrete_latents:
        return ranges > 0
    return ranges > ranges.max() * ACTIVE_RANGE_FRACTION


def compute_infom(nmi: npt.ArrayLike) -> float:
    """InfoM (modularity) from the NMI matrix of the active latents.

    ``InfoM = rescale_{[1/K, 1]}(mean_j max_i NMI[i, j] / sum_i NMI[i, j])``; a latent with
    ``sum_i NMI[i, j] = 0`` gets the ratio 1/K (contributes 0). InfoM = 1 when K = 1.

    Args:
        nmi: (K, d_active) NMI matrix restricted to the active latents.

    Returns:
        InfoM in [0, 1].
    """
    matrix = _validate_nmi(nmi)
    num_sources = matrix.shape[0]
    if num_sources == 1:
        return 1.0
    totals = matrix.sum(axis=0)
    # ratio_j = max_i NMI[i, j] / sum_i NMI[i, j], and 1/K when latent j is uninformative.
    ratios = np.full(matrix.shape[1], 1.0 / num_sources)
    informative = totals > 0
    ratios[informative] = matrix[:, informative].max(axis=0) / totals[informative]
    return _rescale(float(ratios.mean()), lower=1.0 / num_sources)


def compute_infoc(nmi: npt.ArrayLike) -> float:
    """InfoC (compactness) from the NMI matrix of the active latents.

    ``InfoC = rescale_{[1/d, 1]}(mean_i max_j NMI[i, j] / sum_j NMI[i, j])``; a source with
    ``sum_j NMI[i, j] = 0`` gets the ratio 1/d (contributes 0). InfoC = 1 when d = 1.

    Args:
        nmi: (K, d_active) NMI matrix restricted to the active latents.

    Returns:
        InfoC in [0, 1].
    """
    matrix = _validate_nmi(nmi)
    num_latents = matrix.shape[1]
    if num_latents == 1:
        return 1.0
    totals = matrix.sum(axis=1)
    # ratio_i = max_j NMI[i, j] / sum_j NMI[i, j], and 1/d when source i is uninformed.
    ratios = np.full(matrix.shape[0], 1.0 / num_latents)
    informed = totals > 0
    ratios[informed] = matrix[informed].max(axis=1) / totals[informed]
    return _rescale(float(ratios.mean()), lower=1.0 / num_latents)


def _validate_nmi(nmi: npt.ArrayLike) -> npt.NDArray[np.float64]:
    matrix = np.asarray(nmi, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
        raise ValueError(
            "`nmi` must be a non-empty 2-D (num_sources, num_active_latents) array; got shape "
            f"{matrix.shape}."
        )
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise ValueError("`nmi` must hold finite, non-negative values.")
    return matrix


def _rescale(value: float, lower: float) -> float:
    # Maps [lower, 1] linearly onto [0, 1].
    return float(np.clip((value - lower) / (1.0 - lower), 0.0, 1.0))


def compute_infoe(
    sources: npt.ArrayLike,
    latents: npt.ArrayLike,
    discrete_latents: bool,
    max_iter: int | None = None,
    variant: str = "reference",
) -> tuple[float, npt.NDArray[np.float64]]:
    """InfoE (explicitness): how well a linear classifier recovers each source from the latents.

    For each source, an unregularised multinomial logistic regression (L-BFGS, tolerance 1e-4, balanced
    class weights) is fitted from the latents (standardised if continuous, one-hot per latent if discrete)
    to the source, and ``InfoE_i = (H_null - H_pred) / H_null``. The fit and the losses use the same data.

    - ``variant="reference"`` (default), as the paper authors' `infomec.py` computes it: ``H_pred`` is the
      plain (unweighted) mean log loss of the fitted model's probabilities (clipped to [eps, 1 - eps] as
      scikit-learn's `log_loss` does), ``H_null`` that of the balanced intercept-only model, which predicts
      every class with probability 1/C, so ``H_null = log C``; L-BFGS stops after 100 iterations; no
      clipping of the ratio (it can fall slightly below 0 when the balanced fit predicts worse than chance
      under the plain loss). `compute_infomec` passes all latents, active or not, as the reference does.
    - ``variant="balanced"``: both log losses averaged with the balanced sample weights the fit used (the
      loss the fit minimises, so the ratio is a proper skill score in [0, 1], clipped there); up to 1000
      iterations; `compute_infomec` passes only the active latents. This library's earlier InfoE. It
      differs from the reference where sources are imbalanced (measured: 0.4545 vs 0.4666 on a case with
      skewed classes) and where a collapsed latent still carries a factor (0.6917 vs 0.7769).

    Args:
        sources: (N, K) integer factor labels.
        latents: (N, d) latent codes.
        discrete_latents: whether to one-hot encode the latents (True) or standardise them (False).
        max_iter: L-BFGS iteration cap (None: the variant's, 100 or 1000). Under "balanced", a
            ``ConvergenceWarning`` names the sources whose fit hit it (the reference stops silently).
        variant: "reference" or "balanced".

    Returns:
        (InfoE, per-source InfoE of shape (K,)).
    """
    if variant not in INFOE_VARIANTS:
        raise ValueError(f"`variant` must be one of {INFOE_VARIANTS}; got {variant!r}.")
    if max_iter is None:
        max_iter = LOGISTIC_MAX_ITER[variant]
    source_array, latent_array = _validate_pair(sources, latents)
    if max_iter < 1:
        raise ValueError(f"`max_iter` must be a positive integer; got {max_iter}.")
    source_codes, num_source_values = _label_encode_columns(source_array)
    constant = np.flatnonzero(num_source_values < 2)
    if constant.size:
        raise ValueError(
            f"Source column {int(constant[0])} is constant, so it has nothing to explain; drop constant "
            "factors before computing InfoE."
        )
    features = _logistic_features(latent_array, bool(discrete_latents))

    fits = _fit_per_source(
        lambda i: _explicitness_of_source(features, source_codes[:, i], max_iter, variant),
        source_array.shape[1],
        costs=num_source_values,
    )
    per_source = np.array([score for score, _ in fits], dtype=np.float64)
    unconverged = [i for i, (_, converged) in enumerate(fits) if not converged]
    if unconverged and variant == "balanced":
        warnings.warn(
            f"InfoE: the logistic regression of source(s) {unconverged} did not converge within "
            f"max_iter={max_iter} iterations; their InfoE may be underestimated. Raise `max_iter`.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return float(per_source.mean()), per_source


def _logistic_features(latents: np.ndarray, discrete_latents: bool) -> np.ndarray | OneHotCodes:
    """Standardised latents, or the codes of each discrete latent column (one-hot encoded by the fit)."""
    if not discrete_latents:
        return _standardise(latents)
    return OneHotCodes(*_label_encode_columns(latents))


def _intercept_only_log_loss(
    labels: npt.NDArray[np.int64], sample_weight: npt.NDArray[np.float64]
) -> float:
    """Weighted log loss of the best intercept-only model: it predicts the weighted class frequencies."""
    class_weight_totals = np.bincount(labels, weights=sample_weight)
    class_probabilities = class_weight_totals / class_weight_totals.sum()
    # H_null = -sum_n w_n log q_{y_n} / sum_n w_n with q_c = W_c / W
    return float(-np.average(np.log(class_probabilities[labels]), weights=sample_weight))


def _explicitness_of_source(
    features: np.ndarray | OneHotCodes, labels: npt.NDArray[np.int64], max_iter: int, variant: str
) -> tuple[float, bool]:
    """(H_null - H_pred) / H_null of one source, and whether its fit converged. Labels are 0..C-1."""
    num_classes = int(labels.max()) + 1
    # scikit-learn's LogisticRegression(penalty=None, class_weight="balanced", solver="lbfgs", tol=1e-4),
    # the same L-BFGS-B path on a faster objective (multinomial_logistic.py).
    fit = fit_balanced_multinomial(features, labels, max_iter=max_iter, tol=1e-4)
    converged = fit.converged
    predicted = fit.probabilities[np.arange(labels.size), labels]

    if variant == "reference":
        eps = np.finfo(np.float64).eps
        # H_pred = -mean_n log p(y_n | z_n), probabilities clipped as sklearn.metrics.log_loss clips them;
        # H_null = log C, the plain log loss of the balanced intercept-only model (uniform predictions).
        prediction_loss = float(-np.mean(np.log(np.clip(predicted, eps, 1 - eps))))
        null_loss = float(np.log(num_classes))
        return (null_loss - prediction_loss) / null_loss, converged

    # Balanced weights w_n = N / (C * count(y_n)), the ones class_weight="balanced" fits with.
    class_counts = np.bincount(labels, minlength=num_classes)
    sample_weight = labels.size / (num_classes * class_counts[labels])
    tiny = np.finfo(np.float64).tiny
    # H_pred = -sum_n w_n log p(y_n | z_n) / sum_n w_n
    prediction_loss = float(-np.average(np.log(np.maximum(predicted, tiny)), weights=sample_weight))
    null_loss = _intercept_only_log_loss(labels, sample_weight)
    return float(np.clip((null_loss - prediction_loss) / null_loss, 0.0, 1.0)), converged


def compute_infomec(
    sources: npt.ArrayLike,
    latents: npt.ArrayLike,
    discrete_latents: bool | None = None,
    n_neighbors: int = 10,
    random_state: int | None = 0,
    *,
    max_iter: int | None = None,
    infoe: str = "reference",
) -> InfoMECResult:
    """InfoM, InfoE and InfoC of a representation (paper section 4).

    By default the values are the paper authors' reference code's (`disentangle/metrics/infomec.py`):
    the same NMI estimators, active-latent rule and InfoE (see `compute_infoe`). Where ours differs on
    purpose: it rejects NaN/inf latents and constant sources with an error naming the column; an active
    latent informative of no source, or a source no active latent informs, contributes 0 where the
    reference divides 0 by 0 (NaN); a single active latent gives InfoC 1 and a single source InfoM 1 (the
    reference: 0/0); no active latent gives 0 for all three with a warning.

    Args:
        sources: (N, K) integer factor labels (any integer values).
        latents: (N, d) latent codes, continuous or discrete.
        discrete_latents: whether the latents are discrete; None infers it from the dtype (integer or bool
            dtype means discrete). Quantized latents stored as floats need `discrete_latents=True`.
        n_neighbors: k of the k-NN mutual information estimator (continuous latents).
        random_state: seed of the k-NN estimator's tie-breaking jitter.
        max_iter: L-BFGS iteration cap of InfoE's logistic regressions (None: the variant's).
        infoe: InfoE's variant, "reference" (default; fitted on all latents) or "balanced" (fitted on
            the active latents, balanced scoring; see `compute_infoe`).

    Returns:
        An `InfoMECResult`; `.as_dict()` gives ``{"infom", "infoe", "infoc"}``.

    Raises:
        ValueError: non-2-D inputs, mismatched sample counts, fewer than 2 samples, NaN/inf latents,
            non-integer or constant sources.

    Example:
        >>> s = np.indices((3, 4)).reshape(2, -1).T
        >>> compute_infomec(s, s).as_dict()["infom"]
        1.0
    """
    source_array, latent_array = _validate_pair(sources, latents)
    if n_neighbors < 1:
        raise ValueError(f"`n_neighbors` must be a positive integer; got {n_neighbors}.")
    if infoe not in INFOE_VARIANTS:
        raise ValueError(f"`infoe` must be one of {INFOE_VARIANTS}; got {infoe!r}.")
    discrete = _infer_discrete(latent_array) if discrete_latents is None else bool(discrete_latents)

    nmi = _nmi_matrix(source_array, latent_array, discrete, n_neighbors, random_state)
    active = _active_latents(latent_array, discrete)
    num_sources = source_array.shape[1]
    if not active.any():
        warnings.warn(
            "InfoMEC: no latent is active (all latents are constant or nearly so); InfoM, InfoE and "
            "InfoC are set to 0.",
            RuntimeWarning,
            stacklevel=2,
        )
        return InfoMECResult(
            infom=0.0,
            infoe=0.0,
            infoc=0.0,
            nmi=nmi,
            active=active,
            infoe_per_source=np.zeros(num_sources),
        )

    active_nmi = nmi[:, active]
    # The reference fits InfoE's regressions on every latent; the "balanced" variant on the active ones.
    explained = latent_array if infoe == "reference" else latent_array[:, active]
    infoe_value, infoe_per_source = compute_infoe(source_array, explained, discrete, max_iter=max_iter, variant=infoe)
    return InfoMECResult(
        infom=compute_infom(active_nmi),
        infoe=infoe_value,
        infoc=compute_infoc(active_nmi),
        nmi=nmi,
        active=active,
        infoe_per_source=infoe_per_source,
    )
