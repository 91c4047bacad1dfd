"""ProgramStore: round-trip, dedup, tamper detection, certification, runs, history."""
import sqlite3
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from program_store import (
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


def fake_verifier(suite="s1", passed=True, hardness=0.5):
    """A verifier with the sandbox's report shape; records its calls."""
    calls = []

    def verify(source, detector, seed=0):
        calls.append((source, detector, seed))
        return SimpleNamespace(passed=passed, suite_version=suite, duration_s=0.01,
                               hardness=hardness,
                               to_dict=lambda: {"hardness": hardness, "suite_version": suite,
                                                "properties": [{"name": "shape", "passed": passed}]})

    verify.calls = calls
    return verify


@pytest.fixture
def store(tmp_path):
    with ProgramStore(tmp_path / "s.sqlite", suite_version="s1", verifier=fake_verifier()) as s:
        yield s


def test_default_path_follows_das_home_and_das_store(isolated_home, tmp_path, monkeypatch):
    with ProgramStore(suite_version="s1") as s:
        assert s.path == isolated_home / "programs.sqlite"
    assert (isolated_home / "programs.sqlite").is_file()
    monkeypatch.setenv("DAS_STORE", str(tmp_path / "elsewhere.sqlite"))
    with ProgramStore(suite_version="s1") as s:
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
    with tempfile.TemporaryDirectory(dir=tmp_path) as d, ProgramStore(Path(d) / "s.sqlite", suite_version="s1") as s:
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
    store.verify(sha)
    store.set_default("IForest", sha)
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE programs SET source = ? WHERE sha256 = ?", (SRC + "import os\n", sha))
    raw.commit()
    raw.close()
    with pytest.raises(TamperedProgram, match="tampered"):
        store.get(sha)
    with pytest.raises(TamperedProgram):
        store.record_verification(sha, {}, passed=True, suite_version="s1")
    with pytest.raises(NotCertified):
        store.certified("IForest")
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


def test_verification_sets_status(store):
    good = store.add(SRC, "IForest")
    bad = store.add(SRC + "#", "IForest")
    store.verify(good)
    store.verify(bad, verifier=fake_verifier(passed=False))
    assert store.get(good).status == "certified"
    assert store.get(bad).status == "rejected"
    assert [v.passed for v in store.verifications(bad)] == [False]
    assert store.latest_verification(good).report["properties"][0]["name"] == "shape"


def test_certified_prefers_default_then_hardness(store):
    soft = store.add(SRC, "IForest")
    hard = store.add(SRC + "#hard", "IForest")
    other = store.add(SRC + "#lof", "LOF")
    store.verify(soft, verifier=fake_verifier(hardness=0.2))
    store.verify(hard, verifier=fake_verifier(hardness=0.9))
    store.verify(other)
    assert store.certified("IForest").sha256 == hard  # no default: highest hardness
    store.set_default("IForest", soft)
    assert store.certified("IForest").sha256 == soft
    with pytest.raises(NotCertified, match="no certified program"):
        store.certified("PCA")
    with pytest.raises(InvalidInput):
        store.set_default("IForest", other)


def test_set_default_refuses_uncertified(store):
    sha = store.add(SRC, "IForest")
    with pytest.raises(NotCertified, match="candidate"):
        store.set_default("IForest", sha)


def test_old_suite_certification_needs_reverification(tmp_path):
    path = tmp_path / "s.sqlite"
    with ProgramStore(path, suite_version="s1") as s:
        sha = s.add(SRC, "IForest")
        s.verify(sha, verifier=fake_verifier(suite="s1"))
        s.set_default("IForest", sha)
    with ProgramStore(path, suite_version="s2") as s:
        with pytest.raises(NotCertified, match="re-verification is needed"):
            s.certified("IForest")
        rv = fake_verifier(suite="s2")
        assert s.certified("IForest", reverify=rv).sha256 == sha
        assert len(rv.calls) == 1
        assert s.certified("IForest").sha256 == sha  # now current: no verifier needed
        assert [v.suite_version for v in s.verifications(sha)] == ["s1", "s2"]


def test_stale_without_default_says_reverify(tmp_path):
    path = tmp_path / "s.sqlite"
    with ProgramStore(path, suite_version="s1") as s:
        s.verify(s.add(SRC, "IForest"), verifier=fake_verifier(suite="s1"))
    with ProgramStore(path, suite_version="s2") as s:
        with pytest.raises(NotCertified, match="older suite"):
            s.certified("IForest")
        with pytest.raises(NotCertified):  # re-verification that fails does not certify
            s.certified("IForest", reverify=fake_verifier(suite="s2", passed=False))


def test_revocation_is_recorded_not_deleted(store):
    sha = store.add(SRC, "IForest")
    store.verify(sha)
    store.set_default("IForest", sha)
    store.revoke(sha, "copies training rows")
    assert store.get(sha).status == "revoked"
    with pytest.raises(NotCertified):
        store.certified("IForest")
    store.verify(sha)  # re-verifying never un-revokes
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
    store.verify(grand)
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
    store.verify(a)
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


def test_fallback_skips_tampered_and_puts_unknown_hardness_last(store):
    none = store.add(SRC + "#none", "IForest")
    low = store.add(SRC + "#low", "IForest")
    high = store.add(SRC + "#high", "IForest")
    store.record_verification(none, {}, passed=True, suite_version="s1")
    store.record_verification(low, {"hardness": 0.1}, passed=True, suite_version="s1")
    store.record_verification(high, {"hardness": 0.9}, passed=True, suite_version="s1")
    assert store.certified("IForest").sha256 == high
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE programs SET source = 'x' WHERE sha256 = ?", (high,))
    raw.commit()
    raw.close()
    assert store.certified("IForest").sha256 == low  # tampered one refused, next hardest used
    assert store.list(status="tampered")[0].sha256 == high


def test_verify_takes_hardness_attribute_and_rejects_bad_hardness(store):
    sha = store.add(SRC, "IForest")
    report = SimpleNamespace(passed=True, suite_version="s1", duration_s=0.0, hardness=0.8,
                             to_dict=lambda: {"properties": []})
    assert store.verify(sha, verifier=lambda s, d, seed=0: report).hardness == 0.8
    with pytest.raises(InvalidInput, match="hardness"):
        store.record_verification(sha, {"hardness": "very"}, passed=True, suite_version="s1")


def test_reverify_under_wrong_suite_is_not_certified(tmp_path):
    path = tmp_path / "s.sqlite"
    with ProgramStore(path, suite_version="s1") as s:
        sha = s.add(SRC, "IForest")
        s.verify(sha, verifier=fake_verifier(suite="s1"))
        s.set_default("IForest", sha)
    with ProgramStore(path, suite_version="s2") as s:
        with pytest.raises(NotCertified, match="failed re-verification"):
            s.certified("IForest", reverify=fake_verifier(suite="s1"))


def test_numpy_values_in_reports_are_stored_as_plain_json(store):
    import numpy as np

    sha = store.add(SRC, "IForest")
    ver = store.record_verification(sha, {"hardness": np.float32(0.25), "n": np.int64(3),
                                          "ok": np.bool_(True), "v": np.arange(2)},
                                    passed=np.bool_(True), suite_version="s1")
    assert ver.report == {"hardness": 0.25, "n": 3, "ok": True, "v": [0, 1]} and ver.hardness == 0.25
    with pytest.raises(InvalidInput, match="JSON"):
        store.record_verification(sha, {"x": object()}, passed=True, suite_version="s1")
