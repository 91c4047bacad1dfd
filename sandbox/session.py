"""Parent side of one worker's lifetime: serve proxy calls, read the result.

Everything the worker sends is untrusted: sizes are checked against the
parent's own limits (rows, columns, bytes, JSON depth) before anything is
allocated, statuses are taken from a closed set, no message is ever
unpickled, text is cleaned (:mod:`sandbox.untrusted`), and any exception
while serving becomes a typed result instead of reaching the caller.
"""
import math
import os
import signal
import time

import numpy as np

from das.sandbox import protocol
from das.sandbox.isolation import SandboxUnavailable
from das.sandbox.results import RunResult, value_problem
from das.sandbox.untrusted import clean_text

_CHILD_STATUSES = frozenset({"ok", "runtime-error", "memory", "bad-output", "violation"})
SCORE_CHUNK_ROWS = 1 << 16  # a large request is scored in chunks so the deadline stays hard


class _Failure(Exception):
    """A typed stop decided by the parent (e.g. budget)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Session:
    """State of one supervised run on the parent side.

    ``wait_exit(pid, timeout)`` returns the worker's ``(wait status, CPU
    seconds)`` once it exited, or None; ``send_task`` sends the TASK frame
    before serving. The deadline is hard: time spent scoring counts.
    """

    def __init__(self, task, scorer, read_fd, write_fd, pid, wait_exit, send_task=False):
        self.task = task
        self.pid = pid
        self.exit = None  # (wait status, CPU seconds) once this session reaped the worker
        self.scorer = scorer
        self.wait_exit = wait_exit
        self.send_task = send_task
        self.calls = 0
        self.rows = 0
        self.score_bytes = 0
        self.deadline = time.monotonic() + task.limits.timeout_s
        self.channel = protocol.ParentChannel(read_fd, write_fd, self.deadline)

    @property
    def reaped(self):
        """True once this session collected the worker's exit."""
        return self.exit is not None

    def result(self, status, message="", **kw):
        """A RunResult carrying this session's budget counters."""
        return RunResult(status, message=message, calls=self.calls, rows_scored=self.rows, **kw)

    def serve(self):
        """Serve the worker until it reports; always returns a RunResult."""
        try:
            if self.send_task:
                self.channel.send(protocol.TASK, *protocol.task_parts(self.task))
            while True:
                kind, length = self.channel.read_header()
                if kind == protocol.SCORE_REQUEST:
                    self._score(length)
                elif kind == protocol.INFO:
                    return self._finish(length)
                else:
                    raise protocol.ProtocolError(f"unexpected message kind {kind}")
        except _Failure as failure:
            return self.result(failure.status, failure.message)
        except protocol.Deadline:
            return self.result("timeout", f"wall-clock limit of {self.task.limits.timeout_s:g} s exceeded")
        except (EOFError, BrokenPipeError):
            return self.result(*self._death_status())
        except protocol.ProtocolError as exc:
            return self.result("runtime-error", f"worker protocol violation: {exc}")
        except Exception as exc:  # noqa: BLE001 - nothing the worker sends may crash the caller
            return self.result("runtime-error", f"worker message refused: {type(exc).__name__}")

    def _death_status(self):
        """Classify a worker that exited without sending a result."""
        try:
            exited = self.wait_exit(self.pid, 2.0)
        except SandboxUnavailable:
            return "runtime-error", "the sandbox's zygote exited during the run"
        if exited is None:
            return "runtime-error", "worker closed its channel without a result"
        self.exit = exited
        status, cpu = exited
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGSYS:
                return "violation", ("the worker attempted a system call outside the sandbox's "
                                     "allow-list and was killed (SIGSYS)")
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= 0.9 * self.task.limits.cpu_seconds()):
                return "timeout", f"CPU limit of {self.task.limits.cpu_seconds()} s exceeded"
            if sig == signal.SIGKILL:
                return "memory", "worker was killed (out of memory)"
            try:
                name = signal.Signals(sig).name
            except ValueError:  # real-time or unnamed signal
                name = f"signal {sig}"
            return "runtime-error", f"worker crashed with {name}"
        code = os.WEXITSTATUS(status)
        return "runtime-error", f"worker exited with code {code} without a result"

    def _score(self, length):
        """Serve one ``model.predict_score`` call; budgets are charged before anything is read."""
        d = self.task.X_train.shape[1]
        if length < protocol.SHAPE2.size:
            raise protocol.ProtocolError("short score request")
        rows, cols = protocol.SHAPE2.unpack(self.channel.read_bytes(protocol.SHAPE2.size))
        if length != protocol.SHAPE2.size + rows * cols * 8:
            raise protocol.ProtocolError("score request length does not match its shape")
        self._charge(rows, rows * cols * 8)
        if cols != d or rows < 1:
            # Don't allocate what a request claims: drain (within the byte budget) and refuse.
            self.channel.drain(rows * cols * 8)
            error = "predict_score needs at least one row" if rows < 1 else (
                f"predict_score expects {d} features, got {cols}")
            self.channel.send(protocol.SCORE_ERROR, error.encode("utf-8"))
            return
        X = np.empty((rows, cols), dtype="<f8")
        self.channel.read_into(memoryview(X).cast("B"))
        error = _proxy_input_error(X)
        if error is None:
            try:
                scores = self._scores_of(X.astype(np.float64, copy=False))
                if scores.shape[0] != rows:
                    error = f"scorer returned {scores.shape[0]} scores for {rows} rows"
            except protocol.Deadline:
                raise
            except Exception as exc:  # the detector failing must not crash the parent
                error = f"scorer failed: {type(exc).__name__}: {exc}"
        if error is not None:
            self.channel.send(protocol.SCORE_ERROR, error.encode("utf-8"))
        else:
            self.channel.send(protocol.SCORE_REPLY, np.ascontiguousarray(scores, dtype="<f8"))

    def _charge(self, rows, nbytes):
        """Count one request against the call, row and byte budgets (``_Failure`` when over)."""
        limits = self.task.limits
        if self.calls + 1 > limits.max_calls:
            raise _Failure("budget", f"model budget exceeded: more than {limits.max_calls} predict_score calls")
        if self.rows + rows > limits.max_rows:
            raise _Failure("budget", f"model budget exceeded: {self.rows + rows} rows > {limits.max_rows}")
        if self.score_bytes + nbytes > limits.max_score_mb * 2**20:
            raise _Failure("budget", f"model budget exceeded: score requests over {limits.max_score_mb} MiB")
        self.calls += 1
        self.rows += rows
        self.score_bytes += nbytes

    def _scores_of(self, X):
        """The scorer's scores of ``X``, in chunks with the deadline checked between them."""
        parts = []
        for start in range(0, len(X), SCORE_CHUNK_ROWS):
            if time.monotonic() > self.deadline:
                raise protocol.Deadline()
            parts.append(np.asarray(self.scorer(X[start:start + SCORE_CHUNK_ROWS]), dtype=np.float64).reshape(-1))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _finish(self, length):
        """Read the child's INFO (and RESULT) frames and validate the output."""
        if length > protocol.MAX_JSON_BYTES:
            raise protocol.ProtocolError("oversized info message")
        info = protocol.decode_json(self.channel.read_bytes(length))
        if not isinstance(info, dict):
            raise protocol.ProtocolError("malformed info message: not an object")
        # Everything in INFO is the program's text: cleaned before it leaves the session.
        status = clean_text(str(info.get("status"))[:100], keep_newlines=False)
        message = clean_text(str(info.get("message", ""))[:2000], keep_newlines=False)
        stdout = clean_text(str(info.get("stdout", ""))[: self.task.limits.max_stdout_chars + 100])
        extra = {"stdout": stdout, "input_mutated": bool(info.get("input_mutated", False))}
        if status not in _CHILD_STATUSES:
            return self.result("runtime-error", f"worker reported unknown status {status!r}", **extra)
        if status != "ok":
            return self.result(status, message, **extra)
        output, error = self._read_output()
        if error:
            return self.result("bad-output", error, **extra)
        return self.result("ok", "", output=output, **extra)

    def _read_output(self):
        """Read the RESULT frame; the shape is checked before the data is read."""
        kind, length = self.channel.read_header()
        if kind != protocol.RESULT or length < 1:
            raise protocol.ProtocolError("expected a result frame")
        ndim = self.channel.read_bytes(1)[0]
        if ndim > 32 or length < 1 + 8 * ndim:
            raise protocol.ProtocolError("bad result header")
        shape = tuple(int.from_bytes(self.channel.read_bytes(8), "little") for _ in range(ndim))
        expected = (self.task.n_samples, self.task.X_train.shape[1])
        if shape != expected:
            return None, f"expected {expected} got {shape}"
        if length != 1 + 8 * ndim + 8 * math.prod(shape):
            raise protocol.ProtocolError("result length does not match its shape")
        out = np.empty(shape, dtype="<f8")
        self.channel.read_into(memoryview(out).cast("B"))
        problem = value_problem(out)
        if problem:
            return None, problem
        return out.astype(np.float64, copy=False), None


def _proxy_input_error(X):
    """Why the parent refuses to score ``X`` (None when it is fine)."""
    problem = value_problem(X)
    return None if problem is None else f"predict_score input has {problem}"
