"""`das programs ...` and `das verify`: every command, text and --json, clean errors."""
import json
import sqlite3
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import das.collab.certification as certification
from das.engine.cli import main
from das.program_store import ProgramStore

SRC = "def generate(X, n):\n    return X[:n] + 3.0\n"


@pytest.fixture(autouse=True)
def fake_sandbox(monkeypatch):
    """Stand in for sandbox.verify_program / SUITE_VERSION (fast, deterministic)."""
    calls = []

    def verify(source, detector, seed=0):
        calls.append(source)
        passed = "FAIL" not in source
        props = [{"name": "novelty", "passed": passed, "value": 0.9, "threshold": 0.5, "detail": ""}]
        return SimpleNamespace(passed=passed, suite_version="s1", duration_s=0.01, hardness=0.7,
                               to_dict=lambda: {"borderline": 0.7, "seed": seed, "properties": props, "usefulness": {
                                   "means": {"base": 0.5, "random": 0.6, "program": 0.65},
                                   "margin": 0.05, "lower_bound": 0.012}})

    monkeypatch.setattr(certification, "_sandbox_verifier", lambda: verify)
    monkeypatch.setattr(certification, "_sandbox_suite_version", lambda: "s1")
    return calls


@pytest.fixture
def seeded(isolated_home):
    with ProgramStore() as s:
        parent = s.add(SRC, "IForest", policy="push points past the tails")
        child = s.add(SRC + "# v2\n", "IForest", policy="more", parent_sha256=parent)
        s.add(SRC + "# FAIL\n", "LOF")
    return parent, child


def run(*args, ok=True):
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert (res.exit_code == 0) == ok, res.output
    return res.output


def _walk(group, path):
    yield path
    for name, cmd in getattr(group, "commands", {}).items():
        yield from _walk(cmd, path + [name])


def test_every_command_has_help():
    paths = [p for p in _walk(main.commands["programs"], ["programs"])] + [["verify"]]
    assert {tuple(p) for p in paths} >= {("programs", c) for c in
                                         ("list", "show", "verify", "revoke", "export", "import", "history")}
    for p in paths:
        out = run(*p, "--help")
        assert "Usage:" in out
        if p != ["programs"]:
            assert "--json" in out and "--store" in out


def test_list_and_show(seeded):
    parent, _ = seeded
    assert run("programs", "list").count("candidate") == 3
    data = json.loads(run("programs", "list", "--detector", "IForest", "--json"))
    assert {d["sha256"] for d in data} == set(seeded) and "source" not in data[0]
    run("verify", parent[:10])
    header, *lines = run("programs", "list", "--detector", "IForest").splitlines()
    assert header.split()[:6] == ["sha256", "detector", "status", "borderline", "useful", "bound"]
    assert {line.split()[3] for line in lines} == {"0.700", "-"}  # verified, never verified
    assert {line.split()[4] for line in lines} == {"+0.050", "-"}  # margin over max(base, random)
    assert {line.split()[5] for line in lines} == {"+0.012", "-"}  # ... and its lower confidence bound
    out = run("programs", "show", parent[:8])
    assert "useful +0.0500 (90% lower bound +0.0120)" in out
    assert "push points past the tails" in out and "return X[:n] + 3.0" in out
    assert "PASSED" in out and "novelty" in out
    shown = json.loads(run("programs", "show", parent, "--json"))
    assert shown["program"]["source"] == SRC and shown["verifications"][0]["passed"] is True


def test_verify_variants(seeded, fake_sandbox):
    res = json.loads(run("programs", "verify", "--all", "--json"))  # the failing one never certified: exit 0
    assert sorted(r["status"] for r in res) == ["certified", "certified", "rejected"]
    assert len(fake_sandbox) == 3
    assert len(json.loads(run("verify", "--detector", "LOF", "--json"))) == 1
    assert "PASSED" in run("verify", "--detector", "IForest")
    assert "give program SHAs" in run("verify", ok=False)


