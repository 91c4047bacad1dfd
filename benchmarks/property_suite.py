"""Time the property suite on the example programs and show the depth share per detector.

Usage::

    python benchmarks/property_suite.py                 # honest programs, own detector
    python benchmarks/property_suite.py --cross         # + every program against every detector
    python benchmarks/property_suite.py --dir tests/programs/buggy --detectors IForest

Prints, per program, the detector, the verdict, the suite wall time and the
depth share. ``--cross`` prints the depth matrix that shows whether
programs are detector-specific (a program written for a family should score
harder against that family than programs written for other families).
"""
import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from das.sandbox.properties import SUITE_VERSION, verify_program  # noqa: E402

FAMILY = {
    "iforest": "IForest", "pca": "PCA", "ocsvm": "OCSVM", "ecod": "ECOD",
    "knn": "KNN", "lof": "LOF", "drl": "DRL",
}


def _own_detector(path):
    return FAMILY.get(path.stem.split("_")[0], "IForest")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(REPO / "tests" / "programs" / "honest"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cross", action="store_true", help="every program x every detector")
    parser.add_argument("--detectors", nargs="*", help="override the detectors to run")
    args = parser.parse_args(argv)

    programs = sorted(Path(args.dir).glob("*.py"))
    t0 = time.perf_counter()
    _warm_up(args.detectors or sorted(set(FAMILY.values())))
    print(f"warm-up (imports of PyOD/torch, first fits): {time.perf_counter() - t0:.2f} s")
    print(f"property suite {SUITE_VERSION}, seed {args.seed}, {len(programs)} programs")
    print(f"{'program':40s} {'detector':8s} {'verdict':11s} {'suite_s':>8s} {'depth':>8s}")
    times, matrix = [], {}
    for path in programs:
        source = path.read_text()
        dets = args.detectors or (sorted(set(FAMILY.values())) if args.cross
                                  else [_own_detector(path)])
        for det in dets:
            t0 = time.perf_counter()
            rep = verify_program(source, det, seed=args.seed)
            wall = time.perf_counter() - t0
            if det == _own_detector(path) or args.detectors:
                times.append(wall)
            matrix[(path.stem, det)] = rep.depth
            verdict = "CERTIFIABLE" if rep.passed else "REJECTED"
            failed = ",".join(p.name for p in rep.failures())
            print(f"{path.stem:40s} {det:8s} {verdict:11s} {wall:8.2f} "
                  f"{rep.depth:8.3f} {failed}")
            sys.stdout.flush()
    if times:
        print(f"suite time per program: mean {sum(times) / len(times):.2f} s, "
              f"max {max(times):.2f} s over {len(times)} runs")
    if args.cross:
        _print_matrix(programs, matrix)


def _warm_up(detectors):
    """Import and fit every detector once so suite times exclude one-off imports."""
    from das.detectors import make_detector
    from das.sandbox.datasets import base_dataset
    from das.sandbox.runner import run_program  # noqa: F401 - imports the sandbox once

    X = base_dataset(0).X
    for name in detectors:
        make_detector(name, random_state=0).fit(X)


def _print_matrix(programs, matrix):
    dets = sorted(set(FAMILY.values()))
    print("\ndepth (rows: program, columns: detector scored against)")
    print(f"{'':40s}" + "".join(f"{d:>8s}" for d in dets))
    for path in programs:
        cells = "".join(f"{matrix.get((path.stem, d), float('nan')):8.3f}" for d in dets)
        print(f"{path.stem:40s}{cells}")


if __name__ == "__main__":
    main()
