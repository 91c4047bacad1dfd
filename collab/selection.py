"""Label-free choice of the enhancement per dataset (``program="auto"``).

Among the detector's certified programs, random outliers (LLM-DAS App.
6.13.1), the ensemble of them (:class:`collab.synthesis.Mixture`) and no
enhancement at all, choose by *planted-anomaly validation* on the user's own
unlabeled training rows: an option only when every planted kind gains (the
"worstkind" rule of ``results/no_harm``), else the detector's default (all
decided on the 12 decision datasets only):

1. :data:`SPLITS` planted splits (:func:`collab.planted.planted_split`, seeds
   derived from the fit's seed) each hold out :data:`HOLDOUT` of the rows and
   plant the four ADBench kinds (local, clustered, global, dependency) from the
   statistics of the rest;
2. on each split the detector is refitted on the rest, and each candidate's
   enhancement (its synthesis, the default classifier, sum fusion) on the same
   rows; the options are every candidate at every fusion weight
   :data:`LAMBDAS` (one classifier per candidate and split: only the weight
   changes);
3. ``G[r, k]`` = AUC-PR(option) - AUC-PR(base) on split ``r``, kind ``k``;
   :func:`pick` (the rule) takes the option whose *worst* kind gains most,
   among those whose split-mean gain clears one standard error over the splits
   on every kind (and whose mean gain is positive);
   ties go to the earlier candidate, then the smaller lambda. When no option
   qualifies, the detectors of :data:`DEFAULT_ENHANCED` get their default,
   random outliers at :data:`DEFAULT_LAMBDA` (:func:`default_option`: what
   gained for them on the decision datasets), and any other option must beat
   that default on every kind by more than one standard error too
   (:func:`accepted`); the other detectors keep the base detector. Either way
   the reason names the kind that fell short;
4. :func:`expected_gain` summarizes the chosen option's ``G``: its mean, a
   seeded bootstrap standard error over splits and kinds, and the gain per kind.
   It is a gain *on planted anomalies*, not a forecast of the gain on real ones;
   beside it, :mod:`collab.track_record` gives what the rule did where it
   enhanced the same detector on held-out benchmark data.

With a few known anomalies (``known``: rows never fitted on), each split scores
its held-out normals plus the known anomalies instead, and :func:`pick_by_labels`
takes the option with the best mean AUC-PR only if it beats the base by more
than one standard error of the split-by-split difference.

The one default is the same for every dataset; lambda is chosen per dataset by
the rule, without labels. Every candidate is a synthesis source
(:mod:`collab.synthesis`): a program's rows pass the sandbox and the run-time
output check, and a refused candidate is recorded with its reason. Everything is
seeded. When the rows are too few to plant from, the base detector is kept and
the reason recorded in ``fallback``.

Cost, bounded by :data:`MAX_ROWS` whatever the data's size (a seeded
subsample of the training rows above it: the choice costs the same on 100k
rows as on 10M): :data:`SPLITS` detector fits on 70 % of the validated rows
and :data:`SPLITS` x (candidates + 1) syntheses and forests; the lambdas are
free (re-fused scores).
"""
from dataclasses import dataclass, field, replace
from time import perf_counter

import numpy as np

from das.collab import enhance, track_record
from das.collab.metrics import auc_pr
from das.collab.planted import KINDS, NORMAL, per_kind_auc_pr, planted_split
from das.collab.synthesis import CertifiedProgram, KnownAnomalies, Mixture, NoEnhancement, RandomOutliers


