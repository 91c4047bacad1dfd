"""The property suite that certifies a synthesis program for one detector.

``verify_program`` runs an untrusted program only through the sandbox
(:func:`sandbox.runner.run_program`, a fresh worker process per run) on the
generated datasets of :mod:`sandbox.datasets`, never in this process and never
on user data. Each property records its measured value and threshold so a
reviewer sees *why* a program was accepted or refused.

Properties (all must hold; each helper's docstring gives the exact rule).
Regular runs: n = 1, N_SYN, 2 n_train on the base dataset, N_SYN on each other
hardness dataset, and a repeat of the N_SYN base run (determinism).

``audit``, ``signature``        static checks of the source
``runs``                        every regular run ends without exception or budget overrun
``shape``                       ``(n, d)`` for n = 1, n_train / 2, 2 n_train
``finite``                      real, finite values
``no_mutation``                 ``X_train`` unchanged after the call (runner's ``input_mutated``)
``deterministic``               same seed -> byte-identical output
``time``                        every regular run within ``TIME_LIMIT_S`` wall seconds
``memory``                      no run killed by the memory limit
``harder_than_random``          median detector score of the synthesized anomalies below the
                                median on uniform random outliers, on *every* hardness dataset
``novel``                       at most ``MAX_COPY_FRACTION`` of rows copy a training row
``degenerate_inputs``           valid array or clean runtime error on each degenerate input
"""
import ast
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from sandbox import datasets as ds

SUITE_VERSION = "1.0.0"  # bump on any change to a property, threshold or dataset

TIME_LIMIT_S = 2.0  # wall seconds per run on a 200 x 5 dataset; real LLM programs take < 0.5 s
# The sandbox's wall-clock kill for suite runs: a hang costs seconds, not the
# runtime default; above TIME_LIMIT_S so a slow program is measured, not killed.
SUITE_TIMEOUT_S = 3.0
MAX_COPY_FRACTION = 0.05  # novel: allowed share of rows that copy a training row
COPY_TOLERANCE = 1e-9  # a row is a copy when its NN distance <= tol * data scale
N_SYN = ds.BASE_N_TRAIN // 2  # rows synthesized on each hardness dataset

# Detector settings used only inside the suite, to keep it within ~5 s per program.
# DRL trains a network per fit (8 fits per suite): 50 epochs take ~0.09 s on the
# 200-row datasets against ~0.36 s for the default 200; fewer epochs change its
# scores, not its logic.
SUITE_DETECTOR_PARAMS = {"DRL": {"epochs": 50}}

# Programs of the hardness-degree variant (App. 6.16) are certified at the middle degree.
SUITE_DEGREE = "med"
FUNCTION_NAME = "generate_hard_anomalies"
_SIGNATURES = (["n_samples", "model", "X_train"], ["n_samples", "model", "X_train", "degree"])
_FINITE_WORDS = ("finite", "nan", "inf")


@dataclass(frozen=True)
class PropertyResult:
    """Outcome of one property: measured ``value`` against ``threshold``."""

    name: str
    passed: bool
    value: object = None
    threshold: object = None
    detail: str = ""


