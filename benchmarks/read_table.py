"""Reading a 300k x 12 CSV: the hand-written reader it replaced (before) vs pandas (after), side by side.

Usage::

    python benchmarks/read_table.py                  # 300,000 rows x 12 columns (11 features + label)
    python benchmarks/read_table.py --rows 50000 --repeats 5

"Before" is ``collab/data.py`` as of commit e1289a0 (csv module, one ``float()``
per cell, the whole file read then split), loaded from git into a private
module; "after" is :func:`das.collab.data.load_dataset` in this checkout. Both
read the same file in this process, one after the other; the best of
``--repeats`` CPU-time and wall-time runs is printed with the ratio, and the
two results are checked to be equal.
"""
import argparse
import subprocess
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "e1289a0"


def _before_module():
    """``collab/data.py`` at :data:`BEFORE_COMMIT`, as a module that is not installed anywhere."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{BEFORE_COMMIT}:collab/data.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("das_data_before")
    exec(compile(source, f"{BEFORE_COMMIT}:collab/data.py", "exec"), module.__dict__)
    return module


def _write_csv(path, rows, features, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    y = (rng.random(rows) < 0.05).astype(int)
    header = ",".join([f"f{j}" for j in range(features)] + ["label"])
    body = np.column_stack([X, y])
    np.savetxt(path, body, delimiter=",", header=header, comments="", fmt=["%.9g"] * features + ["%d"])


def _best(fn, repeats):
    cpu, wall, result = [], [], None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--features", type=int, default=11, help="feature columns (plus one label column)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from das.collab.data import load_dataset

    before = _before_module()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        _write_csv(path, args.rows, args.features)
        size_mb = path.stat().st_size / 2**20
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            old = _best(lambda: before.load_dataset(path), args.repeats)
            new = _best(lambda: load_dataset(path), args.repeats)
    same = np.array_equal(old[2].X, new[2].X) and np.array_equal(old[2].y, new[2].y)
    print(f"{args.rows} x {args.features + 1} CSV ({size_mb:.1f} MiB), best of {args.repeats}; python {sys.version.split()[0]}")
    print(f"{'reader':32s}{'cpu s':>8s}{'wall s':>8s}")
    print(f"{'before (csv + float(), ' + BEFORE_COMMIT + ')':32s}{old[0]:8.2f}{old[1]:8.2f}")
    print(f"{'after (pandas)':32s}{new[0]:8.2f}{new[1]:8.2f}")
    print(f"speed-up: {old[0] / new[0]:.1f}x cpu, {old[1] / new[1]:.1f}x wall; identical arrays: {same}")
    print(f"target <= 2 s wall: {'met' if new[1] <= 2 else 'NOT met'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
