"""What ``program="auto"`` did on benchmark data no default was decided on: its track record.

The expected gain (:func:`collab.selection.expected_gain`) is measured on
planted anomalies, and on real ones it has not predicted the gain
(``results/no_harm``). So beside it, ``das select``, ``das enhance --explain``
and ``expected_gain_`` show what the same rule did where the real labels are
known: on the held-out benchmark cells where it chose to enhance the same
detector, the spread of the real test AUC-PR gain and how often it won or
lost. :data:`RECORD` is written from a held-out measurement by
``python benchmarks/track_record.py`` (never from the decision datasets).
"""
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

RECORD = Path(__file__).with_name("track_record.json")
#: A gain or loss smaller than this counts as neither.
MARGIN = 0.01
#: Known anomalies the record with labels was measured with, at least (k = 5, 10, 20): with fewer
#: it says nothing about the choice at hand, and none is shown.
MIN_KNOWN = 5
LABEL_FREE, LABELLED = "label-free", "known anomalies"


def summarize(cells, source):
    """The record of held-out cells (``benchmarks/no_harm_measure.py``'s ``cells.jsonl``, parsed).

    Per detector and basis (label-free; with known anomalies, every k pooled):
    the cells measured, those where the rule enhanced, and the real gain
    (test AUC-PR - the base detector's) of those: min, median, max, and how
    many gained or lost more than :data:`MARGIN`.
    """
    gains, totals = {}, {}
    for c in cells:
        runs = [(LABEL_FREE, c["auc_pr"]["auto"], c["auc_pr"]["base"], c["expected_gain"])]
        runs += [(LABELLED, r["auc_pr"]["labels"], r["auc_pr"]["base"], r["expected_gain"])
                 for r in c.get("labels", {}).values()]
        for basis, auc, base, gain in runs:
            key = (c["detector"], basis)
            totals[key] = totals.get(key, 0) + 1
            if gain["decision"] == "enhance":
                gains.setdefault(key, []).append(auc - base)
    record = {"source": source, "margin": MARGIN, "detectors": {}}
    for (detector, basis), n in sorted(totals.items()):
        g = np.asarray(gains.get((detector, basis), []), dtype=float)
        entry = {"cells": n, "enhanced": int(len(g))}
        if len(g):
            entry.update(min=float(g.min()), median=float(np.median(g)), max=float(g.max()),
                         won=int((g > MARGIN).sum()), lost=int((g < -MARGIN).sum()))
        record["detectors"].setdefault(detector, {})[basis] = entry
    return record


@lru_cache(maxsize=1)
def _load():
    return json.loads(RECORD.read_text()) if RECORD.exists() else {"detectors": {}}


def lookup(detector, n_known=None):
    """The record for a detector's name, label-free or (``n_known`` known anomalies) with labels.

    None for a detector object, one never measured or never enhanced, and for
    fewer than :data:`MIN_KNOWN` known anomalies.
    """
    if not isinstance(detector, str) or (n_known is not None and n_known < MIN_KNOWN):
        return None
    basis = LABEL_FREE if n_known is None else LABELLED
    record = _load()
    entry = record["detectors"].get(detector, {}).get(basis)
    if not entry or not entry["enhanced"]:
        return None
    return {**entry, "detector": detector, "basis": basis, "source": record["source"]}


def describe(entry):
    """One sentence for people: what the rule did where it enhanced, on the held-out benchmark."""
    how = "with known anomalies" if entry["basis"] == LABELLED else "without labels"
    return (f"track record ({entry['source']}): where auto enhanced {entry['detector']} {how} "
            f"({entry['enhanced']} of {entry['cells']} cells), the real AUC-PR gain was {entry['min']:+.3f} "
            f"... {entry['max']:+.3f}, median {entry['median']:+.3f}; {entry['won']} gained and {entry['lost']} "
            f"lost more than {MARGIN:g}")
