"""DCI: disentanglement, completeness and informativeness (Eastwood & Williams, ICLR 2018).

Given sources ``s`` (N x K integer factor labels) and latents ``z`` (N x d), one classifier per source is
fitted from all latents on a training split; its latent importances fill column ``k`` of the importance matrix
``R`` (d x K, non-negative). With ``H_b(p) = -sum_i p_i log p_i / log b`` (entropy in base ``b``):

    p_j = R[j, :] / sum_k R[j, k]            rho_j = sum_k R[j, k] / sum_{j', k} R[j', k]
    D   = sum_j rho_j (1 - H_K(p_j))                                   (disentanglement)
    q_k = R[:, k] / sum_j R[j, k]
    C   = mean_k (1 - H_d(q_k))                                        (completeness)
    I   = mean_k test accuracy of the classifier of source k          (informativeness)

Importance measures (``importance=``):

- ``"gbt"`` (default): disentanglement_lib's importances. disentanglement_lib fits one scikit-learn
  ``GradientBoostingClassifier`` per source with its defaults (100 rounds, learning rate 0.1, depth 3, exact
  splits) and reads its impurity-based ``feature_importances_``; `boosted_trees.py` runs that algorithm with
  each latent sorted once instead of once per node and the split search compiled (numba), every class's
  tree of a round together, one source per core. D, C and I then equal disentanglement_lib's up to ties between equally good
  splits, which scikit-learn breaks by a random latent order that disentanglement_lib leaves unseeded
  (measured: within 0.0025 of disentanglement_lib on noisy, mixed, imbalanced, binary and discrete codes;
  scikit-learn's own seeds 0 and 1 differ by 0.0015 in importance). 6-14x faster than scikit-learn
  (`benchmarks/RESULTS.md`, metric suite).
- ``"sklearn_gbt"``: scikit-learn's ``GradientBoostingClassifier`` itself, one per source (seeded by
  `random_state`): disentanglement_lib's computation exactly, and the slowest metric we run (about 3.6 s of
  CPU per class on 8,000 training samples x 12 latents).
- ``"hist_gbt"``: the same boosting with scikit-learn's histogram-based ``HistGradientBoostingClassifier``
  (100 rounds, learning rate 0.1, depth 3, one sample per leaf allowed, no early stopping, split thresholds
  among at most 255 quantile bins per latent). Its importance of latent ``j`` is the total split gain, the
  reduction of the (second-order) training loss summed over every split on ``j`` in every tree (the "gain"
  importance of XGBoost and LightGBM), normalised to sum to 1 per source. Many times faster than "gbt", but
  not the same numbers: gain importances leave more weight on latents unrelated to a source (about 4.5% of
  each source's importance on a noisy one-to-one code, z = s + 0.3 noise, against about 2% for "gbt"), and
  D's entropy magnifies that: D 0.737 against disentanglement_lib's 0.872 on that code, C 0.135 lower;
  on clean codes within 0.03. scikit-learn exposes no importance for this model; the gains are read from the
  fitted trees (``model._predictors``, a private attribute of the scikit-learn 1.9 that ``setup.py`` pins).
  This library's default before it reproduced disentanglement_lib; now that "gbt" is as fast, kept only
  for comparison with results computed with it.
- ``"linear"``: an L1-regularised (lasso, as in Eastwood & Williams) multinomial logistic regression on
  latents standardised with the training split's mean and standard deviation (solver ``saga``, inverse
  regularisation strength ``logistic_c``, default 0.1, with scikit-learn's C multiplying the summed log loss).
  ``R[j, k] = mean_c |W_k[c, j]|``, the mean absolute coefficient of latent ``j`` over the classes ``c`` of
  source ``k``. The penalty keeps the coefficients finite when a source is perfectly separable and drives
  those of uninformative latents to exactly 0.

Every column of the importance matrix returned by ``compute_dci`` is normalised to sum to 1 (or is all zeros
when the classifier of that source uses no latent), so every source carries the same weight in ``rho``; for
the linear measure this keeps a source whose classes separate easily (large coefficients) from dominating D.
With such columns disentanglement_lib's importance-weighted completeness equals the mean used here.

Conventions for degenerate cases (not fixed by the paper):

- With a single source (K = 1) every latent with non-zero importance is perfectly disentangled (its
  ``1 - H_K`` term is 1); with a single latent (d = 1) every source with non-zero importance is complete.
- A source whose column of R is all zeros (no latent informs its classifier) has completeness 0; a latent
  whose row is all zeros has ``rho_j = 0`` and so no effect on D. If R is all zeros, D = C = 0.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.special import xlogy
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from keras_latentquant.metrics.boosted_trees import fit_boosted_trees
from keras_latentquant.metrics.infomec import _fit_per_source, _label_encode_columns, _validate_pair

__all__ = [
    "DCIResult",
    "compute_dci",
    "dci_from_importance",
    "importance_matrix",
]

IMPORTANCE_MEASURES = ("gbt", "sklearn_gbt", "hist_gbt", "linear")
# disentanglement_lib's GradientBoostingClassifier defaults, reused for the histogram-based model.
DEFAULT_BOOSTING_ROUNDS = 100
BOOSTING_LEARNING_RATE = 0.1
BOOSTING_MAX_DEPTH = 3
# Inverse L1 strength of the linear measure (scikit-learn's C, which multiplies the summed log loss).
DEFAULT_LOGISTIC_C = 0.1
DEFAULT_LOGISTIC_MAX_ITER = 1000


@dataclasses.dataclass(frozen=True, eq=False)
class DCIResult:
    """The DCI scores of a representation.

    Attributes:
        disentanglement: D in [0, 1].
        completeness: C in [0, 1].
        informativeness: I, the mean test accuracy of the per-source classifiers, in [0, 1].
        importance_matrix: (d, K) non-negative importances R; each column sums to 1 (or is all zeros).
        train_accuracy: (K,) accuracy of each source's classifier on the training split.
        test_accuracy: (K,) accuracy of each source's classifier on the test split (their mean is I).
    """

    disentanglement: float
    completeness: float
    informativeness: float
    importance_matrix: npt.NDArray[np.float64]
    train_accuracy: npt.NDArray[np.float64]
    test_accuracy: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        # Frozen means frozen: the arrays are read-only copies too.
        for name in ("importance_matrix", "train_accuracy", "test_accuracy"):
            array = np.array(getattr(self, name), dtype=np.float64, copy=True)
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def as_dict(self) -> dict[str, float]:
        """Returns the three scores as plain floats, under the keys the evaluation reports use.

        Returns:
            ``{"dci_d": disentanglement, "dci_c": completeness, "dci_i": informativeness}``.
        """
        return {
            "dci_d": float(self.disentanglement),
            "dci_c": float(self.completeness),
            "dci_i": float(self.informativeness),
        }


# ----------------------------------------------------------------------------------------------------------
# Aggregation of an importance matrix (pure NumPy).
# ----------------------------------------------------------------------------------------------------------


def _validate_importance(importance: npt.ArrayLike) -> npt.NDArray[np.float64]:
    matrix = np.asarray(importance)
    if not (np.issubdtype(matrix.dtype, np.number) or matrix.dtype == np.bool_) or np.issubdtype(
        matrix.dtype, np.complexfloating
    ):
        raise ValueError(f"`importance` must hold real numbers; got dtype {matrix.dtype}.")
    matrix = matrix.astype(np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
        raise ValueError(
            "`importance` must be a non-empty 2-D (num_latents, num_sources) array; got shape "
            f"{matrix.shape}."
        )
    if not np.isfinite(matrix).all():
        raise ValueError("`importance` must be finite; it contains NaN or inf values.")
    if (matrix < 0).any():
        raise ValueError(f"`importance` must be non-negative; its smallest entry is {matrix.min()}.")
    return matrix


def _one_minus_normalised_entropy(
    weights: npt.NDArray[np.float64], axis: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``1 - H_b(w / sum w)`` along `axis` with ``b = weights.shape[axis]``, and the sums ``sum w``.

    Slices that sum to 0 get 0; when ``b = 1`` every slice with a positive sum gets 1.
    """
    totals = weights.sum(axis=axis)
    base = weights.shape[axis]
    positive = totals > 0
    scores = np.zeros(totals.shape, dtype=np.float64)
    if base == 1:
        scores[positive] = 1.0
        return scores, totals
    safe_totals = np.where(positive, totals, 1.0)
    probabilities = weights / np.expand_dims(safe_totals, axis)
    # H_b(p) = -sum_i p_i log p_i / log b, with 0 log 0 = 0 (xlogy).
    entropies = -xlogy(probabilities, probabilities).sum(axis=axis) / np.log(base)
    scores[positive] = np.clip(1.0 - entropies[positive], 0.0, 1.0)
    return scores, totals


