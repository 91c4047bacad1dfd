"""The enhancement pipeline, written once (LLM-DAS Eq. 4-7).

resolve or certify the program → fit the detector → synthesize hard anomalies
in the sandbox → fit the enhancement classifier and the fusion → record the run.

Every enhanced score in das comes from here: :class:`collab.estimator.EnhancedDetector`,
the benchmark cell (:func:`collab.evaluate.evaluate`), ``das enhance``
(:func:`enhance_dataset`) and ``das demo``. So a number in a report is the
number a user gets with the same inputs and seed.
"""
from dataclasses import dataclass, field
from time import perf_counter
from types import SimpleNamespace

import numpy as np
from sklearn.base import clone

from das.collab import enhance
from das.collab.enhance import CLASSIFIER, LAM, SYN_RATIO  # the one default configuration
from das.collab.certification import opened, resolve_program
from das.collab.progress import progress_bar, stage
from das.program_store import source_sha256

FUSIONS = ("sum", "collate")


def detector_name(detector):
    """Canonical name of ``detector`` (a registry name or a detector object), as the store keys programs."""
    if isinstance(detector, str):
        from das.detectors import make_detector

        return make_detector(detector).name
    return getattr(detector, "name", type(detector).__name__)


def fit_detector(detector, X_train, seed=0):
    """Fit a detector given by name (:func:`detectors.make_detector`) or as an unfitted object (cloned)."""
    if isinstance(detector, str):
        from das.detectors import make_detector

        return make_detector(detector, random_state=seed).fit(X_train)
    return clone(detector).fit(X_train)


def base_scores(det, X):
    """Scores of a fitted detector (``predict_score``, else ``decision_function``), higher = more anomalous."""
    score = getattr(det, "predict_score", None) or det.decision_function
    return np.asarray(score(X), dtype=np.float64).ravel()


@dataclass
class Enhancement:
    """A fitted detector, enhancement classifier and fusion(s).

    ``fusions`` maps each fitted fusion name ("sum", "collate") to its fitted
    object; ``timings`` holds seconds per stage (``base_fit``, ``synthesis``,
    ``classifier_fit``, ``collate_fit``, ``selection``; stages not run are absent).
    ``classifier`` is None when ``program="auto"`` chose the detector alone:
    every fusion's score is then the detector's. ``selection``: the label-free
    choice and its table (:class:`collab.selection.Selection` as a dict) when
    ``program="auto"``.
    """

    detector: object
    classifier: object
    X_syn: np.ndarray
    fusions: dict
    program_sha256: str | None = None
    timings: dict = field(default_factory=dict)
    selection: dict | None = None

    def scores(self, X, base=None):
        """Scores of ``X``: ``base``, ``classifier`` and one entry per fitted fusion.

        ``base``: the detector's scores of ``X`` when already computed.
        """
        base = base_scores(self.detector, X) if base is None else base
        if self.classifier is None:  # "auto" chose no enhancement
            return {"base": base, **dict.fromkeys(self.fusions, base)}
        clf = enhance.classifier_scores(self.classifier, X)
        out = {"base": base, "classifier": clf}
        for name, fusion in self.fusions.items():
            out[name] = fusion.fuse(base, clf) if name == "sum" else fusion.score(base, clf, X)
        return out


def fit_enhancement(det, X_train, X_syn, *, fusions=("sum",), classifier=CLASSIFIER, lam=LAM,
                    collate_params=None, seed=0, base_train=None):
    """Fit the classifier on ``D_train ∪ D_syn`` and the requested fusions over a fitted ``det``.

    Sum fusion (Eq. 7): min-max scalers fitted on the detector's training
    scores and the classifier's scores of its own training set. CoLLaTe-style
    fusion is fitted on the forest's *out-of-bag* classifier scores (in-sample
    probabilities are ~0/1 and would make the classifier look perfect).
    ``base_train``: the detector's scores of ``X_train`` when already computed.
    """
    unknown = sorted(set(fusions) - set(FUSIONS))
    if unknown:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {unknown}")
    timings = {}
    t0 = perf_counter()
    clf = enhance.fit_classifier(enhance.make_classifier(classifier, seed), X_train, X_syn)
    timings["classifier_fit"] = perf_counter() - t0
    base_train = base_scores(det, X_train) if base_train is None else base_train
    fitted = {}
    if "sum" in fusions:
        fitted["sum"] = enhance.fit_fusion(clf, base_train, X_train, X_syn, lam)
    if "collate" in fusions:
        from das.collab.collate import CollateFusion

        t0 = perf_counter()
        oob_train, oob_syn = enhance.out_of_bag_scores(clf, X_train, X_syn)
        fitted["collate"] = CollateFusion(**{"random_state": seed, **(collate_params or {})}).fit(
            base_train, oob_train, X_train, base_scores(det, X_syn), oob_syn, X_syn)
        guard_collate(fitted["collate"], det, clf, X_train, base_train, oob_train, seed)
        timings["collate_fit"] = perf_counter() - t0
    return Enhancement(det, clf, X_syn, fitted, timings=timings)