#: Share of the training rows held out for validation, and the number of planted splits.
HOLDOUT = 0.3
SPLITS = 3
#: Training rows validated on, at most: a seeded subsample of this many when there are more.
#: The rule was decided and measured on subsamples of this size (``results/no_harm``); 10 of
#: the 34 ODDS datasets have more training rows (Wilt, annthyroid, ..., campaign, shuttle).
MAX_ROWS = 2_000
#: Known anomalies used, at most (a seeded sample above it, stated in the basis): they are meant to
#: be a handful, and cross-fitting compares them pairwise. The sample is also what a chosen ``known``
#: source draws from when it is refitted.
MAX_KNOWN = 2_000
#: Certified programs validated, at most: the recorded default, then the best ranked
#: (:func:`collab.certification.rank_key`, label-free). Each costs :data:`SPLITS` syntheses and
#: forests, so the choice's cost does not grow with the store (on 1M rows, three programs took
#: auto from 2.9x to 3.4x PyOD's fit).
MAX_PROGRAMS = 2
#: The fusion weights every candidate is validated at (the classifier is fitted once per split), and
#: with known anomalies, whose classifier has seen what this data's anomalies look like, one more
#: (decided on the 12 decision datasets with 10 known anomalies: ``results/no_harm/decision_label_lambdas.txt``).
LAMBDAS = (0.25, 0.5, 1.0, 2.0)
LABEL_LAMBDAS = LAMBDAS + (4.0,)
#: Bootstrap resamples of the expected gain's standard error, and the interval's z.
BOOTSTRAP = 200
Z_INTERVAL = 1.96
#: An option's gain on each planted kind must clear this many standard errors over the splits
#: (decided on the 12 decision datasets: ``results/no_harm/decision_rules_z.txt``).
Z_KIND = 1.0
#: The choice when there is nothing to validate on: the detector alone cannot do harm.
FALLBACK = NoEnhancement()
KEEP_BASE = "keep base"
KEEPING = "keeping the base detector"
#: When no option is eligible, these detectors are still enhanced with random outliers at
#: :data:`DEFAULT_LAMBDA`: on the 12 decision datasets that default gained for them (mean and median
#: above 0, no dataset below -0.05) where the planted validation could not tell which datasets would
#: gain (``results/no_harm/decision_default.txt``); the others keep the base detector.
DEFAULT_LAMBDA = 1.0
DEFAULT_ENHANCED = ("ECOD", "IForest", "PCA")


@dataclass
class Selection:
    """The outcome of :func:`select`.

    Attributes
    ----------
    choice : str
        Name of the chosen candidate (:data:`FALLBACK`'s name: the base detector).
    sha256 : str or None
        The chosen program's hash (None for none/random/ensemble).
    lam : float or None
        The chosen fusion weight (None when the base is kept).
    table : list of dict
        One row per option: ``candidate``, ``lam``, ``sha256``, ``mean_gain``
        (the mean over splits and kinds; with known anomalies: the mean AUC-PR
        gain on them), label-free ``worst_gain`` (the worst kind's split-mean),
        ``worst_bound`` (the smallest over kinds of the split-mean less one
        standard error over the splits: what :func:`pick` ranks by; it may be
        another kind than the worst), the gain per planted kind and ``accepted``
        (eligible, and beating the detector's default on every kind where it has
        one: :func:`accepted`), with known anomalies ``std_error`` (of the
        split-by-split difference), then ``eligible`` and ``error`` (why the
        candidate failed or was refused; the gains are then None).
    fallback : str or None
        Why no validation ran (the base detector is then kept).
    seconds : float
        Wall time of the validation.
    expected_gain : dict
        :func:`expected_gain`'s summary of the choice.
    ranking : list of (source, lam)
        The eligible options, best first, then the base. Not part of :meth:`to_dict`.
    summaries : dict
        ``(name, lam) -> expected gain`` of each option in ``ranking`` (the
        next one's, when the choice is refused on all rows). Not part of :meth:`to_dict`.
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
    lam: float | None = None
    expected_gain: dict | None = None
    summaries: dict = field(default_factory=dict, repr=False)
    rows: dict | None = None

    def refuse(self, source, why):
        """Record that ``source`` was refused (e.g. on all rows, after it won): the next option takes over."""
        for row in self.table:
            if row["candidate"] == source.name:
                row["error"], row["eligible"] = why, False
        self.ranking = [(s, lam) for s, lam in self.ranking if s.name != source.name]
        first, self.lam = self.ranking[0]
        self.choice, self.sha256 = first.name, first.sha256
        self.expected_gain = self.summaries.get((first.name, self.lam)) or _kept(
            self.expected_gain["basis"], f"{source.name} refused ({why}): keeping the base detector")

    def to_dict(self):
        return {"choice": self.choice, "sha256": self.sha256, "lam": self.lam, "table": self.table,
                "fallback": self.fallback, "seconds": self.seconds, "expected_gain": self.expected_gain,
                "rows": self.rows}


def candidates(detector, store=None, max_programs=MAX_PROGRAMS):
    """No enhancement, random outliers and up to ``max_programs`` programs certified for ``detector``
    under the current suite.

    The bundled programs are certified on first use, as for
    ``program="certified"``; a detector without any certified program gets
    the two label-free baselines only. The programs are the recorded default
    (``das programs default``), then the service's order
    (:func:`collab.certification.rank_key`, best first).
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
        default = st.default(detector)
        for sha in sorted(service.ranked(detector), key=lambda sha: sha != default):  # stable: default first
            try:
                rec = service.require_current(st.get(sha))
            except (NotCertified, TamperedProgram):
                continue
            found.append(CertifiedProgram(rec.source, sha))
    return [NoEnhancement(), RandomOutliers(), *found[:max_programs]]


