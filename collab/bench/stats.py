"""Paired comparison of an enhanced method against its base detector (Table 1)."""
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Comparison:
    """Summary of paired scores, one pair per dataset."""

    n: int
    base_mean: float
    method_mean: float
    delta: float
    percent: float
    wins: int
    ties: int
    losses: int
    p_value: float

    def to_dict(self):
        return asdict(self)


def win_count(base, method):
    """Return ``(wins, ties, losses)`` of ``method`` over ``base`` per pair."""
    base, method = _pairs(base, method)
    return int(np.sum(method > base)), int(np.sum(method == base)), int(np.sum(method < base))


def paired_ttest_greater(base, method):
    """One-tailed paired t-test p-value for H1: mean(method - base) > 0.

    Returns NaN when undefined (fewer than two pairs or all differences equal
    to zero), since no evidence either way is not the same as p = 1.
    """
    from scipy.stats import ttest_rel

    base, method = _pairs(base, method)
    diff = method - base
    if len(diff) < 2 or np.all(diff == 0):
        return math.nan
    with warnings.catch_warnings():
        # constant non-zero differences give t = +-inf: a valid limit, not a problem
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_rel(method, base, alternative="greater").pvalue)


def paired_comparison(base, method):
    """Table 1 row: means, delta, percent change, win count and p-value.

    Parameters
    ----------
    base, method : array-like of shape (n,)
        Scores (e.g. AUC-PR) of the base detector and of the method on the
        same n datasets, in the same order.

    Returns
    -------
    Comparison
    """
    base, method = _pairs(base, method)
    if len(base) == 0:
        nan = math.nan
        return Comparison(0, nan, nan, nan, nan, 0, 0, 0, nan)
    base_mean, method_mean = float(base.mean()), float(method.mean())
    delta = method_mean - base_mean
    percent = 100.0 * delta / base_mean if base_mean != 0 else math.nan
    wins, ties, losses = win_count(base, method)
    return Comparison(len(base), base_mean, method_mean, delta, percent, wins, ties, losses,
                      paired_ttest_greater(base, method))


def _pairs(base, method):
    base = np.asarray(base, dtype=np.float64).ravel()
    method = np.asarray(method, dtype=np.float64).ravel()
    if base.shape != method.shape:
        raise ValueError(f"paired scores differ in length: {base.shape[0]} vs {method.shape[0]}")
    return base, method
