"""The property suite that certifies a synthesis program for one detector.

``verify_program`` runs an untrusted program only through the sandbox
(:func:`sandbox.runner.run_program`, a fresh worker process per run) on the
generated datasets of :mod:`sandbox.datasets`, never in this process and never
on user data. The datasets' shapes and scales are drawn from the seed
(recorded as ``suite_spec`` in the report), so a program cannot recognise the
suite, and the same seed replays exactly. Each property records its measured
value and threshold so a reviewer sees *why* a program was accepted or refused.

Properties (all must hold; each helper's docstring gives the exact rule).
Regular runs: n = 1, n_train / 2 and a seed-drawn 1.5-3 x n_train on the base
dataset, n_train / 2 on each other hardness dataset, and a repeat of the
n_train / 2 and the large run on the base dataset and of the n_train / 2 run
on the real-like dataset (determinism).

``audit``, ``signature``        static checks of the source
``runs``                        every regular run ends without exception or budget overrun
``shape``                       ``(n, d)`` for every n asked
``finite``                      real, finite values
``no_mutation``                 ``X_train`` unchanged after the call (runner's ``input_mutated``)
``deterministic``               same seed -> byte-identical output, on two different datasets, the
                                repeat run in a second, freshly started zygote (another address layout)
``time``                        every regular run within ``TIME_LIMIT_S`` CPU seconds (load-independent)
``memory``                      no run killed by the memory limit
``no_violation``                no run refused by the sandbox (guard refusal or denied system call)
``harder_than_random``          median detector score of the synthesized anomalies below the
                                median on uniform random outliers, on *every* hardness dataset
``novel``                       at most ``MAX_COPY_FRACTION`` of rows (near) copy a training row
``far_from_training``           at most ``novelty.MAX_NEAR_FRACTION`` of rows lie within
                                ``novelty.NEAR_RATIO`` x the local row spacing of a training row
``diverse``                     at most ``MAX_REPEAT_FRACTION`` of rows (near) repeat another output row
``degenerate_inputs``           valid array or clean runtime error on each degenerate input

"Near" is data-scaled and defined once, in :mod:`sandbox.novelty`, which the
runtime also applies to a program's output on the user's data.
"""
import ast
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from das.sandbox import datasets as ds
from das.sandbox import novelty, rules
from das.sandbox.results import value_problem
from das.sandbox.untrusted import clean_text

SUITE_VERSION = "3.0.1"  # bump on any change to a property, threshold or dataset

TIME_LIMIT_S = 2.0  # worker CPU seconds per run on a ~200 x 10 dataset; real LLM programs take < 0.5 s
# The sandbox's hard wall-clock kill for suite runs (scoring included): a hang
# costs seconds, not the runtime default. Generous, so that load never decides
# a verdict: the ``time`` property is judged on CPU seconds, and the CPU limit
# (TIME_LIMIT_S + 1) stops a CPU hog first.
SUITE_TIMEOUT_S = 10.0
# Rows a suite run may have scored: the corpus and example programs score at most
# ~3.4k (a few times the largest n asked); the cap bounds what scoring can cost.
SUITE_MAX_ROWS = 100_000
# Largest program text the suite reads; the corpus' programs are < 10 kB.
MAX_SOURCE_BYTES = 200_000
# Shares of synthesized rows that may (near) copy a training row or repeat another
# output row, and what "near" means: one measure for the suite and the runtime.
MAX_COPY_FRACTION = novelty.MAX_COPY_FRACTION
MAX_REPEAT_FRACTION = novelty.MAX_REPEAT_FRACTION

# Detector settings used only inside the suite, to keep it within ~5 s per program.
# DRL trains a network per fit (8 fits per suite): 50 epochs take ~0.09 s on the
# 200-row datasets against ~0.36 s for the default 200; fewer epochs change its
# scores, not its logic.
SUITE_DETECTOR_PARAMS = {"DRL": {"epochs": 50}}

