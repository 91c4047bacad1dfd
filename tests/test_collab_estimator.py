"""EnhancedDetector: scikit-learn/PyOD conventions, store integration, refusals."""
import sqlite3
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from das.collab.certification import ProgramRefused, suite_version
from das.collab.enhance import SynthesisError
from das.collab.estimator import EnhancedDetector
from das.detectors import DetectorInputError
from das.program_store import NotCertified, ProgramStore, TamperedProgram

HONEST = '''
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    """Policy: push the most borderline training rows a little further out."""
    scores = model.predict_score(X_train)
    order = np.argsort(scores)[::-1]
    seeds = X_train[order[: max(1, len(X_train) // 5)]]
    idx = np.random.randint(0, len(seeds), size=n_samples)
    centre = X_train.mean(axis=0)
    chosen = seeds[idx]
    # Small noise keeps the rows novel even when training rows are identical.
    return chosen + 0.5 * (chosen - centre) + 0.1 * np.random.randn(n_samples, X_train.shape[1])
'''

HOSTILE = "import os\n\ndef generate_hard_anomalies(n_samples, model, X_train):\n    return os.listdir('/')\n"


class ToyDetector(BaseEstimator):
    """Standardized distance to the training mean (a tiny PyOD-style detector)."""

    name = "Toy"

    def __init__(self, shift=0.0):
        self.shift = shift

    def fit(self, X, y=None):
        self.mean_, self.std_ = X.mean(axis=0), X.std(axis=0) + 1e-9
        return self

    def predict_score(self, X):
        return np.linalg.norm((X - self.mean_) / self.std_, axis=1) + self.shift


def _data(rng, n=300, d=4):
    X = rng.normal(size=(n, d))
    X_test = np.vstack([rng.normal(size=(100, d)), rng.normal(size=(20, d)) * 4])
    return X, X_test, np.r_[np.zeros(100), np.ones(20)]


def _est(**kw):
    """An estimator running the program text HONEST (research use: the explicit opt-in)."""
    return EnhancedDetector(**{"detector": ToyDetector(), "program": HONEST, "allow_uncertified": True, **kw})


@pytest.mark.parametrize("fusion", ["sum", "collate"])
def test_fit_scores_and_labels(rng, fusion):
    from sklearn.metrics import roc_auc_score

    X, X_test, y = _data(rng)
    est = _est(fusion=fusion, collate_params={"epochs": 50})
    assert est.fit(X) is est
    scores = est.decision_function(X_test)
    assert scores.shape == (120,) and np.all(np.isfinite(scores))
    assert roc_auc_score(y, scores) > 0.9
    assert est.decision_scores_.shape == (300,) and est.X_syn_.shape == (30, 4)
    assert abs(est.labels_.mean() - 0.1) < 0.02
    assert set(np.unique(est.predict(X_test))) <= {0, 1}
    np.testing.assert_allclose(est.base_decision_function(X_test), est.detector_.predict_score(X_test))


def test_sum_fusion_is_eq7_of_the_components(rng):
    X, X_test, _ = _data(rng)
    est = _est(lam=0.5).fit(X)
    # The classifier's scaler is fitted on its own training set D_train ∪ D_syn.
    base_tr = est.detector_.predict_score(X)
    clf_tr = est.classifier_.predict_proba(np.vstack([X, est.X_syn_]))[:, 1]
    base, clf = est.detector_.predict_score(X_test), est.classifier_.predict_proba(X_test)[:, 1]

    def trimmed(train):  # the scores ranked k = 1 % (at least one) from either end
        ranked = np.sort(train)
        k = max(1, int(0.01 * len(ranked)))
        return ranked[k], ranked[-1 - k]

    (b_lo, b_hi), (c_lo, c_hi) = trimmed(base_tr), trimmed(clf_tr)
    expected = (base - b_lo) / (b_hi - b_lo) + 0.5 * (clf - c_lo) / (c_hi - c_lo)
    np.testing.assert_allclose(est.decision_function(X_test), expected)


def test_pot_threshold_and_determinism(rng):
    X, X_test, _ = _data(rng)
    a = _est(threshold="pot", random_state=1).fit(X)
    b = _est(threshold="pot", random_state=1).fit(X)
    np.testing.assert_array_equal(a.decision_function(X_test), b.decision_function(X_test))
    assert a.threshold_ >= np.quantile(a.decision_scores_, 0.98)