def dci_from_importance(importance: npt.ArrayLike) -> tuple[float, float]:
    """Disentanglement and completeness of an importance matrix.

    ``D = sum_j rho_j (1 - H_K(R[j, :] / sum_k R[j, k]))`` with ``rho_j = sum_k R[j, k] / sum R``, and
    ``C = mean_k (1 - H_d(R[:, k] / sum_j R[j, k]))``; see the module docstring for the degenerate cases.

    Args:
        importance: (d, K) non-negative matrix R, latents along rows and sources along columns. Rows and
            columns need not be normalised.

    Returns:
        (D, C), two floats in [0, 1].

    Raises:
        ValueError: when `importance` is not a non-empty 2-D array of finite, non-negative numbers.

    Example:
        >>> dci_from_importance(np.eye(2))
        (1.0, 1.0)
    """
    matrix = _validate_importance(importance)
    total = matrix.sum()
    if total == 0:
        return 0.0, 0.0
    # 1 - H_K(p_j) per latent j (rows, base K = number of sources), rho_j = row total / total.
    per_latent, latent_totals = _one_minus_normalised_entropy(matrix, axis=1)
    disentanglement = float(np.sum(latent_totals / total * per_latent))
    # 1 - H_d(q_k) per source k (columns, base d = number of latents).
    per_source, _ = _one_minus_normalised_entropy(matrix, axis=0)
    completeness = float(per_source.mean())
    return float(np.clip(disentanglement, 0.0, 1.0)), float(np.clip(completeness, 0.0, 1.0))


