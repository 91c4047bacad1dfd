"""The enhancement pipeline, written once (LLM-DAS Eq. 4-7).

resolve the program to a synthesis source (:mod:`collab.synthesis`) → fit the
detector → draw the source's rows (a program: in the sandbox, then the
run-time output check) → fit the classifier and fusion
(:func:`collab.enhance.fit_enhancement`) → record the run.

Every enhanced score in das comes from here: :class:`collab.estimator.EnhancedDetector`,
the benchmark cell (:func:`collab.evaluate.evaluate`), ``das enhance``
(:func:`enhance_dataset`) and ``das demo``. So a number in a report is the
number a user gets with the same inputs and seed.
"""
from time import perf_counter

import numpy as np

from das.collab import enhance
from das.collab.certification import opened, resolve_source
from das.collab.enhance import CLASSIFIER, FUSIONS, LAM, SYN_RATIO  # noqa: F401 (FUSIONS: re-exported) the one default configuration
from das.collab.progress import progress_bar, stage
from das.collab.synthesis import check_unseen, programs_of


def detector_name(detector):
    """Canonical name of ``detector`` (a registry name or a detector object), as the store keys programs."""
    if isinstance(detector, str):
        from das.detectors import make_detector

        return make_detector(detector).name
    return getattr(detector, "name", type(detector).__name__)


def fit_source(source, X_train, detector, *, fusions=("sum",), classifier=CLASSIFIER, lam=LAM,
               syn_ratio=SYN_RATIO, collate_params=None, seed=0, det=None):
    """Fit ``detector``, draw ``source``'s synthetic rows, fit classifier and fusions.

    The detector is fitted on every row of ``X_train``; the source draws from,
    and the classifier and fusions are fitted on, at most
    :data:`collab.enhance.FIT_ROWS` of them (:func:`collab.enhance.bounded_rows`).
    ``source``: a :mod:`collab.synthesis` source. ``det``: the detector already
    fitted on ``X_train`` (same seed), if any.

    Returns
    -------
    collab.enhance.Enhancement
        ``program_sha256`` is the source's (None for the baselines).

    Raises
    ------
    collab.enhance.SynthesisError
        The program failed in the sandbox; :class:`collab.synthesis.OutputRefused`
        when its output copies training rows or repeats itself.
    """
    X_train = np.asarray(X_train, dtype=np.float64)  # rows are taken by index below (not a DataFrame's columns)
    stage(f"fit {detector_name(detector)}")
    t0 = perf_counter()
    det = enhance.fit_detector(detector, X_train, seed) if det is None else det
    base_fit = perf_counter() - t0
    stage(source.activity)
    t0 = perf_counter()
    rows = enhance.bounded_rows(len(X_train), enhance.FIT_ROWS, seed)
    X_fit = X_train[rows]
    X_syn = source.rows(X_fit, enhance.n_synthetic(len(X_fit), syn_ratio),
                        lambda Z: enhance.base_scores(det, Z), seed)
    if programs_of(source) and len(X_fit) < len(X_train):
        check_unseen(X_train, X_syn)  # a program's rows, checked so far against the subsample only
    synthesis = perf_counter() - t0
    stage("fit classifier")
    base_fit_rows = None if X_syn is None else enhance.train_scores(det, X_train)[rows]
    fitted = enhance.fit_enhancement(det, X_fit, X_syn, fusions=fusions, classifier=classifier, lam=lam,
                                     collate_params=collate_params, seed=seed, base_train=base_fit_rows)
    fitted.program_sha256, fitted.programs = source.sha256, programs_of(source)
    fitted.timings.update(base_fit=base_fit, synthesis=synthesis)
    return fitted


def lam_unused(program, fusion):
    """Why the fusion weight ``lam`` does not apply, as ``(option, value, reason)``; None where it does."""
    if isinstance(program, str) and program.lower() == "auto":
        return "program", "auto", "chooses the fusion weight itself"
    return ("fusion", "collate", "learns its fusion") if fusion == "collate" else None


