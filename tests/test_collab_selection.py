"""program="auto": the label-free choice by planted-anomaly validation."""
import inspect

import numpy as np
import pytest

from das.collab import selection
from das.collab.certification import suite_version
from das.collab.estimator import EnhancedDetector
from das.collab.synthesis import CertifiedProgram, NoEnhancement, RandomOutliers
from das.program_store import ProgramStore
from tests.test_collab_estimator import HONEST, ToyDetector


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "s.sqlite"
    with ProgramStore(path) as store:
        sha = store.add(HONEST, "Toy")
        store.record_verification(sha, {"borderline": 0.5}, passed=True, suite_version=suite_version())
    return path


def _auto(store_path, **kw):
    return EnhancedDetector(detector=ToyDetector(), program="auto", store=str(store_path), **kw)


def _rows(rng, n=240):
    return rng.normal(size=(n, 4)) @ rng.normal(size=(4, 4))


def test_candidates_are_none_random_and_the_certified_programs(store_path):
    names = [c.name for c in selection.candidates("Toy", store_path)]
    assert names[:2] == ["none", "random"] and len(names) == 3 and names[2].startswith("program:")
    assert [c.name for c in selection.candidates("Unknown", store_path)] == ["none", "random"]


def test_at_most_max_programs_are_validated_the_default_first_then_the_best_ranked(tmp_path):
    """auto's cost must not grow with the store: a fourth certified program adds no syntheses."""
    path = tmp_path / "many.sqlite"
    with ProgramStore(path) as store:
        shas = []
        for i, useful in enumerate((0.01, 0.04, 0.03, 0.02)):
            sha = store.add(HONEST + f"\n# variant {i}\n", "Toy")
            report = {"borderline": 0.5, "usefulness": {"lower_bound": useful}}
            store.record_verification(sha, report, passed=True, suite_version=suite_version())
            shas.append(sha)
    names = [c.name for c in selection.candidates("Toy", path)]
    assert len(names) == 2 + selection.MAX_PROGRAMS
    from das.collab.certification import Certification, opened

    with opened(path) as st:
        ranked = Certification(st).ranked("Toy")
        st.set_default("Toy", ranked[-1])
    assert names[2:] == [f"program:{sha[:12]}" for sha in ranked[:selection.MAX_PROGRAMS]]
    assert [c.name for c in selection.candidates("Toy", path)][2:] == \
        [f"program:{sha[:12]}" for sha in [ranked[-1], ranked[0]]]


def test_auto_never_reads_labels_and_is_deterministic(rng, store_path):
    assert not {"y", "labels", "y_train"} & set(inspect.signature(selection.select).parameters)
    X, X_test = _rows(rng), _rows(rng, 60)
    y = np.r_[np.zeros(200), np.ones(40)]
    fits = [_auto(store_path).fit(X), _auto(store_path).fit(X, y), _auto(store_path).fit(X, rng.permutation(y))]
    table = fits[0].selection_["table"]
    names = [c.name for c in selection.candidates("Toy", store_path)][1:] + ["ensemble"]
    assert [(c["candidate"], c["lam"]) for c in table] == [(n, lam) for n in names for lam in selection.LAMBDAS]
    assert all(c["mean_gain"] is not None and set(c) >= {"local", "clustered", "global", "dependency"}
               for c in table)
    for other in fits[1:]:
        assert {k: v for k, v in other.selection_.items() if k != "seconds"} == \
            {k: v for k, v in fits[0].selection_.items() if k != "seconds"}
        np.testing.assert_array_equal(other.decision_function(X_test), fits[0].decision_function(X_test))
    eligible = [c for c in table if c["eligible"]]
    best = max(eligible, key=lambda c: c["worst_bound"]) if eligible else {"candidate": "none", "lam": None}
    assert (fits[0].selection_["choice"], fits[0].selection_["lam"]) == (best["candidate"], best["lam"])


def test_choice_none_scores_with_the_detector_alone(rng, store_path):
    from unittest import mock

    from das.collab import pipeline

    X = _rows(rng)
    chosen = selection.Selection("none", None, [], None, 0.0, [(NoEnhancement(), None)])
    with mock.patch.object(selection, "select", return_value=chosen):
        fitted = pipeline.fit(X, ToyDetector(), "auto", store_path, fusions=("sum", "collate"))
    expected = ToyDetector().fit(X).predict_score(X)
    assert fitted.classifier is None and fitted.program_sha256 is None
    for name in ("base", "sum", "collate"):
        np.testing.assert_array_equal(fitted.scores(X)[name], expected)


