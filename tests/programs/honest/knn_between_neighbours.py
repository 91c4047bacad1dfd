import numpy as np
from sklearn.neighbors import NearestNeighbors


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Hard anomalies for KNN: medium-density points between nearby training rows.

    Policy
    ------
    KNN scores a point by the distance to its k-th nearest training row. A point
    placed part-way between a row and one of its k nearest neighbours is close to
    both, so its k-NN distance stays in the normal range, yet it lies in the
    thinly populated gap between rows rather than on one.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_train, n_features = X.shape
    k = min(6, n_train)
    nn = NearestNeighbors(n_neighbors=k).fit(X)
    _, idx = nn.kneighbors(X)
    anchors = np.random.randint(0, n_train, size=n_samples)
    # Column 0 is the row itself; pick one of its other neighbours when there is one.
    cols = np.random.randint(min(1, k - 1), k, size=n_samples)
    partners = X[idx[anchors, cols]]
    t = np.random.uniform(0.3, 0.7, size=(n_samples, 1))
    spread = X.std(axis=0) + 1e-12
    jitter = np.random.normal(scale=0.05, size=(n_samples, n_features)) * spread
    return X[anchors] + t * (partners - X[anchors]) + jitter
