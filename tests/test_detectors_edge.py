"""Degenerate inputs: every detector fits and gives finite scores, bad input is named."""
import numpy as np
import pytest

from das.detectors import DETECTOR_NAMES, DetectorInputError, make_detector

FAST = {"DRL": {"epochs": 3}}


def _cases():
    rng = np.random.default_rng(1)
    return {
        "d=1": rng.normal(size=(40, 1)),
        "constant column": np.c_[rng.normal(size=(40, 3)), np.full(40, 7.0)],
        "all constant": np.ones((25, 3)),
        "n=2": rng.normal(size=(2, 3)),
        "n=2 identical": np.ones((2, 2)),
        "duplicates": np.repeat(rng.normal(size=(3, 4)), 10, axis=0),
        "large magnitude": rng.normal(size=(50, 3)) * 1e8,
    }


CASES = _cases()


@pytest.mark.filterwarnings("error")  # degenerate data must not spray warnings either
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_degenerate_training_data(name, case):
    X = CASES[case]
    det = make_detector(name, random_state=0, **FAST.get(name, {})).fit(X)
    probe = np.r_[X, X + 3 * (np.abs(X).max() + 1), X[:1]]
    scores = det.predict_score(probe)
    assert scores.shape == (len(probe),) and scores.dtype == np.float64
    assert np.isfinite(scores).all() and np.isfinite(det.decision_scores_).all()


@pytest.mark.parametrize("name", ["LOF", "KNN"])
def test_neighbour_count_is_clamped(name):
    X = np.random.default_rng(0).normal(size=(4, 2))
    det = make_detector(name, n_neighbors=50).fit(X)
    assert det.n_neighbors_ == 3 and det.n_neighbors == 50  # the given value is kept


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_bad_input_raises_named_error(name):
    det = make_detector(name, **FAST.get(name, {}))
    with pytest.raises(DetectorInputError, match="2D array"):
        det.fit(np.arange(5.0))
    with pytest.raises(DetectorInputError, match="NaN"):
        det.fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(DetectorInputError, match="string"):
        det.fit(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(DetectorInputError, match="minimum of 2"):
        det.fit(np.ones((1, 3)))
    det.fit(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(DetectorInputError, match="fitted on 3"):
        det.predict_score(np.ones((2, 4)))


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_scoring_before_fit_is_refused(name):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        make_detector(name).predict_score(np.ones((2, 2)))