def fit(X_train, detector, program="auto", store=None, *, allow_uncertified=False, **options):
    """Resolve ``program`` for ``detector`` to a synthesis source, then :func:`fit_source`.

    ``program``: "auto" (:func:`fit_auto`), "certified", a sha256 (prefix),
    "none", "random", or program text with ``allow_uncertified``
    (:func:`collab.certification.resolve_source`); ``store`` is a path (None:
    the default store), opened and closed here; ``options`` go to
    :func:`fit_source` (or :func:`fit_auto`). ``known`` (rows of known
    anomalies, never in ``X_train``) is what ``auto`` chooses by; other
    programs do not read it.
    """
    known = options.pop("known", None)
    if isinstance(program, str) and program == "auto":
        return fit_auto(X_train, detector, store, known=known, **options)
    source = resolve_source(program, detector_name(detector), store, allow_uncertified=allow_uncertified)
    return fit_source(source, X_train, detector, **options)


def fit_auto(X_train, detector, store=None, *, fusions=("sum",), classifier=CLASSIFIER, lam=LAM,
             syn_ratio=SYN_RATIO, collate_params=None, seed=0, det=None, candidates=None, known=None):
    """``program="auto"``: choose (:mod:`collab.selection`), refit the choice on all rows, or keep the base.

    The choice includes the fusion weight (``lam`` is not used: the rule
    chooses among :data:`collab.selection.LAMBDAS` (label-free; with ``known``:
    :data:`collab.selection.LABEL_LAMBDAS`), or keeps the
    base detector). ``det``: the detector already fitted on ``X_train`` (same
    seed), if any, so it is not fitted twice. ``candidates``: the synthesis
    sources (:func:`collab.selection.candidates`) already read from ``store``.
    ``known``: rows of known anomalies, never fitted on, that the choice is made
    by (:func:`collab.selection.pick_by_labels`). A choice whose rows are refused
    on all rows is recorded as refused and the next in the ranking is refitted.
    The returned :class:`collab.enhance.Enhancement` carries the choice, its
    table and its expected gain in ``selection`` and its cost in ``timings["selection"]``.
    """
    from das.collab import selection

    stage("choose (by planted anomalies, or known ones)")
    cands = selection.candidates(detector_name(detector), store) if candidates is None else list(candidates)
    chosen = selection.select(X_train, detector, cands, seed=seed, syn_ratio=syn_ratio, classifier=classifier,
                              known=known)
    t0 = perf_counter()
    det = enhance.fit_detector(detector, X_train, seed) if det is None else det
    base_fit = perf_counter() - t0
    for source, weight in chosen.ranking:
        try:
            fitted = fit_source(source, X_train, detector, fusions=fusions, classifier=classifier,
                                lam=lam if weight is None else weight, syn_ratio=syn_ratio,
                                collate_params=collate_params, seed=seed, det=det)
            break
        except enhance.SynthesisError as exc:
            chosen.refuse(source, f"on all training rows: {exc}")
    fitted.selection = chosen.to_dict()
    fitted.timings.update(base_fit=base_fit, selection=chosen.seconds)
    return fitted


def _without_known(ds, labels):
    """``(ds less the rows a labels file names, those rows (raw), their positions in ds)``;
    ``labels`` None: ``(ds, None, None)``."""
    from dataclasses import replace

    from das.collab.labels import read_label_ids

    if labels is None:
        return ds, None, None
    positions = read_label_ids(labels, ds.row_ids(), ds.y, ds.id_name, ds.dropped_ids)
    keep = np.ones(len(ds.X), dtype=bool)
    keep[positions] = False
    ids = ds.row_ids()[keep]
    return replace(ds, X=ds.X[keep], y=None if ds.y is None else ds.y[keep], ids=ids), ds.X[positions], positions


def _known_scaled(split, known_raw):
    from das.collab.labels import check_scaled_known

    if known_raw is None:
        return None
    known = np.asarray(known_raw, dtype=np.float64)
    return check_scaled_known(split.scaler.transform(known) if split.scaler is not None else known)


