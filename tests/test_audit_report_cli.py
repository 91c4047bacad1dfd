"""``das audit --format sarif / --html`` and ``das programs show --html``: exit codes and files."""
import json
from pathlib import Path

from click.testing import CliRunner
from pydantic_sarif.model import StaticAnalysisResultsFormatSarifVersion210JsonSchema as SarifLog

from das.engine.cli import main
from das.engine.extract import program_source
from das.program_store import ProgramStore
from das.sandbox import verify_program

PROGRAMS = Path(__file__).parent / "programs"
#: A corpus v3 answer (fenced LLM text), certifiable for PCA at seed 12 (near the bound: the seed is pinned).
USEFUL = PROGRAMS.parents[1] / "engine" / "corpus" / "responses" / "pca_7.md"
HOSTILE = ("import os\n# </script><script>alert(1)</script>\n"
           "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train  # \x1b[31m\n")


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_sarif_for_several_files_exits_1_when_one_is_rejected(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(HOSTILE)
    res = _invoke("audit", USEFUL, bad, "-d", "PCA", "--seed", 12, "--format", "sarif")
    assert res.exit_code == 1, res.output
    log = json.loads(res.output)
    SarifLog.model_validate(log)
    run = log["runs"][0]
    assert [a["location"]["uri"] for a in run["artifacts"]] == [USEFUL.as_posix(), bad.as_posix()]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]} == {
        bad.as_posix()}
    verdicts = {uri: v["verdict"] for uri, v in run["properties"]["programs"].items()}
    assert verdicts == {USEFUL.as_posix(): "CERTIFIABLE", bad.as_posix(): "REJECTED"}


def test_sarif_of_a_certifiable_program_exits_0():
    res = _invoke("audit", USEFUL, "-d", "PCA", "--seed", 12, "--format", "sarif")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["runs"][0]["results"] == []


def test_html_report_of_a_hostile_program(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(HOSTILE)
    res = _invoke("audit", bad, "-d", "IForest", "--html", tmp_path / "reports")
    assert res.exit_code == 1
    page = tmp_path / "reports" / "bad.py.html"
    assert f"report written to {page}" in res.output and "verdict: REJECTED" in res.output
    text = page.read_text()
    assert "<script" not in text and "\x1b" not in text and "<mark>\\x1b" in text


def test_programs_show_html_uses_the_latest_verification(tmp_path, isolated_home):
    source = program_source(USEFUL.read_text())
    report = verify_program(source, "PCA", seed=12)
    with ProgramStore() as store:
        sha = store.add(source, "PCA", policy="feature swap")
        store.record_verification(sha, report.to_dict(), report.passed, report.suite_version)
    res = _invoke("programs", "show", sha[:8], "--html", tmp_path)
    assert res.exit_code == 0, res.output
    text = (tmp_path / f"{sha[:12]}.html").read_text()
    assert 'id="verdict">CERTIFIABLE' in text and "<td>harder_than_random</td><td>pass</td>" in text
    assert 'src="data:image/svg+xml;base64,' in text


def test_programs_show_html_without_a_verification_is_an_error(tmp_path, isolated_home):
    with ProgramStore() as store:
        sha = store.add(program_source(USEFUL.read_text()), "PCA")
    res = _invoke("programs", "show", sha, "--html", tmp_path)
    assert res.exit_code == 1
    assert "has no verification to report" in res.output


def test_audit_says_when_the_program_is_already_in_the_store_and_never_makes_one(tmp_path):
    """Walkthrough 4, M5: one audit judges one fresh draw; the store's verdict pools them all, so the
    audit names it. With no store file, none is made."""
    bad = tmp_path / "bad.py"
    bad.write_text(HOSTILE)
    store = tmp_path / "s.sqlite"
    res = _invoke("audit", bad, "-d", "IForest", "--store", store)
    assert res.exit_code == 1 and "in the store" not in res.output and not store.exists()
    with ProgramStore(store) as st:
        sha = st.add(HOSTILE, "IForest")
    res = _invoke("audit", bad, "-d", "IForest", "--store", store)
    assert f"in the store: candidate for IForest ({sha[:12]})" in res.output
    res = _invoke("audit", bad, "-d", "IForest", "--store", store, "--json")
    assert json.loads(res.output)["in_store"] == f"candidate for IForest ({sha[:12]})"
