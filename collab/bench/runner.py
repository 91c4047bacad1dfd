"""One benchmark run end to end: resolve inputs, run the grid, record provenance.

Writes into the results directory: ``cells.jsonl`` (the cache / results),
``command.txt`` (the exact command line), ``environment.json`` (versions,
CPU, git commit) and ``run.json`` (grid size, wall time, peak memory).
"""
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from das.collab.bench.errors import BenchError
from das.collab.bench.executors import check_executor, default_jobs
from das.collab.bench.grid import DEFAULT_TIMEOUT, make_cells, run_grid
from das.collab.bench.log import ResultLog
from das.collab.bench.memory import TreeMemorySampler
from das.collab.bench.report import LOG_NAME

DEFAULT_DETECTORS = ("PCA", "IForest", "OCSVM", "ECOD", "DRL")
_PACKAGES = ("numpy", "scipy", "scikit-learn", "pyod", "torch", "joblib", "dask", "distributed")


def resolve_datasets(names, data_dir=None):
    """``[(name, path)]`` for the given names/paths, or every dataset in ``data_dir``."""
    from das.collab.data import list_datasets, resolve_dataset

    if not names:
        return [(p.stem, str(p)) for p in list_datasets(data_dir)]
    out = []
    for name in names:
        path = resolve_dataset(name, data_dir)
        out.append((Path(path).stem, str(path)))
    return out


def check_measurable(datasets, read=None):
    """Refuse, before anything is written, a dataset the grid cannot measure: unreadable, no
    labels, or no anomaly among them (every cell of it would fail the same way)."""
    import warnings

    from das.collab.data import DataError, load_dataset

    for name, path in datasets:
        with warnings.catch_warnings():  # each cell says what it has to say about its data
            warnings.simplefilter("ignore")
            try:
                y = load_dataset(path, **(read or {})).y
            except DataError as exc:
                raise BenchError(str(exc)) from None
        if y is None or not y.any():
            raise BenchError(f"{name}: {'no labels' if y is None else 'no anomaly among its labels'}, so the "
                             "benchmark has nothing to measure on it (a table needs a label column, an .npz/.mat "
                             "file a key 'y'); `das score` scores unlabeled data")


def parse_list(text, kind):
    """Split a comma-separated option value; empty items are an error."""
    items = [s.strip() for s in (text or "").split(",")]
    if not text or any(not s for s in items):
        raise BenchError(f"--{kind}: expected a comma-separated list, got {text!r}")
    return items


def environment():
    """Versions and machine facts for provenance."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parents[2], timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpus_usable": default_jobs(),
            "git_commit": commit, "packages": versions}


def peak_rss_mb():
    """Peak RSS of this process and of its reaped children, in MiB (Linux reports KiB)."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return me, kids


def run_benchmark(out_dir, datasets, detectors, seeds, methods, programs, *, executor="joblib",
                  n_jobs=None, timeout=DEFAULT_TIMEOUT, retry_failed=False, scale="standard",
                  scheduler=None, progress=True, command=None, cell_fn=None, auto_candidates=None, read=None):
    """Run (or resume) a grid into ``out_dir`` and return a JSON-able summary.

    Parameters
    ----------
    out_dir : path
    datasets : list of (name, path)
    detectors, seeds, methods : lists
    programs : dict
        ``{detector: (sha256, source)}`` for the methods that need a program.
    auto_candidates : dict, optional
        ``{detector: [synthesis source]}`` (:func:`collab.selection.candidates`) that ``auto`` chooses among.
    read : dict, optional
        :func:`collab.data.load_dataset` options for every dataset (``sep``, ``label_column``, ...).
    command : str, optional
        Recorded in ``command.txt``; default the current ``sys.argv``.
    cell_fn : callable, optional
        Replaces :func:`collab.bench.grid.evaluate_cell` (tests).
    """
    check_executor(executor, n_jobs)  # before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "command.txt").write_text((command or " ".join(["das"] + sys.argv[1:])) + "\n")
    (out / "environment.json").write_text(json.dumps(environment(), indent=2, sort_keys=True) + "\n")
    cells = make_cells(datasets, detectors, seeds, methods, programs, scale=scale, auto_candidates=auto_candidates,
                       read=read)
    # largest files first: long cells start early, so the pool does not idle at the end
    cells.sort(key=lambda c: -Path(c.path).stat().st_size)
    log = ResultLog(out / LOG_NAME)
    kwargs = {} if cell_fn is None else {"cell_fn": cell_fn}
    t0 = time.time()
    with TreeMemorySampler() as memory:
        summary = run_grid(cells, log, executor=executor, n_jobs=n_jobs, timeout=timeout,
                           retry_failed=retry_failed, progress=progress, scheduler=scheduler, **kwargs)
    me, kids = peak_rss_mb()
    latest = log.latest()
    keys = {c.key() for c in cells}
    cell_rss = [r.get("max_rss_mb") or 0.0 for k, r in latest.items() if k in keys]
    run = {"n_datasets": len(datasets), "datasets": [name for name, _ in datasets], "detectors": list(detectors), "seeds": list(seeds),
           "methods": list(methods), "executor": executor, "jobs": n_jobs, "timeout_s": timeout,
           "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
           "wall_s_this_invocation": round(summary.wall_s, 1),
           "cells": summary.n_cells, "cached": summary.n_cached, "ran": summary.n_run,
           "ok_total": sum(latest[k].get("status") == "ok" for k in keys if k in latest),
           "failed_total": sum(latest[k].get("status") != "ok" for k in keys if k in latest),
           "sum_cell_seconds": round(sum(latest[k].get("elapsed_s", 0.0) for k in keys if k in latest), 1),
           "peak_rss_tree_mb": round(memory.peak_mb, 1), "peak_rss_main_mb": round(me, 1), "peak_rss_reaped_children_mb": round(kids, 1),
           "peak_rss_cell_mb": round(max(cell_rss, default=0.0), 1)}
    (out / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
    return {"out": str(out), "log": str(log.path), **summary.to_dict(), "run": run}
