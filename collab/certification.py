"""Certification service: verify programs, keep certificates current, choose defaults.

The store (:mod:`program_store`) keeps records; this service decides. It runs
the property suite (:func:`sandbox.verify_program`) and its own two properties
(:func:`usefulness`: ``useful`` -- the runtime's default enhancement with the
program beats the detector and random outliers in AUC-PR on anomalies
planted in the suite's datasets; ``borderline`` -- the program's rows score
between typical normal rows and random outliers, not deeper than the normal
rows) and records the outcome,
re-verifies a program certified under an older suite version, picks the
program the runtime uses for a detector (the recorded default, else the
largest lower bound of the ``useful`` margin, label-free) and, on first use,
certifies the bundled programs. The Python API and the CLI both come through
here, so a fresh store behaves the same from either.

What a certificate promises against an adversary who has read this code:

- *Recognition.* Every verification draws its seed from the OS
  (:func:`sandbox.datasets.draw_seed`) unless one is given to replay it; the suite's datasets,
  their shapes and scales, the planted splits and the ``useful`` seeds all
  come from it, so no array a program is judged on is known in advance. The
  seed is recorded in the report (``seed``, ``usefulness.seeds``).
- *Luck.* ``useful`` and ``borderline`` are statistics, judged over
  :data:`USEFUL_SEEDS` independent seeds x the suite's datasets by
  :data:`USEFUL_RULE`: the one-sided 90 % Student-t lower confidence bound
  of the mean per-unit margin (and borderline position) must be above 0.
- *Another draw.* Verifying a program again under the same suite (a seed
  drawn from the OS) adds units instead of replacing them: ``useful`` and
  ``borderline`` are judged on the units of all its drawn verifications
  together (:meth:`Certification.pooled`), the k-th at confidence
  ``1 - 0.10 / k**2`` (:func:`look_confidence`), so that all the looks together
  certify a program with no gain at most ~16 % of the time however often it is
  verified. A program that holds a certificate keeps it while its pooled units
  pass at the first look's 90 % (the tighter level is for gaining one): one
  unlucky draw does not revoke it, more evidence of no gain does. A
  verification at a seed the caller gave is a replay: judged on its own
  units, never pooled (a seed someone chose is a suite they could know).
  Each borderline unit counts within [-1, 2] (:data:`BORDERLINE_RANGE`): rows
  put absurdly far out cannot carry the mean.

The bundled programs (:data:`BUNDLED_PROGRAMS`) are the engine's replay corpus
run through its generate → audit → verify loop, exported as a program bundle
(``das prompts corpus --bundle collab/bundled_programs.json`` writes it;
``tests/test_collab_certification.py`` checks it matches the corpus). On first
use they are imported as candidates and verified *locally*: the bundle's own
reports are evidence, never a certificate.
"""
import contextlib
import contextvars
import functools
import re
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from das.program_store import (AmbiguousPrefix, NotCertified, ProgramNotFound, ProgramStore, TamperedProgram,
                               import_bundle, read_bundle)

#: What :meth:`program_store.ProgramStore.resolve` accepts as a sha256 prefix (``das programs show`` too).
SHA_PREFIX = re.compile(r"^[0-9a-fA-F]{4,64}$")
#: The replay corpus's programs as a bundle, shipped with das.
BUNDLED_PROGRAMS = Path(__file__).with_name("bundled_programs.json")


class ProgramRefused(ValueError):
    """The requested program may not run for this detector."""


@contextlib.contextmanager
def opened(store=None):
    """Open the store at ``store`` (a path; None: the default store) and close it afterwards."""
    opened_store = ProgramStore(store)
    try:
        yield opened_store
    finally:
        opened_store.close()


def _sandbox_verifier():
    return verify_with_usefulness


#: The service's own properties, run after the sandbox suite passes.
SERVICE_PROPERTIES = ("useful", "borderline")
#: Version of the service's own properties (``useful``, ``borderline``); part of every suite version.
#: u6: the planted splits fit one mixture for the local and clustered kinds (other planted rows).
USEFUL_VERSION = "u6"
#: Independent seeds (one drawn, the others derived from it) ``useful`` and ``borderline`` are judged over.
USEFUL_SEEDS = 3
#: Level of the one-sided lower confidence bound that must lie above 0.
USEFUL_CONFIDENCE = 0.90
#: The rule, as reports and the README state it.
USEFUL_RULE = (f"one-sided {USEFUL_CONFIDENCE:.0%} Student-t lower confidence bound of the mean over "
               f"{USEFUL_SEEDS} seeds x the suite's datasets (one value per seed and dataset) above 0, "
               "for the useful margin and the borderline position (each unit within [-1, 2]); a unit "
               "without rows fails useful; the units of a program's verifications at drawn seeds under "
               "one suite version are pooled, the k-th judged at confidence 1 - 0.10 / k^2 to gain a "
               "certificate and at 90 % to keep one")
#: Each unit's borderline position counts within this range (0: a typical normal row, 1: a typical random
#: outlier): a few rows put absurdly far out cannot carry the mean.
BORDERLINE_RANGE = (-1.0, 2.0)


def look_confidence(looks):
    """The confidence of the ``looks``-th pooled verdict: ``1 - (1 - USEFUL_CONFIDENCE) / looks**2``, so
    that over every look the chance of certifying a program with no gain stays below
    ``(1 - USEFUL_CONFIDENCE) * pi**2 / 6`` (~16 %), however often it is verified."""
    return 1.0 - (1.0 - USEFUL_CONFIDENCE) / max(1, int(looks)) ** 2
#: Planted anomalies per kind, as a share of the held-out rows, on each suite dataset.
USEFUL_RATE = 0.2


