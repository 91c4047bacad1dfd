"""Grid cells, the JSONL cache, resume after interruption, failures and timeouts."""
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from das.collab.bench.grid import make_cells, run_cell, run_grid
from das.collab.bench.log import ResultLog
from das.collab.bench.isolate import CellTimeout, call_isolated


def fake_cell(cell):
    """Deterministic stand-in for evaluate(); leaves one marker file per call."""
    marker_dir = Path(cell.path).parent / "calls"
    marker_dir.mkdir(exist_ok=True)
    (marker_dir / f"{cell.dataset}-{cell.detector}-{cell.seed}-{os.getpid()}").touch()
    if cell.dataset == "broken":
        raise ValueError("this dataset is broken")
    if cell.dataset == "slow":
        time.sleep(30)
    value = (len(cell.dataset) % 7) / 10 + 0.1 * cell.seed
    return {"metrics": {"base": {"auc_pr": value, "auc_roc": value + 0.2},
                        "sum": {"auc_pr": value + 0.05, "auc_roc": value + 0.25}},
            "timings": {"base_fit": 0.1, "synthesis": 0.01}, "n_syn": 2, "n_train": 20,
            "arr": np.arange(2)}


def _datasets(tmp_path, names):
    out = []
    for name in names:
        path = tmp_path / f"{name}.npz"
        path.write_bytes(name.encode())  # only the bytes' fingerprint matters to the fake
        out.append((name, str(path)))
    return out


def _calls(tmp_path):
    return sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "calls").iterdir())


def _cells(tmp_path, names, detectors=("IForest", "PCA"), seeds=(0,)):
    return make_cells(_datasets(tmp_path, names), list(detectors), list(seeds), ("base", "sum"),
                      {"IForest": ("a" * 64, "src")}, protocol="test")


def test_cache_key_covers_what_fixes_the_result(tmp_path):
    cells = _cells(tmp_path, ["alpha", "beta"], seeds=(0, 1))
    assert len(cells) == 8 and len({c.key() for c in cells}) == 8
    again = _cells(tmp_path, ["alpha", "beta"], seeds=(0, 1))
    assert [c.key() for c in cells] == [c.key() for c in again]
    other = make_cells(_datasets(tmp_path, ["alpha"]), ["IForest"], [0], ("base", "sum"),
                       {"IForest": ("b" * 64, "src")}, protocol="test")
    assert other[0].key() != cells[0].key()  # new program -> new cell
    assert "program_source" not in cells[0].describe()


def test_records_are_appended_and_results_kept(tmp_path):
    log = ResultLog(tmp_path / "out" / "cells.jsonl")
    summary = run_grid(_cells(tmp_path, ["alpha", "beta"]), log, cell_fn=fake_cell, n_jobs=1, progress=False)
    assert (summary.n_cells, summary.n_run, summary.n_ok, summary.n_failed) == (4, 4, 4, 0)
    recs = log.records()
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs)
    assert recs[0]["metrics"]["sum"]["auc_pr"] > recs[0]["metrics"]["base"]["auc_pr"]
    assert recs[0]["arr"] == [0, 1] and recs[0]["max_rss_mb"] > 0


