"""One (dataset split, detector, program) evaluation for the benchmark.

All methods share one base detector fitted on ``split.X_train`` with
``random_state=seed`` and the one default configuration of
:mod:`collab.pipeline` (random forest seeded by ``seed``, N_syn = 10 % of
n_train, lambda = 2, collate defaults); the enhanced methods are the
pipeline's scores, the same ones ``EnhancedDetector`` returns. Methods:

- ``base``: the detector alone.
- ``sum``: LLM-DAS sum fusion with the program's synthetic anomalies.
- ``collate``: CoLLaTe-style fusion with the same classifier and anomalies.
- ``classifier``: the enhancement classifier alone.
- ``random``: sum fusion with uniform outliers from the 10 %-widened training
  bounding box instead of the program (LLM-DAS App. 6.13.1).
- ``gaussian``: sum fusion with Gaussian-noise perturbations of training rows
  (App. 6.13.1; see :func:`collab.enhance.gaussian_noise`).
- ``auto``: the default, ``program="auto"`` (:mod:`collab.selection`): the
  label-free choice among the certified programs, random outliers, their
  ensemble and no enhancement (an option that gains on every planted kind,
  else the detector's default: random outliers at lambda 1 or the base), sum
  fusion at the chosen lambda; the choice, its table and its expected gain are
  kept in the result.

Only training data and synthetic rows are used for fitting; ``y_test`` only
for the metrics.
"""
from time import perf_counter

import numpy as np

from das.collab import enhance, pipeline
from das.collab.synthesis import CertifiedProgram, GaussianNoise, RandomOutliers
from das.program_store import source_sha256

METHODS = ("base", "sum", "collate", "classifier", "random", "gaussian", "auto")
_TIMING_KEYS = ("base_fit", "base_score", "synthesis", "classifier_fit", "enhanced_score", "collate_fit",
                "auto")
#: The methods that run a synthesis program (the others need none).
PROGRAM_METHODS = frozenset({"sum", "collate", "classifier"})
#: The baselines' synthesis sources, by method.
_BASELINES = {s.name: s for s in (RandomOutliers(), GaussianNoise())}


def evaluate(split, detector_name, program_source, *, seed=0, methods=METHODS, return_scores=False,
             auto_candidates=None):
    """Evaluate base vs enhanced detectors on one split, through :mod:`collab.pipeline`.

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
    auto_candidates : list of synthesis sources (:func:`collab.selection.candidates`), optional
        What ``auto`` chooses among (default: read from the default store).
    return_scores : bool, default=False
        Also return test scores per method, the detector's scores of X_train
        (``base_train``) and of the synthetic rows (``base_syn``), and ``X_syn``.

    Returns
    -------
    dict
        ``metrics`` {method: {"auc_pr", "auc_roc"}}, ``timings`` (seconds; 0.0
        for stages not run; ``auto``: its whole fit, selection included, on the
        shared base detector),
        ``n_syn``, ``n_train``, ``program_sha256``, ``selection`` (``auto``'s
        choice and table, or None) and, if asked, ``scores``.

    Raises
    ------
    collab.enhance.SynthesisError
        The program failed in the sandbox or its rows were refused on this data
        (:class:`collab.synthesis.OutputRefused`).
    """
    from das.collab.metrics import auc_pr, auc_roc

    methods = tuple(methods)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")
    X_train = np.asarray(split.X_train, dtype=np.float64)
    X_test = np.asarray(split.X_test, dtype=np.float64)
    y_test = np.asarray(split.y_test)
    n_syn = enhance.n_synthetic(len(X_train), enhance.SYN_RATIO)
    timings = dict.fromkeys(_TIMING_KEYS, 0.0)
    sha = None

    if PROGRAM_METHODS & set(methods):
        if not program_source:
            raise ValueError(f"methods {sorted(PROGRAM_METHODS & set(methods))} need a program source")
        program = CertifiedProgram(program_source, source_sha256(program_source))
        fitted = pipeline.fit_source(program, X_train, detector_name, seed=seed,
                                     fusions=("sum", "collate") if "collate" in methods else ("sum",))
        det, sha = fitted.detector, fitted.program_sha256
        timings.update(fitted.timings)
    else:
        t0 = perf_counter()
        det = enhance.fit_detector(detector_name, X_train, seed)
        timings["base_fit"] = perf_counter() - t0
    t0 = perf_counter()
    base_train = enhance.base_scores(det, X_train)
    scores = {"base": enhance.base_scores(det, X_test), "base_train": base_train}
    timings["base_score"] = perf_counter() - t0

    if PROGRAM_METHODS & set(methods):
        t0 = perf_counter()
        scores.update(fitted.scores(X_test, base=scores["base"]))
        timings["enhanced_score"] = perf_counter() - t0
        scores["base_syn"], scores["X_syn"] = enhance.base_scores(det, fitted.X_syn), fitted.X_syn
    for name, source in _BASELINES.items():
        if name in methods:
            X_fake = source.rows(X_train, n_syn, None, seed)
            scores[name] = enhance.fit_enhancement(det, X_train, X_fake, seed=seed, base_train=base_train).scores(
                X_test, base=scores["base"])["sum"]
    selection = None
    if "auto" in methods:
        t0 = perf_counter()
        auto = pipeline.fit_auto(X_train, detector_name, seed=seed, det=det, candidates=auto_candidates)
        scores["auto"] = auto.scores(X_test)["sum"]
        timings["auto"], selection = perf_counter() - t0, auto.selection

    result = {
        "metrics": {m: {"auc_pr": float(auc_pr(y_test, scores[m])), "auc_roc": float(auc_roc(y_test, scores[m]))}
                    for m in methods},
        "timings": timings,
        "n_syn": n_syn,
        "n_train": len(X_train),
        "program_sha256": sha,
        "selection": selection,
    }
    if return_scores:
        result["scores"] = scores
    return result
