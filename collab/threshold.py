"""Peaks-Over-Threshold: a label-free threshold fitted on *training* scores only.

PyOD's own rule (the ``1 - contamination`` quantile) is ``EnhancedDetector``'s
default, computed by PyOD's ``BaseDetector``. ``pot_threshold``
(Siffer et al., KDD 2017, "SPOT"): a generalized Pareto distribution is fitted
by maximum likelihood to the excesses over a high initial quantile ``t``; the
threshold is the score whose exceedance probability is ``risk``:
``z_q = t + sigma/gamma * ((risk * n / N_t) ** (-gamma) - 1)``
(``t - sigma * log(risk * n / N_t)`` when ``gamma`` is ~0).
"""
import numpy as np


class ThresholdError(ValueError):
    """Scores or settings from which no threshold can be computed."""


def _check_scores(scores):
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size < 2 or not np.all(np.isfinite(scores)):
        raise ThresholdError("need at least 2 finite scores to fit a threshold")
    return scores


def pot_threshold(scores, risk=1e-3, level=0.98):
    """Peaks-Over-Threshold threshold with a GPD tail fit (Siffer et al. 2017).

    Parameters
    ----------
    scores : array-like of shape (n,)
        Calibration scores (training scores, mostly normal).
    risk : float in (0, 1), default=1e-3
        Target probability that a normal score exceeds the threshold.
    level : float in (0, 1), default=0.98
        Quantile used as the initial threshold ``t``.

    Returns
    -------
    float
        The threshold ``z_q`` (at least ``t``).
    """
    from scipy import stats

    if not 0.0 < risk < 1.0 or not 0.0 < level < 1.0:
        raise ThresholdError("risk and level must lie strictly between 0 and 1")
    scores = _check_scores(scores)
    t = float(np.quantile(scores, level))
    peaks = scores[scores > t] - t
    n, n_t = scores.size, peaks.size
    if n_t < 3 or np.ptp(peaks) <= 0:
        # Too few distinct excesses for a tail fit: fall back to the largest score.
        return float(scores.max())
    gamma, _, sigma = stats.genpareto.fit(peaks, floc=0.0)
    ratio = risk * n / n_t
    if abs(gamma) < 1e-8:
        z = t - sigma * np.log(ratio)
    else:
        z = t + sigma / gamma * (ratio ** (-gamma) - 1.0)
    if not np.isfinite(z):
        return float(scores.max())
    return float(max(z, t))
