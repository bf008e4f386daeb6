"""Tests for keras_latentquant.metrics.mig: hand-worked values, known codes, binning, invariances, checks."""

import dataclasses
import math

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from keras_latentquant.metrics.mig import MIGResult
from keras_latentquant.metrics.mig import compute_mig
from keras_latentquant.metrics.mig import discretize_latents
from keras_latentquant.metrics.mig import mutual_information_matrix

FACTOR_SIZES = (4, 5, 3)
REPEATS = 40  # 60 factor combinations x 40 = 2,400 samples


def _crossed_factors(sizes=FACTOR_SIZES, repeats=REPEATS, seed=0):
    """Every combination of factor values `repeats` times, shuffled: factors exactly independent."""
    grid = np.indices(sizes).reshape(len(sizes), -1).T
    factors = np.repeat(grid, repeats, axis=0)
    np.random.default_rng(seed).shuffle(factors)
    return factors


@pytest.fixture(scope="module")
def sources():
    return _crossed_factors()


def _noisy_mixture(sources, seed):
    rng = np.random.default_rng(seed)
    mixing = np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.2, 0.0, 1.0], [0.5, 0.5, 0.0]])
    return sources @ mixing.T + 0.3 * rng.standard_normal((len(sources), 4))


# ----------------------------------------------------------------------------------------------------------
# Hand-worked values.
# ----------------------------------------------------------------------------------------------------------