@dataclass
class VerificationReport:
    """Everything the suite measured for one program and detector.

    Attributes
    ----------
    passed : bool
        True only when every property passed (the program is certifiable).
    properties : list of PropertyResult
    hardness : float
        Label-free figure in [0, 1], higher = harder for the detector: mean over
        the hardness datasets of the share of (normal) training rows that the
        fitted detector scores higher than a synthesized row (0.5 = as normal as
        the training data). A dataset without valid output counts 0.
    """

    passed: bool
    properties: list
    hardness: float
    suite_version: str
    seed: int
    detector: str
    duration_s: float
    detector_params: dict = field(default_factory=dict)

    def failures(self):
        """The properties that did not pass."""
        return [p for p in self.properties if not p.passed]

    def property(self, name):
        """The result of property ``name`` (KeyError if absent)."""
        for prop in self.properties:
            if prop.name == name:
                return prop
        raise KeyError(name)

    def to_dict(self):
        """JSON-serializable dict (values are plain Python types)."""
        out = asdict(self)
        out["properties"] = [asdict(p) for p in self.properties]
        return out

    def format_text(self):
        """Readable verdict: one line per property and a final CERTIFIABLE / REJECTED."""
        lines = [
            f"detector {self.detector}  seed {self.seed}  suite {self.suite_version}  "
            f"({self.duration_s:.2f} s)"
        ]
        for p in self.properties:
            mark = "PASS" if p.passed else "FAIL"
            thr = "" if p.threshold is None else f" (threshold {_short(p.threshold)})"
            lines.append(f"  [{mark}] {p.name}: {_short(p.value)}{thr}")
            if p.detail and not p.passed:
                lines.append(f"         {p.detail}")
        lines.append(f"hardness: {self.hardness:.3f}")
        lines.append("verdict: " + ("CERTIFIABLE" if self.passed else "REJECTED"))
        return "\n".join(lines)

    __str__ = format_text


def suite_limits():
    """The :class:`sandbox.runner.Limits` of every suite run (default limits, shorter timeout)."""
    from sandbox.runner import Limits

    return Limits(timeout_s=SUITE_TIMEOUT_S)


def _short(value, width=70):
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------- static


