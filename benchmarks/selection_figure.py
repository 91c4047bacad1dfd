"""How well ``auto``'s expected gain predicts its real gain, per benchmark cell (calibration).

For every benchmark cell with ``auto`` and ``base``: x is ``auto``'s expected
gain (``selection["expected_gain"]["estimate"]``: the label-free AUC-PR gain on
planted anomalies, 0 when it kept the base detector), y is its real gain over
the base in test AUC-PR (labels read here only to draw the figure). The legend
gives Pearson's r per detector. Points far right and below zero are cells where
the planted anomalies misled the choice.

    python benchmarks/selection_figure.py results/full --out results/full/auto_selection.png
"""
import argparse
import json
from pathlib import Path

import numpy as np


def points(cells_path):
    """``{detector: [(expected gain, real gain over base)]}`` of the cells with an ``auto`` selection."""
    latest = {}
    for line in Path(cells_path).read_text().splitlines():
        rec = json.loads(line)
        latest[rec["key"]] = rec
    out = {}
    for rec in latest.values():
        metrics, sel = rec.get("metrics") or {}, rec.get("selection") or {}
        gain = sel.get("expected_gain")
        if "auto" not in metrics or "base" not in metrics or not gain:
            continue
        y = metrics["auto"]["auc_pr"] - metrics["base"]["auc_pr"]
        out.setdefault(rec["detector"], []).append((gain["estimate"], y))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="results directory (with cells.jsonl) or the cells.jsonl file")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(args.results)
    data = points(path / "cells.jsonl" if path.is_dir() else path)
    fig, ax = plt.subplots(figsize=(7, 5))
    for det, pts in sorted(data.items()):
        xy = np.array(pts)
        r = np.corrcoef(xy[:, 0], xy[:, 1])[0, 1] if len(xy) > 2 and xy.std(axis=0).min() > 0 else float("nan")
        ax.scatter(xy[:, 0], xy[:, 1], s=18, alpha=0.75, label=f"{det} (r {r:+.2f}, mean real gain {xy[:, 1].mean():+.3f})")
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("auto's expected gain over base (planted anomalies, label-free)")
    ax.set_ylabel("auto - base, test AUC-PR (real labels)")
    ax.set_title("auto: expected gain vs real gain (one point per cell)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out} ({sum(len(v) for v in data.values())} cells)")


if __name__ == "__main__":
    main()
