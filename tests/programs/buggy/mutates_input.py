import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Bug: centres X_train in place, corrupting the caller's training data."""
    X_train[:] = X_train - X_train.mean(axis=0)
    idx = np.random.randint(0, len(X_train), size=n_samples)
    spread = X_train.std(axis=0) + 1e-12
    noise = np.random.normal(scale=0.1, size=(n_samples, X_train.shape[1])) * spread
    return X_train[idx] + noise
