import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Harmful: the most normal training rows with 1e-6 noise, so no row is an exact copy."""
    X = np.asarray(X_train, dtype=np.float64)
    order = np.argsort(model.predict_score(X))
    rows = X[order[np.arange(n_samples) % len(order)]]
    return rows + np.random.normal(scale=1e-6, size=rows.shape)
