"""Tests for keras_latentquant.metrics.dci: hand-computed aggregation, known codes, invariances, checks."""

import dataclasses
import functools
import math
import warnings

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from keras_latentquant.metrics.dci import DCIResult
from keras_latentquant.metrics.dci import compute_dci
from keras_latentquant.metrics.dci import dci_from_importance
from keras_latentquant.metrics.dci import importance_matrix

FACTOR_SIZES = (4, 5, 3)
REPEATS = 20  # 60 factor combinations x 20 = 1,200 samples
MEASURES = ("gbt", "hist_gbt", "linear")


def _crossed_factors(sizes=FACTOR_SIZES, repeats=REPEATS, seed=0):
    """Every combination of factor values `repeats` times, shuffled: factors exactly independent."""
    grid = np.indices(sizes).reshape(len(sizes), -1).T
    factors = np.repeat(grid, repeats, axis=0)
    np.random.default_rng(seed).shuffle(factors)
    return factors


@pytest.fixture(scope="module")
def sources():
    return _crossed_factors()


def _one_to_one_with_noise_latents(sources, seed=1):
    """z_j = s_j + small noise for every factor, then two latents of pure noise."""
    rng = np.random.default_rng(seed)
    signal = sources + 0.1 * rng.standard_normal(sources.shape)
    return np.concatenate([signal, rng.standard_normal((len(sources), 2))], axis=1)


def _noisy_mixture(sources, seed):
    rng = np.random.default_rng(seed)
    mixing = np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.2, 0.0, 1.0], [0.5, 0.5, 0.0]])
    return sources @ mixing.T + 0.3 * rng.standard_normal((len(sources), 4))


# ----------------------------------------------------------------------------------------------------------
# dci_from_importance against hand-computed values.
# ----------------------------------------------------------------------------------------------------------


