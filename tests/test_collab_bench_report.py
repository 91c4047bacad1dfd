"""Tables, plots, report assembly and the ``das bench`` / ``das report`` commands."""
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from das.collab.bench import tables
from das.collab.bench.errors import BenchError
from das.collab.bench.log import ResultLog
from das.collab.bench.plots import plot_embedding, plot_score_densities
from das.collab.bench.report import build_report, load_records
from das.engine.cli import main

BASE = {"d1": 0.5, "d2": 0.6, "d3": 0.7}
SUM = {"d1": 0.6, "d2": 0.65, "d3": 0.7}


def _record(ds, det, status="ok", seed=0):
    rec = {"key": f"{ds}-{det}-{seed}", "dataset": ds, "detector": det, "seed": seed, "status": status,
           "elapsed_s": 2.0, "error": None if status == "ok" else "ValueError: boom"}
    if status == "ok":
        rec["metrics"] = {"base": {"auc_pr": BASE[ds], "auc_roc": 0.9},
                          "sum": {"auc_pr": SUM[ds], "auc_roc": 0.8}}
        rec["timings"] = {"base_fit": 1.0, "base_score": 0.5, "synthesis": 0.25, "classifier_fit": 0.5,
                          "enhanced_score": 0.1, "collate_fit": 0.0}
    return rec


@pytest.fixture
def records():
    recs = [_record(ds, "IForest") for ds in BASE]
    recs.append(_record("d1", "PCA", status="timeout"))
    return recs


def test_summary_table_matches_hand_values(records):
    header, rows = tables.summary_table(records, "auc_pr")
    assert len(rows) == 1
    row = dict(zip(header, rows[0]))
    assert (row["detector"], row["method"], row["n"]) == ("IForest", "sum", 3)
    assert row["base mean"] == pytest.approx(0.6) and row["delta"] == pytest.approx(0.05)
    assert (row["wins"], row["ties"], row["losses"]) == (2, 1, 0)
    assert row["p (one-tailed)"] == pytest.approx(0.5 * (1 - math.sqrt(3 / 5)))
    _, roc = tables.summary_table(records, "auc_roc")
    assert roc[0][7:10] == [0, 0, 3]  # AUC-ROC got worse on every dataset


def test_per_dataset_runtime_and_failure_tables(records):
    header, rows = tables.metric_table(records, "auc_pr")
    assert header == ["dataset", "IForest base", "IForest sum"]
    assert [r[0] for r in rows] == ["d1", "d2", "d3", "Average"]
    assert rows[-1][1] == pytest.approx(0.6) and rows[-1][2] == pytest.approx(0.65)
    header, rows = tables.runtime_table(records)
    row = dict(zip(header, rows[0]))
    assert row["enh. train"] == pytest.approx(0.75) and row["base train"] == 1.0
    _, fails = tables.failure_table(records)
    assert fails == [["d1", "PCA", 0, "timeout", 2.0, "ValueError: boom"]]
    md = tables.to_markdown(*tables.metric_table(records, "auc_pr"))
    assert md.splitlines()[2].split() == "| d1 | 0.5000 | 0.6000 |".split()
    assert tables.to_csv(["a", "b"], [[1, 0.5]]) == "a,b\r\n1,0.5\r\n"


def test_seeds_are_averaged_and_latest_record_wins(records):
    records.append({**_record("d1", "IForest", seed=1), "key": "d1-IForest-1"})
    records[-1]["metrics"]["base"]["auc_pr"] = 0.7
    records.append({**_record("d2", "IForest"), "status": "error"})  # a later failed retry of d2
    _, rows = tables.metric_table(records, "auc_pr")
    assert rows[0][1] == pytest.approx(0.6)  # mean of seeds 0 (0.5) and 1 (0.7)
    assert [r[0] for r in rows] == ["d1", "d3", "Average"]


def _figure_data(rng):
    groups = ("normal", "real anomalies", "synthetic anomalies")
    return {"before": {g: rng.normal(i, 1, 50) for i, g in enumerate(groups)},
            "after": {g: rng.normal(2 * i, 1, 50) for i, g in enumerate(groups)},
            "X_train": rng.normal(size=(40, 4)), "X_test": rng.normal(size=(30, 4)),
            "y_test": np.r_[np.zeros(25), np.ones(5)], "X_syn": rng.normal(3, 1, size=(10, 4))}


