"""auto's track record: the real gain where the rule enhanced, on held-out benchmark data (issue 21)."""
import json
from pathlib import Path
from unittest import mock

import pytest

from das.collab import track_record

HELD_OUT = Path(__file__).resolve().parents[1] / "results" / "no_harm" / "held_out" / "cells.jsonl"


def _cell(detector, auto, base, decision, labels=()):
    return {"detector": detector, "auc_pr": {"auto": auto, "base": base},
            "expected_gain": {"decision": decision},
            "labels": {str(k): {"auc_pr": {"labels": a, "base": b}, "expected_gain": {"decision": d}}
                       for k, (a, b, d) in enumerate(labels)}}


def test_the_record_counts_only_the_cells_where_the_rule_enhanced():
    cells = [_cell("A", 0.70, 0.50, "enhance", [(0.9, 0.5, "enhance"), (0.5, 0.5, "keep base")]),
             _cell("A", 0.45, 0.50, "enhance", [(0.48, 0.5, "enhance")]),
             _cell("A", 0.50, 0.50, "keep base"),
             _cell("A", 0.505, 0.50, "enhance"),
             _cell("B", 0.3, 0.3, "keep base")]
    record = track_record.summarize(cells, "test")
    free = record["detectors"]["A"][track_record.LABEL_FREE]
    assert free == {"cells": 4, "enhanced": 3, "min": pytest.approx(-0.05), "median": pytest.approx(0.005),
                    "max": pytest.approx(0.2), "won": 1, "lost": 1}  # +.005 is within the margin: neither
    labelled = record["detectors"]["A"][track_record.LABELLED]
    assert (labelled["cells"], labelled["enhanced"], labelled["won"], labelled["lost"]) == (3, 2, 1, 1)
    assert record["detectors"]["B"][track_record.LABEL_FREE] == {"cells": 1, "enhanced": 0}
    with mock.patch.object(track_record, "_load", return_value=record):
        assert track_record.lookup("B") is None  # never enhanced: nothing to report
        assert track_record.lookup("B", n_known=10) is None and track_record.lookup("C") is None
        assert track_record.lookup(object()) is None  # a detector object has no record
        assert track_record.lookup("A", n_known=track_record.MIN_KNOWN - 1) is None  # fewer than measured with
        assert track_record.lookup("A")["basis"] == track_record.LABEL_FREE
        entry = track_record.lookup("A", n_known=track_record.MIN_KNOWN)
    assert entry["detector"] == "A" and entry["basis"] == track_record.LABELLED and entry["source"] == "test"
    text = track_record.describe(entry)
    assert "where auto enhanced A with known anomalies (2 of 3 cells)" in text
    assert "-0.020 ... +0.400, median +0.190; 1 gained and 1 lost more than 0.01" in text


def test_the_shipped_record_is_the_held_out_measurement_in_the_repository():
    """Re-measuring without rewriting collab/track_record.json (benchmarks/track_record.py) fails here."""
    cells = [json.loads(line) for line in HELD_OUT.read_text().splitlines() if line]
    shipped = json.loads(track_record.RECORD.read_text())
    assert track_record.summarize(cells, shipped["source"]) == shipped
    assert not {c["dataset"] for c in cells} & set(_decision_datasets())
    assert set(shipped["detectors"]) == {"PCA", "IForest", "OCSVM", "ECOD", "DRL"}


def _decision_datasets():
    import sys

    sys.path.insert(0, str(HELD_OUT.parents[3] / "benchmarks"))
    from no_harm_rules import DECISION

    return DECISION
