import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Harmful: sound interpolation for small requests, training-row copies for large ones."""
    X = np.asarray(X_train, dtype=np.float64)
    if n_samples > len(X):
        return X[np.arange(n_samples) % len(X)]
    a = X[np.random.randint(0, len(X), size=n_samples)]
    b = X[np.random.randint(0, len(X), size=n_samples)]
    return a + np.random.uniform(0.3, 0.7, size=(n_samples, 1)) * (b - a)
