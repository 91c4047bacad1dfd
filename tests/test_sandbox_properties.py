"""Property suite: measures, report, and honest/buggy example programs end to end."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scipy.spatial import cKDTree

from das.sandbox import datasets as ds
from das.sandbox import novelty
from das.sandbox import properties as props
from das.sandbox.properties import (
    SUITE_VERSION,
    PropertyResult,
    VerificationReport,
    check_signature,
    verify_program,
)

PROGRAMS = Path(__file__).parent / "programs"
HONEST = sorted((PROGRAMS / "honest").glob("*.py"))
BUGGY = PROGRAMS / "buggy"
HARMFUL = PROGRAMS / "harmful"  # certified by suite 1.0, harmful in use
# Which detector each honest program targets (file name prefix).
FAMILY = {
    "iforest": "IForest", "pca": "PCA", "ocsvm": "OCSVM", "ecod": "ECOD",
    "knn": "KNN", "lof": "LOF", "drl": "DRL",
}


def _family(path):
    return FAMILY[path.stem.split("_")[0]]


# --------------------------------------------------------------------- datasets


def test_datasets_are_deterministic_per_seed():
    a = [s.X for s in ds.hardness_datasets(3) + ds.degenerate_datasets(3)]
    b = [s.X for s in ds.hardness_datasets(3) + ds.degenerate_datasets(3)]
    c = [s.X for s in ds.hardness_datasets(4)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_shapes_and_scales_are_drawn_from_the_seed():
    specs = [ds.suite_spec(seed) for seed in range(20)]
    assert ds.suite_spec(7) == specs[7]
    for family in ds.HARDNESS_FAMILIES:
        shapes = {(s["datasets"][family]["n"], s["datasets"][family]["d"]) for s in specs}
        assert len(shapes) >= 10, family  # no shape a program could wait for
    for seed in (0, 5):
        spec = ds.suite_spec(seed)["datasets"]
        for s in ds.hardness_datasets(seed):
            assert s.X.shape == (spec[s.name]["n"], spec[s.name]["d"])
            low, high = ds.LARGE_N_RANGE if s.name == ds.suite_spec(seed)["large"] else ds.N_RANGE
            assert low <= len(s.X) <= high and np.isfinite(s.X).all()


def test_real_like_rows_are_disguised_per_seed():
    a, b = ds.hardness_datasets(0)[-1], ds.hardness_datasets(1)[-1]
    assert a.name == b.name == "real_like" and a.X.shape != b.X.shape
    source = ds.suite_spec(0)["datasets"]["real_like"]["source"]
    table = ds._real_table(source)
    # rotated and rescaled: no column of the suite's data is a column of the table
    corr = np.corrcoef(np.hstack([a.X, table[: len(a.X)]]).T)[: a.X.shape[1], a.X.shape[1]:]
    assert np.abs(corr).max() < 0.999


def test_degenerate_datasets_have_their_defects():
    sets = {s.name: s.X for s in ds.degenerate_datasets(0)}
    assert sets["one_feature"].shape[1] == 1
    assert (sets["constant_columns"].std(axis=0) == 0).sum() == 2
    assert len(np.unique(sets["duplicate_rows"], axis=0)) == 1
    assert len(sets["tiny_n"]) == 3
    assert np.abs(sets["large_magnitude"]).max() > 1e5


@settings(max_examples=30, deadline=None)
@given(X=ds.suite_arrays(min_rows=2), n=st.integers(1, 50), seed=st.integers(0, 1000))
def test_random_outliers_lie_in_the_widened_box(X, n, seed):
    R = ds.random_outliers(X, n, seed)
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * (hi - lo)
    assert R.shape == (n, X.shape[1])
    assert np.all(R >= lo - margin - 1e-9 * (1 + np.abs(lo))) and np.all(
        R <= hi + margin + 1e-9 * (1 + np.abs(hi))
    )


# --------------------------------------------------------------------- measures


@settings(max_examples=30, deadline=None)
@given(X=ds.suite_arrays(min_rows=2))
def test_copy_fraction_counts_exact_copies(X):
    assert novelty.measure(X, X).copy_fraction == 1.0
    far = X + 10.0 * (np.abs(X).max() + 1.0)
    assert novelty.measure(X, far).copy_fraction == 0.0


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_near_copies_are_copies_at_every_scale(scale):
    X = ds.gaussian_mixture(0, scale=scale).X
    rng = np.random.default_rng(0)
    noisy = X + rng.normal(scale=1e-6 * scale, size=X.shape)
    assert novelty.measure(X, noisy).copy_fraction == 1.0
    a, b = X[rng.integers(0, len(X), 100)], X[rng.integers(0, len(X), 100)]
    assert novelty.measure(X, a + 0.5 * (b - a) + 0.05 * scale).copy_fraction == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rows_moved_by_five_percent_of_the_gap_are_near_copies(seed):
    """Red team p9: on every suite dataset, most such rows are near copies; interpolations are not."""
    rng = np.random.default_rng(seed)
    for s in ds.hardness_datasets(seed):
        X = s.X
        gap = np.median(cKDTree(X).query(X, k=2)[0][:, 1])
        step = rng.normal(size=X.shape)
        moved = X + 0.05 * gap * step / np.linalg.norm(step, axis=1, keepdims=True)
        assert novelty.measure(X, moved).near_fraction > novelty.MAX_NEAR_FRACTION, s.name
        a, b = X[rng.integers(0, len(X), 200)], X[rng.integers(0, len(X), 200)]
        between = a + rng.uniform(0.3, 0.7, size=(200, 1)) * (b - a)
        assert novelty.measure(X, between).near_fraction < novelty.MAX_NEAR_FRACTION, s.name


def test_novelty_ignores_duplicate_training_rows():
    X = np.repeat(ds.gaussian_mixture(0).X, 3, axis=0)
    rng = np.random.default_rng(0)
    a, b = X[rng.integers(0, len(X), 100)], X[rng.integers(0, len(X), 100)]
    result = novelty.measure(X, a + 0.5 * (b - a))
    assert result.gap > 0 and not result.problems()  # a few pairs are one row twice
    assert novelty.measure(X, X[:100]).problems()[0].startswith("100% of 100 synthesized rows are (near) copies")


def test_repeat_fraction_finds_constant_and_few_distinct_outputs():
    X = ds.gaussian_mixture(0).X
    rng = np.random.default_rng(0)
    repeats = lambda out: novelty.measure(X, out).repeat_fraction  # noqa: E731
    assert repeats(np.tile(X.mean(axis=0), (50, 1))) == 1.0
    handful = X[:5] + 0.3
    assert repeats(handful[rng.integers(0, 5, 50)] + 1e-9) == 1.0
    assert repeats(X[:50] + 0.3) == 0.0
    assert repeats(X[:1]) == 0.0


@settings(max_examples=50, deadline=None)
@given(
    syn=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20),
    train=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20),
)
def test_hardness_is_in_unit_interval_and_monotone(syn, train):
    h = props._hardness_of(syn, train)
    assert 0.0 <= h <= 1.0
    lower = [s - 1e4 for s in syn]  # lower scores = harder to detect
    assert props._hardness_of(lower, train) >= h
    assert props._hardness_of([max(train) + 1.0], train) == 0.0


def test_signature_rules():
    ok = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train\n"
    deg = "def generate_hard_anomalies(n_samples, model, X_train, degree):\n    return 1\n"
    assert check_signature(ok).passed and check_signature(deg).passed
    bad = check_signature("def generate_hard_anomalies(X_train, n_samples):\n    return 1\n")
    assert not bad.passed and "parameters must be (n_samples, model, X_train[, degree])" in bad.detail
    assert "exactly one" in check_signature("def f(n_samples, model, X_train): pass\n").detail
    assert "syntax error" in check_signature("def (:\n").detail


@pytest.mark.parametrize("header", ["n_samples, model, X_train, /", "n_samples, model, X_train=None",
                                    "n_samples, model, X_train, *, degree='med'", "n_samples, model, *X_train"])
def test_signature_property_is_the_audits_rule(header):
    """The suite's signature property refuses what the audit refuses (positional-only, defaults, ...)."""
    from das.sandbox.audit import audit_source

    source = f"def generate_hard_anomalies({header}):\n    return 1\n"
    audit_rules = {f.rule for f in audit_source(source).findings}
    assert "signature" in audit_rules and not check_signature(source).passed


