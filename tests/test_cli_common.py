"""Behaviour every ``das`` command shares: Ctrl-C, output paths, option spellings, program prefixes."""
import importlib
import json
from types import SimpleNamespace

from click.testing import CliRunner

import das.collab.certification as certification
from das.collab.synthesis import CertifiedProgram
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
    res = CliRunner().invoke(main, ["data", "info", "whatever.csv", "--json"])  # walkthrough 5: stdout was empty
    assert res.exit_code == 130 and res.stderr.strip() == "Interrupted."
    assert json.loads(res.stdout) == {"error": "interrupted", "exit_code": 130}


def test_four_character_prefix_resolves_like_programs_show(monkeypatch):
    report = SimpleNamespace(passed=True, suite_version="s1", duration_s=0.0, hardness=0.7,
                             to_dict=lambda: {"borderline": 0.7})
    monkeypatch.setattr(certification, "_sandbox_verifier", lambda: lambda src, det, seed=0: report)
    monkeypatch.setattr(certification, "_sandbox_suite_version", lambda: "s1")
    with ProgramStore() as store:
        sha = store.add(SRC, "IForest")
        certification.Certification(store).verify(sha)
    shown = CliRunner().invoke(main, ["programs", "show", sha[:4]])
    assert shown.exit_code == 0 and sha in shown.output
    assert certification.resolve_source(sha[:4], "IForest") == CertifiedProgram(SRC, sha)
    assert certification.resolve_source(sha[:4].upper(), "IForest") == CertifiedProgram(SRC, sha)


def test_no_sandbox_on_this_machine_is_one_clear_line(tmp_path, monkeypatch):
    """Without user namespaces the sandbox cannot start: one line and exit 1, not a traceback."""
    from das.sandbox import isolation, zygote

    def unavailable(*args, **kwargs):
        raise isolation.SandboxUnavailable("cannot start the sandbox: user namespaces are disabled "
                                           f"(set {isolation.OPT_IN_VAR}=1 to run without isolation)")

    monkeypatch.setattr(zygote, "get_zygote", unavailable)
    path = tmp_path / "prog.py"
    path.write_text("def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples] + 3\n")
    res = CliRunner().invoke(main, ["programs", "add", str(path), "--detector", "IForest"])
    assert res.exit_code == 1, res.output
    assert res.output.strip() == ("Error: cannot start the sandbox: user namespaces are disabled "
                                  f"(set {isolation.OPT_IN_VAR}=1 to run without isolation)")
    assert "Traceback" not in res.output


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


def _commands_with_json(group=main, path=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands_with_json(command, (*path, name))
        elif any(p.name == "as_json" for p in command.params):
            yield (*path, name)


def test_with_json_every_commands_errors_are_json_with_the_same_exit_code(tmp_path):
    """Walkthrough 3, L11: `das select --data nosuch.csv --json` printed `Error: ...` as text."""
    import json

    commands = list(_commands_with_json())
    assert len(commands) > 10 and ("select",) in commands and ("data", "info") in commands
    for path in commands:  # a usage error, found before the command's own options are read
        res = CliRunner().invoke(main, [*path, "--json", "--no-such-option"])
        assert res.exit_code == 2, (path, res.output)
        error = json.loads(res.stdout)
        assert "No such option" in error["error"] and "--no-such-option" in error["error"], path
        assert error["exit_code"] == 2, path
    res = CliRunner().invoke(main, ["select", "--data", str(tmp_path / "nosuch.csv"), "-d", "IForest", "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout) == {"error": f"{tmp_path / 'nosuch.csv'}: no such file",
                                                             "exit_code": 1}
    res = CliRunner().invoke(main, ["select", "--data", str(tmp_path / "nosuch.csv"), "-d", "IForest"])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "{" not in res.output  # text without --json