class TestAggregation:
    @pytest.mark.parametrize("size", [2, 3])
    def test_identity_is_perfect(self, size):
        assert dci_from_importance(np.eye(size)) == (pytest.approx(1.0), pytest.approx(1.0))

    @pytest.mark.parametrize("shape", [(2, 2), (3, 4)])
    def test_uniform_is_zero(self, shape):
        disentanglement, completeness = dci_from_importance(np.ones(shape))
        assert disentanglement == pytest.approx(0.0, abs=1e-12)
        assert completeness == pytest.approx(0.0, abs=1e-12)

    def test_worked_two_by_two(self):
        # R = [[1, 1], [0, 2]] (latents x sources).
        # Latent 0: p = (1/2, 1/2), 1 - H_2 = 0; latent 1: p = (0, 1), 1 - H_2 = 1;
        # rho = (2/4, 2/4) -> D = 1/2.
        # Source 0: q = (1, 0) -> 1; source 1: q = (1/3, 2/3), H_2 = log2(3) - 2/3 -> 1 - H_2 = 5/3 - log2(3).
        disentanglement, completeness = dci_from_importance([[1.0, 1.0], [0.0, 2.0]])
        assert disentanglement == pytest.approx(0.5, abs=1e-12)
        assert completeness == pytest.approx((1 + 5 / 3 - math.log2(3)) / 2, abs=1e-12)  # 0.540852

    def test_worked_three_latents_use_base_three(self):
        # R = [[1, 0], [0, 1], [0, 1]]: every latent informs one source -> D = 1.
        # Source 1 is split evenly over latents 1 and 2: H_3(0, 1/2, 1/2) = log 2 / log 3.
        disentanglement, completeness = dci_from_importance([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        assert disentanglement == pytest.approx(1.0, abs=1e-12)
        assert completeness == pytest.approx((1 + 1 - math.log(2) / math.log(3)) / 2, abs=1e-12)  # 0.684535

    def test_worked_weighting_with_an_unused_latent(self):
        # R = [[2, 2], [0, 0], [0, 4]]: rho = (1/2, 0, 1/2); latent 0 scores 0, latent 2 scores 1 -> D = 1/2.
        # Source 0: q = (1, 0, 0) -> 1. Source 1: q = (1/3, 0, 2/3), 1 - H_3 = (2/3) log 2 / log 3.
        disentanglement, completeness = dci_from_importance([[2.0, 2.0], [0.0, 0.0], [0.0, 4.0]])
        assert disentanglement == pytest.approx(0.5, abs=1e-12)
        assert completeness == pytest.approx((1 + 2 / 3 * math.log(2) / math.log(3)) / 2, abs=1e-12)

    def test_scale_and_permutation_invariance(self):
        matrix = np.array([[0.7, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.4, 0.7], [0.0, 0.0, 0.0]])
        reference = dci_from_importance(matrix)
        assert 0.1 < reference[0] < 0.9 and 0.1 < reference[1] < 0.9
        np.testing.assert_allclose(dci_from_importance(7.0 * matrix), reference, atol=1e-12)
        permuted = matrix[[2, 0, 3, 1]][:, [1, 2, 0]]
        np.testing.assert_allclose(dci_from_importance(permuted), reference, atol=1e-12)

    def test_source_without_importance_has_zero_completeness(self):
        # Source 1's column is all zeros: completeness (1 + 0) / 2; latent 0 informs only source 0: D = 1.
        assert dci_from_importance([[1.0, 0.0], [0.0, 0.0]]) == (pytest.approx(1.0), pytest.approx(0.5))

    def test_all_zero_is_zero(self):
        assert dci_from_importance(np.zeros((3, 2))) == (0.0, 0.0)

    def test_single_source_and_single_latent(self):
        h = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))  # H_2(1/4, 3/4) = 0.811278
        # K = 1: every latent is disentangled; completeness of (1/4, 3/4) over d = 2 latents.
        assert dci_from_importance([[1.0], [3.0]]) == (pytest.approx(1.0), pytest.approx(1 - h))
        # d = 1: the one latent is complete for every source; its importance splits (1/4, 3/4) over K = 2.
        assert dci_from_importance([[1.0, 3.0]]) == (pytest.approx(1 - h), pytest.approx(1.0))

    @pytest.mark.parametrize(
        "bad, match",
        [
            (np.ones(3), "2-D"),
            (np.ones((0, 2)), "2-D"),
            ([[1.0, -0.5]], "non-negative"),
            ([[1.0, np.nan]], "finite"),
            ([["a", "b"]], "real numbers"),
        ],
    )
    def test_validation(self, bad, match):
        with pytest.raises(ValueError, match=match):
            dci_from_importance(bad)


