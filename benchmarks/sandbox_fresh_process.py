"""Where a sandboxed run's time goes: guards, or the fresh process every run gets.

For each program, the CPU milliseconds (median over repeats) of the same run
done four ways, side by side in one process, with a constant scorer (the
detector's own cost is left out; the sandbox serves it in the parent anyway):

* ``plain``: ``exec`` in this process, no guards (a warm process);
* ``guarded``: the program as audited and compiled by the sandbox, run with
  its guarded globals (:func:`sandbox.guards.make_globals`) in this process;
* ``fresh fork``: the plain run in a child forked for it (no sandbox, no
  guards): what any run in a new process costs, chiefly its first-touch and
  copy-on-write page faults (``faults`` is the child's minor-fault count);
* ``sandbox``: :func:`sandbox.run_program`, the worker's CPU seconds.

The sandbox forks a fresh worker for every run on purpose (a program could
leave numpy patched for the next one), so ``sandbox`` against ``fresh fork``
is the sandbox's own share (below a bare fork's since the spare worker faults
its heap in and warms numpy up before the run: ``sandbox.worker.warm_spare``),
and ``guarded`` against ``plain`` the guards'.
Data: the training split of mnist (3.45k x 100) from the shared ODDS
directory (Gaussian rows of that shape when absent). BLAS: one thread.

Usage: python benchmarks/sandbox_fresh_process.py [--programs PCA-default-07,...] [--repeats 5]
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sandbox_overhead import _load, corpus_programs, run_plain  # noqa: E402
from das.sandbox import rules, run_program, runner, zygote  # noqa: E402
from das.sandbox.guards import make_globals  # noqa: E402
from das.sandbox.worker import PrintSink, numpy_global_seed  # noqa: E402

DEFAULT_PROGRAMS = "PCA-default-07,IForest-default-04,ECOD-default-06,KNN-default-07,DRL-default-06"


def constant_scores(X):
    return np.zeros(len(X))


class _Model:
    """The model a guarded in-process run sees: public scoring methods only."""

    __slots__ = ("predict_score", "decision_function")
    _sandbox_public = frozenset(__slots__)

    def __init__(self, scorer):
        self.predict_score = self.decision_function = scorer


def run_guarded(source, X, n_samples):
    """The audited, restricted program with the sandbox's guarded globals, in this process."""
    _, code, _ = runner._audit(source, rules.DEFAULT_IMPORTS)
    np.random.seed(numpy_global_seed(0))
    namespace = make_globals(rules.DEFAULT_IMPORTS, PrintSink(10_000), 0, None)
    exec(code, namespace)  # audited and compiled by the sandbox, guarded at run time
    return namespace["generate_hard_anomalies"](n_samples, _Model(constant_scores), X.copy())


def cpu_in_process(fn):
    start = time.process_time()
    fn()
    return time.process_time() - start, None


def cpu_in_fresh_fork(fn):
    """CPU seconds and minor faults of ``fn`` run in a child forked for it."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            fn()
            code = 0
        finally:
            os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("the plain run failed in the forked child")
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt


def cpu_in_sandbox(source, X, n_samples):
    result = run_program(source, X, n_samples, constant_scores)
    if result.status != "ok":
        raise SystemExit(f"sandboxed run failed: {result.status}: {result.message}")
    return result.cpu_s, None


def main(argv=None):
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", default=DEFAULT_PROGRAMS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", default=os.environ.get(
        "DAS_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "odds")))
    args = parser.parse_args(argv)
    threadpool_limits(1)
    X, label = _load("mnist", (3400, 100), args.data_dir)
    n = len(X) // 10
    wanted = args.programs.split(",")
    sources = {label: src for label, _, src in corpus_programs() if label in wanted}
    print(f"{label} {X.shape[0]}x{X.shape[1]}, n_samples {n}, CPU ms (median of {args.repeats}), constant scorer")
    print(f"{'program':20s}{'plain':>8s}{'guarded':>9s}{'fresh fork':>12s}{'faults':>8s}{'sandbox':>9s}")
    for name in wanted:
        src = sources[name]
        ways = {"plain": lambda: cpu_in_process(lambda: run_plain(src, X, n, constant_scores)),
                "guarded": lambda: cpu_in_process(lambda: run_guarded(src, X, n)),
                "fork": lambda: cpu_in_fresh_fork(lambda: run_plain(src, X, n, constant_scores)),
                "sandbox": lambda: cpu_in_sandbox(src, X, n)}
        for way in ways.values():  # warm-up: audit cache, zygote, first calls
            way()
        spent = {key: [way() for _ in range(args.repeats)] for key, way in ways.items()}
        ms = {key: 1e3 * float(np.median([cpu for cpu, _ in runs])) for key, runs in spent.items()}
        faults = np.median([f for _, f in spent["fork"]])
        print(f"{name:20s}{ms['plain']:8.1f}{ms['guarded']:9.1f}{ms['fork']:12.1f}{faults:8.0f}{ms['sandbox']:9.1f}")
    zygote.shutdown()


if __name__ == "__main__":
    main()
