"""Ross's k-nearest-neighbour estimate of I(c; d) for one-dimensional continuous latents, by sorting.

Ross (2014), "Mutual Information between Discrete and Continuous Data Sets", PLoS ONE 9(2): for each sample
``n`` with label ``d_n``, let ``r_n`` be the distance to its k-th nearest neighbour among the samples with the
same label (k = min(n_neighbors, count - 1)) and ``m_n`` the number of samples of any label within ``r_n``
(itself included). Then

    I = psi(N) + mean_n psi(k_n) - mean_n psi(N_{d_n}) - mean_n psi(m_n)      (clipped at 0)

over the N samples whose label occurs more than once (a label seen once has no neighbour and is left out).
This is the estimator of scikit-learn's `mutual_info_classif` (`_compute_mi_cd`), which InfoMEC's reference
implementation calls once per (source, latent) pair, each call building k-d trees. In one dimension the k
nearest neighbours of a point are a window of k + 1 consecutive sorted values around it, so here every
latent and every label is handled by sorting and array shifts: O(N k) per pair after an O(N log N) sort, no
trees, all latents of a source at once. With the same input it returns scikit-learn's values to float
rounding (`tests/metrics/test_knn_mutual_information.py` compares them), with one exception: for a label
with at most 2k + 1 samples scikit-learn switches to brute-force neighbours whose distances come from
|x|^2 - 2xy + |y|^2, and that rounding can lift the radius a hair above the k-th neighbour's distance, which
then counts in m_n. Ours uses exact distances, as Ross's definition does. Each such point moves the estimate
by about 1 / (m_n N): on 600 samples with labels of 3 and 5 samples 0.002-0.02 nats; on InfoMEC's sizes
(thousands of samples, labels with more than 2k + 1 samples) nothing.

As scikit-learn does (and the reference therefore does), each latent is first divided by its root mean
square and jittered by ``1e-10 * max(1, mean |x|)`` standard-normal noise, which breaks ties between equal
values at random; `random_state` seeds the jitter (scikit-learn draws it for the `(N, d)` matrix at once, and
so does this function, so equal seeds give equal jitter).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import digamma

__all__ = ["jitter_like_sklearn", "knn_mutual_information"]


def jitter_like_sklearn(latents: np.ndarray, random_state: int | None) -> npt.NDArray[np.float64]:
    """The latents exactly as `mutual_info_classif` sees them: scaled by their root mean square (no
    centring; a constant-zero column stays zero), plus the tie-breaking jitter, drawn for all columns at once."""
    values = np.array(latents, dtype=np.float64)
    num_samples, num_latents = values.shape
    # sklearn.preprocessing.scale(with_mean=False): divide by the standard deviation (1 where it is 0).
    std = values.std(axis=0)
    values /= np.where(std > 0, std, 1.0)
    means = np.maximum(1.0, np.mean(np.abs(values), axis=0))
    rng = np.random.RandomState(random_state) if not isinstance(random_state, np.random.RandomState) else random_state
    values += 1e-10 * means * rng.standard_normal(size=(num_samples, num_latents))
    return values


def knn_mutual_information(
    latents: np.ndarray, labels: npt.NDArray[np.int64], n_neighbors: int = 10
) -> npt.NDArray[np.float64]:
    """Ross's estimate of I(latent_j; labels_i) in nats for every column j of `latents` (N, d).

    `labels` is (N,) for one discrete variable, giving (d,) estimates, or (N, K) for K of them, giving
    (K, d); the sort of each latent column is then done once for all K. `latents` are used as given (call
    `jitter_like_sklearn` first for scikit-learn's values).
    """
    values = np.asarray(latents, dtype=np.float64)
    label_matrix = np.asarray(labels)
    single = label_matrix.ndim == 1
    if single:
        label_matrix = label_matrix[:, None]
    columns = _SortedColumns(values)
    estimates = np.stack([_one_variable(columns, label_matrix[:, i], n_neighbors) for i in range(label_matrix.shape[1])])
    return estimates[0] if single else estimates


class _SortedColumns:
    """Every latent column sorted once: the order and the sorted values."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.order = np.argsort(values, axis=0, kind="stable")
        self.sorted = np.take_along_axis(values, self.order, axis=0)


def _one_variable(columns: _SortedColumns, labels: np.ndarray, n_neighbors: int) -> npt.NDArray[np.float64]:
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    codes = codes.reshape(-1)
    # Samples whose label occurs once have no same-label neighbour: scikit-learn drops them entirely
    # (from N, from the other samples' counts m_n and from the means); the columns are sorted anew without them.
    keep = counts[codes] > 1
    if not keep.all():
        columns, codes = _SortedColumns(columns.values[keep]), codes[keep]
    values = columns.values
    num_samples, num_latents = values.shape
    if num_samples == 0:
        return np.zeros(num_latents)
    label_counts = counts[codes]  # N_{d_n}
    k = np.minimum(n_neighbors, label_counts - 1)  # k_n

    # Sort every column by (label, value): each label's samples form a contiguous block, sorted by value.
    # A stable sort of the labels, taken in value order, does it (a radix sort for small label types).
    key_type = np.int16 if counts.size < np.iinfo(np.int16).max else np.int64
    label_in_value_order = codes.astype(key_type)[columns.order]
    order = np.take_along_axis(columns.order, np.argsort(label_in_value_order, axis=0, kind="stable"), axis=0)
    sorted_values = np.take_along_axis(values, order, axis=0)
    sorted_codes = codes[order[:, 0]]  # the same label sequence in every column
    block_start = np.searchsorted(sorted_codes, sorted_codes, side="left")
    block_end = block_start + counts[sorted_codes] - 1  # last index of the label's block
    k_sorted = np.minimum(n_neighbors, block_end - block_start)
    position = np.arange(num_samples)

    # The k nearest same-label neighbours of the point at sorted position p are the window
    # [p - t, p - t + k] for the best shift t in 0..k; its k-th neighbour distance is the window's larger
    # reach, max(x_p - x_{p-t}, x_{p-t+k} - x_p), minimised over the windows that stay inside the block.
    radius = np.full(sorted_values.shape, np.inf)
    for shift in range(int(k_sorted.max()) + 1):
        start = position - shift
        end = start + k_sorted
        valid = (shift <= k_sorted) & (start >= block_start) & (end <= block_end)
        if not valid.any():
            continue
        start_c, end_c = np.clip(start, 0, num_samples - 1), np.clip(end, 0, num_samples - 1)
        reach = np.maximum(sorted_values - sorted_values[start_c], sorted_values[end_c] - sorted_values)
        np.minimum(radius, np.where(valid[:, None], reach, np.inf), out=radius)
    # scikit-learn counts the neighbours strictly closer than the k-th one's distance (the next float down).
    radius = np.nextafter(radius, 0)

    # m_n: samples of any label within the radius, the point itself included, by binary search in the
    # column sorted by value.
    digamma_m = np.array(
        [
            np.mean(digamma(_count_within(columns.sorted[:, j], sorted_values[:, j], radius[:, j])))
            for j in range(num_latents)
        ]
    )
    estimate = digamma(num_samples) + np.mean(digamma(k)) - np.mean(digamma(label_counts)) - digamma_m
    return np.maximum(estimate, 0.0)


def _count_within(column: np.ndarray, x: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """How many values of the sorted `column` lie within `radius` of each `x`, with scikit-learn's test
    ``|y - x| <= radius`` on the rounded difference. A binary search for ``x +- radius`` alone is not enough:
    ``x + radius`` can round up onto the k-th neighbour itself (radius is one float below its distance), so
    the ends found are moved until the exact test holds at each."""
    size = column.shape[0]
    low = np.searchsorted(column, x - radius, side="left")
    high = np.searchsorted(column, x + radius, side="right")  # one past the last value inside
    for _ in range(size):  # each pass moves an end by one; in practice one or two passes
        shrink_high = (high > 0) & (column[np.maximum(high - 1, 0)] - x > radius)
        grow_high = (high < size) & (column[np.minimum(high, size - 1)] - x <= radius)
        shrink_low = (low < size) & (x - column[np.minimum(low, size - 1)] > radius)
        grow_low = (low > 0) & (x - column[np.maximum(low - 1, 0)] <= radius)
        if not (shrink_high.any() or grow_high.any() or shrink_low.any() or grow_low.any()):
            break
        high = high - shrink_high + grow_high
        low = low + shrink_low - grow_low
    return high - low
