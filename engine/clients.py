"""The factory that picks an LLM client: replay (default, offline) or Anthropic."""
from das.engine.llm import AnthropicConfig, ReplayConfig, resolve_backend
from das.engine.replay import ReplayClient


def make_client(backend=None, **options):
    """Build the client for ``backend`` (see :func:`resolve_backend`).

    ``options`` are fields of :class:`AnthropicConfig` or :class:`ReplayConfig`.

    Raises
    ------
    MissingAPIKey
        ``anthropic`` chosen and ``ANTHROPIC_API_KEY`` is unset or empty.
    """
    name = resolve_backend(backend)
    if name == "replay":
        return ReplayClient(ReplayConfig(**options))
    from das.engine.anthropic_client import AnthropicClient  # on use: the SDK is slow to import

    return AnthropicClient(AnthropicConfig.from_env(**options))