def test_too_few_rows_fall_back_to_the_detector_alone(rng, store_path):
    est = _auto(store_path).fit(_rows(rng, 6))
    assert est.selection_["choice"] == selection.FALLBACK.name == "none"
    assert "no planted validation" in est.selection_["fallback"]
    assert est.program_sha256_ is None and est.expected_gain_["decision"] == "keep base"
    assert "no planted validation" in est.expected_gain_["reason"]
    assert est.expected_gain_["basis"] == "none: no planted validation"  # not "planted anomalies: 3 splits ..."


# -- select with stub sources: tie-break, hold-out share, refusals -----------------------------


class Rows:
    """A stub synthesis source: rows from ``draw(X_train, n, seed)`` (None: no enhancement), or an error."""

    sha256 = source = None
    activity = "stub rows"

    def __init__(self, name, draw=None, error=None):
        self.name, self._draw, self._error = name, draw, error

    def rows(self, X_train, n, scorer, seed):
        if self._error:
            raise self._error
        return None if self._draw is None else self._draw(X_train, n, seed)


def _uniform(X_train, n, seed):
    return RandomOutliers().rows(X_train, n, None, seed)


class CountingToy(ToyDetector):
    """ToyDetector that records how many rows each fit saw."""

    fits = []

    def fit(self, X, y=None):
        CountingToy.fits.append(len(X))
        return super().fit(X, y)


def test_ties_go_to_the_earlier_candidate(rng):
    from tests.test_no_harm import OneFeature

    X = _rows(rng)
    first = selection.select(X, OneFeature(), [Rows("a", _uniform), Rows("b", _uniform)], seed=0)
    a, b = ([r for r in first.table if r["candidate"] == n] for n in "ab")
    assert [r["worst_gain"] for r in a] == [r["worst_gain"] for r in b] and any(r["eligible"] for r in a)
    assert first.choice == "a" and [s.name for s, _ in first.ranking][:2] == ["a", "b"]
    assert selection.select(X, OneFeature(), [Rows("b", _uniform), Rows("a", _uniform)], seed=0).choice == "b"


def test_a_refused_candidate_is_recorded_and_auto_goes_on(rng):
    from das.collab.synthesis import OutputRefused

    X = _rows(rng)
    refused = Rows("program:bad", error=OutputRefused("refused the program's output on this data: copies"))
    chosen = selection.select(X, ToyDetector(), [refused, NoEnhancement()], seed=0)
    assert chosen.choice == "none" and chosen.table[0]["error"].startswith("refused the program's output")
    assert chosen.table[0]["mean_gain"] is None and [s.name for s, _ in chosen.ranking] == ["none"]


COPIES_ON_LARGE_DATA = """
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    X = np.asarray(X_train, dtype=np.float64)
    if len(X) > 600:  # the suite draws at most 400 rows per dataset: it never sees this branch
        return X[np.arange(n_samples) % len(X)]
    a = X[np.random.randint(0, len(X), size=n_samples)]
    b = X[np.random.randint(0, len(X), size=n_samples)]
    return a + np.random.uniform(0.3, 0.7, size=(n_samples, 1)) * (b - a)
"""


def _certified_copier(tmp_path, detector="IForest"):
    path = tmp_path / "copier.sqlite"
    with ProgramStore(path) as store:
        sha = store.add(COPIES_ON_LARGE_DATA, detector)
        store.record_verification(sha, {"borderline": 0.5}, passed=True, suite_version=suite_version())
        store.set_default(detector, sha)
    return path, sha


def _refused_row(sel, sha):
    [row] = [r for r in sel["table"] if r["candidate"] == f"program:{sha[:12]}"]
    return row


def test_auto_refuses_a_certified_program_that_copies_on_the_users_data(tmp_path, rng):
    """Must show: the output check runs on auto's candidates too; the refusal and its reason are in the table."""
    from das.collab.synthesis import OutputRefused

    store, sha = _certified_copier(tmp_path)
    X = rng.normal(size=(1000, 4))
    with pytest.raises(OutputRefused):  # the fixed path refuses it ...
        EnhancedDetector(detector="IForest", program=sha, store=str(store)).fit(X)
    est = EnhancedDetector(detector="IForest", store=str(store)).fit(X)  # ... and so does auto
    row = _refused_row(est.selection_, sha)
    assert row["mean_gain"] is None and "copies of training rows" in row["error"]
    assert est.selection_["choice"] in ("none", "random") and est.program_sha256_ is None


