"""What bounding the enhancement to ``collab.enhance.FIT_ROWS`` training rows changes, on the
ODDS datasets with more training rows than that (campaign, shuttle): test AUC-PR of the fixed
enhancement (random outliers, and the detector's certified program) fitted on every training row
against fitted on the seeded FIT_ROWS subsample, at two seeds (the seed-to-seed spread is the
scale to read the difference against).

    python benchmarks/fit_rows_effect.py [--detectors IForest,PCA,ECOD] [--store PATH]
"""
import argparse
import os
from pathlib import Path

import numpy as np

DATA_DIR = Path(os.environ.get("DAS_DATA_DIR", Path(__file__).resolve().parents[2] / "shared/datasets/odds"))


def main():
    from das.collab import enhance, pipeline
    from das.collab.certification import resolve_source
    from das.collab.data import load_dataset, split_dataset
    from das.collab.metrics import auc_pr
    from das.collab.synthesis import RandomOutliers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default="IForest,PCA,ECOD")
    parser.add_argument("--datasets", default="campaign,shuttle")
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    bounded = enhance.FIT_ROWS
    print(f"test AUC-PR, enhancement fitted on every training row vs on {bounded:,} (sum fusion, lambda "
          f"{enhance.LAM:g}); two seeds each")
    print(f"{'dataset':<10} {'detector':<8} {'source':<8} {'seed':>4} {'all rows':>9} {'bounded':>9} {'diff':>8}")
    diffs = []
    for name in args.datasets.split(","):
        split = split_dataset(load_dataset(next(DATA_DIR.glob(f"{name}.*"))), scale="standard")
        for det_name in args.detectors.split(","):
            sources = {"random": RandomOutliers()}
            try:
                sources["program"] = resolve_source("certified", det_name, args.store)
            except Exception as exc:  # noqa: BLE001 - a detector without a certified program: random only
                print(f"  ({det_name}: no certified program: {exc})")
            for label, source in sources.items():
                for seed in (0, 1):
                    det = enhance.fit_detector(det_name, split.X_train, seed)
                    aucs = []
                    for fit_rows in (10**12, bounded):
                        enhance.FIT_ROWS = fit_rows
                        fitted = pipeline.fit_source(source, split.X_train, det_name, seed=seed, det=det)
                        aucs.append(auc_pr(split.y_test, fitted.scores(split.X_test)["sum"]))
                    enhance.FIT_ROWS = bounded
                    diffs.append(aucs[1] - aucs[0])
                    print(f"{name:<10} {det_name:<8} {label:<8} {seed:>4} {aucs[0]:9.4f} {aucs[1]:9.4f} "
                          f"{aucs[1] - aucs[0]:+8.4f}", flush=True)
    d = np.array(diffs)
    print(f"bounded - all rows over {len(d)} fits: mean {d.mean():+.4f}, median {np.median(d):+.4f}, "
          f"min {d.min():+.4f}, max {d.max():+.4f}")


if __name__ == "__main__":
    main()
