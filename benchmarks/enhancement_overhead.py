"""Enhancement overhead relative to the base detector fit, median over datasets.

overhead = (synthesis + enhancement-classifier fit) / base-detector fit, both
measured side by side inside one :func:`collab.evaluate.evaluate` call per
(dataset, detector), with the one default configuration. Target: median <= 1.0x
for IForest, PCA and ECOD.

Usage::

    # from the timings of an existing benchmark run (no recomputation)
    python benchmarks/enhancement_overhead.py --results results/full
    # or measure now (certified programs from the store; DAS_DATA_DIR or --data-dir)
    python benchmarks/enhancement_overhead.py --data-dir /work/shared/datasets/odds --datasets cardio,wbc

``--auto`` (with ``--results``) compares instead ``program="auto"`` (its whole fit:
planted validation of every candidate, then the winner's refit) with one fixed
enhancement (base fit + synthesis + classifier fit) of the same cell. Target:
median <= 5x.

Prints per detector: the number of datasets, median base fit (s), median
enhancement (s), median and max ratio, and whether the target holds. ``--json``
prints the same as JSON. Also reports the peak RSS of this process.
"""
import argparse
import json
import resource
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DETECTORS = ("IForest", "PCA", "ECOD")
TARGET = 1.0
AUTO_TARGET = 5.0


def rows_from_results(results, detectors):
    """``[(dataset, detector, base_fit, enhancement)]`` from a results dir's cells.jsonl."""
    from das.collab.bench.report import load_records
    from das.collab.bench.tables import ok_records

    rows = []
    for rec in ok_records(load_records(results)):
        t = rec.get("timings", {})
        if rec["detector"] in detectors and t.get("synthesis", 0) > 0 and rec.get("seed", 0) == 0:
            rows.append((rec["dataset"], rec["detector"], t["base_fit"], t["synthesis"] + t["classifier_fit"]))
    return rows


def rows_auto_from_results(results, detectors):
    """``[(dataset, detector, fixed enhancement, auto)]`` seconds from a results dir's cells.jsonl."""
    from das.collab.bench.report import load_records
    from das.collab.bench.tables import ok_records

    rows = []
    for rec in ok_records(load_records(results)):
        t = rec.get("timings", {})
        if rec["detector"] in detectors and t.get("auto", 0) > 0 and t.get("synthesis", 0) > 0:
            # The cell's auto reuses the cell's fitted detector: add that fit, as a user's run pays it.
            rows.append((rec["dataset"], rec["detector"], t["base_fit"] + t["synthesis"] + t["classifier_fit"],
                         t["auto"] + t["base_fit"]))
    return rows


def rows_measured(data_dir, datasets, detectors, seed=0):
    """Measure now: one evaluate(methods=("base", "sum")) per dataset and detector."""
    from das.collab.bench.runner import resolve_datasets
    from das.collab.data import load_dataset, split_dataset
    from das.collab.evaluate import evaluate
    from das.collab.certification import certified_programs

    programs = {d: rec.source for d, rec in certified_programs(detectors).items()}
    rows = []
    for name, path in resolve_datasets(datasets, data_dir):
        split = split_dataset(load_dataset(path), scale="standard")
        for det in detectors:
            t = evaluate(split, det, programs[det], seed=seed, methods=("base", "sum"))["timings"]
            rows.append((name, det, t["base_fit"], t["synthesis"] + t["classifier_fit"]))
            print(f"  {name:>20} {det:>8} base {t['base_fit']:.3f}s enh {rows[-1][3]:.3f}s",
                  file=sys.stderr)
    return rows


def summarize(rows, detectors, target=TARGET):
    """Per-detector medians of the reference time, the measured time and their ratio."""
    out = {}
    for det in detectors:
        mine = [r for r in rows if r[1] == det]
        if not mine:
            continue
        ratios = [enh / base if base > 0 else float("inf") for _, _, base, enh in mine]
        med = statistics.median(ratios)
        out[det] = {"n_datasets": len(mine), "median_base_fit_s": statistics.median(r[2] for r in mine),
                    "median_enhancement_s": statistics.median(r[3] for r in mine),
                    "median_ratio": med, "max_ratio": max(ratios), "target_met": med <= target}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", help="results directory of a `das bench` run (uses its timings)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--datasets", default=None, help="comma-separated (default: all in the data dir)")
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument("--auto", action="store_true", help="with --results: auto vs one fixed enhancement")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    detectors = tuple(args.detectors.split(","))
    target = AUTO_TARGET if args.auto else TARGET
    if args.auto:
        rows = rows_auto_from_results(args.results, detectors)
    elif args.results:
        rows = rows_from_results(args.results, detectors)
    else:
        names = args.datasets.split(",") if args.datasets else None
        rows = rows_measured(args.data_dir, names, detectors)
    summary = summarize(rows, detectors, target)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if args.json:
        print(json.dumps({"per_detector": summary, "peak_rss_mb": peak}, indent=2))
        return 0
    ref, measured = ("fixed", "auto") if args.auto else ("base fit", "enh.")
    print(f"{'detector':>8} {'n':>3} {ref:>9} {measured:>9} {'median x':>9} {'max x':>8}  target<={target}")
    for det, s in summary.items():
        print(f"{det:>8} {s['n_datasets']:>3} {s['median_base_fit_s']:>8.3f}s {s['median_enhancement_s']:>8.3f}s "
              f"{s['median_ratio']:>9.2f} {s['max_ratio']:>8.2f}  {'yes' if s['target_met'] else 'NO'}")
    print(f"peak RSS of this process: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
