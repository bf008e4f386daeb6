"""The sorting k-NN mutual information estimator against scikit-learn's tree-based one, value for value."""

import numpy as np
import pytest
from scipy.special import digamma
from sklearn.feature_selection import mutual_info_classif

from keras_latentquant.metrics.knn_mutual_information import jitter_like_sklearn, knn_mutual_information


def _case(name, rng):
    n = 600
    labels = rng.integers(0, 5, size=n)
    if name == "continuous":
        latents = np.stack([labels + 0.7 * rng.normal(size=n), rng.normal(size=n), np.sin(labels) + 0.1 * rng.normal(size=n)], 1)
    elif name == "ties":  # few distinct values: ties everywhere, broken by the jitter only
        latents = np.stack([labels // 2, rng.integers(0, 3, size=n), labels], 1).astype(float)
    elif name == "small classes":  # a label seen once (dropped) and labels with fewer than k + 1 samples
        labels = np.concatenate([rng.integers(0, 3, size=n - 9), [7], [8, 8, 8], [9, 9, 9, 9, 9]])
        latents = np.stack([labels + rng.normal(size=n), rng.uniform(size=n)], 1)
    else:
        raise ValueError(name)
    return latents, labels


def _ross_by_brute_force(latents, labels, n_neighbors):
    """Ross (2014) for one column, straight from its definition: all pairwise distances, exact."""
    keep = np.array([np.sum(labels == label) > 1 for label in labels])
    x, labels = latents[keep], labels[keep]
    distances = np.abs(x[:, None] - x[None, :])
    terms = []
    for n in range(len(x)):
        same = labels == labels[n]
        k = min(n_neighbors, same.sum() - 1)
        radius = np.sort(distances[n, same])[k]  # [0] is the point itself
        m = np.sum(distances[n] < radius)  # strictly closer, itself included
        terms.append((k, same.sum(), m))
    k, counts, m = np.array(terms).T
    return max(0.0, digamma(len(x)) + np.mean(digamma(k)) - np.mean(digamma(counts)) - np.mean(digamma(m)))


@pytest.mark.parametrize("name", ["continuous", "ties", "small classes"])
@pytest.mark.parametrize("n_neighbors", [1, 3, 10])
def test_equals_ross_definition_and_scikit_learn(name, n_neighbors):
    latents, labels = _case(name, np.random.default_rng(len(name) + n_neighbors))
    jittered = jitter_like_sklearn(latents, 4)
    ours = knn_mutual_information(jittered, labels, n_neighbors)
    by_definition = [_ross_by_brute_force(jittered[:, j], labels, n_neighbors) for j in range(latents.shape[1])]
    np.testing.assert_allclose(ours, by_definition, rtol=1e-12, atol=1e-14)
    assert ours[0] > 0.1
    expected = mutual_info_classif(latents, labels, discrete_features=False, n_neighbors=n_neighbors, random_state=4)
    if name == "small classes" and n_neighbors > 1:
        # For a label with at most 2k + 1 samples scikit-learn finds neighbours by brute force, with distances
        # from |x|^2 - 2xy + |y|^2: rounding can put the radius a hair above the k-th neighbour, which is then
        # counted in m. Ours uses exact distances. A handful of points of 600 move; on InfoMEC's sizes the
        # effect is below 1e-4 (see the module docstring).
        np.testing.assert_allclose(ours, expected, atol=0.01)
    else:
        np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


def test_by_hand_on_a_tiny_case():
    # Two labels, three points each, k = 1. Values: label 0 at 0, 1, 3; label 1 at 10, 11, 13.
    # Same-label nearest distances: 1, 1, 2 (both labels). Within those radii (strictly closer than the
    # neighbour) only the point itself lies: m = 1 everywhere. I = psi(6) + psi(1) - psi(3) - psi(1).
    latents = np.array([[0.0], [1.0], [3.0], [10.0], [11.0], [13.0]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    expected = digamma(6) - digamma(3)
    np.testing.assert_allclose(knn_mutual_information(latents, labels, 1), [expected], rtol=1e-12)


def test_several_label_columns_at_once_equal_one_at_a_time():
    # One sort per latent column serves every label column; a label seen once in one column only.
    rng = np.random.default_rng(8)
    labels = np.stack([rng.integers(0, 4, 300), rng.integers(0, 7, 300)], 1)
    labels[0, 1] = 99
    latents = jitter_like_sklearn(np.stack([labels[:, 0] + rng.normal(size=300), rng.normal(size=300)], 1), 2)
    together = knn_mutual_information(latents, labels, 5)
    assert together.shape == (2, 2)
    for i in range(2):
        np.testing.assert_array_equal(together[i], knn_mutual_information(latents, labels[:, i], 5))
        np.testing.assert_allclose(
            together[i], [_ross_by_brute_force(latents[:, j], labels[:, i], 5) for j in range(2)], rtol=1e-12
        )