def check_signature(source):
    """``signature``: a top-level ``generate_hard_anomalies`` with the expected parameters."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return PropertyResult("signature", False, None, _SIGNATURES[0], f"syntax error: {exc}")
    funcs = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == FUNCTION_NAME
    ]
    if len(funcs) != 1:
        return PropertyResult(
            "signature", False, len(funcs), 1, f"expected exactly one top-level {FUNCTION_NAME}"
        )
    args = funcs[0].args
    names = [a.arg for a in args.posonlyargs + args.args]
    ok = names in _SIGNATURES and not (args.vararg or args.kwarg or args.kwonlyargs)
    detail = "" if ok else f"parameters {names}; expected {_SIGNATURES[0]} (+ optional degree)"
    return PropertyResult("signature", ok, names, _SIGNATURES[0], detail)


def check_audit(source):
    """``audit``: the static audit of :func:`sandbox.audit.audit_source` is clean."""
    from sandbox.audit import audit_source

    rep = audit_source(source)
    detail = "; ".join(str(f) for f in rep.findings)
    return PropertyResult("audit", bool(rep.ok), len(rep.findings), "0 findings", detail)


# --------------------------------------------------------------------------- scorers


class _CenterDistance:
    """Fallback scorer for degenerate data a detector cannot fit (e.g. n = 3 for LOF).

    The degenerate property tests the *program's* robustness, so a neutral,
    always-defined model proxy is enough when the detector itself refuses.
    """

    def __init__(self, X):
        self.center = X.mean(axis=0)
        self.scale = X.std(axis=0) + 1e-12

    def predict_score(self, X):
        return np.sqrt((((np.asarray(X) - self.center) / self.scale) ** 2).sum(axis=1))


@contextmanager
def _single_threaded_torch():
    """Fit torch detectors (DRL) on one thread while the suite runs.

    The suite's datasets have <= 200 rows; on a busy 2-core box torch's thread
    pool spins against other processes and a 50-epoch DRL fit went from 0.25 s
    (one thread) to 5-10 s (two threads).
    """
    torch = sys.modules.get("torch")  # only if a detector already imported it
    if torch is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class _Suite:
    """One suite execution: holds the injected runner/factory and the run log."""

    def __init__(self, source, detector, seed, params, runner, factory, limits):
        self.source, self.detector, self.seed = source, detector, int(seed)
        self.params, self.runner, self.factory, self.limits = params, runner, factory, limits
        self.runs = []  # (dataset name, n, RunResult)
        self.degree = None  # SUITE_DEGREE for programs of the hardness-degree variant

    def fit(self, X, fallback=False):
        try:
            with _single_threaded_torch():
                return self.factory(self.detector, random_state=self.seed, **self.params).fit(X)
        except Exception:  # noqa: BLE001 - a detector refusing degenerate data is expected
            if not fallback:
                raise
            return _CenterDistance(X)

    def run(self, name, X, n, model):
        kwargs = {"seed": self.seed}
        if self.degree is not None:
            kwargs["degree"] = self.degree
        if self.limits is not None:
            kwargs["limits"] = self.limits
        res = self.runner(self.source, X, n, model.predict_score, **kwargs)
        self.runs.append((name, n, res))
        return res


def _valid(res, n, d):
    """(ok, problem) for a run that should return an (n, d) finite array."""
    if not res.ok or res.output is None:
        return False, f"{res.status}: {res.message}"
    out = np.asarray(res.output)
    if out.shape != (n, d):
        return False, f"shape {out.shape}, expected {(n, d)}"
    if not np.issubdtype(out.dtype, np.floating) and not np.issubdtype(out.dtype, np.integer):
        return False, f"dtype {out.dtype} is not real"
    if not np.isfinite(out).all():
        return False, f"{int((~np.isfinite(out)).sum())} non-finite values"
    return True, ""


def _blame(res, n, d):
    """Which property a failed regular run counts against (None = run is fine)."""
    ok, problem = _valid(res, n, d)
    if ok:
        return None, ""
    if res.status == "timeout":
        return "time", problem
    if res.status == "memory":
        return "memory", problem
    if res.status in ("runtime-error", "budget", "audit-rejected"):
        return "runs", problem
    if any(w in problem.lower() for w in _FINITE_WORDS) or "dtype" in problem:
        return "finite", problem
    return "shape", problem


# --------------------------------------------------------------------------- measures


def _copy_fraction(X_train, out):
    """Share of rows of ``out`` within COPY_TOLERANCE * scale of some training row."""
    from scipy.spatial import cKDTree

    scale = max(float(np.abs(X_train).max()), 1.0)
    dist, _ = cKDTree(X_train).query(out, k=1)
    return float(np.mean(dist <= COPY_TOLERANCE * scale))


def _hardness_of(syn_scores, train_scores):
    """Mean share of training rows that score higher than each synthesized row.

    0 = every synthesized row is more anomalous than every normal row (easy);
    0.5 = the detector cannot tell them from normal rows; above 0.5 = deeper
    inside the data than typical normal rows.
    """
    syn = np.asarray(syn_scores)[:, None]
    return float(np.mean((np.asarray(train_scores)[None, :] > syn).mean(axis=1)))


def _skipped(names, why):
    return [PropertyResult(n, False, None, None, f"not run: {why}") for n in names]


_DYNAMIC = (
    "runs", "shape", "finite", "no_mutation", "deterministic", "time", "memory",
    "harder_than_random", "novel", "degenerate_inputs",
)


def verify_program(
    source, detector, seed=0, detector_params=None, *, runner=None, detector_factory=None,
    limits=None,
):
    """Run the property suite on ``source`` for ``detector``.

    Parameters
    ----------
    source : str
        Program text defining ``generate_hard_anomalies``.
    detector : str
        Detector name for :func:`detectors.make_detector` (case-insensitive).
    seed : int, default 0
        Seeds the generated datasets, the detector and every sandbox run.
    detector_params : dict, optional
        Extra detector parameters; merged over ``SUITE_DETECTOR_PARAMS``.
    runner, detector_factory, limits : optional
        Extension points (tests): default :func:`sandbox.runner.run_program`,
        :func:`detectors.make_detector` and :func:`suite_limits`.

    Returns
    -------
    VerificationReport
        Never raises for a bad program; an unknown detector raises
        ``detectors.UnknownDetector``.
    """
    t0 = time.perf_counter()
    if runner is None:
        from sandbox.runner import run_program as runner

        limits = suite_limits() if limits is None else limits
    if detector_factory is None:
        from detectors import make_detector as detector_factory
    probe = detector_factory(detector, random_state=seed)  # fail fast on an unknown name
    name = getattr(probe, "name", str(detector))
    params = {**SUITE_DETECTOR_PARAMS.get(name, {}), **(detector_params or {})}
    suite = _Suite(source, name, seed, params, runner, detector_factory, limits)

    props = [check_audit(source), check_signature(source)]
    if props[1].passed and len(props[1].value) == 4:
        suite.degree = SUITE_DEGREE
    if all(p.passed for p in props):
        dynamic, hardness = _dynamic_properties(suite)
        props += dynamic
    else:
        props += _skipped(_DYNAMIC, "the static checks failed")
        hardness = 0.0
    return VerificationReport(
        passed=all(p.passed for p in props),
        properties=props,
        hardness=round(float(hardness), 6),
        suite_version=SUITE_VERSION,
        seed=int(seed),
        detector=name,
        duration_s=round(time.perf_counter() - t0, 3),
        detector_params=params,
    )


def _dynamic_properties(suite):
    """All properties that need sandbox runs, and the hardness figure.

    Runs are shared between properties (11 runs, 8 detector fits) to keep the
    suite within ~5 s per program.
    """
    sets = ds.hardness_datasets(suite.seed)
    base = sets[0]  # gaussian mixture doubles as the base dataset
    n_train, d = base.X.shape
    models = {s.name: suite.fit(s.X) for s in sets}
    blamed = {}  # property -> list of "dataset n=..: problem"

    base_runs = {}
    for n in (1, N_SYN, 2 * n_train):
        res = suite.run(base.name, base.X, n, models[base.name])
        base_runs[n] = res
        prop, problem = _blame(res, n, d)
        if prop:
            blamed.setdefault(prop, []).append(f"{base.name} n={n}: {problem}")
    outputs = {base.name: base_runs[N_SYN]}
    for s in sets[1:]:
        res = suite.run(s.name, s.X, N_SYN, models[s.name])
        outputs[s.name] = res
        prop, problem = _blame(res, N_SYN, s.X.shape[1])
        if prop:
            blamed.setdefault(prop, []).append(f"{s.name} n={N_SYN}: {problem}")
    repeat = suite.run(base.name, base.X, N_SYN, models[base.name])

    props = [_blamed_property(p, blamed) for p in ("runs", "shape", "finite")]
    props.append(_mutation(suite.runs))
    props.append(_determinism(base_runs[N_SYN], repeat))
    props.append(_time(suite.runs, blamed))
    degenerate = _degenerate(suite)
    props.append(_memory(suite.runs))
    harder, hardness = _harder(sets, models, outputs, suite.seed)
    props.append(harder)
    novel_sources = [(f"{base.name} n={2 * n_train}", base.X, base_runs[2 * n_train])]
    novel_sources += [(f"{s.name} n={N_SYN}", s.X, outputs[s.name]) for s in sets]
    props.append(_novel(novel_sources))
    props.append(degenerate)
    return props, hardness


def _blamed_property(name, blamed):
    problems = blamed.get(name, [])
    # value: number of regular runs that failed for this reason
    threshold = {"runs": "0 failed runs", "shape": "0 runs with shape != (n, d)",
                 "finite": "0 runs with NaN/inf"}[name]
    return PropertyResult(name, not problems, len(problems), threshold, "; ".join(problems))


def _mutation(runs):
    flags = [getattr(res, "input_mutated", None) for _, _, res in runs]
    if all(f is None for f in flags):
        return PropertyResult(
            "no_mutation", False, None, "0 runs that modify X_train",
            "not measurable: runner lacks input_mutated (RunResult.input_mutated needed)",
        )
    bad = [f"{name} n={n}" for (name, n, res), f in zip(runs, flags) if f]
    detail = f"X_train was modified in place in {', '.join(bad)}" if bad else ""
    return PropertyResult("no_mutation", not bad, len(bad), "0 runs that modify X_train", detail)


def _determinism(first, second):
    if not (first.ok and second.ok and first.output is not None and second.output is not None):
        return PropertyResult(
            "deterministic", False, None, "identical bytes",
            f"not measurable: runs ended {first.status} / {second.status}",
        )
    a, b = np.asarray(first.output), np.asarray(second.output)
    same = a.shape == b.shape and a.tobytes() == b.tobytes()
    diff = 0.0 if same or a.shape != b.shape else float(np.abs(a - b).max())
    detail = "" if same else (
        f"two runs with seed fixed differ (max abs difference {diff:.3g}); "
        "seed every random generator from np.random or a fixed seed"
    )
    return PropertyResult("deterministic", same, diff, 0.0, detail)


def _time(runs, blamed):
    regular = [(name, n, r) for name, n, r in runs if not name.startswith("degenerate:")]
    slowest = max(regular, key=lambda t: t[2].duration_s)
    worst = float(slowest[2].duration_s)
    problems = list(blamed.get("time", []))
    if worst > TIME_LIMIT_S:
        problems.append(f"{slowest[0]} n={slowest[1]} took {worst:.2f} s")
    return PropertyResult("time", not problems, round(worst, 3), TIME_LIMIT_S, "; ".join(problems))


def _memory(runs):
    bad = [f"{name} n={n}: {r.message}" for name, n, r in runs if r.status == "memory"]
    return PropertyResult("memory", not bad, len(bad), "0 runs over the memory limit",
                          "; ".join(bad))


def _harder(sets, models, outputs, seed):
    """Median score on synthesized rows < median on random outliers, on every dataset."""
    values, problems, hardness = {}, [], []
    for s in sets:
        res = outputs[s.name]
        ok, problem = _valid(res, N_SYN, s.X.shape[1])
        if not ok:
            problems.append(f"{s.name}: no valid output ({problem})")
            hardness.append(0.0)
            continue
        model = models[s.name]
        syn = model.predict_score(np.asarray(res.output, dtype=np.float64))
        rand = model.predict_score(ds.random_outliers(s.X, N_SYN, seed))
        train = model.predict_score(s.X)
        m_syn, m_rand = float(np.median(syn)), float(np.median(rand))
        values[s.name] = [round(m_syn, 6), round(m_rand, 6)]
        hardness.append(_hardness_of(syn, train))
        if not m_syn < m_rand:
            problems.append(
                f"{s.name}: median score {m_syn:.4g} on synthesized anomalies is not below "
                f"{m_rand:.4g} on random outliers"
            )
    prop = PropertyResult(
        "harder_than_random", not problems, values,
        "median(synthesized) < median(random) on all datasets", "; ".join(problems),
    )
    return prop, float(np.mean(hardness))


def _novel(pairs):
    """At most MAX_COPY_FRACTION of synthesized rows may copy a training row."""
    worst, problems = 0.0, []
    for label, X, res in pairs:
        if not res.ok or res.output is None:
            continue  # shape/runs already report it; nothing to measure here
        out = np.asarray(res.output, dtype=np.float64)
        if out.ndim != 2 or out.shape[1] != X.shape[1] or not np.isfinite(out).all():
            continue
        frac = _copy_fraction(X, out)
        worst = max(worst, frac)
        if frac > MAX_COPY_FRACTION:
            problems.append(
                f"{label}: {frac:.0%} of {len(out)} synthesized rows are copies of training rows"
            )
    return PropertyResult("novel", not problems, round(worst, 6), MAX_COPY_FRACTION,
                          "; ".join(problems))


def _degenerate(suite):
    """Valid array or a clean runtime error on each degenerate dataset."""
    problems, outcomes = [], {}
    for s in ds.degenerate_datasets(suite.seed):
        n = max(2, len(s.X) // 2)
        res = suite.run(f"degenerate:{s.name}", s.X, n, suite.fit(s.X, fallback=True))
        ok, problem = _valid(res, n, s.X.shape[1])
        outcomes[s.name] = "ok" if ok else res.status
        if not ok and res.status != "runtime-error":
            problems.append(f"{s.name}: {problem}")
    return PropertyResult(
        "degenerate_inputs", not problems, outcomes, "ok or runtime-error", "; ".join(problems)
    )
