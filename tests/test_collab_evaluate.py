"""collab.evaluate: the benchmark cell, tested as strongly as the estimator it must agree with."""
from types import SimpleNamespace

import numpy as np
import pytest

from das.collab.enhance import gaussian_noise, n_synthetic, random_outliers
from das.collab.evaluate import METHODS, evaluate

PROGRAM = '''
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    """Policy: extrapolate the highest-scoring training rows away from the centre."""
    scores = model.predict_score(X_train)
    seeds = X_train[np.argsort(scores)[::-1][: max(1, len(X_train) // 5)]]
    chosen = seeds[np.random.randint(0, len(seeds), size=n_samples)]
    return chosen + 0.5 * (chosen - X_train.mean(axis=0)) + 0.05 * np.random.randn(n_samples, X_train.shape[1])
'''


@pytest.fixture
def split(rng):
    X_train = rng.normal(size=(400, 5))
    X_test = np.vstack([rng.normal(size=(150, 5)), rng.normal(size=(30, 5)) * 3 + 1])
    return SimpleNamespace(X_train=X_train, X_test=X_test, y_test=np.r_[np.zeros(150), np.ones(30)], name="toy")


def test_methods_contract():
    assert METHODS == ("base", "sum", "collate", "classifier", "random", "gaussian", "auto")


def test_evaluate_all_methods(split):
    fixed = tuple(m for m in METHODS if m != "auto")
    res = evaluate(split, "IForest", PROGRAM, seed=0, methods=fixed, return_scores=True)
    assert set(res["metrics"]) == set(fixed)
    for m in res["metrics"].values():
        assert 0.0 <= m["auc_pr"] <= 1.0 and 0.0 <= m["auc_roc"] <= 1.0
    assert res["metrics"]["base"]["auc_roc"] > 0.8  # clear anomalies: the detector works
    assert set(res["timings"]) == {"base_fit", "base_score", "synthesis", "classifier_fit",
                                   "enhanced_score", "collate_fit", "auto"}
    assert res["timings"].pop("auto") == 0.0 and all(t > 0 for t in res["timings"].values())
    assert res["n_train"] == 400 and res["n_syn"] == 40
    s = res["scores"]
    assert s["base"].shape == s["sum"].shape == s["collate"].shape == (180,)
    assert s["base_train"].shape == (400,) and s["base_syn"].shape == (40,)
    assert s["X_syn"].shape == (40, 5)
    assert len(res["program_sha256"]) == 64


def test_evaluate_auto_keeps_the_choice(split, certified_store):
    from das.collab.selection import candidates

    res = evaluate(split, "IForest", None, seed=0, methods=("base", "auto"),
                   auto_candidates=candidates("IForest", certified_store))
    sel = res["selection"]
    assert [row["candidate"] for row in sel["table"]][0] == "random"
    assert sel["choice"] in {row["candidate"] for row in sel["table"]} | {"none"} and sel["fallback"] is None
    assert sel["expected_gain"]["decision"] in ("enhance", "keep base")
    assert res["timings"]["auto"] > sel["seconds"] > 0
    assert 0.0 <= res["metrics"]["auto"]["auc_pr"] <= 1.0


def test_evaluate_subset_and_determinism(split):
    a = evaluate(split, "IForest", None, seed=1, methods=("base", "random", "gaussian"))
    b = evaluate(split, "IForest", None, seed=1, methods=("base", "random", "gaussian"))
    assert a["metrics"] == b["metrics"]
    assert set(a["metrics"]) == {"base", "random", "gaussian"} and "scores" not in a
    assert a["timings"]["synthesis"] == 0.0 and a["program_sha256"] is None


def test_evaluate_bad_methods(split):
    with pytest.raises(ValueError, match="unknown methods"):
        evaluate(split, "IForest", PROGRAM, methods=("base", "magic"))
    with pytest.raises(ValueError, match="need a program"):
        evaluate(split, "IForest", None, methods=("sum",))


def test_random_outliers_fill_widened_box(rng):
    X = np.c_[np.linspace(0, 10, 50), np.linspace(-1, 1, 50)]
    out = random_outliers(X, 5000, rng)
    assert out.shape == (5000, 2)
    assert out[:, 0].min() >= -1.0 and out[:, 0].max() <= 11.0
    assert out[:, 0].min() < -0.9 and out[:, 0].max() > 10.9  # the 10 % margin is used
    assert np.all(np.abs(out[:, 1]) <= 1.2)


def test_gaussian_noise_perturbs_training_rows(rng):
    X = np.c_[rng.normal(0, 1, 400), rng.normal(0, 10, 400), np.full(400, 3.0)]
    out = gaussian_noise(X, 4000, rng)
    # Noise std per feature = its training std (a constant column gets unit noise).
    assert out.shape == (4000, 3)
    assert np.std(out[:, 1]) == pytest.approx(np.sqrt(2) * 10, rel=0.15)
    assert np.std(out[:, 2]) == pytest.approx(1.0, rel=0.15)