# ----------------------------------------------------- suite logic with a fake runner
# These fakes never execute the program: they return canned outputs, so the
# property logic is tested fast and without running untrusted code in-process.

PROGRAM = (
    "import numpy as np\n\ndef generate_hard_anomalies(n_samples, model, X_train):\n"
    "    return X_train\n"
)


class _Det:
    name = "Fake"

    def fit(self, X):
        self.c_, self.s_ = X.mean(axis=0), X.std(axis=0) + 1e-12
        return self

    def predict_score(self, X):
        return np.sqrt((((X - self.c_) / self.s_) ** 2).sum(axis=1))


def _factory(name, random_state=0, **params):
    return _Det()


def _runner(make, **extra):
    calls = []

    def run(source, X_train, n_samples, scorer, seed=0, limits=None):
        calls.append(seed)
        out = make(np.asarray(X_train), n_samples, len(calls))
        fields = dict(status="ok", ok=True, output=out, message="", duration_s=0.01, cpu_s=0.01,
                      calls=0, rows_scored=0, input_mutated=False)
        fields.update(extra)
        return SimpleNamespace(**fields)

    return run


def _interpolate(X, n, k):
    rng = np.random.default_rng(0)
    a, b = X[rng.integers(0, len(X), n)], X[rng.integers(0, len(X), n)]
    return a + 0.5 * (b - a) + 1e-3


