import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Hard anomalies for Isolation Forest inside dense regions, off the correlations.

    Policy
    ------
    IForest splits one feature at a time, so a point whose every coordinate lies
    in a densely populated range needs many splits even if the *combination* of
    values breaks the correlation between features. We interpolate between two
    training rows and add noise drawn from the training covariance rotated by a
    random sign flip, which keeps marginals dense but leaves the joint manifold.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_train, n_features = X.shape
    a = X[np.random.randint(0, n_train, size=n_samples)]
    b = X[np.random.randint(0, n_train, size=n_samples)]
    t = np.random.uniform(0.2, 0.8, size=(n_samples, 1))
    mid = a + t * (b - a)
    # Noise with the data's own covariance, each feature's sign flipped at random:
    # magnitudes stay typical while the correlation pattern is inverted.
    cov = np.cov(X, rowvar=False).reshape(n_features, n_features) + 1e-9 * np.eye(n_features)
    noise = np.random.multivariate_normal(np.zeros(n_features), cov, size=n_samples)
    flips = np.where(np.random.uniform(size=(n_samples, n_features)) < 0.5, -1.0, 1.0)
    return mid + 0.3 * noise * flips