#: scikit-learn's outlier checks want its own label convention (-1 = outlier, +1 = inlier, and
#: score_samples/offset_); a PyOD detector labels 1 = anomaly, 0 = normal (pyod's IForest fails them too).
PYOD_LABELS = "PyOD's labels: 1 = anomaly, 0 = normal, not scikit-learn's -1/+1"
SKLEARN_OUTLIER_CHECKS = {name: PYOD_LABELS for name in (
    "check_outliers_fit_predict", "check_outliers_train", "check_outliers_train(readonly_memmap=True)")}


# Every other scikit-learn API check, none expected to fail; each fit runs the real sandbox.
@parametrize_with_checks([EnhancedDetector(detector=ToyDetector(), program=HONEST, allow_uncertified=True)],
                         expected_failed_checks=lambda est: SKLEARN_OUTLIER_CHECKS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_fitted_estimator_pickles_and_clones_with_a_store_path(rng, store_path):
    import pickle

    X, X_test, _ = _data(rng)
    sha = _certify(store_path)
    est = _est(program=sha, store=str(store_path)).fit(X)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.decision_function(X_test), est.decision_function(X_test))
    assert clone(est).get_params()["store"] == str(store_path)


@pytest.mark.parametrize("options", [{"fusion": "collate"}, {"detector": "DRL"}])
def test_fitted_estimator_with_a_torch_network_pickles(rng, options):
    """The collate fusion and DRL hold torch networks of local classes: they pickle (and joblib) too."""
    import io
    import pickle

    import joblib

    X, X_test, _ = _data(rng)
    est = EnhancedDetector(**{"detector": "PCA", "program": "random", "random_state": 0, **options}).fit(X)
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    for again in (pickle.loads(pickle.dumps(est)), joblib.load(buffer)):
        np.testing.assert_array_equal(again.decision_function(X_test), est.decision_function(X_test))


def test_clone_and_get_params():
    est = _est(lam=2.0, fusion="collate")
    copy = clone(est)
    assert copy is not est and copy.get_params()["lam"] == 2.0
    assert set(EnhancedDetector().get_params()) >= {"detector", "program", "fusion", "classifier", "lam",
                                                    "syn_ratio", "random_state", "store"}


def test_pipeline(rng):
    X, X_test, _ = _data(rng)
    pipe = Pipeline([("scale", StandardScaler()), ("det", _est())]).fit(X * 100)
    assert pipe.decision_function(X_test * 100).shape == (120,)
    assert set(np.unique(pipe.predict(X_test * 100))) <= {0, 1}


def test_bad_arguments(rng):
    X, _, _ = _data(rng)
    with pytest.raises(ValueError, match="fusion"):
        _est(fusion="max").fit(X)
    with pytest.raises(ValueError, match="allow_uncertified=True"):
        _est(program="print('hi')", allow_uncertified=False).fit(X)
    with pytest.raises(TypeError, match="positional"):
        EnhancedDetector("IForest")
    with pytest.raises(NotFittedError):
        _est().decision_function(X)
    est = _est().fit(X)
    with pytest.raises(ValueError, match="features"):
        est.decision_function(X[:, :2])


def test_fitted_attributes_before_fit_and_a_y_of_the_wrong_length(rng):
    """The new-user walkthrough: expected_gain_ before fit was an AttributeError, and y was never looked at."""
    X, _, _ = _data(rng)
    est = _est(program="none")
    with pytest.raises(NotFittedError, match="not fitted yet: call 'fit' before reading expected_gain_"):
        est.expected_gain_
    assert not hasattr(est, "selection_")  # NotFittedError is an AttributeError too
    with pytest.raises(AttributeError, match="no attribute 'nope_'"):
        est.nope_
    for y in (np.zeros(len(X) - 1), 0):
        with pytest.raises(ValueError, match=rf"y must have one entry per row of X \({len(X)}\); it is ignored"):
            est.fit(X, y)
    assert est.fit(X, np.zeros(len(X))).expected_gain_ is None


def test_hostile_source_is_refused_by_the_sandbox(rng):
    X, _, _ = _data(rng)
    with pytest.raises(SynthesisError, match="audit"):
        _est(program=HOSTILE).fit(X)


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "s.sqlite"


