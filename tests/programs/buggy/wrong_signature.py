import numpy as np


def generate_hard_anomalies(X_train, n_samples):
    """Bug: parameters in the wrong order and ``model`` missing."""
    return np.asarray(X_train, dtype=np.float64)[:n_samples] + 1.0
