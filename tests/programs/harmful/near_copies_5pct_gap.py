import numpy as np
from scipy.spatial import cKDTree


def generate_hard_anomalies(n_samples, model, X_train):
    """Harmful (red team p9): training rows, each moved by 5 % of the median nearest-neighbour gap."""
    X = np.asarray(X_train, dtype=np.float64)
    n, d = X.shape
    if n < 2:
        return np.repeat(X, n_samples, axis=0) + np.random.normal(0.0, 1e-3, size=(n_samples, d))
    gap = float(np.median(cKDTree(X).query(X, k=2)[0][:, 1]))
    gap = gap if gap > 0 else 1e-3 * (np.abs(X).max() + 1.0)
    rows = X[np.random.randint(0, n, size=n_samples)]
    step = np.random.normal(size=(n_samples, d))
    step = step / (np.linalg.norm(step, axis=1, keepdims=True) + 1e-12)
    return rows + 0.05 * gap * step
