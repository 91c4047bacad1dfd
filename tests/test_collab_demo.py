"""The embedded demo suite and the base-detector demo run."""
import numpy as np
import pytest

from das import detectors
from das.collab.data import split_dataset
from das.collab.demo import demo_suite, run_demo


@pytest.fixture(scope="module")
def suite():
    return demo_suite()


def test_suite_shapes_and_anomaly_rates(suite):
    got = {ds.name: (ds.X.shape, ds.n_anomalies) for ds in suite}
    assert got == {"breast_cancer": ((367, 30), 10), "wine": ((129, 13), 10), "digits": ((1669, 64), 50)}
    for ds in suite:
        assert ds.X.dtype == np.float64 and ds.y.dtype == np.int64 and np.isfinite(ds.X).all()
        assert set(np.unique(ds.y)) == {0, 1} and ds.n_anomalies / len(ds.y) < 0.08
        assert "sklearn.datasets." in ds.source


def test_suite_is_built_from_the_stated_classes_in_original_order(suite):
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    for ds, bunch, normal_classes in [(suite[0], load_breast_cancer(), {1}), (suite[1], load_wine(), {1, 2}),
                                      (suite[2], load_digits(), set(range(1, 10)))]:
        # Every row is a row of the original data, in the original order.
        full = bunch.data.astype(np.float64)
        index = [int(np.flatnonzero((full == row).all(axis=1))[0]) for row in ds.X[::7]]
        assert index == sorted(index)
        # All rows of the normal classes are kept; anomalies are of class 0 only.
        assert len(ds.y) - ds.n_anomalies == int(np.isin(bunch.target, list(normal_classes)).sum())
        normals = ds.X[ds.y == 0]
        assert np.array_equal(normals, full[np.isin(bunch.target, list(normal_classes))])
        anomalies = {tuple(r) for r in ds.X[ds.y == 1]}
        assert anomalies <= {tuple(r) for r in full[bunch.target == 0]}


def test_suite_is_deterministic_and_seeded(suite):
    again = demo_suite()
    other = demo_suite(seed=1)
    for a, b, c in zip(suite, again, other):
        assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
        assert not np.array_equal(a.X[a.y == 1], c.X[c.y == 1])


def test_suite_splits_by_the_protocol(suite):
    for ds in suite:
        split = split_dataset(ds)
        assert len(split.X_train) == (len(ds.y) - ds.n_anomalies) // 2
        assert split.y_test.sum() == ds.n_anomalies


class _CentroidDistance:
    """Tiny stand-in detector: distance to the training mean."""

    name = "Centroid"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X):
        self.center_ = X.mean(axis=0)
        return self

    def predict_score(self, X):
        return np.linalg.norm(X - self.center_, axis=1)


def test_run_demo_rows_with_a_fake_detector(monkeypatch, suite):
    monkeypatch.setattr(detectors, "make_detector", lambda name, **kw: _CentroidDistance(**kw))
    calls = []
    rows = run_demo(detectors=["centroid"], datasets=suite[:2],
                         progress=lambda *args: calls.append(args))
    assert [(r["dataset"], r["detector"]) for r in rows] == [("breast_cancer", "Centroid"), ("wine", "Centroid")]
    assert calls == [(0, 2, "breast_cancer", "Centroid"), (1, 2, "wine", "Centroid")]
    for r in rows:
        assert 0.0 <= r["auc_pr"] <= 1.0 and 0.0 <= r["auc_roc"] <= 1.0 and r["seconds"] >= 0.0
    # Measured, not invented: recompute one row by hand.
    split = split_dataset(suite[0])
    from das.collab.metrics import auc_roc

    scores = _CentroidDistance().fit(split.X_train).predict_score(split.X_test)
    assert rows[0]["auc_roc"] == auc_roc(split.y_test, scores)


def test_run_demo_with_real_detectors(suite):
    rows = run_demo(detectors=["iforest", "ECOD"], datasets=[suite[0]])
    assert [r["detector"] for r in rows] == ["IForest", "ECOD"]
    # Malignant tumours are easy outliers for both (measured ~0.94-0.95 AUC-ROC).
    assert all(r["auc_roc"] > 0.85 for r in rows)


def test_unknown_detector_fails_before_fitting(suite):
    with pytest.raises(detectors.UnknownDetector, match="nope"):
        run_demo(detectors=["IForest", "nope"], datasets=suite[:1])


def test_default_detectors_exclude_only_the_slow_drl(monkeypatch, suite):
    from das.collab.demo import DEFAULT_DETECTORS

    assert set(detectors.DETECTOR_NAMES) - set(DEFAULT_DETECTORS) == {"DRL"}
    asked = []

    def fake(name, **kw):
        asked.append(name)
        det = _CentroidDistance(**kw)
        det.name = name  # canonical names come back from the registry
        return det

    monkeypatch.setattr(detectors, "make_detector", fake)
    rows = run_demo(datasets=suite[1:2])
    assert len(rows) == len(DEFAULT_DETECTORS) and set(asked) == set(DEFAULT_DETECTORS)
