import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Bug: builds a dense pairwise tensor far beyond any memory limit."""
    X = np.asarray(X_train, dtype=np.float64)
    huge = np.ones((200_000, 200_000))
    return X[:n_samples] + huge[:n_samples, : X.shape[1]]
