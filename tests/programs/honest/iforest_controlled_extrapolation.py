import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Hard anomalies for Isolation Forest by controlled extrapolation of borderline rows.

    Policy
    ------
    IForest isolates a point with few axis-aligned splits when it lies away from
    the data cloud. Training rows with the highest scores sit on the fringe of the
    cloud; pushing them slightly further out along the direction from the data
    centre keeps them inside the range of most features, so random splits still
    need many cuts to isolate them, while they are no longer normal rows.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_train, n_features = X.shape
    # Score the training rows once; the fringe is the top 20 % of scores.
    scores = model.predict_score(X)
    n_seeds = max(1, int(0.2 * n_train))
    seeds = X[np.argsort(scores)[-n_seeds:]]
    center = np.median(X, axis=0)
    spread = X.std(axis=0) + 1e-12

    picks = np.random.randint(0, n_seeds, size=n_samples)
    base = seeds[picks]
    # Small magnitudes keep the points "camouflaged" just outside the fringe.
    magnitude = np.random.uniform(0.05, 0.3, size=(n_samples, 1))
    jitter = np.random.normal(scale=0.02, size=(n_samples, n_features)) * spread
    return base + magnitude * (base - center) + jitter
