"""Property suite: measures, report, and honest/buggy example programs end to end."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import datasets as ds
from sandbox import properties as props
from sandbox.properties import (
    SUITE_VERSION,
    PropertyResult,
    VerificationReport,
    check_signature,
    verify_program,
)

PROGRAMS = Path(__file__).parent / "programs"
HONEST = sorted((PROGRAMS / "honest").glob("*.py"))
BUGGY = PROGRAMS / "buggy"
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
    assert props._copy_fraction(X, X) == 1.0
    far = X + 10.0 * (np.abs(X).max() + 1.0)
    assert props._copy_fraction(X, far) == 0.0


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
    assert not bad.passed and "expected ['n_samples', 'model', 'X_train']" in bad.detail
    assert "exactly one" in check_signature("def f(n_samples, model, X_train): pass\n").detail
    assert "syntax error" in check_signature("def (:\n").detail


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
        fields = dict(status="ok", ok=True, output=out, message="", duration_s=0.01,
                      calls=0, rows_scored=0, input_mutated=False)
        fields.update(extra)
        return SimpleNamespace(**fields)

    return run


def _interpolate(X, n, k):
    rng = np.random.default_rng(0)
    a, b = X[rng.integers(0, len(X), n)], X[rng.integers(0, len(X), n)]
    return a + 0.5 * (b - a) + 1e-3


def test_fake_good_program_passes_every_property():
    rep = verify_program(PROGRAM, "fake", runner=_runner(_interpolate), detector_factory=_factory)
    assert rep.passed, rep.format_text()
    assert [p.name for p in rep.properties][:3] == ["audit", "signature", "runs"]
    assert 0.0 < rep.hardness <= 1.0
    json.dumps(rep.to_dict())  # serializable
    assert rep.format_text().endswith("verdict: CERTIFIABLE")


def test_fake_copy_program_fails_novel_only():
    copy_rows = lambda X, n, k: X[np.arange(n) % len(X)]  # noqa: E731
    rep = verify_program(PROGRAM, "fake", runner=_runner(copy_rows), detector_factory=_factory)
    assert [p.name for p in rep.failures()] == ["novel"]
    detail = rep.property("novel").detail
    assert "gaussian_mixture n=400: 100% of 400 synthesized rows are copies" in detail


def test_fake_nondeterministic_output_fails_determinism():
    rng = np.random.default_rng(1)
    noisy = lambda X, n, k: _interpolate(X, n, k) + rng.normal(size=(n, X.shape[1]))  # noqa: E731
    rep = verify_program(PROGRAM, "fake", runner=_runner(noisy), detector_factory=_factory)
    assert "deterministic" in [p.name for p in rep.failures()]
    assert "two runs with seed fixed differ" in rep.property("deterministic").detail


def test_degree_variant_is_run_at_the_middle_degree():
    seen = []
    base = _runner(_interpolate)

    def run(source, X_train, n_samples, scorer, seed=0, degree=None, limits=None):
        seen.append(degree)
        return base(source, X_train, n_samples, scorer, seed=seed, limits=limits)

    src = PROGRAM.replace("X_train):", "X_train, degree):")
    assert verify_program(src, "fake", runner=run, detector_factory=_factory).passed
    assert set(seen) == {props.SUITE_DEGREE}
    verify_program(PROGRAM, "fake", runner=run, detector_factory=_factory)
    assert None in seen


def test_runner_without_input_mutated_fails_no_mutation_explicitly():
    base = _runner(_interpolate)

    def run(*a, **k):
        res = base(*a, **k)
        del res.input_mutated
        return res

    rep = verify_program(PROGRAM, "fake", runner=run, detector_factory=_factory)
    prop = rep.property("no_mutation")
    assert not prop.passed and "runner lacks input_mutated" in prop.detail


def test_slow_runs_fail_time_budget():
    run = _runner(_interpolate, duration_s=props.TIME_LIMIT_S + 1)
    rep = verify_program(PROGRAM, "fake", runner=run, detector_factory=_factory)
    assert [p.name for p in rep.failures()] == ["time"]


def test_static_failure_skips_dynamic_properties_without_running():
    def never(*a, **k):
        raise AssertionError("the runner must not be called")

    rep = verify_program("import os\n", "fake", runner=never, detector_factory=_factory)
    assert not rep.passed and not rep.property("audit").passed
    assert rep.property("novel").detail == "not run: the static checks failed"
    assert rep.suite_version == SUITE_VERSION and rep.hardness == 0.0


def test_report_types_round_trip():
    rep = VerificationReport(True, [PropertyResult("x", True, 1.5, 2.0, "")], 0.5, "v", 0, "D", 0.1)
    d = rep.to_dict()
    assert d["properties"][0] == {"name": "x", "passed": True, "value": 1.5, "threshold": 2.0,
                                  "detail": ""}
    assert "[PASS] x: 1.5 (threshold 2)" in str(rep)


# ------------------------------------------------ end to end: real sandbox + detectors


@pytest.mark.parametrize("path", HONEST, ids=lambda p: p.stem)
def test_honest_programs_are_certified(path):
    rep = verify_program(path.read_text(), _family(path), seed=0)
    assert rep.passed, rep.format_text()


BUGGY_EXPECTED = {
    "wrong_row_count": ("shape", "expected (1, 5)"),
    "nan_output": ("finite", "non-finite"),
    "mutates_input": ("no_mutation", "X_train was modified in place"),
    "nondeterministic": ("deterministic", "two runs with seed fixed differ"),
    "copies_training_rows": ("novel", "synthesized rows are copies of training rows"),
    "too_easy_far_noise": ("harder_than_random", "is not below"),
    "loops_on_duplicates": ("degenerate_inputs", "duplicate_rows: timeout"),
    "memory_bomb": ("memory", "MemoryError"),
    "wrong_signature": ("signature", "expected ['n_samples', 'model', 'X_train']"),
}


@pytest.mark.parametrize("stem", sorted(BUGGY_EXPECTED))
def test_buggy_programs_fail_the_precise_property(stem):
    name, message = BUGGY_EXPECTED[stem]
    source = (BUGGY / f"{stem}.py").read_text()
    rep = verify_program(source, "IForest", seed=0)
    assert not rep.passed
    prop = rep.property(name)
    assert not prop.passed, rep.format_text()
    assert message in prop.detail, prop.detail
    assert rep.format_text().endswith("verdict: REJECTED")
    if stem == "too_easy_far_noise":
        assert rep.hardness < 0.01  # easier than every normal row


def test_every_buggy_program_is_covered():
    assert {p.stem for p in BUGGY.glob("*.py")} == set(BUGGY_EXPECTED)