def _certify(path, source=HONEST, detector="Toy"):
    with ProgramStore(path) as store:
        sha = store.add(source, detector)
        store.record_verification(sha, {"borderline": 0.5}, passed=True, suite_version=suite_version())
    return sha


def test_certified_program_from_store(rng, store_path):
    X, X_test, _ = _data(rng)
    with pytest.raises(NotCertified, match="das regenerate"):
        _est(program="certified", store=store_path).fit(X)
    sha = _certify(store_path)
    est = _est(program="certified", store=store_path).fit(X)
    assert est.program_sha256_ == sha
    assert _est(program=sha[:12], store=store_path).fit(X).program_sha256_ == sha


def test_uncertified_program_refused(rng, store_path):
    X, _, _ = _data(rng)
    with ProgramStore(store_path) as store:
        sha = store.add(HONEST, "Toy")  # a candidate: never verified
    with pytest.raises(NotCertified, match="only certified programs run"):
        _est(program=sha, store=store_path).fit(X)
    other = _certify(store_path, HONEST + "\n# for another detector\n", detector="PCA")
    with pytest.raises(ProgramRefused, match="PCA"):
        _est(program=other, store=store_path).fit(X)


def test_tampered_program_refused(rng, store_path):
    X, _, _ = _data(rng)
    sha = _certify(store_path)
    con = sqlite3.connect(store_path)
    with con:
        con.execute("UPDATE programs SET source = ? WHERE sha256 = ?", (HONEST + "\n# evil\n", sha))
    con.close()
    with pytest.raises(TamperedProgram):
        _est(program=sha, store=store_path).fit(X)


def test_program_text_needs_the_explicit_opt_in(rng, store_path):
    from das.collab.certification import UncertifiedProgramWarning

    X, _, _ = _data(rng)
    with pytest.raises(ProgramRefused, match="allow_uncertified=True"):
        EnhancedDetector(detector=ToyDetector(), program=HONEST, store=store_path).fit(X)
    with pytest.warns(UncertifiedProgramWarning):
        est = _est(store=store_path).fit(X)
    assert est.program_sha256_ is not None and len(est.X_syn_) == 30
    with ProgramStore(store_path) as store:  # the same text, revoked in the store: refused even with the opt-in
        sha = store.add(HONEST, "Toy")
        store.record_verification(sha, {}, passed=True, suite_version=suite_version())
        store.revoke(sha, "copies rows on large data")
    with pytest.raises(ProgramRefused, match="revoked"):
        _est(store=store_path).fit(X)


def test_fitted_fusion_is_kept_whatever_fusion_is_set_to_later(rng):
    X, X_test, _ = _data(rng)
    est = EnhancedDetector(detector=ToyDetector(), program="random").fit(X)
    before = est.decision_function(X_test)
    est.set_params(fusion="collate")
    np.testing.assert_array_equal(est.decision_function(X_test), before)
    assert est.fusion_name_ == "sum"


@pytest.mark.parametrize("syn_ratio", [0.05, 0.2])
def test_the_users_syn_ratio_sets_the_synthetic_rows(rng, syn_ratio):
    X, _, _ = _data(rng)
    est = EnhancedDetector(detector=ToyDetector(), program="random", syn_ratio=syn_ratio).fit(X)
    assert est.X_syn_.shape == (round(syn_ratio * len(X)), X.shape[1])


def test_none_and_random_need_no_program(rng):
    X, X_test, _ = _data(rng)
    none = EnhancedDetector(detector=ToyDetector(), program="none").fit(X)
    np.testing.assert_array_equal(none.decision_function(X_test), ToyDetector().fit(X).predict_score(X_test))
    assert none.program_sha256_ is None and none.classifier_ is None


def test_scikit_learn_outlier_detectors_are_negated_and_others_refused(rng):
    from sklearn.ensemble import IsolationForest
    from sklearn.linear_model import LinearRegression

    X, X_test, y_test = _data(rng)
    est = EnhancedDetector(detector=IsolationForest(random_state=0), program="none").fit(X)
    fitted = IsolationForest(random_state=0).fit(X)
    np.testing.assert_allclose(est.base_decision_function(X_test), -fitted.decision_function(X_test))
    from das.collab.enhance import UnsupportedDetector

    with pytest.raises(UnsupportedDetector, match="LinearRegression is not supported"):
        EnhancedDetector(detector=LinearRegression(), program="none").fit(X)


