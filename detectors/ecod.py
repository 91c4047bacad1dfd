"""ECOD (Li et al., 2022): empirical-CDF outlier scores, fitted on training rows only."""
import warnings

import numpy as np
from scipy.stats import skew

from das.detectors.base import Detector


def _tail_probability(train_sorted, X):
    """Smoothed P(T <= x) per column from sorted training columns, never 0."""
    n = train_sorted.shape[0]
    counts = np.empty(X.shape, dtype=np.float64)
    for j in range(X.shape[1]):
        counts[:, j] = np.searchsorted(train_sorted[:, j], X[:, j], side="right")
    # (count + 1) / (n + 1) is exactly what PyOD's ECOD computes for a single test row
    # (it appends the row to the training set before counting), and it keeps log finite.
    return (counts + 1.0) / (n + 1.0)


class ECOD(Detector):
    """Empirical Cumulative distribution based Outlier Detection, inductive form.

    PyOD's ECOD re-estimates the CDFs on training ∪ test rows, so a point's score
    depends on which other points are scored with it. Here the CDFs and the skewness
    signs are learned from the training rows at fit, so ``predict_score`` is a fixed
    function of each row (what a synthesis program probing the model needs); for one
    row at a time it equals PyOD's score.

    Parameters
    ----------
    contamination : float, default=0.1
    random_state : ignored
        Accepted for a uniform signature; ECOD is deterministic.
    """

    name = "ECOD"

    def __init__(self, *, contamination=0.1, random_state=None):
        super().__init__(contamination=contamination)
        self.random_state = random_state

    def _fit_scores(self, X):
        self.sorted_train_ = np.sort(X, axis=0)
        self.neg_sorted_train_ = np.sort(-X, axis=0)
        # Constant columns have no skewness (scipy warns and returns NaN); treat as 0.
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            self.skewness_sign_ = np.sign(np.nan_to_num(skew(X, axis=0)))
        return self._score(X)

    def _score(self, X):
        u_left = -np.log(_tail_probability(self.sorted_train_, X))
        u_right = -np.log(_tail_probability(self.neg_sorted_train_, -X))
        s = self.skewness_sign_
        u_skew = u_left * -np.sign(s - 1) + u_right * np.sign(s + 1)
        return np.maximum(np.maximum(u_left, u_right), u_skew).sum(axis=1)
