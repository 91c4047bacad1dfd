import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Bug: returns the lowest-scoring training rows themselves (normal rows labelled 1)."""
    X = np.asarray(X_train, dtype=np.float64)
    order = np.argsort(model.predict_score(X))
    idx = order[np.arange(n_samples) % len(order)]
    return X[idx]