def pick(gains, kinds, perfect=(), default=None):
    """The rule that picks, label-free ("worstkind", z = 1): the option whose worst planted kind
    gains most, counted at one standard error below its mean over the splits.

    Parameters
    ----------
    gains : dict
        ``option -> G``, ``G`` of shape (splits, kinds): AUC-PR(option) -
        AUC-PR(base) per planted split and kind. Earlier options win ties.
    kinds : sequence of str
        The kinds, in ``G``'s column order.
    perfect : collection of str
        Kinds on which the base detector is already perfect (AUC-PR 1 on every split): nothing
        can gain there, and the reason says so.
    default : option or None
        The detector's default (:func:`default_option`): taken when nothing else is eligible, and
        any other option must also beat it on every kind by more than one standard error.

    Returns
    -------
    (option or None, reason)
        None keeps the base detector; the reason names the kind that fell short.
    """
    best = closest = short = None
    for option, G in gains.items():
        bounds = kind_bounds(G)
        worst = bounds.min()
        if closest is None or worst > closest[1]:
            at_bound = np.flatnonzero(bounds <= worst + 1e-12)  # ties: name the kind that gained least
            closest = (option, worst, int(at_bound[np.argmin(G.mean(axis=0)[at_bound])]), G)
        if not eligible(G):
            continue
        if not accepted(option, gains, default):
            if short is None or worst > short[1]:
                short = (option, worst)
        elif best is None or worst > best[1]:
            best = (option, worst)
    if best is not None:
        why = (f"every planted kind gains by more than one standard error over the splits "
               f"(the worst by {best[1]:+.4f} beyond it)")
        if short is not None and short[1] > best[1]:  # ranked higher, set aside: say so
            (name, lam), _ = short
            why += (f"; {name} at lambda {lam:g} ranked higher but did not beat the default by one standard "
                    "error on every kind")
        return best[0], why
    if short is not None:
        (name, lam), _ = short
        why = (f"{name} at lambda {lam:g} gains on every planted kind, but not by more than one "
               "standard error over the default on each")
    else:
        why = _shortfall(closest, kinds, perfect)
    if default is None:
        return None, f"{why}; {KEEPING}"
    return default, (f"{why}; enhancing with the default instead, random outliers at lambda {default[1]:g} "
                     "(what gained for this detector on the decision datasets, where the planted validation "
                     "could not tell which datasets would gain)")


def accepted(option, gains, default=None):
    """An eligible option may be taken: it is the default, or there is none, or it beats the default on
    every planted kind by more than :data:`Z_KIND` standard errors over the splits."""
    return default is None or option == default or bool(kind_bounds(gains[option] - gains[default]).min() > 0)


def _shortfall(closest, kinds, perfect):
    """Why no option is eligible, from the one closest to it: ``(option, bound, kind index, G)`` or None."""
    if closest is None:
        return "no option could be validated"
    (name, lam), worst, at, G = closest
    kind, mean = kinds[at], float(G[:, at].mean())
    if mean >= 0 and kind in perfect:
        return (f"the base detector is already perfect on planted '{kind}' anomalies (AUC-PR 1), so no "
                "option can gain on every planted kind")
    if mean < 0:
        how = f"loses {-mean:.4f}"
    elif mean == 0:
        how = "gains nothing"
    else:
        se = mean - float(kind_bounds(G)[at])
        how = f"gains {mean:+.4f}, no more than one standard error over the splits ({se:.4f}),"
    return f"no option gains on every planted kind: the closest, {name} at lambda {lam:g}, {how} on planted '{kind}' anomalies"


