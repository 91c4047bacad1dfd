"""Write ``collab/track_record.json``: what ``program="auto"`` did on a held-out measurement.

    python benchmarks/track_record.py results/no_harm/held_out --commit 9e849a6

reads ``<dir>/cells.jsonl`` (``benchmarks/no_harm_measure.py run``: datasets no
default was decided on) and writes, per detector, the real gain where the rule
enhanced (:func:`collab.track_record.summarize`), shown beside every expected gain.
"""
import argparse
import json
import sys
from pathlib import Path


def main():
    from das.collab import track_record

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measurement", help="a no_harm_measure.py output directory (held-out datasets only)")
    parser.add_argument("--commit", required=True, help="the commit the measurement ran at")
    parser.add_argument("--out", default=str(track_record.RECORD))
    args = parser.parse_args()
    path = Path(args.measurement) / "cells.jsonl"
    if not path.is_file():
        sys.exit(f"{path}: no such file (run benchmarks/no_harm_measure.py first)")
    cells = [json.loads(line) for line in path.read_text().splitlines() if line]
    datasets = len({c["dataset"] for c in cells})
    seeds = len({c["seed"] for c in cells})
    source = f"{datasets} held-out benchmark datasets x {seeds} seeds, {args.commit}"
    Path(args.out).write_text(json.dumps(track_record.summarize(cells, source), indent=1) + "\n")
    print(f"wrote {args.out} ({len(cells)} cells: {source})")


if __name__ == "__main__":
    main()
