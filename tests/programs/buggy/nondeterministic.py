import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Bug: an unseeded Generator ignores the sandbox seed, so runs differ."""
    rng = np.random.default_rng()
    X = np.asarray(X_train, dtype=np.float64)
    idx = rng.integers(0, len(X), size=n_samples)
    spread = X.std(axis=0) + 1e-12
    return X[idx] + rng.normal(scale=0.1, size=(n_samples, X.shape[1])) * spread
