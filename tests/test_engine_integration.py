"""Offline certification of the bundled corpus with the real sandbox, detectors and store."""
import os

from das.detectors import DETECTOR_NAMES
from das.engine.llm import KEY_ENV
from das.collab.certification import Certification, useful_bound
from das.program_store import NotCertified, ProgramStore

#: Detectors none of whose bundled programs passes ``useful`` (corpus v1-v3, suite 3.0.0+u2):
#: no program beats random outliers on the suite's planted anomalies (README, "Results").
UNCERTIFIED = ("DRL",)
CERTIFIED_DETECTORS = [name for name in DETECTOR_NAMES if name not in UNCERTIFIED]


def test_ensure_certified_offline_for_every_detector_with_a_useful_program(monkeypatch, tmp_path):
    # A key in the environment must not reach the store (the replay path never reads it).
    secret = "sk-ant-integration-SECRET-42"
    monkeypatch.setenv(KEY_ENV, secret)
    with ProgramStore() as store:
        ensure_certified = Certification(store).ensure
        chosen = {}
        for name in CERTIFIED_DETECTORS:
            rec = ensure_certified(name)
            assert rec.detector == name and rec.status == "certified"
            assert rec.backend == "replay" and rec.model == "replay"
            assert rec.metadata["response"]["provenance"]["author"].startswith("Claude (Anthropic)")
            certified = store.list(detector=name, status="certified")
            assert len(certified) >= 1, name
            # The default has the largest lower bound of the `useful` margin on the suite's planted anomalies.
            best = max(useful_bound(store.latest_verification(r.sha256)) for r in certified)
            assert useful_bound(store.latest_verification(rec.sha256)) == best
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


def test_a_detector_without_a_useful_program_is_refused_once_and_not_reverified():
    with ProgramStore() as store:
        service = Certification(store)
        for name in UNCERTIFIED:
            for _ in range(2):
                try:
                    service.ensure(name)
                except NotCertified as exc:
                    assert "passed verification" in str(exc)
                else:
                    raise AssertionError(f"{name} got a certified program")
            programs = store.list(detector=name)
            assert programs and all(r.status != "certified" for r in programs)
            # Verdicts are deterministic per suite: the second call re-used them.
            assert all(len(store.verifications(r.sha256)) == 1 for r in programs)
