"""Every ``das`` command answers --help and is mentioned in the README."""
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from das.engine.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _walk(group, prefix=("das",)):
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path, command
        if isinstance(command, click.Group):
            yield from _walk(command, path)


COMMANDS = list(_walk(main))


def test_the_cli_has_the_documented_commands():
    names = {" ".join(path[1:2]) for path, _ in COMMANDS}
    assert {"audit", "bench", "data", "demo", "detectors", "enhance", "programs",
            "prompts", "regenerate", "report", "verify"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(main, [*path[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


@pytest.mark.parametrize(
    "path", [p for p, c in COMMANDS if not isinstance(c, click.Group)], ids=" ".join
)
def test_every_command_appears_in_the_readme(path):
    assert " ".join(path) in README, f"README does not mention `{' '.join(path)}`"


def _options(command):
    return [p for p in command.params if isinstance(p, click.Option)]


@pytest.mark.parametrize("path, command", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_option_names_mean_the_same_everywhere(path, command):
    for opt in _options(command):
        if "--detector" in opt.opts:
            assert "-d" in opt.opts, f"{' '.join(path)}: --detector without -d"
        assert "-d" not in opt.opts or "--detector" in opt.opts, f"{' '.join(path)}: -d is not --detector"
        for plural in ("--detectors", "--datasets"):
            assert plural not in opt.opts or "--detector" in opt.opts or "--data" in opt.opts, \
                f"{' '.join(path)}: {plural} is only an old spelling"
        if "--out" in opt.opts and "--out-dir" not in opt.opts:
            assert not opt.type.file_okay is False, f"{' '.join(path)}: --out names a file; a directory is --out-dir"