def _sandbox_suite_version():
    from das.sandbox import SUITE_VERSION

    return f"{SUITE_VERSION}+{USEFUL_VERSION}"


def suite_version():
    """The version certificates must carry: the sandbox's suite and the service's own properties."""
    return _sandbox_suite_version()


@dataclass
class Usefulness:
    """The ``useful`` and ``borderline`` properties of one program (see :func:`usefulness`).

    ``per_seed``: per seed of :func:`useful_seeds`, per suite dataset, AUC-PR
    per planted kind of ``base``, ``random`` and ``program`` and the program's
    ``borderline`` position (or ``error`` where the program gave no rows).
    Each (seed, dataset) pair is one unit of evidence; the verdicts are on
    the one-sided :data:`USEFUL_CONFIDENCE` lower confidence bound of the
    units' mean (:func:`lower_bound`), never on a mean at one seed.
    """

    per_seed: dict
    seconds: float
    drawn: tuple = ()  # the seeds this verification drew, where per_seed also pools earlier ones
    looks: int = 1  # the verifications pooled (this one included)
    chosen: bool = False  # the caller gave the seed: a replay, never pooled
    keeping: bool = False  # the program holds a certificate: kept at the first look's confidence

    @property
    def confidence(self):
        """The bounds' confidence: :data:`USEFUL_CONFIDENCE` to keep a certificate, the
        ``looks``-th look's (:func:`look_confidence`) to gain one."""
        return USEFUL_CONFIDENCE if self.keeping else look_confidence(self.looks)

    def _units(self):
        return [e for per_dataset in self.per_seed.values() for e in per_dataset.values()]

    def _confidence_text(self):
        """The confidence of this verdict's bounds as printed: ``90%``, ``97.5%``, ..."""
        return f"{self.confidence:.1%}".replace(".0%", "%")

    @property
    def errors(self):
        """Units on which the program gave no rows (it is useful nowhere then)."""
        return sum("error" in e for e in self._units())

    @property
    def margins(self):
        """Per unit that ran: mean planted AUC-PR of the program minus the better of base and random."""
        return [unit_margin(e) for e in self._units() if "error" not in e]

    @property
    def borderlines(self):
        """Per unit that ran: the borderline position of the program's rows, within :data:`BORDERLINE_RANGE`."""
        return [float(np.clip(e["borderline"], *BORDERLINE_RANGE)) for e in self._units() if "error" not in e]

    @property
    def means(self):
        """Base, random and program AUC-PR averaged over units and kinds (program 0 if any unit failed)."""
        ok = [e for e in self._units() if "error" not in e]
        means = {k: float(np.mean([v for e in ok for v in e[k].values()])) if ok else 0.0
                 for k in ("base", "random", "program")}
        if self.errors:
            means["program"] = 0.0
        return means

    @property
    def margin(self):
        """Mean unit margin (None when no unit ran)."""
        return float(np.mean(self.margins)) if self.margins else None

    @property
    def lower_bound(self):
        """Lower confidence bound of the mean unit margin (-inf when any unit failed)."""
        return -np.inf if self.errors else lower_bound(self.margins, self.confidence)

    @property
    def borderline(self):
        """Mean borderline position over the units that ran (0.0 when none ran)."""
        return float(np.mean(self.borderlines)) if self.borderlines else 0.0

    @property
    def borderline_bound(self):
        """Lower confidence bound of the mean borderline position."""
        return lower_bound(self.borderlines, self.confidence)

    @property
    def useful(self):
        """The enhancement beats the detector and random outliers: margin's lower bound above 0."""
        return bool(self.lower_bound > 0.0)

    @property
    def is_borderline(self):
        """The synthetic rows sit above typical normal rows: borderline's lower bound above 0."""
        return bool(self.borderline_bound > 0.0)

    def summary(self):
        """One line: the margin and the borderline position with their bounds, and the units."""
        units = f"{len(self.per_seed)} seeds x {len(self._units()) // max(len(self.per_seed), 1)} datasets"
        if self.looks > 1:
            units += f", {self.looks} verifications pooled"
        if self.margin is None:
            return f"no unit ran ({units})"
        conf = self._confidence_text()
        fails = f", {self.errors} unit(s) without rows" if self.errors else ""
        return (f"useful margin {self.margin:+.4f} ({conf} lower bound {_signed(self.lower_bound)}), "
                f"borderline {self.borderline:+.3f} ({conf} lower bound {_signed(self.borderline_bound)}) "
                f"over {units}{fails}")

    def to_dict(self):
        """The figures a report keeps (JSON: infinite bounds become None)."""
        drawn = self.drawn or tuple(self.per_seed)
        return {"rule": USEFUL_RULE, "seeds": [int(s) for s in self.per_seed],
                "drawn": [int(s) for s in drawn], "looks": self.looks, "chosen_seed": self.chosen,
                "confidence": self.confidence, "keeping": self.keeping,
                "margin": _finite(self.margin), "lower_bound": _finite(self.lower_bound),
                "borderline": _finite(self.borderline), "borderline_lower_bound": _finite(self.borderline_bound),
                "means": self.means, "per_seed": {str(s): self.per_seed[s] for s in drawn},
                "cpu_s": round(self.seconds, 3)}

    def properties(self):
        """The two results as property-suite entries (``name, passed, value, threshold, detail``)."""
        conf = self._confidence_text()
        return [
            {"name": "useful", "passed": self.useful,
             "value": {"margin": _rounded(self.margin), "lower_bound": _rounded(self.lower_bound)},
             "threshold": f"{conf} lower bound of the per-seed, per-dataset margin > 0",
             "detail": self.summary() + ("" if self.useful else
                                         "; the gain over the better of the detector and random outliers "
                                         "is not established")},
            {"name": "borderline", "passed": self.is_borderline,
             "value": {"mean": _rounded(self.borderline), "lower_bound": _rounded(self.borderline_bound)},
             "threshold": f"{conf} lower bound > 0 (0: a typical normal row, 1: a typical random outlier)",
             "detail": ("the synthetic rows score above the typical normal row" if self.is_borderline else
                        "the synthetic rows do not reliably score above the typical normal row: deeper "
                        "inside the normal data, so the classifier would learn a boundary there")},
        ]


