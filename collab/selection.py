"""Label-free choice of the enhancement per dataset (``program="auto"``).

Among the detector's certified programs, random outliers (LLM-DAS App.
6.13.1) and no enhancement at all, choose by *planted-anomaly validation* on
the user's own unlabeled training rows:

1. at most :data:`MAX_ROWS` training rows are validated on (a seeded
   subsample above it: the choice costs the same on 100k rows as on 10M);
   :func:`collab.planted.planted_split` holds out :data:`HOLDOUT` of them and
   plants the four ADBench types (local, clustered, global, dependency) from
   the statistics of the rest;
2. the detector is fitted once on the rest and scores them once; each
   candidate's enhancement (the pipeline's default configuration, sum fusion)
   is fitted on the same rows, the candidates in parallel threads
   (``n_jobs``; each candidate draws with the same seed whatever the number
   of threads, so the table does not depend on it) -- :func:`validate`;
3. the decision rule, :func:`rank`: each candidate is scored by AUC-PR *per
   kind* (held-out normals + that kind's rows) and ranked by the mean over
   kinds; ties go to the earlier candidate in the order none, random,
   programs (the cheaper, safer one);
4. the winner is refitted on all rows by :func:`collab.pipeline.fit_auto`
   (a program whose rows are refused there gives way to the next one).

Every candidate is a synthesis source (:mod:`collab.synthesis`) and answers
the same call as on the fixed path: a program's rows pass the sandbox and the
run-time output check, and a refused program is recorded with its reason.

Labels never enter: the only inputs are the training rows, the detector and
the candidates. Everything is seeded, so the same rows and seed give the same
choice. When the rows are too few to plant from, the choice is
:data:`FALLBACK` and the reason is recorded.

Cost, bounded by :data:`MAX_ROWS` whatever the data's size: one detector fit
on 70 % of the validated rows, two mixture sweeps (local and clustered
planting, on at most 500 rows) and one synthesis + forest per candidate; the
table records the seconds spent.
"""
import os
from dataclasses import dataclass
from time import perf_counter

import numpy as np

from das.collab import enhance
from das.collab.planted import per_kind_auc_pr, planted_split
from das.collab.synthesis import CertifiedProgram, NoEnhancement, RandomOutliers

#: Share of the validated rows held out as normals.
HOLDOUT = 0.3
#: Training rows validated on, at most: a seeded subsample of this many when there are more.
#: Every ODDS dataset but five (shuttle, smtp, mulcross, forestcover, http) has fewer training rows.
MAX_ROWS = 10_000
#: The choice when there are too few rows to validate on: the detector alone cannot do harm.
FALLBACK = NoEnhancement()


