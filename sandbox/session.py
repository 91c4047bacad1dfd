"""Parent side of one worker's lifetime: serve proxy calls, read the result.

Everything the worker sends is untrusted: sizes are checked against the
parent's own limits before anything is allocated, statuses are taken from a
closed set, and no message is ever unpickled.
"""
import json
import math
import os
import signal
import time

import numpy as np

from sandbox import protocol
from sandbox.results import RunResult

_CHILD_STATUSES = frozenset({"ok", "runtime-error", "memory", "bad-output"})


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
    before serving.
    """

    def __init__(self, task, scorer, read_fd, write_fd, pid, wait_exit, send_task=False):
        self.task = task
        self.pid = pid
        self.reaped = False
        self.scorer = scorer
        self.wait_exit = wait_exit
        self.send_task = send_task
        self.calls = 0
        self.rows = 0
        self.deadline = time.monotonic() + task.limits.timeout_s
        self.channel = protocol.ParentChannel(read_fd, write_fd, self.deadline)

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

    def _death_status(self):
        """Classify a worker that exited without sending a result."""
        exited = self.wait_exit(self.pid, 2.0)
        if exited is None:
            return "runtime-error", "worker closed its channel without a result"
        self.reaped = True
        status, cpu = exited
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
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
        """Serve one ``model.predict_score`` call."""
        d = self.task.X_train.shape[1]
        if length < protocol.SHAPE2.size:
            raise protocol.ProtocolError("short score request")
        rows, cols = protocol.SHAPE2.unpack(self.channel.read_bytes(protocol.SHAPE2.size))
        if length != protocol.SHAPE2.size + rows * cols * 8:
            raise protocol.ProtocolError("score request length does not match its shape")
        limits = self.task.limits
        if self.calls + 1 > limits.max_calls:
            raise _Failure("budget", f"model budget exceeded: more than {limits.max_calls} predict_score calls")
        if self.rows + rows > limits.max_rows:
            raise _Failure("budget", f"model budget exceeded: {self.rows + rows} rows > {limits.max_rows}")
        self.calls += 1
        self.rows += rows
        if cols != d or rows < 1:
            # Don't allocate what a hostile request claims: drain and refuse.
            self.channel.drain(rows * cols * 8)
            error = "predict_score needs at least one row" if rows < 1 else (
                f"predict_score expects {d} features, got {cols}")
            self.channel.send(protocol.SCORE_ERROR, error.encode("utf-8"))
            return
        X = np.empty((rows, cols), dtype="<f8")
        self.channel.read_into(memoryview(X).cast("B"))
        error = _proxy_input_error(X)
        if error is None:
            t0 = time.monotonic()
            try:
                scores = np.asarray(self.scorer(X.astype(np.float64, copy=False)), dtype=np.float64).reshape(-1)
                if scores.shape[0] != rows:
                    error = f"scorer returned {scores.shape[0]} scores for {rows} rows"
            except Exception as exc:  # the detector failing must not crash the parent
                error = f"scorer failed: {type(exc).__name__}: {exc}"
            # Scoring happens here, not in the program: don't charge it.
            self.deadline += time.monotonic() - t0
            self.channel.deadline = self.deadline
        if error is not None:
            self.channel.send(protocol.SCORE_ERROR, error.encode("utf-8"))
        else:
            self.channel.send(protocol.SCORE_REPLY, np.ascontiguousarray(scores, dtype="<f8"))

    def _finish(self, length):
        """Read the child's INFO (and RESULT) frames and validate the output."""
        if length > protocol.MAX_JSON_BYTES:
            raise protocol.ProtocolError("oversized info message")
        try:
            info = json.loads(self.channel.read_bytes(length).decode("utf-8"))
            status = str(info.get("status"))
            message = str(info.get("message", ""))[:2000]
            stdout = str(info.get("stdout", ""))[: self.task.limits.max_stdout_chars + 100]
            mutated = bool(info.get("input_mutated", False))
        except (ValueError, AttributeError) as exc:
            raise protocol.ProtocolError(f"malformed info message: {exc}") from None
        extra = {"stdout": stdout, "input_mutated": mutated}
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
        bad = int(out.size - np.count_nonzero(np.isfinite(out)))
        if bad:
            return None, f"{bad} non-finite values"
        return out.astype(np.float64, copy=False), None


def _proxy_input_error(X):
    """Why the parent refuses to score ``X`` (None when it is fine)."""
    if not np.all(np.isfinite(X)):
        return "predict_score input has non-finite values"
    return None
