"""Large data: Ctrl-C stops ``das enhance`` cleanly, with no process left behind."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

DAS = Path(sys.executable).with_name("das")


@pytest.fixture(scope="module")
def big_npz(tmp_path_factory):
    """300k x 20 seeded rows (0.5 % planted anomalies): long enough to interrupt at any stage."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300_000, 20))
    y = np.zeros(len(X), dtype=np.int64)
    y[rng.choice(len(X), 1_500, replace=False)] = 1
    X[y == 1] += 4.0
    path = tmp_path_factory.mktemp("big") / "big.npz"
    np.savez(path, X=X, y=y)
    return path


def _session_processes(sid):
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == sid:
                out.append(proc)
        except (ProcessLookupError, PermissionError):
            continue
    return out


def _sandbox_started(proc):
    try:
        return any("bwrap" in c.name() for c in proc.children(recursive=True))
    except psutil.NoSuchProcess:
        return False


def _reading(proc, path):
    try:
        return any(f.path == str(path) for f in proc.open_files())
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("moment", ["reading the data", "sandbox running"])
def test_ctrl_c_stops_enhance_cleanly(big_npz, tmp_path, moment):
    env = {**os.environ, "DAS_HOME": str(tmp_path / "home")}
    das = subprocess.Popen([str(DAS), "enhance", "--data", str(big_npz), "--detector", "IForest"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           start_new_session=True)
    proc = psutil.Process(das.pid)
    deadline = time.monotonic() + 240
    started = (lambda: _sandbox_started(proc)) if moment == "sandbox running" else (lambda: _reading(proc, big_npz))
    while not started() and das.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert das.poll() is None, "das enhance ended before it could be interrupted"
    os.kill(das.pid, signal.SIGINT)  # what the terminal sends to the foreground process
    try:
        _, err = das.communicate(timeout=60)
    finally:
        if das.poll() is None:
            os.killpg(das.pid, signal.SIGKILL)
    assert das.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "Interrupted." in err
    time.sleep(0.5)  # bubblewrap's die-with-parent teardown
    left = _session_processes(das.pid)
    assert left == [], [p.cmdline()[:3] for p in left]