class TooFewRows(ValueError):
    """No planted split can be made of the training rows."""


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
        when the candidate failed or was refused), AUC-PR per planted kind,
        ``error`` (why it failed or was refused).
    fallback : str or None
        Why no validation ran (the choice is then :data:`FALLBACK`).
    seconds : float
        Wall time of the validation.
    ranking : list
        The synthesis sources that ran, best first (ties: the earlier
        candidate); :data:`FALLBACK` last. Not part of :meth:`to_dict`.
    rows : dict or None
        ``{"validated": k, "of": n}``: the training rows validated on
        (:func:`validation_rows`, at most :data:`MAX_ROWS`) of all ``n``.
    """

    choice: str
    sha256: str | None
    table: list
    fallback: str | None
    seconds: float
    ranking: list
    rows: dict | None = None

    def refuse(self, source, why):
        """Record that ``source`` was refused (e.g. on all rows, after it won): the next one takes over."""
        for row in self.table:
            if row["candidate"] == source.name:
                row["error"] = why
        self.ranking = [s for s in self.ranking if s.name != source.name]
        self.choice, self.sha256 = self.ranking[0].name, self.ranking[0].sha256

    def to_dict(self):
        return {"choice": self.choice, "sha256": self.sha256, "table": self.table, "fallback": self.fallback,
                "seconds": self.seconds, "rows": self.rows}


def candidates(detector, store=None):
    """No enhancement, random outliers and every program certified for ``detector`` under the current suite.

    The bundled programs are certified on first use, as for
    ``program="certified"``; a detector without any certified program gets
    the two label-free baselines only. The programs come in the service's
    order (:func:`collab.certification.rank_key`, best first).
    """
    from das.program_store import NotCertified, TamperedProgram

    from das.collab.certification import Certification, opened

    found = []
    with opened(store) as st:
        service = Certification(st)
        try:
            service.ensure(detector)
        except NotCertified:
            return [NoEnhancement(), RandomOutliers()]
        for sha in service.ranked(detector):
            try:
                rec = service.require_current(st.get(sha))
            except (NotCertified, TamperedProgram):
                continue
            found.append(CertifiedProgram(rec.source, sha))
    return [NoEnhancement(), RandomOutliers(), *found]


def validation_rows(X_train, seed=0, max_rows=MAX_ROWS):
    """The rows validated on: all of ``X_train``, or a seeded subsample of ``max_rows`` in their order."""
    X = np.asarray(X_train)
    if len(X) <= max_rows:
        return X
    return X[np.sort(np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False))]


def validate(X_train, detector, cands, *, seed=0, holdout=HOLDOUT, max_rows=MAX_ROWS, n_jobs=None,
             syn_ratio=enhance.SYN_RATIO, lam=enhance.LAM, classifier=enhance.CLASSIFIER):
    """Each candidate's per-kind AUC-PR on one planted split of ``X_train``: one table row per candidate.

    The split (:func:`validation_rows`, then :func:`collab.planted.planted_split`),
    the detector's fit and its scores are computed once and shared; the
    candidates run in up to ``n_jobs`` threads (None: one per candidate, as
    many as this process's cores). A row has ``candidate``, ``sha256``,
    ``mean_auc_pr`` (None when the candidate failed or was refused), AUC-PR per
    planted kind and ``error``; rows come in the order of ``cands``. Arguments
    as in :func:`select`.

    Raises
    ------
    TooFewRows
        When the rows are too few to plant from.
    """
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small matrices and concurrent candidates: BLAS threads only contend
        try:
            split = planted_split(validation_rows(X_train, seed, max_rows), random_state=seed, holdout=holdout)
        except ValueError as exc:
            raise TooFewRows(str(exc)) from exc
        det = enhance.fit_detector(detector, split.X_fit, seed)
        base_fit = enhance.train_scores(det, split.X_fit)
        base_val = enhance.base_scores(det, split.X_val)
        n_syn = enhance.n_synthetic(len(split.X_fit), syn_ratio)

        def one(source):
            row = {"candidate": source.name, "sha256": source.sha256, "mean_auc_pr": None, "error": None}
            try:
                X_syn = source.rows(split.X_fit, n_syn, lambda Z: enhance.base_scores(det, Z), seed)
            except enhance.SynthesisError as exc:
                return {**row, "error": str(exc)}
            scores = enhance.fit_enhancement(det, split.X_fit, X_syn, classifier=classifier, lam=lam, seed=seed,
                                             base_train=base_fit).scores(split.X_val, base=base_val)["sum"]
            kinds = per_kind_auc_pr(scores, split.y_val, split.kind_per_row)
            return {**row, **kinds, "mean_auc_pr": float(np.mean(list(kinds.values())))}

        jobs = n_jobs or max(1, min(len(cands), len(os.sched_getaffinity(0))))
        return Parallel(n_jobs=jobs, prefer="threads")(delayed(one)(source) for source in cands)


def rank(table, cands):
    """The decision rule: the validated candidates, best mean AUC-PR first (ties: the earlier one).

    ``table`` as :func:`validate` returns it, in the order of ``cands``; failed
    or refused candidates are left out. :data:`FALLBACK` is appended when it
    is not among them.
    """
    scored = [(row["mean_auc_pr"], source) for row, source in zip(table, cands) if row["mean_auc_pr"] is not None]
    ranking = [s for _, s in sorted(scored, key=lambda e: -e[0])]  # a stable sort keeps the earlier of ties
    if not any(s.name == FALLBACK.name for s in ranking):
        ranking.append(FALLBACK)
    return ranking


def select(X_train, detector, cands, *, seed=0, holdout=HOLDOUT, max_rows=MAX_ROWS, n_jobs=None,
           syn_ratio=enhance.SYN_RATIO, lam=enhance.LAM, classifier=enhance.CLASSIFIER):
    """Validate ``cands`` on planted anomalies in ``X_train`` (:func:`validate`), rank them (:func:`rank`).

    Parameters
    ----------
    X_train : ndarray of shape (n, d)
        Unlabeled training rows (no labels are taken, none are needed).
    detector : str or detector object
    cands : list of synthesis sources (:mod:`collab.synthesis`)
        Validated in order; ties go to the earlier one. A source whose rows
        are refused (the sandbox, the output check) is recorded with its reason.
    seed : int
        Seeds the subsample, the split, the planting, the detector, the synthesis and the forest.
    holdout, max_rows
        Share held out; rows validated on, at most (:data:`MAX_ROWS`).
    n_jobs : int or None
        Candidates validated at once, in threads (None: as many as cores and
        candidates). The outcome does not depend on it.
    syn_ratio, lam, classifier
        The enhancement's configuration (fitted by
        :func:`collab.enhance.fit_enhancement`, exactly as a user's run).

    Returns
    -------
    Selection
    """
    t0 = perf_counter()
    rows = {"validated": min(len(X_train), max_rows), "of": len(X_train)}
    try:
        table = validate(X_train, detector, cands, seed=seed, holdout=holdout, max_rows=max_rows, n_jobs=n_jobs,
                         syn_ratio=syn_ratio, lam=lam, classifier=classifier)
    except TooFewRows as exc:
        return Selection(FALLBACK.name, None, [], f"no planted validation ({exc})", perf_counter() - t0,
                         [FALLBACK], rows)
    ranking = rank(table, cands)
    fallback = None if any(row["mean_auc_pr"] is not None for row in table) else "every candidate failed"
    return Selection(ranking[0].name, ranking[0].sha256, table, fallback, perf_counter() - t0, ranking, rows)
