"""Executors for the grid: a local joblib process pool (default) or Dask.

Both yield one result per cell as they complete (in completion order), so the
caller can persist each one immediately. The grid passes
:func:`collab.bench.grid.run_cell` as the task, which isolates and times out
the cell inside the worker.
"""
import os

from das.collab.bench.errors import BenchError

EXECUTORS = ("joblib", "dask")


def default_jobs():
    """Number of CPUs this process may use (respects affinity / container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_executor(executor, n_jobs=None):
    """Refuse an unknown executor or fewer than one job (a BenchError); returns the number of jobs."""
    if executor not in EXECUTORS:
        raise BenchError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    n_jobs = default_jobs() if n_jobs is None else int(n_jobs)
    if n_jobs < 1:
        raise BenchError(f"--jobs must be >= 1, got {n_jobs}")
    return n_jobs


def run_cells(cells, task, *, executor="joblib", n_jobs=None, scheduler=None):
    """Yield ``task(cell)`` for every cell, in completion order.

    Parameters
    ----------
    cells : list of Cell
    task : callable
        ``task(cell) -> record``; picklable (it is shipped to workers).
    executor : {"joblib", "dask"}
    n_jobs : int, optional
        Default :func:`default_jobs`.
    scheduler : str, optional
        Dask scheduler address; without it a local cluster of ``n_jobs``
        single-threaded worker processes is started and closed afterwards.
    """
    n_jobs = check_executor(executor, n_jobs)
    if not cells:
        return
    if executor == "joblib":
        yield from _joblib(cells, task, n_jobs)
    else:
        yield from _dask(cells, task, n_jobs, scheduler)


def _joblib(cells, task, n_jobs):
    from joblib import Parallel, delayed

    if n_jobs == 1:  # no pool: cells still run isolated in forked children
        for cell in cells:
            yield task(cell)
        return
    parallel = Parallel(n_jobs=min(n_jobs, len(cells)), return_as="generator_unordered",
                        backend="loky")
    yield from parallel(delayed(task)(cell) for cell in cells)


def _dask(cells, task, n_jobs, scheduler):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise BenchError("the dask executor needs the optional extra: pip install 'das[dask]'") from exc

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(cluster if cluster is not None else scheduler)
    try:
        futures = [client.submit(task, cell, pure=False) for cell in cells]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
