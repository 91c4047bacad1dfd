"""Label-free choice of the enhancement per dataset (``program="auto"``).

Among the detector's certified programs, random outliers (LLM-DAS App.
6.13.1) and no enhancement at all, choose by *planted-anomaly validation* on
the user's own unlabeled training rows:

1. :func:`collab.planted.planted_split` holds out :data:`HOLDOUT` of the rows
   and plants the four ADBench types (local, clustered, global, dependency)
   from the statistics of the rest;
2. the detector is fitted once on the rest, and each candidate's enhancement
   (the pipeline's default configuration, sum fusion) on the same rows;
3. each candidate is scored by AUC-PR *per kind* (held-out normals + that
   kind's rows) and ranked by the mean over kinds; ties go to the earlier
   candidate in the order none, random, programs (the cheaper, safer one);
4. the winner is refitted on all rows by :func:`collab.pipeline.fit`.

Labels never enter: the only inputs are the training rows, the detector and
the candidates. Everything is seeded, so the same rows and seed give the same
choice. When the rows are too few to plant from, the choice is
:data:`FALLBACK` and the reason is recorded.

Cost: one extra detector fit on 70 % of the rows, two mixture sweeps (local and
clustered planting) and one synthesis + forest per candidate; the table
records the seconds spent.
"""
from dataclasses import asdict, dataclass, field
from time import perf_counter

import numpy as np

from das.collab import enhance
from das.collab.planted import per_kind_auc_pr, planted_split

NONE = "none"
RANDOM = "random"
#: Share of the training rows held out for validation.
HOLDOUT = 0.3
#: The choice when there are too few rows to validate on: the detector alone cannot do harm.
FALLBACK = NONE


@dataclass(frozen=True)
class Candidate:
    """One enhancement to validate: :data:`NONE`, :data:`RANDOM` or a certified program."""

    name: str
    sha256: str | None = None
    source: str | None = field(default=None, repr=False)


@dataclass
class Selection:
    """The outcome of :func:`select`.

    Attributes
    ----------
    choice : str
        Name of the winning candidate.
    sha256 : str or None
        The winning program's hash (None for none/random).
    table : list of dict
        One row per candidate: ``candidate``, ``sha256``, ``mean_auc_pr`` (None
        when the candidate failed), AUC-PR per planted kind, ``error``.
    fallback : str or None
        Why no validation ran (the choice is then :data:`FALLBACK`).
    seconds : float
        Wall time of the validation.
    """

    choice: str
    sha256: str | None
    table: list
    fallback: str | None
    seconds: float

    def to_dict(self):
        return asdict(self)


def program_name(sha):
    """Candidate name of a certified program."""
    return f"program:{sha[:12]}"


def candidates(detector, store=None):
    """:data:`NONE`, :data:`RANDOM` and every program certified for ``detector`` under the current suite.

    The bundled programs are certified on first use, as for
    ``program="certified"``; a detector without any certified program gets
    the two label-free baselines only.
    """
    from das.program_store import NotCertified, TamperedProgram

    from das.collab.certification import Certification, opened

    found = []
    with opened(store) as st:
        service = Certification(st)
        try:
            service.ensure(detector)
        except NotCertified:
            return [Candidate(NONE), Candidate(RANDOM)]
        for sha in list(st.ranked(detector, service.suite_version)):
            try:
                rec = service.require_current(st.get(sha))
            except (NotCertified, TamperedProgram):
                continue
            found.append(Candidate(program_name(sha), sha, rec.source))
    return [Candidate(NONE), Candidate(RANDOM), *found]


def synthetic_rows(candidate, scorer, X_fit, n_syn, seed):
    """The candidate's synthetic anomalies for a detector fitted on ``X_fit`` (None for :data:`NONE`).

    ``scorer(X) -> scores`` is the fitted detector's score (the sandbox's model proxy).
    """
    if candidate.name == NONE:
        return None
    if candidate.name == RANDOM:
        return enhance.random_outliers(X_fit, n_syn, np.random.default_rng(seed))
    return enhance.synthesize(candidate.source, X_fit, n_syn, scorer, seed=seed)


def select(X_train, detector, cands, *, runtime, seed=0, holdout=HOLDOUT, syn_ratio=enhance.SYN_RATIO,
           lam=enhance.LAM, classifier=enhance.CLASSIFIER):
    """Validate ``cands`` on planted anomalies in ``X_train``; return a :class:`Selection`.

    Parameters
    ----------
    X_train : ndarray of shape (n, d)
        Unlabeled training rows (no labels are taken, none are needed).
    detector : str or detector object
    cands : list of Candidate
        Validated in order; ties go to the earlier one.
    runtime : object
        ``fit_detector``, ``base_scores`` and ``fit_enhancement`` of
        :mod:`collab.pipeline` (passed in, so this module does not import the
        pipeline that calls it): the candidates are fitted exactly as a user's run.
    seed : int
        Seeds the split, the planting, the detector, the synthesis and the forest.
    holdout, syn_ratio, lam, classifier
        Share held out; the enhancement's configuration.
    """
    from threadpoolctl import threadpool_limits

    t0 = perf_counter()
    try:
        with threadpool_limits(1):  # the mixtures' small matrices: BLAS threads only contend
            split = planted_split(X_train, random_state=seed, holdout=holdout)
    except ValueError as exc:
        return Selection(FALLBACK, None, [], f"no planted validation ({exc})", perf_counter() - t0)
    det = runtime.fit_detector(detector, split.X_fit, seed)
    base_fit, base_val = runtime.base_scores(det, split.X_fit), runtime.base_scores(det, split.X_val)
    n_syn = enhance.n_synthetic(len(split.X_fit), syn_ratio)
    table = []
    for cand in cands:
        row = {"candidate": cand.name, "sha256": cand.sha256, "mean_auc_pr": None, "error": None}
        try:
            X_syn = synthetic_rows(cand, lambda Z: runtime.base_scores(det, Z), split.X_fit, n_syn, seed)
        except enhance.SynthesisError as exc:
            table.append({**row, "error": str(exc)})
            continue
        scores = base_val if X_syn is None else runtime.fit_enhancement(
            det, split.X_fit, X_syn, classifier=classifier, lam=lam, seed=seed,
            base_train=base_fit).scores(split.X_val, base=base_val)["sum"]
        kinds = per_kind_auc_pr(scores, split.y_val, split.kind_per_row)
        table.append({**row, **kinds, "mean_auc_pr": float(np.mean(list(kinds.values())))})
    scored = [r for r in table if r["mean_auc_pr"] is not None]
    best = max(scored, key=lambda r: r["mean_auc_pr"]) if scored else None  # max keeps the first of ties
    if best is None:
        return Selection(FALLBACK, None, table, "every candidate failed", perf_counter() - t0)
    return Selection(best["candidate"], best["sha256"], table, None, perf_counter() - t0)
