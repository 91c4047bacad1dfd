"""``sandbox.sarif``: SARIF 2.1.0 validated against the specification's object model.

pydantic-sarif's models are generated from the official sarif-schema-2.1.0.json
with unknown fields forbidden, so a misspelt or misplaced field fails here.
"""
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_sarif.model import StaticAnalysisResultsFormatSarifVersion210JsonSchema as SarifLog

from das.sandbox import audit_source, verify_program
from das.sandbox.sarif import MAX_MESSAGE, MAX_RESULTS, Audited, to_sarif

PROGRAMS = Path(__file__).parent / "programs"
COPIER = PROGRAMS / "buggy" / "copies_training_rows.py"
FORBIDDEN = (
    "import os\n"
    "\n"
    "def generate_hard_anomalies(n_samples, model, X_train):\n"
    "    f = eval('1')\n"
    "    return X_train.__class__(X_train) + '\x1b[31m'\n"
)


def _valid(log):
    SarifLog.model_validate(log)  # raises on anything the 2.1.0 schema does not allow
    return log["runs"][0]


@pytest.fixture(scope="module")
def forbidden_log():
    return to_sarif([Audited("progs/bad one.py", FORBIDDEN, verify_program(FORBIDDEN, "IForest").to_dict())])


def test_the_validator_refuses_what_the_schema_forbids():
    log = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                         "results": [{"message": {"text": "m"}, "lineNumber": 3}]}]}
    with pytest.raises(ValidationError):
        SarifLog.model_validate(log)


def test_one_result_per_audit_finding_at_its_line(forbidden_log):
    run = _valid(forbidden_log)
    findings = audit_source(FORBIDDEN).findings
    assert len(findings) >= 3
    got = [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in run["results"]]
    assert got == [(f"audit/{f.rule}", f.line) for f in findings]
    assert ("audit/import-not-allowed", 1) in got


def test_rules_are_described_and_indexed(forbidden_log):
    run = _valid(forbidden_log)
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_uri_is_a_relative_reference_and_properties_not_run_are_listed(forbidden_log):
    run = _valid(forbidden_log)
    loc = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert loc == "progs/bad%20one.py"
    verdict = run["properties"]["programs"]["progs/bad%20one.py"]
    assert verdict["verdict"] == "REJECTED" and "harder_than_random" in verdict["notRun"]


def test_messages_carry_no_terminal_escapes(forbidden_log):
    assert "\x1b" not in str(forbidden_log)


def test_failed_properties_are_results_at_the_function_line():
    source = COPIER.read_text()
    report = verify_program(source, "IForest", seed=1).to_dict()
    run = _valid(to_sarif([Audited(COPIER.name, source, report)]))
    failed = {p["name"] for p in report["properties"] if not p["passed"]}
    assert "novel" in failed
    assert {r["ruleId"] for r in run["results"]} == {f"property/{name}" for name in failed}
    def_line = next(i for i, line in enumerate(source.splitlines(), 1) if line.startswith("def generate_hard"))
    novel = next(r for r in run["results"] if r["ruleId"] == "property/novel")
    assert novel["locations"][0]["physicalLocation"]["region"]["startLine"] == def_line
    assert "copies of training rows" in novel["message"]["text"]
    assert "threshold 0.05" in novel["message"]["text"]


def test_a_certifiable_program_has_no_results():
    source = (PROGRAMS / "honest" / "knn_between_neighbours.py").read_text()
    report = verify_program(source, "KNN").to_dict()
    assert report["passed"]
    run = _valid(to_sarif([Audited("knn.py", source, report)]))
    assert run["results"] == [] and run["properties"]["programs"]["knn.py"]["verdict"] == "CERTIFIABLE"


def test_lines_point_into_the_file_a_program_was_extracted_from():
    from das.engine.extract import program_source

    answer = ("Here is the program:\n\nIt shifts rows.\n```python\nimport numpy as np\n\n\n"
              "def generate_hard_anomalies(n_samples, model, X_train):\n    f = eval('1')\n"
              "    return X_train[:n_samples] + f\n\n\nX = generate_hard_anomalies(3, None, None)\n```\n")
    source = program_source(answer, in_place=True)
    run = _valid(to_sarif([Audited("answer.md", source, {"passed": False, "properties": []})]))
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in run["results"]]
    assert lines == [answer.splitlines().index("    f = eval('1')") + 1] == [9]


def _rules(run):
    return {r["id"]: r for r in run["tool"]["driver"]["rules"]}


