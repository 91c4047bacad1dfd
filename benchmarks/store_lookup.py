"""Benchmark: how fast is the certified-program lookup with many stored programs?

Fills a fresh store with ``--n`` programs spread over the seven detectors,
each with one passing verification, then times ``Certification.certified(detector)`` (collab.certification)
(with a default set, the runtime path, and without one, the hardness
fallback) and ``store.get(sha)``. Prints medians and 95th percentiles in ms.

    python benchmarks/store_lookup.py --n 10000 --repeats 1000
"""
import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from das.collab.certification import Certification
from das.program_store import ProgramStore

DETECTORS = ("PCA", "IForest", "OCSVM", "ECOD", "LOF", "KNN", "DRL")
SUITE = "bench-1"


def fill(store, n, rng):
    """Add ``n`` certified programs (one transaction) and return their keys."""
    shas = []
    with store.transaction():
        for i in range(n):
            det = DETECTORS[i % len(DETECTORS)]
            src = f"def generate(X, n_samples):\n    # program {i}\n    return X[:n_samples] * {1 + i / n}\n"
            sha = store.add(src, det, policy=f"policy {i}")
            hardness = float(rng.random())
            store.record_verification(sha, {"hardness": hardness, "properties": []}, passed=True,
                                      suite_version=SUITE, duration_s=0.1)
            shas.append(sha)
    return shas


def timed(fn, repeats):
    """Return per-call wall times of ``fn()`` in milliseconds."""
    out = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def summary(times):
    return {"median_ms": round(statistics.median(times), 4),
            "p95_ms": round(float(np.percentile(times, 95)), 4), "calls": len(times)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="programs to store")
    parser.add_argument("--repeats", type=int, default=1000, help="timed lookups per case")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        with ProgramStore(Path(tmp) / "bench.sqlite") as store:
            service = Certification(store, suite_version=SUITE)
            t0 = time.perf_counter()
            shas = fill(store, args.n, rng)
            fill_s = time.perf_counter() - t0
            fallback = timed(lambda i: service.certified(DETECTORS[i % 7]), args.repeats)
            for det in DETECTORS:
                best = service.certified(det).sha256
                service.set_default(det, best)
            default = timed(lambda i: service.certified(DETECTORS[i % 7]), args.repeats)
            get = timed(lambda i: store.get(shas[(i * 7919) % len(shas)]), args.repeats)
    print(json.dumps({
        "programs": args.n, "fill_s": round(fill_s, 2),
        "certified_with_default": summary(default),
        "certified_fallback_by_hardness": summary(fallback),
        "get_by_sha": summary(get),
    }, indent=2))


if __name__ == "__main__":
    main()