def test_n_synthetic():
    assert n_synthetic(400) == 40 and n_synthetic(3) == 1 and n_synthetic(1000, 0.05) == 50
    assert n_synthetic(10, np.float32(0.5)) == 5 and n_synthetic(10, 10) == 100


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf"), 10.5, "0.1", None, True, [0.1]])
def test_n_synthetic_refuses_what_is_not_a_ratio_in_range(bad):
    with pytest.raises(ValueError, match="syn_ratio must be a number in"):
        n_synthetic(100, bad)


class _AbsFirst:
    """Hand-checkable detector: the score is |x_0|."""

    name = "AbsFirst"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X):
        return self

    def predict_score(self, X):
        return np.abs(np.asarray(X)[:, 0])


class _Linear:
    """Hand-checkable classifier: P(anomaly) = x_0 / 20."""

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        p = np.asarray(X)[:, 0] / 20.0
        return np.c_[1 - p, p]


def test_bench_sum_score_is_eq7_on_a_hand_checked_example(monkeypatch):
    """minmax(f) + lam * minmax(f~), scalers fitted on training scores (LLM-DAS Eq. 7)."""
    from das import detectors
    from das.collab import enhance

    monkeypatch.setattr(detectors, "make_detector", lambda name, **kw: _AbsFirst(**kw))
    monkeypatch.setattr(enhance, "make_classifier", lambda name, seed: _Linear())
    twenty = ("import numpy as np\n\ndef generate_hard_anomalies(n_samples, model, X_train):\n"
              "    return np.full((n_samples, X_train.shape[1]), 20.0)\n")
    split = SimpleNamespace(X_train=np.arange(10.0)[:, None], X_test=np.array([[3.0], [12.0]]),
                            y_test=np.array([0, 1]), name="hand")
    res = evaluate(split, "AbsFirst", twenty, methods=("base", "sum"), return_scores=True)
    # Scalers trimmed by one score at each end (n >= 10). f(D_train) = 0..9: lo 1, range 7.
    # D_syn = {20}; f~(D_train ∪ D_syn) = 0, .05, ..., .45, 1: lo .05, range .4.
    # Test rows 3 and 12: f = 3, 12 and f~ = .15, .6, so with lam = 2,
    # F = 2/7 + 2 * .1/.4 and 11/7 + 2 * .55/.4.
    assert enhance.LAM == 2.0
    np.testing.assert_allclose(res["scores"]["sum"], [2 / 7 + 2 * 0.25, 11 / 7 + 2 * 1.375])
    np.testing.assert_allclose(res["scores"]["base"], [3.0, 12.0])


def test_collate_is_fitted_on_out_of_bag_classifier_scores(monkeypatch, split):
    from das.collab import enhance
    from das.collab.collate import CollateFusion

    seen = {}
    fit_classifier, fit_collate = enhance.fit_classifier, CollateFusion.fit

    def spy_classifier(clf, X_train, X_syn):
        seen["clf"] = fit_classifier(clf, X_train, X_syn)
        return seen["clf"]

    def spy_collate(self, base_train, clf_train, X_train, base_syn, clf_syn, X_syn):
        seen["clf_train"], seen["clf_syn"] = clf_train, clf_syn
        return fit_collate(self, base_train, clf_train, X_train, base_syn, clf_syn, X_syn)

    monkeypatch.setattr(enhance, "fit_classifier", spy_classifier)
    monkeypatch.setattr(CollateFusion, "fit", spy_collate)
    evaluate(split, "IForest", PROGRAM, methods=("base", "collate"))
    clf, n = seen["clf"], len(split.X_train)
    oob = clf.oob_decision_function_[:, 1]
    fed = np.r_[seen["clf_train"], seen["clf_syn"]]
    finite = np.isfinite(oob)
    assert finite.mean() > 0.99
    np.testing.assert_array_equal(fed[finite], oob[finite])
    in_sample = clf.predict_proba(split.X_train)[:, 1]
    assert len(seen["clf_train"]) == n
    assert not np.allclose(seen["clf_train"], in_sample)  # in-sample forest scores are ~0 on D_train


@pytest.mark.parametrize("fusion", ["sum", "collate"])
def test_bench_and_estimator_give_the_same_scores(split, fusion):
    from das.collab.estimator import EnhancedDetector

    bench = evaluate(split, "IForest", PROGRAM, seed=3, methods=("base", fusion), return_scores=True)
    est = EnhancedDetector(detector="IForest", program=PROGRAM, allow_uncertified=True, fusion=fusion, random_state=3).fit(split.X_train)
    np.testing.assert_array_equal(est.decision_function(split.X_test), bench["scores"][fusion])
    np.testing.assert_array_equal(est.base_decision_function(split.X_test), bench["scores"]["base"])
    np.testing.assert_array_equal(est.X_syn_, bench["scores"]["X_syn"])
