import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray, degree) -> np.ndarray:
    """Hard anomalies for IForest with a hardness degree (App. 6.16 interface).

    Policy
    ------
    Start from uniform points in the training bounding box (easy for IForest)
    and pull each towards a random training row. The pull sets the hardness:
    "low" keeps points far out (short isolation paths), "high" brings them
    into the dense regions where IForest needs many splits to isolate them.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_train, n_features = X.shape
    pull = {"low": 0.3, "med": 0.6, "high": 0.85}.get(degree, 0.6)
    lo, hi = X.min(axis=0), X.max(axis=0)
    start = np.random.uniform(lo, hi + 1e-12, size=(n_samples, n_features))
    target = X[np.random.randint(0, n_train, size=n_samples)]
    return start + pull * (target - start)