# ----------------------------------------------------------------------------------------------------------
# Per-source classifiers and their importances.
# ----------------------------------------------------------------------------------------------------------


def _split(
    sources: npt.NDArray[np.int64],
    latents: np.ndarray,
    test_fraction: float,
    random_state: int | None,
) -> tuple[npt.NDArray[np.int64], np.ndarray, npt.NDArray[np.int64], np.ndarray]:
    """Seeded random split: round(N * test_fraction) samples (at least 1) go to the test split."""
    num_samples = sources.shape[0]
    num_test = max(1, int(round(num_samples * test_fraction)))
    if num_test >= num_samples:
        raise ValueError(
            f"`test_fraction`={test_fraction} leaves no training sample out of {num_samples}; use a "
            "smaller fraction or more samples."
        )
    order = np.random.default_rng(random_state).permutation(num_samples)
    test, train = order[:num_test], order[num_test:]
    return sources[train], latents[train], sources[test], latents[test]


def _gain_importances(model: HistGradientBoostingClassifier, num_latents: int) -> npt.NDArray[np.float64]:
    """Total split gain per latent over every tree of a fitted HistGradientBoostingClassifier."""
    try:
        # One list per boosting round, one TreePredictor per class (one in all for binary sources).
        nodes = np.concatenate([tree.nodes for round_trees in model._predictors for tree in round_trees])
        splits = nodes["is_leaf"] == 0
        features, gains = nodes["feature_idx"][splits], nodes["gain"][splits]
    except (AttributeError, KeyError, TypeError, ValueError) as error:  # pragma: no cover
        raise RuntimeError(
            "Cannot read the split gains of scikit-learn's HistGradientBoostingClassifier (its private "
            "`_predictors` layout changed); use importance='linear' or the pinned scikit-learn version."
        ) from error
    # importance_j = sum over splits on latent j of the loss reduction (XGBoost's eq. 7 gain).
    return np.bincount(features, weights=np.maximum(gains, 0.0), minlength=num_latents)


