"""Live backend: the Anthropic Messages API through the official SDK.

The SDK's own retries are disabled (``max_retries=0``) and replaced by a
small backoff loop here, so every retry is logged (without the key), honours
``retry-after`` and can be tested against a local fake server. A host that
cannot be reached at all (no network, DNS, connection refused) fails at once,
naming the host, instead of being retried.
"""
import logging
import os
import time

import anthropic

from das.engine.llm import KEY_ENV, AnthropicConfig, LLMError, LLMResponse, MissingAPIKey
from das.program_store.hashing import text_sha256

log = logging.getLogger("das.engine.llm")

_RETRYABLE = (anthropic.RateLimitError, anthropic.InternalServerError,
              anthropic.APITimeoutError, anthropic.APIConnectionError)


def _unreachable(exc):
    """True when the connection could not be made at all (no network, DNS, refused): retrying won't help."""
    return isinstance(exc, anthropic.APIConnectionError) and not isinstance(exc, anthropic.APITimeoutError)


def _retry_after(exc):
    """Seconds asked for by a ``retry-after`` header, or None."""
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _describe(exc):
    """Short, key-free description of an SDK error for logs and messages."""
    status = getattr(exc, "status_code", None)
    kind = type(exc).__name__
    return f"{kind} (HTTP {status})" if status else kind


class AnthropicClient:
    """:class:`engine.llm.LLMClient` over the Messages API.

    Parameters
    ----------
    config : AnthropicConfig, optional
        Model, temperature, token limit, timeout, retries, base URL.
    sleep : callable, optional
        ``sleep(seconds)`` used between retries (tests pass a recorder).

    Raises
    ------
    MissingAPIKey
        If ``ANTHROPIC_API_KEY`` is unset or empty.
    """

    backend = "anthropic"

    def __init__(self, config=None, *, sleep=time.sleep):
        self.config = config or AnthropicConfig.from_env()
        self.model = self.config.model
        self._sleep = sleep
        key = os.environ.get(KEY_ENV, "").strip()
        if not key:
            raise MissingAPIKey(
                f"the anthropic backend needs an API key in ${KEY_ENV}; "
                "use --backend replay to work offline")
        # The key lives only inside the SDK client object, never on self.
        self._client = anthropic.Anthropic(
            api_key=key, base_url=self.config.base_url, timeout=self.config.timeout_s,
            max_retries=0)

    def __repr__(self):
        return (f"AnthropicClient(model={self.model!r}, base_url={self.config.base_url!r}, "
                "api_key=<redacted>)")

    def _unreachable_message(self, exc):
        cause = exc.__cause__ or exc.__context__
        why = f"{type(cause).__name__}: {cause}" if cause else _describe(exc)
        return (f"cannot reach the Anthropic API at {self._client.base_url} ({why}); check the "
                "network or proxy ($HTTPS_PROXY) or $ANTHROPIC_BASE_URL, or use --backend replay "
                "to work offline")

    def _delay(self, attempt, exc):
        hinted = _retry_after(exc)
        backoff = self.config.backoff_s * (2 ** attempt)
        return min(self.config.backoff_max_s, hinted if hinted is not None else backoff)

    def complete(self, prompt_text, *, sample=0):
        """Send ``prompt_text`` as one user message; ``sample`` only labels the request."""
        cfg = self.config
        t0 = time.perf_counter()
        attempts = 0
        extra = {} if cfg.temperature is None else {"extra_body": {"temperature": cfg.temperature}}
        while True:
            attempts += 1
            try:
                msg = self._client.messages.create(
                    model=cfg.model, max_tokens=cfg.max_tokens,
                    messages=[{"role": "user", "content": prompt_text}], **extra)
                break
            except _RETRYABLE as exc:
                if _unreachable(exc):
                    raise LLMError(self._unreachable_message(exc)) from None
                if attempts > cfg.max_retries:
                    raise LLMError(f"Messages API failed after {attempts} attempts: "
                                   f"{_describe(exc)}") from None
                delay = self._delay(attempts - 1, exc)
                log.warning("Messages API %s on attempt %d; retrying in %.1f s",
                            _describe(exc), attempts, delay)
                self._sleep(delay)
            except anthropic.APIStatusError as exc:
                raise LLMError(f"Messages API refused the request: {_describe(exc)}") from None
        text = "".join(getattr(b, "text", "") for b in msg.content if b.type == "text")
        usage = {"input_tokens": msg.usage.input_tokens, "output_tokens": msg.usage.output_tokens}
        latency = time.perf_counter() - t0
        log.info("Messages API: model %s, %d in / %d out tokens, %.2f s, %d attempt(s)",
                 msg.model, usage["input_tokens"], usage["output_tokens"], latency, attempts)
        return LLMResponse(
            text=text, backend=self.backend, model=msg.model or cfg.model,
            prompt_sha256=text_sha256(prompt_text), usage=usage, latency_s=round(latency, 3),
            metadata={"attempts": attempts, "stop_reason": msg.stop_reason, "sample": sample,
                      "message_id": msg.id, "temperature": cfg.temperature})