def test_resume_after_interruption_recomputes_nothing_finished(tmp_path, monkeypatch):
    cells = _cells(tmp_path, ["alpha", "beta", "gamma"])
    log = ResultLog(tmp_path / "out" / "cells.jsonl")
    real_append, written = ResultLog.append, []

    def append_then_die(self, record):
        if len(written) == 2:
            raise KeyboardInterrupt  # the user hits Ctrl-C after two finished cells
        real_append(self, record)
        written.append(record["key"])

    monkeypatch.setattr(ResultLog, "append", append_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_grid(cells, log, cell_fn=fake_cell, n_jobs=1, progress=False)
    monkeypatch.setattr(ResultLog, "append", real_append)
    with log.path.open("a") as fh:
        fh.write('{"key": "torn')  # a line cut by the interruption must not break resuming
    first_calls = _calls(tmp_path)
    assert len(first_calls) == 3  # two persisted + the one whose record was lost

    summary = run_grid(cells, log, cell_fn=fake_cell, n_jobs=1, progress=False)
    assert (summary.n_cached, summary.n_run) == (2, 4)
    finished = {c.key(): f"{c.dataset}-{c.detector}-{c.seed}" for c in cells if c.key() in written}
    calls = _calls(tmp_path)
    for name in finished.values():
        assert calls.count(name) == 1, f"{name} was recomputed"
    assert {r["key"] for r in log.records()} == {c.key() for c in cells}

    again = run_grid(cells, log, cell_fn=fake_cell, n_jobs=1, progress=False)
    assert (again.n_cached, again.n_run) == (6, 0)
    assert _calls(tmp_path) == calls


def test_failing_cell_is_recorded_and_grid_completes(tmp_path):
    cells = _cells(tmp_path, ["alpha", "broken", "beta"], detectors=("IForest",))
    log = ResultLog(tmp_path / "cells.jsonl")
    summary = run_grid(cells, log, cell_fn=fake_cell, n_jobs=1, progress=False)
    assert (summary.n_ok, summary.n_failed) == (2, 1)
    bad = [r for r in log.records() if r["status"] != "ok"]
    assert len(bad) == 1 and bad[0]["dataset"] == "broken"
    assert bad[0]["status"] == "error"
    assert bad[0]["error"] == "ValueError: this dataset is broken"
    assert bad[0]["elapsed_s"] >= 0 and "metrics" not in bad[0]
    # a failure is a finished cell unless asked to retry it
    assert run_grid(cells, log, cell_fn=fake_cell, n_jobs=1, progress=False).n_run == 0
    retry = run_grid(cells, log, cell_fn=fake_cell, n_jobs=1, progress=False, retry_failed=True)
    assert (retry.n_run, retry.n_failed) == (1, 1)


def test_per_cell_timeout_kills_the_cell(tmp_path):
    (cell,) = _cells(tmp_path, ["slow"], detectors=("PCA",))
    t0 = time.perf_counter()
    record = run_cell(cell, fake_cell, timeout=1.0)
    assert time.perf_counter() - t0 < 10
    assert record["status"] == "timeout"
    assert "1 s limit" in record["error"]


def test_call_isolated_reports_crash_and_timeout():
    with pytest.raises(CellTimeout):
        call_isolated(time.sleep, (5,), timeout=0.5)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        call_isolated(divmod, (1, 0), timeout=5)
    assert call_isolated(sum, ([1, 2, 3],), timeout=5)[0] == 6


def test_joblib_pool_runs_real_cells(tmp_path, rng):
    """Two processes, the real evaluate() (base method only) on a tiny dataset."""
    X = np.vstack([rng.normal(size=(80, 3)), rng.normal(4, 1, size=(8, 3))])
    y = np.r_[np.zeros(80), np.ones(8)]
    np.savez(tmp_path / "tiny.npz", X=X, y=y)
    cells = make_cells([("tiny", str(tmp_path / "tiny.npz"))], ["ECOD", "IForest"], [0, 1], ("base",),
                       protocol="test")
    log = ResultLog(tmp_path / "cells.jsonl")
    summary = run_grid(cells, log, n_jobs=2, progress=False)
    assert (summary.n_ok, summary.n_failed) == (4, 0)
    recs = log.records()
    assert all(r["metrics"]["base"]["auc_roc"] > 0.9 for r in recs)
    assert all(r["timings"]["base_fit"] > 0 for r in recs)
    assert json.loads(log.path.read_text().splitlines()[0])["n_train"] == 40


def test_real_cell_with_a_program_runs_all_methods(tmp_path, rng):
    """evaluate() through the sandbox with an honest program: every fixed-program method gets metrics.

    ``auto`` certifies the bundled programs first; tests/test_collab_evaluate.py covers it.
    """
    from das.collab.evaluate import METHODS

    METHODS = tuple(m for m in METHODS if m != "auto")
    source = (Path(__file__).parent / "programs" / "honest"
              / "iforest_controlled_extrapolation.py").read_text()
    X = np.vstack([rng.normal(size=(120, 4)), rng.normal(4, 1, size=(10, 4))])
    np.savez(tmp_path / "tiny.npz", X=X, y=np.r_[np.zeros(120), np.ones(10)])
    (cell,) = make_cells([("tiny", str(tmp_path / "tiny.npz"))], ["IForest"], [0], METHODS,
                         {"IForest": ("c" * 64, source)}, protocol="test")
    record = run_cell(cell, timeout=120)
    assert record["status"] == "ok", record["error"]
    assert set(record["metrics"]) == set(METHODS)
    assert record["timings"]["synthesis"] > 0 and record["n_syn"] == 6


def _protocol_with_edit(monkeypatch, module):
    from das.collab.bench.grid import protocol_version

    read_bytes = Path.read_bytes

    def edited(path):
        data = read_bytes(path)
        return data + b"\n# edited\n" if path.as_posix().endswith(module) else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    return protocol_version()


@pytest.mark.parametrize("module", ["collab/enhance.py", "collab/fusion.py", "detectors/pca.py",
                                    "detectors/_threads.py", "sandbox/runner.py",
                                    "collab/bench/grid.py", "collab/bench/isolate.py"])
def test_protocol_version_follows_every_computing_module(monkeypatch, module):
    from das.collab.bench.grid import protocol_version

    before = protocol_version()
    assert _protocol_with_edit(monkeypatch, module) != before


def test_protocol_version_ignores_reporting_modules(monkeypatch):
    from das.collab.bench.grid import protocol_version

    before = protocol_version()
    assert _protocol_with_edit(monkeypatch, "collab/bench/tables.py") == before


def test_protocol_version_follows_numeric_package_versions(monkeypatch):
    import importlib.metadata

    from das.collab.bench import grid

    before = grid.protocol_version()
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "0.0" if name == "torch" else real(name))
    assert grid.protocol_version() != before


def _thread_counts():
    import torch
    from threadpoolctl import threadpool_info

    return [torch.get_num_threads(), sorted({p["num_threads"] for p in threadpool_info()})]


def test_a_cell_computes_on_one_thread_whatever_the_machine():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        value, _ = call_isolated(_thread_counts)
        assert torch.get_num_threads() == 2  # the parent is left alone
    finally:
        torch.set_num_threads(before)
    assert value == [1, [1]]
