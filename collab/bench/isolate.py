"""Run one function call in a forked child with a wall-clock limit.

Each benchmark cell runs in its own child so that a hang, a crash or a memory
blow-up in one cell cannot stall or kill the grid, and so that a timeout can
be enforced inside any worker (a joblib/loky process or a thread of a Dask
worker, where signals and daemonic multiprocessing are unavailable). Results
come back as JSON through a pipe; no code is ever unpickled.
"""
import json
import os
import resource
import select
import signal
import sys
import time
import traceback

from das.program_store.hashing import json_default


class CellTimeout(RuntimeError):
    """The call ran past its wall-clock limit and was killed."""


class CellCrashed(RuntimeError):
    """The child died without sending a result (e.g. killed for memory)."""


def _one_thread_per_cell():
    """One BLAS/OpenMP/torch thread: the grid parallelises across cells, and a cell's
    numbers must not depend on the machine's core count."""
    from threadpoolctl import threadpool_limits

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"  # libraries loaded later in the cell read these
    threadpool_limits(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _child(fn, args, write_fd):
    os.setpgid(0, 0)  # own process group: a timeout kills the sandbox workers below us too
    try:
        _one_thread_per_cell()
        payload = {"ok": True, "value": fn(*args)}
    except BaseException as exc:  # noqa: BLE001 -- everything must become a record
        payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc(limit=8)}
    payload["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = json.dumps(payload, default=json_default).encode("utf-8")
    view = memoryview(data)
    while view:
        view = view[os.write(write_fd, view):]
    os.close(write_fd)


def call_isolated(fn, args=(), timeout=None):
    """Call ``fn(*args)`` in a forked child and return ``(value, max_rss_kb)``.

    Parameters
    ----------
    fn : callable
        Must return something JSON-serialisable (numpy scalars/arrays allowed).
    args : tuple
    timeout : float or None
        Wall-clock seconds; None waits forever.

    Raises
    ------
    CellTimeout
        The child ran past ``timeout`` and was killed.
    CellCrashed
        The child exited without a result.
    RuntimeError
        ``fn`` raised; the message carries the original type and text.
    """
    read_fd, write_fd = os.pipe()
    # A Ctrl-C inside fork()'s own handlers was swallowed ("Exception ignored in _releaseLock") and
    # the parent waited out the cell: it is held back until the parent can kill the cell.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    if pid == 0:  # pragma: no cover -- runs in the child, reported through the pipe
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(read_fd)
        try:
            _child(fn, args, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks, timed_out = [], False
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a Ctrl-C held back is raised here
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([read_fd], [], [], wait)
            if not ready:
                timed_out = True
                break
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    except BaseException:  # Ctrl-C: the child has its own process group and never saw it
        _kill_group(pid)
        raise
    finally:
        os.close(read_fd)
        if timed_out:
            _kill_group(pid)
        os.waitpid(pid, 0)
    if timed_out:
        raise CellTimeout(f"cell exceeded its {timeout:g} s limit and was killed")
    try:
        payload = json.loads(b"".join(chunks))
    except ValueError:
        raise CellCrashed("cell process died without a result (killed for memory?)") from None
    if not payload["ok"]:
        raise RuntimeError(payload["error"])
    return payload["value"], payload["max_rss_kb"]


def _kill_group(pid):
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except ProcessLookupError:
            pass
