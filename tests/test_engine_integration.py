"""Offline certification of the bundled corpus with the real sandbox, detectors and store."""
import os

from das.engine.llm import KEY_ENV
from das.collab.certification import Certification, useful_bound
from das.program_store import NotCertified, ProgramStore


#: Three of the quickest detectors to verify; with this test's seed stream both outcomes occur.
DETECTORS = ("PCA", "ECOD", "KNN")


def test_ensure_certifies_offline_and_refuses_once_a_detector_without_a_useful_program(monkeypatch, tmp_path):
    """Which detectors certify depends on the drawn seeds (suite u4: a lower confidence bound, README):
    each detector either gets its best certified program or is refused, once, with the reason.
    Three of the quickest detectors to verify (the rule is the same for every detector); every
    bundled program of every detector is verified by `benchmarks/corpus_certification.py`."""
    # A key in the environment must not reach the store (the replay path never reads it).
    secret = "sk-ant-integration-SECRET-42"
    monkeypatch.setenv(KEY_ENV, secret)
    with ProgramStore() as store:
        ensure_certified = Certification(store).ensure
        chosen, refused = {}, []
        for name in DETECTORS:
            try:
                rec = ensure_certified(name)
            except NotCertified as exc:
                assert "passed verification" in str(exc)
                refused.append(name)
                continue
            assert rec.detector == name and rec.status == "certified"
            assert rec.backend == "replay" and rec.model == "replay"
            assert rec.metadata["response"]["provenance"]["author"].startswith("Claude (Anthropic)")
            certified = store.list(detector=name, status="certified")
            # The default has the largest lower bound of the `useful` margin on the suite's planted anomalies.
            best = max(useful_bound(store.latest_verification(r.sha256)) for r in certified)
            assert useful_bound(store.latest_verification(rec.sha256)) == best > 0
            chosen[name] = rec.sha256
        assert chosen and refused, f"both outcomes are exercised: certified {sorted(chosen)}, refused {refused}"
        # Idempotent: a second call returns the same defaults without new programs ...
        n_before = len(store.list())
        assert all(ensure_certified(n).sha256 == s for n, s in chosen.items())
        assert len(store.list()) == n_before
        # ... and refuses again without re-verifying (one verdict per suite, not a re-roll).
        for name in refused:
            try:
                ensure_certified(name)
            except NotCertified:
                pass
            else:
                raise AssertionError(f"{name} got a certified program on a second call")
            programs = store.list(detector=name)
            assert programs and all(r.status != "certified" for r in programs)
            assert all(len(store.verifications(r.sha256)) == 1 for r in programs)
    home = os.environ["DAS_HOME"]
    for root, _, files in os.walk(home):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert secret.encode() not in fh.read()
