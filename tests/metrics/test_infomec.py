"""Tests for keras_latentquant.metrics.infomec: known answers, invariances, edge cases and validation."""

import dataclasses
import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from keras_latentquant.metrics import infomec
from keras_latentquant.metrics.infomec import InfoMECResult
from keras_latentquant.metrics.infomec import active_latents
from keras_latentquant.metrics.infomec import compute_infoc
from keras_latentquant.metrics.infomec import compute_infoe
from keras_latentquant.metrics.infomec import compute_infom
from keras_latentquant.metrics.infomec import compute_infomec
from keras_latentquant.metrics.infomec import nmi_matrix

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


# ----------------------------------------------------------------------------------------------------------
# Plug-in NMI against hand-computed values.
# ----------------------------------------------------------------------------------------------------------


class TestDiscreteNMI:
    def test_independent_two_by_two_is_zero(self):
        s = np.array([[0], [0], [1], [1]])
        z = np.array([[0], [1], [0], [1]])
        np.testing.assert_allclose(nmi_matrix(s, z, discrete_latents=True), [[0.0]], atol=1e-12)

    def test_identical_is_one(self):
        s = np.array([[0], [0], [1], [1]])
        np.testing.assert_allclose(nmi_matrix(s, s, discrete_latents=True), [[1.0]], atol=1e-12)

    def test_partial_two_by_two(self):
        # p(s, z): (0,0) = 1/2, (1,0) = 1/4, (1,1) = 1/4; p(s) = (1/2, 1/2); p(z) = (3/4, 1/4).
        s = np.array([[0], [0], [1], [1]])
        z = np.array([[0], [0], [0], [1]])
        mutual_information = (
            0.5 * math.log(0.5 / (0.5 * 0.75))
            + 0.25 * math.log(0.25 / (0.5 * 0.75))
            + 0.25 * math.log(0.25 / (0.5 * 0.25))
        )  # = 0.2158 nats
        expected = mutual_information / math.log(2.0)
        np.testing.assert_allclose(nmi_matrix(s, z, discrete_latents=True), [[expected]], rtol=1e-12)
        assert 0.31 < expected < 0.32

    def test_three_by_three(self):
        # Six equally likely cells, two in each row and column: p(s,z) = 1/6, p(s) = p(z) = 1/3,
        # I = 6 * 1/6 * log((1/6) / (1/9)) = log(3/2); H(s) = log 3.
        s = np.array([[0], [0], [1], [1], [2], [2]])
        z = np.array([[0], [1], [1], [2], [2], [0]])
        expected = math.log(1.5) / math.log(3.0)
        np.testing.assert_allclose(nmi_matrix(s, z, discrete_latents=True), [[expected]], rtol=1e-12)

    def test_labels_are_arbitrary_values(self):
        s = np.array([[0], [0], [1], [1]])
        z = np.array([[0], [0], [0], [1]])
        relabelled_sources = np.array([[-7], [-7], [1000], [1000]])
        float_latents = np.array([[0.25], [0.25], [0.25], [-3.5]])
        np.testing.assert_allclose(
            nmi_matrix(relabelled_sources, float_latents, discrete_latents=True),
            nmi_matrix(s, z, discrete_latents=True),
            rtol=1e-12,
        )

    def test_matrix_layout_is_sources_by_latents(self, sources):
        latents = np.stack([sources[:, 2], sources[:, 0]], axis=1)
        nmi = nmi_matrix(sources, latents, discrete_latents=True)
        assert nmi.shape == (3, 2)
        np.testing.assert_allclose(nmi, [[0, 1], [0, 0], [1, 0]], atol=1e-12)

    def test_sparse_histogram_path_matches_dense(self):
        rng = np.random.default_rng(3)
        codes = np.stack([rng.integers(0, 7, 500), rng.integers(0, 400, 500)], axis=1)
        codes, num_values = infomec._label_encode_columns(codes)
        dense = infomec._column_entropies(codes, num_values, max_dense_cells=10**9)
        occupied_only = infomec._column_entropies(codes, num_values, max_dense_cells=0)
        np.testing.assert_allclose(dense, occupied_only, rtol=1e-12)
        expected = [
            -sum(p * math.log(p) for p in np.unique(column, return_counts=True)[1] / 500)
            for column in codes.T
        ]
        np.testing.assert_allclose(dense, expected, rtol=1e-12)

    @pytest.mark.parametrize(
        "values, sort_free",
        [
            (np.tile(np.array([[-100, 5], [100, 5], [0, 6], [-100, 7]], dtype=np.int8), (60, 1)), True),  # range > int8
            (np.array([[2**64 - 1, 0], [2**64 - 3, 1], [2**64 - 1, 1]], dtype=np.uint64), True),
            (np.array([[-(2**63), 3], [2**63 - 1, 3], [0, 3]], dtype=np.int64), False),  # too wide: sorted instead
            (np.array([[True, False], [False, False], [True, False]]), True),
            (np.random.default_rng(0).integers(-3, 9, size=(200, 5)), True),
            (np.array([[0], [3], [1], [1]]), True),  # the ranges' cells (4) equal the entries (4): the bound
            (np.array([[0], [4], [1], [1]]), False),  # one cell more than the entries: sorted
            (np.random.default_rng(1).normal(size=(50, 3)), False),  # floats: sorted
        ],
        ids=["int8", "uint64-top", "int64-extremes", "bool", "small-ints", "at-bound", "past-bound", "floats"],
    )
    def test_label_encoding_equals_np_unique(self, values, sort_free):
        # Integer (and boolean) columns whose ranges hold no more cells than the array has entries are encoded
        # without sorting; the rest are sorted. Both give np.unique's codes.
        as_integers = values.astype(np.int8) if values.dtype == np.bool_ else values
        small = infomec._label_encode_small_integers(as_integers) if as_integers.dtype.kind in "iu" else None
        assert (small is not None) == sort_free
        codes, num_values = infomec._label_encode_columns(values)
        for j in range(values.shape[1]):
            distinct, inverse = np.unique(values[:, j], return_inverse=True)
            np.testing.assert_array_equal(codes[:, j], inverse.ravel())
            assert num_values[j] == distinct.size

    def test_all_distinct_latent_carries_every_source(self, sources):
        # A latent with a distinct value per sample identifies every sample; the histogram is large.
        latents = np.arange(len(sources))[:, None]
        np.testing.assert_allclose(nmi_matrix(sources, latents, discrete_latents=True), 1.0, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Active latents.
# ----------------------------------------------------------------------------------------------------------


class TestActiveLatents:
    def test_discrete_range_above_zero(self):
        latents = np.array([[3, 0, 1], [3, 0, 2], [3, 1, 2]])
        np.testing.assert_array_equal(active_latents(latents, discrete_latents=True), [False, True, True])

    def test_continuous_range_above_one_twentieth_of_max(self):
        # Ranges 10, 0.4, 0.6, 0.5, 0: the threshold is 10 / 20 = 0.5, strictly exceeded.
        latents = np.array(
            [
                [0.0, 1.0, 2.0, 0.0, 7.0],
                [10.0, 1.4, 2.6, 0.5, 7.0],
                [5.0, 1.2, 2.3, 0.25, 7.0],
            ]
        )
        np.testing.assert_array_equal(
            active_latents(latents, discrete_latents=False), [True, False, True, False, False]
        )

    def test_discrete_ignores_the_continuous_threshold(self):
        latents = np.array([[0.0, 0.0], [10.0, 0.1]])
        np.testing.assert_array_equal(active_latents(latents, discrete_latents=True), [True, True])

    def test_all_constant(self):
        latents = np.ones((5, 3))
        assert not active_latents(latents, discrete_latents=False).any()
        assert not active_latents(latents, discrete_latents=True).any()


# ----------------------------------------------------------------------------------------------------------
# InfoM / InfoC from NMI matrices, worked by hand.
# ----------------------------------------------------------------------------------------------------------


class TestModularityCompactness:
    def test_identity_gives_one(self):
        assert compute_infom(np.eye(3)) == pytest.approx(1.0)
        assert compute_infoc(np.eye(3)) == pytest.approx(1.0)

    def test_uniform_gives_zero(self):
        assert compute_infom(np.full((3, 4), 0.5)) == pytest.approx(0.0)
        assert compute_infoc(np.full((3, 4), 0.5)) == pytest.approx(0.0)

    def test_hand_computed_matrix(self):
        nmi = np.array([[0.8, 0.2], [0.0, 0.6]])
        # Latent ratios: 0.8 / 0.8 = 1, 0.6 / 0.8 = 0.75 -> mean 0.875 -> (0.875 - 1/2) / (1/2) = 0.75.
        assert compute_infom(nmi) == pytest.approx(0.75)
        # Source ratios: 0.8 / 1.0 = 0.8, 0.6 / 0.6 = 1 -> mean 0.9 -> (0.9 - 1/2) / (1/2) = 0.8.
        assert compute_infoc(nmi) == pytest.approx(0.8)

    def test_uninformative_latent_counts_as_zero_modularity(self):
        # Latent 2 informs no source: ratio 1/K = 1/2, i.e. 0 after rescaling; InfoM = (1 + 1 + 0) / 3.
        nmi = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        assert compute_infom(nmi) == pytest.approx(2.0 / 3.0)
        assert compute_infoc(nmi) == pytest.approx(1.0)

    def test_uninformed_source_counts_as_zero_compactness(self):
        nmi = np.array([[1.0, 0.0], [0.0, 0.0]])
        assert compute_infoc(nmi) == pytest.approx(0.5)

    def test_single_source_or_single_latent(self):
        assert compute_infom(np.array([[0.3, 0.5]])) == 1.0
        assert compute_infoc(np.array([[0.3], [0.5]])) == 1.0

    def test_rejects_bad_matrices(self):
        with pytest.raises(ValueError, match="nmi"):
            compute_infom(np.ones(3))
        with pytest.raises(ValueError, match="non-negative"):
            compute_infoc(np.array([[-0.1, 0.5]]))


# ----------------------------------------------------------------------------------------------------------
# compute_infomec: known answers.
# ----------------------------------------------------------------------------------------------------------


class TestOneToOne:
    def test_discrete_identity(self, sources):
        result = compute_infomec(sources, sources)
        assert result.infom == pytest.approx(1.0, abs=1e-6)
        assert result.infoc == pytest.approx(1.0, abs=1e-6)
        assert result.infoe > 0.95
        np.testing.assert_allclose(result.nmi, np.eye(3), atol=1e-12)

    def test_discrete_permuted_relabelling(self, sources):
        rng = np.random.default_rng(1)
        relabellings = [rng.permutation(size) * 3 + 100 for size in FACTOR_SIZES]
        latents = np.stack([relabellings[j][sources[:, j]] for j in range(3)], axis=1)
        result = compute_infomec(sources, latents)
        assert result.infom == pytest.approx(1.0, abs=1e-6)
        assert result.infoc == pytest.approx(1.0, abs=1e-6)
        assert result.infoe > 0.95
        assert result.infoe_per_source.shape == (3,)
        assert (result.infoe_per_source > 0.95).all()

    def test_discrete_with_constant_extra_latents(self, sources):
        constants = np.full((len(sources), 3), 5)
        # Interleave: real, constant, real, constant, real, constant.
        latents = np.stack(
            [sources[:, 0], constants[:, 0], sources[:, 1], constants[:, 1], sources[:, 2], constants[:, 2]],
            axis=1,
        )
        result = compute_infomec(sources, latents)
        np.testing.assert_array_equal(result.active, [True, False, True, False, True, False])
        assert result.nmi.shape == (3, 6)
        np.testing.assert_allclose(result.nmi[:, 1::2], 0.0, atol=1e-12)
        assert result.infom == pytest.approx(1.0, abs=1e-6)
        assert result.infoc == pytest.approx(1.0, abs=1e-6)
        assert result.infoe > 0.95

    def test_continuous_noisy_identity(self, sources):
        rng = np.random.default_rng(2)
        latents = sources + 0.1 * rng.standard_normal(sources.shape)
        result = compute_infomec(sources, latents)
        assert result.infom > 0.9
        assert result.infoc > 0.9
        assert result.infoe > 0.9

    def test_continuous_monotone_nonlinear_map(self, sources):
        rng = np.random.default_rng(3)
        latents = np.exp(sources / 2.0) + 0.01 * rng.standard_normal(sources.shape)
        result = compute_infomec(sources, latents, discrete_latents=False)
        assert result.infom > 0.9
        assert result.infoc > 0.9
        assert result.infoe > 0.9

    def test_continuous_with_collapsed_latent(self, sources):
        rng = np.random.default_rng(4)
        collapsed = 1e-3 * rng.standard_normal((len(sources), 1))  # range far below max range / 20
        latents = np.concatenate([sources + 0.1 * rng.standard_normal(sources.shape), collapsed], axis=1)
        result = compute_infomec(sources, latents)
        np.testing.assert_array_equal(result.active, [True, True, True, False])
        assert result.infom > 0.9
        assert result.infoc > 0.9


class TestIndependentNoise:
    def test_continuous_noise(self):
        rng = np.random.default_rng(5)
        sources = rng.integers(0, 6, size=(4000, 3))
        latents = rng.standard_normal((4000, 4))
        result = compute_infomec(sources, latents)
        assert result.active.all()
        assert result.nmi.max() < 0.02
        assert result.infoe < 0.05
        assert (result.infoe_per_source < 0.05).all()

    def test_discrete_noise(self):
        rng = np.random.default_rng(6)
        sources = rng.integers(0, 6, size=(4000, 3))
        latents = rng.integers(0, 5, size=(4000, 4))
        result = compute_infomec(sources, latents)
        assert result.nmi.max() < 0.02
        assert result.infoe < 0.05

    def test_exactly_independent_latent_has_zero_nmi(self):
        # The fourth factor is independent of the three sources by construction (fully crossed grid):
        # its NMI column is exactly 0, so it contributes 0 to InfoM: (1 + 1 + 1 + 0) / 4 = 0.75.
        factors = _crossed_factors(sizes=(3, 4, 2, 5), repeats=10)
        result = compute_infomec(factors[:, :3], factors)
        np.testing.assert_array_equal(result.nmi[:, 3], 0.0)
        assert result.infom == pytest.approx(0.75, abs=1e-9)
        assert result.infoc == pytest.approx(1.0, abs=1e-9)


class TestMixedCode:
    def test_two_factors_in_one_discrete_latent(self, sources):
        # z0 = s0 * |S1| + s1 carries s0 and s1; z1 = s1, z2 = s2. NMI = [[1,0,0],[1,1,0],[0,0,1]]:
        # latent ratios 1/2, 1, 1 -> 5/6 -> (5/6 - 1/3) / (2/3) = 0.75; source ratios 1, 1/2, 1 -> 0.75.
        mixed = np.stack(
            [sources[:, 0] * FACTOR_SIZES[1] + sources[:, 1], sources[:, 1], sources[:, 2]], axis=1
        )
        result = compute_infomec(sources, mixed)
        one_to_one = compute_infomec(sources, sources)
        np.testing.assert_allclose(result.nmi, [[1, 0, 0], [1, 1, 0], [0, 0, 1]], atol=1e-12)
        assert result.infom == pytest.approx(0.75, abs=1e-9)
        assert result.infoc == pytest.approx(0.75, abs=1e-9)
        assert result.infom < one_to_one.infom - 0.2
        # Every source is still linearly decodable from the one-hot latents.
        assert result.infoe > 0.95

    def test_all_factors_in_one_latent(self, sources):
        # A single active latent: InfoC is 1 by convention, InfoM is 0 (one latent shared by all sources).
        code = np.ravel_multi_index(tuple(sources.T), FACTOR_SIZES)[:, None]
        result = compute_infomec(sources, code)
        assert result.infoc == 1.0
        assert result.infom == pytest.approx(0.0, abs=1e-9)


# ----------------------------------------------------------------------------------------------------------
# Invariances.
# ----------------------------------------------------------------------------------------------------------


def _noisy_mixture(sources, seed):
    rng = np.random.default_rng(seed)
    mixing = np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.2, 0.0, 1.0], [0.5, 0.5, 0.0]])
    return sources @ mixing.T + 0.3 * rng.standard_normal((len(sources), 4))