def test_build_report_writes_tables_plots_and_html(tmp_path, records, rng):
    log = ResultLog(tmp_path / "res" / "cells.jsonl")
    for rec in records:
        log.append(rec)
    (tmp_path / "res" / "command.txt").write_text("das bench --out res\n")
    out = build_report(tmp_path / "res", tmp_path / "rep", figure_data=[("d1", "IForest", _figure_data(rng))])
    assert (out["n_records"], out["n_ok"], out["n_failed"]) == (4, 3, 1)
    for name in ("summary_auc_pr.md", "summary_auc_pr.csv", "per_dataset_auc_roc.csv", "runtime.md",
                 "failures.csv", "delta_auc_pr.png", "density_d1_IForest.png", "embedding_d1_IForest.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0, name
    assert (tmp_path / "rep" / "delta_auc_pr.png").read_bytes()[:4] == b"\x89PNG"
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "<img src='density_d1_IForest.png'" in html and "das bench --out res" in html
    assert "![" in (tmp_path / "rep" / "report.md").read_text()


def test_plots_handle_one_feature_and_empty_groups(tmp_path, rng):
    data = _figure_data(rng)
    data.update(X_train=rng.normal(size=(40, 1)), X_test=rng.normal(size=(30, 1)),
                X_syn=rng.normal(size=(0, 1)))
    data["before"]["synthetic anomalies"] = np.array([])
    plot_score_densities(data, tmp_path / "d.png", "t")
    plot_embedding(data, tmp_path / "e.png", "t")
    assert (tmp_path / "d.png").exists() and (tmp_path / "e.png").exists()


def test_load_records_errors(tmp_path):
    with pytest.raises(BenchError, match="no benchmark results"):
        load_records(tmp_path / "nowhere")
    (tmp_path / "cells.jsonl").write_text("")
    with pytest.raises(BenchError, match="holds no cell records"):
        load_records(tmp_path)


def test_lines_that_are_not_cell_records_are_counted_and_said(tmp_path, records):
    """Walkthrough 5: a torn or foreign line was left out in silence (exit 0, n_left_out 0)."""
    lines = [json.dumps(r) for r in records] + ["garbage line", "123", '["a list"]', '{"key": "torn']
    (tmp_path / "cells.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="4 line\\(s\\) are not cell records"):
        summary = build_report(tmp_path, tmp_path / "report")
    assert summary["n_records"] == len(records) and summary["n_unreadable"] == 4
    assert "4 line(s) of the log are not cell records" in (tmp_path / "report" / "report.md").read_text()
    res = CliRunner().invoke(main, ["report", str(tmp_path), "--out-dir", str(tmp_path / "r2"), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["n_unreadable"] == 4
    assert res.stderr.count("are not cell records") == 1


def test_cli_bench_then_report(tmp_path, rng):
    X = np.vstack([rng.normal(size=(60, 3)), rng.normal(5, 1, size=(6, 3))])
    for name in ("one", "two"):
        np.savez(tmp_path / f"{name}.npz", X=X, y=np.r_[np.zeros(60), np.ones(6)])
    runner = CliRunner()
    args = ["bench", "--data-dir", str(tmp_path), "--detectors", "ecod,IForest", "--methods", "base",
            "--out", str(tmp_path / "res"), "--jobs", "1", "--no-progress", "--json"]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    assert (summary["n_cells"], summary["n_ok"]) == (4, 4)
    second = json.loads(runner.invoke(main, args).output)
    assert (second["n_cached"], second["n_run"]) == (4, 0)
    for name in ("command.txt", "environment.json", "run.json"):
        assert (tmp_path / "res" / name).is_file()
    rep = runner.invoke(main, ["report", str(tmp_path / "res"), "--out", str(tmp_path / "rep")])
    assert rep.exit_code == 0, rep.output
    assert "4 cells (4 ok, 0 failed)" in rep.output
    md = (tmp_path / "rep" / "per_dataset_auc_pr.md").read_text()
    assert "one" in [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("|")]


@pytest.mark.parametrize("extra, message, code", [
    (["--methods", "base,magic"], "Invalid value for '--methods': unknown magic", 2),
    (["--seeds", "0,x"], "Invalid value for '--seeds': expected comma-separated integers", 2),
    (["--detectors", "nope"], "nope", 2),  # a usage error, as for das enhance
    (["--datasets", "missing"], "missing", 1),
    (["--executor", "ray"], "Invalid value for '--executor'", 2),
])
def test_cli_bench_bad_input_is_a_clean_error(tmp_path, extra, message, code):
    res = CliRunner().invoke(main, ["bench", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r"),
                                    "--methods", "base", *extra])
    assert res.exit_code == code
    assert message in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("y, message", [(None, "no labels"), ([0] * 40, "no anomaly among its labels")])
def test_cli_bench_refuses_a_dataset_it_cannot_measure_before_writing(tmp_path, rng, y, message):
    """Walkthrough 5: unlabeled data ran a cell that failed and left a results folder behind."""
    X = rng.normal(size=(40, 3))
    np.savez(tmp_path / "plain.npz", X=X, **({} if y is None else {"y": np.array(y)}))
    res = CliRunner().invoke(main, ["bench", "--data", str(tmp_path / "plain.npz"), "--out", str(tmp_path / "r"),
                                    "-d", "PCA", "--methods", "base"])
    assert res.exit_code == 1 and f"plain: {message}" in res.output and "das score" in res.output, res.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["bench", "report"])
def test_an_out_dir_where_nothing_can_be_written_is_refused_first(tmp_path, command):
    (tmp_path / "file").write_text("x")
    for bad, message in [("/proc/das-results", "cannot write in /proc"), (str(tmp_path / "file" / "sub"), "is not a directory")]:
        argv = ["bench", "--data-dir", str(tmp_path), "--methods", "base"] if command == "bench" else ["report", str(tmp_path)]
        res = CliRunner().invoke(main, [*argv, "--out-dir", bad])
        assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_cli_report_on_missing_results_is_clean(tmp_path):
    res = CliRunner().invoke(main, ["report", str(tmp_path), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 1 and "no benchmark results" in res.output


def test_commands_have_help():
    for cmd in ("bench", "report"):
        res = CliRunner().invoke(main, [cmd, "--help"])
        assert res.exit_code == 0 and "Usage:" in res.output


def test_figure_scores_after_enhancement_separates_synthetic_rows(rng):
    """Fig. 5 data from a real program: the enhanced score ranks synthetic anomalies above normals."""
    from pathlib import Path

    from das.collab.bench.plots import figure_scores
    from das.collab.data import Dataset, split_dataset

    source = (Path(__file__).parent / "programs" / "honest"
              / "iforest_controlled_extrapolation.py").read_text()
    X = np.vstack([rng.normal(size=(120, 4)), rng.normal(4, 1, size=(10, 4))])
    split = split_dataset(Dataset(name="tiny", X=X, y=np.r_[np.zeros(120), np.ones(10)].astype(np.int64),
                                  source="test"))
    data = figure_scores(split, "IForest", source, seed=0)
    assert {len(v) for v in data["after"].values()} == {60, 10, 6}
    gain = np.median(data["after"]["synthetic anomalies"]) - np.median(data["after"]["normal"])
    assert gain > np.median(data["before"]["synthetic anomalies"]) - np.median(data["before"]["normal"])


def test_cells_of_a_detector_without_a_program_stay_in_the_last_grid():
    from das.collab.bench.report import _last_grid

    run = {"datasets": ["d"], "detectors": ["ECOD", "DRL"], "seeds": [0], "methods": ["base", "sum", "auto"]}
    records = [{"key": "a", "dataset": "d", "detector": "ECOD", "seed": 0, "methods": ["base", "sum", "auto"]},
               {"key": "b", "dataset": "d", "detector": "DRL", "seed": 0, "methods": ["base", "auto"]},
               {"key": "c", "dataset": "d", "detector": "DRL", "seed": 0, "methods": ["base"]}]  # an older grid
    kept, left_out = _last_grid(records, run)
    assert [r["key"] for r in kept] == ["a", "b"] and left_out == 1
