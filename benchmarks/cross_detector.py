"""Cross-detector check (in the spirit of LLM-DAS Table 2): is the corpus detector-specific?

Every recorded program of the bundled replay corpus (written for a *target*
detector A) is run by the property suite against every *evaluation* detector B,
on the suite's synthetic datasets (no labels, no user data). Cell (A, B) is the
mean verifier hardness of A's programs when B is the model they query and are
scored by. The corpus is detector-specific when, in each column B, B's own
programs (diagonal) are harder than the other detectors' programs (column's
off-diagonal mean).

Usage: python benchmarks/cross_detector.py [--seed 0] [--out benchmarks/results/cross_detector.md]
"""
import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np


def corpus_programs():
    """(target detector, entry id, source) for every bundled default-variant response."""
    from das.engine.extract import extract_program
    from das.engine.replay import ReplayClient

    client = ReplayClient()
    out = []
    for entry in sorted(client.entries, key=lambda e: e["id"]):
        if entry["variant"] == "default":
            out.append((entry["detector"], entry["id"], extract_program(client.read(entry)).source))
    return out


def measure(seed=0):
    """Hardness and pass/fail of every (program, evaluation detector) pair."""
    from das.detectors import DETECTOR_NAMES
    from das.sandbox.properties import verify_program

    rows = []
    for target, pid, source in corpus_programs():
        for evaluator in DETECTOR_NAMES:
            rep = verify_program(source, evaluator, seed=seed)
            rows.append({"program": pid, "target": target, "evaluator": evaluator,
                         "hardness": rep.depth, "passed": rep.passed,
                         "duration_s": rep.duration_s})
            print(f"{pid:<18} on {evaluator:<8} hardness {rep.depth:.3f} "
                  f"{'pass' if rep.passed else 'FAIL'} ({rep.duration_s:.1f} s)", flush=True)
    return rows


def matrix(rows, names):
    """names x names mean hardness, rows = target, cols = evaluator."""
    m = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            vals = [r["hardness"] for r in rows if r["target"] == a and r["evaluator"] == b]
            if vals:
                m[i, j] = float(np.mean(vals))
    return m


def render(m, names, rows, seed, elapsed):
    """Markdown report of the matrix and the per-column diagonal check."""
    from das.sandbox.properties import SUITE_VERSION

    lines = [
        "# Cross-detector hardness of the bundled corpus",
        "",
        f"Command: `python benchmarks/cross_detector.py --seed {seed}`; suite {SUITE_VERSION}; "
        f"python {platform.python_version()}; {len(rows)} verifications in {elapsed:.0f} s.",
        "",
        "Cell = mean verifier hardness (share of reference scores -- training rows and random",
        "outliers, equally weighted -- above a synthesized row's score; higher = harder) of the",
        "programs written for the ROW detector, when run against and scored by the COLUMN",
        "detector on the property suite's synthetic datasets. Diagonal in **bold**.",
        "",
        "| target \\ evaluated by | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for i, a in enumerate(names):
        cells = [f"**{m[i, j]:.3f}**" if i == j else f"{m[i, j]:.3f}" for j in range(len(names))]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines += ["", "| evaluator | own programs (diagonal) | others' programs (column mean) | "
              "margin | own wins |", "|---|---|---|---|---|"]
    wins = 0
    for j, b in enumerate(names):
        off = float(np.nanmean(np.delete(m[:, j], j)))
        win = m[j, j] > off
        wins += win
        lines.append(f"| {b} | {m[j, j]:.3f} | {off:.3f} | {m[j, j] - off:+.3f} | "
                     f"{'yes' if win else 'no'} |")
    passed = sum(r["passed"] for r in rows if r["target"] != r["evaluator"])
    cross = sum(r["target"] != r["evaluator"] for r in rows)
    lines += ["", f"Diagonal beats the column's off-diagonal mean for {wins} of {len(names)} "
              "detectors.", f"Programs certified against a detector other than their target: "
              f"{passed} of {cross} pairs pass the full suite there.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/cross_detector.md")
    args = parser.parse_args()
    from das.detectors import DETECTOR_NAMES

    t0 = time.perf_counter()
    rows = measure(args.seed)
    names = list(DETECTOR_NAMES)
    m = matrix(rows, names)
    text = render(m, names, rows, args.seed, time.perf_counter() - t0)
    out = Path(args.out)
    out.write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
