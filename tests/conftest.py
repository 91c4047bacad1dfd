"""Shared fixtures: an isolated per-test DAS home and the shared ODDS data dir."""
import os
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