def test_verify_all_fails_only_for_programs_that_count(seeded, monkeypatch):
    """A healthy store (certified programs pass; bundled ones that never certified fail again) exits 0;
    a program named by SHA that fails, or a certified program that fails now, exits 1."""
    with ProgramStore() as s:
        never = s.list(detector="LOF")[0].sha256
    out = run("verify", "--all")
    assert f"{never[:12]}  FAILED" in out and "(never certified)" in out
    assert "failed: novelty" in run("verify", never[:10], ok=False)
    monkeypatch.setattr(certification, "_sandbox_verifier", lambda: lambda source, detector, seed=0: SimpleNamespace(
        passed=False, suite_version="s1", duration_s=0.01, hardness=0.1,
        to_dict=lambda: {"properties": [{"name": "novelty", "passed": False, "value": 0.1}]}))
    res = CliRunner().invoke(main, ["verify", "--all"])
    assert res.exit_code == 1 and "2 of 3 program(s) failed verification" in res.output
    assert res.output.count("-> revoked") == 2


def test_adding_a_revoked_program_again_says_so_and_fails(seeded, tmp_path, fake_sandbox):
    parent, _ = seeded
    run("programs", "revoke", parent, "--reason", "copies rows")
    path = tmp_path / "again.py"
    path.write_text(SRC)
    calls = len(fake_sandbox)
    res = CliRunner().invoke(main, ["programs", "add", str(path), "-d", "IForest"])
    assert res.exit_code == 1 and "CERTIFIABLE" not in res.output
    assert f"program {parent[:12]} is revoked (copies rows); adding it again does not restore it" in res.output
    assert len(fake_sandbox) == calls  # the suite did not run
    with ProgramStore() as s:
        assert s.get(parent).status == "revoked"


def test_revoke_history_export_import(seeded, tmp_path, isolated_home):
    parent, child = seeded
    run("verify", "--all")
    assert "revoked" in run("programs", "revoke", parent, "--reason", "copies rows")
    assert "already revoked" in run("programs", "revoke", parent, "--reason", "x", ok=False)
    hist = run("programs", "history", child[:9])
    assert parent[:12] in hist and "PASSED" in hist and "seed=" in hist  # the seed that replays each
    h = json.loads(run("programs", "history", parent, "--json"))
    assert h["events"][-1]["kind"] == "revoked"
    out = tmp_path / "bundle.json"
    summary = json.loads(run("programs", "export", "--detector", "IForest", "--out", str(out), "--json"))
    assert summary["programs"] == [child]
    other = tmp_path / "other.sqlite"
    res = json.loads(run("programs", "import", str(out), "--store", str(other), "--json"))
    assert res == [{"sha256": child, "detector": "IForest", "status": "certified", "passed": True, "added": True}]
    assert "certified" in run("programs", "list", "--store", str(other))


def test_store_env_var(seeded, tmp_path, monkeypatch):
    monkeypatch.setenv("DAS_STORE", str(tmp_path / "empty.sqlite"))
    assert "certified on first use" in run("programs", "list")


def test_errors_are_clean_messages(seeded, tmp_path):
    parent, _ = seeded
    assert "no program matches" in run("programs", "show", "abcdef12", ok=False)
    assert "not a sha256 prefix" in run("programs", "show", "zz", ok=False)
    junk = tmp_path / "junk.sqlite"
    junk.write_text("hello")
    assert "not an SQLite database" in run("programs", "list", "--store", str(junk), ok=False)
    assert "cannot read bundle" in run("programs", "import", str(tmp_path / "nope.json"), ok=False)
    assert "nothing to export" in run("programs", "export", "--detector", "PCA", "--out",
                                      str(tmp_path / "x.json"), ok=False)
    _tamper(parent)
    assert "tampered" in run("programs", "show", parent, ok=False)
    assert "Traceback" not in run("programs", "show", parent, ok=False)


