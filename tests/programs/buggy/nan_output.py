import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Bug: log of values that can be negative puts NaN into the output."""
    X = np.asarray(X_train, dtype=np.float64)
    idx = np.random.randint(0, len(X), size=n_samples)
    out = X[idx] + np.random.normal(scale=0.1, size=(n_samples, X.shape[1]))
    return np.log(out)
