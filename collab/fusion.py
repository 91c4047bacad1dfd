"""Sum fusion of LLM-DAS (Eq. 7): ``F = minmax(f) + lam * minmax(f_tilde)``.

Pure functions over score arrays. The min-max scalers are fitted on the
*training* scores (the detector's scores of D_train and the enhancement
classifier's scores of D_train) and applied unchanged to new data.

The scalers are *trimmed*: ``lo`` and ``hi`` are the training scores ranked
``k`` from either end (``k = max(1, floor(TRIM * n))`` for ``n >= MIN_TRIM_ROWS``
scores, else the plain min and max), so a single extreme training score cannot
squash every other score into a sliver and hand the fused ranking to the other
term. Scaled scores are **not clipped**: points scoring beyond the training
range are exactly the likely anomalies, and clipping would tie them all at the
top and destroy their ranking (AUC-PR depends on that ranking).
"""
import numbers
from dataclasses import dataclass

import numpy as np

# Below this range a score is treated as constant on the training data.
_MIN_RANGE = 1e-12
#: Share of the training scores trimmed from each end before taking min and max.
TRIM = 0.01
#: Fewer training scores than this are scaled by their plain min and max.
MIN_TRIM_ROWS = 10


@dataclass(frozen=True)
class MinMax:
    """An affine map ``(x - lo) / scale`` fitted on training scores.

    Attributes
    ----------
    lo : float
        Trimmed minimum of the training scores.
    scale : float
        Trimmed ``max - min`` of the training scores (the plain range when the
        trimmed one is zero), or 1.0 when that is (numerically) zero too, so
        that constant training scores only get shifted.
    """

    lo: float
    scale: float

    def transform(self, scores):
        """Apply the fitted scaling to ``scores`` (no clipping)."""
        return (np.asarray(scores, dtype=np.float64) - self.lo) / self.scale


def fit_minmax(train_scores, trim=TRIM):
    """Fit a trimmed :class:`MinMax` scaler on finite 1-D training scores.

    Parameters
    ----------
    train_scores : array-like of shape (n,)
    trim : float in [0, 0.5), default=TRIM
        Share of scores ignored at each end (at least one score once there
        are :data:`MIN_TRIM_ROWS`); 0 gives the plain min-max.

    Returns
    -------
    MinMax
    """
    scores = np.asarray(train_scores, dtype=np.float64).ravel()
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError("training scores must be a non-empty array of finite values")
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim!r}")
    ranked = np.sort(scores)
    k = max(1, int(trim * len(ranked))) if trim > 0 and len(ranked) >= MIN_TRIM_ROWS else 0
    lo, hi = float(ranked[k]), float(ranked[len(ranked) - 1 - k])
    if hi - lo <= _MIN_RANGE:
        lo, hi = float(ranked[0]), float(ranked[-1])
    scale = hi - lo
    return MinMax(lo=lo, scale=scale if scale > _MIN_RANGE else 1.0)


@dataclass(frozen=True)
class SumFusion:
    """Fitted scalers of the detector (``base``) and classifier (``clf``) scores."""

    base: MinMax
    clf: MinMax
    lam: float = 1.0

    def fuse(self, base_scores, clf_scores):
        """Fused score ``minmax(f) + lam * minmax(f_tilde)`` (higher = more anomalous)."""
        return self.base.transform(base_scores) + self.lam * self.clf.transform(clf_scores)


def fit_sum_fusion(base_train, clf_train, lam=1.0):
    """Fit the two min-max scalers of Eq. 7 on training scores.

    Parameters
    ----------
    base_train : array-like of shape (n_train,)
        Detector scores ``f(D_train)``.
    clf_train : array-like of shape (n_aug,)
        Enhancement-classifier scores of its own training set
        ``D_aug = D_train ∪ D_syn``. Scores of ``D_train`` alone would not do: a
        forest's in-sample probabilities of its normal rows span only a sliver
        near 0, and scaling by that sliver lets the classifier swamp the detector.
    lam : float, default=1.0
        Weight of the classifier term.

    Returns
    -------
    SumFusion
    """
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite non-negative number, got {lam!r}")
    return SumFusion(base=fit_minmax(base_train), clf=fit_minmax(clf_train), lam=float(lam))