# Programs of the hardness-degree variant (App. 6.16) are certified at the middle degree.
SUITE_DEGREE = "med"
FUNCTION_NAME = rules.ENTRY_POINT
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
    depth : float
        Label-free depth share in [0, 1], higher = harder for the detector: mean over
        the hardness datasets of the share of (normal) training rows that the
        fitted detector scores higher than a synthesized row (0.5 = as normal as
        the training data). A dataset without valid output counts 0.
    suite_spec : dict
        The seed-drawn shapes, scales and sources of the datasets
        (:func:`sandbox.datasets.suite_spec`), so a certification replays exactly.
    """

    passed: bool
    properties: list
    depth: float
    suite_version: str
    seed: int
    detector: str
    duration_s: float
    detector_params: dict = field(default_factory=dict)
    suite_spec: dict = field(default_factory=dict)

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
        shapes = [f"{name} {e['n']}x{e['d']}" for name, e in self.suite_spec.get("datasets", {}).items()]
        if shapes:
            lines.append("  datasets: " + ", ".join(shapes))
        for p in self.properties:
            mark = "PASS" if p.passed else "FAIL"
            thr = "" if p.threshold is None else f" (threshold {_short(p.threshold)})"
            lines.append(f"  [{mark}] {p.name}: {_short(p.value)}{thr}")
            if p.detail and not p.passed:
                lines.append(f"         {p.detail}")
        lines.append(f"depth: {self.depth:.3f}")
        lines.append("verdict: " + ("CERTIFIABLE" if self.passed else "REJECTED"))
        return "\n".join(lines)

    __str__ = format_text


def suite_limits():
    """The :class:`sandbox.runner.Limits` of every suite run (default limits, shorter timeouts,
    a smaller scoring budget)."""
    from das.sandbox.runner import Limits

    return Limits(timeout_s=SUITE_TIMEOUT_S, cpu_s=TIME_LIMIT_S + 1, max_rows=SUITE_MAX_ROWS)


def _short(value, width=70):
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------- static


def _parsed(source):
    """``(tree, None)`` or ``(None, why)``: never raises, whatever the text (size, nesting, NUL bytes)."""
    if not isinstance(source, str):
        return None, f"source must be str, got {type(source).__name__}"
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        return None, f"source is {size} bytes, more than {MAX_SOURCE_BYTES}"
    try:
        return ast.parse(source), None
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes
        return None, f"syntax error: {clean_text(str(exc), keep_newlines=False)}"
    except (RecursionError, MemoryError):
        return None, "too deeply nested to parse"


def check_signature(source):
    """``signature``: a top-level ``generate_hard_anomalies`` with the expected parameters."""
    tree, why = _parsed(source)
    if tree is None:
        return PropertyResult("signature", False, None, _SIGNATURES[0], why)
    funcs = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == FUNCTION_NAME
    ]
    if len(funcs) != 1:
        return PropertyResult(
            "signature", False, len(funcs), 1, f"expected exactly one top-level {FUNCTION_NAME}"
        )
    from das.sandbox.audit import signature_problems  # the audit's rule, the one rule

    args = funcs[0].args
    names = [a.arg for a in args.posonlyargs + args.args]
    problems = signature_problems(funcs[0], allow_degree=True)
    return PropertyResult("signature", not problems, names, _SIGNATURES[0], "; ".join(problems))


def check_audit(source):
    """``audit``: the static audit of :func:`sandbox.audit.audit_source` is clean."""
    from das.sandbox.audit import audit_source

    rep = audit_source(source)
    # findings may quote the program's text: clean it like any program output
    detail = clean_text("; ".join(str(f) for f in rep.findings), keep_newlines=False)
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

    def __init__(self, source, detector, seed, params, runner, factory, limits, fresh_zygote=False):
        self.source, self.detector, self.seed = source, detector, int(seed)
        self.fresh_zygote = fresh_zygote  # repeat runs in a second zygote (the default runner's)
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
    problem = value_problem(out.astype(np.float64))
    return (False, problem) if problem else (True, "")


def _blame(res, n, d):
    """Which property a failed regular run counts against (None = run is fine)."""
    ok, problem = _valid(res, n, d)
    if ok:
        return None, ""
    if res.status == "violation":
        return "no_violation", problem
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
    "runs", "shape", "finite", "no_mutation", "deterministic", "time", "memory", "no_violation",
    "harder_than_random", "novel", "far_from_training", "diverse", "degenerate_inputs",
)


def verify_program(
    source, detector, seed=None, detector_params=None, *, runner=None, detector_factory=None,
    limits=None,
):
    """Run the property suite on ``source`` for ``detector``.

    Parameters
    ----------
    source : str
        Program text defining ``generate_hard_anomalies``.
    detector : str
        Detector name for :func:`detectors.make_detector` (case-insensitive).
    seed : int, optional
        Seeds the generated datasets (their shapes and scales too), the
        detector and every sandbox run; None (the default) draws one from the
        OS (:func:`sandbox.datasets.draw_seed`), recorded in the report, so no
        program can know the suite's arrays in advance.
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
    fresh_zygote = runner is None
    seed = ds.draw_seed() if seed is None else int(seed)
    if runner is None:
        from das.sandbox.runner import run_program as runner

        limits = suite_limits() if limits is None else limits
    if detector_factory is None:
        from das.detectors import make_detector as detector_factory
    probe = detector_factory(detector, random_state=seed)  # fail fast on an unknown name
    name = getattr(probe, "name", str(detector))
    params = {**SUITE_DETECTOR_PARAMS.get(name, {}), **(detector_params or {})}
    suite = _Suite(source, name, seed, params, runner, detector_factory, limits, fresh_zygote)

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
        depth=round(float(hardness), 6),
        suite_version=SUITE_VERSION,
        seed=int(seed),
        detector=name,
        duration_s=round(time.perf_counter() - t0, 3),
        detector_params=params,
        suite_spec=ds.suite_spec(seed),
    )