def _finite(value):
    return None if value is None or not np.isfinite(value) else float(value)


def _rounded(value):
    return None if _finite(value) is None else round(float(value), 4)


def _signed(value):
    return f"{value:+.4f}" if np.isfinite(value) else "-inf"


def unit_margin(entry):
    """One (seed, dataset) unit: the program's planted AUC-PR (kinds averaged) minus the better of base and random."""
    mean = {k: float(np.mean(list(entry[k].values()))) for k in ("base", "random", "program")}
    return mean["program"] - max(mean["base"], mean["random"])


def lower_bound(values, confidence=None):
    """One-sided lower confidence bound of the mean of ``values``: Student's t,
    ``mean - t_{confidence, n-1} * sd / sqrt(n)``; -inf for fewer than two values."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return -np.inf
    confidence = USEFUL_CONFIDENCE if confidence is None else confidence
    spread = float(values.std(ddof=1)) / np.sqrt(len(values))
    return float(values.mean() - stats.t.ppf(confidence, len(values) - 1) * spread)


def useful_seeds(seed):
    """The :data:`USEFUL_SEEDS` seeds ``useful`` is judged on: ``seed`` itself, then seeds derived from it
    (:class:`numpy.random.SeedSequence`), each drawing its own datasets, shapes and planted splits."""
    children = np.random.SeedSequence(int(seed)).spawn(USEFUL_SEEDS - 1)
    return [int(seed)] + [int(c.generate_state(1)[0] >> 1) for c in children]


def _borderline(syn, train, rand):
    """Where the median synthetic score sits: 0 = median normal row, 1 = median random outlier."""
    lo, hi = float(np.median(train)), float(np.median(rand))
    return (float(np.median(syn)) - lo) / (hi - lo) if hi > lo else 0.0


@functools.lru_cache(maxsize=4)
def _planted_suite(seed):
    """``[(name, PlantedSplit)]`` of the suite's datasets for ``seed`` (the same for every program)."""
    from das.sandbox.datasets import hardness_datasets

    from das.collab.planted import planted_split

    return [(d.name, planted_split(d.X, random_state=seed, rate=USEFUL_RATE)) for d in hardness_datasets(seed)]


@functools.lru_cache(maxsize=16)
def _suite_baselines(detector, seed):
    """Per suite dataset: the fitted detector, its scores and the base and random-outlier figures."""
    from das.sandbox.properties import SUITE_DETECTOR_PARAMS

    from das.collab import enhance
    from das.collab.planted import per_kind_auc_pr
    from das.collab.synthesis import RandomOutliers
    from das.detectors import make_detector

    name = make_detector(detector).name
    out = {}
    for data, split in _planted_suite(seed):
        det = make_detector(name, random_state=seed, **SUITE_DETECTOR_PARAMS.get(name, {})).fit(split.X_fit)
        base_fit, base_val = enhance.base_scores(det, split.X_fit), enhance.base_scores(det, split.X_val)
        X_rand = RandomOutliers().rows(split.X_fit, _n_syn(split), None, seed)
        out[data] = {"split": split, "det": det, "base_fit": base_fit, "base_val": base_val,
                     "rand_scores": enhance.base_scores(det, X_rand),
                     "base": per_kind_auc_pr(base_val, split.y_val, split.kind_per_row),
                     "random": _enhanced_auc_pr(split, det, base_fit, base_val, X_rand, seed)}
    return out


def _n_syn(split):
    from das.collab import enhance

    return enhance.n_synthetic(len(split.X_fit), enhance.SYN_RATIO)


def _enhanced_auc_pr(split, det, base_fit, base_val, X_syn, seed):
    """Per-kind AUC-PR of the runtime's default enhancement (:func:`collab.enhance.fit_enhancement`)."""
    from das.collab import enhance
    from das.collab.planted import per_kind_auc_pr

    fused = enhance.fit_enhancement(det, split.X_fit, X_syn, seed=seed, base_train=base_fit).scores(
        split.X_val, base=base_val)["sum"]
    return per_kind_auc_pr(fused, split.y_val, split.kind_per_row)


def _usefulness_per_dataset(source, detector, seed):
    """Per suite dataset: base, random and program AUC-PR per kind and the borderline position.

    The program's rows come through :class:`collab.synthesis.CertifiedProgram`
    (the sandbox, then the run-time output check), as on a user's data.
    """
    from das.collab import enhance
    from das.collab.synthesis import CertifiedProgram
    from das.program_store import source_sha256

    program = CertifiedProgram(source, source_sha256(source))
    per_dataset = {}
    for data, b in _suite_baselines(detector, seed).items():
        split, det = b["split"], b["det"]
        try:
            X_syn = program.rows(split.X_fit, _n_syn(split), lambda Z, det=det: enhance.base_scores(det, Z), seed)
        except enhance.SynthesisError as exc:
            per_dataset[data] = {"error": str(exc)}
            continue
        per_dataset[data] = {
            "base": b["base"], "random": b["random"],
            "program": _enhanced_auc_pr(split, det, b["base_fit"], b["base_val"], X_syn, seed),
            "borderline": _borderline(enhance.base_scores(det, X_syn), b["base_fit"], b["rand_scores"])}
    return per_dataset