def test_fake_good_program_passes_every_property():
    rep = verify_program(PROGRAM, "fake", seed=0, runner=_runner(_interpolate), detector_factory=_factory)
    assert rep.passed, rep.format_text()
    assert [p.name for p in rep.properties][:3] == ["audit", "signature", "runs"]
    assert 0.0 < rep.depth <= 1.0
    json.dumps(rep.to_dict())  # serializable
    assert rep.format_text().endswith("verdict: CERTIFIABLE")


def test_fake_copy_program_fails_novel_and_diverse():
    copy_rows = lambda X, n, k: X[np.arange(n) % len(X)]  # noqa: E731
    rep = verify_program(PROGRAM, "fake", seed=0, runner=_runner(copy_rows), detector_factory=_factory)
    # the large run asks for more rows than X_train has: the copies repeat each other too
    assert [p.name for p in rep.failures()] == ["novel", "far_from_training", "diverse"]
    n_large = ds.large_rows(0, len(ds.base_dataset(0).X))
    detail = rep.property("novel").detail
    assert f"gaussian_mixture n={n_large}: 100% of {n_large} synthesized rows are (near) copies" in detail


def test_fake_nondeterministic_output_fails_determinism():
    rng = np.random.default_rng(1)
    noisy = lambda X, n, k: _interpolate(X, n, k) + rng.normal(size=(n, X.shape[1]))  # noqa: E731
    rep = verify_program(PROGRAM, "fake", seed=0, runner=_runner(noisy), detector_factory=_factory)
    assert "deterministic" in [p.name for p in rep.failures()]
    assert "two runs with seed fixed differ" in rep.property("deterministic").detail


def test_determinism_is_checked_on_a_second_dataset():
    real = ds.hardness_datasets(0)[-1].X
    rng = np.random.default_rng(1)

    def only_on_real_data(X, n, k):
        out = _interpolate(X, n, k)
        return out + rng.normal(size=out.shape) if np.array_equal(X, real) else out

    rep = verify_program(PROGRAM, "fake", seed=0, runner=_runner(only_on_real_data), detector_factory=_factory)
    assert [p.name for p in rep.failures()] == ["deterministic"]
    n = len(real) // 2
    assert rep.property("deterministic").detail.startswith(f"real_like n={n}: two runs with seed fixed differ")


def test_determinism_is_checked_at_the_large_size():
    rng = np.random.default_rng(1)

    def only_beyond_training_size(X, n, k):  # keyed to n > n_train: the red team's program
        out = _interpolate(X, n, k)
        return out + rng.normal(size=out.shape) if n > len(X) else out

    rep = verify_program(PROGRAM, "fake", runner=_runner(only_beyond_training_size), detector_factory=_factory,
                         seed=0)
    assert [p.name for p in rep.failures()] == ["deterministic"]
    n_large = ds.large_rows(0, len(ds.base_dataset(0).X))
    assert rep.property("deterministic").detail.startswith(
        f"gaussian_mixture n={n_large}: two runs with seed fixed differ")


