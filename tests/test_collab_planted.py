"""Planted anomalies: each ADBench type is what it claims, seeded, robust to degenerate data."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture

from das.collab.planted import (
    KINDS,
    MIN_ROWS,
    NORMAL,
    plant_anomalies,
    plant_kinds,
    planted_split,
)

N_PLANT = 200


@pytest.fixture(scope="module")
def mixture_data():
    """Two correlated Gaussian clusters in 4-D: 400 training and 400 held-out normals."""
    rng = np.random.default_rng(7)
    mix = rng.normal(size=(4, 4))
    centers = np.array([[0.0, 0, 0, 0], [6.0, -3, 2, 1]])
    X = centers[rng.integers(0, 2, size=800)] + rng.normal(size=(800, 4)) @ mix
    return X[:400], X[400:]


@pytest.fixture(scope="module")
def gmm_oracle(mixture_data):
    """Negative log-likelihood under a mixture fitted to the training normals."""
    train, _ = mixture_data
    return GaussianMixture(2, random_state=0).fit(train)


def _auc(score, normals, anomalies):
    y = np.r_[np.zeros(len(normals)), np.ones(len(anomalies))]
    return roc_auc_score(y, np.r_[score(normals), score(anomalies)])


def _mahalanobis(train, diagonal=False):
    """Squared Mahalanobis distance to the training mean, full or diagonal covariance."""
    cov = np.cov(train, rowvar=False)
    precision = np.linalg.inv(np.diag(np.diag(cov)) if diagonal else cov)
    mean = train.mean(axis=0)
    return lambda X: np.einsum("ni,ij,nj->n", X - mean, precision, X - mean)


def test_local_anomalies_have_low_likelihood(mixture_data, gmm_oracle):
    train, held_out = mixture_data
    planted = plant_anomalies(train, N_PLANT, "local", random_state=0)
    assert _auc(lambda X: -gmm_oracle.score_samples(X), held_out, planted) > 0.8


def test_clustered_anomalies_are_separated(mixture_data, gmm_oracle):
    train, held_out = mixture_data
    planted = plant_anomalies(train, N_PLANT, "clustered", random_state=0)
    assert _auc(lambda X: -gmm_oracle.score_samples(X), held_out, planted) > 0.99


def test_clustered_anomalies_move_a_single_component():
    """With one Gaussian, ADBench's mu <- 5 mu would not move a centred cluster; ours must."""
    train, held_out = np.random.default_rng(3).normal(size=(2, 300, 3))
    planted = plant_anomalies(train, N_PLANT, "clustered", random_state=0)
    assert _auc(_mahalanobis(train), held_out, planted) > 0.99
    # compact: a cluster of the normals' spread, not a scatter over the space
    assert np.all(planted.std(axis=0) < 2 * train.std(axis=0))


def test_global_anomalies_fill_the_enlarged_box(mixture_data):
    train, held_out = mixture_data
    planted = plant_anomalies(train, N_PLANT, "global", random_state=0)
    lo, hi = train.min(axis=0), train.max(axis=0)
    center, half = (lo + hi) / 2, (hi - lo) / 2
    assert np.all(np.abs(planted - center) <= 1.1 * half)
    outside = np.any((planted < lo) | (planted > hi), axis=1)
    assert outside.mean() > 0.15  # 1 - (1 / 1.1) ** 4 = 0.32 expected
    assert _auc(_mahalanobis(train), held_out, planted) > 0.9


def test_dependency_anomalies_break_correlation_only():
    rng = np.random.default_rng(5)
    cov = [[1.0, 0.95], [0.95, 1.0]]
    train, held_out = rng.multivariate_normal([0, 0], cov, size=(2, 400))
    planted = plant_anomalies(train, N_PLANT, "dependency", random_state=0)
    assert abs(np.corrcoef(train, rowvar=False)[0, 1]) > 0.9
    assert abs(np.corrcoef(planted, rowvar=False)[0, 1]) < 0.2
    # the marginals are the normals' (KDE-smoothed): the joint oracle separates them, the
    # per-feature one hardly (0.81-0.85 against 0.56-0.63 over five seeds)
    full = _auc(_mahalanobis(train), held_out, planted)
    diagonal = _auc(_mahalanobis(train, diagonal=True), held_out, planted)
    assert full > 0.75
    assert diagonal < 0.7
    assert full - diagonal > 0.15


