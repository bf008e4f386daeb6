"""Unpenalised multinomial logistic regression with balanced class weights: InfoE's explicitness model.

InfoMEC's reference code fits, once per source, scikit-learn's
``LogisticRegression(penalty=None, class_weight="balanced", solver="lbfgs", tol=1e-4, max_iter=100,
multi_class="multinomial")``. That is the L-BFGS-B minimisation (SciPy) of

    L(W, b) = sum_n w_n (log sum_c exp(r_nc) - r_{n, y_n}) / sum_n w_n,   r_n = W x_n + b,
    w_n = N / (C * count(y_n))                                              (balanced class weights)

from W = 0, b = 0, with scikit-learn's options (``maxiter``, ``maxls=50``, ``gtol=tol``,
``ftol=64 * machine eps``) and the parameters laid out as its (C, F + 1) coefficient array in Fortran order.
The fits stop unconverged at 100 iterations on most real latents, so the value InfoE reports depends on the
whole L-BFGS path, not only on the optimum. This module runs the same SciPy L-BFGS-B on the same objective
and the same parameters, and only evaluates L and its gradient faster than scikit-learn's general-purpose
loss does:

- dense (continuous) features: scores in a classes-first (C, N) layout, so that the softmax reduces over
  rows of contiguous memory;
- discrete latents, one-hot encoded: x_n has one 1 per latent, so r_n = b + sum_j V_j[:, code_nj] with V_j
  latent j's block of W. Latents are grouped (while the product of their numbers of values stays under
  `max(64, N / 16)`) and each group's summed table T_g[:, (a, b, ...)] = V_j[:, a] + V_k[:, b] + ... is
  built once per evaluation. Then exp(r_n) is the product of one entry of each group's exp(T_g), so the
  exponentials are taken per table cell rather than per sample, and one compiled pass over the samples
  (numba) multiplies the looked-up rows, takes the softmax and adds each sample's residual back into its
  cell of every group, from which the gradient folds back onto each V_j. Same function and gradient; only
  the order of the floating-point operations changes (fitted probabilities within 1e-7 of scikit-learn's
  after 100 iterations on the tests' cases).
- elsewhere (dense features, the fitted probabilities) exponentials are not shifted while every score lies in [-600, 600] (exp stays a normal double), by the
  largest score while their span is under 600, and by each sample's largest score otherwise (as
  scikit-learn always does).

The path agrees with scikit-learn's to float rounding (`tests/metrics/test_multinomial_logistic.py`
compares losses, gradients, iteration counts and fitted probabilities). Two-class sources are fitted with
the multinomial (two-row) parametrisation, as the reference's ``multi_class="multinomial"`` asked; from
version 1.5 on scikit-learn fits a binomial model there instead, equal at convergence.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import numpy.typing as npt
from scipy import optimize, sparse

__all__ = ["MultinomialFit", "OneHotCodes", "fit_balanced_multinomial"]

# Scores within [-_UNSHIFTED_LIMIT, _UNSHIFTED_LIMIT] are exponentiated as they are; scores spanning less than
# it after subtracting their overall maximum. exp(-600) is still a normal double, so no sample's partition
# function underflows and none overflows.
_UNSHIFTED_LIMIT = 600.0
# Latents are grouped for the one-hot path while the product of their numbers of values is at most
# max(_MIN_GROUP_CELLS, N / _SAMPLES_PER_GROUP_CELL): fewer lookups per sample, while the tables (built,
# exponentiated and folded back once per evaluation) stay small (measured on 10,000 samples x 12 latents of
# 10 values: pairs, 6 tables of 100 cells; one evaluation 0.59 ms, against 1.0 ms with triples).
_MIN_GROUP_CELLS = 64
_SAMPLES_PER_GROUP_CELL = 16
# The one-hot path pads the class axis to a multiple of this (three 256-bit registers for 10 classes:
# measured 10% faster than unpadded).
_CLASS_PADDING = 4


@dataclasses.dataclass(frozen=True)
class OneHotCodes:
    """Discrete latents to be one-hot encoded: the features are [onehot(codes[:, 0]), onehot(codes[:, 1]), ...].

    Attributes:
        codes: (N, d) integer codes, column j in [0, num_values[j]).
        num_values: (d,) number of values of each latent (its one-hot width).
    """

    codes: npt.NDArray[np.int64]
    num_values: npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True)
class MultinomialFit:
    """A fitted model: its probabilities on the training features and how the fit ended.

    Attributes:
        probabilities: (N, C) predicted class probabilities of the training samples.
        num_iterations: L-BFGS iterations taken (scikit-learn's ``n_iter_``).
        converged: whether the fit stopped before the iteration cap.
    """

    probabilities: npt.NDArray[np.float64]
    num_iterations: int
    converged: bool


def _group_latents(num_values: npt.NDArray[np.int64], max_cells: int) -> list[list[int]]:
    """Consecutive latents grouped while the product of their numbers of values stays <= max_cells."""
    groups: list[list[int]] = []
    cells = 0
    for j, count in enumerate(num_values.tolist()):
        if groups and cells * count <= max_cells:
            groups[-1].append(j)
            cells *= count
        else:
            groups.append([j])
            cells = count
    return groups


class _GroupedOneHot:
    """The one-hot features of grouped latents: X_g (N x cells, one 1 per group) and the 0/1 matrix D
    (F x cells) with D[offset_j + v, cell] = 1 when latent j has value v in that cell of its group's table,
    so that the tables are T.T = D.T @ W.T and the gradient folds back as D @ (X_g.T @ G)."""

    def __init__(self, one_hot: OneHotCodes) -> None:
        codes = np.asarray(one_hot.codes, dtype=np.int64)
        num_values = np.asarray(one_hot.num_values, dtype=np.int64)
        num_samples = codes.shape[0]
        latent_offsets = np.concatenate([[0], np.cumsum(num_values)[:-1]])
        groups = _group_latents(num_values, max(_MIN_GROUP_CELLS, num_samples // _SAMPLES_PER_GROUP_CELL))
        group_columns, digit_rows, digit_cells, group_starts = [], [], [], []
        cell_offset = 0
        for group in groups:
            group_starts.append(cell_offset)
            sizes = num_values[group]
            # Mixed-radix cell index of the group's values, the last latent varying fastest.
            strides = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]])
            group_columns.append(codes[:, group] @ strides + cell_offset)
            num_cells = int(np.prod(sizes))
            cells = np.arange(num_cells)
            for j, size, stride in zip(group, sizes, strides):
                digit_rows.append(latent_offsets[j] + (cells // stride) % size)
                digit_cells.append(cells + cell_offset)
            cell_offset += num_cells
        # (N, G): the cell of every sample in every group's table.
        self.cells = np.ascontiguousarray(np.stack(group_columns, axis=1))
        self.num_cells = cell_offset
        self.num_features = int(num_values.sum())
        self.num_groups = len(groups)
        self.group_starts = np.array(group_starts)
        self.first_group_cells = group_starts[1] if len(groups) > 1 else cell_offset
        self.digits = sparse.csr_matrix(
            (np.ones(sum(r.size for r in digit_rows)), (np.concatenate(digit_rows), np.concatenate(digit_cells))),
            shape=(self.num_features, cell_offset),
        )
        self.digits_transposed = self.digits.T.tocsr()

    def scores(self, weights: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, float]:
        """(N, C) X @ W.T + b for weights (C, F), and a bound on its largest absolute value."""
        tables = self.digits_transposed @ weights.T  # (cells, C)
        # Every sample takes one cell of the first group, which therefore carries the intercept too.
        tables[: self.first_group_cells] += intercept
        # Every score is a sum of one entry of each group's table.
        bound = float(np.maximum.reduceat(np.abs(tables).max(axis=1), self.group_starts).sum())
        return _sum_of_table_rows(self.cells, np.ascontiguousarray(tables)), bound

    def loss_and_gradient(
        self, weights: np.ndarray, intercept: np.ndarray, labels: np.ndarray, scaled_weight: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """sum_n v_n (log sum_c exp(r_nc) - r_{n, y_n}) and its gradients (C, F) and (C,), for per-sample
        weights v (N,), in one compiled pass over the samples (no (N, C) array is formed).

        Every score is a sum of one entry of each group's table, so exp(r_nc) is a product of one entry of
        each group's exp(T_g - max T_g): C exponentials per table cell instead of per sample. That holds
        while the tables' spans sum to at most `_UNSHIFTED_LIMIT` (the product of the shifted factors,
        >= exp(-600), stays a normal double); beyond it every sample's scores are shifted by their own
        maximum and exponentiated. The class axis is padded to a multiple of `_CLASS_PADDING` (whole
        vector registers; padded factors are 0, so they add nothing).
        """
        num_classes = weights.shape[0]
        tables = np.zeros((self.num_cells, -(-num_classes // _CLASS_PADDING) * _CLASS_PADDING))
        tables[:, :num_classes] = self.digits_transposed @ weights.T
        tables[: self.first_group_cells, :num_classes] += intercept
        factors, total_shift, products = _exponentiated_tables(tables, num_classes, self.group_starts)
        partitions, sample_shifts, weighted_true_scores, table_gradient = _one_hot_loss_terms(
            self.cells, labels, scaled_weight, tables, factors, products, num_classes
        )
        table_gradient = table_gradient[:, :num_classes]
        if products:
            sample_shifts = total_shift
        # sum_n v_n (log Z_n + shift_n) - sum_n v_n r_{n, y_n}, the logarithms vectorised outside the loop.
        loss = float(scaled_weight @ (np.log(partitions) + sample_shifts)) - weighted_true_scores
        # Every sample takes one cell of the first group: the intercept's gradient is that group's total.
        intercept_gradient = table_gradient[: self.first_group_cells].sum(axis=0)
        return loss, np.asarray(self.digits @ table_gradient).T, intercept_gradient


@numba.njit(cache=True, nogil=True)
def _exponentiated_tables(tables, num_classes, group_starts):  # pragma: no cover
    """exp(T_g - max T_g) for every group's table (padded classes: 0), the sum of the maxima, and whether
    the spans max T_g - min T_g sum to at most `_UNSHIFTED_LIMIT`. Otherwise the factors are not computed
    (the tables are returned as they are)."""
    num_cells = tables.shape[0]
    num_groups = group_starts.size
    maxima = np.empty(num_groups)
    span = 0.0
    for g in range(num_groups):
        stop = group_starts[g + 1] if g + 1 < num_groups else num_cells
        top = tables[group_starts[g], 0]
        bottom = top
        for k in range(group_starts[g], stop):
            for c in range(num_classes):
                top = max(top, tables[k, c])
                bottom = min(bottom, tables[k, c])
        maxima[g] = top
        span += top - bottom
    if span > _UNSHIFTED_LIMIT:
        return tables, 0.0, False
    factors = np.zeros_like(tables)
    for g in range(num_groups):
        stop = group_starts[g + 1] if g + 1 < num_groups else num_cells
        for k in range(group_starts[g], stop):
            for c in range(num_classes):
                factors[k, c] = np.exp(tables[k, c] - maxima[g])
    return factors, maxima.sum(), True


@numba.njit(cache=True, nogil=True)
def _sum_of_table_rows(cells, tables):  # pragma: no cover
    """(N, C) scores: row n is the sum over groups g of tables[cells[n, g]] (X_g @ T, one 1 per group)."""
    num_samples, num_groups = cells.shape
    num_classes = tables.shape[1]
    scores = np.empty((num_samples, num_classes))
    for n in range(num_samples):
        row = tables[cells[n, 0]]
        for c in range(num_classes):
            scores[n, c] = row[c]
        for g in range(1, num_groups):
            row = tables[cells[n, g]]
            for c in range(num_classes):
                scores[n, c] += row[c]
    return scores


@numba.njit(cache=True, nogil=True)
def _one_hot_loss_terms(cells, labels, scaled_weight, tables, factors, products, num_classes):  # pragma: no cover
    """Per-sample partition functions Z_n (shifted), sum_n v_n r_{n, y_n}, and the gradient with respect to
    the tables (cells, padded classes): v_n (softmax(r_n) - onehot(y_n)) added into the sample's cell of
    every group.

    With `products`, Z_n = sum_c prod_g factors[cells[n, g], c] (factors = exp(T_g - max T_g), 0 on padded
    classes); otherwise factors are the tables themselves and Z_n = sum_c exp(r_nc - max_c r_nc), whose
    shift is returned."""
    num_samples, num_groups = cells.shape
    padded = tables.shape[1]
    table_gradient = np.zeros(tables.shape)
    partitions = np.empty(num_samples)
    sample_shifts = np.zeros(num_samples)
    exponentials = np.zeros(padded)
    weighted_true_scores = 0.0
    for n in range(num_samples):
        cell = cells[n, 0]
        for c in range(padded):
            exponentials[c] = factors[cell, c]
        if products:
            for g in range(1, num_groups):
                cell = cells[n, g]
                for c in range(padded):
                    exponentials[c] *= factors[cell, c]
        else:
            for g in range(1, num_groups):
                cell = cells[n, g]
                for c in range(num_classes):
                    exponentials[c] += factors[cell, c]
            shift = exponentials[:num_classes].max()
            sample_shifts[n] = shift
            for c in range(num_classes):
                exponentials[c] = np.exp(exponentials[c] - shift)
            for c in range(num_classes, padded):
                exponentials[c] = 0.0
        partition = 0.0
        for c in range(padded):
            partition += exponentials[c]
        partitions[n] = partition
        label = labels[n]
        weight = scaled_weight[n]
        scale = weight / partition
        for g in range(num_groups):
            cell = cells[n, g]
            weighted_true_scores += weight * tables[cell, label]
            for c in range(padded):
                table_gradient[cell, c] += scale * exponentials[c]
            table_gradient[cell, label] -= weight
    return partitions, sample_shifts, weighted_true_scores, table_gradient


class _BalancedMultinomialLoss:
    """L(W, b) and its gradient for fixed features and labels, on scikit-learn's flat parameter vector."""

    def __init__(self, features: np.ndarray | OneHotCodes, labels: npt.NDArray[np.int64]) -> None:
        self.one_hot = isinstance(features, OneHotCodes)
        self.num_classes = int(labels.max()) + 1
        num_samples = labels.size
        counts = np.bincount(labels, minlength=self.num_classes)
        # Balanced class weights, as sklearn.utils.class_weight.compute_class_weight("balanced") gives them.
        self.sample_weight = (num_samples / (self.num_classes * counts.astype(np.float64)))[labels]
        self.weight_sum = float(np.sum(self.sample_weight))
        self.ones_classes = np.ones(self.num_classes)
        self.ones_samples = np.ones(num_samples)
        if self.one_hot:
            # Scores (N, C), samples first.
            self.grouped = _GroupedOneHot(features)
            self.num_features = self.grouped.num_features
            self.class_axis = 1
            self.labels = np.ascontiguousarray(labels, dtype=np.int64)
            self.scaled_weight = self.sample_weight / self.weight_sum
        else:
            # Scores (C, N), classes first: W @ X.T, gradient G @ X.
            self.features = np.ascontiguousarray(features, dtype=np.float64)
            self.features_transposed = np.ascontiguousarray(self.features.T)
            self.num_features = self.features.shape[1]
            self.feature_bounds = np.abs(self.features).max(axis=0)
            self.class_axis = 0
            self.true_index = labels * num_samples + np.arange(num_samples)

    def unflatten(self, coef: npt.NDArray[np.float64]) -> tuple[np.ndarray, np.ndarray]:
        """scikit-learn's layout: coef.reshape((C, F + 1), order="F") holds [W | b]."""
        matrix = coef.reshape((self.num_classes, self.num_features + 1), order="F")
        return matrix[:, :-1], matrix[:, -1]

    def _per_sample(self, values: np.ndarray) -> np.ndarray:
        # A per-sample vector broadcast against the scores' layout.
        return values[:, None] if self.class_axis == 1 else values[None, :]

    def shifted_scores(self, coef: npt.NDArray[np.float64]) -> np.ndarray:
        """Scores r_nc minus a per-sample constant that keeps exp(r) finite and the softmax exact."""
        weights, intercept = self.unflatten(coef)
        if self.one_hot:
            scores, bound = self.grouped.scores(weights, intercept)
        else:
            scores = weights @ self.features_transposed
            scores += intercept[:, None]
            bound = float(np.abs(weights).max(axis=0) @ self.feature_bounds)
        if bound + float(np.abs(intercept).max()) <= _UNSHIFTED_LIMIT:
            return scores
        top, bottom = float(scores.max()), float(scores.min())
        if top - bottom <= _UNSHIFTED_LIMIT:
            scores -= top
        else:
            scores -= self._per_sample(scores.max(axis=self.class_axis))
        return scores

    def probabilities(self, coef: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(N, C) softmax probabilities."""
        exponentials = np.exp(self.shifted_scores(coef))
        exponentials /= exponentials.sum(axis=self.class_axis, keepdims=True)
        return exponentials if self.class_axis == 1 else exponentials.T

    def __call__(self, coef: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        gradient = np.empty((self.num_classes, self.num_features + 1), order="F")
        if self.one_hot:
            weights, intercept = self.unflatten(coef)
            loss, gradient[:, :-1], gradient[:, -1] = self.grouped.loss_and_gradient(
                weights, intercept, self.labels, self.scaled_weight
            )
            return loss, gradient.ravel(order="F")
        scores = self.shifted_scores(coef)
        true_scores = scores.ravel()[self.true_index]
        exponentials = np.exp(scores, out=scores)
        partition = self._sum_over_classes(exponentials)
        # Per sample: log sum_c exp(r_nc) - r_{n, y_n} (the shift cancels).
        loss = float(self.sample_weight @ (np.log(partition) - true_scores)) / self.weight_sum
        # G_nc = w_n (softmax(r_n)_c - [c = y_n]) / sum w, classes first.
        exponentials *= (self.sample_weight / (partition * self.weight_sum))[None, :]
        exponentials.ravel()[self.true_index] -= self.sample_weight / self.weight_sum
        gradient[:, :-1] = exponentials @ self.features
        gradient[:, -1] = exponentials @ self.ones_samples
        return loss, gradient.ravel(order="F")

    def _sum_over_classes(self, values: np.ndarray) -> np.ndarray:
        # A matrix-vector product: over a short axis it is 2-3x faster than np.sum.
        return values @ self.ones_classes if self.class_axis == 1 else self.ones_classes @ values


def fit_balanced_multinomial(
    features: np.ndarray | OneHotCodes,
    labels: npt.NDArray[np.int64],
    max_iter: int = 100,
    tol: float = 1e-4,
) -> MultinomialFit:
    """Fits L(W, b) (module docstring) by scikit-learn's L-BFGS-B run and returns the fitted probabilities.

    Args:
        features: (N, F) dense float features, or `OneHotCodes` of discrete latents (one-hot encoded).
        labels: (N,) class codes 0..C-1, every class present, C >= 2.
        max_iter: L-BFGS iteration cap.
        tol: gradient tolerance (L-BFGS-B's ``gtol``).

    Returns:
        A `MultinomialFit`.
    """
    loss = _BalancedMultinomialLoss(features, labels)
    initial = np.zeros(loss.num_classes * (loss.num_features + 1))
    result = optimize.minimize(
        loss,
        initial,
        method="L-BFGS-B",
        jac=True,
        options={"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps},
    )
    num_iterations = min(int(result.nit), max_iter)
    return MultinomialFit(
        probabilities=loss.probabilities(result.x),
        num_iterations=num_iterations,
        converged=num_iterations < max_iter,
    )
