"""Offline certification of the bundled corpus with the real sandbox, detectors and store."""
import os

from detectors import DETECTOR_NAMES
from engine.llm import KEY_ENV
from collab.certification import Certification, useful_margin
from program_store import ProgramStore


def test_ensure_certified_offline_for_every_detector(monkeypatch, tmp_path):
    # A key in the environment must not reach the store (the replay path never reads it).
    secret = "sk-ant-integration-SECRET-42"
    monkeypatch.setenv(KEY_ENV, secret)
    with ProgramStore() as store:
        ensure_certified = Certification(store).ensure
        chosen = {}
        for name in DETECTOR_NAMES:
            rec = ensure_certified(name)
            assert rec.detector == name and rec.status == "certified"
            assert rec.backend == "replay" and rec.model == "replay"
            assert rec.metadata["response"]["provenance"]["author"].startswith("Claude (Anthropic)")
            certified = store.list(detector=name, status="certified")
            assert len(certified) >= 1, name
            # The default has the largest `useful` margin on the suite's planted anomalies.
            best = max(useful_margin(store.latest_verification(r.sha256)) for r in certified)
            assert useful_margin(store.latest_verification(rec.sha256)) == best
            chosen[name] = rec.sha256
        # Idempotent: a second call returns the same defaults without new programs.
        n_before = len(store.list())
        assert all(ensure_certified(n).sha256 == s for n, s in chosen.items())
        assert len(store.list()) == n_before
    home = os.environ["DAS_HOME"]
    for root, _, files in os.walk(home):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert secret.encode() not in fh.read()
