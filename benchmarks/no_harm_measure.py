"""The held-out measurement of ``program="auto"`` (issue 21): do no harm, the expected gain, a few labels.

For each dataset x detector x seed (the papers' split; training rows and test
normals subsampled to ``--max-train`` / ``--max-test-normal``, every test
anomaly kept), fitted through the runtime a user calls
(:func:`collab.pipeline.fit_auto`, :func:`collab.pipeline.fit_source`):

- ``base``: the detector alone;
- ``random``: random outliers at the fixed path's lambda (the ablation);
- ``auto``: the label-free default (its ``expected_gain`` is kept);
- ``labels k``: ``auto`` with k known anomalies (k = 5, 10, 20) taken out of
  the test set, never fitted on and never scored; the test AUC-PR of every
  method of that row is on the remaining test rows (at least ``MIN_LEFT``
  anomalies must remain, else the cell has no row for that k).

Cells are appended to ``<out>/cells.jsonl`` (a rerun skips the cells done).
``summary`` prints, per detector and method, mean / median / worst gain over
the base and wins/ties/losses (a tie: |gain| <= 1e-4), the same against the
random-outlier ablation, the correlation of ``auto``'s expected gain with its
real gain across datasets, and writes the calibration figure. The 12 decision
datasets (``no_harm_rules.DECISION``) are never run here unless ``--split
decision`` asks for them: they decided the rule.

    python benchmarks/no_harm_measure.py run --out results/no_harm/held_out \\
        --detectors PCA,IForest,OCSVM,ECOD,DRL --seeds 0,1
    python benchmarks/no_harm_measure.py summary --out results/no_harm/held_out
    python benchmarks/no_harm_measure.py compare --before results/no_harm/held_out_before \\
        --out results/no_harm/held_out
"""
import argparse
import json
import sys
from pathlib import Path
from time import perf_counter

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from no_harm_rules import DATA_DIR, DECISION  # noqa: E402

KS = (5, 10, 20)
MIN_LEFT = 5  # test anomalies left to measure on once k are taken out (else the cell has no "labels k")
TIE = 1e-4


def run_cell(path, detector, seed, cands, max_train, max_test_normal, ks=KS):
    """One dataset x detector x seed: test AUC-PR of every method, and what ``auto`` expected."""
    from das.collab import enhance, pipeline
    from das.collab.metrics import auc_pr
    from das.collab.synthesis import RandomOutliers
    from no_harm_rules import cell_data  # a sibling script: run as python benchmarks/no_harm_measure.py

    name, X_train, X_test, y_test = cell_data(path, seed, max_train, max_test_normal)
    t0 = perf_counter()
    det = enhance.fit_detector(detector, X_train, seed)
    base = enhance.base_scores(det, X_test)
    random = pipeline.fit_source(RandomOutliers(), X_train, detector, seed=seed, det=det).scores(X_test)["sum"]
    auto = pipeline.fit_auto(X_train, detector, seed=seed, det=det, candidates=cands)
    cell = {"dataset": name, "detector": detector, "seed": seed, "n_train": len(X_train),
            "n_test_anomalies": int(y_test.sum()),
            "auc_pr": {"base": float(auc_pr(y_test, base)), "random": float(auc_pr(y_test, random)),
                       "auto": float(auc_pr(y_test, auto.scores(X_test)["sum"]))},
            "expected_gain": auto.selection["expected_gain"], "labels": {}}
    anomaly_rows = np.flatnonzero(y_test == 1)
    for k in ks:
        if y_test.sum() < k + MIN_LEFT:  # too few test anomalies to take k out and still measure
            continue
        known = np.random.default_rng([seed, k]).choice(anomaly_rows, k, replace=False)
        keep = np.ones(len(y_test), dtype=bool)
        keep[known] = False
        chosen = pipeline.fit_auto(X_train, detector, seed=seed, det=det, candidates=cands, known=X_test[known])
        y = y_test[keep]
        cell["labels"][str(k)] = {
            "auc_pr": {"base": float(auc_pr(y, base[keep])), "random": float(auc_pr(y, random[keep])),
                       "labels": float(auc_pr(y, chosen.scores(X_test[keep])["sum"]))},
            "expected_gain": chosen.selection["expected_gain"]}
    cell["seconds"] = perf_counter() - t0
    return cell


def _datasets(split, only):
    names = sorted(p.stem for p in DATA_DIR.iterdir() if p.suffix in (".npz", ".mat"))
    names = [n for n in names if (n in DECISION) == (split == "decision")]
    return [n for n in names if n in only] if only else names


def cmd_run(args):
    from das.collab import selection
    from das.collab.pipeline import detector_name

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells = out / "cells.jsonl"
    done = {(c["dataset"], c["detector"], c["seed"]) for c in _read(cells)}
    only = set(args.datasets.split(",")) if args.datasets else None
    for detector in (detector_name(d) for d in args.detectors.split(",")):
        cands = selection.candidates(detector, args.store)
        print(f"{detector}: candidates {[c.name for c in cands]}", file=sys.stderr)
        for name in _datasets(args.split, only):
            for seed in (int(s) for s in args.seeds.split(",")):
                if (name, detector, seed) in done:
                    continue
                path = next(DATA_DIR.glob(f"{name}.*"))
                cell = run_cell(path, detector, seed, cands, args.max_train, args.max_test_normal)
                with cells.open("a") as f:
                    f.write(json.dumps(cell) + "\n")
                gain = cell["auc_pr"]["auto"] - cell["auc_pr"]["base"]
                print(f"  {name} {detector} {seed}: auto - base {gain:+.4f} "
                      f"({cell['expected_gain']['decision']}), {cell['seconds']:.0f} s", file=sys.stderr)


