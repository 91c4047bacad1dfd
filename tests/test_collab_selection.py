"""program="auto": the label-free choice by planted-anomaly validation."""
import inspect

import numpy as np
import pytest

from das.collab import selection
from das.collab.certification import suite_version
from das.collab.estimator import EnhancedDetector
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


def test_auto_never_reads_labels_and_is_deterministic(rng, store_path):
    assert not {"y", "labels", "y_train"} & set(inspect.signature(selection.select).parameters)
    X, X_test = _rows(rng), _rows(rng, 60)
    y = np.r_[np.zeros(200), np.ones(40)]
    fits = [_auto(store_path).fit(X), _auto(store_path).fit(X, y), _auto(store_path).fit(X, rng.permutation(y))]
    table = fits[0].selection_["table"]
    assert [c["candidate"] for c in table] == [c.name for c in selection.candidates("Toy", store_path)]
    assert all(c["mean_auc_pr"] is not None and set(c) >= {"local", "clustered", "global", "dependency"}
               for c in table)
    for other in fits[1:]:
        assert {k: v for k, v in other.selection_.items() if k != "seconds"} == \
            {k: v for k, v in fits[0].selection_.items() if k != "seconds"}
        np.testing.assert_array_equal(other.decision_function(X_test), fits[0].decision_function(X_test))
    best = max(table, key=lambda c: c["mean_auc_pr"])
    assert fits[0].selection_["choice"] == best["candidate"]


def test_choice_none_scores_with_the_detector_alone(rng, store_path):
    from unittest import mock

    from das.collab import pipeline

    X = _rows(rng)
    with mock.patch.object(selection, "select", return_value=selection.Selection("none", None, [], None, 0.0)):
        fitted = pipeline.fit(X, ToyDetector(), "auto", store_path, fusions=("sum", "collate"))
    expected = ToyDetector().fit(X).predict_score(X)
    assert fitted.classifier is None and fitted.program_sha256 is None
    for name in ("base", "sum", "collate"):
        np.testing.assert_array_equal(fitted.scores(X)[name], expected)


def test_too_few_rows_fall_back_to_the_detector_alone(rng, store_path):
    est = _auto(store_path).fit(_rows(rng, 6))
    assert est.selection_["choice"] == selection.FALLBACK == "none"
    assert "no planted validation" in est.selection_["fallback"]
    assert est.program_sha256_ is None
