"""Sum fusion of LLM-DAS (Eq. 7): ``F = minmax(f) + lam * minmax(f_tilde)``.

Pure functions over score arrays. The min-max scalers are fitted on the
*training* scores (the detector's scores of D_train and the enhancement
classifier's scores of D_train) and applied unchanged to new data.

Scaled scores are **not clipped** to [0, 1]: points scoring beyond the
training range are exactly the likely anomalies, and clipping would tie them
all at 1 and destroy their ranking (AUC-PR depends on that ranking).
"""
from dataclasses import dataclass

import numpy as np

# Below this range a score is treated as constant on the training data.
_MIN_RANGE = 1e-12


@dataclass(frozen=True)
class MinMax:
    """An affine map ``(x - lo) / scale`` fitted on training scores.

    Attributes
    ----------
    lo : float
        Minimum of the training scores.
    scale : float
        ``max - min`` of the training scores, or 1.0 when that range is
        (numerically) zero so that constant training scores only get shifted.
    """

    lo: float
    scale: float

    def transform(self, scores):
        """Apply the fitted scaling to ``scores`` (no clipping)."""
        return (np.asarray(scores, dtype=np.float64) - self.lo) / self.scale


def fit_minmax(train_scores):
    """Fit a :class:`MinMax` scaler on finite 1-D training scores.

    Parameters
    ----------
    train_scores : array-like of shape (n,)

    Returns
    -------
    MinMax
    """
    scores = np.asarray(train_scores, dtype=np.float64).ravel()
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError("training scores must be a non-empty array of finite values")
    lo, hi = float(scores.min()), float(scores.max())
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
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite non-negative number, got {lam!r}")
    return SumFusion(base=fit_minmax(base_train), clf=fit_minmax(clf_train), lam=float(lam))
