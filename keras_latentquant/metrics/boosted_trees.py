"""DCI's gradient-boosted trees: scikit-learn's GradientBoostingClassifier, every source and class at once.

disentanglement_lib fits one scikit-learn ``GradientBoostingClassifier`` (defaults: 100 rounds, learning
rate 0.1, depth 3, log loss) per source and reads its impurity importances. This module runs the same
algorithm for the trees of all sources in a round together:

- start from the log of the class priors (the logit for two classes); every round, for every source and
  class (one tree per round for a two-class source), fit a depth-3 least-squares regression tree to the
  residual ``r = onehot(y) - p``. Each node takes the split that maximises ``S_l^2 / n_l + S_r^2 / n_r``
  (sums S and counts n of the residuals on either side) over every latent and every gap between
  neighbouring values in the node larger than 1e-7 (in float32, as scikit-learn's trees see the latents);
  its threshold is the midpoint of that gap. A node with fewer than 2 samples, a residual variance at most
  machine epsilon, or no gap, is a leaf;
- a leaf's value is the Newton step ``(C - 1) / C * sum r / sum p (1 - p)`` (``sum r / sum p (1 - p)`` for
  two classes; 0 when the mean of ``p (1 - p)`` is below 1e-150); raw scores move by 0.1 x the value;
- a tree's importance of latent j is the variance reduction of its splits on j,
  ``sum (n_t v_t - n_l v_l - n_r v_r) / N``; a source's importances are their mean over its trees that split
  at all, normalised to sum to 1.

Where scikit-learn sorts the samples of every node anew for every latent, here each latent is sorted once,
and one pass over that order per tree level scores the splits of every node of every tree (`_best_splits`,
compiled with numba). Ties between equally good splits go to the lowest latent index and the leftmost gap;
scikit-learn breaks ties between latents by a seeded random order (disentanglement_lib leaves it unseeded),
so on such ties the two can pick different, equally good, latents.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["BoostedTreesResult", "fit_boosted_trees"]

# scikit-learn's trees: a split needs a float32 gap above this between neighbouring values, and a node whose
# residual variance is at most machine epsilon is a leaf.
_FEATURE_THRESHOLD = np.float32(1e-7)
_IMPURITY_EPSILON = np.finfo(np.float64).eps
# _safe_divide in scikit-learn's gradient boosting: a leaf whose mean hessian is below this gets value 0.
_TINY_HESSIAN = 1e-150


@dataclasses.dataclass(frozen=True)
class BoostedTreesResult:
    """Importances and predictions of one boosted model per source.

    Attributes:
        importances: (d, K) importance of each latent for each source; each column sums to 1 (all zeros if no
            tree of that source split).
        train_predictions: (N_train, K) predicted label codes on the training latents.
        test_predictions: (N_test, K) predicted label codes on the test latents.
    """

    importances: npt.NDArray[np.float64]
    train_predictions: npt.NDArray[np.int64]
    test_predictions: npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)
def _best_splits(order, sorted_values, node, residuals, node_sums, node_counts, splittable):  # pragma: no cover
    """The best split of every node of every tree at one level.

    Args:
        order: (d, N) samples sorted by each latent's value.
        sorted_values: (d, N) float32 values in that order.
        node: (T, N) node of each sample in each tree (0..V-1).
        residuals: (T, N) residual of each sample in each tree.
        node_sums, node_counts: (T, V) residual sum and sample count of each node.
        splittable: (T, V) whether the node may split at all.

    Returns:
        best_proxy (T, V; -inf where no split), best_latent, and left_value and right_value (the values on
        either side of the chosen gap).
    """
    num_latents, num_samples = order.shape
    num_trees, num_nodes = node_sums.shape
    best_proxy = np.full((num_trees, num_nodes), -np.inf)
    best_latent = np.zeros((num_trees, num_nodes), dtype=np.int64)
    left_value = np.zeros((num_trees, num_nodes), dtype=np.float32)
    right_value = np.zeros((num_trees, num_nodes), dtype=np.float32)
    running_sum = np.zeros(num_nodes)
    running_count = np.zeros(num_nodes, dtype=np.int64)
    last_value = np.zeros(num_nodes, dtype=np.float32)
    # 1 / n for every possible count: multiplications instead of divisions in the scan.
    reciprocal = np.zeros(num_samples + 1)
    for count in range(1, num_samples + 1):
        reciprocal[count] = 1.0 / count
    for tree in range(num_trees):
        tree_node = node[tree]
        tree_residuals = residuals[tree]
        tree_splittable = splittable[tree]
        tree_sums = node_sums[tree]
        tree_counts = node_counts[tree]
        for latent in range(num_latents):
            running_sum[:] = 0.0
            running_count[:] = 0
            for position in range(num_samples):
                sample = order[latent, position]
                v = tree_node[sample]
                if not tree_splittable[v]:
                    continue
                value = sorted_values[latent, position]
                count = running_count[v]
                # A gap between the node's previous value and this one: score the split before this sample.
                if count > 0 and value > last_value[v] + _FEATURE_THRESHOLD:
                    left = running_sum[v]
                    right = tree_sums[v] - left
                    proxy = left * left * reciprocal[count] + right * right * reciprocal[tree_counts[v] - count]
                    if proxy > best_proxy[tree, v]:
                        best_proxy[tree, v] = proxy
                        best_latent[tree, v] = latent
                        left_value[tree, v] = last_value[v]
                        right_value[tree, v] = value
                running_sum[v] += tree_residuals[sample]
                running_count[v] = count + 1
                last_value[v] = value
    return best_proxy, best_latent, left_value, right_value


def _probabilities_and_residuals(
    raw: np.ndarray, targets: np.ndarray, binary: np.ndarray, blocks: list[slice]
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and residuals onehot(y) - p, both (T, N)."""
    probabilities = np.empty_like(raw)
    for source, block in enumerate(blocks):
        scores = raw[block]
        if binary[source]:
            probabilities[block] = 1.0 / (1.0 + np.exp(-scores))
        else:
            shifted = np.exp(scores - scores.max(axis=0, keepdims=True))
            probabilities[block] = shifted / shifted.sum(axis=0, keepdims=True)
    return probabilities, targets - probabilities


