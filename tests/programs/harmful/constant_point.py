import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Harmful: one point (the mean, nudged so it is not a training row) repeated n times."""
    X = np.asarray(X_train, dtype=np.float64)
    point = X.mean(axis=0) + 0.01 * (X.std(axis=0) + 1e-12)
    return np.tile(point, (n_samples, 1)) + np.random.normal(scale=1e-9, size=(n_samples, X.shape[1]))