def _dynamic_properties(suite):
    """All properties that need sandbox runs, and the hardness figure.

    Runs are shared between properties (13 runs, 9 detector fits) to keep the
    suite within ~5 s per program.
    """
    sets = ds.hardness_datasets(suite.seed)
    base, real = sets[0], sets[-1]  # gaussian mixture doubles as the base dataset
    n_large = ds.large_rows(suite.seed, len(base.X))  # > 1000 rows
    models = {s.name: suite.fit(s.X) for s in sets}
    blamed = {}  # property -> list of "dataset n=..: problem"

    def regular(s, n):
        res = suite.run(s.name, s.X, n, models[s.name])
        prop, problem = _blame(res, n, s.X.shape[1])
        if prop:
            blamed.setdefault(prop, []).append(f"{s.name} n={n}: {problem}")
        return res

    base_runs = {n: regular(base, n) for n in (1, _n_syn(base), n_large)}
    outputs = {base.name: base_runs[_n_syn(base)]}
    outputs.update({s.name: regular(s, _n_syn(s)) for s in sets[1:]})
    with _second_zygote(suite.fresh_zygote, suite.source):
        # every size the suite runs above one row: a program keyed to n (or to
        # n > n_train) must repeat itself there too
        repeats = [(f"{s.name} n={n}", first, suite.run(s.name, s.X, n, models[s.name]))
                   for s, n, first in ((base, _n_syn(base), outputs[base.name]),
                                       (base, n_large, base_runs[n_large]),
                                       (real, _n_syn(real), outputs[real.name]))]

    props = [_blamed_property(p, blamed) for p in ("runs", "shape", "finite")]
    props.append(_mutation(suite.runs))
    props.append(_determinism(repeats))
    props.append(_time(suite.runs, blamed))
    degenerate = _degenerate(suite)
    props.append(_memory(suite.runs))
    props.append(_contained(suite.runs))
    harder, hardness = _harder(sets, models, outputs, suite.seed)
    props.append(harder)
    checked = [(f"{base.name} n={n_large}", base.X, base_runs[n_large])]
    checked += [(f"{s.name} n={_n_syn(s)}", s.X, outputs[s.name]) for s in sets]
    props += _novelty_properties(checked)
    props.append(degenerate)
    return props, hardness


@contextmanager
def _second_zygote(enabled, source):
    """Sandbox runs of ``source`` inside come from this process's second zygote of the kind the
    program runs in (lean, or heavy where it imports scipy or scikit-learn), isolated as the first
    one is (:func:`sandbox.zygote.second_zygotes`: this thread only)."""
    if not enabled:
        yield
        return
    from das.sandbox import zygote
    from das.sandbox.audit import analyze

    _, _, imports = analyze(source)
    first = zygote.get_zygote(heavy=zygote.needs_heavy(imports))
    with zygote.second_zygotes(first.isolated):
        yield


def _n_syn(dataset):
    """Rows synthesized on a hardness dataset: half its training rows."""
    return len(dataset.X) // 2


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