# ----------------------------------------------------------------------------------------------------------
# Known codes, both importance measures.
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("importance", MEASURES)
class TestKnownCodes:
    def test_one_to_one_code_with_noise_latents(self, sources, importance):
        result = compute_dci(sources, _one_to_one_with_noise_latents(sources), importance=importance)
        assert result.disentanglement > 0.9
        assert result.completeness > 0.9
        assert result.informativeness > 0.95
        # Each factor's importance sits on its own latent.
        np.testing.assert_array_equal(result.importance_matrix.argmax(axis=0), [0, 1, 2])

    def test_one_latent_encoding_two_factors_lowers_disentanglement(self, sources, importance):
        # z0 = s0 * |S1| + s1 carries s0 and s1, z1 = s2. Ideal R = [[1, 1, 0], [0, 0, 1]]:
        # D = (2/3)(1 - log 2 / log 3) + 1/3 = 0.579, while every factor still lives in one latent: C = 1.
        code = np.stack([sources[:, 0] * FACTOR_SIZES[1] + sources[:, 1], sources[:, 2]], axis=1)
        result = compute_dci(sources, code, importance=importance)
        expected = 2 / 3 * (1 - math.log(2) / math.log(3)) + 1 / 3
        assert result.disentanglement == pytest.approx(expected, abs=0.05)
        assert result.completeness > 0.9

    def test_rotated_code_lowers_disentanglement_and_completeness(self, importance):
        # z0 = s0 + s1, z1 = s0 - s1 (s0, s1 of equal size), z2 = s2: both rotated latents inform both factors
        # equally, R = [[1/2, 1/2, 0], [1/2, 1/2, 0], [0, 0, 1]] -> D = C = (2/3)(1 - log 2 / log 3) + 1/3.
        factors = _crossed_factors(sizes=(5, 5, 3), repeats=16)
        rotated = np.stack(
            [factors[:, 0] + factors[:, 1], factors[:, 0] - factors[:, 1], factors[:, 2]], axis=1
        )
        result = compute_dci(factors, rotated, importance=importance)
        one_to_one = compute_dci(factors, factors.astype(np.float64), importance=importance)
        assert result.disentanglement < one_to_one.disentanglement - 0.3
        assert result.completeness < one_to_one.completeness - 0.3
        expected = 2 / 3 * (1 - math.log(2) / math.log(3)) + 1 / 3
        assert result.disentanglement == pytest.approx(expected, abs=0.05)
        assert result.completeness == pytest.approx(expected, abs=0.05)

    def test_independent_noise_is_at_chance(self, sources, importance):
        rng = np.random.default_rng(3)
        result = compute_dci(sources, rng.standard_normal((len(sources), 4)), importance=importance)
        chance = np.mean([1.0 / size for size in FACTOR_SIZES])  # balanced crossed factors
        assert result.informativeness == pytest.approx(chance, abs=0.06)
        assert (result.test_accuracy < 1.0 / np.array(FACTOR_SIZES) + 0.1).all()


def test_noise_spreads_tree_importances_evenly(sources):
    # Trees fitted to noise split on every latent alike, so D and C are about 0. (The L1 model's sparse,
    # arbitrary picks make its D and C on noise meaningless, so only the trees are checked.)
    rng = np.random.default_rng(4)
    result = compute_dci(sources, rng.standard_normal((len(sources), 4)), importance="gbt")
    assert result.disentanglement < 0.2
    assert result.completeness < 0.2


def _disentanglement_lib_dci(train_sources, train_latents, test_sources, test_latents):
    """disentanglement_lib's DCI (evaluation/metrics/dci.py) transcribed: one default
    GradientBoostingClassifier per factor, |feature_importances_| as the column, entropies of the
    importances plus 1e-11, D weighted by each code's share, C by each factor's share, I the mean test
    accuracy."""
    num_latents, num_sources = train_latents.shape[1], train_sources.shape[1]
    matrix = np.zeros((num_latents, num_sources))
    accuracy = []
    for k in range(num_sources):
        model = GradientBoostingClassifier(random_state=0).fit(train_latents, train_sources[:, k])
        matrix[:, k] = np.abs(model.feature_importances_)
        accuracy.append(np.mean(model.predict(test_latents) == test_sources[:, k]))

    def one_minus_entropy(p, base):  # along axis 0, of p normalised, as scipy.stats.entropy does
        p = p / p.sum(axis=0)
        return 1.0 - (-(p * np.log(p)).sum(axis=0) / np.log(base))

    per_code = one_minus_entropy(matrix.T + 1e-11, num_sources)
    per_factor = one_minus_entropy(matrix + 1e-11, num_latents)
    d = np.sum(per_code * matrix.sum(axis=1) / matrix.sum())
    c = np.sum(per_factor * matrix.sum(axis=0) / matrix.sum())
    return matrix, d, c, np.mean(accuracy)


@functools.lru_cache(maxsize=None)
def _reference_case(case):
    rng = np.random.default_rng(21)
    factors = rng.integers(0, (5, 4, 6), size=(2000, 3))
    if case == "noisy one-to-one":
        # The case: z = s + 0.3 noise, where the histogram trees gave D 0.737 against 0.872.
        latents = factors + 0.3 * rng.standard_normal(factors.shape)
    else:
        latents = _noisy_mixture(factors, seed=22)
    train, test = slice(0, 1500), slice(1500, None)
    split = factors[train], latents[train], factors[test], latents[test]
    return split, _disentanglement_lib_dci(*split)