def _fit_gbt(
    train_latents: np.ndarray,
    train_labels: npt.NDArray[np.int64],
    boosting_rounds: int,
    random_state: int | None,
) -> tuple[npt.NDArray[np.float64], GradientBoostingClassifier]:
    # disentanglement_lib's model: scikit-learn's defaults (deviance loss, 100 rounds, learning rate 0.1,
    # depth 3, exact splits, no subsampling); the seed only breaks ties between equally good splits.
    model = GradientBoostingClassifier(
        n_estimators=boosting_rounds,
        learning_rate=BOOSTING_LEARNING_RATE,
        max_depth=BOOSTING_MAX_DEPTH,
        random_state=random_state,
    )
    model.fit(train_latents, train_labels)
    return np.abs(model.feature_importances_), model


def _fit_hist_gbt(
    train_latents: np.ndarray,
    train_labels: npt.NDArray[np.int64],
    boosting_rounds: int,
    random_state: int | None,
) -> tuple[npt.NDArray[np.float64], HistGradientBoostingClassifier]:
    model = HistGradientBoostingClassifier(
        learning_rate=BOOSTING_LEARNING_RATE,
        max_iter=boosting_rounds,
        max_depth=BOOSTING_MAX_DEPTH,
        max_leaf_nodes=None,
        min_samples_leaf=1,
        early_stopping=False,
        random_state=random_state,
    )
    model.fit(train_latents, train_labels)
    return _gain_importances(model, train_latents.shape[1]), model


def _fit_linear(
    train_features: npt.NDArray[np.float64],
    train_labels: npt.NDArray[np.int64],
    logistic_c: float,
    max_iter: int,
    random_state: int | None,
) -> tuple[npt.NDArray[np.float64], LogisticRegression, bool]:
    # l1_ratio=1 is the lasso penalty C^-1 ||W||_1 (scikit-learn >= 1.8 spells it this way, not penalty=).
    model = LogisticRegression(
        C=logistic_c, l1_ratio=1.0, solver="saga", max_iter=max_iter, random_state=random_state
    )
    model.fit(train_features, train_labels)
    converged = bool(np.max(model.n_iter_) < max_iter)
    # R[j, k] = mean over classes c of |W[c, j]| (a binary source has a single row of coefficients).
    return np.abs(model.coef_).mean(axis=0), model, converged


