"""Score files are written whole or not at all (the new-user walkthrough's H2)."""
import os
import stat

import numpy as np
import pytest

from das.collab.scoring import RowScores
from das.program_store.paths import written_whole


def _scores(n):
    return RowScores("row", np.arange(n), np.linspace(0, 1, n), np.linspace(1, 0, n), None)


def test_an_interrupted_write_keeps_the_previous_file_and_leaves_nothing(tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("OLD\n")
    with pytest.raises(KeyboardInterrupt):
        with written_whole(out) as fh:
            fh.write("half a file")
            raise KeyboardInterrupt
    assert out.read_text() == "OLD\n" and os.listdir(tmp_path) == ["scores.csv"]


def test_a_finished_write_replaces_the_file_with_the_usual_permissions(tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("OLD\n")
    _scores(5).to_csv(out)
    lines = out.read_text().splitlines()
    assert lines[0] == "row,base,enhanced" and len(lines) == 6 and os.listdir(tmp_path) == ["scores.csv"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