def usefulness(source, detector, seed):
    """Measure ``useful`` and ``borderline`` for ``source`` on the suite's datasets (no user data).

    For each seed of :func:`useful_seeds` (``seed`` and two derived from it),
    on each of the property suite's datasets drawn from that seed
    (:func:`sandbox.datasets.hardness_datasets`): a planted split
    (:func:`collab.planted.planted_split`, the four ADBench kinds, shared by
    every program), the detector fitted on the fit rows (with the suite's
    detector parameters), then the runtime's default enhancement
    (:func:`collab.enhance.fit_enhancement`, sum fusion) with the program's
    rows and with random outliers. AUC-PR is taken per kind and averaged, one
    margin per (seed, dataset) unit (:func:`unit_margin`); the verdicts are on
    the units' one-sided 90% t lower confidence bound (:data:`USEFUL_RULE`),
    so a margin at one lucky seed certifies nothing. The splits, detector fits
    and baselines are computed once per process and seed.

    Returns
    -------
    Usefulness
    """
    from threadpoolctl import threadpool_limits

    t0 = time.process_time()
    with threadpool_limits(1):  # tiny matrices: BLAS threads only contend
        per_seed = {s: _usefulness_per_dataset(source, detector, s) for s in useful_seeds(seed)}
    return Usefulness(per_seed, time.process_time() - t0)


@dataclass
class ServiceReport:
    """The sandbox's :class:`sandbox.VerificationReport` plus the service's ``useful`` and ``borderline``.

    ``borderline``: the position of the program's rows (0: a typical normal
    row, 1: a typical random outlier), measured when the sandbox suite passed
    (else None); ``depth``: the sandbox suite's depth share. ``passed`` needs
    the sandbox suite, ``useful`` and ``borderline`` (both judged on their lower
    confidence bounds, :data:`USEFUL_RULE`).
    """

    sandbox: object
    usefulness: Usefulness | None
    passed: bool
    suite_version: str
    duration_s: float

    @property
    def borderline(self):
        return None if self.usefulness is None else round(self.usefulness.borderline, 6)

    def to_dict(self):
        out = dict(self.sandbox.to_dict())
        out.update(passed=self.passed, suite_version=self.suite_version, duration_s=self.duration_s,
                   borderline=self.borderline)
        if self.usefulness is None:  # the sandbox suite failed: the service's properties never ran
            out["properties"] = out.get("properties", []) + [
                {"name": name, "passed": False, "value": None, "threshold": None,
                 "detail": "not run: the sandbox suite failed"} for name in SERVICE_PROPERTIES]
        else:
            out["properties"] = out.get("properties", []) + self.usefulness.properties()
            out["usefulness"] = self.usefulness.to_dict()
        return out


def verify_with_usefulness(source, detector, seed=None):
    """:func:`sandbox.verify_program`, then (if it passed) :func:`usefulness`; a :class:`ServiceReport`.

    ``seed``: None (the default) draws one from the OS (:func:`sandbox.datasets.draw_seed`), so
    no program can know the suite's arrays in advance; the report records it
    and passing it again replays the verification exactly.
    """
    from das.sandbox import verify_program
    from das.sandbox.datasets import draw_seed

    seed = draw_seed() if seed is None else int(seed)
    t0 = time.perf_counter()
    report = verify_program(source, detector, seed=seed)
    useful = usefulness(source, detector, seed=seed) if report.passed else None
    passed = bool(report.passed and useful.useful and useful.is_borderline) if useful is not None else False
    return ServiceReport(report, useful, passed, _sandbox_suite_version(),
                         round(report.duration_s + time.perf_counter() - t0, 3))


def _stored_units(verification):
    """``{seed: {dataset: unit}}`` of the seeds a recorded verification drew from the OS (not those it
    pooled); {} where the caller chose its seed, or its units are missing or malformed (a unit
    needs base, random and program AUC-PR per kind and its borderline position, or an error)."""
    usefulness = _usefulness_of(verification)
    found, drawn = usefulness.get("per_seed"), usefulness.get("drawn")
    if not isinstance(found, dict) or not isinstance(drawn, list) or usefulness.get("chosen_seed") is not False:
        return {}
    units = {}
    for seed, per_dataset in found.items():
        if not (isinstance(per_dataset, dict) and all(map(_well_formed_unit, per_dataset.values()))):
            return {}
        try:
            units[int(seed)] = per_dataset
        except ValueError:
            return {}
    return {seed: units[seed] for seed in drawn if type(seed) is int and seed in units}


def _well_formed_unit(unit):
    if not isinstance(unit, dict):
        return False
    if "error" in unit:
        return True
    return _real(unit.get("borderline")) and all(
        isinstance(unit.get(k), dict) and unit[k] and all(map(_real, unit[k].values()))
        for k in ("base", "random", "program"))


def _real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _usefulness_of(verification):
    report = None if verification is None else verification.report
    found = report.get("usefulness") if isinstance(report, dict) else None
    return found if isinstance(found, dict) else {}


def useful_margin(verification):
    """A verified program's mean ``useful`` margin (planted AUC-PR over the better of base and random), or None."""
    return _usefulness_of(verification).get("margin")


def useful_bound(verification):
    """The lower confidence bound of that margin (:data:`USEFUL_RULE`), or None."""
    return _usefulness_of(verification).get("lower_bound")


def rank_key(verification, sha):
    """Label-free rank of a certified program from its latest verification (the best is the maximum):
    the largest lower bound of the ``useful`` margin (unknown: last), then the ``borderline`` position,
    then the sha256."""
    bound = useful_bound(verification)
    borderline = None if verification is None else (verification.report or {}).get("borderline")
    return (-np.inf if bound is None else bound, borderline or 0.0, sha)


