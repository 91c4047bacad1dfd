"""``das data info``, ``das data list`` and ``das demo`` through click's runner."""
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from das.engine.cli import main
from das.engine.cli.demo import format_matrix, format_results


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(main, list(args), catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    X = np.arange(20, dtype=float).reshape(10, 2)
    X[:, 1] = 3.0  # one constant column
    np.savez(d / "toy.npz", X=X, y=np.array([0, 1, 0, 0, 0, 0, 1, 0, 0, 0]))
    (d / "plain.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    (d / "broken.npz").write_text("nope")
    return d


def _assert_clean_failure(result, message):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert message in result.output


@pytest.mark.parametrize("args", [[], ["data"], ["data", "info"], ["data", "list"], ["demo"]])
def test_every_command_has_help(run, args):
    result = run(*args, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_info_json(run, data_dir):
    result = run("data", "info", "toy", "--data-dir", str(data_dir), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)  # warnings go to stderr
    assert info["n"] == 10 and info["d"] == 2 and info["anomalies"] == 2 and info["anomaly_rate"] == 0.2
    assert info["n_train"] == 4 and info["n_test"] == 6 and info["test_anomalies"] == 2
    assert info["constant_columns"] == 1 and len(info["fingerprint"]) == 64


def test_info_text_uses_das_data_dir(run, data_dir, monkeypatch):
    monkeypatch.setenv("DAS_DATA_DIR", str(data_dir))
    result = run("data", "info", "toy")
    assert result.exit_code == 0, result.output
    assert "10 x 2" in result.output and "2 (20.00 %)" in result.output
    assert "train 4 normals; test 6, 2 anomalies" in result.output


def test_info_unlabeled_csv_by_path(run, data_dir):
    result = run("data", "info", str(data_dir / "plain.csv"), "--json")
    info = json.loads(result.stdout)
    assert info["labeled"] is False and info["anomalies"] is None and info["n_train"] == 1


def test_info_real_dataset(run, odds_dir):
    result = run("data", "info", str(odds_dir / "cardio.npz"), "--json")
    info = json.loads(result.stdout)
    assert (info["n"], info["d"], info["anomalies"], info["n_train"], info["n_test"]) == (1831, 21, 176, 827, 1004)


@pytest.mark.parametrize("args, message", [
    (["data", "info", "zzz"], "zzz: no dataset of that name in"),
    (["data", "info", "broken"], "not a readable .npz file"),
    (["data", "info", "toy", "--label-column", "c"], "applies to CSV, TSV and Parquet files only"),
    (["data", "info", "plain", "--label-column", "c"], "label column 'c' not found"),
    (["data", "info", "/no/such/file.npz"], "no such file"),
])
def test_info_errors_are_one_clean_line(run, data_dir, args, message):
    _assert_clean_failure(run(*args, "--data-dir", str(data_dir)), message)


def test_info_without_data_dir(run, monkeypatch):
    monkeypatch.delenv("DAS_DATA_DIR", raising=False)
    _assert_clean_failure(run("data", "info", "cardio"), "no data directory is set")
    _assert_clean_failure(run("data", "list"), "no data directory")


def test_list(run, data_dir):
    result = run("data", "list", "--data-dir", str(data_dir), "--stats", "--json")
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"broken", "plain", "toy"}
    assert rows["toy"]["n"] == 10 and rows["toy"]["anomalies"] == 2 and rows["plain"]["anomalies"] is None
    assert "not a readable .npz" in rows["broken"]["error"]
    text = run("data", "list", "--data-dir", str(data_dir)).output
    assert [line.split()[0] for line in text.splitlines()] == ["broken", "plain", "toy"]


def test_list_shared_datasets(run, odds_dir):
    rows = json.loads(run("data", "list", "--data-dir", str(odds_dir), "--json").stdout)
    assert len(rows) == 34 and {r["format"] for r in rows} == {"npz", "mat"}


# ------------------------------------------------------------------ demo
def test_format_matrix_aligns_any_method_columns():
    rows = [{"dataset": "a", "method": "base", "auc_pr": 0.5},
            {"dataset": "a", "method": "enhanced", "auc_pr": 0.75},
            {"dataset": "longer_name", "method": "base", "auc_pr": 0.25}]
    text = format_matrix(rows, "auc_pr", col_key="method", fmt="{:.2f}")
    assert text.splitlines() == [
        "dataset      base  enhanced",
        "-----------  ----  --------",
        "a            0.50      0.75",
        "longer_name  0.25         -",
        "-----------  ----  --------",
        "mean         0.38      0.75",
    ]


def test_demo_table_and_json(run):
    result = run("demo", "-d", "ECOD,iforest", "--base-only")
    assert result.exit_code == 0, result.output
    assert "[1/6] breast_cancer: ECOD" in result.stderr  # progress on stderr, table on stdout
    assert "AUC-PR" in result.stdout and "AUC-ROC" in result.stdout and "[1/6]" not in result.stdout
    header = result.stdout.splitlines()[1].split()
    assert header == ["dataset", "ECOD", "IForest"]
    cells, total = re.search(r"6 dataset x detector cells in ([\d.]+) s \(([\d.]+) s in all", result.stdout).groups()
    assert float(total) >= float(cells)  # walkthrough 4, L: the first-use certification was left out
    rows = json.loads(run("demo", "--detectors", "ECOD", "--base-only", "--json", "-q").stdout)
    assert [r["dataset"] for r in rows] == ["breast_cancer", "wine", "digits"]
    assert format_results(rows).count("mean") == 2


def test_demo_runs_the_full_pipeline_by_default(run, certified_store, monkeypatch):
    from das.collab.certification import available_programs

    monkeypatch.setenv("DAS_STORE", str(certified_store))  # ECOD's bundle certified once per test run
    result = run("demo", "--detectors", "ECOD", "--json", "-q")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    # sum and collate need a certified program; whether one certified depends on the drawn seed
    has_program = "ECOD" in available_programs(["ECOD"])[0]
    methods = ("base", "auto", "sum", "collate") if has_program else ("base", "auto")
    assert {(r["dataset"], r["method"]) for r in rows} == {
        (d, m) for d in ("breast_cancer", "wine", "digits") for m in methods}
    assert has_program or "Warning: " in result.stderr and "ECOD shows base and auto only" in result.stderr
    assert all(r["choice"] and {"lam", "by_default"} <= set(r) for r in rows if r["method"] == "auto")
    assert all(0.0 <= r["auc_pr"] <= 1.0 and 0.0 <= r["auc_roc"] <= 1.0 for r in rows)
    text = run("demo", "--detectors", "ECOD", "-q").stdout
    assert text.splitlines()[1].split() == ["case", *methods]
    assert "breast_cancer / ECOD" in text and "auto (the default) chose: breast_cancer / ECOD: " in text
    auto = {r["dataset"]: r for r in rows if r["method"] == "auto"}
    said = text.split("auto (the default) chose: ")[1].splitlines()[0]
    assert ("wine / ECOD: " + auto["wine"]["choice"]) in said
    assert (" (no option qualified)" in said) == any(r["by_default"] for r in auto.values())


def test_demo_unknown_detector_is_a_clean_error(run):
    _assert_clean_failure(run("demo", "--detectors", "IForest,bogus"), "unknown detector 'bogus'")
    _assert_clean_failure(run("demo", "--detectors", " , "), "give at least one detector name")
    assert run("demo", "-d", "IForest,bogus").exit_code == 2  # a usage error, before any work


def test_info_reads_a_headerless_semicolon_file_with_its_options(tmp_path):
    path = tmp_path / "raw.csv"
    path.write_text("".join(f"{i};{i % 3};7;{int(i == 9)}\n" for i in range(10)))
    res = CliRunner().invoke(main, ["data", "info", str(path), "--no-header", "--label-column", "3",
                                    "--id-column", "0", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert (info["n"], info["d"], info["anomalies"]) == (10, 2, 1)
    assert "Warning: raw.csv: 1 constant column(s) (2)" in res.stderr