def _fit_split(ds):
    """The papers' split of ``ds`` (standard scaling, labels optional) with at least two training rows."""
    from das.collab.data import DataError, split_dataset

    from das.sandbox.results import MAX_ABS_VALUE

    split = split_dataset(ds, scale="standard", require_anomaly=False)  # all-normal labels: scores only
    if len(split.X_train) < 2:
        raise DataError(f"{ds.name}: the training half (the first half of the normal rows) has "
                        f"{len(split.X_train)} row; fitting needs at least 2, so at least 4 normal rows")
    far = int(np.count_nonzero(~(np.abs(split.X_test) <= MAX_ABS_VALUE).all(axis=1)))
    if far:
        raise DataError(f"{ds.name}: {far} test row(s) lie beyond {MAX_ABS_VALUE:.3g} standard deviations of "
                        "the training rows once scaled (a column that barely varies in the training half); "
                        "rescale or drop that column")
    return split


def select_dataset(data, detector, *, seed=0, store=None, read=None, labels=None):
    """``das select``: ``auto``'s choice and table on a dataset's training half (labels are not read).

    ``data``: a path or a name in ``$DAS_DATA_DIR``; the split is the papers'
    protocol, as for ``das enhance``; ``read``: :func:`collab.data.load_dataset`
    options; ``labels``: a file of known anomalies' row ids (:func:`collab.labels.read_label_ids`),
    left out of the split and chosen by. Returns the selection as a dict with ``dataset``, ``detector`` and ``n_train``.
    """
    from das.collab import selection
    from das.collab.data import load_dataset, resolve_dataset

    name = detector_name(detector)
    ds, known, _ = _without_known(load_dataset(resolve_dataset(data), **(read or {})), labels)
    split = _fit_split(ds)
    chosen = selection.select(split.X_train, name, selection.candidates(name, store), seed=seed,
                              known=_known_scaled(split, known))
    return {"dataset": split.name, "detector": name, "n_train": len(split.X_train), **chosen.to_dict()}


def record_runs(store, enhancement, detector, fingerprint, seed, metrics):
    """Record the use of each stored program whose rows the enhancement drew (an ensemble's
    every one) on a dataset (its ``fingerprint``); returns the run ids (empty: no program ran)."""
    if not enhancement.programs:
        return []
    with opened(store) as st:
        return [st.record_run(sha, detector=detector, dataset_fingerprint=fingerprint, seed=seed,
                              n_syn=len(enhancement.X_syn), metrics=metrics) for sha in enhancement.programs]


def enhance_dataset(data, detector, *, fusion="sum", program="auto", classifier=CLASSIFIER, lam=LAM,
                    seed=0, label_column=None, store=None, read=None,
                    score_all=False, progress=None, labels=None):
    """``das enhance``: split ``data``, fit the pipeline on its training half, score, record the run.

    Returns a dict with the split sizes, test ``scores`` (``base``,
    ``enhanced``), ``y_test``, ``metrics`` (empty without two label classes),
    the program sha256 (None when ``auto`` chose no program), the run id (None
    then: a run is recorded against a program) and ``selection`` (``auto``'s
    choice and table, else None), and ``rows`` (:class:`collab.scoring.RowScores`:
    the test rows with the user's ids, or every row when ``score_all``).
    ``read``: more :func:`collab.data.load_dataset` options (``sep``, ``id_column``, ``missing``, ...).
    ``progress``: show the stages as a bar on stderr (None: when stderr is a terminal).
    ``labels``: a file of known anomalies' row ids, taken out of the data before
    the split (never fitted on, not in the test set; scored, split ``known``, only
    when ``score_all``); ``auto`` chooses by them.
    """
    from das.collab.data import load_dataset, resolve_dataset
    from das.collab.metrics import auc_pr, auc_roc
    from das.collab.scoring import split_rows

    name = detector_name(detector)
    stages = 7 + (program in (None, "auto"))
    with progress_bar(f"das enhance {name}", stages, enabled=progress):
        stage("read data")
        full = load_dataset(resolve_dataset(data), label_column=label_column, **(read or {}))
        ds, known, positions = _without_known(full, labels)  # known anomalies: never fitted on nor in the test
        stage("split and scale")
        split = _fit_split(ds)
        known = _known_scaled(split, known)
        fitted = fit(split.X_train, name, program or "auto", store, fusions=(fusion,),
                     classifier=classifier, lam=lam, seed=seed, known=known)
        stage("score test rows")
        test = fitted.scores(split.X_test)
        scores = {"base": test["base"], "enhanced": test[fusion]}
        y = split.y_test
        metrics = {}
        if y is not None and len(np.unique(y)) == 2:
            metrics = {k: {"auc_pr": float(auc_pr(y, s)), "auc_roc": float(auc_roc(y, s))} for k, s in scores.items()}
        flat = {f"{k}_{m}": v for k, d in metrics.items() for m, v in d.items()}
        stage("record run")
        run_ids = record_runs(
            store, fitted, name, split.fingerprint, seed,
            {**flat, "fusion": fusion, "classifier": classifier, "lam": fitted.lam, "selection": fitted.selection,
             "base_subsample": getattr(fitted.detector, "subsample_", None)})
        return {"dataset": split.name, "detector": name, "fusion": fusion, "program_sha256": fitted.program_sha256,
                "n_train": len(split.X_train), "n_test": len(split.X_test), "n_syn": len(fitted.X_syn),
                "metrics": metrics, "run_id": run_ids[0] if run_ids else None, "run_ids": run_ids,
                "scores": scores, "y_test": y,
                "rows": split_rows(ds, split, scores, fusion, fitted if score_all else None,
                                   known=None if known is None else (full, positions, known)),
                "selection": fitted.selection}


