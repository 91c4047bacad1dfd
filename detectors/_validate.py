"""Input validation shared by every detector."""
import numpy as np

from detectors.errors import DetectorInputError


def check_X(X, n_features=None, min_samples=1):
    """Return ``X`` as a C-contiguous float64 2-D array or raise ``DetectorInputError``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_features : int, optional
        Width the fitted detector expects; checked when given.
    min_samples : int, default=1
        Fewest rows accepted (fitting needs at least 2).
    """
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise DetectorInputError(f"X is not array-like: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise DetectorInputError(f"X must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise DetectorInputError("X must be real-valued, got complex numbers")
    if arr.ndim != 2:
        raise DetectorInputError(f"X must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] < min_samples:
        raise DetectorInputError(f"X needs at least {min_samples} row(s), got {arr.shape[0]}")
    if arr.shape[1] < 1:
        raise DetectorInputError("X needs at least 1 feature, got 0")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise DetectorInputError("X contains NaN or infinite values")
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
