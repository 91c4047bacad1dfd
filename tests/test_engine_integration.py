"""Offline certification of the bundled corpus with the real sandbox, detectors and store."""
import os

from das.engine.llm import KEY_ENV
from das.collab.certification import BUNDLED_PROGRAMS, Certification, useful_bound
from das.program_store import NotCertified, ProgramStore, export_bundle


#: Two of the quickest detectors to verify: with this test's seed stream both certify a bundled program.
CERTIFIED = ("PCA", "ECOD")
#: A program that is random outliers itself: it cannot beat them, so it is never certified.
RANDOM_OUTLIERS = """
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    \"\"\"Uniform rows in the training bounding box widened by 10 % per side.\"\"\"
    X = np.asarray(X_train, dtype=np.float64)
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (hi - lo)
    return np.random.uniform(lo - pad, hi + pad, size=(int(n_samples), X.shape[1]))
"""


def _bundle_of(source, detector, path):
    with ProgramStore(path.with_suffix(".sqlite")) as scratch:
        sha = scratch.add(source, detector, policy="random outliers", backend="replay", model="replay")
        return export_bundle(scratch, path, shas=[sha])["path"]


def test_ensure_certifies_offline_and_refuses_once_a_detector_without_a_useful_program(monkeypatch, tmp_path):
    """Each detector either gets its best certified program or is refused, once, with the reason.

    PCA and ECOD from the shipped bundle; KNN from a bundle whose only program is
    not useful. The rule is the same for every detector; every bundled program of
    every detector is verified by `benchmarks/corpus_certification.py`."""
    # A key in the environment must not reach the store (the replay path never reads it).
    secret = "sk-ant-integration-SECRET-42"
    monkeypatch.setenv(KEY_ENV, secret)
    bundles = {name: BUNDLED_PROGRAMS for name in CERTIFIED}
    bundles["KNN"] = _bundle_of(RANDOM_OUTLIERS, "KNN", tmp_path / "useless.json")
    with ProgramStore() as store:
        service = Certification(store)
        chosen, refused = {}, []
        for name, bundle in bundles.items():
            try:
                rec = service.ensure(name, bundle=bundle)
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
        assert sorted(chosen) == sorted(CERTIFIED) and refused == ["KNN"]
        # Idempotent: a second call returns the same defaults without new programs ...
        n_before = len(store.list())
        assert all(service.ensure(n).sha256 == s for n, s in chosen.items())
        assert len(store.list()) == n_before
        # ... and refuses again without re-verifying (one verdict per suite, not a re-roll).
        for name in refused:
            try:
                service.ensure(name, bundle=bundles[name])
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
