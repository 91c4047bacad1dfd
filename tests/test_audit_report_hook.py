"""``.pre-commit-hooks.yaml``: the das-audit hook runs ``das audit`` on the files it matches."""
import re
import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner

from das.engine.cli import main

REPO = Path(__file__).resolve().parents[1]
#: A corpus v3 answer (fenced LLM text) the runtime certifies for KNN.
USEFUL = REPO / "engine" / "corpus" / "responses" / "pca_7.md"


def _hook():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    return next(h for h in hooks if h["id"] == "das-audit")


def test_the_hook_matches_programs_in_synthesis_directories():
    files = re.compile(_hook()["files"])
    assert files.search("synthesis/iforest.py") and files.search("models/synthesis/knn.py")
    assert not files.search("src/synthesis_utils.py") and not files.search("synthesis/notes.md")


def test_the_hook_command_gates_on_the_verdict(tmp_path):
    hook = _hook()
    assert hook["language"] == "python" and hook["require_serial"] is True
    argv = shlex.split(hook["entry"])
    assert argv[0] == "das"
    bad = tmp_path / "bad.py"
    bad.write_text("import os\ndef generate_hard_anomalies(n_samples, model, X_train):\n    return X_train\n")
    # what pre-commit runs: entry + the README's args + the staged files
    args = argv[1:] + ["--detector", "PCA", "--seed", "12"]  # one recorded seed: a verdict that replays
    assert CliRunner().invoke(main, args + [str(USEFUL)]).exit_code == 0
    assert CliRunner().invoke(main, args + [str(USEFUL), str(bad)]).exit_code == 1


def test_the_readme_shows_how_to_use_the_hook():
    readme = (REPO / "README.md").read_text()
    assert "id: das-audit" in readme and "args: [--detector" in readme