#: Called once, without arguments, just before :meth:`Certification.ensure` verifies bundled
#: programs (:func:`first_use_notice`); None: nothing is said.
_FIRST_USE_NOTICE = contextvars.ContextVar("das_first_use_notice", default=None)


@contextlib.contextmanager
def first_use_notice(notice):
    """Within this block, call ``notice()`` once when a first use is about to certify the bundled
    programs (30-60 s of work a command should announce); ``notice=None`` says nothing."""
    said = []

    def once():
        if not said:
            said.append(True)
            notice()

    token = _FIRST_USE_NOTICE.set(None if notice is None else once)
    try:
        yield
    finally:
        _FIRST_USE_NOTICE.reset(token)


class Certification:
    """Certification decisions over an open :class:`program_store.ProgramStore`.

    Parameters
    ----------
    store : program_store.ProgramStore
    suite_version : str, optional
        Version certificates must match; default :func:`suite_version`.
    verifier : callable, optional
        ``verifier(source, detector, seed=...) -> report`` with ``passed``,
        ``suite_version``, ``duration_s`` and ``to_dict()``;
        default :func:`verify_with_usefulness`.
    """

    def __init__(self, store, *, suite_version=None, verifier=None):
        self.store = store
        self.suite_version = str(suite_version) if suite_version is not None else _sandbox_suite_version()
        self.verifier = verifier

    def verify(self, sha, seed=None):
        """Run the property suite on ``sha`` now and record the outcome; returns the record.

        ``seed``: None (the default) draws one from the OS (:func:`sandbox.datasets.draw_seed`);
        the report records it. ``useful`` and ``borderline`` are judged on this
        verification's units pooled with those of ``sha``'s earlier ones under
        the current suite (:meth:`pooled`); the sandbox suite's properties on
        this run alone. A certified program that fails is revoked, with the
        failing properties and their values as the reason (its history stays in
        the store); at a given ``seed`` (a replay, never pooled) it is only rejected.
        """
        from das.sandbox.datasets import draw_seed

        rec = self.store.get(sha)
        chosen = seed is not None
        seed = int(seed) if chosen else draw_seed()
        report = (self.verifier or _sandbox_verifier())(rec.source, rec.detector, seed=seed)
        return self.record(sha, self.pooled(sha, report, chosen=chosen), revoke=not chosen)

    def pooled(self, sha, report, chosen=False):
        """``report`` with its ``useful`` and ``borderline`` judged on its units and those of
        every earlier verification of ``sha`` at a drawn seed under the current suite (a seed
        seen twice counts once), at the confidence of that many looks (:func:`look_confidence`).

        ``chosen``: the caller gave the seed; the report is judged on its own units and marked,
        so that it is never pooled. Reports of other verifiers, and ones whose sandbox suite
        failed, are returned as they are.
        """
        if not isinstance(report, ServiceReport) or report.usefulness is None:
            return report
        own = report.usefulness.per_seed
        if chosen or report.suite_version != self.suite_version:
            useful = Usefulness(own, report.usefulness.seconds, chosen=chosen)
        else:
            current = [v for v in self.store.verifications(sha) if v.suite_version == self.suite_version]
            earlier = [units for units in map(_stored_units, current) if units and not set(units) <= set(own)]
            per_seed = {seed: unit for units in earlier for seed, unit in units.items()}
            per_seed.update(own)
            # kept at 90 % only a certificate a drawn look gave (a replay's is a suite someone chose)
            keeping = self.store.get(sha).status == "certified" and any(v.passed and _stored_units(v) for v in current)
            useful = Usefulness(per_seed, report.usefulness.seconds, drawn=tuple(own), looks=1 + len(earlier),
                                keeping=keeping)
        return replace(report, usefulness=useful,
                       passed=bool(report.sandbox.passed and useful.useful and useful.is_borderline))

    def record(self, sha, report, revoke=True):
        """Record ``report`` (a verifier's report) as ``sha``'s verification; revoke a certified program
        that failed (or one that ever passed and a replay left rejected), with the failing properties
        and their values as the reason (with ``revoke`` False it is only rejected: a replay at a
        chosen seed never revokes). Returns the record."""
        rec = self.store.get(sha)
        # a failing replay leaves a certified program rejected, not revoked: the next drawn
        # failure of a program that ever passed revokes it, whatever a replay set meanwhile
        ever_passed = rec.status == "certified" or any(v.passed for v in self.store.verifications(sha))
        report_dict = dict(report.to_dict())
        ver = self.store.record_verification(sha, report_dict, passed=report.passed,
                                             suite_version=report.suite_version,
                                             duration_s=report.duration_s)
        if revoke and ever_passed and rec.status != "revoked" and not ver.passed:
            failed = [f"{p['name']}={p.get('value')}" for p in report_dict.get("properties", []) if not p["passed"]]
            self.store.revoke(sha, f"failed suite {ver.suite_version}: " + ("; ".join(failed) or "see the report"))
        return ver

    def require_current(self, rec, reverify=False):
        """Return ``rec`` if certified under the current suite, re-verifying it if ``reverify``.

        Raises
        ------
        NotCertified
            Not certified, no passing verification, or certified under an older
            suite (and ``reverify`` is False or the re-verification fails).
        """
        if rec.status != "certified":
            raise NotCertified(f"program {rec.sha256[:12]} for {rec.detector} is {rec.status}, not certified")
        latest = self.store.latest_verification(rec.sha256)
        if latest is None or not latest.passed:
            raise NotCertified(f"program {rec.sha256[:12]} has no passing verification")
        if latest.suite_version == self.suite_version:
            return rec
        if not reverify:
            raise NotCertified(
                f"program {rec.sha256[:12]} for {rec.detector} was certified under suite "
                f"{latest.suite_version}, current is {self.suite_version}; re-verification "
                f"is needed (das verify {rec.sha256[:12]})")
        ver = self.verify(rec.sha256)
        if not ver.passed or ver.suite_version != self.suite_version:
            raise NotCertified(f"program {rec.sha256[:12]} failed re-verification under suite "
                               f"{self.suite_version} (got {ver.suite_version}, passed={ver.passed})")
        return self.store.get(rec.sha256)

    def _rank_key(self, sha):
        return rank_key(self.store.latest_verification(sha), sha)

    def ranked(self, detector):
        """Shas of ``detector``'s programs certified under the current suite, best first (:func:`rank_key`)."""
        return sorted(self.store.ranked(detector, self.suite_version), key=self._rank_key, reverse=True)

    def set_default(self, detector, sha):
        """Make ``sha`` (certified under the current suite) the program used for ``detector``."""
        self.require_current(self.store.get(sha))
        self.store.set_default(detector, sha)

    def certified(self, detector, reverify=False):
        """Return the certified program the runtime uses for ``detector``.

        The recorded default if there is one; otherwise the certified program
        :func:`rank_key` ranks first (the largest lower bound of the ``useful`` margin, then the
        borderline figure; label-free).
        ``reverify`` re-verifies a program certified under an older suite
        instead of refusing it.

        Raises
        ------
        NotCertified
            If no program qualifies (the message says why).
        TamperedProgram
            If the default program was tampered with.
        """
        default = self.store.default(detector)
        if default is not None:
            return self.require_current(self.store.get(default), reverify)
        current = []
        for sha in self.store.ranked(detector, self.suite_version):
            try:
                current.append(self.require_current(self.store.get(sha)))
            except (TamperedProgram, NotCertified):
                continue
        if current:
            return max(current, key=lambda rec: self._rank_key(rec.sha256))
        stale = 0
        for sha in self.store.ranked(detector, self.suite_version, current=False):
            stale += 1
            if reverify:
                try:
                    return self.require_current(self.store.get(sha), reverify=True)
                except (TamperedProgram, NotCertified):
                    continue
        if stale:
            raise NotCertified(
                f"{stale} program(s) for {detector} were certified under an older suite "
                f"than {self.suite_version}; re-verification is needed (das verify --detector {detector})")
        raise NotCertified(f"no certified program for detector {detector}")

    def ensure(self, detector, bundle=BUNDLED_PROGRAMS):
        """Return ``detector``'s certified program, certifying the bundled programs on first use.

        A program already certified (re-verified if its suite is stale) is
        returned unchanged (idempotent). Otherwise ``detector``'s programs in
        ``bundle`` are imported and verified here, and the certified one with
        the largest lower bound of the ``useful`` margin on the suite's planted
        anomalies (then the borderline figure, then the sha256) becomes the default and is
        returned.

        Raises
        ------
        NotCertified
            If no program qualifies (the message says why).
        """
        from das.detectors import UnknownDetector, get_card

        try:
            name = get_card(detector).name
        except UnknownDetector:  # a user's own detector: nothing is bundled for it
            name = detector
        found = self._finished(name, bundle)
        if found is not None:
            return found
        with self._first_use_lock():  # another process may be certifying the same bundle: one does
            notice = _FIRST_USE_NOTICE.get()
            if notice is not None and self.first_use_pending(name, bundle):  # not when the other did it all
                notice()
            return self._first_use(name, bundle)

    def _finished(self, name, bundle):
        """``name``'s certified program when its first use is done (a default set, or nothing left
        to verify), else None; read only (a stale program is re-verified by :meth:`_first_use`, under
        the lock and after the notice)."""
        try:
            found = self.certified(name)
        except NotCertified:
            return None
        if self.store.default(name) is not None or not self._first_use_unfinished(name, bundle):
            return found  # a finished first use sets a default: the bundle is not read again
        return None

    def _first_use_lock(self):
        """An exclusive lock beside the store's real file (``<store>.lock``), held while a first use
        certifies: a second process says it waits (:class:`StoreBusyWarning`), waits, then finds the
        work done (see :func:`_exclusive`)."""
        real = self.store.path.resolve()
        return _exclusive(real.with_name(real.name + ".lock"))

    def _first_use(self, name, bundle):
        """The first use of ``name``: the bundle imported and verified, the best certified made the default."""
        try:
            found = self.certified(name, reverify=True)
        except NotCertified as exc:
            if not any(e["program"]["detector"] == name for e in read_bundle(bundle)):
                raise NotCertified(f"{exc}; {name} has no bundled programs: certify one "
                                   "(`das regenerate`, `das programs import`) or pass its source") from exc
            found = None
        if found is not None and (self.store.default(name) is not None or not self._first_use_unfinished(name, bundle)):
            return found  # a finished first use sets a default: the bundle is not read again
        results = [r for r in self.import_bundle(bundle, detector=name) if r["passed"] and self._holds(r["sha256"], name)]
        if found is not None:  # an interrupted first use, finished: a default the user set stays
            if self.store.default(name) is None:
                self.set_default(name, self.ranked(name)[0])
            return self.certified(name)
        if not results:
            raise NotCertified(f"no bundled program for {name} passed verification under suite "
                               f"{self.suite_version} (see `das programs list --detector {name}`)")
        best = max(results, key=lambda r: self._rank_key(r["sha256"]))
        self.set_default(name, best["sha256"])
        return self.store.get(best["sha256"])

    def _holds(self, sha, detector):
        """Whether ``sha`` is stored certified for ``detector`` (a bundled source may sit in the store
        under another detector, or as a candidate restored after tampering)."""
        rec = self.store.get(sha)
        return rec.status == "certified" and rec.detector == detector

    def _first_use_unfinished(self, detector, bundle):
        """Whether a bundled program of ``detector`` sits in the store as a candidate never verified
        under the current suite (a first use interrupted, e.g. by Ctrl-C, before it verified them all)."""
        return self._bundled_unverified(detector, bundle, missing=False)

    def first_use_pending(self, detector, bundle=BUNDLED_PROGRAMS):
        """Whether :meth:`ensure` would verify bundled programs of ``detector`` now (read only: a
        command says so before the wait): no default certified program, and a bundled program of
        ``detector`` missing from the store or a candidate never verified under the current suite."""
        try:
            found = self.certified(detector)
        except (NotCertified, TamperedProgram):
            found = None
        if found is not None and self.store.default(detector) is not None:
            return False
        return self._bundled_unverified(detector, bundle, missing=found is None)

    def _bundled_unverified(self, detector, bundle, missing):
        """Whether a bundled program of ``detector`` is missing from the store (counted when
        ``missing``: no certified program yet) or not verified under the current suite (any status
        when ``missing``, else a candidate only)."""
        for entry in read_bundle(bundle):
            program = entry["program"]
            if program["detector"] != detector:
                continue
            try:
                rec = self.store.get(program["sha256"])
            except ProgramNotFound:
                if missing:
                    return True
                continue
            except TamperedProgram:
                continue
            if rec.detector == detector and (missing or rec.status == "candidate"):
                ver = self.store.latest_verification(rec.sha256)
                if ver is None or ver.suite_version != self.suite_version:
                    return True
        return False

    def add(self, source, detector, *, policy="", metadata=None, make_default=False, seed=None):
        """Store a program written by a user, verify it now and, if ``make_default`` and it is
        certified, make it ``detector``'s default.

        Returns
        -------
        (str, program_store.VerificationRecord)
            The sha256 and the verification just recorded.
        """
        sha = self.store.add(source, detector, policy=policy, backend="user", metadata=metadata)
        ver = self.verify(sha, seed=seed)
        if make_default and ver.passed:
            self.set_default(detector, sha)
        return sha, ver

    def import_bundle(self, path, detector=None, seed=None):
        """Import a bundle (hashes checked) and verify its new candidates locally.

        Bundles only add candidates (:func:`program_store.import_bundle`): a
        program this store already holds as certified, revoked or tampered is
        never verified by an import, so an import can neither revoke it nor
        drop a default. A program already verified here under the current suite keeps that
        verdict (the suite is seeded, so a second run would repeat it): a
        detector none of whose bundled programs certifies costs one
        verification per program, not one per use.

        ``detector``: only that detector's programs; ``seed``: the verification
        seed (None: each verification draws its own).

        Returns
        -------
        list of dict
            One ``{"sha256", "detector", "status", "passed"}`` per program;
            ``passed`` is None for programs not verified (skipped, or kept
            as they were without a verification under the current suite).
        """
        results = []
        for entry in import_bundle(self.store, path, detector=detector):
            ver = self.store.latest_verification(entry["sha256"])
            current = ver is not None and ver.suite_version == self.suite_version
            if entry["status"] not in ("candidate", "rejected"):  # never re-verified here, so never revoked
                results.append(dict(entry, passed=ver.passed if current else None))
                continue
            if not current or (ver.passed and entry["status"] == "candidate"):  # a passing verdict a
                ver = self.verify(entry["sha256"], seed=seed)  # candidate does not hold (restored): verify it
            results.append(dict(entry, status=self.store.get(entry["sha256"]).status, passed=ver.passed))
        return results

    def bundled(self, sha_or_prefix, detector, bundle=BUNDLED_PROGRAMS):
        """Whether ``sha_or_prefix`` names a program of ``bundle`` (the bundled programs), read only.

        Raises
        ------
        ProgramRefused
            The bundled program belongs to another detector.
        AmbiguousPrefix
            The prefix matches several bundled programs.
        """
        prefix = str(sha_or_prefix).strip().lower()
        found = [e["program"] for e in read_bundle(bundle) if e["program"]["sha256"].startswith(prefix)]
        if len(found) > 1:
            raise AmbiguousPrefix(f"prefix {prefix} matches several bundled programs; give more characters")
        if found and found[0]["detector"].lower() != str(detector).lower():
            raise ProgramRefused(f"program {found[0]['sha256'][:12]} is for {found[0]['detector']}, not {detector}")
        return bool(found)

    def resolve(self, sha_or_prefix, detector, bundle=BUNDLED_PROGRAMS):
        """Return the program ``sha_or_prefix`` if it may run for ``detector``; a program of ``bundle``
        this store has not imported yet is certified first (:meth:`ensure`, its first use).

        Raises
        ------
        ProgramNotFound, TamperedProgram
            No such program, or its source no longer matches its hash.
        ProgramRefused
            The program belongs to another detector.
        AmbiguousPrefix
            The prefix names several programs.
        NotCertified
            It is not certified under the current suite.
        """
        try:
            sha = self.store.resolve(sha_or_prefix)
        except ProgramNotFound:
            if not self.bundled(sha_or_prefix, detector, bundle):
                raise
            with contextlib.suppress(NotCertified):  # said for this program below, if it failed
                self.ensure(detector, bundle)
            sha = self.store.resolve(sha_or_prefix)
        rec = self.store.get(sha)  # re-hashes: TamperedProgram on mismatch
        if rec.detector.lower() != detector.lower():
            raise ProgramRefused(f"program {rec.sha256[:12]} is for {rec.detector}, not {detector}")
        try:
            return self.require_current(rec)
        except NotCertified as exc:
            raise NotCertified(f"{exc}; only certified programs run (see `das verify`)") from exc


