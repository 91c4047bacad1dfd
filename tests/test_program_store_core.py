"""ProgramStore: round-trip, dedup, tamper detection, verification records, runs, history."""
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from das.program_store import (
    AmbiguousPrefix,
    InvalidInput,
    NotCertified,
    ProgramNotFound,
    ProgramStore,
    StoreError,
    TamperedProgram,
    source_sha256,
)

SRC = "def generate(X, n):\n    return X[:n] + 1.0\n"


def passed(store, sha, hardness=0.5, suite="s1"):
    """Record a passing verification (what the certification service writes)."""
    return store.record_verification(sha, {"hardness": hardness}, passed=True, suite_version=suite)


@pytest.fixture
def store(tmp_path):
    with ProgramStore(tmp_path / "s.sqlite") as s:
        yield s


def test_default_path_follows_das_home_and_das_store(isolated_home, tmp_path, monkeypatch):
    with ProgramStore() as s:
        assert s.path == isolated_home / "programs.sqlite"
    assert (isolated_home / "programs.sqlite").is_file()
    monkeypatch.setenv("DAS_STORE", str(tmp_path / "elsewhere.sqlite"))
    with ProgramStore() as s:
        assert str(s.path) == str(tmp_path / "elsewhere.sqlite")


def test_round_trip_keeps_every_field(store):
    sha = store.add(SRC, "IForest", policy="shift the tails", prompt_sha256="ab" * 32,
                    prompt_variant="hardness-2", backend="replay", model="m1",
                    parent_sha256="cd" * 32, metadata={"round": 1})
    rec = store.get(sha)
    assert sha == source_sha256(SRC) == rec.sha256
    assert (rec.source, rec.detector, rec.policy, rec.status) == (SRC, "IForest", "shift the tails", "candidate")
    assert (rec.prompt_sha256, rec.prompt_variant, rec.backend, rec.model) == ("ab" * 32, "hardness-2", "replay", "m1")
    assert rec.parent_sha256 == "cd" * 32 and rec.metadata == {"round": 1}


_settings = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_settings
@given(source=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1).filter(str.strip),
       policy=st.text(st.characters(blacklist_categories=("Cs",))),
       metadata=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3))
def test_round_trip_any_text(tmp_path, source, policy, metadata):
    with tempfile.TemporaryDirectory(dir=tmp_path) as d, ProgramStore(Path(d) / "s.sqlite") as s:
        sha = s.add(source, "LOF", policy=policy, metadata=metadata)
        rec = s.get(sha)
        assert (rec.source, rec.policy, rec.metadata) == (source, policy, metadata)
        assert sha == source_sha256(source)


def test_identical_source_is_deduplicated(store):
    a = store.add(SRC, "IForest", policy="first")
    b = store.add(SRC, "IForest", policy="second")
    c = store.add(SRC + " ", "IForest")
    assert a == b != c
    assert len(store.list()) == 2
    assert store.get(a).policy == "first"


@pytest.mark.parametrize("source, detector", [("", "IForest"), ("   ", "IForest"), (SRC, ""), (b"x", "IForest")])
def test_bad_input_is_named(store, source, detector):
    with pytest.raises(InvalidInput):
        store.add(source, detector)


def test_tampered_source_is_refused_and_marked(store):
    sha = store.add(SRC, "IForest")
    passed(store, sha)
    store.set_default("IForest", sha)
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE programs SET source = ? WHERE sha256 = ?", (SRC + "import os\n", sha))
    raw.commit()
    raw.close()
    with pytest.raises(TamperedProgram, match="tampered"):
        store.get(sha)
    with pytest.raises(TamperedProgram):
        store.record_verification(sha, {}, passed=True, suite_version="s1")
    assert store.default("IForest") is None  # a tampered program loses its default
    listed = store.list()
    assert [(r.status, r.source) for r in listed] == [("tampered", "")]
    hist = store.history(sha)
    assert hist["tampered"] and [e["kind"] for e in hist["events"]][-1] == "tampered"
    assert hist["program"]["source"] == ""


def test_not_found_and_prefix_resolution(store):
    sha = store.add(SRC, "IForest")
    assert store.resolve(sha[:6]) == sha
    assert store.resolve(sha.upper()[:8]) == sha
    with pytest.raises(ProgramNotFound):
        store.get("0" * 64)
    with pytest.raises(InvalidInput):
        store.resolve("xyz!")
    seen = {}
    for i in range(100_000):  # birthday search: two sources whose keys share 4 hex chars
        src = f"def g{i}(): pass"
        key = source_sha256(src)[:4]
        if key in seen:
            break
        seen[key] = src
    store.add(seen[key], "LOF")
    store.add(src, "LOF")
    with pytest.raises(AmbiguousPrefix, match="several"):
        store.resolve(key)


