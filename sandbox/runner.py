"""Parent side of a sandboxed run: :func:`run_program` (layers 3-5).

Every run audits the program (memoized), has the zygote fork a *fresh*
worker (a worker is never reused because a program could monkeypatch numpy
for the next one), sends it the task, serves its ``model.predict_score``
calls with the real scorer, validates the output and reports the worker's
CPU seconds (``RunResult.cpu_s``, what the property suite's ``time`` uses).  Whatever the program
does, the caller gets a typed :class:`RunResult`; nothing the child sends is
unpickled.
"""
import functools
import os
import shutil
import tempfile
import time

import numpy as np

from das.sandbox import protocol, rules, zygote
from das.sandbox.audit import analyze
from das.sandbox.protocol import Task
from das.sandbox.results import STATUSES, Limits, RunResult  # noqa: F401 - re-exported
from das.sandbox.session import Session
from das.sandbox.untrusted import clean_text


def run_program(source, X_train, n_samples, scorer, seed=0, degree=None, limits=Limits(),
                allowed_imports=None):
    """Audit ``source`` and run it in a fresh isolated worker.

    Parameters
    ----------
    source : str
        Program defining ``generate_hard_anomalies``.
    X_train : array-like of shape (n, d)
        Training data handed to the program (as a private copy-on-write
        mapping; the caller's array is never touched).
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
        Never raises for a bad program; ValueError only for bad arguments,
        :class:`sandbox.zygote.SandboxUnavailable` only when no worker can
        be started at all.
    """
    start = time.perf_counter()
    X_train = _check_inputs(X_train, n_samples)
    allowed = rules.DEFAULT_IMPORTS if allowed_imports is None else frozenset(allowed_imports)
    report, code, imports = _audit(source, allowed) if isinstance(source, str) else analyze(source, allowed)
    if not report.ok:
        return RunResult("audit-rejected", message=clean_text(str(report)),
                         findings=report.findings,
                         duration_s=time.perf_counter() - start)
    workdir = tempfile.mkdtemp(prefix="das-sandbox-")
    task = Task(code, allowed, X_train, int(n_samples), degree, int(seed), limits, workdir)
    try:
        result = _supervise(task, scorer, imports)
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


def _supervise(task, scorer, imports):
    """Start a worker, serve its proxy calls, collect and validate the result."""
    c_read, p_write = protocol.open_pipe()  # parent -> child
    p_read, c_write = protocol.open_pipe()  # child -> parent
    try:
        data = protocol.share_array(task.X_train)  # the rows, mapped by the worker without a copy
        heavy = zygote.needs_heavy(imports)
        try:
            server = zygote.get_zygote(heavy=heavy)
            try:
                pid = server.fork_worker(c_read, c_write, data)
            except zygote.SandboxUnavailable:  # it died since its last use: one fresh try
                zygote.discard(server)
                server = zygote.get_zygote(heavy=heavy)
                pid = server.fork_worker(c_read, c_write, data)
        finally:
            os.close(data)
    except BaseException:
        for fd in (p_read, p_write):
            os.close(fd)
        raise
    finally:
        os.close(c_read)
        os.close(c_write)
    session = Session(task, scorer, p_read, p_write, pid, wait_exit=server.wait, send_task=True)
    try:
        result = session.serve()
    finally:
        os.close(p_read)
        os.close(p_write)
        try:
            server.kill(pid)  # answered at once: the worker is reaped while the caller goes on
        except zygote.SandboxUnavailable:  # the zygote is gone, and its workers with it
            pass
    result.measure_cpu(functools.partial(_cpu_seconds, server, pid, session.exit))
    return result


def _cpu_seconds(server, pid, exited):
    """The killed worker's CPU seconds (user + system), None if it could not be reaped;
    ``exited``: its exit when the session already collected it."""
    if exited is None:
        try:
            exited = server.wait(pid, 2.0)
        except zygote.SandboxUnavailable:  # the run is over; only the measure is lost
            return None
    return None if exited is None else round(float(exited[1]), 6)
