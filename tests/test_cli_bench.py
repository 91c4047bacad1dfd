"""``das bench`` / ``das report`` option spellings and exit codes."""
import importlib

from click.testing import CliRunner

from engine.cli import main

bench_cli = importlib.import_module("engine.cli.bench")


def test_every_cell_failed_exits_non_zero(monkeypatch, tmp_path):
    import collab.bench.runner as runner

    def all_failed(out_dir, *args, **kwargs):
        return {"out": str(out_dir), "log": str(tmp_path / "cells.jsonl"), "n_cells": 2, "n_cached": 0,
                "n_run": 2, "n_ok": 0, "n_failed": 2, "wall_s": 0.1, "run": {},
                "failures": [{"dataset": "d", "detector": "ECOD", "seed": 0, "status": "error", "error": "boom"}] * 2}

    monkeypatch.setattr(runner, "run_benchmark", all_failed)
    monkeypatch.setattr(runner, "resolve_datasets", lambda names, data_dir: [("d", "d.npz")])
    res = CliRunner().invoke(main, ["bench", "-d", "ECOD", "--data", "d", "--methods", "base",
                                    "--out-dir", str(tmp_path)])
    assert res.exit_code == 1
    assert "Error: every one of the 2 cells run failed" in res.output
    res = CliRunner().invoke(main, ["bench", "--detectors", "ECOD", "--datasets", "d", "--methods", "base",
                                    "--out", str(tmp_path), "--json"])  # the old spellings still work
    assert res.exit_code == 1


def test_help_shows_the_new_spellings_only():
    out = CliRunner().invoke(main, ["bench", "--help"]).output
    assert "--detector" in out and "--data " in out and "--out-dir" in out
    assert "--detectors" not in out and "--datasets" not in out and "--out " not in out
