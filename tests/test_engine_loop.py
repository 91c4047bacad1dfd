"""The generate -> audit -> verify -> repair -> store loop with injected fakes."""
from types import SimpleNamespace

import pytest

from das.engine.llm import LLMResponse, NoRecordedResponse
from das.collab.certification import Certification
from das.engine.loop import LoopConfig, generate_programs
from das.program_store.hashing import text_sha256
from das.program_store import NotCertified, ProgramStore

OK = '''```python
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    """Policy {tag}."""
    return X_train[:1].repeat(int(n_samples), axis=0) + {shift}
```'''
BAD_AUDIT = '''```python
import os


def generate_hard_anomalies(n_samples, model, X_train):
    """Reads the environment."""
    return os.environ
```'''


class FakeClient:
    """Serves scripted responses; records every prompt it was sent."""

    backend, model = "fake", "fake-model"

    def __init__(self, responses):
        self.responses, self.prompts = list(responses), []

    def complete(self, prompt_text, *, sample=0):
        self.prompts.append(prompt_text)
        if not self.responses:
            raise NoRecordedResponse("no more")
        return LLMResponse(self.responses.pop(0), "fake", "fake-model", text_sha256(prompt_text))


def fake_verifier(hardness_by_tag):
    def verify(source, detector, seed=0):
        tag = next(t for t in hardness_by_tag if f"Policy {t}." in source)
        hard = hardness_by_tag[tag]
        passed = hard is not None
        return SimpleNamespace(
            passed=passed, hardness=hard or 0.0, suite_version="t1", duration_s=0.01,
            to_dict=lambda: {"borderline": hard or 0.0, "passed": passed, "properties": [
                {"name": "harder_than_random", "passed": passed, "value": tag, "threshold": None}]})
    return verify


@pytest.fixture
def store(tmp_path):
    with ProgramStore(tmp_path / "s.sqlite") as s:
        yield s


def certification(store, verifier=None):
    return Certification(store, suite_version="t1", verifier=verifier)


def test_candidates_are_stored_and_the_hardest_becomes_default(store):
    client = FakeClient([OK.format(tag="a", shift=1), OK.format(tag="b", shift=2)])
    seen = []
    res = generate_programs("KNN", client=client, store=store, progress=seen.append,
                            verifier=fake_verifier({"a": 0.4, "b": 0.7}),
                            config=LoopConfig(n_candidates=3))
    assert [r.status for r in res] == ["certified", "certified"]  # 3rd: exhausted, dropped
    assert seen == res
    assert certification(store).certified("KNN").sha256 == res[1].sha256
    rec = store.get(res[0].sha256)
    assert rec.policy == "Policy a." and rec.backend == "fake" and rec.prompt_variant == "default"
    assert rec.metadata["candidate"] == 0 and rec.metadata["round"] == 0


def test_rejected_program_is_repaired_with_the_report_and_lineage(store):
    client = FakeClient([OK.format(tag="bad", shift=1), OK.format(tag="good", shift=3)])
    [res] = generate_programs("LOF", client=client, store=store,
                              verifier=fake_verifier({"bad": None, "good": 0.6}),
                              config=LoopConfig(n_candidates=1, max_repair_rounds=2))
    assert res.status == "certified" and res.rounds == 1 and len(res.lineage) == 2
    assert "[FAIL] harder_than_random: bad" in client.prompts[1]
    child = store.get(res.sha256)
    assert child.parent_sha256 == res.lineage[0] and child.prompt_variant == "repair"
    assert store.get(res.lineage[0]).status == "rejected"


def audited(verifier):
    """``verifier`` behind the static audit, as the sandbox's suite runs it (nothing runs after a refusal)."""
    from das.sandbox.properties import check_audit

    def verify(source, detector, seed=0):
        audit = check_audit(source)
        if audit.passed:
            return verifier(source, detector, seed=seed)
        props = [{"name": "audit", "passed": False, "value": audit.value, "threshold": audit.threshold,
                  "detail": audit.detail}]
        return SimpleNamespace(passed=False, suite_version="t1", duration_s=0.0,
                               to_dict=lambda: {"passed": False, "properties": props})
    return verify


def test_audit_refusal_is_recorded_by_the_service_and_repaired(store):
    calls = []
    verifier = fake_verifier({"ok": 0.5})
    client = FakeClient([BAD_AUDIT, OK.format(tag="ok", shift=1)])
    [res] = generate_programs("ECOD", client=client, store=store,
                              verifier=audited(lambda *a, **k: calls.append(a) or verifier(*a, **k)),
                              config=LoopConfig(n_candidates=1))
    assert res.status == "certified" and len(calls) == 1  # the refused program never ran
    assert "[FAIL] audit: 1" in client.prompts[1] and "import-not-allowed" in client.prompts[1]
    refused = store.latest_verification(res.lineage[0])
    assert store.get(res.lineage[0]).status == "rejected" and refused.report["properties"][0]["name"] == "audit"


def test_the_loop_revokes_through_the_service(store):
    """A certified source the loop meets again and that now fails is revoked, with the reason (one verdict path)."""
    first = generate_programs("KNN", client=FakeClient([OK.format(tag="a", shift=1)]), store=store,
                              verifier=fake_verifier({"a": 0.4}), config=LoopConfig(n_candidates=1))
    sha = first[0].sha256
    assert store.get(sha).status == "certified"
    [again] = generate_programs("KNN", client=FakeClient([OK.format(tag="a", shift=1)]), store=store,
                                verifier=fake_verifier({"a": None}),
                                config=LoopConfig(n_candidates=1, max_repair_rounds=0))
    assert again.sha256 == sha and again.status == "rejected"
    assert store.get(sha).status == "revoked"
    reason = [e for e in store.events(sha) if e["kind"] == "revoked"][-1]
    assert "harder_than_random=a" in str(reason)


def test_bounded_rounds_end_rejected(store):
    client = FakeClient([OK.format(tag="bad", shift=i) for i in range(5)])
    [res] = generate_programs("PCA", client=client, store=store,
                              verifier=fake_verifier({"bad": None}),
                              config=LoopConfig(n_candidates=1, max_repair_rounds=1))
    assert res.status == "rejected" and res.rounds == 1 and len(client.prompts) == 2
    with pytest.raises(NotCertified):
        certification(store).certified("PCA")
