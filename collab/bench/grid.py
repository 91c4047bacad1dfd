"""Benchmark cells, their cache keys, the JSONL result log and the grid runner.

A *cell* is one (dataset, detector, seed) evaluation of all requested methods:
the methods share one base-detector fit, so splitting them into separate cells
would only repeat work. Each finished cell is appended to a JSONL log (one line,
flushed and fsynced), keyed by a hash of everything that determines its result:
dataset fingerprint, detector, program sha256, seed, methods, split scaling and
the protocol version (the computing modules' sources and the numeric packages'
versions, :func:`protocol_version`). Re-running the same grid skips finished keys, so an
interrupted run resumes where it stopped.
"""
import hashlib
import importlib
import inspect
import json
import socket
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from das.collab.bench.errors import BenchError  # noqa: F401 -- also importable from here
from das.collab.bench.executors import run_cells
from das.collab.bench.isolate import CellTimeout, call_isolated
from das.program_store.hashing import text_sha256

BENCH_VERSION = "1"
DEFAULT_TIMEOUT = 600.0


@dataclass(frozen=True)
class Cell:
    """One (dataset, detector, seed) evaluation.

    ``program_source`` is not part of the key (its sha256 is); nor are the
    sources of ``auto_candidates`` (``auto``'s choices, read from the store by
    the parent), whose names and sha256s are.
    """

    dataset: str
    path: str
    data_fingerprint: str
    detector: str
    seed: int
    methods: tuple
    program_sha256: str = None
    scale: str = "standard"
    protocol: str = ""
    program_source: str = field(default=None, repr=False, compare=False)
    auto_candidates: tuple = ()
    read: tuple = ()  # (option, value) pairs of collab.data.load_dataset that differ from its defaults

    def key(self):
        """Stable cache key (hex sha256) over everything that fixes the result."""
        spec = {"dataset": self.dataset, "data": self.data_fingerprint, "detector": self.detector,
                "seed": self.seed, "methods": sorted(self.methods), "program": self.program_sha256,
                "scale": self.scale, "protocol": self.protocol}
        if self.auto_candidates:
            spec["auto"] = [[c.name, c.sha256] for c in self.auto_candidates]
        if self.read:
            spec["read"] = [[k, v] for k, v in self.read]
        return text_sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")))

    def describe(self):
        """Identifying fields for the result record (no source text)."""
        out = asdict(self)
        out.pop("program_source")
        out["auto_candidates"] = [c.sha256 for c in self.auto_candidates if c.sha256]
        out["methods"] = list(self.methods)
        return out


def file_fingerprint(path):
    """sha256 of a dataset file's bytes (cheap; no parsing needed to key a cell)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Third-party packages whose code computes a cell's numbers; their versions enter the key.
NUMERIC_PACKAGES = ("numpy", "scipy", "scikit-learn", "pyod", "torch", "RestrictedPython")
#: The bench modules that compute (the rest only schedule, store or report cells).
_BENCH_COMPUTING = ("grid.py", "isolate.py")


def _computing_sources():
    """Paths of every project module a cell's numbers depend on, in a stable order."""
    root = Path(__file__).resolve().parents[2]
    bench = Path(__file__).resolve().parent
    paths = [p for package in ("collab", "detectors", "sandbox")
             for p in (root / package).rglob("*.py")
             if p.parent != bench or p.name in _BENCH_COMPUTING]
    return sorted(paths, key=lambda p: p.relative_to(root).as_posix())