class TestHandWorked:
    def test_two_factor_example(self):
        # s0 and s1 crossed over 8 samples; z0 = s0; z1 = s1 except samples 2 and 6 set to 0.
        s = np.array([[0, 0], [0, 0], [0, 1], [0, 1], [1, 0], [1, 0], [1, 1], [1, 1]])
        z = np.array([[0, 0], [0, 0], [0, 0], [0, 1], [1, 0], [1, 0], [1, 0], [1, 1]])
        # I(s1; z1): p(s1, z1) = (0,0) 1/2, (1,0) 1/4, (1,1) 1/4; p(s1) = (1/2, 1/2); p(z1) = (3/4, 1/4).
        partial = (
            0.5 * math.log(0.5 / (0.5 * 0.75))
            + 0.25 * math.log(0.25 / (0.5 * 0.75))
            + 0.25 * math.log(0.25 / (0.5 * 0.25))
        )  # = 0.2158 nats
        # I(s0; z0) = H(s0) = log 2; z0 says nothing of s1, and z1 = 1 once for each value of s0:
        # I(s0; z1) = 0.
        result = compute_mig(s, z)
        np.testing.assert_allclose(
            result.mutual_information, [[math.log(2), 0.0], [0.0, partial]], atol=1e-12
        )
        np.testing.assert_allclose(result.source_entropy, [math.log(2), math.log(2)], atol=1e-12)
        # gap_0 = (log 2 - 0) / log 2 = 1; gap_1 = (0.2158 - 0) / log 2 = 0.3113; MIG = 0.6556.
        np.testing.assert_allclose(result.per_source_gap, [1.0, partial / math.log(2)], atol=1e-12)
        assert result.mig == pytest.approx((1.0 + partial / math.log(2)) / 2, abs=1e-12)

    def test_skewed_source_is_normalised_by_its_entropy(self):
        # s = (0, 0, 1, 2): p(s) = (1/2, 1/4, 1/4), H(s) = 1.5 log 2 (not log 3). z0 merges values 1 and 2:
        # I(s; z0) = H(z0) = log 2. z1 = (0, 1, 0, 1): p(s, z1) = 1/4 on (0,0), (0,1), (1,0), (2,1), so
        # I(s; z1) = 2 * (1/4) log((1/4) / (1/4 * 1/2)) = 0.5 log 2.
        # Gap = (log 2 - 0.5 log 2) / (1.5 log 2) = 1/3.
        s = np.array([[0], [0], [1], [2]])
        z = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
        result = compute_mig(s, z)
        np.testing.assert_allclose(result.source_entropy, [1.5 * math.log(2)], atol=1e-12)
        np.testing.assert_allclose(result.mutual_information, [[math.log(2), 0.5 * math.log(2)]], atol=1e-12)
        assert result.mig == pytest.approx(1 / 3, abs=1e-12)

    def test_matches_sklearn_mutual_info_score(self, sources):
        # Plug-in MI in nats is what sklearn.metrics.mutual_info_score computes from two label vectors.
        latents = _noisy_mixture(sources, seed=1)
        codes = discretize_latents(latents)
        expected = [[mutual_info_score(sources[:, k], codes[:, j]) for j in range(4)] for k in range(3)]
        np.testing.assert_allclose(mutual_information_matrix(sources, latents), expected, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Discretisation.
# ----------------------------------------------------------------------------------------------------------


class TestDiscretisation:
    def test_equal_width_bins_like_histogram_and_digitize(self):
        # disentanglement_lib's rule: np.digitize(z, np.histogram(z, num_bins)[1][:-1]), codes 1..num_bins.
        rng = np.random.default_rng(2)
        latents = np.concatenate(
            [rng.standard_normal((500, 2)), rng.exponential(size=(500, 1)) * 1e3], axis=1
        )
        for num_bins in (5, 20):
            expected = np.stack(
                [np.digitize(column, np.histogram(column, num_bins)[1][:-1]) - 1 for column in latents.T],
                axis=1,
            )
            np.testing.assert_array_equal(discretize_latents(latents, num_bins), expected)

    def test_maximum_falls_in_last_bin(self):
        codes = discretize_latents(np.linspace(0.0, 1.0, 41)[:, None], num_bins=20)
        assert codes.min() == 0 and codes.max() == 19
        assert codes[-1, 0] == 19 and codes[-2, 0] == 19

    def test_few_distinct_values_are_binned_by_default(self):
        # disentanglement_lib bins every latent: 0 and 0.01 share the first of 20 bins over [0, 5].
        latents = np.array([[0.0], [0.01], [5.0], [0.01], [0.0]])
        np.testing.assert_array_equal(discretize_latents(latents)[:, 0], [0, 0, 19, 0, 0])
        expected = np.digitize(latents[:, 0], np.histogram(latents[:, 0], 20)[1][:-1]) - 1
        np.testing.assert_array_equal(discretize_latents(latents)[:, 0], expected)

    def test_distinct_keeps_few_values_as_they_are(self):
        # 3 distinct, unevenly spaced values: equal-width bins would merge 0 and 0.01; kept, they stay apart.
        latents = np.array([[0.0], [0.01], [5.0], [0.01], [0.0]])
        np.testing.assert_array_equal(discretize_latents(latents, discretization="distinct")[:, 0], [0, 1, 2, 1, 0])
        # Exactly num_bins distinct values are kept too; one more is binned.
        squares = np.arange(20.0)[:, None] ** 2
        np.testing.assert_array_equal(discretize_latents(squares, discretization="distinct")[:, 0], np.arange(20))
        assert discretize_latents(np.arange(21.0)[:, None] ** 2, discretization="distinct")[:, 0].max() == 19
        # MIG of a code whose informative latent has unevenly spaced values: the two rules differ.
        sources = np.repeat(np.arange(4), 5)[:, None]
        code = np.stack([np.array([0.0, 1.0, 2.0, 100.0])[sources[:, 0]], np.zeros(20)], axis=1)
        assert compute_mig(sources, code, discretization="distinct").mig == pytest.approx(1.0)
        # Binned, values 0, 1 and 2 share a bin: I = H(1/4, 3/4) = 0.5623 nats of H = log 4.
        binned = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)) / math.log(4)
        assert compute_mig(sources, code).mig == pytest.approx(binned, abs=1e-12)
        with pytest.raises(ValueError, match="discretization"):
            compute_mig(sources, code, discretization="quantile")

    def test_many_valued_factor_is_capped_by_the_bins(self):
        # A uniform 40-valued factor through 20 equal-width bins: each bin holds 2 values exactly, so the
        # best latent keeps log 20 of the log 40 nats: MIG = log 20 / log 40 = 0.812, not 1.
        factors = _crossed_factors(sizes=(40, 3), repeats=5, seed=3)
        result = compute_mig(factors, factors.astype(np.float64))
        assert result.per_source_gap[0] == pytest.approx(math.log(20) / math.log(40), abs=1e-12)
        assert result.per_source_gap[1] == pytest.approx(1.0, abs=1e-12)
        # With 40 bins the same code scores 1.
        wider = compute_mig(factors, factors.astype(np.float64), num_bins=40)
        assert wider.mig == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Known codes.
# ----------------------------------------------------------------------------------------------------------


