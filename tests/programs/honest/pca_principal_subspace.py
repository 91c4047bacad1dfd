import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Hard anomalies for PCA: points on the principal subspace with a small residual.

    Policy
    ------
    PCA scores a point by its (weighted) distance from the subspace of the
    leading components. A point moved *along* the leading directions, slightly
    beyond the observed range of the projections, keeps a small reconstruction
    residual and so a low score, although no normal row lies there.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_train, n_features = X.shape
    mean = X.mean(axis=0)
    centered = X - mean
    # Principal directions from the SVD of the centred training data.
    _, sing, vt = np.linalg.svd(centered, full_matrices=False)
    energy = sing ** 2 / max(float((sing ** 2).sum()), 1e-12)
    k = max(1, int(np.searchsorted(np.cumsum(energy), 0.9) + 1))
    basis = vt[:k]
    proj = centered @ basis.T
    # Coordinates along the leading directions: Gaussian with 1.3x the observed
    # spread, so points reach a little beyond the data along, not across, the subspace.
    coords = np.random.normal(size=(n_samples, k)) * (1.3 * proj.std(axis=0) + 1e-12)
    # Residual: half of a random training row's own residual, so the distance to the
    # subspace stays in the normal range.
    rows = np.random.randint(0, n_train, size=n_samples)
    residual = 0.5 * (centered[rows] - proj[rows] @ basis)
    return mean + coords @ basis + residual
