"""Child side of a sandboxed run: isolate the process, then run the program.

Runs in a worker freshly forked by the zygote (see :mod:`sandbox.zygote`);
it never returns, it always ends with ``os._exit`` so that nothing of the
forked interpreter (atexit handlers, buffered files) runs in the child.
"""
import ctypes
import hashlib
import os
import random
import resource
import signal
import struct
import traceback

import numpy as np

from das.sandbox import protocol, seccomp
from das.sandbox.audit import PROGRAM_FILENAME
from das.sandbox.guards import PrintSink, address_hashed_item, make_globals, sets_shown, without_addresses
from das.sandbox.isolation import THREAD_VARS
from das.sandbox.rules import DEFAULT_IMPORTS, ENTRY_POINT


class _ProgramFailed(Exception):
    """Carries a typed status (runtime-error, bad-output, memory) to the parent."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _vm_bytes():
    """Current virtual memory size of this process."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def _setrlimit(which, value, hard=None):
    hard = value if hard is None else hard
    try:
        resource.setrlimit(which, (value, hard))
    except (ValueError, OSError):
        # Lowering only: if the hard limit is already lower keep it.
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY and hard < value:
            resource.setrlimit(which, (hard, hard))


def wipe_initial_environment():
    """Zero the environment block the interpreter started with.

    ``os.environ.clear()`` only drops the pointers: the original strings
    (API keys included) stay in memory and in ``/proc/self/environ``, which
    a fork inherits. Their address range is fields 50-51 of ``/proc/self/stat``.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:  # not Linux: nothing to wipe
        return
    # fields[0] is field 3 of stat(5): env_start / env_end are fields 50 and 51.
    start, end = int(fields[47]), int(fields[48])
    if 0 < start < end:
        ctypes.memset(start, 0, end - start)


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory():
    """Let glibc's malloc reuse freed blocks instead of returning them.

    A fresh worker has no warm heap: by default every large numpy temporary
    is a new ``mmap`` whose pages fault in one by one (~4-10 us each in a
    VM), and a chunked loop pays that again on every pass. Serving blocks up
    to 32 MiB from a heap that is never trimmed makes later passes reuse the
    pages already faulted in. ``RLIMIT_AS`` still bounds the total.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum on 64-bit
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):  # not glibc: keep the defaults
        pass


_PR_SET_DUMPABLE = 4


def not_dumpable():
    """``prctl(PR_SET_DUMPABLE, 0)``: /proc/<pid>/mem, fd, environ and ptrace
    of this process need CAP_SYS_PTRACE, which nothing in the sandbox has."""
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


_DETACHED = []  # [True] once this process ran detach() to its end


