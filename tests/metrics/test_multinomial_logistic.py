"""InfoE's logistic regression: the same objective, gradient and L-BFGS-B path as scikit-learn's."""

import warnings

import numpy as np
import pytest
from scipy import optimize, special
from sklearn._loss.loss import HalfMultinomialLoss
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model._linear_loss import LinearModelLoss
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.class_weight import compute_class_weight

from keras_latentquant.metrics.multinomial_logistic import (
    OneHotCodes,
    _BalancedMultinomialLoss,
    _group_latents,
    _padded,
    _shifted_tables,
    _GroupedOneHot,
    _minimize_lbfgsb,
    fit_balanced_multinomial,
)
from keras_latentquant.metrics import multinomial_logistic


def _continuous_case(num_samples=600, num_classes=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(num_classes, num_samples, p=np.linspace(1, 3, num_classes) / np.linspace(1, 3, num_classes).sum())
    features = labels[:, None] * rng.standard_normal((1, 4)) + rng.standard_normal((num_samples, 4))
    return (features - features.mean(0)) / features.std(0), labels


def _discrete_case(num_samples=600, num_classes=4, seed=1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_samples)
    codes = np.stack(
        [
            np.where(rng.random(num_samples) < 0.7, labels, rng.integers(0, num_classes, num_samples)),
            rng.integers(0, 3, num_samples),
            (labels + rng.integers(0, 2, num_samples)) % 5,
            rng.integers(0, 7, num_samples),
            rng.integers(0, 2, num_samples),
        ],
        axis=1,
    )
    return codes, labels


def _one_hot(codes):
    return OneHotEncoder().fit_transform(codes).toarray()


def _sklearn_loss_gradient(dense_features, labels, coef):
    """scikit-learn's own objective: its multinomial loss with balanced sample weights."""
    num_classes = labels.max() + 1
    sample_weight = compute_class_weight("balanced", classes=np.arange(num_classes), y=labels)[labels]
    loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=num_classes), fit_intercept=True)
    return loss.loss_gradient(coef, dense_features, labels.astype(float), sample_weight, 0.0, 1)


@pytest.mark.parametrize(
    "scale, offset", [(0.1, 0.0), (0.1, 700.0), (400.0, 0.0)], ids=["unshifted", "scalar-shift", "per-sample-shift"]
)
@pytest.mark.parametrize("kind", ["dense", "one-hot"])
def test_loss_and_gradient_equal_scikit_learns(kind, scale, offset):
    # Scores near 700 (an intercept offset) are past the unshifted range but span little; large
    # coefficients (scale 400) make them span thousands: every exponentiation path is compared.
    if kind == "dense":
        features, labels = _continuous_case()
        ours = _BalancedMultinomialLoss(features, labels)
        dense = features
    else:
        codes, labels = _discrete_case()
        ours = _BalancedMultinomialLoss(OneHotCodes(codes, codes.max(0) + 1), labels)
        dense = _one_hot(codes)
    rng = np.random.default_rng(2)
    matrix = scale * rng.standard_normal((ours.num_classes, dense.shape[1] + 1))
    matrix[:, -1] += offset
    coef = matrix.ravel(order="F")
    expected_loss, expected_gradient = _sklearn_loss_gradient(dense, labels, coef)
    loss, gradient = ours(coef)
    assert loss == pytest.approx(expected_loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(expected_gradient).max()))
    # And the probabilities are the softmax of the scores.
    weights = coef.reshape((ours.num_classes, -1), order="F")
    scores = dense @ weights[:, :-1].T + weights[:, -1]
    scores -= scores.max(axis=1, keepdims=True)
    expected_probabilities = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ours.probabilities(coef), expected_probabilities, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("kind", ["dense", "one-hot"])
