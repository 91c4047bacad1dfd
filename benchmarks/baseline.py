"""Baseline table: every detector, default settings, on every shared ODDS dataset.

Usage::

    python benchmarks/baseline.py                        # all 7 detectors x all datasets
    python benchmarks/baseline.py --datasets wbc glass --detectors PCA ECOD

Protocol (LLM-DAS / DRL papers): normal samples in file order, first half trains, test =
second half + all anomalies, standardization fitted on train only
(``collab.data.split_dataset(ds, scale="standard")``). One seed, one default
configuration for every dataset. Writes ``baseline.csv`` (one row per dataset x detector,
appended as each cell finishes) and ``baseline.md`` (AUC-PR / AUC-ROC tables, means, the
paper's reference means, fit times, the command, seed and versions).
"""
import argparse
import csv
import datetime as dt
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from das.collab.data import list_datasets, load_dataset, split_dataset  # noqa: E402
from das.collab.metrics import auc_pr, auc_roc  # noqa: E402
from das.detectors import DETECTOR_NAMES, make_detector  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "odds"
FIELDS = ("dataset", "detector", "seed", "n_train", "n_test", "n_features", "n_anomalies",
          "auc_pr", "auc_roc", "fit_s", "score_s", "status", "message")
# LLM-DAS paper, mean base-detector AUC-PR over its 36 datasets (DRL tuned per dataset).
PAPER_MEAN_AUC_PR = {"PCA": 0.598, "IForest": 0.572, "OCSVM": 0.530, "ECOD": 0.538,
                     "DRL": 0.744}


def run_cell(split, detector, seed):
    """Fit one detector on one split and return a CSV row (errors are recorded, not raised)."""
    row = {"dataset": split.name, "detector": detector, "seed": seed,
           "n_train": len(split.X_train), "n_test": len(split.X_test),
           "n_features": split.X_train.shape[1], "n_anomalies": int(split.y_test.sum()),
           "auc_pr": "", "auc_roc": "", "fit_s": "", "score_s": "", "status": "ok",
           "message": ""}
    try:
        det = make_detector(detector, random_state=seed)
        t0 = time.perf_counter()
        det.fit(split.X_train)
        t1 = time.perf_counter()
        scores = det.predict_score(split.X_test)
        t2 = time.perf_counter()
        row.update(auc_pr=f"{auc_pr(split.y_test, scores):.4f}",
                   auc_roc=f"{auc_roc(split.y_test, scores):.4f}",
                   fit_s=f"{t1 - t0:.2f}", score_s=f"{t2 - t1:.2f}")
    except Exception as exc:  # one broken cell must not lose the rest of the table
        row.update(status="error", message=f"{type(exc).__name__}: {exc}"[:300])
    return row


def _versions():
    import pyod
    import sklearn
    import torch

    return (f"python {platform.python_version()}, numpy {np.__version__}, scikit-learn "
            f"{sklearn.__version__}, pyod {pyod.__version__}, torch {torch.__version__}; "
            "detectors compute on one thread, so the scores do not depend on the machine")


def _table(rows, datasets, detectors, key, digits=3):
    cell = {(r["dataset"], r["detector"]): r for r in rows}
    body = []
    for ds in datasets:
        vals = []
        for det in detectors:
            r = cell.get((ds, det))
            vals.append("err" if r and r["status"] != "ok" else
                        f"{float(r[key]):.{digits}f}" if r else "")
        body.append([ds, *vals])
    means = []
    for det in detectors:
        got = [float(cell[(ds, det)][key]) for ds in datasets
               if (ds, det) in cell and cell[(ds, det)]["status"] == "ok"]
        n_missing = len(datasets) - len(got)
        mean = f"{np.mean(got):.{digits}f}" if got else ""
        means.append(mean + (f" ({n_missing} missing)" if n_missing and got else ""))
    body.append(["**mean**", *(f"**{m}**" if m else "" for m in means)])
    return tabulate(body, ["dataset", *detectors], tablefmt="github", disable_numparse=True,
                    colalign=("left", *("right",) * len(detectors))).splitlines()


def write_markdown(path, rows, datasets, detectors, command, seed, started, elapsed):
    """Render the per-dataset tables, means and reference means to ``path``."""
    out = ["# Baseline: base detectors on the shared datasets", "",
           f"Command: `{command}`", "",
           f"Seed {seed}; default hyper-parameters for every dataset; split: normals in file "
           "order, first half train, test = second half + all anomalies; standard scaling "
           f"fitted on train. Started {started} UTC, {elapsed / 60:.1f} min wall on a shared "
           "2-core CPU machine.", "", f"Versions: {_versions()}.", "",
           "## AUC-PR", "", *_table(rows, datasets, detectors, "auc_pr"), "",
           "Paper reference (LLM-DAS, mean base AUC-PR over its 36 datasets; its DRL is "
           "tuned per dataset, ours uses one default configuration):", "",
           *tabulate([["LLM-DAS paper", *(f"{PAPER_MEAN_AUC_PR[d]:.3f}" if d in PAPER_MEAN_AUC_PR
                                          else "—" for d in detectors)]],
                     ["", *detectors], tablefmt="github", disable_numparse=True).splitlines(), "",
           "## AUC-ROC", "", *_table(rows, datasets, detectors, "auc_roc"), "",
           "## Fit time (s)", "", *_table(rows, datasets, detectors, "fit_s", digits=2), ""]
    errors = [r for r in rows if r["status"] != "ok"]
    if errors:
        out += ["## Errors", ""] + [f"- {r['dataset']} / {r['detector']}: {r['message']}"
                                    for r in errors] + [""]
    path.write_text("\n".join(out), encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="*", help="dataset stems (default: all)")
    parser.add_argument("--detectors", nargs="*", default=list(DETECTOR_NAMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    command = shlex.join(["python", "benchmarks/baseline.py",
                          *(argv if argv is not None else sys.argv[1:])])
    paths = list_datasets(args.data_dir)
    if args.datasets:
        wanted = {d.lower() for d in args.datasets}
        paths = [p for p in paths if Path(p).stem.lower() in wanted]
    detectors = [make_detector(d).name for d in args.detectors]
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = args.out / "baseline.csv", args.out / "baseline.md"
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    t_start = time.perf_counter()
    rows, names = [], []
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for path in paths:
            split = split_dataset(load_dataset(path), scale="standard")
            names.append(split.name)
            for det in detectors:
                row = run_cell(split, det, args.seed)
                rows.append(row)
                writer.writerow(row)
                fh.flush()
                print(f"{split.name:18s} {det:8s} AUC-PR {row['auc_pr'] or row['status']:>7s}"
                      f"  AUC-ROC {row['auc_roc'] or '-':>7s}  fit {row['fit_s'] or '-':>7s}s",
                      flush=True)
            write_markdown(md_path, rows, names, detectors, command, args.seed, started,
                           time.perf_counter() - t_start)
    print(f"wrote {csv_path} and {md_path}")


if __name__ == "__main__":
    main()
