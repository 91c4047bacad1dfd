"""``results/full`` per detector and method: gain over the base, the decision datasets kept apart.

Reads a benchmark's ``cells.jsonl`` (``das bench``; the latest record of each
cell) and prints, per detector and method, the gain in test AUC-PR over the
base detector across datasets as mean / median / worst and wins/ties/losses
(|gain| <= 1e-4 is a tie), separately for the 12 decision datasets (every
default was decided on them: ``no_harm_rules.DECISION``) and for the other
datasets (the measurement). Then, for ``auto`` on the measurement datasets,
how well its label-free expected gain predicted the real gain (Pearson r),
and what it chose.

    python benchmarks/full_summary.py results/full > results/full/summary_split.txt
"""
import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from no_harm_measure import summary_line  # noqa: E402
from no_harm_rules import DECISION  # noqa: E402

METHODS = ("auto", "sum", "collate", "classifier", "random", "gaussian")


def latest_cells(results):
    """The latest record of each cell (by key) of ``results`` (a directory or a cells.jsonl)."""
    path = Path(results)
    path = path / "cells.jsonl" if path.is_dir() else path
    latest = {}
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            latest[rec["key"]] = rec
    return [rec for rec in latest.values() if not rec.get("error")]


def gains(cells, method):
    """``{dataset: AUC-PR(method) - AUC-PR(base)}`` of the cells that ran ``method``."""
    return {c["dataset"]: c["metrics"][method]["auc_pr"] - c["metrics"]["base"]["auc_pr"]
            for c in cells if method in c["metrics"] and "base" in c["metrics"]}


def auto_choice(cell):
    """What ``auto`` chose in a cell: the base, random, the ensemble or a program."""
    choice = ((cell.get("selection") or {}).get("expected_gain") or {}).get("choice") or "?"
    choice = "none" if choice == "base" else choice  # cells recorded before "base" was spelled "none"
    return "program" if choice.startswith("program:") else choice


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="results directory or cells.jsonl")
    args = parser.parse_args(argv)
    cells = latest_cells(args.results)
    print(f"# {len(cells)} cells; gain = test AUC-PR - the base detector's, one seed per dataset; "
          f"decision datasets: {', '.join(DECISION)}")
    for det in sorted({c["detector"] for c in cells}):
        dc = [c for c in cells if c["detector"] == det]
        print(f"\n## {det}")
        for method in METHODS:
            g = gains(dc, method)
            if not g:
                continue
            for part, keep in (("decision", True), ("measurement", False)):
                values = [v for d, v in g.items() if (d in DECISION) == keep]
                if values:
                    print(f"{method:<11}{part:<12}({len(values):2d}) {summary_line(values)}")
        held = [c for c in dc if c["dataset"] not in DECISION and "auto" in c["metrics"]]
        est = np.array([((c.get("selection") or {}).get("expected_gain") or {}).get("estimate", np.nan)
                        for c in held], dtype=float)
        real = np.array([c["metrics"]["auto"]["auc_pr"] - c["metrics"]["base"]["auc_pr"] for c in held])
        ok = np.isfinite(est)
        r = (float(np.corrcoef(est[ok], real[ok])[0, 1]) if ok.sum() > 2 and est[ok].std() > 0 and real[ok].std() > 0
             else float("nan"))
        chosen = Counter(auto_choice(c) for c in held)
        print(f"auto on the measurement datasets: expected vs real gain Pearson r {r:+.3f} (n={int(ok.sum())}); "
              f"chose {', '.join(f'{k} {v}' for k, v in chosen.most_common())}")


if __name__ == "__main__":
    main()
