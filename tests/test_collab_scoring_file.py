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


def test_a_named_pipe_is_written_into_not_replaced(tmp_path):
    """Walkthrough 4, H1: the temporary file replaced a FIFO (and /dev/null as root) with a regular file."""
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_text()))
    reader.start()
    _scores(3).to_csv(pipe)
    reader.join(timeout=30)
    assert got and got[0].splitlines()[0] == "row,base,enhanced" and len(got[0].splitlines()) == 4
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and os.listdir(tmp_path) == ["pipe"]


def test_dev_null_stays_a_device(devices_kept):
    _scores(3).to_csv("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with written_whole("/dev/null") as fh:
        fh.write("x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_directory_or_a_full_device_is_one_clear_error(tmp_path, devices_kept):
    from das.program_store import CannotWrite

    with pytest.raises(CannotWrite, match="is a directory"):
        _scores(3).to_csv(tmp_path)
    if os.path.exists("/dev/full") and stat.S_ISCHR(os.stat("/dev/full").st_mode):
        with pytest.raises(CannotWrite, match="cannot write /dev/full: No space left"):
            _scores(3).to_csv("/dev/full")
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    with pytest.raises(CannotWrite, match="cannot write"):
        _scores(3).to_csv(tmp_path / "missing" / "s.csv")