def test_isolation_forest_on_cardio_scores_like_pyod(odds_dir):
    """scikit-learn's IsolationForest (higher = more normal) gives PyOD IForest's AUC-ROC, not its mirror."""
    from pyod.models.iforest import IForest
    from sklearn.ensemble import IsolationForest

    from das.collab.data import load_dataset, split_dataset
    from das.collab.metrics import auc_roc

    path = next(p for p in (odds_dir / "cardio.npz", odds_dir / "cardio.mat") if p.exists())
    split = split_dataset(load_dataset(path), scale="standard")
    est = EnhancedDetector(detector=IsolationForest(random_state=0), program="none").fit(split.X_train)
    ours = auc_roc(split.y_test, est.base_decision_function(split.X_test))
    pyod = auc_roc(split.y_test, IForest(random_state=0).fit(split.X_train).decision_function(split.X_test))
    assert abs(ours - pyod) < 0.01 and ours > 0.8


def test_collate_fusion_is_guarded_on_planted_anomalies(rng):
    """The CoLLaTe guard ran: its table holds one planted AUC-PR per weight and the weight is its best."""
    from das.collab.collate import GUARD_WEIGHTS

    X, X_test, _ = _data(rng)
    est = EnhancedDetector(detector=ToyDetector(), program="random", fusion="collate").fit(X)
    table = est.fusion_.guard_table_
    assert set(table) == set(GUARD_WEIGHTS) and all(0.0 <= v <= 1.0 for v in table.values())
    assert est.fusion_.weight_ == max(GUARD_WEIGHTS, key=table.get)


@pytest.mark.parametrize("where", ["fit", "known", "score"])
def test_values_beyond_float32_are_a_clear_error(where):
    """Red team B1: the forest computes in float32; 1e39 was scikit-learn's 'contains infinity'."""
    X = np.random.default_rng(0).normal(size=(60, 3))
    huge = X.copy()
    huge[5, 1] = 1e39
    est = EnhancedDetector(detector="IForest", program="random", random_state=0)
    with pytest.raises(ValueError, match="beyond float32's range"):
        if where == "fit":
            est.fit(huge)
        elif where == "known":
            est.fit(huge, y_known=[5])
        else:
            est.fit(X).decision_function(huge)


def test_random_outliers_stay_within_float32_near_its_limit():
    """Red team F5: the box widened around a column at +-FLT_MAX left float32 and the forest failed."""
    from das.sandbox.results import MAX_ABS_VALUE

    X = np.random.default_rng(0).normal(size=(80, 3))
    X[:, 2] = np.where(X[:, 2] > 0, MAX_ABS_VALUE, -MAX_ABS_VALUE)
    est = EnhancedDetector(detector="IForest", program="random", random_state=0).fit(X)
    assert np.abs(est.X_syn_).max() <= MAX_ABS_VALUE and np.isfinite(est.decision_scores_).all()


def test_collate_near_float32s_limit_is_no_traceback():
    """Red team round 4, F3: the anomalies planted for the CoLLaTe guard left float32's range."""
    from das.sandbox.results import MAX_ABS_VALUE

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    X[:, 1] = rng.uniform(0.5, 1.0, 120) * MAX_ABS_VALUE
    est = EnhancedDetector(detector="IForest", program="random", fusion="collate", random_state=0).fit(X)
    assert np.isfinite(est.decision_scores_).all()


# ------------------------------------------------------------------ the new-user walkthrough's M7
@pytest.mark.parametrize("detector", [object(), 42])
def test_an_object_that_is_no_detector_is_refused_before_scikit_learn_reads_it(rng, detector):
    from das.collab.enhance import UnsupportedDetector

    with pytest.raises(UnsupportedDetector, match=f"detector {type(detector).__name__} is not supported"):
        EnhancedDetector(detector=detector, program="none").fit(_data(rng)[0])


@pytest.mark.parametrize("random_state", [-1, 2**32, "a", np.random.default_rng(0), True])
def test_a_random_state_the_detectors_cannot_take_is_refused_in_das_words(rng, random_state):
    with pytest.raises(ValueError, match=r"random_state must be None, an int in \[0, 2\*\*32 - 1\] or a numpy "
                                         r"RandomState, got"):
        EnhancedDetector(detector="IForest", program="none", random_state=random_state).fit(_data(rng)[0])