#: Planted rows per kind for the CoLLaTe guard: GUARD_SHARE of n_train, within GUARD_ROWS.
GUARD_SHARE = 0.05
GUARD_ROWS = (10, 500)


def guard_collate(fusion, det, clf, X_train, base_train, oob_train, seed):
    """Guard a fitted CoLLaTe fusion with anomalies planted from ``X_train`` (:meth:`CollateFusion.guard`).

    Left unguarded (the plain network) when ``X_train`` is too small to plant from.
    """
    from das.collab.planted import plant_kinds

    n_per_kind = int(np.clip(round(GUARD_SHARE * len(X_train)), *GUARD_ROWS))
    try:
        X_pl, kinds = plant_kinds(X_train, n_per_kind, random_state=seed)
    except ValueError:
        return fusion
    return fusion.guard(base_train, oob_train, X_train, base_scores(det, X_pl),
                        enhance.classifier_scores(clf, X_pl), X_pl, kinds)


class OutputRefused(enhance.SynthesisError):
    """The program's output on the user's data copies training rows or repeats itself."""


def check_output(X_train, X_syn, seed=0):
    """Refuse synthesized rows that fail the suite's novelty measure (:func:`sandbox.novelty.measure`)
    on the user's data: a certified program may behave on the suite and copy on real data.
    Every output row is checked; ``seed`` is unused (a sample drawn from it could be predicted)."""
    from das.sandbox.novelty import measure

    problems = measure(X_train, X_syn).problems()
    if problems:
        raise OutputRefused("refused the program's output on this data: " + "; ".join(problems))


def enhance_with(source, X_train, detector, *, fusions=("sum",), classifier=CLASSIFIER, lam=LAM,
                 syn_ratio=SYN_RATIO, collate_params=None, seed=0, program_sha256=None):
    """Fit ``detector``, run the program ``source`` in the sandbox, fit classifier and fusions.

    Returns
    -------
    Enhancement
        ``program_sha256`` is the given one, else the hash of ``source``.

    Raises
    ------
    collab.enhance.SynthesisError
        The program failed in the sandbox; :class:`OutputRefused` when its output
        copies training rows or repeats itself (:func:`check_output`).
    """
    stage(f"fit {detector_name(detector)}")
    t0 = perf_counter()
    det = fit_detector(detector, X_train, seed)
    base_fit = perf_counter() - t0
    stage("synthesize in the sandbox")
    t0 = perf_counter()
    X_syn = enhance.synthesize(source, X_train, enhance.n_synthetic(len(X_train), syn_ratio),
                               lambda Z: base_scores(det, Z), seed=seed)
    check_output(X_train, X_syn, seed)
    synthesis = perf_counter() - t0
    stage("fit classifier")
    fitted = fit_enhancement(det, X_train, X_syn, fusions=fusions, classifier=classifier, lam=lam,
                             collate_params=collate_params, seed=seed)
    fitted.program_sha256 = program_sha256 or source_sha256(source)
    fitted.timings.update(base_fit=base_fit, synthesis=synthesis)
    return fitted


def fit(X_train, detector, program="auto", store=None, **options):
    """Resolve (or certify) ``program`` for ``detector`` in the store, then :func:`enhance_with`.

    ``program``: "auto" (:func:`fit_auto`), "certified", a sha256 (prefix) or
    a raw source (see :func:`collab.certification.resolve_program`); ``store``
    is a path (None: the default store), opened and closed here; ``options``
    go to :func:`enhance_with`.
    """
    if program == "auto":
        return fit_auto(X_train, detector, store, **options)
    source, sha = resolve_program(program, detector_name(detector), store)
    return enhance_with(source, X_train, detector, program_sha256=sha, **options)


