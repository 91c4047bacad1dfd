"""``das bench`` / ``das report`` option spellings and exit codes."""
import importlib
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from das.collab.synthesis import CertifiedProgram, NoEnhancement, RandomOutliers
from das.engine.cli import main

bench_cli = importlib.import_module("das.engine.cli.bench")


def test_every_cell_failed_exits_non_zero(monkeypatch, tmp_path):
    import das.collab.bench.runner as runner

    def all_failed(out_dir, *args, **kwargs):
        return {"out": str(out_dir), "log": str(tmp_path / "cells.jsonl"), "n_cells": 2, "n_cached": 0,
                "n_run": 2, "n_ok": 0, "n_failed": 2, "wall_s": 0.1, "run": {},
                "failures": [{"dataset": "d", "detector": "ECOD", "seed": 0, "status": "error", "error": "boom"}] * 2}

    monkeypatch.setattr(runner, "run_benchmark", all_failed)
    monkeypatch.setattr(runner, "resolve_datasets", lambda names, data_dir: [("d", "d.npz")])
    monkeypatch.setattr(runner, "check_measurable", lambda *a: None)
    res = CliRunner().invoke(main, ["bench", "-d", "ECOD", "--data", "d", "--methods", "base",
                                    "--out-dir", str(tmp_path)])
    assert res.exit_code == 1
    assert "Error: every one of the 2 cells run failed" in res.output
    res = CliRunner().invoke(main, ["bench", "--detectors", "ECOD", "--datasets", "d", "--methods", "base",
                                    "--out", str(tmp_path), "--json"])  # the old spellings still work
    assert res.exit_code == 1


def _grid_whose_one_cell_failed(out_dir):
    """``das bench`` into ``out_dir`` on data with one normal row: the split needs two, so the cell fails."""
    np.savez(out_dir.parent / "d.npz", X=np.random.default_rng(0).normal(size=(20, 2)), y=np.r_[0, np.ones(19)])
    res = CliRunner().invoke(main, ["bench", "--data", str(out_dir.parent / "d.npz"), "-d", "ECOD", "--methods",
                                    "base", "--out-dir", str(out_dir), "--jobs", "1", "--no-progress"])
    assert res.exit_code == 1, res.output


def test_a_report_of_a_grid_where_no_cell_succeeded_says_so_and_exits_1(tmp_path):
    """Walkthrough 3, L8: `das report` over a bench directory whose only cell failed said "wrote 14 files", exit 0."""
    _grid_whose_one_cell_failed(tmp_path / "res")
    res = CliRunner().invoke(main, ["report", str(tmp_path / "res"), "--out-dir", str(tmp_path / "rep")])
    assert res.exit_code == 1 and "Error: no cell succeeded (1 failed): the report has no results" in res.output
    assert "Failed cells" in (tmp_path / "rep" / "report.md").read_text()
    res = CliRunner().invoke(main, ["report", str(tmp_path / "res"), "--out-dir", str(tmp_path / "rep"), "--json"])
    assert res.exit_code == 1 and __import__("json").loads(res.stdout)["n_ok"] == 0


def test_help_shows_the_new_spellings_only():
    out = CliRunner().invoke(main, ["bench", "--help"]).output
    assert "--detector" in out and "--data " in out and "--out-dir" in out
    assert "--detectors" not in out and "--datasets" not in out and "--out " not in out


