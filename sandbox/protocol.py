"""Wire format between the parent and the sandboxed worker.

Nothing the child sends is ever unpickled: every message is a fixed binary
header ``<4sBQ`` (magic, kind, payload length) followed by either raw
little-endian float64 bytes with an explicit shape, or short UTF-8 JSON.
The parent checks sizes against its own limits before reading a payload.
``X_train`` does not go through the pipe: the parent writes it once into a
sealed memfd (:func:`share_array`) that the worker maps (:func:`map_array`).
"""
import fcntl
import json
import marshal
import math
import mmap
import os
import re
import select
import struct
import time
from dataclasses import asdict, dataclass

import numpy as np

from das.sandbox.results import Limits

MAGIC = b"DAS1"
HEADER = struct.Struct("<4sBQ")
SHAPE2 = struct.Struct("<QQ")

SCORE_REQUEST = 1  # child -> parent: <QQ rows, cols> + float64 data
SCORE_REPLY = 2    # parent -> child: float64 scores
SCORE_ERROR = 3    # parent -> child: UTF-8 message
INFO = 4           # child -> parent: JSON {status, message, stdout, input_mutated}
RESULT = 5         # child -> parent: <B ndim> + ndim * <Q> + float64 data
TASK = 6           # parent -> child: <I n> + JSON (n bytes) + <I m> + marshal'd code (m bytes)

MAX_JSON_BYTES = 1 << 20
MAX_JSON_DEPTH = 4  # INFO is a flat object; a little slack for later fields
#: Escapes, quotes and brackets: fixed-length tokens, so one linear scan (a
#: pattern matching whole strings backtracks quadratically on ``"\\"\\...``).
_JSON_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size for unprivileged users
_F_SETPIPE_SZ = 1031


def open_pipe():
    """``os.pipe()`` with a 1 MiB buffer where Linux allows it.

    The default 64 KiB buffer turns a megabyte of scores or samples into
    sixteen wake-ups of each side; one larger buffer moves it in one.
    """
    read_fd, write_fd = os.pipe()
    try:
        fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ), PIPE_BYTES)
    except OSError:  # not Linux, or a lower pipe-max-size: keep the default
        pass
    return read_fd, write_fd


