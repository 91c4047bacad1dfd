"""AnthropicClient with the real SDK against a local fake Messages API server."""
import logging
from types import SimpleNamespace

import pytest
from fake_anthropic import FakeMessagesServer

from das.engine.anthropic_client import AnthropicClient
from das.engine.clients import make_client
from das.engine.llm import AnthropicConfig, LLMError, MissingAPIKey
from das.engine.loop import LoopConfig, generate_programs
from das.program_store.hashing import text_sha256
from das.program_store import ProgramStore

KEY = "sk-ant-test-SECRET-0123456789abcdef"
GOOD = '''Policy and code:

```python
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    """Jitter rows (test policy)."""
    # pick rows and move them a little
    idx = np.arange(int(n_samples)) % len(X_train)
    return X_train[idx] + 0.5
```
'''


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return KEY


def client_for(server, sleeps=None, **cfg):
    cfg = {"base_url": server.base_url, "max_retries": 3, "timeout_s": 5.0, **cfg}
    sleeper = sleeps.append if sleeps is not None else (lambda s: None)
    return AnthropicClient(AnthropicConfig(**cfg), sleep=sleeper)


def test_success_records_usage_model_and_sends_key(key):
    with FakeMessagesServer([("ok", GOOD)]) as server:
        resp = client_for(server).complete("hello prompt")
    assert resp.text == GOOD
    assert resp.backend == "anthropic" and resp.model == "claude-sonnet-4-6"
    assert resp.usage == {"input_tokens": 11, "output_tokens": 22}
    assert resp.prompt_sha256 == text_sha256("hello prompt")
    assert resp.metadata["attempts"] == 1 and resp.latency_s >= 0
    sent = server.requests[0]
    assert sent["path"] == "/v1/messages"
    headers = sent["headers"]
    assert KEY in (headers.get("x-api-key", ""), headers.get("authorization", "").removeprefix("Bearer "))
    assert sent["body"]["messages"] == [{"role": "user", "content": "hello prompt"}]
    assert sent["body"]["model"] == "claude-sonnet-4-6"


def test_rate_limit_then_success_honours_retry_after(key):
    sleeps = []
    with FakeMessagesServer([("429", 3), ("ok", GOOD)]) as server:
        resp = client_for(server, sleeps).complete("p")
    assert resp.text == GOOD and resp.metadata["attempts"] == 2
    assert sleeps == [3.0]
    assert len(server.requests) == 2


def test_server_error_retries_with_backoff_then_fails(key):
    sleeps = []
    with FakeMessagesServer([("500",)] * 5) as server:
        with pytest.raises(LLMError, match=r"failed after 3 attempts: InternalServerError \(HTTP 500\)"):
            client_for(server, sleeps, max_retries=2, backoff_s=0.5).complete("p")
    assert sleeps == [0.5, 1.0]
    assert len(server.requests) == 3


def test_timeout_then_success(key):
    with FakeMessagesServer([("slow", 1.5, GOOD), ("ok", GOOD)]) as server:
        resp = client_for(server, timeout_s=0.3).complete("p")
    assert resp.text == GOOD and resp.metadata["attempts"] == 2


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match=r"needs an API key in \$ANTHROPIC_API_KEY"):
        make_client("anthropic")


def test_env_selects_model_and_base_url(key, monkeypatch):
    monkeypatch.setenv("DAS_MODEL", "claude-test-model")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DAS_LLM_BACKEND", "anthropic")
    client = make_client()
    assert client.model == "claude-test-model"
    assert client.config.base_url == "http://127.0.0.1:9"
    assert KEY not in repr(client) and "redacted" in repr(client)
    assert KEY not in repr(client.config)


def _verifier(source, detector, seed=0):
    return SimpleNamespace(passed=True, hardness=0.5, suite_version="t1", duration_s=0.01,
                           to_dict=lambda: {"borderline": 0.5}, format_text=lambda: "ok")


def test_malformed_output_gets_a_repair_round_and_key_stays_secret(key, tmp_path, caplog):
    """Prose without a function -> repair prompt -> valid program; key in no log or store."""
    caplog.set_level(logging.DEBUG)
    store_path = tmp_path / "s.sqlite"
    script = [("429", 0), ("ok", "Sorry, here is only prose, no code."), ("ok", GOOD)]
    with FakeMessagesServer(script) as server:
        client = client_for(server)
        with ProgramStore(store_path) as store:
            [res] = generate_programs("IForest", client=client, store=store, verifier=_verifier,
                                      config=LoopConfig(n_candidates=1, max_repair_rounds=2))
            rec = store.get(res.sha256)
    assert res.status == "certified" and res.rounds == 1
    repair_prompt = server.requests[2]["body"]["messages"][0]["content"]
    assert "It was rejected by an automatic verifier" in repair_prompt
    assert "no usable program in the response" in repair_prompt
    assert rec.backend == "anthropic" and rec.model == "claude-sonnet-4-6"
    assert rec.prompt_variant == "repair" and rec.metadata["round"] == 1
    assert rec.metadata["usage"]["output_tokens"] == 22
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert KEY not in caplog.text
    for f in tmp_path.iterdir():
        assert KEY.encode() not in f.read_bytes()


def test_temperature_is_sent_when_configured(key):
    with FakeMessagesServer([("ok", GOOD), ("ok", GOOD)]) as server:
        client_for(server, temperature=0.2, max_tokens=123).complete("p")
        client_for(server).complete("p")
    assert server.requests[0]["body"]["temperature"] == 0.2
    assert server.requests[0]["body"]["max_tokens"] == 123
    assert "temperature" not in server.requests[1]["body"]


def test_unreachable_host_fails_fast_naming_the_host(key):
    import socket
    import time

    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = []
    cfg = AnthropicConfig(base_url=f"http://127.0.0.1:{port}", max_retries=5, timeout_s=5.0)
    t0 = time.perf_counter()
    with pytest.raises(LLMError, match=rf"cannot reach the Anthropic API at http://127.0.0.1:{port}.*--backend replay"):
        AnthropicClient(cfg, sleep=sleeps.append).complete("p")
    assert sleeps == [] and time.perf_counter() - t0 < 5