def test_report_counts_its_files_reads_well_and_keeps_to_the_last_grid(tmp_path, certified_store, monkeypatch):
    import numpy as np

    monkeypatch.setenv("DAS_STORE", str(certified_store))  # the figures' ECOD program, certified once per run

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(60, 3)), rng.normal(5, 1, size=(6, 3))])
    for name in ("one", "two"):
        np.savez(tmp_path / f"{name}.npz", X=X, y=np.r_[np.zeros(60), np.ones(6)])
    res_dir, rep_dir = tmp_path / "res", tmp_path / "rep"
    for data in ("one", "one,two"):  # the second command reuses the directory with another grid
        args = ["bench", "--data-dir", str(tmp_path), "--data", data, "-d", "ECOD,IForest",
                "--methods", "base,random" if data == "one" else "base,gaussian",
                "--out-dir", str(res_dir), "--jobs", "1", "--no-progress"]
        assert CliRunner().invoke(main, args).exit_code == 0
    res = CliRunner().invoke(main, ["report", str(res_dir), "--out-dir", str(rep_dir), "--json"])
    assert res.exit_code == 0, res.output
    summary = __import__("json").loads(res.stdout)
    # The density and embedding figures recompute with the detector's certified program.
    fig_dir = tmp_path / "fig"
    res = CliRunner().invoke(main, ["report", str(res_dir), "--out-dir", str(fig_dir), "--figure-data", "one",
                                    "--data-dir", str(tmp_path), "--figure-detector", "ECOD"])
    assert res.exit_code == 0, res.output
    assert (fig_dir / "density_one_ECOD.png").exists()
    assert (summary["n_records"], summary["n_failed"], summary["n_left_out"]) == (4, 0, 2)
    assert sorted(summary["files"]) == sorted(p.name for p in rep_dir.iterdir())
    assert not (rep_dir / "failures.md").exists()
    md = (rep_dir / "report.md").read_text()
    assert "Failed cells" not in md and "left out" in md
    assert "- detectors: ECOD, IForest" in md and "['" not in md and "{'" not in md
    summary_md = (rep_dir / "summary_auc_pr.md").read_text()
    percents = [line.split("|")[7].strip() for line in summary_md.splitlines()[4:]]
    assert percents and all(len(p.split(".")[1]) == 1 for p in percents)


def test_a_detector_without_a_certified_program_runs_the_methods_that_need_none(monkeypatch, tmp_path):
    import das.collab.bench.runner as runner

    seen = {}

    def record(out_dir, data, dets, seeds, methods, programs, **kwargs):
        from das.collab.bench.grid import make_cells

        seen["cells"] = make_cells(data, dets, seeds, methods, programs, protocol="t",
                                   auto_candidates=kwargs["auto_candidates"])
        return {"out": str(out_dir), "log": str(tmp_path / "cells.jsonl"), "n_cells": 2, "n_cached": 0,
                "n_run": 2, "n_ok": 2, "n_failed": 0, "wall_s": 0.1, "run": {}, "failures": []}

    monkeypatch.setattr(runner, "run_benchmark", record)
    monkeypatch.setattr(runner, "resolve_datasets", lambda names, data_dir: [("d", __file__)])
    monkeypatch.setattr(runner, "check_measurable", lambda *a: None)
    monkeypatch.setattr(bench_cli, "candidates", lambda det, store: [NoEnhancement(), RandomOutliers()] + (
        [CertifiedProgram("src", "b" * 64)] if det == "ECOD" and store == str(tmp_path / "s.db") else []))
    monkeypatch.setattr(bench_cli, "available_programs", lambda dets, store: (
        {"ECOD": type("Rec", (), {"sha256": "a" * 64, "source": "src"})()},
        {"DRL": "no bundled program for DRL passed verification"}))
    res = CliRunner().invoke(main, ["bench", "-d", "ECOD,DRL", "--data", "d", "--methods", "base,sum,auto",
                                    "--out-dir", str(tmp_path), "--store", str(tmp_path / "s.db")])
    assert res.exit_code == 0, res.output
    assert "Warning: no bundled program for DRL passed verification" in res.output
    methods = {c.detector: c.methods for c in seen["cells"]}
    assert methods == {"ECOD": ("base", "sum", "auto"), "DRL": ("base", "auto")}
    # auto chooses among the programs of --store (read once, carried by the cells, part of their key)
    auto = {c.detector: [x.name for x in c.auto_candidates] for c in seen["cells"]}
    assert auto == {"ECOD": ["none", "random", "program:bbbbbbbbbbbb"], "DRL": ["none", "random"]}
    ecod = next(c for c in seen["cells"] if c.detector == "ECOD")
    assert ecod.key() != replace(ecod, auto_candidates=ecod.auto_candidates[:2]).key()


