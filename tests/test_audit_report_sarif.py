"""``sandbox.sarif``: SARIF 2.1.0 validated against the specification's object model.

pydantic-sarif's models are generated from the official sarif-schema-2.1.0.json
with unknown fields forbidden, so a misspelt or misplaced field fails here.
"""
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_sarif.model import StaticAnalysisResultsFormatSarifVersion210JsonSchema as SarifLog

from das.sandbox import audit_source, verify_program
from das.sandbox.sarif import Audited, to_sarif

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
    answer = "Here is the program:\n\n```python\n" + FORBIDDEN + "```\n"
    report = {"passed": False, "properties": []}
    run = _valid(to_sarif([Audited("answer.md", FORBIDDEN, report, text=answer)]))
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