def default_option(detector, gains):
    """The option the label-free rule falls back on: random outliers at :data:`DEFAULT_LAMBDA` for a
    detector of :data:`DEFAULT_ENHANCED` (by registry name) when they were validated (in ``gains``);
    None (the base detector) otherwise, and for detector objects."""
    option = (RandomOutliers.name, DEFAULT_LAMBDA)
    return option if _registry_name(detector) in DEFAULT_ENHANCED and option in gains else None


def _registry_name(detector):
    if not isinstance(detector, str):
        return None
    from das.detectors import make_detector

    return make_detector(detector).name


def kind_bounds(G):
    """Per kind: the split-mean gain less one standard error over the splits (the mean alone for one split)."""
    mean = G.mean(axis=0)
    if len(G) < 2:
        return mean
    return mean - Z_KIND * G.std(axis=0, ddof=1) / np.sqrt(len(G))


def eligible(G):
    """An option may be chosen: every planted kind gains by more than :data:`Z_KIND` standard errors
    over the splits, and the mean over everything gains."""
    return bool(kind_bounds(G).min() > 0 and G.mean() > 0)


def _per_kind(G, kinds):
    return {k: float(v) for k, v in zip(kinds, G.mean(axis=0))}


def pick_by_labels(auc, base):
    """The rule that picks with known anomalies: the best mean AUC-PR, if it beats base by more than 1 SE.

    ``auc``: ``option -> AUC-PR per split`` on the held-out normals plus the
    known anomalies; ``base``: the base detector's, per split. The margin is one
    standard error of the split-by-split difference (against the winner's curse
    over many options). Returns ``(option or None, reason)``.
    """
    best = closest = None
    for option, a in auc.items():
        diff = a - base
        se = _paired_se(diff)
        margin = diff.mean() - se
        if closest is None or margin > closest[1]:
            closest = (option, margin, diff.mean(), se)
        if margin > 0 and (best is None or a.mean() > auc[best].mean()):
            best = option
    if best is not None:
        return best, "beats the base detector on the known anomalies by more than one standard error"
    if closest is None:
        return None, "no option could be validated: keeping the base detector"
    (name, lam), _, mean, se = closest
    return None, ("no option beats the base detector on the known anomalies by more than one standard error "
                  f"(the closest, {name} at lambda {lam:g}, by {mean:+.4f} with a standard error of {se:.4f}); "
                  "keeping the base detector")


def _paired_se(diff):
    return float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0


def expected_gain(G, seed=0, boot=BOOTSTRAP):
    """Mean of ``G`` (splits x kinds) and its standard error by a seeded two-way bootstrap over splits and kinds."""
    rng = np.random.default_rng(seed)
    R, K = G.shape
    ri, ki = rng.integers(0, R, (boot, R)), rng.integers(0, K, (boot, K))
    return float(G.mean()), float(np.std(G[ri[:, :, None], ki[:, None, :]].mean(axis=(1, 2))))


def _summary(choice, lam, estimate, se, per_kind, basis, reason, record=None, by_default=False):
    """The expected gain of one option; ``record``: :func:`collab.track_record.lookup`'s, when enhancing;
    ``by_default``: the detector's default, taken because no option qualified (whatever its own gain)."""
    return {"choice": choice, "lambda": lam, "estimate": estimate, "std_error": se,
            "interval": [estimate - Z_INTERVAL * se, estimate + Z_INTERVAL * se], "per_kind": per_kind,
            "basis": basis, "decision": "enhance" if choice != FALLBACK.name else KEEP_BASE, "reason": reason,
            "track_record": record, "by_default": by_default}


def _kept(basis, reason=""):
    return _summary(FALLBACK.name, None, 0.0, 0.0, None, basis, reason)


def _split_seed(seed, r):
    return int(np.random.SeedSequence([seed, r]).generate_state(1)[0])


def validation_rows(X_train, seed=0, max_rows=MAX_ROWS):
    """The rows validated on: all of ``X_train``, or a seeded subsample of ``max_rows`` in their order."""
    X = np.asarray(X_train)
    return X if len(X) <= max_rows else X[enhance.bounded_rows(len(X), max_rows, seed)]


