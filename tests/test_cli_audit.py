"""``das audit``: verdict text, JSON, exit codes and clean errors."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from das.engine.cli import main

PROGRAMS = Path(__file__).parent / "programs"
HONEST = PROGRAMS / "honest" / "knn_between_neighbours.py"
#: A corpus v3 answer (fenced LLM text) that the runtime certifies for PCA at seed 12. Its margin is
#: near the bound (it fails at seed 11), so the verdict needs the seed pinned: `--seed` replays it.
USEFUL_ANSWER = Path(__file__).parents[1] / "engine" / "corpus" / "responses" / "pca_7.md"
COPIER = PROGRAMS / "buggy" / "copies_training_rows.py"


@pytest.fixture
def cli():
    return CliRunner()


def test_help_lists_options(cli):
    res = cli.invoke(main, ["audit", "--help"])
    assert res.exit_code == 0
    for option in ("--detector", "--seed", "--json"):
        assert option in res.output


def test_useful_program_is_certifiable(cli, tmp_path):
    from das.engine.extract import program_source

    prog = tmp_path / "pca_feature_swap.py"
    prog.write_text(program_source(USEFUL_ANSWER.read_text()))
    res = cli.invoke(main, ["audit", str(prog), "--detector", "pca", "--seed", "12"])
    assert res.exit_code == 0, res.output
    assert "[PASS] harder_than_random" in res.output and "[PASS] useful" in res.output
    assert "detector PCA  seed 12  " in res.output and "90% lower bound" in res.output
    assert res.output.rstrip().endswith("verdict: CERTIFIABLE")


def test_honest_but_deep_program_is_rejected_as_useless(cli):
    # Sound code, but its rows sit deeper than the median normal row: das audit gives the runtime's verdict.
    res = cli.invoke(main, ["audit", str(HONEST), "--detector", "knn"])
    assert res.exit_code == 1, res.output
    assert "[PASS] harder_than_random" in res.output and "[FAIL] borderline" in res.output
    assert "deeper inside the normal data" in res.output  # the detail says why, not what the scale is
    assert res.output.rstrip().endswith("verdict: REJECTED")


def test_the_services_properties_are_listed_as_skipped_when_the_sandbox_suite_fails(cli):
    res = cli.invoke(main, ["audit", str(COPIER), "-d", "IForest"])
    assert res.exit_code == 1
    assert "[SKIP] useful, borderline: not run (the sandbox suite failed)" in res.output


def test_buggy_program_is_rejected_with_reason_as_json(cli):
    res = cli.invoke(main, ["audit", str(COPIER), "-d", "IForest", "--json", "--seed", "1"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.output)
    assert data["verdict"] == "REJECTED" and data["seed"] == 1
    novel = next(p for p in data["properties"] if p["name"] == "novel")
    assert not novel["passed"] and "copies of training rows" in novel["detail"]


def test_audit_rejection_text_names_line_and_rule(cli, tmp_path):
    prog = tmp_path / "bad.py"
    prog.write_text(
        "import os\n\ndef generate_hard_anomalies(n_samples, model, X_train):\n"
        "    return X_train\n"
    )
    res = cli.invoke(main, ["audit", str(prog), "-d", "IForest"])
    assert res.exit_code == 1
    assert "[FAIL] audit" in res.output and "Line 1:" in res.output
    assert "verdict: REJECTED" in res.output


def test_missing_file_is_a_usage_error(cli, tmp_path):
    res = cli.invoke(main, ["audit", str(tmp_path / "nope.py"), "-d", "IForest"])
    assert res.exit_code == 2
    assert "does not exist" in res.output


def test_unknown_detector_is_a_usage_error(cli):
    res = cli.invoke(main, ["audit", str(HONEST), "-d", "NoSuchDetector"])
    assert res.exit_code == 2
    assert "Invalid value for '--detector'" in res.output


def test_undecodable_file_gives_clean_error(cli, tmp_path):
    prog = tmp_path / "binary.py"
    prog.write_bytes(b"\xff\xfe\x00bad")
    res = cli.invoke(main, ["audit", str(prog), "-d", "IForest"])
    assert res.exit_code == 1
    assert "cannot read program file" in res.output
    assert "Traceback" not in res.output


def test_llm_answer_with_fences_is_audited_as_its_code(cli):
    res = cli.invoke(main, ["audit", str(USEFUL_ANSWER), "-d", "PCA", "--seed", "12"])
    assert res.exit_code == 0, res.output
    assert "syntax-error" not in res.output and res.output.rstrip().endswith("verdict: CERTIFIABLE")
    assert "borderline: " in res.output and "depth: " in res.output


def test_reject_text_skips_unrun_properties_without_borderline_or_cut_values(cli, tmp_path):
    prog = tmp_path / "bad.py"
    prog.write_text("def generate_hard_anomalies(n_samples, model, X_train)\n    return X_train\n")
    res = cli.invoke(main, ["audit", str(prog), "-d", "IForest"])
    assert res.exit_code == 1
    assert ": None" not in res.output and "..." not in res.output
    assert not [line for line in res.output.splitlines() if line.startswith(("borderline:", "depth:"))]
    assert "[SKIP] runs, shape, finite" in res.output and "not run (the static checks failed)" in res.output
    assert "[FAIL] signature: syntax error" in res.output


def test_python_file_with_backticks_in_a_docstring_is_read_as_is():
    from das.engine.extract import program_source

    source = 'def generate_hard_anomalies(n_samples, model, X_train):\n    """Use ```np.tile```."""\n    return X_train\n'
    assert program_source(source) == source


def test_html_folder_that_cannot_be_made_is_a_usage_error_before_the_audit(cli, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    res = cli.invoke(main, ["audit", str(HONEST), "-d", "KNN", "--html", str(blocker / "sub")])
    assert res.exit_code == 2 and "cannot create" in res.output and "Traceback" not in res.output
    assert "verdict" not in res.output  # refused before anything ran


#: An LLM answer whose code sits below prose, with an example call the extractor drops.
ANSWER_MD = ("Here is the program you asked for.\n\nIt shifts rows out of the data.\n```python\n"
             "import numpy as np\n\n\ndef generate_hard_anomalies(n_samples, model, X_train):\n"
             "    \"\"\"Shift rows.\"\"\"\n    f = eval('1')\n    return X_train[:n_samples] + f\n\n\n"
             "X = generate_hard_anomalies(3, None, None)\n```\nHope it helps.\n")
EVAL_LINE = ANSWER_MD.splitlines().index("    f = eval('1')") + 1  # 10


def test_line_numbers_of_a_fenced_answer_are_the_files_in_text_html_and_sarif(cli, tmp_path):
    answer = tmp_path / "answer.md"
    answer.write_text(ANSWER_MD)
    text = cli.invoke(main, ["audit", str(answer), "-d", "IForest", "--html", str(tmp_path / "html")])
    assert text.exit_code == 1 and f"Line {EVAL_LINE}: forbidden-name" in text.output
    page = next((tmp_path / "html").glob("*.html")).read_text()
    assert f'<li class="flagged" id="L{EVAL_LINE}">    f = eval(' in page
    sarif = json.loads(cli.invoke(main, ["audit", str(answer), "-d", "IForest", "--format", "sarif"]).output)
    lines = {r["ruleId"]: r["locations"][0]["physicalLocation"]["region"]["startLine"]
             for r in sarif["runs"][0]["results"]}
    assert lines["audit/forbidden-name"] == EVAL_LINE


def test_bidi_characters_are_a_finding_in_text_and_sarif(cli, tmp_path):
    prog = tmp_path / "trojan.py"
    prog.write_text("def generate_hard_anomalies(n_samples, model, X_train):\n"
                    "    access = 'user\u202e \u2066# check if admin\u2069 \u2066'\n"
                    "    return X_train[:n_samples] + 3.0\n", encoding="utf-8")
    text = cli.invoke(main, ["audit", str(prog), "-d", "IForest"])
    assert text.exit_code == 1 and "Line 2: bidi-control: U+202E" in text.output and "\u202e" not in text.output
    sarif = json.loads(cli.invoke(main, ["audit", str(prog), "-d", "IForest", "--format", "sarif"]).output)
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["audit/bidi-control"]
