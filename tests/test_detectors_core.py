"""Detectors on real shared data: fit/score contract, AUC floors, PCA finiteness."""
import numpy as np
import pytest
import scipy.io
from sklearn.metrics import roc_auc_score

from das.detectors import DETECTOR_NAMES, make_detector

FAST = {"DRL": {"epochs": 20}}


def _load(odds_dir, name):
    path = next(p for p in odds_dir.iterdir() if p.stem == name)
    raw = np.load(path) if path.suffix == ".npz" else scipy.io.loadmat(path)
    return np.asarray(raw["X"], dtype=float), np.asarray(raw["y"]).ravel().astype(int)


def _split(X, y):
    """The papers' protocol: first half of the normals trains, the rest tests."""
    normal = np.flatnonzero(y == 0)
    train = normal[: len(normal) // 2]
    test = np.r_[normal[len(normal) // 2:], np.flatnonzero(y == 1)]
    mu, sd = X[train].mean(0), X[train].std(0)
    sd[sd == 0] = 1.0
    return (X[train] - mu) / sd, (X[test] - mu) / sd, y[test]


@pytest.fixture(scope="module")
def wbc(odds_dir):
    return _split(*_load(odds_dir, "wbc"))


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_fit_and_score_on_wbc(wbc, name):
    X_train, X_test, y_test = wbc
    det = make_detector(name, random_state=0, **FAST.get(name, {}))
    assert det.fit(X_train) is det
    assert det.name == name
    assert det.decision_scores_.shape == (len(X_train),)
    assert np.isfinite(det.threshold_)
    assert set(np.unique(det.labels_)) <= {0, 1}
    scores = det.predict_score(X_test)
    assert scores.dtype == np.float64 and scores.shape == (len(X_test),)
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(scores, det.decision_function(X_test))
    # wbc is easy: every family ranks its anomalies well above chance.
    assert roc_auc_score(y_test, scores) > 0.8


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_same_seed_same_scores(wbc, name):
    X_train, X_test, _ = wbc
    a = make_detector(name, random_state=3, **FAST.get(name, {})).fit(X_train)
    b = make_detector(name, random_state=3, **FAST.get(name, {})).fit(X_train)
    np.testing.assert_array_equal(a.predict_score(X_test), b.predict_score(X_test))


@pytest.mark.parametrize("name", ["Cardiotocography", "campaign", "mnist", "optdigits"])
def test_pca_finite_where_pyod_gives_inf(odds_dir, name):
    X, y = _load(odds_dir, name)
    X_train, X_test, y_test = _split(X, y)
    det = make_detector("PCA").fit(X_train)
    scores = det.predict_score(X_test)
    assert np.isfinite(det.decision_scores_).all() and np.isfinite(scores).all()
    assert roc_auc_score(y_test, scores) > 0.5


def test_pca_drops_zero_variance_components():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(100, 3))
    X = np.c_[base, base[:, 0] + base[:, 1], np.zeros(100)]  # rank 3 of 5
    det = make_detector("PCA").fit(X)
    assert det.n_components_kept_ == 3
    assert np.isfinite(det.predict_score(X + 10)).all()


def test_ecod_scores_do_not_depend_on_the_batch(rng):
    X = rng.normal(size=(200, 4))
    T = rng.normal(size=(30, 4)) * 3
    det = make_detector("ECOD").fit(X)
    whole = det.predict_score(T)
    one_by_one = np.array([det.predict_score(T[i:i + 1])[0] for i in range(len(T))])
    np.testing.assert_allclose(whole, one_by_one)


def test_ecod_matches_pyod_for_a_single_row(rng):
    from pyod.models.ecod import ECOD as PyODECOD

    X = rng.normal(size=(150, 3))
    row = rng.normal(size=(1, 3)) * 2
    ours = make_detector("ECOD").fit(X)
    theirs = PyODECOD().fit(X)
    # Our skewness comes from the training rows alone, PyOD's from train + the row;
    # with 150 rows the signs agree and so do the scores.
    np.testing.assert_allclose(ours.predict_score(row), theirs.decision_function(row))


def test_wrapped_pyod_models_match_pyod(wbc):
    from pyod.models.iforest import IForest as PyODIForest
    from pyod.models.knn import KNN as PyODKNN

    X_train, X_test, _ = wbc
    np.testing.assert_allclose(
        make_detector("KNN").fit(X_train).predict_score(X_test),
        PyODKNN().fit(X_train).decision_function(X_test))
    np.testing.assert_allclose(
        make_detector("IForest", random_state=0).fit(X_train).predict_score(X_test),
        PyODIForest(random_state=0).fit(X_train).decision_function(X_test))


@pytest.mark.parametrize("params", [{}, {"contamination": 0.03, "max_samples": 64, "max_features": 0.5},
                                    {"contamination": 0.5, "n_estimators": 7, "max_samples": 1.0}])
def test_iforest_scores_its_rows_once_and_matches_pyod_to_the_bit(wbc, params, monkeypatch):
    from pyod.models.iforest import IForest as PyODIForest
    from sklearn.ensemble import IsolationForest

    X_train, X_test, _ = wbc
    X_train = np.vstack([X_train, X_train[:5]])  # ties at the contamination percentile
    theirs = PyODIForest(random_state=3, **params).fit(X_train)
    scored = []
    original = IsolationForest._compute_chunked_score_samples
    monkeypatch.setattr(IsolationForest, "_compute_chunked_score_samples",
                        lambda self, X: scored.append(len(X)) or original(self, X))
    ours = make_detector("IForest", random_state=3, **params).fit(X_train)
    assert scored == [len(X_train)]  # PyOD's fit scores the training rows twice
    for name in ("decision_scores_", "threshold_", "labels_"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
        np.testing.assert_array_equal(getattr(ours.detector_, name), getattr(theirs, name))
    assert ours.detector_.detector_.offset_ == theirs.detector_.offset_
    np.testing.assert_array_equal(ours.decision_function(X_test), theirs.decision_function(X_test))
    np.testing.assert_array_equal(ours.detector_.predict(X_test), theirs.predict(X_test))
    np.testing.assert_array_equal(ours.detector_.detector_.predict(X_test), theirs.detector_.predict(X_test))


@pytest.mark.parametrize("min_rows", [0, 10**9], ids=["kernel", "scikit-learn"])
def test_iforest_scores_in_blocks_to_the_same_numbers(wbc, monkeypatch, min_rows):
    from pyod.models.iforest import IForest as PyODIForest

    import das.detectors._forest_scoring as forest_scoring

    X_train, X_test, _ = wbc
    theirs = PyODIForest(random_state=1).fit(X_train)
    monkeypatch.setattr(forest_scoring, "SCORE_BLOCK_ROWS", 13)  # many blocks, a short last one
    monkeypatch.setattr(forest_scoring, "MIN_ROWS", min_rows)
    ours = make_detector("IForest", random_state=1).fit(X_train)
    np.testing.assert_array_equal(ours.decision_scores_, theirs.decision_scores_)
    np.testing.assert_array_equal(ours.decision_function(X_test), theirs.decision_function(X_test))