def _determinism(repeats):
    """Two runs with the same seed, from two zygotes, give byte-identical output on each repeated dataset."""
    diffs, problems = [], []
    for name, first, second in repeats:
        if not (first.ok and second.ok and first.output is not None and second.output is not None):
            problems.append(f"{name}: not measurable, runs ended {first.status} / {second.status}")
            continue
        a, b = np.asarray(first.output), np.asarray(second.output)
        if a.shape == b.shape and a.tobytes() == b.tobytes():
            diffs.append(0.0)
            continue
        if a.shape != b.shape:
            problems.append(f"{name}: two runs with seed fixed differ (shapes {a.shape} / {b.shape})")
            continue
        diffs.append(float(np.abs(a - b).max()))
        problems.append(f"{name}: two runs with seed fixed differ (max abs difference {diffs[-1]:.3g})")
    if any("differ" in p for p in problems):
        problems.append("seed every random generator from np.random or a fixed seed")
    value = max(diffs) if diffs else None
    return PropertyResult("deterministic", not problems, value, 0.0, "; ".join(problems))


def _time(runs, blamed):
    """Worker CPU seconds of every regular run within TIME_LIMIT_S (wall time depends on load)."""
    regular = [(name, n, r) for name, n, r in runs if not name.startswith("degenerate:")]
    problems = list(blamed.get("time", []))
    cpu = [(getattr(r, "cpu_s", None), name, n) for name, n, r in regular]
    if any(c is None for c, _, _ in cpu):
        missing = [f"{name} n={n}" for c, name, n in cpu if c is None]
        problems.append(f"CPU time not measured for {', '.join(missing)}")
        cpu = [t for t in cpu if t[0] is not None]
    worst = max(cpu, default=(None, "", 0))
    if worst[0] is not None and worst[0] > TIME_LIMIT_S:
        problems.append(f"{worst[1]} n={worst[2]} used {worst[0]:.2f} CPU s")
    value = None if worst[0] is None else round(float(worst[0]), 3)
    return PropertyResult("time", not problems, value, TIME_LIMIT_S, "; ".join(problems))


def _memory(runs):
    bad = [f"{name} n={n}: {r.message}" for name, n, r in runs if r.status == "memory"]
    return PropertyResult("memory", not bad, len(bad), "0 runs over the memory limit",
                          "; ".join(bad))


def _contained(runs):
    """No run (degenerate ones included) refused by the sandbox: an attempt is a verdict."""
    bad = [f"{name} n={n}: {r.message}" for name, n, r in runs if r.status == "violation"]
    return PropertyResult("no_violation", not bad, len(bad), "0 runs refused by the sandbox",
                          "; ".join(bad))


def _harder(sets, models, outputs, seed):
    """Median score on synthesized rows < median on random outliers, on every dataset."""
    values, problems, hardness = {}, [], []
    for s in sets:
        res = outputs[s.name]
        ok, problem = _valid(res, _n_syn(s), s.X.shape[1])
        if not ok:
            problems.append(f"{s.name}: no valid output ({problem})")
            hardness.append(0.0)
            continue
        model = models[s.name]
        syn = model.predict_score(np.asarray(res.output, dtype=np.float64))
        rand = model.predict_score(ds.random_outliers(s.X, _n_syn(s), seed))
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


def _novelty_properties(checked):
    """``novel``, ``far_from_training`` and ``diverse`` from one :func:`sandbox.novelty.measure` per output."""
    measured = []
    for label, X, res in checked:
        if not res.ok or res.output is None:
            continue  # shape/runs already report it; nothing to measure here
        out = np.asarray(res.output, dtype=np.float64)
        if out.ndim == 2 and out.shape[1] == X.shape[1] and np.isfinite(out).all():
            measured.append((label, len(out), novelty.measure(X, out)))
    return [
        _share_property("novel", measured, "copy_fraction", MAX_COPY_FRACTION,
                        "are (near) copies of training rows"),
        _share_property("far_from_training", measured, "near_fraction", novelty.MAX_NEAR_FRACTION,
                        f"lie within {novelty.NEAR_RATIO} x the local row spacing of a training row"),
        _share_property("diverse", measured, "repeat_fraction", MAX_REPEAT_FRACTION,
                        "(near) repeat another synthesized row"),
    ]


def _share_property(name, measured, share, limit, what):
    """Worst ``share`` of :class:`sandbox.novelty.Novelty` over the measured outputs, against ``limit``."""
    worst, problems = 0.0, []
    for label, n, result in measured:
        frac = getattr(result, share)
        worst = max(worst, frac)
        if frac > limit:
            problems.append(f"{label}: {frac:.0%} of {n} synthesized rows {what}")
    return PropertyResult(name, not problems, round(worst, 6), limit, "; ".join(problems))


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