_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def share_array(X):
    """Parent side: a memfd holding ``X`` as C-ordered little-endian float64, sealed.

    After the seals no process (the parent included) can write, shrink or grow
    it, nor map it shared and writable; each run gets its own, so no memory is
    writable by two processes.
    """
    X = np.ascontiguousarray(X, dtype="<f8")
    fd = os.memfd_create("das-x-train", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        write_all(fd, X)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def map_array(fd, shape):
    """Worker side: ``(X, original)`` from the sealed memfd ``fd`` of :func:`share_array`.

    ``X`` is a private copy-on-write mapping (the program may write it; the
    pages it writes are copied in this process only, nothing is copied up
    front); ``original`` is a read-only view of the sealed pages, the
    reference that tells whether the program changed ``X``.
    """
    nbytes = 8 * math.prod(shape)
    if fcntl.fcntl(fd, fcntl.F_GET_SEALS) & _SEALS != _SEALS or os.fstat(fd).st_size != nbytes or nbytes < 1:
        raise ProtocolError("the training rows are not a sealed memfd of the announced shape")
    views = [np.frombuffer(mmap.mmap(fd, nbytes, access=access), dtype="<f8").reshape(shape)
             for access in (mmap.ACCESS_COPY, mmap.ACCESS_READ)]
    return tuple(views)


class ProtocolError(Exception):
    """The peer sent something that is not a valid message."""


class Deadline(Exception):
    """The wall-clock deadline passed while waiting on the peer."""


# -- child side (blocking I/O) -------------------------------------------------
def byte_view(data):
    """A flat byte view of ``data``; an empty array (e.g. shape (0, d)) gives an empty view.

    ``memoryview.cast`` refuses views with a zero in their shape; raising
    there after a header went out would leave the peer waiting for a reply
    that is never read (the protocol would fall out of step).
    """
    view = memoryview(data)
    return view.cast("B") if view.nbytes else memoryview(b"")


def write_all(fd, data):
    """Write every byte of ``data`` to a blocking ``fd``."""
    view = byte_view(data)
    while view:
        view = view[os.write(fd, view):]


def read_all(fd, n):
    """Read exactly ``n`` bytes from a blocking ``fd`` (EOFError on close)."""
    buf = bytearray(n)
    read_into_blocking(fd, memoryview(buf))
    return buf


def read_into_blocking(fd, view):
    """Fill the writable memoryview ``view`` from a blocking ``fd``."""
    pos, n = 0, view.nbytes
    while pos < n:
        got = os.readv(fd, [view[pos:]])
        if got == 0:
            raise EOFError("peer closed the channel")
        pos += got


def send_frame(fd, kind, *parts):
    """Send one frame whose payload is the concatenation of ``parts``."""
    length = sum(memoryview(p).nbytes for p in parts)
    write_all(fd, HEADER.pack(MAGIC, kind, length))
    for part in parts:
        write_all(fd, part)


def read_header_blocking(fd):
    """Child side: read a frame header; returns (kind, payload length)."""
    magic, kind, length = HEADER.unpack(read_all(fd, HEADER.size))
    if magic != MAGIC:
        raise ProtocolError("bad magic")
    return kind, length


def recv_frame_blocking(fd):
    """Child side: read one whole frame; returns (kind, payload bytes)."""
    kind, length = read_header_blocking(fd)
    return kind, bytes(read_all(fd, length))


@dataclass
class Task:
    """Everything a worker needs for one run; sent as one TASK frame."""

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
    X_original: np.ndarray = None  # worker side: read-only view of the rows as sent


def task_parts(task):
    """Payload parts of the TASK frame for ``task``."""
    meta = encode_json({"allowed_imports": sorted(task.allowed_imports), "shape": list(task.X_train.shape),
                        "n_samples": task.n_samples, "degree": task.degree, "seed": task.seed,
                        "limits": asdict(task.limits), "workdir": task.workdir})
    code = marshal.dumps(task.code)
    return struct.pack("<I", len(meta)), meta, struct.pack("<I", len(code)), code


def read_task(read_fd, write_fd, data_fd):
    """Worker side: read the TASK frame the parent sends first; ``X_train`` is
    mapped from the memfd ``data_fd`` (closed here)."""
    if read_header_blocking(read_fd)[0] != TASK:
        raise ProtocolError("expected a task frame")
    meta = json.loads(read_all(read_fd, struct.unpack("<I", read_all(read_fd, 4))[0]))
    code = marshal.loads(read_all(read_fd, struct.unpack("<I", read_all(read_fd, 4))[0]))  # from the parent
    try:
        X, original = map_array(data_fd, tuple(meta["shape"]))
    finally:
        os.close(data_fd)
    return Task(code, frozenset(meta["allowed_imports"]), X, meta["n_samples"], meta["degree"],
                meta["seed"], Limits(**meta["limits"]), meta["workdir"], read_fd, write_fd, original)


def encode_json(obj):
    """Compact UTF-8 JSON."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def decode_json(data, max_depth=MAX_JSON_DEPTH):
    """Parse untrusted UTF-8 JSON whose arrays/objects nest at most ``max_depth`` deep.

    The depth is checked on the raw text before :func:`json.loads` sees it,
    so a deeply nested frame is a ProtocolError, never a RecursionError.
    """
    if len(data) > MAX_JSON_BYTES:
        raise ProtocolError("oversized JSON message")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"malformed JSON message: {exc}") from None
    if _nesting_depth(text) > max_depth:
        raise ProtocolError(f"JSON message nests deeper than {max_depth}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"malformed JSON message: {exc}") from None


def _nesting_depth(text):
    """Deepest ``[``/``{`` nesting of JSON ``text``, skipping string contents (linear time)."""
    depth = deepest = 0
    in_string = False
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or len(token) > 1:  # string contents, or an escape
            continue
        elif token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


# -- parent side (deadline-aware, non-blocking) -------------------------------
class ParentChannel:
    """Deadline-aware reads and writes on the parent's ends of the pipes."""

    def __init__(self, read_fd, write_fd, deadline):
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.deadline = deadline
        os.set_blocking(write_fd, False)

    def _wait(self, fd, event):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Deadline()
        poller = select.poll()
        poller.register(fd, event | select.POLLHUP | select.POLLERR)
        if not poller.poll(max(1, int(remaining * 1000))):
            raise Deadline()

    def read_into(self, view):
        """Fill the writable memoryview ``view`` (EOFError on close)."""
        pos, n = 0, view.nbytes
        while pos < n:
            self._wait(self.read_fd, select.POLLIN)
            got = os.readv(self.read_fd, [view[pos:]])
            if got == 0:
                raise EOFError("worker closed the channel")
            pos += got

    def drain(self, n, chunk=1 << 20):
        """Read and discard ``n`` bytes without allocating them at once."""
        buf = bytearray(min(n, chunk))
        while n > 0:
            part = min(n, len(buf))
            self.read_into(memoryview(buf)[:part])
            n -= part

    def read_bytes(self, n):
        buf = bytearray(n)
        self.read_into(memoryview(buf))
        return bytes(buf)

    def read_header(self):
        """Read a frame header; returns (kind, length)."""
        magic, kind, length = HEADER.unpack(self.read_bytes(HEADER.size))
        if magic != MAGIC:
            raise ProtocolError("worker sent a frame with a bad magic number")
        return kind, length

    def send(self, kind, *parts):
        length = sum(memoryview(p).nbytes for p in parts)
        for part in (HEADER.pack(MAGIC, kind, length),) + parts:
            view = byte_view(part)
            while view:
                self._wait(self.write_fd, select.POLLOUT)
                try:
                    view = view[os.write(self.write_fd, view):]
                except BlockingIOError:
                    continue
