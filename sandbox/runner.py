"""Parent side of a sandboxed run: :func:`run_program` (layers 3-5).

Every run audits the program, forks a *fresh* child from this process (numpy
already imported, so a fork costs milliseconds; a worker is never reused
because a program could monkeypatch numpy for the next one), serves the
child's ``model.predict_score`` calls with the real scorer, and validates the
output.  Whatever the program does, the caller gets a typed
:class:`RunResult`; nothing the child sends is unpickled.
"""
import atexit
import functools
import importlib
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from sandbox import protocol, rules, seccomp  # noqa: F401 - seccomp preloaded for the fork
from sandbox.audit import analyze
from sandbox.results import STATUSES, Limits, RunResult  # noqa: F401 - re-exported
from sandbox.session import Session


@dataclass
class _Task:
    """Everything the child needs; inherited through fork, never serialized."""

    code: object
    allowed_imports: frozenset
    X_train: np.ndarray
    n_samples: int
    degree: object
    seed: int
    limits: Limits
    workdir: str
    read_fd: int = -1
    write_fd: int = -1


def run_program(source, X_train, n_samples, scorer, seed=0, degree=None, limits=Limits(),
                allowed_imports=None):
    """Audit ``source`` and run it in a fresh isolated worker.

    Parameters
    ----------
    source : str
        Program defining ``generate_hard_anomalies``.
    X_train : array-like of shape (n, d)
        Training data handed to the program (as a writable copy; the
        caller's array is never touched).
    n_samples : int
        Rows the program must return.
    scorer : callable
        ``scorer(X) -> (len(X),)`` scores, called in this process for every
        ``model.predict_score`` of the program.
    seed : int, default 0
        Seeds numpy's global RNG and ``random`` in the worker.
    degree : str, optional
        Passed as the 4th argument when given.
    limits : Limits
        Resource limits and budgets.
    allowed_imports : iterable of str, optional
        Import allow-list (default ``sandbox.rules.DEFAULT_IMPORTS``).

    Returns
    -------
    RunResult
        Never raises for a bad program; ValueError only for bad arguments.
    """
    start = time.perf_counter()
    reap_pending()
    X_train = _check_inputs(X_train, n_samples)
    allowed = rules.DEFAULT_IMPORTS if allowed_imports is None else frozenset(allowed_imports)
    report, code, imports = _audit(source, allowed) if isinstance(source, str) else analyze(source, allowed)
    if not report.ok:
        return RunResult("audit-rejected", message=str(report), findings=report.findings,
                         duration_s=time.perf_counter() - start)
    _preload(imports)
    workdir = tempfile.mkdtemp(prefix="das-sandbox-")
    task = _Task(code, allowed, X_train, int(n_samples), degree, int(seed), limits, workdir)
    try:
        result = _supervise(task, scorer)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result.duration_s = time.perf_counter() - start
    return result


@functools.lru_cache(maxsize=128)
def _audit(source, allowed):
    """:func:`analyze`, memoized: an audit depends on nothing but its inputs,
    and the property suite and bench grids run one program many times (the
    parse and restricted compile cost ~3 ms a run)."""
    report, code, imports = analyze(source, allowed, allow_degree=True)
    return report, code, frozenset(imports)


def _check_inputs(X_train, n_samples):
    X = np.asarray(X_train, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X_train must be a non-empty 2-D array, got shape {X.shape}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    return X


def _preload(imports):
    """Import allowed modules here so every fork finds them warm."""
    for name in sorted(imports):
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the child reports the failure as a runtime error


_CONTROLLER = {"modules": -1, "controller": None}


def _thread_controller():
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries, cached.

    Scanning the libraries costs ~30 ms, so it is done here, once (again
    only when new modules were imported).
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: the env vars still cover later loads
        return None
    if _CONTROLLER["modules"] != len(sys.modules):
        _CONTROLLER["controller"] = ThreadpoolController()
        _CONTROLLER["modules"] = len(sys.modules)
    return _CONTROLLER["controller"]


def _supervise(task, scorer):
    """Fork the child, serve its proxy calls, collect and validate the result."""
    c_read, p_write = protocol.open_pipe()  # parent -> child
    p_read, c_write = protocol.open_pipe()  # child -> parent
    task.read_fd, task.write_fd = c_read, c_write
    pid = _fork_single_threaded(_thread_controller())
    if pid == 0:  # pragma: no cover - runs in the child, reports via the pipe
        from sandbox.worker import child_main

        os.close(p_write)
        os.close(p_read)
        child_main(task)
    os.close(c_read)
    os.close(c_write)
    session = Session(task, scorer, p_read, p_write, pid)
    try:
        return session.serve()
    finally:
        os.close(p_read)
        os.close(p_write)
        _reap(pid, session)


def _fork_single_threaded(controller):
    """Fork with BLAS/OpenMP pinned to one thread, restored in the parent at once.

    Shrinking a thread pool inherited through fork is slow (OpenBLAS's first
    call after ``set_num_threads`` in the child cost ~70 ms here); a child
    forked from a one-thread pool starts with the pool it needs.
    """
    if controller is None:
        return os.fork()
    limiter = controller.limit(limits=1)
    pid = os.fork()
    if pid != 0:
        limiter.restore_original_limits()
    return pid


_PENDING = set()  # killed workers whose exit has not been collected yet


def _reap(pid, session):
    """Kill the child's whole process group; collect it now or on the next run.

    Tearing down a forked copy of a large interpreter takes tens of
    milliseconds, so the caller does not wait for it: the killed child is
    collected (``WNOHANG``) at the next :func:`run_program` or at exit.
    """
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if session.reaped:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _PENDING.add(pid)
    reap_pending()


def reap_pending(block=False):
    """Collect killed workers (all of them when ``block``)."""
    for pid in list(_PENDING):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _PENDING.discard(pid)


atexit.register(reap_pending, block=True)