def _read(path):
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []


def summary_line(gains):
    g = np.asarray(gains, dtype=float)
    w, t, l = int((g > TIE).sum()), int((abs(g) <= TIE).sum()), int((g < -TIE).sum())
    return (f"mean {g.mean():+.4f}  median {np.median(g):+.4f}  worst {g.min():+.4f}  w/t/l {w}/{t}/{l}  "
            f"(< -.05: {int((g < -0.05).sum())})")


def per_dataset(cells, method, against, k=None):
    """Gain of ``method`` over ``against`` per dataset, averaged over seeds."""
    out = {}
    for c in cells:
        auc = c["auc_pr"] if k is None else c["labels"].get(str(k), {}).get("auc_pr")
        if auc is None:
            continue
        out.setdefault(c["dataset"], []).append(auc[method] - auc[against])
    return {d: float(np.mean(v)) for d, v in out.items()}


def calibration(cells):
    """``(estimate, real gain)`` per dataset (means over seeds) of the label-free ``auto``."""
    est, real = {}, {}
    for c in cells:
        est.setdefault(c["dataset"], []).append(c["expected_gain"]["estimate"])
        real.setdefault(c["dataset"], []).append(c["auc_pr"]["auto"] - c["auc_pr"]["base"])
    names = sorted(est)
    return np.array([np.mean(est[n]) for n in names]), np.array([np.mean(real[n]) for n in names])


def cmd_summary(args):
    cells = _read(Path(args.out) / "cells.jsonl")
    if not cells:
        sys.exit(f"no cells in {args.out}/cells.jsonl: run first")
    print(f"# {len({c['dataset'] for c in cells})} datasets, {len(cells)} cells; gain in test AUC-PR, "
          "averaged over seeds per dataset; tie: |gain| <= 1e-4")
    figure = {}
    for det in sorted({c["detector"] for c in cells}):
        dc = [c for c in cells if c["detector"] == det]
        print(f"\n## {det}")
        for label, method, k in [("auto (label-free)", "auto", None), ("random (ablation)", "random", None)] + \
                [(f"labels k={k}", "labels", k) for k in KS]:
            vs_base = per_dataset(dc, method, "base", k)
            if not vs_base:
                continue
            print(f"{label:<20} vs base   ({len(vs_base):2d} datasets) {summary_line(list(vs_base.values()))}")
            if method != "random":
                vs_random = per_dataset(dc, method, "random", k)
                print(f"{'':<20} vs random ({len(vs_random):2d} datasets) {summary_line(list(vs_random.values()))}")
        kept = sum(c["expected_gain"]["decision"] == "keep base" for c in dc)
        est, real = calibration(dc)
        r = float(np.corrcoef(est, real)[0, 1]) if len(est) > 2 and est.std() > 0 and real.std() > 0 else float("nan")
        print(f"auto kept the base in {kept}/{len(dc)} cells; expected gain vs real gain across datasets: "
              f"Pearson r {r:+.3f} (n={len(est)})")
        figure[det] = (est, real, r)
    _figure(figure, Path(args.figure or Path(args.out) / "calibration.png"))


def cmd_compare(args):
    """Two measurements side by side (e.g. two commits on one store): per detector, label-free and each k."""
    before, after = _read(Path(args.before) / "cells.jsonl"), _read(Path(args.out) / "cells.jsonl")
    if not before or not after:
        sys.exit("compare needs cells in both --before and --out: run first")
    print(f"{'detector':8s} {'what':11s} {'before: ' + args.before:52s} after: {args.out}")
    for det in sorted({c["detector"] for c in after}):
        for label, method, k in [("label-free", "auto", None)] + [(f"k={k}", "labels", k) for k in KS]:
            old = per_dataset([c for c in before if c["detector"] == det], method, "base", k)
            new = per_dataset([c for c in after if c["detector"] == det], method, "base", k)
            if old and new:
                print(f"{det:8s} {label:11s} {summary_line(list(old.values())):52s} {summary_line(list(new.values()))}")


def _figure(data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for det, (est, real, r) in sorted(data.items()):
        ax.scatter(est, real, s=20, alpha=0.75, label=f"{det} (r {r:+.2f}, n={len(est)})")
    lo = min(min(e.min(), g.min()) for e, g, _ in data.values())
    hi = max(max(e.max(), g.max()) for e, g, _ in data.values())
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--", label="estimate = real gain")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("expected gain (planted anomalies, label-free; 0 when the base is kept)")
    ax.set_ylabel("real gain: auto - base, test AUC-PR")
    ax.set_title("auto's expected gain against the real gain (one point per dataset)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\ncalibration figure: {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--out", required=True)
    run.add_argument("--detectors", default="PCA,IForest,OCSVM,ECOD,DRL")
    run.add_argument("--seeds", default="0,1")
    run.add_argument("--datasets", default=None, help="comma-separated subset (default: every one of --split)")
    run.add_argument("--split", choices=("held-out", "decision"), default="held-out")
    run.add_argument("--max-train", type=int, default=2000)
    run.add_argument("--max-test-normal", type=int, default=2000)
    run.add_argument("--store", default=None, help="program store (default: the user's)")
    summary = sub.add_parser("summary")
    summary.add_argument("--out", required=True)
    summary.add_argument("--figure", default=None, help="PNG path (default: <out>/calibration.png)")
    compare = sub.add_parser("compare", help="two measurements side by side")
    compare.add_argument("--before", required=True)
    compare.add_argument("--out", required=True)
    args = parser.parse_args()
    {"run": cmd_run, "summary": cmd_summary, "compare": cmd_compare}[args.cmd](args)


if __name__ == "__main__":
    main()
