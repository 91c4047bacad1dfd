"""Behaviour every ``das`` command shares: Ctrl-C, output paths, option spellings, program prefixes."""
import importlib
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import das.collab.certification as certification
from das.engine.cli import main
from das.program_store import ProgramStore

data_cli = importlib.import_module("das.engine.cli.data")  # the package attribute is the click group
SRC = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples] + 3.0\n"


def test_ctrl_c_exits_130_with_one_line(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_cli, "dataset_info", interrupted)
    res = CliRunner().invoke(main, ["data", "info", "whatever.csv"])
    assert res.exit_code == 130
    assert res.output.strip() == "Interrupted."


def test_four_character_prefix_resolves_like_programs_show(monkeypatch):
    report = SimpleNamespace(passed=True, suite_version="s1", duration_s=0.0, hardness=0.7,
                             to_dict=lambda: {"hardness": 0.7})
    monkeypatch.setattr(certification, "_sandbox_verifier", lambda: lambda src, det, seed=0: report)
    monkeypatch.setattr(certification, "_sandbox_suite_version", lambda: "s1")
    with ProgramStore() as store:
        sha = store.add(SRC, "IForest")
        certification.Certification(store).verify(sha)
    shown = CliRunner().invoke(main, ["programs", "show", sha[:4]])
    assert shown.exit_code == 0 and sha in shown.output
    assert certification.resolve_program(sha[:4], "IForest") == (SRC, sha)
    assert certification.resolve_program(sha[:4].upper(), "IForest") == (SRC, sha)


def test_das_home_that_is_a_file_is_one_clear_line(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.write_text("oops")
    monkeypatch.setenv("DAS_HOME", str(home))
    res = CliRunner().invoke(main, ["programs", "list"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert f"{home} is not a directory (check $DAS_HOME" in res.output
    res = CliRunner().invoke(main, ["enhance", "--data", str(tmp_path / "no.csv"), "-d", "IForest"])
    assert res.exit_code == 2 and f"{home} is not a directory" in res.output  # before any data is read


def test_zero_byte_store_is_refused_from_the_cli(tmp_path):
    empty = tmp_path / "programs.sqlite"
    empty.write_bytes(b"")
    res = CliRunner().invoke(main, ["programs", "list", "--store", str(empty)])
    assert res.exit_code == 1 and "empty (0-byte) file, not a das store" in res.output
