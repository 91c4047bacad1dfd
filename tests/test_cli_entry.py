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


def test_after_the_command_ctrl_c_is_ignored(monkeypatch):
    """Walkthrough 4, M1: a Ctrl-C while the interpreter exited (the scores written, the run recorded)
    gave exit 130 with no message, or an 'Exception ignored in atexit callback' traceback."""
    import signal

    monkeypatch.setattr(sys, "argv", ["das", "--version"])
    before = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as stop:
            run()
        assert stop.value.code == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_ctrl_c_during_the_interpreters_exit_keeps_exit_0_and_prints_no_traceback():
    import subprocess

    code = ("import atexit, os, signal, sys, time\n"
            "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(0.3)))\n"
            "sys.argv = ['das', 'detectors', 'list']\n"
            "from das.engine.entry import run\n"
            "run()\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "PCA" in res.stdout
    assert "Traceback" not in res.stderr and "KeyboardInterrupt" not in res.stderr, res.stderr