@pytest.mark.parametrize("status,prop", [("violation", "no_violation"), ("budget", "runs")])
def test_violation_and_budget_fail_the_verdict_with_the_finding(status, prop):
    correlated = ds.hardness_datasets(0)[1].X
    message = {"violation": 'Line 7: guard: access to "__class__" is refused',
               "budget": "model budget exceeded: more than 1000 predict_score calls"}[status]
    good = _runner(_interpolate)

    def run(source, X_train, n_samples, scorer, seed=0, limits=None):
        res = good(source, X_train, n_samples, scorer, seed=seed, limits=limits)
        if np.array_equal(X_train, correlated):
            res.status, res.ok, res.output, res.message = status, False, None, message
        return res

    rep = verify_program(PROGRAM, "fake", seed=0, runner=run, detector_factory=_factory)
    assert not rep.passed and not rep.property(prop).passed
    detail = rep.property(prop).detail
    assert detail.startswith(f"correlated n={len(correlated) // 2}: ") and detail.endswith(message)


def test_report_records_the_seed_drawn_suite():
    rep = verify_program(PROGRAM, "fake", seed=3, runner=_runner(_interpolate), detector_factory=_factory)
    assert rep.suite_spec == ds.suite_spec(3) and rep.to_dict()["suite_spec"] == ds.suite_spec(3)
    g = ds.suite_spec(3)["datasets"]["gaussian_mixture"]
    assert f"datasets: gaussian_mixture {g['n']}x{g['d']}" in rep.format_text()


def test_degree_variant_is_run_at_the_middle_degree():
    seen = []
    base = _runner(_interpolate)

    def run(source, X_train, n_samples, scorer, seed=0, degree=None, limits=None):
        seen.append(degree)
        return base(source, X_train, n_samples, scorer, seed=seed, limits=limits)

    src = PROGRAM.replace("X_train):", "X_train, degree):")
    assert verify_program(src, "fake", seed=0, runner=run, detector_factory=_factory).passed
    assert set(seen) == {props.SUITE_DEGREE}
    verify_program(PROGRAM, "fake", seed=0, runner=run, detector_factory=_factory)
    assert None in seen


def test_runner_without_input_mutated_fails_no_mutation_explicitly():
    base = _runner(_interpolate)

    def run(*a, **k):
        res = base(*a, **k)
        del res.input_mutated
        return res

    rep = verify_program(PROGRAM, "fake", seed=0, runner=run, detector_factory=_factory)
    prop = rep.property("no_mutation")
    assert not prop.passed and "runner lacks input_mutated" in prop.detail


def test_slow_runs_fail_time_budget():
    run = _runner(_interpolate, cpu_s=props.TIME_LIMIT_S + 1)
    rep = verify_program(PROGRAM, "fake", seed=0, runner=run, detector_factory=_factory)
    assert [p.name for p in rep.failures()] == ["time"]


def test_time_is_judged_on_cpu_seconds_not_wall_time():
    run = _runner(_interpolate, duration_s=props.TIME_LIMIT_S * 5, cpu_s=0.2)  # a loaded machine
    assert verify_program(PROGRAM, "fake", seed=0, runner=run, detector_factory=_factory).passed


def test_static_failure_skips_dynamic_properties_without_running():
    def never(*a, **k):
        raise AssertionError("the runner must not be called")

    rep = verify_program("import os\n", "fake", seed=0, runner=never, detector_factory=_factory)
    assert not rep.passed and not rep.property("audit").passed
    assert rep.property("novel").detail == "not run: the static checks failed"
    assert rep.suite_version == SUITE_VERSION and rep.depth == 0.0


def test_audit_findings_quoting_the_program_are_cleaned():
    src = PROGRAM.replace("return X_train", 'return {"__x\x1b[2K[PASS]__": 1}')
    detail = props.check_audit(src).detail
    # the escape itself is a finding (named, never printed), and the quoted key loses it
    assert detail == ('Line 4: bidi-control: U+001B (control character): bidi and control characters '
                      'make code read differently than it runs; '
                      'Line 4: dunder-key: key "__x[PASS]__" is a dunder name'), detail
    assert "\x1b" not in detail


def test_report_types_round_trip():
    rep = VerificationReport(True, [PropertyResult("x", True, 1.5, 2.0, "")], 0.5, "v", 0, "D", 0.1)
    d = rep.to_dict()
    assert d["properties"][0] == {"name": "x", "passed": True, "value": 1.5, "threshold": 2.0,
                                  "detail": ""}
    assert "[PASS] x: 1.5 (threshold 2)" in str(rep)


