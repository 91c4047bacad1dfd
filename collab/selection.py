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
4. the winner is refitted on all rows by :func:`collab.pipeline.fit_auto`
   (a program whose rows are refused there gives way to the next one).

Every candidate is a synthesis source (:mod:`collab.synthesis`) and answers
the same call as on the fixed path: a program's rows pass the sandbox and the
run-time output check, and a refused program is recorded with its reason.

Labels never enter: the only inputs are the training rows, the detector and
the candidates. Everything is seeded, so the same rows and seed give the same
choice. When the rows are too few to plant from, the choice is
:data:`FALLBACK` and the reason is recorded.

Cost: one extra detector fit on 70 % of the rows, two mixture sweeps (local and
clustered planting) and one synthesis + forest per candidate; the table
records the seconds spent.
"""
from dataclasses import dataclass
from time import perf_counter

import numpy as np

from das.collab import enhance
from das.collab.planted import per_kind_auc_pr, planted_split
from das.collab.synthesis import CertifiedProgram, NoEnhancement, RandomOutliers

#: Share of the training rows held out for validation.
HOLDOUT = 0.3
#: The choice when there are too few rows to validate on: the detector alone cannot do harm.
FALLBACK = NoEnhancement()


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
    """

    choice: str
    sha256: str | None
    table: list
    fallback: str | None
    seconds: float
    ranking: list

    def refuse(self, source, why):
        """Record that ``source`` was refused (e.g. on all rows, after it won): the next one takes over."""
        for row in self.table:
            if row["candidate"] == source.name:
                row["error"] = why
        self.ranking = [s for s in self.ranking if s.name != source.name]
        self.choice, self.sha256 = self.ranking[0].name, self.ranking[0].sha256

    def to_dict(self):
        return {"choice": self.choice, "sha256": self.sha256, "table": self.table, "fallback": self.fallback,
                "seconds": self.seconds}


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


def select(X_train, detector, cands, *, seed=0, holdout=HOLDOUT, syn_ratio=enhance.SYN_RATIO,
           lam=enhance.LAM, classifier=enhance.CLASSIFIER):
    """Validate ``cands`` on planted anomalies in ``X_train``; return a :class:`Selection`.

    Parameters
    ----------
    X_train : ndarray of shape (n, d)
        Unlabeled training rows (no labels are taken, none are needed).
    detector : str or detector object
    cands : list of synthesis sources (:mod:`collab.synthesis`)
        Validated in order; ties go to the earlier one. A source whose rows
        are refused (the sandbox, the output check) is recorded with its reason.
    seed : int
        Seeds the split, the planting, the detector, the synthesis and the forest.
    holdout, syn_ratio, lam, classifier
        Share held out; the enhancement's configuration (fitted by
        :func:`collab.enhance.fit_enhancement`, exactly as a user's run).
    """
    from threadpoolctl import threadpool_limits

    t0 = perf_counter()
    try:
        with threadpool_limits(1):  # the mixtures' small matrices: BLAS threads only contend
            split = planted_split(X_train, random_state=seed, holdout=holdout)
    except ValueError as exc:
        return Selection(FALLBACK.name, None, [], f"no planted validation ({exc})", perf_counter() - t0,
                         [FALLBACK])
    det = enhance.fit_detector(detector, split.X_fit, seed)
    base_fit, base_val = enhance.base_scores(det, split.X_fit), enhance.base_scores(det, split.X_val)
    n_syn = enhance.n_synthetic(len(split.X_fit), syn_ratio)
    table, scored = [], []
    for source in cands:
        row = {"candidate": source.name, "sha256": source.sha256, "mean_auc_pr": None, "error": None}
        try:
            X_syn = source.rows(split.X_fit, n_syn, lambda Z: enhance.base_scores(det, Z), seed)
        except enhance.SynthesisError as exc:
            table.append({**row, "error": str(exc)})
            continue
        scores = enhance.fit_enhancement(det, split.X_fit, X_syn, classifier=classifier, lam=lam, seed=seed,
                                         base_train=base_fit).scores(split.X_val, base=base_val)["sum"]
        kinds = per_kind_auc_pr(scores, split.y_val, split.kind_per_row)
        table.append({**row, **kinds, "mean_auc_pr": float(np.mean(list(kinds.values())))})
        scored.append((table[-1]["mean_auc_pr"], source))
    ranking = [s for _, s in sorted(scored, key=lambda e: -e[0])]  # a stable sort keeps the earlier of ties
    if not any(s.name == FALLBACK.name for s in ranking):
        ranking.append(FALLBACK)
    fallback = None if scored else "every candidate failed"
    return Selection(ranking[0].name, ranking[0].sha256, table, fallback, perf_counter() - t0, ranking)