def _no_run(*args, **kwargs):
    raise AssertionError("the grid ran before the arguments were checked")


@pytest.mark.parametrize("args, message", [
    (["--jobs", "0"], "Invalid value for '--jobs'"),
    (["--jobs", "-3"], "Invalid value for '--jobs'"),
    (["-d", "IForest,Bogus"], "Bogus"),
    (["--seeds", "0,-1"], "-1 is not a seed"),  # walkthrough 3, M8: recorded as an "ok" cell at seed -1
    (["--seeds", str(2**32)], "is not a seed"),
    # walkthrough 3, L7: "Invalid value for '--methods': --methods: unknown foo" named the option twice
    (["--methods", "foo"], "Invalid value for '--methods': unknown foo; choose from base,"),
    (["--methods", "base,,sum"], "Invalid value for '--methods': expected a comma-separated list"),
    (["--seeds", "0,x"], "Invalid value for '--seeds': expected comma-separated integers"),
    (["-d", "ECOD,"], "expected a comma-separated list, got 'ECOD,'"),
])
def test_a_bad_bench_argument_is_a_usage_error_that_writes_nothing(monkeypatch, tmp_path, args, message):
    """The new-user walkthrough, L3: exit 1 and an --out-dir left with command.txt and environment.json."""
    import das.collab.bench.runner as runner

    monkeypatch.setattr(runner, "run_benchmark", _no_run)
    np.savez(tmp_path / "d.npz", X=np.ones((4, 2)), y=np.zeros(4))
    res = CliRunner().invoke(main, ["bench", "--data", str(tmp_path / "d.npz"), "--methods", "base",
                                    "--out-dir", str(tmp_path / "out"), *args])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_bench_shows_a_data_warning_once_as_other_commands_do(tmp_path):
    """The new-user walkthrough: each cell printed Python's raw warning with its source line."""
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=(66, 3)), np.ones(66)]
    np.savez(tmp_path / "k.npz", X=X, y=np.r_[np.zeros(60), np.ones(6)])
    res = CliRunner().invoke(main, ["bench", "--data", str(tmp_path / "k.npz"), "-d", "ECOD,PCA", "--seeds", "0,1",
                                    "--methods", "base", "--jobs", "1", "--no-progress",
                                    "--out-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines() == ["Warning: k.npz: 1 constant column(s) (3) carry no information (--drop them)"]
    assert "das_warnings" not in (tmp_path / "out" / "cells.jsonl").read_text()


def test_an_unknown_figure_detector_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(main, ["report", str(tmp_path), "--out-dir", str(tmp_path / "rep"),
                                    "--figure-detector", "Bogus"])
    assert res.exit_code == 2 and "unknown detector 'Bogus'" in res.output and not (tmp_path / "rep").exists()


def test_run_benchmark_checks_its_executor_before_writing(tmp_path):
    from das.collab.bench.errors import BenchError
    from das.collab.bench.runner import run_benchmark

    for kwargs, message in [({"n_jobs": 0}, "--jobs must be >= 1"), ({"executor": "ray"}, "unknown executor")]:
        with pytest.raises(BenchError, match=message):
            run_benchmark(tmp_path / "out", [], ["ECOD"], [0], ("base",), {}, progress=False, **kwargs)
        assert not (tmp_path / "out").exists()


def test_report_writes_beside_the_results_without_out_dir(tmp_path):
    """Walkthrough 4, L8: `das report DIR` without --out-dir was 'Missing option'."""
    _grid_whose_one_cell_failed(tmp_path / "res")
    for results in (tmp_path / "res", tmp_path / "res" / "cells.jsonl"):
        (tmp_path / "res" / "report.md").unlink(missing_ok=True)
        res = CliRunner().invoke(main, ["report", str(results)])
        assert res.exit_code == 1 and "no cell succeeded" in res.output  # the report is written all the same
        assert "Failed cells" in (tmp_path / "res" / "report.md").read_text()