# ------------------------------------------------ end to end: real sandbox + detectors


# Honest but weak under suite 2.0 (a measured reason, so the check is not loosened):
# pushing fringe rows outwards is no harder for IForest than uniform outliers on the
# seed-0 correlated dataset (122 x 3); axis-aligned splits miss off-plane box points.
WEAK = {"iforest_controlled_extrapolation": "correlated: median score"}


@pytest.mark.parametrize("path", HONEST, ids=lambda p: p.stem)
def test_honest_programs_are_certified(path):
    rep = verify_program(path.read_text(), _family(path), seed=0)
    if path.stem not in WEAK:
        assert rep.passed, rep.format_text()
        return
    assert [p.name for p in rep.failures()] == ["harder_than_random"], rep.format_text()
    assert rep.property("harder_than_random").detail.startswith(WEAK[path.stem])


def test_verdict_and_time_do_not_depend_on_machine_load():
    import subprocess
    import sys

    path = PROGRAMS / "honest" / "pca_principal_subspace.py"
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        rep = verify_program(path.read_text(), "PCA", seed=0)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert rep.passed, rep.format_text()
    assert rep.property("time").value < 0.5  # CPU seconds: the hogs only stretch wall time


BUGGY_EXPECTED = {
    "wrong_row_count": ("shape", "gaussian_mixture n=1: bad-output: expected (1, "),
    "nan_output": ("finite", "non-finite"),
    "mutates_input": ("no_mutation", "X_train was modified in place"),
    "copies_training_rows": ("novel", "synthesized rows are (near) copies of training rows"),
    "too_easy_far_noise": ("harder_than_random", "is not below"),
    "loops_on_duplicates": ("degenerate_inputs", "duplicate_rows: timeout"),
    "memory_bomb": ("memory", "MemoryError"),
    "wrong_signature": ("signature", "parameters must be (n_samples, model, X_train[, degree])"),
}


HARMFUL_EXPECTED = {
    "recognises_suite_shapes": ("novel", "synthesized rows are (near) copies of training rows"),
    "near_copies": ("novel", "synthesized rows are (near) copies of training rows"),
    "constant_point": ("diverse", "synthesized rows (near) repeat another synthesized row"),
    "copies_on_large_n": ("novel", "synthesized rows are (near) copies of training rows"),
    "shape_trigger_box": ("novel", "synthesized rows are (near) copies of training rows"),
    "shape_trigger_recombination": ("novel", "synthesized rows are (near) copies of training rows"),
    "near_copies_5pct_gap": ("far_from_training", "synthesized rows lie within 0.1 x the local row spacing"),
    # caught by the large run now that it asks for more than 1000 rows
    "hidden_copies_sampled_rows": ("novel", "synthesized rows are (near) copies of training rows"),
}
REJECTED = {**{BUGGY / f"{stem}.py": v for stem, v in BUGGY_EXPECTED.items()},
            **{HARMFUL / f"{stem}.py": v for stem, v in HARMFUL_EXPECTED.items()}}