def _assert_scores_close(first, second, atol):
    for name in ("infom", "infoe", "infoc"):
        assert getattr(first, name) == pytest.approx(getattr(second, name), abs=atol), name


class TestInvariance:
    def test_permuting_continuous_latents(self, sources):
        latents = _noisy_mixture(sources, seed=7)
        permutation = np.array([2, 0, 3, 1])
        result = compute_infomec(sources, latents)
        permuted = compute_infomec(sources, latents[:, permutation])
        np.testing.assert_allclose(permuted.nmi, result.nmi[:, permutation], atol=1e-6)
        np.testing.assert_array_equal(permuted.active, result.active[permutation])
        _assert_scores_close(result, permuted, atol=1e-4)
        assert 0.05 < result.infom < 0.95  # a genuinely mixed code, not a trivial 0 or 1

    def test_permuting_discrete_latents(self, sources):
        latents = np.round(_noisy_mixture(sources, seed=8)).astype(np.int64)
        permutation = np.array([3, 1, 0, 2])
        result = compute_infomec(sources, latents)
        permuted = compute_infomec(sources, latents[:, permutation])
        np.testing.assert_allclose(permuted.nmi, result.nmi[:, permutation], atol=1e-12)
        _assert_scores_close(result, permuted, atol=1e-4)

    def test_rescaling_and_shifting_continuous_latents(self, sources):
        latents = _noisy_mixture(sources, seed=9)
        result = compute_infomec(sources, latents)
        # A common scale with per-latent shifts, then per-latent scales that keep every latent active.
        for scale in (np.full(4, 1e-3), np.full(4, 1e4), np.array([0.5, 2.0, 1.0, 3.0])):
            shift = np.array([10.0, -3.0, 1e3, 0.0])
            transformed = compute_infomec(sources, latents * scale + shift)
            np.testing.assert_array_equal(transformed.active, result.active)
            np.testing.assert_allclose(transformed.nmi, result.nmi, atol=1e-6)
            _assert_scores_close(result, transformed, atol=1e-4)

    def test_per_latent_rescaling_can_deactivate_a_latent(self, sources):
        # The active-latent rule compares ranges across latents, so it is not invariant to shrinking one
        # latent by more than 20x relative to the others: that latent is pruned.
        latents = _noisy_mixture(sources, seed=9)
        shrunk = compute_infomec(sources, latents * np.array([1.0, 1.0, 1e-3, 1.0]))
        np.testing.assert_array_equal(shrunk.active, [True, True, False, True])

    def test_sign_flip_of_continuous_latents(self, sources):
        latents = _noisy_mixture(sources, seed=10)
        result = compute_infomec(sources, latents)
        flipped = compute_infomec(sources, -latents)
        # The k-NN estimator sees the same distances; only its 1e-10 tie-breaking jitter differs.
        np.testing.assert_allclose(flipped.nmi, result.nmi, atol=1e-3)
        _assert_scores_close(result, flipped, atol=1e-3)


