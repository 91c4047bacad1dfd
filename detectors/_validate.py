"""Input validation shared by every detector: scikit-learn's ``check_array``, named errors."""
import numpy as np
from sklearn.utils import check_array

from das.detectors.errors import DetectorInputError


def check_X(X, n_features=None, min_samples=1):
    """Return ``X`` as a C-contiguous finite float64 2-D array or raise ``DetectorInputError``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_features : int, optional
        Width the fitted detector expects; checked when given.
    min_samples : int, default=1
        Fewest rows accepted (fitting needs at least 2).
    """
    try:
        arr = check_array(X, dtype=np.float64, order="C", ensure_min_samples=min_samples)
    except (TypeError, ValueError) as exc:  # sklearn's message names the problem
        raise DetectorInputError(str(exc)) from exc
    if n_features is not None and arr.shape[1] != n_features:
        raise DetectorInputError(
            f"X has {arr.shape[1]} features but the detector was fitted on {n_features}"
        )
    return arr


def finite_scores(scores):
    """Return scores as a finite float64 vector; +inf/NaN map to the largest finite value.

    Scores are rank-like, so mapping overflow to the top keeps the order that matters
    (an overflowing point is maximally anomalous) without leaking ``inf`` to callers.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    bad = ~np.isfinite(s)
    if bad.any():
        good = s[~bad]
        top = good.max() if good.size else 0.0
        low = good.min() if good.size else 0.0
        s = s.copy()
        s[np.isposinf(s) | np.isnan(s)] = top
        s[np.isneginf(s)] = low
    return s