@pytest.mark.parametrize("path", sorted(REJECTED), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_buggy_and_harmful_programs_fail_the_precise_property(path):
    name, message = REJECTED[path]
    rep = verify_program(path.read_text(), "IForest", seed=0)
    assert not rep.passed
    prop = rep.property(name)
    assert not prop.passed, rep.format_text()
    assert message in prop.detail, prop.detail
    assert rep.format_text().endswith("verdict: REJECTED")
    if path.stem == "too_easy_far_noise":
        assert rep.depth < 0.01  # easier than every normal row
    if path.stem == "copies_on_large_n":  # fine on the small runs, caught on the large one
        n_large = ds.large_rows(0, len(ds.base_dataset(0).X))
        assert prop.detail == f"gaussian_mixture n={n_large}: 100% of {n_large} {message}"


def test_every_buggy_and_harmful_program_is_covered():
    assert set(BUGGY.glob("*.py")) | set(HARMFUL.glob("*.py")) == set(REJECTED)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("path", [HARMFUL / "recognises_suite_shapes.py", BUGGY / "copies_training_rows.py",
                                  HARMFUL / "shape_trigger_box.py"], ids=lambda p: p.stem)
def test_programs_returning_copies_fail_on_other_seeds_too(path, seed):
    rep = verify_program(path.read_text(), "IForest", seed=seed)
    assert not rep.passed and not rep.property("novel").passed


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_seed_draws_a_dataset_beyond_the_old_shapes(seed):
    """A trigger like ``n > 400 or d > 16`` meets a large dataset on every seed (recorded in the spec)."""
    spec = ds.suite_spec(seed)
    large = spec["datasets"][spec["large"]]
    assert large["n"] > 400 and large["d"] > 16
    assert [s.X.shape for s in ds.hardness_datasets(seed)] == [(e["n"], e["d"]) for e in spec["datasets"].values()]


DEEP = "x = " + "-" * 20_000 + "1\n"  # red team p8: MemoryError / RecursionError in ast.parse


@pytest.mark.parametrize("source", [DEEP, DEEP + "#" * props.MAX_SOURCE_BYTES, "x = 1\0\n", b"x = 1"],
                         ids=["deep", "oversized", "nul", "bytes"])
def test_hostile_source_is_a_finding_not_a_crash(source):
    sig = check_signature(source)
    assert not sig.passed and sig.detail
    rep = verify_program(source, "IForest")
    assert not rep.passed and rep.property("runs").detail == "not run: the static checks failed"


def test_oversized_source_reports_its_size():
    detail = check_signature(PROGRAM + "#" * props.MAX_SOURCE_BYTES).detail
    assert detail.startswith("source is ") and f"more than {props.MAX_SOURCE_BYTES}" in detail


COPIES_BEYOND_SUITE_SIZES = """
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    X = np.asarray(X_train, dtype=np.float64)
    if len(X) > 2500:
        return X[np.arange(n_samples) % len(X)]
    a = X[np.random.randint(0, len(X), size=n_samples)]
    b = X[np.random.randint(0, len(X), size=n_samples)]
    return a + np.random.uniform(0.3, 0.7, size=(n_samples, 1)) * (b - a)
"""


def test_runtime_refuses_copies_the_suite_never_sees():
    """Output is untrusted at run time too: the suite certifies, the pipeline refuses on large data."""
    from das.collab.estimator import EnhancedDetector
    from das.collab.synthesis import OutputRefused

    assert verify_program(COPIES_BEYOND_SUITE_SIZES, "IForest").property("novel").passed
    X = ds.gaussian_mixture(0, n=3000, d=4).X
    with pytest.raises(OutputRefused, match=r"100% of 300 synthesized rows are \(near\) copies of training rows"):
        EnhancedDetector(detector="IForest", program=COPIES_BEYOND_SUITE_SIZES, allow_uncertified=True).fit(X)
    EnhancedDetector(detector="IForest", program=COPIES_BEYOND_SUITE_SIZES, allow_uncertified=True).fit(X[:2000])


HIDDEN_COPIES = HARMFUL / "hidden_copies_sampled_rows.py"
SOUND_INTERPOLATION = """
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    X = np.asarray(X_train, dtype=np.float64)
    a = X[np.random.randint(0, len(X), size=n_samples)]
    b = X[np.random.randint(0, len(X), size=n_samples)]
    return a + np.random.uniform(0.3, 0.7, size=(n_samples, 1)) * (b - a)
"""


def _large_training_set(n):
    rng = np.random.default_rng(5)  # the red team's c1 data: 6 features, mixed spreads
    return rng.normal(size=(n, 6)) * rng.uniform(0.5, 3, 6) + rng.normal(size=6)


@pytest.mark.parametrize("n_train", [12_000, 24_000])
def test_runtime_refuses_copies_hidden_outside_a_row_sample(n_train):
    """Red team c1: all rows outside the 1000 a sampled check looked at were exact
    training rows; the runtime check now looks at every output row."""
    from das.collab.estimator import EnhancedDetector
    from das.collab.synthesis import OutputRefused

    X = _large_training_set(n_train)
    # The program copies only past 1,000 requested rows; the enhancement fits on at most
    # FIT_ROWS training rows, so a quarter of them are requested here.
    options = {"detector": "IForest", "allow_uncertified": True, "syn_ratio": 0.25}
    with pytest.raises(OutputRefused, match=r"synthesized rows are \(near\) copies of training rows"):
        EnhancedDetector(program=HIDDEN_COPIES.read_text(), **options).fit(X)
    EnhancedDetector(program=SOUND_INTERPOLATION, **options).fit(X)  # a sound program passes


def test_novelty_checks_every_output_row():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 5))
    out = X[rng.integers(0, len(X), 2500)] + 0.0
    out[:1000] = rng.normal(size=(1000, 5)) * 3  # novel rows where a 1000-row sample might look
    res = novelty.measure(X, out)
    assert res.checked_rows == 2500 and res.copy_fraction == pytest.approx(0.6)
    assert novelty.measure(X, out, seed=1) == novelty.measure(X, out, seed=2)  # nothing depends on the seed