class TestKnownCodes:
    def test_one_to_one_discrete_code_is_one(self, sources):
        relabelled = np.stack([(sources[:, j] * 7 + 3) for j in range(3)], axis=1)  # labels do not matter
        result = compute_mig(sources, relabelled)
        assert result.mig == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(result.per_source_gap, 1.0, atol=1e-12)

    def test_one_to_one_continuous_code_is_near_one(self, sources):
        # Factors with <= 20 values and small noise: the equal-width bins keep the values apart.
        rng = np.random.default_rng(4)
        latents = np.concatenate(
            [sources + 0.05 * rng.standard_normal(sources.shape), rng.standard_normal((len(sources), 2))],
            axis=1,
        )
        result = compute_mig(sources, latents)
        assert result.mig > 0.9
        np.testing.assert_array_equal(result.mutual_information.argmax(axis=1), [0, 1, 2])

    def test_duplicating_the_best_latent_gives_zero(self, sources):
        # Top-2 equals top-1 for every source whose best latent is duplicated.
        latents = np.concatenate([sources, sources[:, :1]], axis=1)
        result = compute_mig(sources, latents)
        np.testing.assert_allclose(result.per_source_gap, [0.0, 1.0, 1.0], atol=1e-12)
        fully_duplicated = compute_mig(sources, np.concatenate([sources, sources], axis=1).astype(np.float64))
        assert fully_duplicated.mig == pytest.approx(0.0, abs=1e-12)

    def test_independent_noise_is_near_zero(self, sources):
        rng = np.random.default_rng(5)
        result = compute_mig(sources, rng.standard_normal((len(sources), 4)))
        assert result.mig < 0.02
        assert result.mutual_information.max() < 0.03

    def test_exactly_independent_latent_has_zero_mutual_information(self):
        factors = _crossed_factors(sizes=(3, 4, 5), repeats=4)
        result = compute_mig(factors[:, :2], factors)
        np.testing.assert_array_equal(result.mutual_information[:, 2], 0.0)
        assert result.mig == pytest.approx(1.0, abs=1e-12)

    def test_mixed_code_is_in_between(self, sources):
        result = compute_mig(sources, _noisy_mixture(sources, seed=6))
        assert 0.05 < result.mig < 0.8


# ----------------------------------------------------------------------------------------------------------
# Invariances.
# ----------------------------------------------------------------------------------------------------------


class TestInvariance:
    def test_permuting_latents(self, sources):
        latents = _noisy_mixture(sources, seed=7)
        permutation = np.array([2, 0, 3, 1])
        result = compute_mig(sources, latents)
        permuted = compute_mig(sources, latents[:, permutation])
        np.testing.assert_allclose(
            permuted.mutual_information, result.mutual_information[:, permutation], atol=1e-12
        )
        assert permuted.mig == pytest.approx(result.mig, abs=1e-12)

    def test_rescaling_and_shifting_latents(self, sources):
        latents = _noisy_mixture(sources, seed=8)
        result = compute_mig(sources, latents)
        # Powers of two keep the bin edges' floating-point arithmetic exact, so no sample changes bin.
        transformed = compute_mig(sources, latents * np.array([0.125, 4.0, 1.0, 1024.0]) + 8.0)
        np.testing.assert_allclose(transformed.mutual_information, result.mutual_information, atol=1e-12)
        # Arbitrary scales may move a sample lying on a bin edge by one bin: nearly equal.
        scaled = compute_mig(sources, latents * np.array([1e-3, 3.7, 0.3, 1e4]) - 5.0)
        assert scaled.mig == pytest.approx(result.mig, abs=1e-3)


# ----------------------------------------------------------------------------------------------------------
# Result object and validation.
# ----------------------------------------------------------------------------------------------------------


class TestResult:
    def test_as_dict_and_immutability(self, sources):
        result = compute_mig(sources, sources)
        assert isinstance(result, MIGResult)
        assert result.as_dict() == {"mig": 1.0}
        assert type(result.as_dict()["mig"]) is float
        assert result.mutual_information.shape == (3, 3)
        assert result.per_source_gap.shape == result.source_entropy.shape == (3,)
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.mig = 0.0
        with pytest.raises(ValueError):
            result.mutual_information[0, 0] = 0.5

    def test_docstring_example(self):
        s = np.indices((3, 4)).reshape(2, -1).T
        assert compute_mig(s, s).as_dict()["mig"] == 1.0


class TestValidation:
    def test_fewer_than_two_latents(self, sources):
        with pytest.raises(ValueError, match="at least 2 latents.*got 1"):
            compute_mig(sources, sources[:, :1])

    @pytest.mark.parametrize("num_bins", [0, 1, 2.5, True, None, np.inf, "20"])
    def test_bad_num_bins(self, sources, num_bins):
        with pytest.raises(ValueError, match="num_bins"):
            compute_mig(sources, sources, num_bins=num_bins)
        with pytest.raises(ValueError, match="num_bins"):
            discretize_latents(sources, num_bins=num_bins)

    def test_constant_source(self, sources):
        values = sources.copy()
        values[:, 2] = 1
        with pytest.raises(ValueError, match="Source column 2 is constant"):
            compute_mig(values, sources)

    def test_malformed_inputs(self, sources):
        with pytest.raises(ValueError, match="latents.*2-D"):
            compute_mig(sources, sources[:, 0])
        with pytest.raises(ValueError, match="sources.*2-D"):
            compute_mig(sources[:, 0], sources)
        with pytest.raises(ValueError, match="same number of samples"):
            compute_mig(sources, sources[:-1])
        latents = sources.astype(np.float64)
        latents[3, 1] = np.inf
        with pytest.raises(ValueError, match="latent column 1"):
            compute_mig(sources, latents)
        with pytest.raises(ValueError, match="source column 0"):
            compute_mig(sources + np.array([0.5, 0, 0]), sources)
