"""The compiled isolation-forest scoring gives scikit-learn's numbers to the bit, and is what runs on many rows."""
import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

import das.detectors._forest_scoring as forest_scoring
from das.detectors._forest_scoring import score_samples


@pytest.fixture
def rows():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3000, 6))
    X[:30] += 6.0
    return X


@pytest.mark.parametrize("params", [{}, {"max_features": 0.5}, {"max_samples": 64, "n_estimators": 37},
                                    {"max_samples": 1}])
def test_kernel_equals_scikit_learn(rows, monkeypatch, params):
    forest = IsolationForest(random_state=3, **params).fit(rows[:2000])
    for tree in forest.estimators_:  # thresholds a float32 row can equal: ties are taken left, as scikit-learn does
        tree.tree_.threshold[:] = tree.tree_.threshold.astype(np.float32)
    ties = np.concatenate([tree.tree_.threshold[tree.tree_.children_left != -1] for tree in forest.estimators_])
    X = np.vstack([rows, rows * 1e6, np.repeat(ties[:500, None], rows.shape[1], axis=1)])
    expected = forest.score_samples(X)
    monkeypatch.setattr(forest_scoring, "MIN_ROWS", 0)
    monkeypatch.setattr(forest_scoring, "SCORE_BLOCK_ROWS", 257)  # several blocks, a short last one
    monkeypatch.setattr(IsolationForest, "score_samples", lambda self, X: pytest.fail("scikit-learn scored"))
    np.testing.assert_array_equal(score_samples(forest, X), expected)


def test_few_rows_and_missing_values_are_scored_by_scikit_learn(rows, monkeypatch):
    forest = IsolationForest(random_state=0).fit(rows)
    calls = []
    original = IsolationForest.score_samples
    monkeypatch.setattr(IsolationForest, "score_samples", lambda self, X: calls.append(len(X)) or original(self, X))
    score_samples(forest, rows[:100])
    assert calls == [100]
    monkeypatch.setattr(forest_scoring, "MIN_ROWS", 0)
    calls.clear()
    score_samples(forest, rows[:100])
    assert calls == []
    with_nan = rows[:100].copy()
    with_nan[3, 2] = np.nan
    score_samples(forest, with_nan)
    assert calls == [100]


def test_a_refitted_forest_is_flattened_again(rows, monkeypatch):
    monkeypatch.setattr(forest_scoring, "MIN_ROWS", 0)
    forest = IsolationForest(random_state=0).fit(rows)
    score_samples(forest, rows)
    forest.set_params(random_state=1).fit(rows[::-1] * 2.0)
    monkeypatch.setattr(forest_scoring, "MIN_ROWS", 10**9)
    expected = score_samples(forest, rows)
    monkeypatch.setattr(forest_scoring, "MIN_ROWS", 0)
    np.testing.assert_array_equal(score_samples(forest, rows), expected)


def test_with_numba_switched_off_scikit_learn_scores(rows, monkeypatch):
    """``NUMBA_DISABLE_JIT=1`` would make the walk plain Python (minutes on large data)."""
    import numba

    forest = IsolationForest(random_state=0).fit(rows)
    monkeypatch.setattr(forest_scoring, "MIN_ROWS", 0)
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    forest_scoring._kernel.cache_clear()
    calls = []
    original = IsolationForest.score_samples
    monkeypatch.setattr(IsolationForest, "score_samples", lambda self, X: calls.append(len(X)) or original(self, X))
    try:
        score_samples(forest, rows[:50])
    finally:
        forest_scoring._kernel.cache_clear()
    assert calls == [50]