# ----------------------------------------------------------------------------------------------------------
# InfoE details.
# ----------------------------------------------------------------------------------------------------------


class TestExplicitness:
    def test_intercept_only_loss_is_log_num_classes_under_balanced_weights(self):
        labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
        counts = np.bincount(labels)
        weights = len(labels) / (3 * counts[labels])
        assert infomec._intercept_only_log_loss(labels, weights) == pytest.approx(math.log(3.0))
        # Unweighted, the intercept-only loss is the plug-in entropy of the labels instead.
        entropy = -sum(p * math.log(p) for p in counts / len(labels))
        assert infomec._intercept_only_log_loss(labels, np.ones(len(labels))) == pytest.approx(entropy)

    def test_imbalanced_source_perfectly_decoded(self):
        rng = np.random.default_rng(11)
        source = np.where(rng.random(3000) < 0.9, 0, rng.integers(1, 4, 3000))[:, None]
        infoe, per_source = compute_infoe(source, source.astype(float), discrete_latents=True)
        assert infoe > 0.95
        assert per_source.shape == (1,)

    def test_partial_information(self, sources):
        # s0 observed through a coarse 2-level latent: informative but not fully explicit.
        latents = (sources[:, :1] >= 2).astype(np.int64)
        infoe, _ = compute_infoe(sources[:, :1], latents, discrete_latents=True)
        # Best balanced model predicts 1/2 within each half: (log 4 - log 2) / log 4 = 0.5.
        assert infoe == pytest.approx(0.5, abs=1e-3)

    def test_unconverged_fit_warns(self, sources):
        rng = np.random.default_rng(12)
        latents = sources + 0.3 * rng.standard_normal(sources.shape)
        with pytest.warns(ConvergenceWarning, match="did not converge"):
            compute_infoe(sources, latents, discrete_latents=False, max_iter=2, variant="balanced")

    def test_converged_fits_are_quiet(self, sources):
        rng = np.random.default_rng(13)
        latents = sources + 0.3 * rng.standard_normal(sources.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            compute_infoe(sources, latents, discrete_latents=False, variant="balanced")


# ----------------------------------------------------------------------------------------------------------
# Result object, dtype inference, degenerate cases.
# ----------------------------------------------------------------------------------------------------------


class TestResult:
    def test_as_dict_and_immutability(self, sources):
        result = compute_infomec(sources, sources)
        scores = result.as_dict()
        assert set(scores) == {"infom", "infoe", "infoc"}
        assert all(type(value) is float for value in scores.values())
        assert isinstance(result, InfoMECResult)
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.infom = 0.0
        with pytest.raises(ValueError):
            result.nmi[0, 0] = 0.5

    def test_dtype_inference(self, sources):
        latents = sources.copy()
        inferred = compute_infomec(sources, latents)
        explicit = compute_infomec(sources, latents.astype(np.float64), discrete_latents=True)
        np.testing.assert_allclose(inferred.nmi, explicit.nmi, atol=1e-12)
        # Float latents are treated as continuous: the k-NN estimate differs from the plug-in one.
        continuous = compute_infomec(sources, latents.astype(np.float64))
        assert not np.allclose(continuous.nmi, explicit.nmi, atol=1e-6)

    def test_no_active_latents_warns_and_scores_zero(self, sources):
        with pytest.warns(RuntimeWarning, match="no latent is active"):
            result = compute_infomec(sources, np.zeros((len(sources), 2), dtype=np.int64))
        assert result.as_dict() == {"infom": 0.0, "infoe": 0.0, "infoc": 0.0}
        assert not result.active.any()
        np.testing.assert_array_equal(result.infoe_per_source, [0.0, 0.0, 0.0])

    def test_float_sources_with_integer_values_are_accepted(self, sources):
        result = compute_infomec(sources.astype(np.float32), sources)
        assert result.infom == pytest.approx(1.0, abs=1e-6)

    def test_docstring_example(self):
        s = np.indices((3, 4)).reshape(2, -1).T
        assert compute_infomec(s, s).as_dict()["infom"] == 1.0


class TestValidation:
    def test_non_2d_latents(self, sources):
        with pytest.raises(ValueError, match="latents.*2-D"):
            compute_infomec(sources, sources[:, 0])
        with pytest.raises(ValueError, match="latents.*2-D"):
            compute_infomec(sources, sources[:, :, None])

    def test_non_2d_sources(self, sources):
        with pytest.raises(ValueError, match="sources.*2-D"):
            compute_infomec(sources[:, 0], sources)

    def test_mismatched_samples(self, sources):
        with pytest.raises(ValueError, match="same number of samples"):
            compute_infomec(sources, sources[:-1])

    @pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
    def test_non_finite_latents(self, sources, bad_value):
        latents = sources.astype(np.float64)
        latents[5, 2] = bad_value
        with pytest.raises(ValueError, match="latent column 2"):
            compute_infomec(sources, latents)

    def test_non_integer_sources(self, sources):
        values = sources.astype(np.float64)
        values[3, 1] = 0.5
        with pytest.raises(ValueError, match="source column 1"):
            compute_infomec(values, sources)
        with pytest.raises(ValueError, match="integer"):
            compute_infomec(np.array([["a"], ["b"]]), np.array([[0], [1]]))

    def test_fewer_than_two_samples(self):
        with pytest.raises(ValueError, match="at least 2 samples"):
            compute_infomec(np.array([[0]]), np.array([[0.0]]))

    def test_constant_source(self, sources):
        values = sources.copy()
        values[:, 1] = 4
        with pytest.raises(ValueError, match="Source column 1 is constant"):
            compute_infomec(values, sources)
        with pytest.raises(ValueError, match="Source column 1 is constant"):
            compute_infoe(values, sources, discrete_latents=True)

    def test_public_helpers_validate(self, sources):
        with pytest.raises(ValueError, match="latents"):
            active_latents(np.ones(4), discrete_latents=True)
        with pytest.raises(ValueError, match="n_neighbors"):
            nmi_matrix(sources, sources, discrete_latents=False, n_neighbors=0)


# ----------------------------------------------------------------------------------------------------------
# The default equals a transcription of the reference's formulas (paper authors' infomec.py), written here.
# ----------------------------------------------------------------------------------------------------------


def _reference_infomec(sources, latents, discrete):
    """InfoMEC as the reference defines it: per-pair NMI with scikit-learn's estimators, the active rule,
    InfoM/InfoC without any guard, InfoE from balanced fits on all latents scored by the plain log loss."""
    from sklearn import feature_selection, linear_model, metrics, preprocessing

    encoded = np.stack([np.unique(column, return_inverse=True)[1] for column in sources.T], 1)
    if discrete:
        values = np.stack([np.unique(column, return_inverse=True)[1] for column in latents.T], 1)
    else:
        values = (latents - latents.mean(0)) / np.where(latents.std(0) > 0, latents.std(0), 1)
    nmi = np.empty((encoded.shape[1], latents.shape[1]))
    for i in range(encoded.shape[1]):
        if discrete:
            nmi[i] = [metrics.mutual_info_score(encoded[:, i], values[:, j]) for j in range(values.shape[1])]
        else:
            nmi[i] = feature_selection.mutual_info_classif(values, encoded[:, i], n_neighbors=10, random_state=0)
        nmi[i] /= metrics.mutual_info_score(encoded[:, i], encoded[:, i])
    ranges = latents.max(0) - latents.min(0)
    active = ranges > 0 if discrete else ranges > ranges.max() / 20
    pruned = nmi[:, active]
    k, d = len(pruned), active.sum()
    infom = (np.mean(pruned.max(0) / pruned.sum(0)) - 1 / k) / (1 - 1 / k)
    infoc = (np.mean(pruned.max(1) / pruned.sum(1)) - 1 / d) / (1 - 1 / d)
    features = preprocessing.OneHotEncoder().fit_transform(latents) if discrete else values
    scores = []
    for i in range(encoded.shape[1]):
        def log_loss_of_fit(x):
            if encoded[:, i].max() == 1:
                # The reference asked for multi_class="multinomial", which scikit-learn < 1.5 honoured for two
                # classes too; today's LogisticRegression fits a binomial model there.
                probabilities = _two_class_multinomial_fit(x, encoded[:, i])
            else:
                model = linear_model.LogisticRegression(C=np.inf, class_weight="balanced", max_iter=100, tol=1e-4)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(x, encoded[:, i])
                probabilities = model.predict_proba(x)
            return metrics.log_loss(encoded[:, i], probabilities)
        null = log_loss_of_fit(np.zeros((len(latents), 1)))
        scores.append((null - log_loss_of_fit(features)) / null)
    return infom, float(np.mean(scores)), infoc, nmi


def _two_class_multinomial_fit(features, labels):
    """scikit-learn < 1.5's LogisticRegression(multi_class="multinomial", class_weight="balanced") on two
    classes: its own multinomial loss on a (2, F + 1) coefficient array, minimised by the same L-BFGS-B call."""
    from scipy import optimize
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss
    from sklearn.utils.class_weight import compute_class_weight

    sample_weight = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)[labels]
    loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=2), fit_intercept=True)
    result = optimize.minimize(
        loss.loss_gradient,
        np.zeros(2 * (features.shape[1] + 1)),
        method="L-BFGS-B",
        jac=True,
        args=(features, labels.astype(float), sample_weight, 0.0, 1),
        options={"maxiter": 100, "maxls": 50, "gtol": 1e-4, "ftol": 64 * np.finfo(float).eps},
    )
    coef = result.x.reshape((2, -1), order="F")
    scores = features @ coef[:, :-1].T + coef[:, -1]
    scores = np.asarray(scores) - np.max(scores, axis=1, keepdims=True)
    return np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)


