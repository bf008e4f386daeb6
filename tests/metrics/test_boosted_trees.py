"""DCI's boosted trees: hand-worked trees and scikit-learn's GradientBoostingClassifier as the reference."""

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from keras_latentquant.metrics.boosted_trees import fit_boosted_trees


def test_hand_worked_stump():
    # Two classes, prior 1/2: raw 0, p = 1/2, residuals y - p = (-1/2, -1/2, 1/2, 1/2). Latent 0 splits at
    # 1.5 into sums -1 | 1 over 2 | 2 samples: proxy 1/2 + 1/2 = 1, decrease 1 - 0 = 1. Latent 1 = (0, 1, 0, 1)
    # separates nothing (sums 0 | 0: proxy 0). Importances (1, 0); leaf values -1 / (2 * 1/4) = -2 and 2.
    latents = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, 1.0]])
    labels = np.array([[0], [0], [1], [1]])
    test = np.array([[1.4, 0.0], [1.6, 0.0]])  # either side of the threshold 1.5
    result = fit_boosted_trees(latents, labels, test, rounds=1, max_depth=1)
    np.testing.assert_array_equal(result.importances[:, 0], [1.0, 0.0])
    np.testing.assert_array_equal(result.train_predictions[:, 0], [0, 0, 1, 1])
    np.testing.assert_array_equal(result.test_predictions[:, 0], [0, 1])


def test_equal_latents_credit_the_first():
    # Two copies of one latent split the same way; the tie goes to the lower index.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (300, 1))
    latent = labels[:, 0] + 0.5 * rng.standard_normal(300)
    result = fit_boosted_trees(np.stack([latent, latent], axis=1), labels, latent[:5, None].repeat(2, 1), rounds=5)
    np.testing.assert_array_equal(result.importances[:, 0], [1.0, 0.0])


def _problem(kind, seed):
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.integers(0, 4, 500), rng.integers(0, 2, 500), rng.integers(0, 5, 500)], axis=1)
    latents = np.concatenate([labels + 0.4 * rng.standard_normal(labels.shape), rng.standard_normal((500, 1))], 1)
    if kind == "discrete":
        latents = np.round(latents * 2)
    return latents[:400], labels[:400], latents[400:], labels[400:]


@pytest.mark.parametrize(
    "kind, rounds, importance_atol, agreement",
    [("continuous", 1, 1e-12, 1.0), ("continuous", 20, 5e-3, 0.98), ("discrete", 20, 0.02, 0.98)],
)
def test_same_model_as_scikit_learn(kind, rounds, importance_atol, agreement):
    # One round on distinct values: the same trees exactly. Twenty: near-ties between splits, decided by
    # float rounding, may go either way, as between scikit-learn's own seeds; rounded latents also tie
    # exactly (two latents cutting a node the same way), where scikit-learn's seeded latent order and our
    # lowest index can pick different latents.
    train, labels, test, test_labels = _problem(kind, seed=1)
    ours = fit_boosted_trees(train, labels, test, rounds=rounds)
    for k in range(labels.shape[1]):  # a two-class source (k = 1) among multiclass ones
        model = GradientBoostingClassifier(n_estimators=rounds, random_state=0).fit(train, labels[:, k])
        np.testing.assert_allclose(ours.importances[:, k], model.feature_importances_, atol=importance_atol)
        assert np.mean(ours.train_predictions[:, k] == model.predict(train)) >= agreement
        assert np.mean(ours.test_predictions[:, k] == model.predict(test)) >= agreement


def test_boosting_fits_the_training_split():
    train, labels, test, test_labels = _problem("continuous", seed=2)
    few = fit_boosted_trees(train, labels, test, rounds=2)
    many = fit_boosted_trees(train, labels, test, rounds=30)
    assert np.mean(many.train_predictions == labels) > np.mean(few.train_predictions == labels) + 0.05
    np.testing.assert_allclose(many.importances.sum(axis=0), 1.0)


def test_rejects_empty_models():
    train, labels, test, _ = _problem("continuous", seed=3)
    with pytest.raises(ValueError, match="max_depth"):
        fit_boosted_trees(train, labels, test, max_depth=0)