def protocol_version():
    """Version of the evaluation protocol: everything besides the cell's inputs that fixes its numbers.

    Hashes the bench version, the source of every module that computes (``collab``
    with its bench runner, ``detectors``, ``sandbox``) and the versions of the numeric
    packages, so a change to any of them invalidates cached cells instead of silently
    mixing old and new. Thread counts need no place in the key: detectors compute on
    one thread and each cell runs with one BLAS/OpenMP/torch thread
    (:mod:`collab.bench.isolate`).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        from das.sandbox import SUITE_VERSION
    except ImportError:  # the sandbox is optional for base-only grids
        SUITE_VERSION = "none"
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for path in _computing_sources():
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    for package in NUMERIC_PACKAGES:
        try:
            digest.update(f"{package}=={version(package)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{package} missing\0".encode())
    return f"b{BENCH_VERSION}-e{digest.hexdigest()[:12]}-s{SUITE_VERSION}"


def _read_options(read):
    """The :func:`collab.data.load_dataset` options in ``read`` that differ from its defaults, sorted."""
    from das.collab.data import load_dataset

    defaults = {k: p.default for k, p in inspect.signature(load_dataset).parameters.items()}
    return tuple(sorted((k, v) for k, v in (read or {}).items() if v != defaults.get(k)))


def make_cells(datasets, detectors, seeds, methods, programs=None, *, scale="standard", protocol=None,
               auto_candidates=None, read=None):
    """Cross product of datasets x detectors x seeds.

    Parameters
    ----------
    datasets : list of (name, path)
    detectors : list of str
    seeds : list of int
    methods : tuple of str
    programs : dict, optional
        ``{detector: (sha256, source)}``; a detector missing here gets no
        program, and its cells skip the methods that need one.
    scale : str or None
        Scaling of the split (fitted on train only).
    auto_candidates : dict, optional
        ``{detector: [synthesis source]}`` (:func:`collab.selection.candidates`) for ``auto``.
    protocol : str, optional
        Defaults to :func:`protocol_version`.
    read : dict, optional
        :func:`collab.data.load_dataset` options for every dataset.

    Returns
    -------
    list of Cell
    """
    from das.collab.evaluate import PROGRAM_METHODS

    programs, auto_candidates = programs or {}, auto_candidates or {}
    protocol = protocol_version() if protocol is None else protocol
    fingerprints = {path: file_fingerprint(path) for _, path in datasets}
    read = _read_options(read)
    cells = []
    for name, path in datasets:
        for det in detectors:
            sha, source = programs.get(det, (None, None))
            cell_methods = tuple(m for m in methods if source or m not in PROGRAM_METHODS)
            for seed in seeds:
                cells.append(Cell(name, str(path), fingerprints[path], det, int(seed), cell_methods,
                                  sha, scale, protocol, source, tuple(auto_candidates.get(det, ())), read))
    return cells


def evaluate_cell(cell):
    """Default cell function: load, split with the papers' protocol, :func:`collab.evaluate.evaluate`.

    das's own warnings (data, subsamples) come back in ``das_warnings`` for :func:`run_grid` to show
    once per grid; any other is shown here, as before."""
    from das.collab.data import load_dataset, split_dataset
    from das.collab.evaluate import evaluate
    from das.sandbox.zygote import get_zygote

    # Each cell runs in its own forked process, which needs its own sandbox
    # zygote (~0.2 s to start). A long-lived process starts it once, so it is
    # started here, outside the timed stages, rather than inside "synthesis".
    if cell.program_source or any(c.source for c in cell.auto_candidates):
        get_zygote()
    with warnings.catch_warnings(record=True) as caught:
        split = split_dataset(load_dataset(cell.path, **dict(cell.read)), scale=cell.scale)
        result = evaluate(split, cell.detector, cell.program_source, seed=cell.seed, methods=cell.methods,
                          auto_candidates=list(cell.auto_candidates) or None)
    result["split_fingerprint"] = getattr(split, "fingerprint", None)
    result["das_warnings"] = []
    for w in caught:
        if w.category.__module__.startswith("das."):
            result["das_warnings"].append([w.category.__module__, w.category.__name__, str(w.message)])
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return result


def _warn_once(said, shown):
    """Issue each of a cell's das warnings (``[module, class name, message]``) not yet in ``shown``."""
    for module, name, message in said:
        if message not in shown:
            shown.add(message)
            warnings.warn(message, getattr(importlib.import_module(module), name), stacklevel=3)


def _warm_imports():
    """Import the heavy modules before forking so each child starts warm."""
    # lazy registries would otherwise import PyOD/torch inside the timed base fit
    for name in ("das.collab.evaluate", "das.collab.data", "das.collab.enhance", "das.collab.collate",
                 "das.sandbox", "das.detectors.registry", "das.detectors.pyod_models",
                 "das.detectors.ecod", "das.detectors.pca", "das.detectors.drl", "sklearn.ensemble"):
        try:
            __import__(name)
        except ImportError:
            pass


