"""The console script ends a Ctrl-C during its imports with one line and exit 130."""
import sys
import types

import pytest

from das.engine.entry import run


class _InterruptedImport(types.ModuleType):
    def __getattr__(self, name):
        raise KeyboardInterrupt


def test_ctrl_c_while_the_cli_imports_is_one_line_and_exit_130(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "das.engine.cli", _InterruptedImport("das.engine.cli"))
    with pytest.raises(SystemExit) as stop:
        run()
    assert stop.value.code == 130
    assert capsys.readouterr().err == "Interrupted.\n"


def test_the_console_script_runs_the_click_group():
    import tomllib
    from pathlib import Path

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["das"] == "das.engine.entry:run"
