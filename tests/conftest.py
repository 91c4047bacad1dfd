"""Shared fixtures: an isolated per-test DAS home and the shared ODDS data dir."""
import os
import stat
from pathlib import Path

# `pytest -n 2` runs two workers on two cores: one BLAS/torch thread each avoids
# oversubscription (torch reads this when it is first imported).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ODDS = REPO.parent / "shared" / "datasets" / "odds"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own DAS_HOME (store, caches) and no API key."""
    home = tmp_path / "das_home"
    monkeypatch.setenv("DAS_HOME", str(home))
    monkeypatch.delenv("DAS_STORE", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return home


def _seed_stream(name):
    """A stand-in for :func:`das.sandbox.datasets.draw_seed`: a fixed stream of seeds per name.

    Verifications draw their seed from the OS; a test's verdicts must not change from
    run to run, so each test draws from its own stream (different at every call, the
    same in every run). ``@pytest.mark.os_seeds`` keeps the OS draw.
    """
    import hashlib
    import random

    stream = random.Random(hashlib.sha256(name.encode()).digest())
    return lambda: stream.randrange(2**31)


@pytest.fixture(autouse=True)
def fixed_seed_stream(request, monkeypatch):
    if request.node.get_closest_marker("os_seeds") is None:
        monkeypatch.setattr("das.sandbox.datasets.draw_seed", _seed_stream(request.node.nodeid))


def pytest_configure(config):
    config.addinivalue_line("markers", "os_seeds: verifications draw their seeds from the OS")


@pytest.fixture(scope="session")
def odds_dir():
    """Directory of the 34 shared ODDS/ADBench datasets (DAS_DATA_DIR overrides)."""
    path = Path(os.environ.get("DAS_DATA_DIR", SHARED_ODDS))
    if not path.is_dir():
        pytest.skip(f"shared datasets not found at {path} (set DAS_DATA_DIR)")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


#: Detectors whose bundled programs the session's store certifies.
CERTIFIED_DETECTORS = ("IForest", "ECOD")


@pytest.fixture(scope="session")
def _certified_once(tmp_path_factory, worker_id):
    """The bundled programs of :data:`CERTIFIED_DETECTORS` certified once per test run (the slow part).

    Shared by the xdist workers of the run: the first to need it certifies under a file lock,
    the others wait for it and read the same store.
    """
    import fcntl

    from das.collab.certification import available_programs

    root = tmp_path_factory.getbasetemp()
    root = root if worker_id == "master" else root.parent
    path, done = root / "certified-session.sqlite", root / "certified-session.done"
    with open(root / "certified-session.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr("das.sandbox.datasets.draw_seed", _seed_stream("certified session store"))
                available_programs(CERTIFIED_DETECTORS, path)
            done.touch()
    return path


@pytest.fixture
def certified_store(_certified_once, tmp_path):
    """A test's own copy of the session's certified store (SQLite's backup: WAL content included)."""
    import sqlite3

    dest = tmp_path / "certified.sqlite"
    src, dst = sqlite3.connect(_certified_once), sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return dest


@pytest.fixture
def devices_kept():
    """A writer that replaced /dev/null or /dev/full (as root) must not break the machine: the test
    fails, and the device is made again."""
    yield
    for path, minor in (("/dev/null", 3), ("/dev/full", 7)):
        if os.path.isfile(path) and os.geteuid() == 0:
            os.unlink(path)
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
            os.chmod(path, 0o666)
            pytest.fail(f"{path} was replaced by a regular file")
