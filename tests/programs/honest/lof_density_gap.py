import numpy as np
from sklearn.neighbors import NearestNeighbors


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Hard anomalies for LOF: points in locally sparse pockets next to dense rows.

    Policy
    ------
    LOF compares a point's local density with that of its neighbours. Offsetting
    a dense-region row by about its own k-distance, in a random direction, lands
    in a pocket whose density ratio to the neighbours stays near 1 (low LOF)
    because the neighbours are dense too, while no training row is there.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_train, n_features = X.shape
    k = min(10, n_train)
    dist, _ = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    kdist = dist[:, -1]
    # Dense rows: k-distance in the lower half.
    dense = np.argsort(kdist)[: max(1, n_train // 2)]
    anchors = dense[np.random.randint(0, len(dense), size=n_samples)]
    direction = np.random.normal(size=(n_samples, n_features))
    norms = np.sqrt((direction ** 2).sum(axis=1, keepdims=True)) + 1e-12
    radius = kdist[anchors][:, None] * np.random.uniform(0.5, 1.0, size=(n_samples, 1))
    floor = 1e-3 * (X.std(axis=0).mean() + 1e-12)  # duplicates: k-distance can be 0
    return X[anchors] + direction / norms * (radius + floor)