def _reference_cases():
    rng = np.random.default_rng(21)
    n = 1500
    # Imbalanced sources (one 80% / 20%, one skewed over 5 classes), noisy continuous code plus a nuisance.
    s = np.stack([(rng.random(n) < 0.2).astype(int), rng.choice(5, n, p=[0.5, 0.2, 0.15, 0.1, 0.05]),
                  rng.integers(0, 4, n)], 1)
    imbalanced = s + 0.4 * rng.standard_normal(s.shape)
    imbalanced = np.concatenate([imbalanced, rng.standard_normal((n, 1))], 1)
    # A collapsed latent (range below max / 20) that still carries a factor: inactive, but InfoE uses it.
    collapsed = np.concatenate([s[:, :2] + 0.3 * rng.standard_normal((n, 2)), 0.01 * s[:, 2:] + 1e-4 * rng.standard_normal((n, 1))], 1)
    # Discrete codes: a noisy quantised view of each source, one source split over two latents.
    codes = np.stack([s[:, 0], np.where(rng.random(n) < 0.8, s[:, 1], rng.integers(0, 5, n)), s[:, 2] // 2, s[:, 2] % 2,
                      rng.integers(0, 3, n)], 1)
    return {"imbalanced": (s, imbalanced, False), "collapsed": (s, collapsed, False), "discrete": (s, codes, True)}


@pytest.mark.parametrize("case", ["imbalanced", "collapsed", "discrete"])
def test_default_equals_the_reference_formulas(case):
    sources, latents, discrete = _reference_cases()[case]
    infom, infoe, infoc, nmi = _reference_infomec(sources, latents, discrete)
    result = compute_infomec(sources, latents, discrete_latents=discrete)
    np.testing.assert_allclose(result.nmi, np.maximum(nmi, 0), rtol=1e-9, atol=1e-12)
    assert result.infom == pytest.approx(infom, abs=1e-9)
    assert result.infoc == pytest.approx(infoc, abs=1e-9)
    assert result.infoe == pytest.approx(infoe, abs=1e-6)
    if case != "discrete":
        # The earlier variant differs here: it scores with balanced weights and (collapsed) drops the
        # inactive latent from InfoE's features.
        balanced = compute_infomec(sources, latents, discrete_latents=discrete, infoe="balanced")
        assert abs(balanced.infoe - infoe) > 1e-3
        assert (balanced.infom, balanced.infoc) == (result.infom, result.infoc)


def test_unknown_infoe_variant():
    with pytest.raises(ValueError, match="`infoe` must be one of"):
        compute_infomec(np.eye(4, dtype=int), np.eye(4), infoe="weighted")
