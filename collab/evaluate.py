"""One (dataset split, detector, program) evaluation for the benchmark.

All methods share one base detector fitted on ``split.X_train`` with
``random_state=seed`` and the one default configuration (random forest with
default parameters seeded by ``seed``, N_syn = 10 % of n_train, lambda = 1,
collate defaults). Methods:

- ``base``: the detector alone.
- ``sum``: LLM-DAS sum fusion with the program's synthetic anomalies.
- ``collate``: CoLLaTe-style fusion with the same classifier and anomalies.
- ``classifier``: the enhancement classifier alone.
- ``random``: sum fusion with uniform outliers from the 10 %-widened training
  bounding box instead of the program (LLM-DAS App. 6.13.1).
- ``gaussian``: sum fusion with Gaussian-noise perturbations of training rows
  (App. 6.13.1; see :func:`collab.enhance.gaussian_noise`).

Only training data and synthetic rows are used for fitting; ``y_test`` only
for the metrics.
"""
import hashlib
from time import perf_counter

import numpy as np

from collab import enhance

METHODS = ("base", "sum", "collate", "classifier", "random", "gaussian")
SYN_RATIO = 0.1
LAM = 1.0
CLASSIFIER = "rf"
_TIMING_KEYS = ("base_fit", "base_score", "synthesis", "classifier_fit", "enhanced_score", "collate_fit")
_PROGRAM_METHODS = frozenset({"sum", "collate", "classifier"})


def _fit_enhancer(X_train, X_syn, seed):
    return enhance.fit_classifier(enhance.make_classifier(CLASSIFIER, seed), X_train, X_syn)


def _baseline_sum(X_train, X_test, X_fake, base_train, base_test, seed):
    clf = _fit_enhancer(X_train, X_fake, seed)
    fusion = enhance.fit_fusion(clf, base_train, X_train, X_fake, LAM)
    return fusion.fuse(base_test, enhance.classifier_scores(clf, X_test))


def evaluate(split, detector_name, program_source, *, seed=0, methods=METHODS, return_scores=False):
    """Evaluate base vs enhanced detectors on one split.

    Parameters
    ----------
    split : collab.data.Split
        Needs ``X_train``, ``X_test`` and ``y_test`` (1 = anomaly).
    detector_name : str
        Name for :func:`detectors.make_detector`.
    program_source : str
        Source of the synthesis program (run in the sandbox only); may be
        None when ``methods`` needs no program.
    seed : int, default=0
    methods : iterable of str, default=METHODS
    return_scores : bool, default=False
        Also return test scores per method, the detector's scores of X_train
        (``base_train``) and of the synthetic rows (``base_syn``), and ``X_syn``.

    Returns
    -------
    dict
        ``metrics`` {method: {"auc_pr", "auc_roc"}}, ``timings`` (seconds; 0.0
        for stages not run), ``n_syn``, ``n_train``, ``program_sha256`` and,
        if asked, ``scores``.

    Raises
    ------
    collab.enhance.SynthesisError
        The program failed in the sandbox.
    """
    from collab.metrics import auc_pr, auc_roc
    from detectors import make_detector

    methods = tuple(methods)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")
    X_train = np.asarray(split.X_train, dtype=np.float64)
    X_test = np.asarray(split.X_test, dtype=np.float64)
    y_test = np.asarray(split.y_test)
    n_syn = enhance.n_synthetic(len(X_train), SYN_RATIO)
    timings = dict.fromkeys(_TIMING_KEYS, 0.0)

    t0 = perf_counter()
    det = make_detector(detector_name, random_state=seed).fit(X_train)
    timings["base_fit"] = perf_counter() - t0
    t0 = perf_counter()
    base_train, base_test = det.predict_score(X_train), det.predict_score(X_test)
    timings["base_score"] = perf_counter() - t0
    scores = {"base": base_test, "base_train": base_train}

    if _PROGRAM_METHODS & set(methods):
        if not program_source:
            raise ValueError(f"methods {sorted(_PROGRAM_METHODS & set(methods))} need a program source")
        t0 = perf_counter()
        X_syn = enhance.synthesize(program_source, X_train, n_syn, det.predict_score, seed=seed)
        timings["synthesis"] = perf_counter() - t0
        t0 = perf_counter()
        clf = _fit_enhancer(X_train, X_syn, seed)
        timings["classifier_fit"] = perf_counter() - t0
        t0 = perf_counter()
        clf_test = enhance.classifier_scores(clf, X_test)
        scores["sum"] = enhance.fit_fusion(clf, base_train, X_train, X_syn, LAM).fuse(base_test, clf_test)
        timings["enhanced_score"] = perf_counter() - t0
        scores["classifier"] = clf_test
        scores["base_syn"], scores["X_syn"] = det.predict_score(X_syn), X_syn
        if "collate" in methods:
            from collab.collate import CollateFusion

            t0 = perf_counter()
            oob_train, oob_syn = enhance.out_of_bag_scores(clf, X_train, X_syn)
            fusion = CollateFusion(random_state=seed).fit(base_train, oob_train, X_train,
                                                          scores["base_syn"], oob_syn, X_syn)
            scores["collate"] = fusion.score(base_test, clf_test, X_test)
            timings["collate_fit"] = perf_counter() - t0

    if "random" in methods:
        X_fake = enhance.random_outliers(X_train, n_syn, np.random.default_rng(seed))
        scores["random"] = _baseline_sum(X_train, X_test, X_fake, base_train, base_test, seed)
    if "gaussian" in methods:
        X_fake = enhance.gaussian_noise(X_train, n_syn, np.random.default_rng(seed))
        scores["gaussian"] = _baseline_sum(X_train, X_test, X_fake, base_train, base_test, seed)

    result = {
        "metrics": {m: {"auc_pr": float(auc_pr(y_test, scores[m])), "auc_roc": float(auc_roc(y_test, scores[m]))}
                    for m in methods},
        "timings": timings,
        "n_syn": n_syn,
        "n_train": len(X_train),
        "program_sha256": (hashlib.sha256(program_source.encode("utf-8")).hexdigest()
                           if program_source else None),
    }
    if return_scores:
        result["scores"] = scores
    return result