def test_worker_global_numpy_seed_is_not_the_run_seed():
    """The program cannot read the run seed back from np.random (red team c1 brute-forced it)."""
    from das.collab import enhance

    leak = ("import numpy as np\n\n\ndef generate_hard_anomalies(n_samples, model, X_train):\n"
            "    return np.full((n_samples, X_train.shape[1]), np.random.random_sample())\n")
    X = np.random.default_rng(0).normal(size=(50, 3))
    for seed in (0, 3):
        first = enhance.synthesize(leak, X, 2, lambda Z: np.zeros(len(Z)), seed=seed)[0, 0]
        assert first not in {np.random.RandomState(s).random_sample() for s in range(4096)}


#: A program that runs in the heavy zygote (it imports scipy).
HEAVY_PROGRAM = """
import numpy as np
from scipy.spatial import cKDTree


def generate_hard_anomalies(n_samples, model, X_train):
    gaps = cKDTree(X_train).query(X_train, k=2)[0][:, 1]
    order = np.argsort(-gaps, kind="stable")
    return X_train[order[np.arange(n_samples) % len(order)]] + 0.5 * X_train.std(axis=0)
"""


# ------------------------------------------------- determinism across processes (issue 20)
@pytest.mark.parametrize("heavy", [False, True])
def test_determinism_repeats_run_in_a_second_zygote(monkeypatch, heavy):
    """Lean or heavy, the repeats come from a second zygote of the kind the program runs in."""
    from das.sandbox import runner, zygote

    served = []
    real = runner.run_program

    def recording(source, X, n, scorer, **kwargs):
        served.append((zygote.get_zygote(heavy=heavy).pid, len(X), n))
        return real(source, X, n, scorer, **kwargs)

    monkeypatch.setattr(runner, "run_program", recording)
    first = zygote.get_zygote(heavy=heavy)
    source = HEAVY_PROGRAM if heavy else (PROGRAMS / "honest" / "pca_principal_subspace.py").read_text()
    rep = verify_program(source, "PCA", seed=0)
    assert rep.property("deterministic").passed, rep.format_text()
    pids = [pid for pid, _, _ in served]
    assert len(set(pids)) == 2 and first.pid in pids
    repeated = [(rows, n) for pid, rows, n in served if pid != first.pid]
    sets = ds.hardness_datasets(0)
    n_large = ds.large_rows(0, len(sets[0].X))
    assert repeated == [(len(sets[0].X), len(sets[0].X) // 2), (len(sets[0].X), n_large),
                        (len(sets[-1].X), len(sets[-1].X) // 2)]
    assert zygote.get_zygote(heavy=heavy) is first


#: A program whose output follows the addresses it can see as text.
ADDRESS_KEYED = '''
import numpy as np

def generate_hard_anomalies(n_samples, model, X_train):
    f = lambda: 0
    text = repr(f) + str(np.random.default_rng(0)) + f"{model.predict_score}" + "%s" % ([f],)
    key = sum(ord(c) * (i + 1) for i, c in enumerate(text))
    return X_train[:n_samples] + key % 1000
'''


def test_a_program_keyed_to_addresses_gives_one_output_in_two_zygotes():
    from das.sandbox import run_program, zygote

    X = np.random.default_rng(0).normal(size=(20, 3))
    first = zygote.get_zygote()
    outputs = [run_program(ADDRESS_KEYED, X, 4, lambda A: A.sum(axis=1)).output]
    second = zygote.Zygote(first.isolated)
    zygote.use(second)
    try:
        outputs.append(run_program(ADDRESS_KEYED, X, 4, lambda A: A.sum(axis=1)).output)
    finally:
        zygote.use(first)
        second.close()
    assert outputs[0] is not None and outputs[1] is not None
    np.testing.assert_array_equal(outputs[0], outputs[1])
