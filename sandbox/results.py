"""Typed outcome and limits of a sandboxed run."""
import math
from dataclasses import dataclass, field

import numpy as np

#: Largest magnitude a program's value may have: the runtime's forest (and torch detectors)
#: work in float32, where anything larger becomes inf.
MAX_ABS_VALUE = float(np.finfo(np.float32).max)

#: Every status :func:`sandbox.run_program` can return.
STATUSES = ("ok", "audit-rejected", "runtime-error", "timeout", "memory", "budget", "bad-output",
            "violation")


def value_problem(values):
    """Why ``values`` (float64) may not reach a library: None when every value is finite in float32.

    A finite float64 beyond ``MAX_ABS_VALUE`` (1e300, say) turns into inf when
    the random forest converts it, so it is refused here, before any library sees it.
    """
    if values.size == 0 or (-MAX_ABS_VALUE <= values.min() and values.max() <= MAX_ABS_VALUE):
        return None  # two passes and no temporary: the common case (NaN makes min and max NaN)
    bad = int(values.size - np.count_nonzero(np.abs(values) <= MAX_ABS_VALUE))  # NaN compares False
    if bad:
        return f"{bad} non-finite values in float32 (NaN, inf or |x| > {MAX_ABS_VALUE:.4g})"
    return None


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run.

    Parameters
    ----------
    timeout_s : float
        Hard wall-clock seconds for the whole run, time spent in the parent's
        scorer included (large score requests are scored in chunks with the
        deadline checked between them).
    cpu_s : float or None
        CPU seconds of the program itself (RLIMIT_CPU); None means
        ``timeout_s + 1``. The defaults give a program 30 CPU seconds and the
        whole run, scoring on large data included, two minutes.
    memory_mb : int
        Address space the program may add on top of the forked interpreter (whose
        heap holds ``sandbox.worker.SPARE_HEAP_BYTES`` already faulted in, reused first).
    max_calls, max_rows : int
        Budget of ``model.predict_score`` calls and of rows scored in total.
    max_score_mb : int
        Budget of bytes the program may send in score requests in total
        (checked against each request's header before anything is read).
    max_stdout_chars : int
        Captured ``print`` output kept.
    max_open_files : int
        RLIMIT_NOFILE in the worker.
    seccomp : bool
        Install the seccomp filter (blocks fork/exec/network/kill/file writes)
        where the platform supports it.
    """

    timeout_s: float = 120.0
    cpu_s: float = 30.0
    memory_mb: int = 2048
    max_calls: int = 1000
    max_rows: int = 5_000_000
    max_score_mb: int = 1024
    max_stdout_chars: int = 20_000
    max_open_files: int = 32
    seccomp: bool = True

    def cpu_seconds(self):
        """RLIMIT_CPU value in whole seconds."""
        return math.ceil(self.cpu_s if self.cpu_s is not None else self.timeout_s + 1)


@dataclass
class RunResult:
    """Typed outcome of :func:`run_program`.

    ``status`` is one of ``STATUSES``; ``output`` is the validated
    ``(n_samples, d)`` float64 array when ``status == "ok"``, else None.
    :attr:`cpu_s` is the worker's CPU seconds. ``message`` and ``stdout`` come
    from the program and are cleaned by :mod:`sandbox.untrusted`.
    """

    status: str
    output: np.ndarray = None
    message: str = ""
    calls: int = 0
    rows_scored: int = 0
    duration_s: float = 0.0
    stdout: str = ""
    input_mutated: bool = False
    findings: tuple = field(default_factory=tuple)
    #: The CPU seconds, or what measures them once asked (see :meth:`measure_cpu`).
    _cpu: object = field(default=None, repr=False, compare=False)

    @property
    def cpu_s(self):
        """The worker's CPU seconds (user + system, from ``wait4``: exact, whatever the load); None
        when they could not be collected. Measured when first read: the worker is reaped while
        the caller goes on."""
        if callable(self._cpu):
            self._cpu = self._cpu()
        return self._cpu

    def measure_cpu(self, measure):
        """Set :attr:`cpu_s` to ``measure()``, called once, when first read."""
        self._cpu = measure

    def __getstate__(self):  # a copy or a pickle holds the measure, never what takes it
        return {**self.__dict__, "_cpu": self.cpu_s}

    @property
    def ok(self):
        """True when the program ran and returned a valid array."""
        return self.status == "ok"

    def to_dict(self):
        """JSON-serializable summary (the output array is summarized by shape)."""
        return {
            "status": self.status, "message": self.message, "calls": self.calls,
            "rows_scored": self.rows_scored, "duration_s": self.duration_s, "cpu_s": self.cpu_s,
            "stdout": self.stdout, "input_mutated": self.input_mutated,
            "output_shape": None if self.output is None else list(self.output.shape),
            "findings": [str(f) for f in self.findings],
        }