@pytest.mark.parametrize("case", ["noisy one-to-one", "mixed"])
def test_gbt_default_reproduces_disentanglement_lib(case):
    # The same algorithm as scikit-learn's trees; only ties between equally good splits (scikit-learn: a
    # seeded random latent order) and float rounding separate the two, as they separate scikit-learn's own
    # runs with different seeds (measured on the noisy case: importances 0.0015 apart between seeds 0 and 1;
    # ours 0.0024 from seed 0).
    (train_sources, train_latents, test_sources, test_latents), (expected, d, c, i) = _reference_case(case)
    ours = compute_dci(train_sources, train_latents, test_sources=test_sources, test_latents=test_latents)
    np.testing.assert_allclose(ours.importance_matrix, expected, atol=0.005)
    assert ours.disentanglement == pytest.approx(d, abs=0.005)
    assert ours.completeness == pytest.approx(c, abs=0.005)
    assert ours.informativeness == pytest.approx(i, abs=0.005)


def test_sklearn_gbt_is_disentanglement_lib_exactly():
    (train_sources, train_latents, test_sources, test_latents), (expected, d, c, i) = _reference_case("mixed")
    ours = compute_dci(
        train_sources, train_latents, importance="sklearn_gbt", test_sources=test_sources, test_latents=test_latents
    )
    np.testing.assert_allclose(ours.importance_matrix, expected, atol=1e-9)
    assert ours.disentanglement == pytest.approx(d, abs=1e-6)
    assert ours.completeness == pytest.approx(c, abs=1e-6)
    assert ours.informativeness == pytest.approx(i, abs=1e-12)


def test_hist_gbt_importances_near_sklearn_gradient_boosting():
    # The faster histogram trees' split-gain importances against disentanglement_lib's choice, scikit-learn's
    # GradientBoostingClassifier (100 rounds, depth 3) and its impurity importances, on a mixed code.
    factors = _crossed_factors(sizes=(3, 4), repeats=50, seed=5)
    latents = _noisy_mixture(np.concatenate([factors, factors[:, :1]], axis=1), seed=6)
    num_train = 480
    ours, _, _ = importance_matrix(
        factors[:num_train], latents[:num_train], factors[num_train:], latents[num_train:], "hist_gbt"
    )
    reference = np.stack(
        [
            GradientBoostingClassifier(random_state=0)
            .fit(latents[:num_train], factors[:num_train, k])
            .feature_importances_
            for k in range(2)
        ],
        axis=1,
    )
    # Measured: largest entry difference 0.022, D 0.621 vs 0.603, C 0.637 vs 0.658.
    np.testing.assert_allclose(ours, reference, atol=0.05)
    np.testing.assert_allclose(dci_from_importance(ours), dci_from_importance(reference), atol=0.04)


def test_linear_importances_are_normalised_mean_absolute_coefficients(sources):
    # The documented definition, rebuilt from a LogisticRegression fitted the same way: lasso penalty, saga,
    # latents standardised with the training split's statistics, R[j, k] = mean_c |W_k[c, j]| / column sum.
    latents = _noisy_mixture(sources, seed=14)
    num_train = 1000
    ours, _, _ = importance_matrix(
        sources[:num_train], latents[:num_train], sources[num_train:], latents[num_train:], "linear"
    )
    train = latents[:num_train]
    standardised = (train - train.mean(axis=0)) / train.std(axis=0)
    for k in range(3):
        model = LogisticRegression(C=0.1, l1_ratio=1.0, solver="saga", max_iter=1000, random_state=0)
        coefficients = np.abs(model.fit(standardised, sources[:num_train, k]).coef_).mean(axis=0)
        np.testing.assert_allclose(ours[:, k], coefficients / coefficients.sum(), atol=1e-6)