def run_cell(cell, cell_fn=evaluate_cell, timeout=DEFAULT_TIMEOUT):
    """Run one cell in an isolated child and return its record (never raises for cell failures).

    Returns
    -------
    dict
        ``key``, the cell's fields, ``status`` ("ok" | "error" | "timeout"),
        ``error``, ``elapsed_s``, ``max_rss_mb`` and, when ok, the result of
        ``cell_fn`` (``metrics``, ``timings``, ...).
    """
    if cell_fn is evaluate_cell:
        _warm_imports()
    record = {"key": cell.key(), **cell.describe(), "host": socket.gethostname()}
    t0 = time.perf_counter()
    try:
        value, rss_kb = call_isolated(cell_fn, (cell,), timeout)
        record.update(status="ok", error=None, max_rss_mb=rss_kb / 1024.0)
        record.update(value)
    except CellTimeout as exc:
        record.update(status="timeout", error=str(exc), max_rss_mb=None)
    except Exception as exc:  # noqa: BLE001 -- a failing cell is recorded, never fatal
        record.update(status="error", error=str(exc), max_rss_mb=None)
    record["elapsed_s"] = time.perf_counter() - t0
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return record


@dataclass
class GridSummary:
    """What one ``run_grid`` call did."""

    n_cells: int
    n_cached: int
    n_run: int
    n_ok: int
    n_failed: int
    wall_s: float
    failures: list

    def to_dict(self):
        return asdict(self)


def run_grid(cells, log, *, cell_fn=evaluate_cell, executor="joblib", n_jobs=None,
             timeout=DEFAULT_TIMEOUT, retry_failed=False, progress=True, scheduler=None):
    """Run every cell not already finished in ``log``; append each record as it completes.

    Parameters
    ----------
    cells : list of Cell
    log : ResultLog
    cell_fn : callable, default=evaluate_cell
        ``cell_fn(cell) -> dict``; a module-level function (it is shipped to workers).
    executor : {"joblib", "dask"}
    n_jobs : int, optional
        Parallel cells; default = the CPUs this process may use.
    timeout : float or None
        Per-cell wall-clock limit in seconds, enforced in the worker.
    retry_failed : bool, default=False
        Re-run cells whose last record is an error or timeout.
    progress : bool
        tqdm bar with ETA on stderr, when stderr is a terminal.
        das's warnings from the cells (a constant column) are issued once per distinct message.
    scheduler : str, optional
        Address of an existing Dask scheduler (``executor="dask"``).

    Returns
    -------
    GridSummary
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    done = log.latest()
    finished = {k for k, rec in done.items() if rec.get("status") == "ok" or not retry_failed}
    todo, seen = [], set()
    for cell in cells:
        key = cell.key()
        if key not in finished and key not in seen:
            todo.append(cell)
            seen.add(key)
    summary = GridSummary(len(cells), len(cells) - len(todo), 0, 0, 0, 0.0, [])
    shown = set()
    bar = tqdm(total=len(todo), file=sys.stderr, disable=None if progress else True, unit="cell",
               desc="das bench", dynamic_ncols=True)
    try:
        task = partial(run_cell, cell_fn=cell_fn, timeout=timeout)
        for record in run_cells(todo, task, executor=executor, n_jobs=n_jobs,
                                scheduler=scheduler):
            _warn_once(record.pop("das_warnings", ()), shown)
            log.append(record)
            summary.n_run += 1
            if record["status"] == "ok":
                summary.n_ok += 1
            else:
                summary.n_failed += 1
                summary.failures.append({k: record.get(k) for k in ("dataset", "detector", "seed",
                                                                    "status", "error")})
            bar.set_postfix_str(f"{record['dataset']}/{record['detector']} {record['status']}")
            bar.update(1)
    finally:
        bar.close()
    summary.wall_s = time.perf_counter() - t0
    return summary