def detach():
    """The lock-down steps that need no task: own session, not dumpable, default
    signals, stdio on /dev/null, a wiped environment, malloc's settings.

    A spare worker runs them while it waits (:func:`warm_spare`);
    :func:`isolate` runs them where they have not run to their end.
    """
    if os.getsid(0) != os.getpid():
        os.setsid()  # own process group: the parent kills the whole group
    not_dumpable()  # inherited from the zygote; set again for a worker forked elsewhere
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)
    # Writing past RLIMIT_FSIZE then fails with EFBIG instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)
    # The zygote started with one BLAS/OpenMP thread; keep later loads there too.
    os.environ.clear()
    wipe_initial_environment()
    os.environ.update({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    os.environ.update({name: "1" for name in THREAD_VARS})
    keep_freed_memory()
    _DETACHED.append(True)


def isolate(task):
    """Detach from the parent and lock the process down (order matters)."""
    if not _DETACHED:
        detach()
    keep = sorted({0, 1, 2, task.read_fd, task.write_fd})
    for low, high in zip(keep, keep[1:] + [resource.getrlimit(resource.RLIMIT_NOFILE)[0]]):
        os.closerange(low + 1, high)
    try:
        os.chdir(task.workdir)
    except OSError:  # in the sandbox the caller's directory is not visible
        os.chdir("/")  # (read-only there)
    limits = task.limits
    # After numpy is loaded: BLAS reserves address space at import time.
    _setrlimit(resource.RLIMIT_AS, _vm_bytes() + int(limits.memory_mb * 2**20))
    # Soft limit sends SIGXCPU (reported as a timeout); the hard limit one
    # second later is the SIGKILL backstop.
    _setrlimit(resource.RLIMIT_CPU, int(limits.cpu_seconds()), int(limits.cpu_seconds()) + 1)
    _setrlimit(resource.RLIMIT_NPROC, 0)
    _setrlimit(resource.RLIMIT_FSIZE, 0)
    _setrlimit(resource.RLIMIT_CORE, 0)
    _setrlimit(resource.RLIMIT_NOFILE, limits.max_open_files)
    # zygote.Zygote refused to start where seccomp is missing unless the user opted in.
    if limits.seccomp and seccomp.available():
        seccomp.install(write_fds=(1, 2, task.write_fd))


class ModelProxy:
    """What a program sees as ``model``: scoring goes to the parent.

    Only ``predict_score`` (and its alias ``decision_function``) exist; the
    pipe ends live in a closure, not in attributes, and writes to the proxy
    are refused by the write guard.  Reading any other attribute is
    introspection, refused as a violation (``_sandbox_public``).
    """

    __slots__ = ("predict_score", "decision_function")
    _sandbox_public = frozenset(__slots__)

    def __init__(self, read_fd, write_fd):
        def predict_score(X):
            """Score rows of ``X`` (2-D, finite) with the real detector."""
            X = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
            if X.ndim != 2:
                raise ValueError(f"predict_score expects a 2-D array (n, d), got shape {X.shape}")
            protocol.send_frame(write_fd, protocol.SCORE_REQUEST,
                                protocol.SHAPE2.pack(*X.shape), X.astype("<f8", copy=False))
            kind, payload = protocol.recv_frame_blocking(read_fd)
            if kind == protocol.SCORE_ERROR:
                raise ValueError(payload.decode("utf-8", "replace"))
            return np.frombuffer(payload, dtype="<f8").astype(np.float64)

        object.__setattr__(self, "predict_score", predict_score)
        object.__setattr__(self, "decision_function", predict_score)

    def __setattr__(self, name, value):
        raise AttributeError("the model proxy is read-only")

    def __repr__(self):
        return "<model proxy: predict_score(X) -> scores>"


def _program_line(tb):
    """Line number of the innermost traceback frame inside the program."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == PROGRAM_FILENAME:
            line = lineno
    return line


def _describe(exc):
    """``Type: message (line n)`` of an exception that ended the program, with no object address
    and no set in address order in it (the message is stored and may be shown to an LLM)."""
    try:
        if any(address_hashed_item(items) is not None for items in sets_shown(exc, limit=1 << 16)):
            text = "<message not shown: it holds a set ordered by addresses>"
        else:
            text = without_addresses(str(exc))
    except BaseException:  # noqa: BLE001 - a hostile __str__, or too large to check
        text = "<message could not be read>"
    if len(text) > 500:
        text = text[:500] + "..."
    line = _program_line(exc.__traceback__)
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}: {text}{where}"


# str/bytes run no code when converted: they are bad output, not an attack.
_PLAIN_SCALARS = (int, float, complex, bool, str, bytes, np.bool_, np.number, np.str_, np.bytes_)
#: Most list items checked before the output is refused as too large.
_MAX_ITEMS = 1 << 24


def _plain_output(result):
    """Whether ``result`` is a plain numeric ndarray or (nested) lists/tuples of numbers.

    Anything else (ndarray subclasses, object arrays, objects with
    ``__array__``-style hooks) would run code while it is converted.
    """
    stack, seen = [result], 0
    while stack:
        item = stack.pop()
        seen += 1
        if type(item) is np.ndarray:
            if item.dtype.kind not in "biufcUS":
                return False
        elif type(item) in (list, tuple):
            stack.extend(item)
        elif not isinstance(item, _PLAIN_SCALARS) or seen > _MAX_ITEMS:
            return False
    return True


def _as_output(result):
    """Coerce the program's return value to a C-contiguous float64 array."""
    if result is None:
        raise _ProgramFailed("bad-output", "the program returned None")
    if not _plain_output(result):
        raise _ProgramFailed("violation", f"Line 0: output-hook: the output must be a plain ndarray or "
                                          f"a list of floats, got {type(result).__name__}")
    if isinstance(result, np.ndarray) and np.iscomplexobj(result):
        raise _ProgramFailed("bad-output", "output has complex values")
    try:
        out = np.asarray(result, dtype=np.float64)
    except MemoryError:
        raise
    except Exception as exc:
        raise _ProgramFailed("bad-output", f"output is not a float array: {_describe(exc)}") from None
    # (np.ascontiguousarray would turn a 0-d result into shape (1,))
    return out if out.flags.c_contiguous else out.copy(order="C")


def numpy_global_seed(seed):
    """Seed of numpy's global RNG for a run: derived from the run seed, not equal to it,
    so a program cannot read the run seed back from its first draw."""
    return int.from_bytes(hashlib.sha256(b"np.random:" + str(seed).encode()).digest()[:4], "little")


def _run(task, sink, on_refusal=None):
    """Execute the program; returns (output array, input_mutated).

    ``on_refusal(finding)`` is called at the first guard refusal (the run
    ends there: the program never sees the exception it would catch).
    """
    np.random.seed(numpy_global_seed(task.seed))
    random.seed(task.seed)
    # X_train is a private copy-on-write mapping of the sealed rows
    # (protocol.map_array): writes stay here, and mutation is found by
    # comparing it with the read-only view of the same pages.
    X = task.X_train
    glb = make_globals(task.allowed_imports, sink, task.seed, on_refusal)
    model = ModelProxy(task.read_fd, task.write_fd)
    try:
        exec(task.code, glb)
        func = glb.get(ENTRY_POINT)
        if not callable(func):
            raise _ProgramFailed("runtime-error", "generate_hard_anomalies is not defined")
        args = (task.n_samples, model, X) + (() if task.degree is None else (task.degree,))
        result = func(*args)
    except _ProgramFailed:
        raise
    except MemoryError as exc:
        raise _ProgramFailed("memory", _describe(exc)) from None
    except BaseException as exc:  # noqa: BLE001 - SystemExit, GeneratorExit ... included
        raise _ProgramFailed("runtime-error", _describe(exc)) from None
    return _as_output(result), input_mutated(X, task.X_original)


def input_mutated(X, original):
    """Whether the program changed ``X``, bit for bit (NaNs too), against ``original``.

    ``X`` is a private copy-on-write mapping: a page the program wrote is now an
    anonymous copy, one it only read is still the file's page, and the kernel
    says which (:func:`written_pages`). Unwritten, nothing can differ; so the
    bytes are compared only when a page was written or the kernel cannot say
    (reading both copies of mnist's 2.8 MB cost 0.7 ms a run).
    """
    written = written_pages(X)
    if written is not None and not written.any():
        return False
    return not np.array_equal(X.view("<u8"), original.view("<u8"))


def written_pages(X):
    """Per page of ``X``'s memory: written since it was mapped (``/proc/self/pagemap``: present and
    not a file page, or swapped out); None where the entries cannot be read.

    For memory that is not a private file mapping (any anonymous page counts) every page is "written".
    """
    page = resource.getpagesize()
    first, end = X.ctypes.data // page, -(-(X.ctypes.data + X.nbytes) // page)
    probe = np.ones(2 * page // 8)  # written here: its pages must read as written, or pagemap is not trusted
    try:
        fd = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        try:
            raw = os.pread(fd, 8 * (end - first), 8 * first)
            known = os.pread(fd, 8, 8 * (probe.ctypes.data // page + 1))
        finally:
            os.close(fd)
    except OSError:
        return None
    if len(raw) != 8 * (end - first) or len(known) != 8 or not _written(np.frombuffer(known, dtype="<u8"))[0]:
        return None
    return _written(np.frombuffer(raw, dtype="<u8"))


def _written(entries):
    """Pagemap entries that are anonymous copies (present and not a file page) or swapped out."""
    present, swapped, file_page = (entries >> 63) & 1, (entries >> 62) & 1, (entries >> 61) & 1
    return ((present & (1 - file_page)) | swapped).astype(bool)


def warm_up(rounds=10, shape=(512, 16)):
    """Exercise the numpy a synthesis program typically uses (trusted code).

    Run once in the zygote so that every worker forked from it inherits
    what a first call sets up: OpenBLAS/LAPACK buffers, numpy's per-ufunc
    dispatch caches, the specialised bytecode of numpy's Python functions.
    Measured: a PCA program's second stage took 14-20 ms in a worker forked
    from a cold zygote and 4 ms after this warm-up (in-process: ~4 ms).
    """
    rng = np.random.default_rng(0)
    d = shape[1]
    for _ in range(rounds):
        X = rng.normal(size=shape)
        np.random.seed(0)
        idx = np.random.choice(len(X), 64, replace=False)
        np.random.randint(0, len(X), size=8)
        noise = np.random.uniform(0.1, 0.3, size=(64, 1)) * np.random.normal(size=(64, d))
        ref = X[idx] + noise
        mean, std = X.mean(axis=0), X.std(axis=0)
        centered = X - mean
        _, sing, vt = np.linalg.svd(centered, full_matrices=False)
        np.linalg.eigh(np.cov(centered.T))
        np.linalg.norm(centered, axis=1)
        np.linalg.inv(centered.T @ centered + np.eye(d))
        d2 = (ref ** 2).sum(axis=1)[:, None] - 2.0 * ref @ X.T + (X ** 2).sum(axis=1)[None, :]
        nearest = np.sqrt(np.maximum(d2, 0.0))
        np.argsort(nearest, axis=1)
        np.argpartition(nearest, 5, axis=1)
        np.sort(nearest[:, 0], kind="stable")
        np.percentile(nearest, [10, 50, 90]), np.quantile(nearest[0], 0.25), np.median(nearest, axis=0)
        np.cumsum(sing ** 2) / (sing ** 2).sum()
        np.searchsorted(np.cumsum(sing), sing[0])
        np.where(centered >= 0, 1.0, -1.0) * np.abs(centered)
        np.clip(centered / np.where(std > 0, std, 1.0), -3, 3)
        np.exp(-nearest), np.log1p(nearest), np.tanh(centered), np.isfinite(centered).all()
        np.vstack([X, ref]), np.concatenate([X, ref]), np.unique(idx), np.arange(64) % 7
        X[np.abs(X[:, 0]) > 1.0], np.asarray(vt, dtype=np.float64), np.tile(mean, (4, 1))
        np.random.permutation(len(X)), np.random.shuffle(idx)


#: Heap a spare worker faults in while it waits: below the mmap threshold that
#: :func:`keep_freed_memory` sets, so it stays in the heap once freed.
SPARE_HEAP_BYTES = 24 << 20


def warm_spare(run_waiting=lambda: False):
    """Run in a spare worker while it waits for a run (trusted code, no task yet).

    A fresh process pays a page fault for every page it first touches (~2-4 us
    each here): building a program's globals touches hundreds of the zygote's
    objects (copy-on-write), numpy's first calls touch more, and every new
    temporary touches fresh heap. Done here, ahead of need (:func:`_warm_steps`,
    ~12 ms of CPU in all), and stopped between steps as soon as
    ``run_waiting()``: a run never waits for more than one step. Measured on
    mnist-sized data: a run's page faults fell from 2,200-5,800 to 300-430,
    and its program CPU to that of a warm in-process run
    (``benchmarks/sandbox_fresh_process.py``).
    """
    try:
        detach()
    except BaseException:  # noqa: BLE001 - isolate() runs it again
        pass
    steps = _warm_steps()
    try:
        for _ in steps:
            if run_waiting():
                break
    except BaseException:  # noqa: BLE001 - only a warm-up; the run builds its own
        pass
    finally:
        steps.close()  # stopped early: its heap block is freed here


def _warm_steps():
    """The spare's warm-up; yields between steps of a few ms each: :data:`SPARE_HEAP_BYTES`
    of heap reserved and a program's globals built once and dropped (always: the first
    step), the heap faulted in by quarters and freed into the never-trimmed heap, one
    small round of :func:`warm_up` (the pages the full one touches)."""
    keep_freed_memory()  # (detach() sets it too, where it ran)
    heap = np.empty(SPARE_HEAP_BYTES // 8)  # always reserved, so the memory limit never depends on timing
    make_globals(DEFAULT_IMPORTS, PrintSink(0))
    yield
    for part in np.array_split(heap, 4):
        part.fill(1.0)
        yield
    del heap, part
    warm_up(rounds=1, shape=(64, 8))
    yield


def remote_main(read_fd, write_fd, data_fd):
    """Entry point of a worker forked by the zygote: read the task, run it."""
    try:
        task = protocol.read_task(read_fd, write_fd, data_fd)
    except BaseException:  # noqa: BLE001 - the parent sees the exit code
        os._exit(71)
    child_main(task)


def _send_info(task, sink, info):
    """Send the INFO frame: the status, message and what the program printed."""
    info["stdout"] = sink.text()
    protocol.send_frame(task.write_fd, protocol.INFO, protocol.encode_json(info))


def child_main(task):
    """Run ``task`` in this freshly forked process; never returns."""
    code = 0
    try:
        isolate(task)
        sink = PrintSink(task.limits.max_stdout_chars)
        info = {"status": "ok", "message": "", "input_mutated": False}
        out = None

        def violation(finding):
            try:
                _send_info(task, sink, {"status": "violation", "message": str(finding), "input_mutated": False})
            finally:  # the program never gets control back
                os._exit(0)

        try:
            out, info["input_mutated"] = _run(task, sink, violation)
        except _ProgramFailed as failed:
            info.update(status=failed.status, message=failed.message)
        except MemoryError:
            info.update(status="memory", message="MemoryError")
        _send_info(task, sink, info)
        if out is not None:
            dims = b"".join(struct.pack("<Q", s) for s in out.shape)
            protocol.send_frame(task.write_fd, protocol.RESULT,
                                struct.pack("<B", out.ndim), dims,
                                out.astype("<f8", copy=False))
    except BaseException as exc:  # noqa: BLE001 - the child must always exit here
        code = 70
        try:
            info = {"status": "runtime-error", "message": f"worker setup failed: {exc!r}"}
            protocol.send_frame(task.write_fd, protocol.INFO, protocol.encode_json(info))
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)  # skips atexit handlers and the parent's buffered files