# ----------------------------------------------------------------------------------------------------------
# Invariances.
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("importance, atol", [("gbt", 0.02), ("linear", 1e-4)])
class TestInvariance:
    def test_permuting_latents(self, sources, importance, atol):
        latents = _noisy_mixture(sources, seed=7)
        permutation = np.array([2, 0, 3, 1])
        result = compute_dci(sources, latents, importance=importance)
        permuted = compute_dci(sources, latents[:, permutation], importance=importance)
        assert 0.1 < result.disentanglement < 0.95  # a genuinely mixed code, not a trivial 0 or 1
        np.testing.assert_allclose(
            permuted.importance_matrix, result.importance_matrix[permutation], atol=atol
        )
        for name in ("disentanglement", "completeness", "informativeness"):
            assert getattr(permuted, name) == pytest.approx(getattr(result, name), abs=atol), name

    def test_rescaling_and_shifting_latents(self, sources, importance, atol):
        # Trees see only the order of each latent's values; the linear model standardises them.
        latents = _noisy_mixture(sources, seed=8)
        result = compute_dci(sources, latents, importance=importance)
        rescaled = latents * np.array([1e-3, 5.0, 2.0, 1e4]) + 7.0
        transformed = compute_dci(sources, rescaled, importance=importance)
        np.testing.assert_allclose(transformed.importance_matrix, result.importance_matrix, atol=atol)
        assert transformed.as_dict() == pytest.approx(result.as_dict(), abs=atol)


# ----------------------------------------------------------------------------------------------------------
# Splits, result object, warnings.
# ----------------------------------------------------------------------------------------------------------


class TestSplitsAndResult:
    def test_result_fields_and_immutability(self, sources):
        result = compute_dci(sources, _one_to_one_with_noise_latents(sources))
        assert isinstance(result, DCIResult)
        scores = result.as_dict()
        assert scores == {
            "dci_d": result.disentanglement,
            "dci_c": result.completeness,
            "dci_i": result.informativeness,
        }
        assert all(type(value) is float for value in scores.values())
        assert result.importance_matrix.shape == (5, 3)
        np.testing.assert_allclose(result.importance_matrix.sum(axis=0), 1.0)
        assert result.train_accuracy.shape == result.test_accuracy.shape == (3,)
        assert result.informativeness == pytest.approx(result.test_accuracy.mean())
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.disentanglement = 0.0
        with pytest.raises(ValueError):
            result.importance_matrix[0, 0] = 0.5

    def test_same_seed_same_result_other_seed_other_split(self, sources):
        latents = _noisy_mixture(sources, seed=9)
        first = compute_dci(sources, latents, random_state=3)
        again = compute_dci(sources, latents, random_state=3)
        other = compute_dci(sources, latents, random_state=4)
        np.testing.assert_array_equal(first.importance_matrix, again.importance_matrix)
        np.testing.assert_array_equal(first.test_accuracy, again.test_accuracy)
        assert not np.array_equal(first.test_accuracy, other.test_accuracy)

    def test_test_fraction_sets_the_test_size(self, sources):
        # Accuracies are multiples of 1 / N_test: with 1,200 samples and 25%, N_test = 300.
        latents = _noisy_mixture(sources, seed=10)
        result = compute_dci(sources, latents, importance="linear", test_fraction=0.25)
        correct = result.test_accuracy * 300
        np.testing.assert_allclose(correct, np.round(correct), atol=1e-9)

    def test_explicit_test_split_is_used(self, sources):
        latents = _one_to_one_with_noise_latents(sources)
        train, test = slice(0, 900), slice(900, None)
        result = compute_dci(
            sources[train], latents[train], importance="hist_gbt", test_sources=sources[test],
            test_latents=latents[test],
        )
        assert (result.test_accuracy > 0.95).all()
        # Labels shuffled on the explicit test split only: training is unaffected, test accuracy drops.
        shuffled = np.random.default_rng(11).permutation(sources[test])
        broken = compute_dci(
            sources[train], latents[train], importance="hist_gbt", test_sources=shuffled,
            test_latents=latents[test],
        )
        np.testing.assert_array_equal(broken.train_accuracy, result.train_accuracy)
        assert (broken.test_accuracy < 0.5).all()

    def test_unconverged_linear_fit_warns(self, sources):
        with pytest.warns(ConvergenceWarning, match="did not converge"):
            compute_dci(sources, _noisy_mixture(sources, seed=12), importance="linear", logistic_max_iter=1)

    def test_converged_fits_are_quiet(self, sources):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compute_dci(sources, _noisy_mixture(sources, seed=13), importance="linear")

    def test_binary_source_and_discrete_latents(self):
        factors = _crossed_factors(sizes=(2, 3), repeats=40)
        result = compute_dci(factors, factors)  # integer latents, a 2-class source
        assert result.as_dict() == pytest.approx(
            {"dci_d": 1.0, "dci_c": 1.0, "dci_i": 1.0}, abs=1e-3
        )