def select(X_train, detector, cands, *, seed=0, holdout=HOLDOUT, syn_ratio=enhance.SYN_RATIO,
           classifier=enhance.CLASSIFIER, known=None, splits=SPLITS, lambdas=None, max_rows=MAX_ROWS):
    """Validate ``cands`` on planted splits of ``X_train``; return a :class:`Selection`.

    Parameters
    ----------
    X_train : ndarray of shape (n, d)
        Training rows (no labels are taken).
    detector : str or detector object
    cands : list of synthesis sources (:mod:`collab.synthesis`)
        Validated in order; ties go to the earlier one. :data:`FALLBACK` (no
        enhancement) is the base every option is measured against; with two
        or more other candidates their :class:`collab.synthesis.Mixture` is
        one more. A source whose rows are refused is recorded with its reason.
    seed : int
        Seeds the splits, the planting, the detector, the synthesis and the forest.
    known : ndarray of shape (k, d) or None
        Known anomalies (never fitted on): each split scores its held-out
        normals plus these, and :func:`pick_by_labels` chooses.
    holdout, syn_ratio, classifier, splits
        Share held out, the enhancement's configuration and the number of splits.
    lambdas : sequence of float or None
        The fusion weights tried (None: :data:`LAMBDAS`, or :data:`LABEL_LAMBDAS` with ``known``).
    max_rows : int
        Training rows validated on, at most (:func:`validation_rows`).
    """
    from threadpoolctl import threadpool_limits

    t0 = perf_counter()
    if lambdas is None:
        lambdas = LAMBDAS if known is None else LABEL_LAMBDAS
    given = None if known is None else len(known)
    if known is not None and len(known) > MAX_KNOWN:
        known = np.asarray(known)[enhance.bounded_rows(len(known), MAX_KNOWN, seed)]
    folds = cross_fit(known, splits, seed, None if known is None else np.asarray(X_train).std(axis=0))
    sources = _options(cands, None if folds is None else known)
    errors, per_split = {}, []
    rows = {"validated": min(len(X_train), max_rows), "of": len(X_train)}
    X_train = validation_rows(X_train, seed, max_rows)
    basis = _basis(known, folds, splits, X_train, given)
    for r in range(splits):
        try:
            with threadpool_limits(1):  # the mixtures' small matrices: BLAS threads only contend
                split = planted_split(X_train, random_state=_split_seed(seed, r), holdout=holdout)
        except ValueError as exc:
            why = f"no planted validation ({exc})"
            return Selection(FALLBACK.name, None, [], why, perf_counter() - t0, [(FALLBACK, None)],
                             expected_gain=_kept("none: no planted validation", f"{why}; {KEEPING}"), rows=rows)
        if folds is None:
            split_sources, evaluated = sources, known
        else:  # cross-fitted: a split never draws from (near) copies of the known anomalies it is scored on
            drawn, evaluated = folds[r]
            split_sources = _options(cands, drawn)
        per_split.append(_validate_split(split, detector, split_sources, errors, seed, syn_ratio, classifier,
                                         evaluated, lambdas))
    record = track_record.lookup(_registry_name(detector), n_known=None if known is None else len(known))
    options = [(s, lam) for s in sources if s.name not in errors for lam in lambdas]
    key = {(s.name, lam): (s, lam) for s, lam in options}
    if known is None:
        kinds = [k for k in KINDS if k in per_split[0]["base"]]
        gains = {o: np.array([[p["options"][o][k] - p["base"][k] for k in kinds] for p in per_split])
                 for o in key}
        perfect = {k for k in kinds if all(p["base"][k] >= 1.0 for p in per_split)}
        default = default_option(detector, gains)
        option, reason = pick(gains, kinds, perfect, default)
        takeable = {o: eligible(G) and accepted(o, gains, default) for o, G in gains.items()}
        table = [{**_row(key[o][0], o[1], G.mean(), G.mean(axis=0).min(), _per_kind(G, kinds), eligible(G)),
                  "worst_bound": float(kind_bounds(G).min()), "accepted": takeable[o]} for o, G in gains.items()]
        order = sorted((o for o in gains if takeable[o]), key=lambda o: -kind_bounds(gains[o]).min())
        order += [default] if default is not None and default not in order else []  # then the default

        def summarize(o, why):
            return _summary(*o, *expected_gain(gains[o], seed), _per_kind(gains[o], kinds), basis, why, record,
                            by_default=o == default and not eligible(gains[o]))
    else:
        base = np.array([p["base"] for p in per_split])
        diffs = {o: np.array([p["options"][o] for p in per_split]) - base for o in key}
        option, reason = pick_by_labels({o: d + base for o, d in diffs.items()}, base)
        table = [{**_row(key[o][0], o[1], d.mean(), None, None, d.mean() > _paired_se(d)),
                  "std_error": _paired_se(d)} for o, d in diffs.items()]
        order = sorted((o for o, d in diffs.items() if d.mean() > _paired_se(d)), key=lambda o: -diffs[o].mean())

        def summarize(o, why):
            return _summary(*o, float(diffs[o].mean()), _paired_se(diffs[o]), None, basis, why, record)
    order = [] if option is None else [option] + [o for o in order if o != option]  # the rule's choice first
    summaries = {o: summarize(o, reason if o == option else "the next option the rule accepts, after a refusal")
                 for o in order}
    summary = summaries[option] if option is not None else _kept(basis, reason)
    table += [{**_row(s, None, None, None, None, False), "error": why}
              for s in sources for name, why in errors.items() if s.name == name]
    ranking = [key[o] for o in order] + [(FALLBACK, None)]
    first, lam = ranking[0]
    return Selection(first.name, first.sha256, table, None, perf_counter() - t0, ranking, lam, summary, summaries,
                     rows)


