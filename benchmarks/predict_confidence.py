"""Benchmark: EnhancedDetector.predict_confidence (a sort) against PyOD's loop per row, side by side.

Fits ``EnhancedDetector(detector="ECOD", program="none")`` on ``--n`` Gaussian rows, then times,
in CPU seconds of this process, its ``predict_confidence`` and PyOD's
``BaseDetector.predict_confidence`` on the same fitted estimator and ``--n`` new rows (both
include the scoring, timed alone too), checks that they agree, and prints the times and ratios.

    python benchmarks/predict_confidence.py --n 20000 --d 12
"""
import argparse
import json
import time

import numpy as np
from pyod.models.base import BaseDetector

from das import EnhancedDetector


def cpu_seconds(fn):
    """``(result, CPU seconds of this process)`` of ``fn()``."""
    start = time.process_time()
    result = fn()
    return result, time.process_time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="training rows, and as many new rows")
    parser.add_argument("--d", type=int, default=12, help="features")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X_train, X_new = rng.normal(size=(args.n, args.d)), rng.normal(size=(args.n, args.d))
    est = EnhancedDetector(detector="ECOD", program="none").fit(X_train)
    _, scoring_s = cpu_seconds(lambda: est.decision_function(X_new))
    ours, ours_s = cpu_seconds(lambda: est.predict_confidence(X_new))
    pyod, pyod_s = cpu_seconds(lambda: BaseDetector.predict_confidence(est, X_new))
    print(json.dumps({"rows": args.n, "features": args.d, "scoring_cpu_s": round(scoring_s, 4),
                      "ours_cpu_s": round(ours_s, 4), "pyod_loop_cpu_s": round(pyod_s, 4),
                      "speedup": round(pyod_s / ours_s, 1),
                      "speedup_beyond_scoring": round((pyod_s - scoring_s) / max(ours_s - scoring_s, 1e-3), 1),
                      "max_abs_difference": float(np.max(np.abs(ours - pyod)))}))


if __name__ == "__main__":
    main()