class TestValidation:
    def test_unknown_importance(self, sources):
        with pytest.raises(ValueError, match="importance.*'gbt', 'sklearn_gbt', 'hist_gbt', 'linear'.*'lasso'"):
            compute_dci(sources, sources, importance="lasso")

    @pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5, None, np.nan])
    def test_test_fraction_out_of_range(self, sources, fraction):
        with pytest.raises(ValueError, match="test_fraction"):
            compute_dci(sources, sources, test_fraction=fraction)

    def test_test_fraction_leaving_no_training_sample(self):
        with pytest.raises(ValueError, match="no training sample"):
            compute_dci(np.array([[0], [1]]), np.array([[0.0], [1.0]]), test_fraction=0.9)

    def test_only_one_test_array(self, sources):
        with pytest.raises(ValueError, match="both `test_sources` and `test_latents`"):
            compute_dci(sources, sources, test_sources=sources)

    def test_mismatched_test_split(self, sources):
        with pytest.raises(ValueError, match="test_latents.*latent columns"):
            compute_dci(sources, sources, test_sources=sources, test_latents=sources[:, :2])
        with pytest.raises(ValueError, match="test_sources.*source columns"):
            compute_dci(sources, sources, test_sources=sources[:, :2], test_latents=sources)
        bad = sources.astype(np.float64)
        bad[0, 1] = np.nan
        with pytest.raises(ValueError, match="Test split.*latent column 1"):
            compute_dci(sources, sources, test_sources=sources, test_latents=bad)

    def test_malformed_inputs(self, sources):
        with pytest.raises(ValueError, match="latents.*2-D"):
            compute_dci(sources, sources[:, 0])
        with pytest.raises(ValueError, match="same number of samples"):
            compute_dci(sources, sources[:-1])
        with pytest.raises(ValueError, match="source column 2"):
            compute_dci(sources + np.array([0, 0, 0.5]), sources)

    def test_source_constant_on_training_split(self, sources):
        values = sources.copy()
        values[:, 1] = 4
        with pytest.raises(ValueError, match="Source column 1 takes a single value"):
            compute_dci(values, sources)

    @pytest.mark.parametrize(
        "option, match",
        [
            ({"boosting_rounds": 0}, "boosting_rounds"),
            ({"boosting_rounds": 2.5}, "boosting_rounds"),
            ({"boosting_rounds": None}, "boosting_rounds"),
            ({"logistic_c": 0.0}, "logistic_c"),
            ({"logistic_c": np.inf}, "logistic_c"),
            ({"logistic_c": "1"}, "logistic_c"),
            ({"logistic_max_iter": 0}, "logistic_max_iter"),
        ],
    )
    def test_bad_options(self, sources, option, match):
        with pytest.raises(ValueError, match=match):
            compute_dci(sources, sources, **option)
