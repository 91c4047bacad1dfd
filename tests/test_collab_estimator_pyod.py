"""EnhancedDetector keeps PyOD's detector contract, checked side by side with PyOD's own IForest.

The enhancement itself does not matter here: ``program="random"`` (random outliers) keeps the fits
fast and out of the sandbox; the data is the demo's breast_cancer (the papers' split).
"""
import copy

import numpy as np
import pytest
from pyod.models.base import BaseDetector
from pyod.models.iforest import IForest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from das import EnhancedDetector
from das.collab.data import split_dataset
from das.collab.demo import demo_suite
from das.collab.metrics import auc_roc


@pytest.fixture(scope="module")
def split():
    return split_dataset(demo_suite()[0])


@pytest.fixture(scope="module")
def fitted(split):
    """Ours and PyOD's IForest, each fitted on the same training rows."""
    ours = EnhancedDetector(detector="IForest", program="random", random_state=0).fit(split.X_train)
    return {"ours": ours, "pyod": IForest(random_state=0).fit(split.X_train)}


@pytest.fixture(scope="module")
def pot(split):
    return EnhancedDetector(program="random", threshold="pot", random_state=0).fit(split.X_train)


def _rows(split):
    """Test rows plus training rows: scores equal to training scores are the edge cases of the ranks."""
    return np.vstack([split.X_test, split.X_train[:40]])


def test_is_a_pyod_detector():
    import das.collab.estimator

    assert EnhancedDetector is das.collab.estimator.EnhancedDetector
    assert issubclass(EnhancedDetector, BaseDetector)
    assert EnhancedDetector().contamination == IForest().contamination == 0.1


@pytest.mark.parametrize("which", ["ours", "pyod"])
def test_training_attributes_follow_pyods_rule(fitted, split, which):
    det = fitted[which]
    n = len(split.X_train)
    scores, labels = det.decision_scores_, det.labels_
    assert scores.shape == labels.shape == (n,) and scores.dtype == np.float64
    assert np.isscalar(det.threshold_) and np.isfinite(det.threshold_)
    assert labels.dtype == fitted["pyod"].labels_.dtype and set(np.unique(labels)) == {0, 1}
    np.testing.assert_array_equal(labels, (scores > det.threshold_).astype(int))
    assert det.threshold_ == np.percentile(scores, 100 * (1 - det.contamination))
    assert abs(labels.mean() - det.contamination) <= 1 / n
    np.testing.assert_array_equal(det.predict(split.X_train), labels)
    np.testing.assert_allclose(det.decision_function(split.X_train), scores)


@pytest.mark.parametrize("which", ["ours", "pyod"])
def test_predict_and_decision_function_agree(fitted, split, which):
    det = fitted[which]
    scores, labels = det.decision_function(split.X_test), det.predict(split.X_test)
    assert scores.shape == labels.shape == (len(split.X_test),) and scores.dtype == np.float64
    assert labels.dtype == fitted["pyod"].labels_.dtype
    np.testing.assert_array_equal(labels, (scores > det.threshold_).astype(int))
    assert auc_roc(split.y_test, scores) > 0.8  # higher = more anomalous


@pytest.mark.parametrize("method", ["linear", "unify"])
@pytest.mark.parametrize("which", ["ours", "pyod"])
def test_predict_proba_is_pyods(fitted, split, which, method):
    det = fitted[which]
    proba = det.predict_proba(split.X_test, method=method)
    assert proba.shape == (len(split.X_test), 2) and proba.dtype == np.float64
    assert np.all((0 <= proba) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # P(anomaly) never falls as the score rises, and is what PyOD's formula gives on the training scores.
    scores = det.decision_function(split.X_test)
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(proba[order, 1]) >= 0)
    train = det.decision_scores_
    if method == "linear":
        expected = np.clip((scores - train.min()) / (train.max() - train.min()), 0, 1)
    else:
        from scipy.special import erf

        expected = np.clip(erf((scores - train.mean()) / (train.std() * np.sqrt(2))), 0, 1)
    np.testing.assert_allclose(proba[:, 1], expected)


def test_predict_proba_takes_what_decision_function_takes(fitted, split):
    est = fitted["ours"]
    rows = split.X_test[:5]
    np.testing.assert_array_equal(est.predict_proba(rows.tolist()), est.predict_proba(rows))
    with pytest.raises(ValueError, match="not a valid probability conversion method"):
        est.predict_proba(rows, method="softmax")


