"""One small interface for every LLM backend: response, configs, errors, backend names.

``replay`` (default) serves the recorded corpus shipped with the package and
needs neither key nor network; ``anthropic`` calls the Messages API. The
backend is chosen by argument or ``DAS_LLM_BACKEND``; the key is read only
from ``ANTHROPIC_API_KEY`` and never stored, logged or shown in a repr.
:func:`engine.clients.make_client` builds the client.
"""
import os
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

BACKENDS = ("replay", "anthropic")
DEFAULT_MODEL = "claude-sonnet-4-6"  # claude-sonnet-4-5 is deprecated in anthropic 2.12
KEY_ENV = "ANTHROPIC_API_KEY"


class LLMError(RuntimeError):
    """A backend failed to produce a response (after its retries)."""


class MissingAPIKey(LLMError):
    """A live backend was chosen but no key is in the environment."""


class NoRecordedResponse(LLMError):
    """The replay corpus has no (further) response for this prompt."""


class UnknownBackend(ValueError):
    """The backend name is not one of ``BACKENDS``."""


@dataclass(frozen=True)
class LLMResponse:
    """A raw response and what is known about how it was produced.

    Attributes
    ----------
    text : str
        Raw response text (prose, fences, code).
    backend, model : str
        Backend name and model identifier (replay: ``"replay"``).
    prompt_sha256 : str
        sha256 of the prompt it answers.
    usage : dict
        Token counts when the backend reports them.
    latency_s : float
        Wall time of the request (including retries).
    metadata : dict
        Backend extras: attempts, stop reason, replay provenance.
    """

    text: str
    backend: str
    model: str
    prompt_sha256: str
    usage: dict = field(default_factory=dict)
    latency_s: float = 0.0
    metadata: dict = field(default_factory=dict)


@runtime_checkable
class LLMClient(Protocol):
    """What the loop needs from a backend."""

    backend: str
    model: str

    def complete(self, prompt_text: str, *, sample: int = 0) -> LLMResponse:
        """Return response number ``sample`` (0-based) to ``prompt_text``."""


@dataclass(frozen=True)
class AnthropicConfig:
    """Settings of :class:`engine.anthropic_client.AnthropicClient` (no key here).

    ``temperature`` None leaves the API default; anthropic 2.12's ``create``
    has no such argument, so a set value travels in the request body.
    """

    model: str = DEFAULT_MODEL
    temperature: float | None = None
    max_tokens: int = 8192
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    base_url: str | None = None

    @classmethod
    def from_env(cls, **overrides):
        """Defaults, then ``DAS_MODEL`` / ``ANTHROPIC_BASE_URL``, then ``overrides`` (None ignored)."""
        values = {"model": os.environ.get("DAS_MODEL") or cls.model,
                  "base_url": os.environ.get("ANTHROPIC_BASE_URL") or None}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class ReplayConfig:
    """Settings of :class:`engine.replay.ReplayClient`."""

    corpus_dir: str | None = None  # None -> the corpus shipped in engine/corpus


def resolve_backend(backend=None):
    """``backend`` or ``$DAS_LLM_BACKEND`` or ``"replay"``, validated."""
    name = (backend or os.environ.get("DAS_LLM_BACKEND") or "replay").lower()
    if name not in BACKENDS:
        raise UnknownBackend(f"unknown LLM backend {name!r}; choose from {', '.join(BACKENDS)}")
    return name