def test_missing_and_text_values_of_X_are_placed_and_named(rng):
    import pandas as pd

    from das.detectors import DetectorInputError

    X = rng.normal(size=(40, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).astype("Float64")
    frame.iloc[2, 2] = pd.NA
    with pytest.raises(DetectorInputError, match=r"X has 1 NaN and 0 infinite values, first at \(row 2, "
                                                 r"column 'c'\); drop or impute those rows"):
        EnhancedDetector(detector="IForest", program="none").fit(frame)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(s="x", k=pd.Categorical(["u", "v"] * 20))
    with pytest.raises(DetectorInputError, match=r"X column\(s\) 's', 'k' are not numbers"):
        EnhancedDetector(detector="IForest", program="none").fit(frame)
    est = EnhancedDetector(detector="IForest", program="none").fit(X)
    X[3, 1] = np.nan
    with pytest.raises(DetectorInputError, match=r"first at \(row 3, column 1\)"):
        est.decision_function(X)


@pytest.mark.parametrize("extra, message", [
    ({"o": pd.Series([1.0, pd.NA] * 20, dtype=object)}, r"X column\(s\) 'o' are not numbers"),
    ({"t": pd.date_range("2020", periods=40)}, r"X column\(s\) 't' are not numbers \(text, dates"),
    ({"a": np.arange(40.0)}, "X has repeated column names 'a'"),
])
def test_dataframe_columns_das_cannot_read_are_named(extra, message):
    # The second walkthrough's M6: pandas', numpy's and narwhals' own errors came through.
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=["a", "b", "c"])
    frame = pd.concat([frame, pd.DataFrame(extra)], axis=1)
    with pytest.raises(DetectorInputError, match=message):
        EnhancedDetector(detector="IForest", program="none").fit(frame)


@pytest.mark.parametrize("lam", ["2", None, True, -1.0, np.inf])
def test_lam_is_checked_whatever_the_program(lam):
    with pytest.raises(ValueError, match="lam must be a finite non-negative number"):
        EnhancedDetector(detector="IForest", program="none", lam=lam).fit(np.ones((10, 2)))


@pytest.mark.parametrize("program", ["NONE", "None", "Random"])
def test_program_keywords_are_read_in_any_case(rng, program):
    est = EnhancedDetector(detector="IForest", program=program).fit(_data(rng)[0])
    assert est.program == program and est.enhancement_ is not None  # the parameter is kept as given


def test_program_text_without_the_opt_in_is_named_as_program_text(rng, store_path):
    with pytest.raises(ProgramRefused, match="program text that is not certified runs only with "
                                             "allow_uncertified=True") as err:
        EnhancedDetector(detector=ToyDetector(), program=HONEST, store=store_path).fit(_data(rng)[0])
    assert "unknown program" not in str(err.value)


def test_a_lam_that_is_not_used_is_warned_about_in_the_api_too():
    """Walkthrough 3, M5: the CLI warned about --lam with auto; EnhancedDetector(lam=..) said nothing."""
    X = np.random.default_rng(0).normal(size=(80, 3))
    with pytest.warns(UserWarning, match="lam=0.5 is not used: program='auto' chooses"):
        EnhancedDetector(detector=ToyDetector(), program="auto", lam=0.5, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        EnhancedDetector(detector=ToyDetector(), program="random", lam=0.5, random_state=0).fit(X)


def test_fit_warns_that_a_y_with_anomalies_is_ignored(tmp_path, rng):
    """Walkthrough 4, M9: fit(X, y) with anomalies in y fitted them as normal rows, without a word."""
    X = rng.normal(size=(60, 3))
    y = np.r_[np.zeros(55), np.ones(5)]
    est = EnhancedDetector(detector="ECOD", program="none", store=str(tmp_path / "s.sqlite"))
    with pytest.warns(UserWarning, match=r"y marks 5 row\(s\) as anomalies, but y is ignored.*y_known=\(y == 1\)"):
        est.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(X, np.zeros(60))
        est.fit(X, ["a"] * 60)
        est.fit(X, y, y_known=y == 1)
