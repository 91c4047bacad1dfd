"""Bundles: export/import round-trip and hash checks (records only; nothing is verified here)."""
import json

import pytest

from das.program_store import BundleError, InvalidInput, ProgramStore, export_bundle, import_bundle, read_bundle

SRC = "def generate(X, n):\n    return X[:n] * 2.0\n"


@pytest.fixture
def source_store(tmp_path):
    with ProgramStore(tmp_path / "a.sqlite") as s:
        parent = s.add(SRC, "IForest", policy="scale up")
        child = s.add(SRC + "# repaired\n", "IForest", policy="scale up more", parent_sha256=parent,
                      backend="replay", model="m", metadata={"round": 2})
        for sha in (parent, child):
            s.record_verification(sha, {"hardness": 0.4}, passed=True, suite_version="s1")
        s.add(SRC + "#lof", "LOF")
        yield s


def test_round_trip_imports_candidates_never_certificates(source_store, tmp_path):
    out = tmp_path / "b.json"
    summary = export_bundle(source_store, out, detector="IForest")
    assert len(summary["programs"]) == 2
    with ProgramStore(tmp_path / "b.sqlite") as dest:
        results = import_bundle(dest, out)
        assert [r["status"] for r in results] == ["candidate", "candidate"]
        assert all(dest.verifications(sha) == [] for sha in summary["programs"])
        for sha in summary["programs"]:
            a, b = source_store.get(sha), dest.get(sha)
            assert (a.source, a.policy, a.parent_sha256, a.metadata) == (b.source, b.policy, b.parent_sha256, b.metadata)
            assert [e["kind"] for e in dest.events(sha)] == ["imported"]
    bundle = json.loads(out.read_text())
    assert bundle["programs"][0]["verifications"][0]["report"]["hardness"] == 0.4


def _tamper(out, edit):
    bundle = json.loads(out.read_text())
    edit(bundle)
    out.write_text(json.dumps(bundle))


@pytest.mark.parametrize("edit, match", [
    (lambda b: b["programs"][0]["program"].update(source=SRC + "import os\n"), "bundle_sha256"),
    (lambda b: b.update(format="zip"), "not a das program bundle"),
    (lambda b: b.update(format_version=99), "bundle version"),
    (lambda b: b.update(programs=[]), "no programs"),
])
def test_modified_bundle_is_refused_before_writing(source_store, tmp_path, edit, match):
    out = tmp_path / "b.json"
    export_bundle(source_store, out, detector="IForest")
    _tamper(out, edit)
    with ProgramStore(tmp_path / "b.sqlite") as dest:
        with pytest.raises(BundleError, match=match):
            import_bundle(dest, out)
        assert dest.list() == []


def test_entry_hashes_checked_even_with_recomputed_bundle_hash(source_store, tmp_path):
    from das.program_store import record_sha256

    out = tmp_path / "b.json"
    export_bundle(source_store, out, detector="IForest")

    def forge(b):  # a forger who recomputes the outer hash but not the entry hash
        b["programs"][0]["program"]["source"] += "import os\n"
        b["bundle_sha256"] = record_sha256(b["programs"])

    _tamper(out, forge)
    with pytest.raises(BundleError, match="record hash"):
        read_bundle(out)

    def forge_all(b):  # ... or recomputes both: the source no longer hashes to its key
        e = b["programs"][0]
        e["record_sha256"] = record_sha256({"program": e["program"], "verifications": e["verifications"]})
        b["bundle_sha256"] = record_sha256(b["programs"])

    _tamper(out, forge_all)
    with pytest.raises(BundleError, match="does not hash"):
        read_bundle(out)


def test_unreadable_bundle_and_empty_selection(source_store, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BundleError, match="cannot read"):
        read_bundle(bad)
    with pytest.raises(BundleError, match="cannot read"):
        read_bundle(tmp_path / "missing.json")
    with pytest.raises(InvalidInput, match="nothing to export"):
        export_bundle(source_store, tmp_path / "x.json", detector="PCA")


def test_a_program_revoked_in_the_bundle_is_not_imported(source_store, tmp_path):
    sha = source_store.list(detector="LOF")[0].sha256
    source_store.revoke(sha, "bad")
    out = tmp_path / "b.json"
    export_bundle(source_store, out, shas=[sha])
    with ProgramStore(tmp_path / "b.sqlite") as dest:
        assert import_bundle(dest, out) == [{"sha256": sha, "detector": "LOF", "status": "skipped", "added": False}]
        assert dest.list() == []


def _hostile_bundle(tmp_path, programs):
    """A well-formed bundle whose entries are ``programs`` (hashes recomputed: the attacker made it)."""
    from das.program_store import record_sha256

    entries = []
    for program in programs:
        body = {"program": program, "verifications": []}
        entries.append(dict(body, record_sha256=record_sha256(body)))
    out = tmp_path / "hostile.json"
    out.write_text(json.dumps({"format": "das-program-bundle", "format_version": 1, "programs": entries,
                               "bundle_sha256": record_sha256(entries)}))
    return out


def test_an_import_never_revokes_replaces_or_drops_a_default(source_store, tmp_path):
    """The attack: a bundle naming the user's certified default as revoked (revocation is final)."""
    sha = source_store.list(detector="IForest")[0].sha256
    source_store.set_default("IForest", sha)
    mine = source_store.get(sha)
    out = _hostile_bundle(tmp_path, [
        {"sha256": sha, "detector": "LOF", "source": mine.source, "policy": "theirs", "status": "revoked"},
        {"sha256": sha, "detector": "LOF", "source": mine.source, "policy": "theirs", "status": "certified",
         "metadata": {"round": 9}},
    ])
    results = import_bundle(source_store, out)
    assert [(r["status"], r["added"]) for r in results] == [("skipped", False), ("certified", False)]
    after = source_store.get(sha)
    assert (after.status, after.detector, after.policy, after.metadata) == (
        "certified", mine.detector, mine.policy, mine.metadata)
    assert source_store.default("IForest") == sha
    assert len(source_store.verifications(sha)) == 1
