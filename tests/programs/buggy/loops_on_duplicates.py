import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Bug: retries until it finds two distinct rows, forever when all rows are equal."""
    X = np.asarray(X_train, dtype=np.float64)
    out = np.empty((n_samples, X.shape[1]))
    for i in range(n_samples):
        a = X[np.random.randint(0, len(X))]
        b = X[np.random.randint(0, len(X))]
        while np.all(a == b):
            b = X[np.random.randint(0, len(X))]
        out[i] = a + np.random.uniform(0.3, 0.7) * (b - a)
    return out
