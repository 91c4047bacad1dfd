"""Recovering from a damaged store: tampered rows, 0-byte files, a store path that cannot exist."""
import sqlite3

import pytest

from das.program_store import ProgramStore, StoreError, TamperedProgram

SRC = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples] + 1.0\n"


def _tamper(path, sha):
    raw = sqlite3.connect(path)
    raw.execute("UPDATE programs SET source = ? WHERE sha256 = ?", (SRC + "import os\n", sha))
    raw.commit()
    raw.close()


@pytest.fixture
def tampered(tmp_path):
    path = tmp_path / "s.sqlite"
    with ProgramStore(path) as store:
        sha = store.add(SRC, "IForest")
        store.record_verification(sha, {"hardness": 0.6}, passed=True, suite_version="s1")
    _tamper(path, sha)
    return path, sha


def test_revoking_a_tampered_program_sticks(tampered):
    path, sha = tampered
    with ProgramStore(path) as store:
        with pytest.raises(TamperedProgram):
            store.get(sha)
        store.revoke(sha, "source was altered")
        assert [r.status for r in store.list()] == ["revoked"]
        with pytest.raises(TamperedProgram):  # still withheld
            store.get(sha)
    with ProgramStore(path) as store:
        assert store.list()[0].status == "revoked"
        assert [e["kind"] for e in store.events(sha)] == ["certified", "tampered", "revoked"]


def test_adding_the_genuine_source_restores_a_tampered_program(tampered):
    path, sha = tampered
    with ProgramStore(path) as store:
        with pytest.raises(TamperedProgram):
            store.get(sha)
        assert store.add(SRC, "IForest") == sha
        rec = store.get(sha)
        assert (rec.source, rec.status) == (SRC, "candidate")  # verified again before it runs
        assert store.events(sha)[-1]["kind"] == "restored"


def test_zero_byte_store_file_is_an_error_not_a_new_store(tmp_path):
    path = tmp_path / "programs.sqlite"
    path.write_bytes(b"")
    with pytest.raises(StoreError, match="empty .0-byte. file"):
        ProgramStore(path)
    assert path.read_bytes() == b""
    assert [p.name for p in tmp_path.iterdir()] == ["programs.sqlite"]


def test_new_store_is_created_whole_without_leftovers(tmp_path):
    path = tmp_path / "sub" / "programs.sqlite"
    with ProgramStore(path) as store:
        store.add(SRC, "IForest")
    assert path.stat().st_size > 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["programs.sqlite"]
    with ProgramStore(path) as store:
        assert len(store.list()) == 1


def test_das_home_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.write_text("not a directory")
    monkeypatch.setenv("DAS_HOME", str(home))
    with pytest.raises(StoreError, match=r"cannot create a store at .*check \$DAS_HOME"):
        ProgramStore()
