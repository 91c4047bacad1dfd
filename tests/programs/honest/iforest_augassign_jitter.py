import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Hard anomalies for IForest: feature-wise jitter of training rows.

    Policy
    ------
    Small independent shifts of each feature keep a row inside the dense range
    of every feature, so IForest's random axis-aligned splits still need many
    cuts to isolate it. Written with ``out[:, j] += x`` as LLMs often do (the
    paper's App. 6.18 program too); the sandbox rewrites it to plain assignment.
    """
    X = np.asarray(X_train, dtype=np.float64)
    idx = np.random.randint(0, len(X), size=n_samples)
    out = X[idx].copy()
    spread = X.std(axis=0) + 1e-12
    for j in range(X.shape[1]):
        out[:, j] += np.random.normal(scale=0.2, size=n_samples) * spread[j]
    return out
