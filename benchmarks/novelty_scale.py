"""The run-time output check at scale: the novelty measure against its previous implementation.

Measures :func:`sandbox.novelty.measure` (every synthesized row against all
training rows) and the implementation it replaced (kept verbatim as the
oracle in ``tests/test_sandbox_novelty.py``) side by side, on seeded
standard-normal training rows (default 1M x 20) and 100k synthesized rows of
four kinds: novel rows (fringe points, what a sound program returns), exact
copies of training rows, one row repeated, and near copies (training rows
moved by 5 % of the median spacing, red team p9). Each measurement runs in
its own forked process (CPU seconds of every thread, peak RSS); the previous
implementation is stopped after ``--limit`` seconds. Both must agree.

Usage: python benchmarks/novelty_scale.py [--rows 1000000] [--features 20] [--out 100000] [--limit 600]
"""
import argparse
import os
import pickle
import select
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from das.sandbox import novelty  # noqa: E402
from tests.test_sandbox_novelty import reference_measure  # noqa: E402


def outputs(X, m, rng):
    """The synthesized rows of each kind."""
    n, d = X.shape
    idx = rng.integers(0, n, m)
    sample = X[rng.choice(n, 2000, replace=False)]
    from scipy.spatial import cKDTree

    gap = float(np.median(cKDTree(sample).query(sample, k=2)[0][:, 1])) * (2000 / n) ** (1 / d)
    step = rng.normal(size=(m, d))
    step /= np.linalg.norm(step, axis=1, keepdims=True)
    center = X.mean(axis=0)
    return {
        "novel (fringe points)": X[idx] + 0.3 * (X[idx] - center) + 0.2 * rng.normal(size=(m, d)),
        "exact copies": X[idx],
        "one row repeated": np.repeat(X[idx[:1]], m, axis=0),
        "near copies (5% of the gap)": X[idx] + 0.05 * gap * step,
    }


def timed(fn, limit):
    """``fn()`` in a forked child: (result or None when over ``limit`` s, CPU s, wall s, peak RSS MiB)."""
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read_fd)
            os.write(write_fd, pickle.dumps(fn()))
        finally:
            os._exit(0)
    os.close(write_fd)
    data = b""
    while select.select([read_fd], [], [], max(0.0, limit - (time.perf_counter() - start)))[0]:
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(read_fd)
    if not data:
        os.kill(pid, 9)
    _, _, usage = os.wait4(pid, 0)
    result = pickle.loads(data) if data else None
    return result, usage.ru_utime + usage.ru_stime, time.perf_counter() - start, usage.ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--out", type=int, default=100_000)
    parser.add_argument("--limit", type=float, default=600.0, help="seconds before the old implementation is stopped")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features))
    print(f"novelty check: {args.rows:,} x {args.features} training rows, {args.out:,} synthesized rows; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'output':28s} {'old CPU s':>10s} {'new CPU s':>10s} {'x faster':>9s} {'old wall':>9s} {'new wall':>9s} "
          f"{'new RSS':>8s}  verdict (copy / near / repeat shares)")
    for name, out in outputs(X, args.out, rng).items():
        old, old_cpu, old_wall, _ = timed(lambda: reference_measure(X, out), args.limit)
        new, new_cpu, new_wall, new_rss = timed(lambda: novelty.measure(X, out), args.limit)
        if new is None:
            print(f"{name:28s} new implementation stopped after {args.limit:.0f} s", flush=True)
            continue
        shares = f"{new.copy_fraction:.3f} / {new.near_fraction:.3f} / {new.repeat_fraction:.3f}"
        if old is None:
            agree, old_text = "old stopped", f">{args.limit:.0f}"
        else:
            same = (old.copy_fraction, old.near_fraction, old.repeat_fraction) == (
                new.copy_fraction, new.near_fraction, new.repeat_fraction) and old.problems() == new.problems()
            agree, old_text = ("same" if same else "DIFFERENT"), f"{old_cpu:.1f}"
        speedup = "" if old is None else f"{old_cpu / new_cpu:9.1f}"
        print(f"{name:28s} {old_text:>10s} {new_cpu:10.1f} {speedup:>9s} {old_wall:9.1f} {new_wall:9.1f} "
              f"{new_rss:6.0f}MB  {shares} ({'refused' if new.problems() else 'accepted'}; {agree})", flush=True)


if __name__ == "__main__":
    main()
