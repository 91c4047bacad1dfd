"""The certification service's own properties: ``useful`` and ``borderline`` (issue 14)."""
from pathlib import Path

import pytest

from das.collab import certification
from das.collab.certification import usefulness
from das.engine.extract import program_source

JITTER = '''
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    """Policy: training rows with a little noise (deep inside the normal data)."""
    rows = X_train[np.random.randint(0, len(X_train), size=n_samples)]
    return rows + 0.01 * X_train.std(axis=0) * np.random.randn(n_samples, X_train.shape[1])
'''

#: A sound program: corpus v3's PCA feature-swap answer (rows with about half their features
#: taken from other rows, kept above the median training score).
SOUND = program_source((Path(__file__).parents[1] / "engine" / "corpus" / "responses" / "pca_7.md").read_text())


def test_jittered_training_rows_are_neither_useful_nor_borderline():
    result = usefulness(JITTER, "KNN", seed=0)
    assert not result.useful and not result.is_borderline
    # its rows pass through the run-time output check here too: near copies, refused on every suite dataset
    units = [e for per_dataset in result.per_seed.values() for e in per_dataset.values()]
    assert all(e["error"].startswith("refused the program's output on this data") for e in units)
    assert result.means["program"] <= result.means["base"]
    by_name = {p["name"]: p for p in result.properties()}
    assert not by_name["useful"]["passed"] and not by_name["borderline"]["passed"]


def test_a_sound_program_is_borderline_and_gains_on_average():
    """Its rows sit reliably above typical normal rows, and its mean margin is positive; whether that gain
    is established (the lower bound) depends on the seed: the rule of issue 20 asks for more than a mean."""
    result = usefulness(SOUND, "PCA", seed=1)
    assert result.is_borderline and result.margin > 0, result.summary()
    assert 0 < result.borderline_bound < result.borderline < 1
    # The report keeps the figure per seed, suite dataset and planted kind.
    some = next(iter(result.per_seed[1].values()))
    assert set(some["program"]) == {"local", "clustered", "global", "dependency"}
    assert set(some) == {"base", "random", "program", "borderline"}


def test_the_previous_iforest_default_is_refused_for_being_deep(isolated_home):
    """Corpus v1's IForest default passes the sandbox suite; the service refuses it, values recorded."""
    from das.program_store import ProgramStore, read_bundle

    old = "257b070fd2429098bf634270670a0b48ee471bc6397e107e12fc63d525789a95"
    [entry] = [e for e in read_bundle(certification.BUNDLED_PROGRAMS) if e["program"]["sha256"] == old]
    with ProgramStore() as store:
        sha = store.add(entry["program"]["source"], "IForest")
        rec = certification.Certification(store).verify(sha, seed=0)  # a pinned seed: a replayable verdict
    props = {p["name"]: p for p in rec.report["properties"]}
    assert all(p["passed"] for name, p in props.items() if name not in ("useful", "borderline"))
    assert not rec.passed and rec.suite_version == certification.suite_version()
    assert not props["borderline"]["passed"] and props["borderline"]["value"]["mean"] < 0
    assert not props["useful"]["passed"]
    assert rec.report["usefulness"]["lower_bound"] <= 0 and rec.report["usefulness"]["seeds"][0] == 0
    # das programs list shows the borderline position; the suite's depth share is kept as depth.
    assert rec.report["borderline"] == pytest.approx(props["borderline"]["value"]["mean"], abs=1e-4)
    assert "hardness" not in rec.report
    assert rec.report["depth"] > 0.5


def test_a_certified_program_failing_a_newer_suite_is_revoked_with_the_reason(isolated_home):
    from types import SimpleNamespace

    from das.program_store import ProgramStore

    def verifier(passed, suite):
        props = [{"name": "borderline", "passed": passed, "value": 0.3 if passed else -0.21}]
        return lambda src, det, seed=0: SimpleNamespace(
            passed=passed, suite_version=suite, duration_s=0.0,
            to_dict=lambda: {"properties": props, "borderline": None})

    with ProgramStore() as store:
        sha = store.add(JITTER, "KNN")
        certification.Certification(store, suite_version="s1", verifier=verifier(True, "s1")).verify(sha)
        assert store.get(sha).status == "certified"
        certification.Certification(store, suite_version="s2", verifier=verifier(False, "s2")).verify(sha)
        assert store.get(sha).status == "revoked"
        [event] = [e for e in store.events(sha) if e["kind"] == "revoked"]
        assert "failed suite s2" in event["detail"]["reason"] and "borderline=-0.21" in event["detail"]["reason"]
        assert len(store.verifications(sha)) == 2  # the history stays
