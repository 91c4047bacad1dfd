"""The same grid on a local Dask cluster started by the test, and executor errors."""
import numpy as np
import pytest

from das.collab.bench.executors import default_jobs, run_cells
from das.collab.bench.errors import BenchError
from das.collab.bench.grid import make_cells, run_grid
from das.collab.bench.log import ResultLog


@pytest.fixture
def tiny_cells(tmp_path, rng):
    X = np.vstack([rng.normal(size=(60, 3)), rng.normal(5, 1, size=(6, 3))])
    np.savez(tmp_path / "tiny.npz", X=X, y=np.r_[np.zeros(60), np.ones(6)])
    return make_cells([("tiny", str(tmp_path / "tiny.npz"))], ["ECOD"], [0, 1], ("base",), protocol="test")


def test_grid_runs_on_a_dask_cluster(tmp_path, tiny_cells):
    import distributed  # the optional extra das[dask], installed in the dev environment
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        log = ResultLog(tmp_path / "cells.jsonl")
        summary = run_grid(tiny_cells, log, executor="dask", scheduler=cluster.scheduler_address,
                           progress=False)
        with distributed.Client(cluster) as client:
            n_workers = len(client.scheduler_info()["workers"])
    assert n_workers == 2
    assert (summary.n_ok, summary.n_failed) == (2, 0)
    assert all(r["metrics"]["base"]["auc_roc"] > 0.9 for r in log.records())
    # the Dask results are the joblib results: the cell is deterministic
    joblib_log = ResultLog(tmp_path / "joblib.jsonl")
    run_grid(tiny_cells, joblib_log, executor="joblib", n_jobs=1, progress=False)
    by_key = {r["key"]: r["metrics"] for r in log.records()}
    assert all(by_key[r["key"]] == r["metrics"] for r in joblib_log.records())


def test_unknown_executor_and_bad_jobs(tiny_cells):
    with pytest.raises(BenchError, match="unknown executor 'ray'"):
        list(run_cells(tiny_cells, None, executor="ray"))
    with pytest.raises(BenchError, match="--jobs must be >= 1"):
        list(run_cells(tiny_cells, None, n_jobs=0))
    assert default_jobs() >= 1