def _options(cands, known=None):
    """The sources validated: ``cands`` (no enhancement aside), :class:`KnownAnomalies` of
    ``known`` when given, and the ensemble of them all."""
    sources = [s for s in cands if s.name != FALLBACK.name]
    if known is not None:
        sources.append(KnownAnomalies(np.asarray(known, dtype=np.float64)))
    if len(sources) >= 2:
        sources.append(Mixture(tuple(sources)))
    return sources


def _basis(known, folds, splits, X_train, given=None):
    if known is None:
        return f"planted anomalies: {splits} splits x {len(KINDS)} kinds"
    rows = f"known anomalies: {len(known)} row{'s' if len(known) != 1 else ''}"
    if given is not None and given > len(known):
        rows += f" (a seeded sample of the {given} given, validated on and drawn from)"
    close, of = close_pairs(known, X_train)
    if close:
        rows += (f" ({close} of {of} with another known anomaly nearer than half their distance to any "
                 "training row; the estimate counts them as separate events)")
    if folds is None:
        return (f"{rows}, AUC-PR on all of them in each of {splits} planted splits (too few far enough "
                "apart to cross-validate)")
    return f"{rows}, cross-validated AUC-PR over {splits} planted splits (each scored on its own third)"


#: Distinct known anomalies :func:`close_pairs` looks at, at most (a seeded sample above it).
CLOSE_PAIRS_ROWS = 2_000