def test_auto_refuses_a_winner_whose_rows_are_refused_on_all_rows(rng):
    """The program won on the validation rows (420) and copies on all 700 rows: the next one is fitted."""
    from unittest import mock

    from das.collab import pipeline

    X = rng.normal(size=(700, 4))
    copier = CertifiedProgram(COPIES_ON_LARGE_DATA, "c" * 64)
    won = selection.Selection(copier.name, copier.sha256, [
        {"candidate": copier.name, "lam": 1.0, "sha256": copier.sha256, "mean_gain": 0.1, "eligible": True,
         "error": None}], None, 0.0, [(copier, 1.0), (NoEnhancement(), None)], 1.0,
        {"decision": "enhance", "basis": "planted anomalies: 3 splits x 4 kinds"})
    with mock.patch.object(selection, "select", return_value=won):
        fitted = pipeline.fit_auto(X, "IForest", candidates=[copier, NoEnhancement()])
    row = _refused_row(fitted.selection, copier.sha256)
    assert row["error"].startswith("on all training rows: refused the program's output")
    assert fitted.selection["choice"] == "none" and fitted.program_sha256 is None and fitted.classifier is None
    assert fitted.selection["expected_gain"]["decision"] == "keep base"
    assert "refused" in fitted.selection["expected_gain"]["reason"]


def test_das_select_shows_the_refusal(tmp_path, rng):
    import json

    from click.testing import CliRunner

    from das.engine.cli import main

    store, sha = _certified_copier(tmp_path)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(2200, 4)), y=np.r_[np.zeros(2180), np.ones(20)])
    res = CliRunner().invoke(main, ["select", "--data", str(tmp_path / "d.npz"), "-d", "IForest",
                                    "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert "copies of training rows" in _refused_row(out, sha)["error"] and out["choice"] in ("none", "random")
    text = CliRunner().invoke(main, ["select", "--data", str(tmp_path / "d.npz"), "-d", "IForest",
                                     "--store", str(store)]).output
    lines = text.splitlines()
    [i] = [k for k, line in enumerate(lines) if line.lstrip(" *").startswith(f"program:{sha[:12]}")]
    assert "failed" in lines[i] and lines[i + 1].strip().startswith("refused the program's output on this data")


def test_the_benchmarks_auto_cell_shows_the_refusal(tmp_path, rng):
    from types import SimpleNamespace

    from das.collab.evaluate import evaluate

    copier = CertifiedProgram(COPIES_ON_LARGE_DATA, "c" * 64)
    split = SimpleNamespace(X_train=rng.normal(size=(1000, 4)),
                            X_test=np.vstack([rng.normal(size=(100, 4)), rng.normal(size=(10, 4)) * 4]),
                            y_test=np.r_[np.zeros(100), np.ones(10)], name="toy")
    res = evaluate(split, "IForest", None, methods=("base", "auto"),
                   auto_candidates=[NoEnhancement(), RandomOutliers(), copier])
    assert "copies of training rows" in _refused_row(res["selection"], "c" * 64)["error"]
    assert res["selection"]["choice"] in ("none", "random")


# -- cost at scale: bounded validation rows ------------------------------


def test_validation_uses_at_most_max_rows_a_seeded_subsample(rng):
    X = _rows(rng, 500)
    CountingToy.fits.clear()
    chosen = selection.select(X, CountingToy(), [Rows("none")], seed=0, max_rows=200)
    assert CountingToy.fits == [200 - round(0.3 * 200)] * selection.SPLITS
    assert chosen.to_dict()["rows"] == {"validated": 200, "of": 500}
    picked = selection.validation_rows(X, seed=0, max_rows=200)
    assert len(picked) == 200 and np.array_equal(picked, selection.validation_rows(X, seed=0, max_rows=200))
    assert {tuple(r) for r in picked} <= {tuple(r) for r in X}
    assert selection.validation_rows(X, seed=0, max_rows=500) is X  # at or below the bound: every row
    assert inspect.signature(selection.select).parameters["max_rows"].default == selection.MAX_ROWS
