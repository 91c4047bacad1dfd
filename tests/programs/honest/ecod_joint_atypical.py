import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Hard anomalies for ECOD: marginally typical, jointly atypical rows.

    Policy
    ------
    ECOD sums per-feature tail probabilities and ignores dependence between
    features. Drawing every coordinate independently from the central part of
    its own empirical marginal gives values that are typical one feature at a
    time, while the combination breaks the joint structure of the data.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_train, n_features = X.shape
    out = np.empty((n_samples, n_features))
    spread = X.std(axis=0) + 1e-12
    for j in range(n_features):
        column = np.sort(X[:, j])
        # Central 10-90 % of the marginal: low left- and right-tail probability.
        lo = int(0.1 * (n_train - 1))
        hi = max(lo + 1, int(0.9 * (n_train - 1)) + 1)
        out[:, j] = column[np.random.randint(lo, hi, size=n_samples)]
    # A small jitter so no row can coincide with a training row.
    return out + np.random.normal(scale=0.05, size=out.shape) * spread