@numba.njit(cache=True, nogil=True)
def _node_totals(node, residuals, extra, num_nodes):  # pragma: no cover
    """(T, V) sample counts, residual sums, residual sums of squares and sums of `extra` (T, N) per node."""
    num_trees, num_samples = node.shape
    counts = np.zeros((num_trees, num_nodes), dtype=np.int64)
    sums = np.zeros((num_trees, num_nodes))
    squares = np.zeros((num_trees, num_nodes))
    extras = np.zeros((num_trees, num_nodes))
    for tree in range(num_trees):
        for sample in range(num_samples):
            v = node[tree, sample]
            r = residuals[tree, sample]
            counts[tree, v] += 1
            sums[tree, v] += r
            squares[tree, v] += r * r
            extras[tree, v] += extra[tree, sample]
    return counts, sums, squares, extras


def _thresholds(left_value: np.ndarray, right_value: np.ndarray) -> np.ndarray:
    """scikit-learn's split threshold: the gap's midpoint in float64, or its left value where the midpoint
    rounds onto the right value."""
    low, high = left_value.astype(np.float64), right_value.astype(np.float64)
    midpoint = low / 2.0 + high / 2.0
    return np.where((midpoint == high) | ~np.isfinite(midpoint), low, midpoint)


def fit_boosted_trees(
    train_latents: npt.ArrayLike,
    train_labels: npt.NDArray[np.int64],
    test_latents: npt.ArrayLike,
    rounds: int = 100,
    learning_rate: float = 0.1,
    max_depth: int = 3,
) -> BoostedTreesResult:
    """Boosted trees for every source (module docstring), their importances and predictions.

    Args:
        train_latents: (N_train, d) latents the trees are fitted on.
        train_labels: (N_train, K) label codes, column k in 0..C_k - 1 with every code present, C_k >= 2.
        test_latents: (N_test, d) latents to predict.
        rounds: boosting rounds.
        learning_rate: shrinkage of every tree's values.
        max_depth: depth of every tree.

    Returns:
        A `BoostedTreesResult`.

    Raises:
        ValueError: when `rounds` or `max_depth` is below 1.
    """
    if rounds < 1 or max_depth < 1:
        raise ValueError(f"`rounds` and `max_depth` must be at least 1; got {rounds} and {max_depth}.")
    # scikit-learn's trees see float32 latents.
    train = np.asarray(train_latents, dtype=np.float32)
    test = np.asarray(test_latents, dtype=np.float32)
    labels = np.asarray(train_labels, dtype=np.int64)
    num_samples, num_latents = train.shape
    num_test = test.shape[0]
    num_sources = labels.shape[1]
    num_classes = labels.max(axis=0) + 1
    binary = num_classes == 2
    trees_per_source = np.where(binary, 1, num_classes)
    tree_offsets = np.concatenate([[0], np.cumsum(trees_per_source)])
    num_trees = int(tree_offsets[-1])
    blocks = [slice(int(tree_offsets[k]), int(tree_offsets[k + 1])) for k in range(num_sources)]
    tree_source = np.repeat(np.arange(num_sources), trees_per_source)
    # Tree t of a multiclass source k fits class c = t - offset_k; a two-class source's single tree class 1.
    tree_class = np.arange(num_trees) - tree_offsets[tree_source] + binary[tree_source]
    targets = (labels[:, tree_source].T == tree_class[:, None]).astype(np.float64)  # (T, N)
    # Newton step factor: (C - 1) / C for the multinomial loss, 1 for the binomial one.
    step_factor = np.where(binary, 1.0, (num_classes - 1) / num_classes)[tree_source]

    # Initial raw scores: log priors (the multinomial link, centred), or the prior's logit.
    eps = np.finfo(np.float64).eps
    priors = np.clip(targets.mean(axis=1), eps, 1 - eps)
    initial = np.empty(num_trees)
    for source, block in enumerate(blocks):
        logs = np.log(priors[block])
        initial[block] = np.log(priors[block] / (1 - priors[block])) if binary[source] else logs - logs.mean()
    raw = np.repeat(initial[:, None], num_samples, axis=1)  # (T, N)
    raw_test = np.repeat(initial[:, None], num_test, axis=1)

    order = np.ascontiguousarray(np.argsort(train, axis=0, kind="stable").T.astype(np.int32))  # (d, N)
    sorted_values = np.ascontiguousarray(np.take_along_axis(train, order.T, axis=0).T)
    trees = np.arange(num_trees)[:, None]
    sample_offsets = np.arange(num_samples) * num_latents
    test_offsets = np.arange(num_test) * num_latents
    importance_sums = np.zeros((num_sources, num_latents))

    for _ in range(rounds):
        probabilities, residuals = _probabilities_and_residuals(raw, targets, binary, blocks)
        hessians = probabilities * (1.0 - probabilities)
        node = np.zeros((num_trees, num_samples), dtype=np.int64)
        node_test = np.zeros((num_trees, num_test), dtype=np.int64)
        importance = np.zeros((num_trees, num_latents))
        for depth in range(max_depth):
            num_nodes = 2**depth
            counts, sums, squares, _ = _node_totals(node, residuals, hessians, num_nodes)
            safe_counts = np.maximum(counts, 1)
            # scikit-learn: at least 2 samples and a residual variance above epsilon.
            variance = squares / safe_counts - (sums / safe_counts) ** 2
            splittable = (counts >= 2) & (variance > _IMPURITY_EPSILON)
            best_proxy, split_latent, left_value, right_value = _best_splits(
                order, sorted_values, node, residuals, sums, counts, splittable
            )
            splits = np.isfinite(best_proxy)
            if depth == 0:
                root_split = splits[:, 0]
            # Variance reduction n_t v_t - n_l v_l - n_r v_r = S_l^2/n_l + S_r^2/n_r - S_t^2/n_t.
            # (Non-negative in exact arithmetic; a split that gains nothing can round to -1e-19.)
            decrease = np.maximum(best_proxy[splits] - sums[splits] ** 2 / counts[splits], 0.0)
            np.add.at(importance, (np.nonzero(splits)[0], split_latent[splits]), decrease / num_samples)
            # Route: right when the value lies past the threshold; a node that does not split sends all left.
            threshold = np.where(splits, _thresholds(left_value, right_value), np.inf)
            # Flat gathers: (tree, node) -> tree * V + node, (sample, latent) -> sample * d + latent.
            flat_node = trees * num_nodes + node
            values = np.take(train, np.take(split_latent, flat_node) + sample_offsets)
            node = 2 * node + (values > np.take(threshold, flat_node))
            flat_node = trees * num_nodes + node_test
            values = np.take(test, np.take(split_latent, flat_node) + test_offsets)
            node_test = 2 * node_test + (values > np.take(threshold, flat_node))

        # Leaf values: Newton steps per leaf, then every raw score moves by learning_rate x its leaf's value.
        num_leaves = 2**max_depth
        leaf_counts, numerators, _, denominators = _node_totals(node, residuals, hessians, num_leaves)
        with np.errstate(divide="ignore", invalid="ignore"):
            leaf_values = np.where(
                np.abs(denominators / np.maximum(leaf_counts, 1.0)) < _TINY_HESSIAN,
                0.0,
                step_factor[:, None] * numerators / denominators,
            )
        raw += learning_rate * np.take(leaf_values, trees * num_leaves + node)
        raw_test += learning_rate * np.take(leaf_values, trees * num_leaves + node_test)
        # scikit-learn averages the importances of the trees that split at all.
        np.add.at(importance_sums, tree_source[root_split], importance[root_split])

    totals = importance_sums.sum(axis=1, keepdims=True)
    importances = np.where(totals > 0, importance_sums / np.where(totals > 0, totals, 1.0), 0.0).T
    return BoostedTreesResult(
        importances=importances,
        train_predictions=_predict(raw, blocks, binary),
        test_predictions=_predict(raw_test, blocks, binary),
    )


def _predict(raw: np.ndarray, blocks: list[slice], binary: np.ndarray) -> npt.NDArray[np.int64]:
    predictions = np.empty((raw.shape[1], len(blocks)), dtype=np.int64)
    for source, block in enumerate(blocks):
        scores = raw[block]
        predictions[:, source] = (scores[0] > 0).astype(np.int64) if binary[source] else scores.argmax(axis=0)
    return predictions