@contextlib.contextmanager
def _exclusive(path):
    """Hold an exclusive ``flock`` on the regular file ``path`` (made if missing, world-writable but
    for the umask; opened read-only where it is another user's). Links are not followed; a file
    replaced while this waited is locked anew. Where no regular file can be had (a directory das
    cannot write to, a FIFO or a directory of that name) the block runs without the lock."""
    import fcntl
    import os
    import stat

    flags = os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    while True:
        try:
            fd = os.open(path, os.O_RDWR | flags, 0o666)
        except PermissionError:
            try:
                fd = os.open(path, os.O_RDONLY | flags)
            except OSError:
                fd = None
        except OSError:
            fd = None
        if fd is None or not stat.S_ISREG(os.fstat(fd).st_mode):
            if fd is not None:
                os.close(fd)
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:  # a warning made an error (-W error) or a Ctrl-C while waiting: the descriptor is closed
                warnings.warn(f"another das process is certifying the bundled programs in this store; "
                              f"waiting for it to finish (lock: {path})", StoreBusyWarning, stacklevel=4)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        try:
            now = os.lstat(path)
        except OSError:
            now = None
        held = os.fstat(fd)
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # removed or replaced while this waited: lock the file there now
    try:
        yield
    finally:
        os.close(fd)


class StoreBusyWarning(UserWarning):
    """Another process holds the store's first-use lock: this one waits for it."""