@pytest.mark.parametrize("which", ["ours", "pyod"])
def test_predict_confidence_range_and_shape(fitted, split, which):
    confidence = fitted[which].predict_confidence(split.X_test)
    assert confidence.shape == (len(split.X_test),) and confidence.dtype == np.float64
    assert np.all((0 <= confidence) & (confidence <= 1))


def test_predict_confidence_equals_pyods_loop(fitted, split):
    est, rows = fitted["ours"], _rows(split)
    np.testing.assert_allclose(est.predict_confidence(rows), BaseDetector.predict_confidence(est, rows))


class _Thresholder:
    """PyOD's other kind of ``contamination``: an object labelling scores (as PyThresh's thresholders do)."""

    def __init__(self, threshold):
        self.threshold = threshold

    def predict(self, scores):
        return (scores > self.threshold).astype(int)


def test_pot_labels_and_confidence_follow_its_threshold(pot, split):
    assert pot.threshold_ >= np.quantile(pot.decision_scores_, 0.98)
    np.testing.assert_array_equal(pot.labels_, (pot.decision_scores_ > pot.threshold_).astype(int))
    np.testing.assert_array_equal(pot.predict(split.X_train), pot.labels_)
    # PyOD's confidence for a detector whose labels come from a thresholder, not from contamination.
    rows = _rows(split)
    as_pyod = copy.copy(pot)
    as_pyod.contamination = _Thresholder(pot.threshold_)
    np.testing.assert_allclose(pot.predict_confidence(rows), BaseDetector.predict_confidence(as_pyod, rows))


def test_return_confidence_and_rejection_are_pyods(fitted, split):
    est = fitted["ours"]
    labels, confidence = est.predict(split.X_test, return_confidence=True)
    np.testing.assert_array_equal(labels, est.predict(split.X_test))
    np.testing.assert_allclose(confidence, est.predict_confidence(split.X_test))
    proba, confidence = est.predict_proba(split.X_test, method="unify", return_confidence=True)
    assert proba.shape == (len(split.X_test), 2) and confidence.shape == (len(split.X_test),)
    rejected = est.predict_with_rejection(split.X_test, c_r=est.contamination)
    assert set(np.unique(rejected)) <= {-2, 0, 1}
    np.testing.assert_array_equal(rejected[rejected != -2], labels[rejected != -2])


@pytest.mark.parametrize("contamination", [0.05, 0.2, 0.5])
def test_contamination_sets_the_share_of_training_labels(split, contamination):
    est = EnhancedDetector(program="none", contamination=contamination).fit(split.X_train)
    assert abs(est.labels_.mean() - contamination) <= 1 / len(split.X_train)


@pytest.mark.parametrize("contamination", [0, 0.6, -0.1, "auto", None])
def test_contamination_outside_pyods_range_is_refused_at_fit(split, contamination):
    est = EnhancedDetector(program="none", contamination=contamination)  # __init__ only stores it
    with pytest.raises(ValueError, match=r"contamination must be a number in \(0, 0.5\]"):
        est.fit(split.X_train)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_confidence", "decision_function"])
def test_not_fitted(split, method):
    with pytest.raises(NotFittedError):
        getattr(EnhancedDetector(program="none"), method)(split.X_test)


def test_scikit_learn_basics(split):
    est = EnhancedDetector(program="none", contamination=0.2, threshold="pot")
    params = est.get_params()
    assert params["contamination"] == 0.2 and params["threshold"] == "pot"
    again = clone(est)
    assert again is not est and again.get_params() == params
    assert EnhancedDetector(**params).get_params() == params
    assert est.set_params(**params) is est and est.get_params() == params
    assert est.fit(split.X_train) is est
    assert not hasattr(clone(est), "threshold_")
    with pytest.raises(TypeError):
        EnhancedDetector("IForest")


def test_pipeline_gives_pyods_outputs(split):
    pipe = Pipeline([("scale", StandardScaler()), ("det", EnhancedDetector(program="none"))])
    pipe.fit(split.X_train * 100)
    det = pipe.named_steps["det"]
    np.testing.assert_array_equal(pipe.predict(split.X_train * 100), det.labels_)
    proba = pipe.predict_proba(split.X_test * 100, method="unify")
    assert proba.shape == (len(split.X_test), 2)
    np.testing.assert_allclose(proba, det.predict_proba(split.X_test, method="unify"), atol=1e-12)


def test_readme_pyod_block_runs(split):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```$", readme, flags=re.M | re.S)
    [block] = [b for b in blocks if "predict_confidence(" in b]
    namespace = {"EnhancedDetector": EnhancedDetector, "X_train": split.X_train, "X_test": split.X_test}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["est"].labels_.mean() == pytest.approx(0.05, abs=1 / len(split.X_train))
