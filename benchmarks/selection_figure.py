"""Why ``auto`` gains where it gains: planted-validation gain against test gain, per cell.

For every benchmark cell with ``auto`` and ``random``: x is how much ``auto``'s
choice beat random outliers on the anomalies planted in the training rows
(the label-free figure it chose by), y is how much it beat them in test AUC-PR
on the real labels (read here only to draw the figure). Points far right and
below zero are cells where the planted anomalies misled the choice.

    python benchmarks/selection_figure.py results/full --out results/full/auto_selection.png
"""
import argparse
import json
from pathlib import Path

import numpy as np


def points(cells_path):
    """``{detector: [(validation gain over random, test gain over random)]}`` of the cells with a selection."""
    latest = {}
    for line in Path(cells_path).read_text().splitlines():
        rec = json.loads(line)
        latest[rec["key"]] = rec
    out = {}
    for rec in latest.values():
        metrics, sel = rec.get("metrics") or {}, rec.get("selection") or {}
        table = {row["candidate"]: row["mean_auc_pr"] for row in sel.get("table", [])}
        if "auto" not in metrics or "random" not in metrics or sel.get("choice") not in table:
            continue
        if table.get("random") is None or table[sel["choice"]] is None:
            continue
        x = table[sel["choice"]] - table["random"]
        y = metrics["auto"]["auc_pr"] - metrics["random"]["auc_pr"]
        out.setdefault(rec["detector"], []).append((x, y))
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
        ax.scatter(xy[:, 0], xy[:, 1], s=18, alpha=0.75, label=f"{det} (mean test gain {xy[:, 1].mean():+.3f})")
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("auto's choice - random outliers, planted-validation AUC-PR (what auto sees)")
    ax.set_ylabel("auto - random outliers, test AUC-PR (real labels)")
    ax.set_title("auto: planted-validation gain vs real test gain (one point per dataset)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out} ({sum(len(v) for v in data.values())} cells)")


if __name__ == "__main__":
    main()