def _tamper(sha):
    with ProgramStore() as s:
        path = s.path
    raw = sqlite3.connect(path)
    raw.execute("UPDATE programs SET source = 'import os' WHERE sha256 = ?", (sha,))
    raw.commit()
    raw.close()


def test_verify_all_reports_tampered_rows_and_fails(seeded):
    parent, child = seeded
    _tamper(parent)
    res = CliRunner().invoke(main, ["verify", "--all"])
    assert res.exit_code == 1
    assert f"{parent[:12]}  TAMPERED" in res.output and f"{child[:12]}  PASSED" in res.output


def test_tampered_program_is_revoked_or_restored_from_the_cli(seeded, tmp_path):
    parent, child = seeded
    _tamper(parent)
    _tamper(child)
    assert "revoked" in run("programs", "revoke", parent, "--reason", "altered")
    listed = {r["sha256"]: r["status"] for r in json.loads(run("programs", "list", "--json"))}
    assert listed[parent] == "revoked" and listed[child] == "tampered"
    genuine = tmp_path / "child.py"
    genuine.write_text(SRC + "# v2\n")
    run("programs", "add", str(genuine), "-d", "iforest")
    assert json.loads(run("programs", "show", child, "--json"))["program"]["status"] == "certified"
    revoked = tmp_path / "parent.py"
    revoked.write_text(SRC)  # restores the tampered row, which stays revoked
    assert "it stays revoked and never runs" in run("programs", "add", str(revoked), "-d", "iforest", ok=False)


def test_add_own_program_prints_verdict_and_exit_code(tmp_path):
    prog = tmp_path / "answer.md"
    prog.write_text("Sure:\n```python\ndef generate_hard_anomalies(n_samples, model, X_train):\n"
                    '    """Shift rows off the data."""\n    return X_train[:n_samples] + 3.0\n```\n')
    out = run("programs", "add", str(prog), "--detector", "knn", "--default")
    assert "verdict: CERTIFIABLE" in out and "for KNN: certified (default)" in out
    listed = json.loads(run("programs", "list", "--json"))
    assert [(r["detector"], r["default"], r["policy"]) for r in listed] == [("KNN", True, "Shift rows off the data.")]
    assert "yes" in run("programs", "list").splitlines()[1]
    bad = tmp_path / "bad.py"
    bad.write_text(SRC.replace("def generate", "# FAIL\ndef generate"))
    assert "verdict: REJECTED" in run("programs", "add", str(bad), "-d", "KNN", ok=False)


def test_commands_that_only_read_make_no_store_at_a_mistyped_path(tmp_path):
    """The new-user walkthrough, M6: `das programs list --store /nonexistent/dir/x.sqlite` made the
    directory and an empty store."""
    typo = tmp_path / "no" / "such" / "x.sqlite"
    assert "no programs (no store at" in run("programs", "list", "--store", str(typo))
    assert json.loads(run("programs", "list", "--store", str(typo), "--json")) == []
    for args in (["show", "abcd1234"], ["history", "abcd1234"], ["export", "--detector", "IForest", "--out",
                                                                  str(tmp_path / "b.json")]):
        assert "no store at" in run("programs", *args, "--store", str(typo), ok=False)
    assert not (tmp_path / "no").exists() and not (tmp_path / "b.json").exists()


def test_a_verdicts_bound_is_printed_at_its_own_confidence():
    """Walkthrough 3, M9: a second look's bound (97.5 %) was printed as "90% lower bound"."""
    from types import SimpleNamespace

    from das.engine.cli.programs import _useful_text

    def verification(confidence):
        usefulness = {"margin": 0.03, "lower_bound": -0.0066, "confidence": confidence}
        return SimpleNamespace(report={"seed": 7, "usefulness": usefulness}, passed=False)

    assert "(97.5% lower bound -0.0066)" in _useful_text(verification(0.975))
    assert "(90% lower bound -0.0066)" in _useful_text(verification(0.9))
