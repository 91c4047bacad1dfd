"""Sandbox overhead: sandboxed ``run_program`` vs plain in-process ``exec``.

Runs, side by side in one process, the same synthesis program (a) through
:func:`sandbox.run_program` (audit, restricted compile, a fresh worker from
the zygote inside the bubblewrap sandbox of :mod:`sandbox.isolation`,
rlimits, seccomp allow-list, ``X_train`` mapped from a sealed memfd, model
proxy over pipes), exactly as users run it, and (b) with plain ``exec`` and
a direct ``predict_score``.  Programs: every program of the shipped
replay corpus (what ``das regenerate`` certifies by default), each scored
by its own detector, plus a generic fringe-point program.  Datasets: the
training split of shuttle (~22.8k x 9) and of mnist (~3.45k x 100) from the
shared ODDS directory (synthetic Gaussian data of the same shape when
absent).  Reports the median wall time over repeats, the ratio to plain per
program, the median ratio over programs (target: at most 1.3) and the fixed
overhead measured with an empty program (target: at most 10 ms a run).

The whole process runs with BLAS/OpenMP limited to one thread: the worker
always does, and so does every ``das bench`` job (joblib gives each of its
processes one thread), so both sides score and compute alike.

Usage: python benchmarks/sandbox_overhead.py [--repeats 5] [--data-dir DIR]
"""
import argparse
import functools
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from das.sandbox import run_program, zygote  # noqa: E402

HONEST = '''
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    """Policy: fringe points pushed slightly outward, screened by the detector."""
    n, d = X_train.shape
    spread = X_train.std(axis=0)
    spread = np.where(spread > 1e-12, spread, 1.0)
    center = X_train.mean(axis=0)
    seeds = X_train[np.random.randint(0, n, size=4 * n_samples)]
    step = np.random.uniform(0.05, 0.3, size=(4 * n_samples, 1))
    cand = seeds + step * (seeds - center) + 0.02 * spread * np.random.normal(size=seeds.shape)
    # keep candidates that are not too close to a training row (chunked distances)
    ref = X_train[np.random.choice(n, min(n, 2000), replace=False)]
    nearest = np.empty(len(cand))
    for start in range(0, len(cand), 512):
        block = cand[start:start + 512]
        d2 = (block ** 2).sum(1)[:, None] - 2 * block @ ref.T + (ref ** 2).sum(1)[None, :]
        nearest[start:start + 512] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    keep = nearest > np.quantile(nearest, 0.25)
    cand = cand[keep]
    scores = model.predict_score(cand)
    order = np.argsort(scores)
    out = cand[order[:n_samples]]
    for i in range(len(out)):
        out[i] += 0.0  # exercises the rewritten augmented assignment
    return out
'''

EMPTY = '''
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    return np.zeros((n_samples, X_train.shape[1]))
'''


class _Plain:
    """The model a plain, unsandboxed run sees."""

    def __init__(self, scorer):
        self.predict_score = scorer


def run_plain(source, X_train, n_samples, scorer, seed=0):
    """Reference: exec the program in-process with no guards at all (seeded as the worker seeds it)."""
    from das.sandbox.worker import numpy_global_seed

    np.random.seed(numpy_global_seed(seed))
    namespace = {}
    exec(compile(source, "<plain>", "exec"), namespace)  # trusted benchmark code only
    out = namespace["generate_hard_anomalies"](n_samples, _Plain(scorer), X_train.copy())
    return np.asarray(out, dtype=np.float64)


def corpus_programs():
    """(label, detector name, source) of every shipped replay-corpus program."""
    from das.engine.extract import extract_program
    from das.engine.replay import default_corpus_dir, load_index

    root = default_corpus_dir()
    for entry in load_index()["entries"]:
        text = (root / entry["file"]).read_text(encoding="utf-8")
        yield entry["id"], entry["detector"], extract_program(text).source


def _load(name, shape, data_dir):
    path = Path(data_dir) / f"{name}.npz"
    if path.exists():
        from das.collab.data import load_dataset, split_dataset

        return split_dataset(load_dataset(path), scale="standard").X_train, f"{name} {shape[0] // 1000}k-like"
    rng = np.random.default_rng(0)
    return rng.normal(size=shape), f"synthetic {shape[0]}x{shape[1]}"


def _paired_medians(fns, repeats):
    """Median wall time of each of ``fns``, interleaved so that load changes
    on a shared machine hit all alike."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, spent in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - t0)
    return [float(np.median(spent)) for spent in times]


_FIT_ROWS = 3000  # detectors are fitted on at most this many rows (DRL would take minutes)


def _scorers(X, names):
    from das.detectors import make_detector

    fit_on = X[np.random.default_rng(0).choice(len(X), min(len(X), _FIT_ROWS), replace=False)]
    return {name: make_detector(name, random_state=0).fit(fit_on).predict_score for name in sorted(names)}


def bench(X, programs, repeats):
    """Rows (label, sandbox s, plain s, same output) on ``X``."""
    n_samples = max(1, len(X) // 10)
    scorers = _scorers(X, {det for _, det, _ in programs})
    rows = []
    for label, det, src in programs:
        boxed = functools.partial(run_program, src, X, n_samples, scorers[det])
        plain = functools.partial(run_plain, src, X, n_samples, scorers[det])
        res = boxed()
        if res.status != "ok":
            raise SystemExit(f"sandboxed run of {label} failed: {res.status}: {res.message}")
        same = bool(np.allclose(plain(), res.output))
        t_box, t_plain = _paired_medians([boxed, plain], repeats)
        rows.append((label, t_box, t_plain, same))
    return rows


def main(argv=None):
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", default=os.environ.get(
        "DAS_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "odds")))
    args = parser.parse_args(argv)
    threadpool_limits(1)
    programs = [("fringe (generic)", "IForest", HONEST)] + list(corpus_programs())
    print(f"sandbox overhead, median of {args.repeats} runs; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs; numpy {np.__version__}; BLAS/OpenMP 1 thread")
    print(f"{'dataset':8s} {'program':18s} {'sandbox ms':>11s} {'plain ms':>9s} {'ratio':>7s}")
    for name, shape in (("shuttle", (24000, 9)), ("mnist", (3400, 100))):
        X, label = _load(name, shape, args.data_dir)
        label = f"{label} {X.shape[0]}x{X.shape[1]}"
        rows = bench(X, programs + [("empty", "IForest", EMPTY)], args.repeats)
        for prog, t_box, t_plain, same in rows:
            flag = "" if same else "  (output differs!)"
            print(f"{name:8s} {prog:18s} {1e3 * t_box:11.1f} {1e3 * t_plain:9.1f} {t_box / t_plain:7.2f}{flag}")
        print(f"  {label}: median ratio over {len(rows) - 1} programs "
              f"{np.median([t / p for _, t, p, _ in rows[:-1]]):.2f} (target <= 1.3); fixed overhead "
              f"(empty program) {1e3 * (rows[-1][1] - rows[-1][2]):.1f} ms (target <= 10 ms)")
    zygote.shutdown()

if __name__ == "__main__":
    main()