def fit_auto(X_train, detector, store=None, *, fusions=("sum",), classifier=CLASSIFIER, lam=LAM,
             syn_ratio=SYN_RATIO, collate_params=None, seed=0, det=None, candidates=None):
    """``program="auto"``: choose label-free (:mod:`collab.selection`), refit the winner on all rows.

    ``det``: the detector already fitted on ``X_train`` (same seed), if any,
    so it is not fitted twice. ``candidates``: the
    :func:`collab.selection.candidates` already read from ``store`` (the
    benchmark reads them once, in the parent). The returned
    :class:`Enhancement` carries the choice and its table in ``selection`` and
    its cost in ``timings["selection"]``.
    """
    from das.collab import selection

    cands = selection.candidates(detector_name(detector), store) if candidates is None else list(candidates)
    chosen = selection.select(X_train, detector, cands, runtime=_RUNTIME, seed=seed, syn_ratio=syn_ratio,
                              lam=lam, classifier=classifier)
    winner = next(c for c in cands if c.name == chosen.choice)
    t0 = perf_counter()
    det = fit_detector(detector, X_train, seed) if det is None else det
    base_fit = perf_counter() - t0
    t0 = perf_counter()
    X_syn = selection.synthetic_rows(winner, lambda Z: base_scores(det, Z), X_train,
                                     enhance.n_synthetic(len(X_train), syn_ratio), seed)
    synthesis = perf_counter() - t0
    if X_syn is None:
        fitted = Enhancement(det, None, np.empty((0, X_train.shape[1])), dict.fromkeys(fusions))
    else:
        fitted = fit_enhancement(det, X_train, X_syn, fusions=fusions, classifier=classifier, lam=lam,
                                 collate_params=collate_params, seed=seed)
    fitted.program_sha256, fitted.selection = winner.sha256, chosen.to_dict()
    fitted.timings.update(base_fit=base_fit, synthesis=synthesis, selection=chosen.seconds)
    return fitted


def select_dataset(data, detector, *, seed=0, store=None, read=None):
    """``das select``: ``auto``'s choice and table on a dataset's training half (labels are not read).

    ``data``: a path or a name in ``$DAS_DATA_DIR``; the split is the papers'
    protocol, as for ``das enhance``; ``read``: :func:`collab.data.load_dataset`
    options. Returns the selection as a dict with ``dataset``, ``detector`` and ``n_train``.
    """
    from das.collab import selection
    from das.collab.data import load_dataset, resolve_dataset, split_dataset

    name = detector_name(detector)
    split = split_dataset(load_dataset(resolve_dataset(data), **(read or {})), scale="standard",
                          require_anomaly=False)
    chosen = selection.select(split.X_train, name, selection.candidates(name, store), runtime=_RUNTIME, seed=seed)
    return {"dataset": split.name, "detector": name, "n_train": len(split.X_train), **chosen.to_dict()}


def record_run(store, enhancement, detector, split, seed, metrics):
    """Record the use of the enhancement's program on ``split`` in the store; returns the run id."""
    with opened(store) as st:
        return st.record_run(enhancement.program_sha256, detector=detector,
                             dataset_fingerprint=split.fingerprint, seed=seed,
                             n_syn=len(enhancement.X_syn), metrics=metrics)