class NoProgramWarning(UserWarning):
    """A detector has no certified program: only the methods that need none run."""


class UncertifiedProgramWarning(UserWarning):
    """Program text runs without a certificate (``allow_uncertified=True``)."""


def resolve_source(program, detector, store=None, *, allow_uncertified=False):
    """The synthesis source (:mod:`collab.synthesis`) an estimator's ``program`` names.

    ``"none"``/``"random"``: the label-free baselines; ``"certified"``:
    :meth:`Certification.ensure` (bundled programs certified on first use); a
    sha256 or unique prefix: :meth:`Certification.resolve`. Any other text is
    program text: the text of a program the store holds certified is that
    program (:meth:`Certification.resolve`); other text is refused unless ``allow_uncertified`` (then it runs, audited
    and only in the sandbox, with an :class:`UncertifiedProgramWarning`), and
    refused even then when the store holds it revoked or rejected.

    Raises
    ------
    NotCertified, TamperedProgram, ProgramRefused
    """
    from das.collab import synthesis
    from das.program_store import ProgramNotFound, source_sha256

    if not isinstance(program, str) or not program.strip():
        raise ProgramRefused("program must be 'auto', 'certified', 'none', 'random', a sha256 or, with "
                             "allow_uncertified=True, the source of generate_hard_anomalies")
    if program in synthesis.BASELINES:
        return synthesis.BASELINES[program]
    if program == "certified" or SHA_PREFIX.match(program):
        with opened(store) as st:
            service = Certification(st)
            rec = service.ensure(detector) if program == "certified" else service.resolve(program, detector)
        return synthesis.CertifiedProgram(rec.source, rec.sha256)
    text = "\n" in program or "generate_hard_anomalies" in program  # program text, not a name
    if not (text or allow_uncertified):
        raise ProgramRefused(f"unknown program {program[:40]!r}: give 'auto', 'certified', 'none', 'random' or a "
                             "sha256 (a prefix of 4+ hex digits) in the store; program text that is not "
                             "certified runs only with allow_uncertified=True (Python API)")
    sha = source_sha256(program)
    with opened(store) as st:
        try:
            status = st.get(sha).status
        except ProgramNotFound:
            status = None
        if status == "certified":  # the text of a certified program is that program
            rec = Certification(st).resolve(sha, detector)
            return synthesis.CertifiedProgram(rec.source, rec.sha256)
    if not allow_uncertified:
        raise ProgramRefused("program text that is not certified runs only with allow_uncertified=True "
                             "(Python API: audited, run in the sandbox, with a warning); or certify it "
                             "(das programs add FILE -d DETECTOR) and give its sha256")
    if status in ("revoked", "rejected"):
        raise ProgramRefused(f"program {sha[:12]} is {status} in the store and never runs, "
                             "even with allow_uncertified=True")
    warnings.warn(f"running program {sha[:12]} without a certificate (allow_uncertified=True); it is "
                  "audited and run only in the sandbox, but the property suite has not checked it",
                  UncertifiedProgramWarning, stacklevel=3)
    return synthesis.UncertifiedProgram(program, sha)


def certified_programs(detectors, store=None):
    """``{detector: ProgramRecord}`` of each detector's certified program (certified on first use).

    Opens the store at ``store`` (a path; None: the default store) and closes it.
    """
    found, missing = available_programs(detectors, store)
    if missing:
        raise NotCertified(next(iter(missing.values())))
    return found


def available_programs(detectors, store=None):
    """Each detector's certified program where it has one, and why not where it has none.

    Like :func:`certified_programs`, but a detector without a certified
    program (e.g. none of its bundled programs is ``useful``) does not stop the
    others.

    Returns
    -------
    (dict, dict)
        ``{detector: ProgramRecord}`` and ``{detector: reason}``.
    """
    found, missing = {}, {}
    with opened(store) as st:
        service = Certification(st)
        for det in detectors:
            try:
                found[det] = service.ensure(det)
            except NotCertified as exc:
                missing[det] = str(exc)
    return found, missing
