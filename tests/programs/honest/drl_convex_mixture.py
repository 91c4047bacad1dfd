import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Hard anomalies for DRL: convex mixtures of normal rows.

    Policy
    ------
    DRL scores a point by how far its representation falls from the span of a
    few fixed normal basis vectors. Mixtures of several normal rows map, for an
    encoder that is nearly linear around the data, to mixtures of normal
    representations, which stay close to that span, while the mixed points lie
    between modes where no normal row is observed.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_train, n_features = X.shape
    parts = 3
    idx = np.random.randint(0, n_train, size=(n_samples, parts))
    weights = np.random.dirichlet(np.ones(parts), size=n_samples)
    mixed = np.zeros((n_samples, n_features))
    for p in range(parts):
        mixed = mixed + weights[:, p:p + 1] * X[idx[:, p]]
    spread = X.std(axis=0) + 1e-12
    return mixed + np.random.normal(scale=0.05, size=mixed.shape) * spread