@pytest.mark.parametrize("max_iter", [5, 100])
def test_fit_follows_scikit_learns_path(kind, max_iter):
    # Stopped early (5 iterations) or run to the cap, the fit must be the same point of the same path.
    if kind == "dense":
        features, labels = _continuous_case(num_classes=6)
        ours_features, sklearn_features = features, features
    else:
        codes, labels = _discrete_case()
        ours_features, sklearn_features = OneHotCodes(codes, codes.max(0) + 1), OneHotEncoder().fit_transform(codes)
    model = LogisticRegression(C=np.inf, class_weight="balanced", solver="lbfgs", max_iter=max_iter, tol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(sklearn_features, labels)
    fit = fit_balanced_multinomial(ours_features, labels, max_iter=max_iter)
    assert fit.num_iterations == model.n_iter_[0]
    assert fit.converged == (model.n_iter_[0] < max_iter)
    np.testing.assert_allclose(fit.probabilities, model.predict_proba(sklearn_features), atol=1e-7)


@pytest.mark.parametrize("max_iter", [3, 100])
def test_direct_lbfgsb_loop_equals_scipy_minimize(max_iter, monkeypatch):
    # The loop around SciPy's compiled step must visit the same points as optimize.minimize, bit for bit
    # (this is what breaks first if a SciPy release changes that step's interface).
    codes, labels = _discrete_case()
    loss = _BalancedMultinomialLoss(OneHotCodes(codes, codes.max(0) + 1), labels)
    initial = np.zeros(loss.num_classes * (loss.num_features + 1))
    visited = []

    def recording_loss(coef):
        visited.append(coef.copy())
        return loss(coef)

    solution, iterations = _minimize_lbfgsb(recording_loss, initial, max_iter, 1e-4)
    direct_points, visited = visited, []
    result = optimize.minimize(
        recording_loss, initial, method="L-BFGS-B", jac=True,
        options={"maxiter": max_iter, "maxls": 50, "gtol": 1e-4, "ftol": 64 * np.finfo(float).eps},
    )
    assert iterations == min(result.nit, max_iter) and (max_iter == 3) == (iterations == 3)
    np.testing.assert_array_equal(solution, result.x)
    assert len(direct_points) == len(visited) and all(map(np.array_equal, direct_points, visited))

    # A SciPy whose compiled step has another interface gets optimize.minimize itself.
    monkeypatch.setattr(multinomial_logistic, "_SETULB_SIGNATURE", "setulb(some, other, interface)")
    fallback_solution, fallback_iterations = _minimize_lbfgsb(loss, initial, max_iter, 1e-4)
    np.testing.assert_array_equal(fallback_solution, result.x)
    assert fallback_iterations == iterations


def test_two_classes_use_the_symmetric_multinomial():
    # Two rows fitted from zero stay exact opposites (their gradients are), and the model agrees with
    # scikit-learn's binomial fit where both have converged.
    features, labels = _continuous_case(num_classes=2)
    loss = _BalancedMultinomialLoss(features, labels)
    _, gradient = loss(np.zeros(2 * (features.shape[1] + 1)))
    rows = gradient.reshape((2, -1), order="F")
    np.testing.assert_allclose(rows[0], -rows[1], atol=1e-15)
    fit = fit_balanced_multinomial(features, labels, max_iter=1000, tol=1e-10)
    model = LogisticRegression(C=np.inf, class_weight="balanced", max_iter=1000, tol=1e-10).fit(features, labels)
    np.testing.assert_allclose(fit.probabilities, model.predict_proba(features), atol=1e-6)


def test_fit_improves_on_the_null_model():
    features, labels = _continuous_case()
    fit = fit_balanced_multinomial(features, labels)
    predicted = fit.probabilities[np.arange(labels.size), labels]
    assert -np.mean(np.log(predicted)) < 0.8 * np.log(labels.max() + 1)
    np.testing.assert_allclose(fit.probabilities.sum(axis=1), 1.0, atol=1e-12)


def test_latent_groups():
    # Consecutive latents are merged while the product of their sizes stays within the limit.
    assert _group_latents(np.array([3, 4, 5, 2, 9]), max_cells=64) == [[0, 1, 2], [3, 4]]
    assert _group_latents(np.array([100, 2, 2]), max_cells=64) == [[0], [1, 2]]
    assert _group_latents(np.array([2]), max_cells=64) == [[0]]


@pytest.mark.parametrize("weight_scale", [1.0, 40.0])
def test_grouped_loss_and_gradient_equal_the_one_hot_formula(weight_scale):
    # weight_scale 1: exp(r) as products of per-table exponentials; 40: the tables span more than 600, so
    # every sample's scores are shifted by their maximum instead.
    codes, labels = _discrete_case(num_samples=300)
    num_values = codes.max(0) + 1
    grouped = _GroupedOneHot(OneHotCodes(codes, num_values))
    assert grouped.num_groups < codes.shape[1]  # something was grouped
    dense = _one_hot(codes)
    rng = np.random.default_rng(3)
    num_classes = 5  # padded to 8 inside
    labels = labels % num_classes
    weights = weight_scale * rng.standard_normal((num_classes, dense.shape[1]))
    intercept = rng.standard_normal(num_classes)
    sample_weight = rng.random(300)
    coef = np.concatenate([weights, intercept[:, None]], axis=1).ravel(order="F")
    mass = grouped.label_mass(labels, sample_weight, _padded(num_classes))
    products = _shifted_tables(
        coef, num_classes, grouped.cell_features, grouped.first_group_cells, grouped.group_starts, mass
    )[3]
    assert products == (weight_scale == 1.0)

    loss, weight_gradient, intercept_gradient = grouped.loss_and_gradient(weights, intercept, labels, sample_weight)

    scores = dense @ weights.T + intercept
    expected_loss = sample_weight @ (special.logsumexp(scores, axis=1) - scores[np.arange(300), labels])
    residual = special.softmax(scores, axis=1)
    residual[np.arange(300), labels] -= 1.0
    residual *= sample_weight[:, None]
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    np.testing.assert_allclose(weight_gradient, residual.T @ dense, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(intercept_gradient, residual.sum(axis=0), rtol=1e-10, atol=1e-12)
