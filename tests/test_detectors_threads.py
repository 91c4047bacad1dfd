"""Same seed → same scores whatever the thread count, for every detector."""
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from threadpoolctl import threadpool_info, threadpool_limits

from das.detectors import DETECTOR_NAMES, make_detector

FAST = {"DRL": {"epochs": 10}}
TAKES_N_JOBS = {"IForest", "LOF", "KNN"}


@pytest.fixture(scope="module")
def data():
    """1,000 correlated normal training rows; test = 400 normals + 40 scattered anomalies."""
    rng = np.random.default_rng(7)
    mix = rng.normal(size=(16, 16))
    X_train = rng.normal(size=(1000, 16)) @ mix
    X_test = np.r_[rng.normal(size=(400, 16)) @ mix, rng.uniform(-12, 12, size=(40, 16))]
    y_test = np.r_[np.zeros(400), np.ones(40)]
    return X_train, X_test, y_test


def _scores_at(threads, name, data):
    """Fit and score with ``threads`` torch/BLAS/OpenMP threads (and ``n_jobs``)."""
    X_train, X_test, _ = data
    params = {"random_state": 1, **FAST.get(name, {})}
    if name in TAKES_N_JOBS:
        params["n_jobs"] = threads
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            return make_detector(name, **params).fit(X_train).predict_score(X_test)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_one_and_two_threads_give_identical_scores(name, data):
    one, two = _scores_at(1, name, data), _scores_at(2, name, data)
    y_test = data[2]
    np.testing.assert_array_equal(one, two)
    assert average_precision_score(y_test, one) == average_precision_score(y_test, two)


@pytest.mark.parametrize("name, method", [("PCA", "_fit_scores"), ("DRL", "_train")])
def test_detectors_compute_on_one_thread_and_restore_the_callers_setting(name, method, data,
                                                                         monkeypatch):
    cls = type(make_detector(name))
    compute, seen = getattr(cls, method), []

    def spy(self, X):
        pools = {pool["num_threads"] for pool in threadpool_info()}
        seen.append((torch.get_num_threads(), pools))
        return compute(self, X)

    monkeypatch.setattr(cls, method, spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        make_detector(name, random_state=0, **FAST.get(name, {})).fit(data[0])
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert seen == [(1, {1})]
    assert after == 2


def test_concurrent_fits_from_threads_match_and_restore_the_setting(data):
    from concurrent.futures import ThreadPoolExecutor

    names = ["DRL", "PCA", "OCSVM", "DRL"]
    alone = [_scores_at(1, name, data) for name in names]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            together = list(pool.map(
                lambda name: make_detector(name, random_state=1, **FAST.get(name, {}))
                .fit(data[0]).predict_score(data[1]), names))
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)
    assert after == 2
