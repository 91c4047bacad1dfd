"""``das regenerate``: revoked programs, one failing detector among many, exit codes (fast fake verifier)."""
import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import das.collab.certification as certification
from das.detectors import DETECTOR_NAMES
from das.engine.cli import main
from das.program_store import InvalidInput


@pytest.fixture
def verdicts(monkeypatch):
    """Detector -> "pass" | "fail" | "raise"; every detector not named passes."""
    wanted = {}

    def verify(source, detector, seed=0):
        verdict = wanted.get(detector, "pass")
        if verdict == "raise":
            raise InvalidInput(f"store refused a {detector} report")
        passed = verdict == "pass"
        return SimpleNamespace(passed=passed, hardness=0.6, suite_version="s1", duration_s=0.0,
                               to_dict=lambda: {"borderline": 0.6, "passed": passed, "properties": []})

    monkeypatch.setattr(certification, "_sandbox_verifier", lambda: verify)
    return wanted


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_revoked_program_is_reported_revoked_and_the_rest_go_on(verdicts):
    first = json.loads(run("regenerate", "-d", "ECOD", "--json").stdout)["ECOD"]
    revoked = first[0]["sha256"]
    assert run("programs", "revoke", revoked, "--reason", "leaks").exit_code == 0
    res = run("regenerate", "-d", "all")
    assert res.exit_code == 0, res.output
    assert f"revoked    {revoked[:12]}" in res.output
    assert "never used again" in res.output
    for name in DETECTOR_NAMES:
        assert f"[{name}] candidate 0" in res.output


def test_any_detector_without_a_certified_program_fails_the_command(verdicts):
    verdicts.update(LOF="fail", KNN="raise")
    res = run("regenerate", "-d", "all")
    assert res.exit_code == 1
    assert "[KNN] failed: store refused a KNN report" in res.output
    assert "no program certified for KNN, LOF" in res.output
    assert "[OCSVM] candidate 0: certified" in res.output  # the detectors after KNN still ran


def test_zero_certified_exits_non_zero(verdicts):
    verdicts.update(ECOD="fail")
    res = run("regenerate", "-d", "ECOD", "--rounds", "0")
    assert res.exit_code == 1
    assert "0 program(s) certified" in res.output


def test_regenerate_restores_a_tampered_program(verdicts):
    import sqlite3

    from das.program_store import ProgramStore

    first = json.loads(run("regenerate", "-d", "ECOD", "--json").stdout)["ECOD"]
    sha = first[0]["sha256"]
    with ProgramStore() as store:
        path = store.path
    raw = sqlite3.connect(path)
    raw.execute("UPDATE programs SET source = 'import os' WHERE sha256 = ?", (sha,))
    raw.commit()
    raw.close()
    assert "TAMPERED" in run("verify", sha).output
    res = run("regenerate", "-d", "ECOD")
    assert res.exit_code == 0, res.output
    with ProgramStore() as store:
        assert store.get(sha).status == "certified"
        assert "restored" in [e["kind"] for e in store.events(sha)]


def test_rejected_candidates_show_no_borderline(verdicts):
    verdicts.update(ECOD="fail")
    res = run("regenerate", "-d", "ECOD", "--rounds", "0")
    assert "0.600" not in res.output and "rejected   " in res.output and "borderline -" in res.output


def test_show_report_prints_like_das_audit(monkeypatch):
    def verify(source, detector, seed=0):
        props = [{"name": "shape", "passed": False, "value": 3, "threshold": 0, "detail": "x" * 200},
                 {"name": "novel", "passed": False, "value": None, "threshold": 0.05,
                  "detail": "not run: the static checks failed"}]
        return SimpleNamespace(passed=False, hardness=0.0, suite_version="s1", duration_s=0.0,
                               format_text=lambda: "[FAIL] novel: None",
                               to_dict=lambda: {"borderline": 0.0, "passed": False, "properties": props})

    monkeypatch.setattr(certification, "_sandbox_verifier", lambda: verify)
    res = run("regenerate", "-d", "ECOD", "--rounds", "0", "--show-report")
    assert "[SKIP] novel: not run (the static checks failed)" in res.output
    assert ": None" not in res.output and "x" * 200 in res.output


def test_a_status_that_regenerating_changes_is_shown(verdicts):
    verdicts.update(ECOD="fail")
    sha = json.loads(run("regenerate", "-d", "ECOD", "--rounds", "0", "--json").stdout)["ECOD"][0]["sha256"]
    verdicts.update(ECOD="pass")
    res = run("regenerate", "-d", "ECOD", "--rounds", "0")
    assert f"certified  {sha[:12]} (was rejected)" in res.output
    assert "(was" not in run("regenerate", "-d", "ECOD", "--rounds", "0").output  # certified again: no change
