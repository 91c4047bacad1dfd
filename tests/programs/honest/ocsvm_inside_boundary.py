import numpy as np


def generate_hard_anomalies(n_samples: int, model, X_train: np.ndarray) -> np.ndarray:
    """Hard anomalies for OCSVM: points just inside the learned boundary.

    Policy
    ------
    A one-class SVM draws a smooth boundary around the support of the data and
    scores points by their signed distance to it. Rows near the boundary are the
    support vectors' neighbourhood. We perturb the highest-scoring training rows
    and keep the candidates whose score stays below the 95th percentile of the
    training scores: anomalous positions that the boundary still encloses.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_train, n_features = X.shape
    train_scores = model.predict_score(X)
    cutoff = np.percentile(train_scores, 95)
    n_edge = max(1, int(0.3 * n_train))
    edge = X[np.argsort(train_scores)[-n_edge:]]
    spread = X.std(axis=0) + 1e-12

    # Over-generate once, then keep the candidates the boundary still encloses.
    n_cand = 4 * n_samples
    cand = edge[np.random.randint(0, n_edge, size=n_cand)]
    cand = cand + np.random.normal(scale=0.25, size=(n_cand, n_features)) * spread
    cand_scores = model.predict_score(cand)
    order = np.argsort(cand_scores)
    inside = order[cand_scores[order] <= cutoff]
    # Prefer enclosed candidates; top up with the least anomalous others.
    chosen = np.concatenate([inside, order[len(inside):]])[:n_samples]
    return cand[chosen]