@pytest.mark.parametrize("kind", KINDS)
def test_plant_is_deterministic_per_seed(mixture_data, kind):
    train, _ = mixture_data
    first = plant_anomalies(train, 30, kind, random_state=11)
    assert np.array_equal(first, plant_anomalies(train, 30, kind, random_state=11))
    assert not np.array_equal(first, plant_anomalies(train, 30, kind, random_state=12))


@pytest.mark.parametrize("kind", KINDS)
def test_plant_shape_dtype_and_input_untouched(mixture_data, kind):
    train, _ = mixture_data
    before = train.copy()
    planted = plant_anomalies(train.tolist(), 17, kind, random_state=0)
    assert planted.shape == (17, 4)
    assert planted.dtype == np.float64
    assert np.all(np.isfinite(planted))
    assert np.array_equal(train, before)
    assert plant_anomalies(train, 0, kind, random_state=0).shape == (0, 4)


@pytest.mark.parametrize("kind", ["local", "clustered"])
def test_mixture_kinds_do_not_depend_on_units(mixture_data, kind):
    """The mixture is fitted to z-scores, so changing units and offsets changes nothing else."""
    train, _ = mixture_data
    planted = plant_anomalies(train, 30, kind, random_state=0)
    rescaled = plant_anomalies(1e6 * train + 3.0, 30, kind, random_state=0)
    np.testing.assert_allclose(rescaled, 1e6 * planted + 3.0, rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("kind", ["local", "clustered", "global"])
def test_one_feature(kind):
    train = np.random.default_rng(0).normal(size=(50, 1))
    planted = plant_anomalies(train, 20, kind, random_state=0)
    assert planted.shape == (20, 1)
    assert np.all(np.isfinite(planted))


def test_dependency_needs_two_varying_columns():
    train = np.c_[np.random.default_rng(0).normal(size=50), np.full(50, 2.0)]
    with pytest.raises(ValueError, match="at least two varying columns"):
        plant_anomalies(train, 5, "dependency", random_state=0)


@pytest.mark.parametrize("kind", KINDS)
def test_constant_column_keeps_its_value(kind):
    rng = np.random.default_rng(1)
    train = np.c_[rng.normal(size=(60, 2)), np.full(60, 0.1 * 3)]
    planted = plant_anomalies(train, 25, kind, random_state=0)
    assert np.all(planted[:, 2] == train[0, 2])
    assert np.all(np.isfinite(planted))


@pytest.mark.parametrize("kind", KINDS)
def test_singular_covariance_and_duplicates(kind):
    """Collinear features and repeated rows: reg_covar keeps the mixture invertible."""
    base = np.random.default_rng(2).normal(size=(20, 1))
    train = np.tile(np.c_[base, 2 * base + 1, -base], (3, 1))
    planted = plant_anomalies(train, 40, kind, random_state=0)
    assert planted.shape == (40, 3)
    assert np.all(np.isfinite(planted))


@pytest.mark.parametrize("kind", KINDS)
def test_fewest_rows(kind):
    train = np.random.default_rng(4).normal(size=(MIN_ROWS, 2))
    assert plant_anomalies(train, 8, kind, random_state=0).shape == (8, 2)
    with pytest.raises(ValueError, match=f"at least {MIN_ROWS} rows, got {MIN_ROWS - 1}"):
        plant_anomalies(train[:-1], 8, kind, random_state=0)


@pytest.mark.parametrize("X, kind, n, message", [
    (np.zeros((10, 3)), "local", 5, "every column of X is constant"),
    (np.r_[np.ones((9, 2)), [[np.nan, 1.0]]], "global", 5, "NaN or infinite"),
    (np.ones(10), "global", 5, "must be 2-D"),
    (np.eye(10), "outlier", 5, "unknown kind 'outlier'"),
    (np.eye(10), "global", -1, "non-negative integer"),
    (np.eye(10), "global", 2.5, "non-negative integer"),
    (np.tile([[1e308], [-1e308]], (5, 2)), "global", 5, "overflow"),
])
def test_bad_arguments_raise_clear_errors(X, kind, n, message):
    with pytest.raises(ValueError, match=message):
        plant_anomalies(X, n, kind, random_state=0)


def _split_data(n=100, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_planted_split_layout():
    X = _split_data()
    split = planted_split(X, random_state=0)
    n_val = 30  # 0.3 * 100 held out, 10 % of them planted per kind
    assert split.X_fit.shape == (70, 3)
    assert split.X_val.shape == (n_val + 4 * 3, 3)
    assert split.X_fit.dtype == split.X_val.dtype == np.float64
    assert split.y_val.dtype == np.int64
    assert np.array_equal(split.y_val, (split.kind_per_row != NORMAL).astype(int))
    kinds, counts = np.unique(split.kind_per_row[n_val:], return_counts=True)
    assert sorted(kinds) == sorted(KINDS) and set(counts) == {3}
    # every row is used once: the fit rows and the held-out normals are the input
    together = np.vstack([split.X_fit, split.X_val[:n_val]])
    assert np.array_equal(np.sort(together, axis=0), np.sort(X, axis=0))
    assert np.all(np.isfinite(split.X_val))


def test_planted_split_is_deterministic_per_seed():
    X = _split_data()
    first = planted_split(X, random_state=3)
    for a, b in zip(first, planted_split(X, random_state=3)):
        assert np.array_equal(a, b)
    assert not np.array_equal(first.X_val, planted_split(X, random_state=4).X_val)


@pytest.mark.parametrize("kind", ["global", "local", "clustered"])
def test_a_kind_does_not_depend_on_the_others(kind):
    X = _split_data()
    everything = planted_split(X, random_state=3)
    only_one = planted_split(X, random_state=3, kinds=[kind])
    assert np.array_equal(only_one.X_fit, everything.X_fit)
    kept = np.isin(everything.kind_per_row, [NORMAL, kind])
    assert np.array_equal(only_one.X_val, everything.X_val[kept])


def test_the_local_and_clustered_kinds_share_one_mixture_fit(monkeypatch):
    """ADBench fits one mixture and tweaks it twice; so does a split (the BIC sweep is its main cost)."""
    from das.collab import planted

    fits = []
    real = planted._fit_mixture
    monkeypatch.setattr(planted, "_fit_mixture", lambda Z, rng: fits.append(1) or real(Z, rng))
    planted_split(_split_data(), random_state=3)
    plant_kinds(_split_data(), 5, random_state=3)
    assert len(fits) == 2


def test_planted_split_skips_dependency_with_one_feature():
    split = planted_split(_split_data(d=1), random_state=0)
    assert set(split.kind_per_row) == {NORMAL, "local", "clustered", "global"}
    with pytest.raises(ValueError, match="none of the kinds"):
        planted_split(_split_data(d=1), random_state=0, kinds=["dependency"])


def test_planted_split_rate_and_holdout():
    split = planted_split(_split_data(n=200), random_state=0, holdout=0.5, rate=0.2,
                          kinds=("global",))
    assert np.sum(split.kind_per_row == NORMAL) == 100
    assert np.sum(split.y_val) == 20


def test_planted_split_smallest_input():
    assert len(planted_split(_split_data(n=7), random_state=0).X_fit) == 5
    with pytest.raises(ValueError, match="leaves 2 to validate and 4 to fit"):
        planted_split(_split_data(n=6), random_state=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"holdout": 1.0}, "holdout must be in"),
    ({"rate": 0}, "rate must be > 0"),
    ({"kinds": ["local", "odd"]}, "unknown kind 'odd'"),
    ({"kinds": []}, "kinds is empty"),
])
def test_planted_split_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        planted_split(_split_data(), random_state=0, **kwargs)