def test_rules_have_help_and_security_rules_a_severity(forbidden_log):
    run = _valid(forbidden_log)
    rules = _rules(run)
    for rule in rules.values():
        assert rule["help"]["text"] and rule["help"]["markdown"]
    for rule_id in ("audit/import-not-allowed", "audit/forbidden-name", "audit/dunder-access", "audit/bidi-control"):
        severity = rules[rule_id]["properties"]["security-severity"]
        assert 0 < float(severity) <= 10 and "security" in rules[rule_id]["properties"]["tags"]
        assert rules[rule_id]["helpUri"].startswith("https://")


def test_levels_follow_the_kind_of_finding():
    source = COPIER.read_text()
    report = verify_program(source, "IForest", seed=1).to_dict()
    run = _valid(to_sarif([Audited(COPIER.name, source, report)]))
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["property/novel"] == "warning"  # a quality property: not a security or run error
    assert "security-severity" not in _rules(run)["property/novel"]["properties"]
    bad = _valid(to_sarif([Audited("bad.py", FORBIDDEN, {"passed": False, "properties": [
        {"name": "shape", "passed": False, "value": 3, "threshold": 4}]})]))
    levels = {r["ruleId"]: r["level"] for r in bad["results"]}
    assert levels["audit/forbidden-name"] == "error" and levels["property/shape"] == "error"


def test_fingerprints_survive_moved_lines_and_tell_twins_apart():
    twice = FORBIDDEN.replace("    f = eval('1')\n", "    f = eval('1')\n    f = eval('1')\n")
    first = _valid(to_sarif([Audited("a.py", twice, {"passed": False, "properties": []})]))["results"]
    moved = _valid(to_sarif([Audited("a.py", "\n\n\n" + twice, {"passed": False, "properties": []})]))["results"]
    prints = [r["partialFingerprints"]["dasFinding/v1"] for r in first]
    assert len(set(prints)) == len(prints)  # the two eval lines are two findings
    assert prints == [r["partialFingerprints"]["dasFinding/v1"] for r in moved]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in moved] == \
        [r["locations"][0]["physicalLocation"]["region"]["startLine"] + 3 for r in first]
    added = _valid(to_sarif([Audited("a.py", "import sys\n" + twice, {"passed": False, "properties": []})]))["results"]
    assert [r["partialFingerprints"]["dasFinding/v1"] for r in added][1:] == prints  # a new finding elsewhere
    edited = twice.replace("    f = eval('1')\n", "    g = eval('2')\n", 1)
    changed = _valid(to_sarif([Audited("a.py", edited, {"passed": False, "properties": []})]))["results"]
    assert len({r["partialFingerprints"]["dasFinding/v1"] for r in changed} - set(prints)) == 1


def test_bidi_and_control_characters_are_a_security_finding():
    source = ("def generate_hard_anomalies(n_samples, model, X_train):\n"
              "    mode = 'user\u202e \u2066# admin\u2069 \u2066'\n"
              "    return X_train[:n_samples] + 3.0\n")
    assert [(f.line, f.rule) for f in audit_source(source).findings] == [(2, "bidi-control")]
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE) and 3 more" in audit_source(source).findings[0].message
    run = _valid(to_sarif([Audited("t.py", source, {"passed": False, "properties": []})]))
    assert [r["ruleId"] for r in run["results"]] == ["audit/bidi-control"]
    assert "\u202e" not in json.dumps(run, ensure_ascii=False)
    assert audit_source("def generate_hard_anomalies(n_samples, model, X_train):\n\treturn X_train\r\n").ok


def test_sarif_size_is_bounded_by_the_program():
    evil = "def generate_hard_anomalies(n_samples, model, X_train):\n" + "".join(
        f"    v{i} = X_train.__class__.__{'x' * 60}__\n" for i in range(3000)) + "    return X_train\n"
    detail = "boom " * 200_000  # a property detail of 1 MB
    report = {"passed": False, "properties": [{"name": "runs", "passed": False, "value": 0, "threshold": 1,
                                               "detail": detail}]}
    log = to_sarif([Audited("evil.py", evil, report)])
    run = _valid(log)
    size = len(json.dumps(log))
    assert size < len(evil) and size < 300_000
    assert len(run["results"]) == MAX_RESULTS + 1 and "more findings not listed" in run["results"][-1]["message"]["text"]
    assert all(len(r["message"]["text"]) <= MAX_MESSAGE for r in run["results"])
    clean = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples] + 1.0\n"
    only = _valid(to_sarif([Audited("p.py", clean, report)]))["results"]
    assert [r["ruleId"] for r in only] == ["property/runs"] and len(only[0]["message"]["text"]) == MAX_MESSAGE