def test_set_default_refuses_uncertified(store):
    sha = store.add(SRC, "IForest")
    with pytest.raises(NotCertified, match="candidate"):
        store.set_default("IForest", sha)


def test_revocation_is_recorded_not_deleted(store):
    sha = store.add(SRC, "IForest")
    passed(store, sha)
    store.set_default("IForest", sha)
    store.revoke(sha, "copies training rows")
    assert store.get(sha).status == "revoked" and store.default("IForest") is None
    passed(store, sha)  # re-verifying never un-revokes
    assert store.get(sha).status == "revoked"
    events = store.events(sha)
    assert events[-1]["kind"] == "revoked" and events[-1]["detail"]["reason"] == "copies training rows"
    with pytest.raises(StoreError, match="already revoked"):
        store.revoke(sha, "again")
    with pytest.raises(InvalidInput):
        store.revoke(sha, "")


def test_runs_and_history_lineage(store):
    root = store.add(SRC, "IForest")
    child = store.add(SRC + "#1", "IForest", parent_sha256=root)
    grand = store.add(SRC + "#2", "IForest", parent_sha256=child)
    passed(store, grand)
    run_id = store.record_run(grand, detector="IForest", dataset_fingerprint="f" * 16, seed=3,
                              n_syn=40, metrics={"auc_pr": 0.5})
    hist = store.history(grand)
    assert [p["sha256"] for p in hist["lineage"]] == [child, root]
    assert hist["runs"][0]["id"] == run_id and hist["runs"][0]["metrics"] == {"auc_pr": 0.5}
    assert len(hist["verifications"]) == 1
    assert [c["sha256"] for c in store.history(root)["children"]] == [child]
    with pytest.raises(ProgramNotFound):
        store.record_run("0" * 64, detector="IForest", dataset_fingerprint="x")


def test_list_filters(store):
    a = store.add(SRC, "IForest")
    store.add(SRC + "#", "LOF")
    passed(store, a)
    assert [r.sha256 for r in store.list(detector="IForest", status="certified")] == [a]
    assert len(store.list(status="candidate")) == 1
    with pytest.raises(InvalidInput):
        store.list(status="bogus")


def test_transaction_rolls_back_as_a_whole(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add(SRC, "IForest")
            store.add(SRC + "#", "IForest")
            raise RuntimeError("boom")
    assert store.list() == []


def test_numpy_values_in_reports_are_stored_as_plain_json(store):
    import numpy as np

    sha = store.add(SRC, "IForest")
    ver = store.record_verification(sha, {"hardness": np.float32(0.25), "n": np.int64(3),
                                          "ok": np.bool_(True), "v": np.arange(2)},
                                    passed=np.bool_(True), suite_version="s1")
    assert ver.report == {"hardness": 0.25, "n": 3, "ok": True, "v": [0, 1]} and ver.hardness == 0.25
    with pytest.raises(InvalidInput, match="JSON"):
        store.record_verification(sha, {"x": object()}, passed=True, suite_version="s1")


def test_defaults_and_ranking_are_plain_records(store):
    soft, hard = store.add(SRC, "IForest"), store.add(SRC + "#hard", "IForest")
    stale = store.add(SRC + "#old", "IForest")
    passed(store, soft, 0.2)
    passed(store, hard, 0.9)
    passed(store, stale, 0.99, suite="s0")
    # the store does not rank (the certification service does): oldest first, whatever the hardness
    assert list(store.ranked("IForest", "s1")) == sorted([soft, hard], key=lambda s: (store.get(s).created_at, s))
    assert list(store.ranked("IForest", "s1", current=False)) == [stale]
    assert store.default("IForest") is None
    store.set_default("IForest", soft)
    assert store.default("IForest") == soft and store.events(soft)[-1]["kind"] == "default"
    assert store.get(hard).hardness == 0.9 and store.list()[0].hardness == 0.2


def test_set_default_refuses_another_detectors_program(store):
    other = store.add(SRC + "#lof", "LOF")
    passed(store, other)
    with pytest.raises(InvalidInput):
        store.set_default("IForest", other)


def test_the_store_never_imports_the_sandbox():
    import subprocess
    import sys

    code = "import sys, program_store; sys.exit('sandbox' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_every_status_a_verification_sets_is_in_the_history(store):
    """The new-user walkthrough, H3: a rejected program that passed a later draw became certified
    (and the detector's default) with no event saying so; the history now explains the status."""
    sha = store.add("def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train\n", "IForest")
    for passed in (False, True, True, False):
        store.record_verification(sha, {"passed": passed}, passed=passed, suite_version="9")
    changes = [(e["kind"], e["detail"]["previous_status"]) for e in store.events(sha) if e["kind"] != "added"]
    assert changes == [("rejected", "candidate"), ("certified", "rejected"), ("rejected", "certified")]