def _boosted_importances(
    train_sources: npt.NDArray[np.int64],
    train_latents: np.ndarray,
    test_sources: npt.NDArray[np.int64],
    test_latents: np.ndarray,
    boosting_rounds: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """"gbt": boosted_trees.py, one source per task on the per-source thread pool, largest sources first."""
    train_labels, num_classes = _label_encode_columns(train_sources)
    # Test labels in the training split's codes; a value never seen in training can never be predicted (-1).
    test_labels = np.full(test_sources.shape, -1, dtype=np.int64)
    for k in range(train_sources.shape[1]):
        values = np.unique(train_sources[:, k])
        position = np.clip(np.searchsorted(values, test_sources[:, k]), 0, values.size - 1)
        test_labels[:, k] = np.where(values[position] == test_sources[:, k], position, -1)

    fits = _fit_per_source(
        lambda k: fit_boosted_trees(train_latents, train_labels[:, [k]], test_latents, rounds=boosting_rounds),
        train_sources.shape[1],
        costs=num_classes,
    )
    importances = np.concatenate([fit.importances for fit in fits], axis=1)
    train_predictions = np.concatenate([fit.train_predictions for fit in fits], axis=1)
    test_predictions = np.concatenate([fit.test_predictions for fit in fits], axis=1)
    return importances, np.mean(train_predictions == train_labels, axis=0), np.mean(test_predictions == test_labels, axis=0)


def _standardise_with(
    train_latents: np.ndarray, test_latents: np.ndarray
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(z - mean_train) / std_train for both splits; latents constant on the training split become 0."""
    train_values = train_latents.astype(np.float64)
    mean = train_values.mean(axis=0)
    std = train_values.std(axis=0)
    scale = np.where(std > 0, std, np.inf)
    return (train_values - mean) / scale, (test_latents.astype(np.float64) - mean) / scale


def importance_matrix(
    train_sources: npt.ArrayLike,
    train_latents: npt.ArrayLike,
    test_sources: npt.ArrayLike,
    test_latents: npt.ArrayLike,
    importance: Literal["gbt", "sklearn_gbt", "hist_gbt", "linear"] = "gbt",
    random_state: int | None = 0,
    *,
    boosting_rounds: int = DEFAULT_BOOSTING_ROUNDS,
    logistic_c: float = DEFAULT_LOGISTIC_C,
    logistic_max_iter: int = DEFAULT_LOGISTIC_MAX_ITER,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Fits one classifier per source and collects the latents' importances and the accuracies.

    Args:
        train_sources: (N_train, K) integer factor labels the classifiers are fitted on.
        train_latents: (N_train, d) latent codes the classifiers are fitted on.
        test_sources: (N_test, K) integer factor labels for the test accuracy.
        test_latents: (N_test, d) latent codes for the test accuracy.
        importance: "gbt" (disentanglement_lib's gradient-boosted trees and impurity importances),
            "sklearn_gbt" (the same with scikit-learn's classifier), "hist_gbt" (histogram-based boosting, split-gain importances; faster, not identical) or
            "linear" (L1 multinomial logistic regression, mean absolute coefficients); see the module
            docstring.
        random_state: seed of the classifiers (saga's sample order; scikit-learn's trees' latent order and bin
            subsampling; "gbt" is deterministic).
        boosting_rounds: number of boosting rounds of "gbt" and "hist_gbt".
        logistic_c: inverse L1 regularisation strength C of "linear".
        logistic_max_iter: saga epoch cap of "linear"; a `ConvergenceWarning` names the sources that hit it.

    Returns:
        importance_matrix: (d, K) importances, each column normalised to sum to 1 (all zeros when the
            classifier of that source uses no latent).
        train_accuracy: (K,) accuracy on the training split.
        test_accuracy: (K,) accuracy on the test split.

    Raises:
        ValueError: on malformed inputs, an unknown `importance`, mismatched splits, or a source that takes
            a single value on the training split.
    """
    train_source_array, train_latent_array, test_source_array, test_latent_array = _validate_splits(
        train_sources, train_latents, test_sources, test_latents
    )
    _validate_options(importance, boosting_rounds, logistic_c, logistic_max_iter)
    return _importance_matrix(
        train_source_array,
        train_latent_array,
        test_source_array,
        test_latent_array,
        importance,
        random_state,
        boosting_rounds,
        logistic_c,
        logistic_max_iter,
    )


def _importance_matrix(
    train_sources: npt.NDArray[np.int64],
    train_latents: np.ndarray,
    test_sources: npt.NDArray[np.int64],
    test_latents: np.ndarray,
    importance: str,
    random_state: int | None,
    boosting_rounds: int,
    logistic_c: float,
    logistic_max_iter: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    num_latents, num_sources = train_latents.shape[1], train_sources.shape[1]
    single_valued = [k for k in range(num_sources) if np.unique(train_sources[:, k]).size < 2]
    if single_valued:
        raise ValueError(
            f"Source column {single_valued[0]} takes a single value on the training split, so no classifier "
            "can be fitted; drop constant factors or use more training samples."
        )
    if importance == "gbt":
        return _boosted_importances(train_sources, train_latents, test_sources, test_latents, boosting_rounds)
    if importance == "linear":
        train_features, test_features = _standardise_with(train_latents, test_latents)
    else:
        train_features, test_features = train_latents.astype(np.float64), test_latents.astype(np.float64)

    def fit_source(k: int) -> tuple[np.ndarray, float, float, bool]:
        converged = True
        if importance in ("sklearn_gbt", "hist_gbt"):
            fit = _fit_gbt if importance == "sklearn_gbt" else _fit_hist_gbt
            column, model = fit(train_features, train_sources[:, k], boosting_rounds, random_state)
        else:
            column, model, converged = _fit_linear(
                train_features, train_sources[:, k], logistic_c, logistic_max_iter, random_state
            )
        train_correct = float(np.mean(model.predict(train_features) == train_sources[:, k]))
        test_correct = float(np.mean(model.predict(test_features) == test_sources[:, k]))
        return column, train_correct, test_correct, converged

    # "hist_gbt" stays on the calling thread: it runs OpenMP itself.
    fits = _fit_per_source(fit_source, num_sources, threads=importance != "hist_gbt")

    importances = np.zeros((num_latents, num_sources), dtype=np.float64)
    for k, (column, _, _, _) in enumerate(fits):
        column_total = column.sum()
        # R[:, k] = importance / sum_j importance_j, so that every source weighs the same in rho.
        importances[:, k] = column / column_total if column_total > 0 else 0.0
    train_accuracy = np.array([fit[1] for fit in fits], dtype=np.float64)
    test_accuracy = np.array([fit[2] for fit in fits], dtype=np.float64)
    unconverged = [k for k, fit in enumerate(fits) if not fit[3]]
    if unconverged:
        warnings.warn(
            f"DCI: the logistic regression of source(s) {unconverged} did not converge within "
            f"logistic_max_iter={logistic_max_iter} epochs; raise `logistic_max_iter`.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return importances, train_accuracy, test_accuracy


# ----------------------------------------------------------------------------------------------------------
# Validation at the boundary.
# ----------------------------------------------------------------------------------------------------------


def _is_positive_integer(value: object) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and float(value).is_integer()
        and value >= 1
    )


def _validate_options(
    importance: str, boosting_rounds: int, logistic_c: float, logistic_max_iter: int
) -> None:
    if not isinstance(importance, str) or importance not in IMPORTANCE_MEASURES:
        raise ValueError(f"`importance` must be one of {IMPORTANCE_MEASURES}; got {importance!r}.")
    if not _is_positive_integer(boosting_rounds):
        raise ValueError(f"`boosting_rounds` must be a positive integer; got {boosting_rounds!r}.")
    if not (
        isinstance(logistic_c, numbers.Real)
        and not isinstance(logistic_c, bool)
        and np.isfinite(logistic_c)
        and logistic_c > 0
    ):
        raise ValueError(f"`logistic_c` must be a finite positive number; got {logistic_c!r}.")
    if not _is_positive_integer(logistic_max_iter):
        raise ValueError(f"`logistic_max_iter` must be a positive integer; got {logistic_max_iter!r}.")


def _validate_splits(
    train_sources: npt.ArrayLike,
    train_latents: npt.ArrayLike,
    test_sources: npt.ArrayLike,
    test_latents: npt.ArrayLike,
) -> tuple[npt.NDArray[np.int64], np.ndarray, npt.NDArray[np.int64], np.ndarray]:
    train_source_array, train_latent_array = _validate_pair(train_sources, train_latents)
    try:
        test_source_array, test_latent_array = _validate_pair(test_sources, test_latents)
    except ValueError as error:
        raise ValueError(f"Test split: {error}") from error
    if test_source_array.shape[1] != train_source_array.shape[1]:
        raise ValueError(
            "`test_sources` must have as many source columns as `sources`; got "
            f"{test_source_array.shape[1]} and {train_source_array.shape[1]}."
        )
    if test_latent_array.shape[1] != train_latent_array.shape[1]:
        raise ValueError(
            "`test_latents` must have as many latent columns as `latents`; got "
            f"{test_latent_array.shape[1]} and {train_latent_array.shape[1]}."
        )
    return train_source_array, train_latent_array, test_source_array, test_latent_array


# ----------------------------------------------------------------------------------------------------------
# Public entry point.
# ----------------------------------------------------------------------------------------------------------


def compute_dci(
    sources: npt.ArrayLike,
    latents: npt.ArrayLike,
    importance: Literal["gbt", "sklearn_gbt", "hist_gbt", "linear"] = "gbt",
    test_fraction: float = 0.2,
    random_state: int | None = 0,
    *,
    test_sources: npt.ArrayLike | None = None,
    test_latents: npt.ArrayLike | None = None,
    boosting_rounds: int = DEFAULT_BOOSTING_ROUNDS,
    logistic_c: float = DEFAULT_LOGISTIC_C,
    logistic_max_iter: int = DEFAULT_LOGISTIC_MAX_ITER,
) -> DCIResult:
    """Disentanglement, completeness and informativeness of a representation.

    The samples are split at random (seeded by `random_state`) into a training split, on which one
    classifier per source is fitted from all latents, and a test split of ``round(N * test_fraction)``
    samples for the informativeness; or `test_sources` and `test_latents` give the test split explicitly and
    all of `sources` and `latents` are used for training.

    Args:
        sources: (N, K) integer factor labels (any integer values).
        latents: (N, d) latent codes, continuous or discrete (used as numbers either way).
        importance: "gbt" (default; disentanglement_lib's gradient-boosted trees), "sklearn_gbt" (the same
            with scikit-learn's own classifier, slow), "hist_gbt" (histogram-based trees, split-gain
            importances) or "linear" (L1
            multinomial logistic regression on standardised latents, mean absolute coefficients); see the
            module docstring for exactly what each fits.
        test_fraction: fraction of the samples held out for the test accuracy, in (0, 1); ignored when
            `test_sources` and `test_latents` are given.
        random_state: seed of the split and of the classifiers ("gbt" is deterministic).
        test_sources: optional (N_test, K) factor labels of an explicit test split.
        test_latents: optional (N_test, d) latent codes of an explicit test split (give both or neither).
        boosting_rounds: number of boosting rounds of "gbt" and "hist_gbt" (disentanglement_lib: 100).
        logistic_c: inverse L1 regularisation strength C of "linear".
        logistic_max_iter: saga epoch cap of "linear".

    Returns:
        A `DCIResult`; `.as_dict()` gives ``{"dci_d": D, "dci_c": C, "dci_i": I}``.

    Raises:
        ValueError: non-2-D inputs, mismatched sample or column counts, fewer than 2 samples, NaN/inf
            latents, non-integer sources, a source with a single value on the training split, an unknown
            `importance`, a `test_fraction` outside (0, 1), or only one of `test_sources`/`test_latents`.

    Example:
        >>> s = np.repeat(np.indices((3, 4)).reshape(2, -1).T, 20, axis=0)
        >>> result = compute_dci(s, s + 0.1 * np.random.default_rng(0).normal(size=s.shape))
        >>> result.disentanglement > 0.9
        True
    """
    _validate_options(importance, boosting_rounds, logistic_c, logistic_max_iter)
    if (test_sources is None) != (test_latents is None):
        raise ValueError("Give both `test_sources` and `test_latents`, or neither.")
    if test_sources is None:
        if not (isinstance(test_fraction, numbers.Real) and 0.0 < test_fraction < 1.0):
            raise ValueError(f"`test_fraction` must lie strictly between 0 and 1; got {test_fraction}.")
        source_array, latent_array = _validate_pair(sources, latents)
        splits = _split(source_array, latent_array, float(test_fraction), random_state)
    else:
        splits = _validate_splits(sources, latents, test_sources, test_latents)

    importances, train_accuracy, test_accuracy = _importance_matrix(
        *splits, importance, random_state, int(boosting_rounds), float(logistic_c), int(logistic_max_iter)
    )
    disentanglement, completeness = dci_from_importance(importances)
    return DCIResult(
        disentanglement=disentanglement,
        completeness=completeness,
        # I = mean_k test accuracy of source k's classifier.
        informativeness=float(test_accuracy.mean()),
        importance_matrix=importances,
        train_accuracy=train_accuracy,
        test_accuracy=test_accuracy,
    )