def close_pairs(known, X_train):
    """``(n, of)``: of ``of`` distinct known anomalies (at most :data:`CLOSE_PAIRS_ROWS`, a seeded
    sample), ``n`` have another nearer than half their distance to the nearest of ``X_train``
    (features scaled by its spread).

    Cross-fitting keeps a split from drawing (near) copies of what it is scored on
    (:func:`apart`), but two records of one event further apart than that still count as
    two independent anomalies; so does a tight cluster of distinct ones. No distance
    tells the two apart, so the estimate is not cut: the count is the user's to check.
    """
    from scipy.spatial import cKDTree

    scale = np.asarray(X_train).std(axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    K = np.unique(np.asarray(known, dtype=np.float64).reshape(len(known), -1), axis=0)
    K = K[enhance.bounded_rows(len(K), CLOSE_PAIRS_ROWS)]
    of = len(K)
    if of < 2 or not len(X_train):
        return 0, of
    with np.errstate(over="ignore"):
        K, T = K / scale, np.asarray(X_train) / scale
        K, T = K[np.isfinite(K).all(axis=1)], T[np.isfinite(T).all(axis=1)]  # beyond float64: near nothing
    if len(K) < 2 or not len(T):
        return 0, of
    with np.errstate(over="ignore"):
        to_known = cKDTree(K).query(K, k=2)[0][:, 1]
        to_train = cKDTree(T).query(K, k=1)[0]
    return int(np.count_nonzero(to_known < 0.5 * to_train)), of


def cross_fit(known, splits, seed, scale=None):
    """Per split, ``(rows it draws from, rows it is scored on)`` of the known anomalies, or None
    when they cannot be cross-fitted.

    The distinct rows are dealt into ``splits`` folds (seeded, as even as
    possible; identical rows share one); split ``r`` is scored on fold ``r``
    and draws from the others, except the rows within :data:`APART` of a row it
    is scored on, or matching one in all but a few features (:func:`apart`):
    their synthetic rows would be (near) copies of it, and the estimate would leak. None when there are fewer distinct rows
    than splits, or when a split would have nothing to draw from.
    ``scale``: the training rows' per-feature spread (None: ones).
    """
    if known is None:
        return None
    known = np.asarray(known, dtype=np.float64)
    _, group = np.unique(known, axis=0, return_inverse=True)
    group = group.ravel()
    n_groups = int(group.max()) + 1
    if n_groups < splits:
        return None
    fold = (np.random.default_rng([seed, len(known)]).permutation(n_groups) % splits)[group]
    out = []
    for r in range(splits):
        scored, others = known[fold == r], known[fold != r]
        drawn = others[apart(others, scored, scale)]
        if not len(drawn):
            return None
        out.append((drawn, scored))
    return out


#: When a known anomaly is too close to a row a split is scored on to be drawn there, in units of
#: ``TWIN_UNIT`` x each feature's spread: within ``APART`` x sqrt(d) (beyond the reach of the noise
#: the source adds, :data:`collab.synthesis.KNOWN_JITTER` = 0.1), or differing by more than
#: ``FEATURE_REACH`` in at most an eighth of the features (a twin off in a few features only: the
#: forest's splits would still find it). The unit stays at the 0.25 std the red team's twins were
#: tested against when the source's noise went down to 0.1: a smaller noise must not loosen it.
TWIN_UNIT = 0.25
APART = 1.0
FEATURE_REACH = 2.0
#: Feature comparisons :func:`apart` makes for the candidate pairs, at most (a second or two); rows
#: whose candidates would take it past this are kept out of the draw: too costly to tell apart is too near.
MAX_COMPARISONS = 2**28
#: Feature comparisons held at once by :func:`apart` (64 MB of float64).
_STEP_COMPARISONS = 2**23


def apart(rows, scored, scale=None):
    """Mask of ``rows`` that may be drawn by a split scored on ``scored`` (see :data:`APART`).

    Exact for both rules (to rounding of the Euclidean one): only the features whose
    values spread over more than ``FEATURE_REACH`` can differ by more; a row differing
    from a scored one in at most ``m = d // 8`` of them matches it within
    ``FEATURE_REACH`` in every feature of one of any ``m + 1`` groups of them
    (pigeonhole), so each group's max-distance search finds every such pair, and the
    pairs it finds are counted feature by feature. The groups deal the features out
    widest spread first, so that each tells rows apart. Rows already known to be near
    are not searched again; the pairs are compared in bounded steps, and at most
    :data:`MAX_COMPARISONS` feature comparisons in all (:func:`select` hands it at most
    :data:`MAX_KNOWN` rows, which bounds the Euclidean search too).
    """
    from scipy.spatial import cKDTree

    if not len(rows) or not len(scored):
        return np.ones(len(rows), dtype=bool)
    d = rows.shape[1]
    unit = TWIN_UNIT * (np.ones(d) if scale is None else np.where(np.asarray(scale) > 0, scale, 1.0))
    with np.errstate(over="ignore"):
        R, S = rows / unit, scored / unit
    if not np.isfinite(S).all():  # a scored row beyond float64 once scaled: nothing is told apart from it
        return np.zeros(len(rows), dtype=bool)
    beyond = ~np.isfinite(R).all(axis=1)  # kept out, and left out of the searches
    if beyond.any():
        allowed_rows = np.zeros(len(rows), dtype=bool)
        allowed_rows[~beyond] = apart(rows[~beyond], scored, scale)
        return allowed_rows
    with np.errstate(over="ignore"):  # distances past float64 are far: inf compares as far
        near = cKDTree(S).query(R, k=1)[0] <= APART * np.sqrt(d)
    allowed = d // 8
    # r / unit - s / unit may round past (r - s) / unit: the search and the features searched are
    # widened by that rounding (a superset), and the count below is exact.
    slack = 4 * np.finfo(np.float64).eps * np.maximum(np.abs(R).max(axis=0), np.abs(S).max(axis=0))
    spread = np.maximum(R.max(axis=0), S.max(axis=0)) - np.minimum(R.min(axis=0), S.min(axis=0))
    can_differ = np.flatnonzero(spread > FEATURE_REACH - slack)
    telling = can_differ[np.argsort(-spread[can_differ], kind="stable")]
    if len(telling) <= allowed:  # no pair can differ in more than ``allowed`` features
        return np.zeros(len(rows), dtype=bool)
    raw_rows, raw_scored, unit = rows[:, telling], scored[:, telling], unit[telling]
    R, S, slack = R[:, telling], S[:, telling], slack[telling]
    budget, per_step = MAX_COMPARISONS, max(1, _STEP_COMPARISONS // len(telling))
    for group in (np.arange(g, len(telling), allowed + 1) for g in range(allowed + 1)):
        todo = np.flatnonzero(~near)
        if not len(todo):
            break
        tree = cKDTree(S[:, group])
        reach = FEATURE_REACH * (1 + 1e-9) + slack[group].max()  # one huge value widens its group only
        counts = tree.query_ball_point(R[todo][:, group], r=reach, p=np.inf, return_length=True)
        todo, counts = todo[counts > 0], counts[counts > 0]
        if not len(todo):
            continue
        if counts.sum() * len(telling) > budget:
            near[todo] = True
            continue
        budget -= int(counts.sum()) * len(telling)
        for batch in np.split(todo, np.flatnonzero(np.diff(np.cumsum(counts) // per_step)) + 1):
            hits = tree.query_ball_point(R[batch][:, group], r=reach, p=np.inf)
            lengths = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
            row = np.repeat(batch, lengths)
            col = np.fromiter((j for h in hits for j in h), dtype=np.int64, count=int(lengths.sum()))
            for at in range(0, len(row), per_step):  # one row may have many candidates
                r, c = row[at:at + per_step], col[at:at + per_step]
                differing = (np.abs(raw_rows[r] - raw_scored[c]) / unit > FEATURE_REACH).sum(axis=1)
                near[r[differing <= allowed]] = True
    return ~near


def _row(source, lam, mean_gain, worst_gain, per_kind, eligible):
    row = {"candidate": source.name, "lam": lam, "sha256": source.sha256, "mean_gain": _num(mean_gain),
           "worst_gain": _num(worst_gain), "eligible": bool(eligible), "error": None}
    return {**row, **{k: _num(v) for k, v in (per_kind or {}).items()}}


def _num(x):
    return None if x is None else float(x)


def _validate_split(split, detector, sources, errors, seed, syn_ratio, classifier, known, lambdas):
    """Fit the detector and every source on one split's fit rows; AUC-PR per option (and of the base).

    Label-free: ``{"base": {kind: auc}, "options": {(name, lam): {kind: auc}}}``;
    with ``known``: AUC-PR on the held-out normals plus the known anomalies.
    A source refused here is recorded in ``errors`` and skipped from then on.
    """
    det = enhance.fit_detector(detector, split.X_fit, seed)
    base_fit, base_val = enhance.train_scores(det, split.X_fit), enhance.base_scores(det, split.X_val)
    if known is not None:
        normal = split.kind_per_row == NORMAL
        X_eval = np.vstack([split.X_val[normal], known])
        y_eval = np.r_[np.zeros(normal.sum()), np.ones(len(known))]
        base_eval = np.r_[base_val[normal], enhance.base_scores(det, known)]
        def measure(s):
            return float(auc_pr(y_eval, s))
    else:
        X_eval, base_eval = split.X_val, base_val
        def measure(s):
            return per_kind_auc_pr(s, split.y_val, split.kind_per_row)
    n_syn = enhance.n_synthetic(len(split.X_fit), syn_ratio)
    out = {"base": measure(base_eval), "options": {}}
    for source in sources:
        if source.name in errors:
            continue
        try:
            X_syn = source.rows(split.X_fit, n_syn, lambda Z: enhance.base_scores(det, Z), seed)
        except enhance.SynthesisError as exc:
            errors[source.name] = str(exc)
            continue
        if X_syn is None:
            errors[source.name] = "no synthetic rows"
            continue
        fitted = enhance.fit_enhancement(det, split.X_fit, X_syn, classifier=classifier, seed=seed,
                                         base_train=base_fit)
        clf = enhance.classifier_scores(fitted.classifier, X_eval)
        for lam in lambdas:
            fused = replace(fitted.fusions["sum"], lam=lam).fuse(base_eval, clf)
            out["options"][(source.name, lam)] = measure(fused)
    return out
