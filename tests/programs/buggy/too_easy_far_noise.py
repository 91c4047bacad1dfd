import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Bug: far-away uniform noise, trivially detected (easier than random outliers)."""
    X = np.asarray(X_train, dtype=np.float64)
    lo, hi = X.min(axis=0), X.max(axis=0)
    width = hi - lo + 1.0
    far = np.random.uniform(hi + 5 * width, hi + 10 * width, size=(n_samples, X.shape[1]))
    return far