def enhance_dataset(data, detector, *, fusion="sum", program="auto", classifier=CLASSIFIER, lam=LAM,
                    seed=0, label_column=None, store=None, read=None,
                    score_all=False, progress=None):
    """``das enhance``: split ``data``, fit the pipeline on its training half, score, record the run.

    Returns a dict with the split sizes, test ``scores`` (``base``,
    ``enhanced``), ``y_test``, ``metrics`` (empty without two label classes),
    the program sha256 (None when ``auto`` chose no program), the run id (None
    then: a run is recorded against a program) and ``selection`` (``auto``'s
    choice and table, else None), and ``rows`` (:class:`collab.scoring.RowScores`:
    the test rows with the user's ids, or every row when ``score_all``).
    ``read``: more :func:`collab.data.load_dataset` options (``sep``, ``id_column``, ``missing``, ...).
    ``progress``: show the stages as a bar on stderr (None: when stderr is a terminal).
    """
    from das.collab.data import load_dataset, resolve_dataset, split_dataset
    from das.collab.metrics import auc_pr, auc_roc
    from das.collab.scoring import split_rows

    name = detector_name(detector)
    stages = 7 + (program in (None, "auto"))
    with progress_bar(f"das enhance {name}", stages, enabled=progress):
        stage("read data")
        ds = load_dataset(resolve_dataset(data), label_column=label_column, **(read or {}))
        stage("split and scale")
        split = split_dataset(ds, scale="standard", require_anomaly=False)  # all-normal labels: scores only
        fitted = fit(split.X_train, name, program or "auto", store, fusions=(fusion,),
                     classifier=classifier, lam=lam, seed=seed)
        stage("score test rows")
        test = fitted.scores(split.X_test)
        scores = {"base": test["base"], "enhanced": test[fusion]}
        y = split.y_test
        metrics = {}
        if y is not None and len(np.unique(y)) == 2:
            metrics = {k: {"auc_pr": float(auc_pr(y, s)), "auc_roc": float(auc_roc(y, s))} for k, s in scores.items()}
        flat = {f"{k}_{m}": v for k, d in metrics.items() for m, v in d.items()}
        stage("record run")
        run_id = None if fitted.program_sha256 is None else record_run(
            store, fitted, name, split, seed,
            {**flat, "fusion": fusion, "classifier": classifier, "lam": lam, "selection": fitted.selection,
             "base_subsample": getattr(fitted.detector, "subsample_", None)})
        return {"dataset": split.name, "detector": name, "fusion": fusion, "program_sha256": fitted.program_sha256,
                "n_train": len(split.X_train), "n_test": len(split.X_test), "n_syn": len(fitted.X_syn),
                "metrics": metrics, "run_id": run_id, "scores": scores, "y_test": y,
                "rows": split_rows(ds, split, scores, fusion, fitted if score_all else None),
                "selection": fitted.selection}


def score_dataset(data, detector, *, fusion="sum", program="auto", classifier=CLASSIFIER, lam=LAM, seed=0,
                  store=None, read=None):
    """``das score``: fit the enhancement on every row of ``data`` and score every row.

    Labels, when the file has them, are never read for fitting; they are
    returned beside the scores. ``read``: options of
    :func:`collab.data.load_dataset` (separator, id column, missing values, ...).

    Returns
    -------
    dict
        ``dataset``, ``detector``, ``fusion``, ``program_sha256``, ``n``,
        ``n_syn``, ``run_id``, ``rows`` (:class:`collab.scoring.RowScores`) and
        ``selection`` (``auto``'s choice and table, else None).
    """

    from sklearn.preprocessing import StandardScaler

    from das.collab.data import fingerprint, load_dataset, resolve_dataset
    from das.collab.scoring import RowScores

    name = detector_name(detector)
    ds = load_dataset(resolve_dataset(data), **(read or {}))
    X = StandardScaler().fit_transform(ds.X)
    fitted = fit(X, name, program, store, fusions=(fusion,), classifier=classifier, lam=lam, seed=seed)
    scores = fitted.scores(X)
    run_id = None
    if fitted.program_sha256 is not None:
        run_id = record_run(store, fitted, name, SimpleNamespace(fingerprint=fingerprint(ds.X, ds.y)), seed,
                            {"fusion": fusion, "classifier": classifier, "lam": lam, "fitted_on": "all rows"})
    rows = RowScores(ds.id_name, ds.row_ids(), scores["base"], scores[fusion], ds.y)
    return {"dataset": ds.name, "detector": name, "fusion": fusion, "program_sha256": fitted.program_sha256,
            "n": len(X), "n_syn": len(fitted.X_syn), "run_id": run_id, "rows": rows, "selection": fitted.selection}


#: What :func:`collab.selection.select` fits with: this module's own functions.
_RUNTIME = SimpleNamespace(fit_detector=fit_detector, base_scores=base_scores, fit_enhancement=fit_enhancement)