def score_dataset(data, detector, *, fusion="sum", program="auto", classifier=CLASSIFIER, lam=LAM, seed=0,
                  store=None, read=None, labels=None):
    """``das score``: fit the enhancement on every row of ``data`` and score every row.

    Labels, when the file has them, are never read for fitting; they are
    returned beside the scores (labels that are not 0/1 are left out, with a warning). ``read``: options of
    :func:`collab.data.load_dataset` (separator, id column, missing values, ...).
    ``labels``: a file of known anomalies' row ids: left out of every fit
    (scaler included), scored like every row; ``auto`` chooses by them.

    Returns
    -------
    dict
        ``dataset``, ``detector``, ``fusion``, ``program_sha256``, ``n``, ``n_fitted``,
        ``n_syn``, ``base_subsample`` (the detector's ``subsample_``: None when it
        was fitted on every row), ``run_id``, ``rows`` (:class:`collab.scoring.RowScores`) and
        ``selection`` (``auto``'s choice and table, else None).
    """

    from sklearn.preprocessing import StandardScaler

    from das.collab.data import fingerprint, load_dataset, resolve_dataset
    from das.collab.labels import check_scaled_known, read_label_ids
    from das.collab.scoring import RowScores

    name = detector_name(detector)
    ds = load_dataset(resolve_dataset(data), **(read or {}), unused_labels=True)
    fit_rows = np.ones(len(ds.X), dtype=bool)
    if labels is not None:
        fit_rows[read_label_ids(labels, ds.row_ids(), ds.y, ds.id_name, ds.dropped_ids)] = False
    X = StandardScaler().fit(ds.X[fit_rows]).transform(ds.X)
    if labels is not None:
        check_scaled_known(X[~fit_rows])
    fitted = fit(X[fit_rows], name, program, store, fusions=(fusion,), classifier=classifier, lam=lam, seed=seed,
                 known=X[~fit_rows] if labels is not None else None)
    scores = fitted.scores(X, base=enhance.train_scores(fitted.detector, X))  # the rows it was fitted on
    run_ids = record_runs(store, fitted, name, fingerprint(ds.X, ds.y), seed,
                          {"fusion": fusion, "classifier": classifier, "lam": fitted.lam,
                           "fitted_on": f"{int(fit_rows.sum())} of {len(X)} rows"})
    rows = RowScores(ds.id_name, ds.row_ids(), scores["base"], scores[fusion], ds.y)
    return {"dataset": ds.name, "detector": name, "fusion": fusion, "program_sha256": fitted.program_sha256,
            "n": len(X), "n_fitted": int(fit_rows.sum()), "n_syn": len(fitted.X_syn),
            "base_subsample": getattr(fitted.detector, "subsample_", None),
            "run_id": run_ids[0] if run_ids else None, "run_ids": run_ids, "rows": rows,
            "selection": fitted.selection}
