"""Offline backend: recorded responses served by prompt sha256.

The corpus is ``engine/corpus/index.json`` plus one Markdown file per recorded
response. Each index entry says which prompt it answers (``prompt_sha256``,
``prompt_version``), who wrote it and when (``author``, ``written_at``) and
the sha256 of the response text, so a modified response file is refused.
:func:`rekey_corpus` re-points entries at the current templates after a
template change and records the change in the entry's ``rekeyed`` history.
"""
import json
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from das.engine.llm import LLMError, LLMResponse, NoRecordedResponse, ReplayConfig
from das.engine.prompts import PROMPT_VERSION, build_prompt
from das.program_store.hashing import text_sha256

INDEX_NAME = "index.json"


class CorpusError(LLMError):
    """The corpus index or a response file is missing or modified."""


def default_corpus_dir():
    """Directory of the corpus shipped with the package."""
    return Path(str(resources.files("das.engine").joinpath("corpus")))


def load_index(corpus_dir=None):
    """Parsed ``index.json`` of ``corpus_dir`` (default: shipped corpus)."""
    path = Path(corpus_dir or default_corpus_dir()) / INDEX_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot read replay corpus index {path}: {exc}") from exc


class ReplayClient:
    """:class:`engine.llm.LLMClient` serving the recorded corpus.

    ``complete(text, sample=i)`` returns the i-th recorded response (newest corpus
    version first, then by entry id) whose ``prompt_sha256`` equals the sha256 of
    ``text``.
    """

    backend = "replay"
    model = "replay"

    def __init__(self, config=None):
        self.config = config or ReplayConfig()
        self.corpus_dir = Path(self.config.corpus_dir or default_corpus_dir())
        self.entries = load_index(self.corpus_dir)["entries"]

    def __repr__(self):
        return f"ReplayClient(corpus_dir={str(self.corpus_dir)!r}, entries={len(self.entries)})"

    def responses_for(self, sha):
        """Index entries answering the prompt with sha256 ``sha``: the newest corpus version first, then by id."""
        return sorted((e for e in self.entries if e["prompt_sha256"] == sha),
                      key=lambda e: (-e.get("corpus_version", 1), e["id"]))

    def read(self, entry):
        """Response text of ``entry``, checked against its recorded sha256."""
        path = self.corpus_dir / entry["file"]
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CorpusError(f"corpus response {entry['id']} unreadable: {exc}") from exc
        if text_sha256(text) != entry["response_sha256"]:
            raise CorpusError(f"corpus response {entry['id']} was modified after recording "
                              "(sha256 mismatch); re-record it")
        return text

    def complete(self, prompt_text, *, sample=0):
        """Recorded response number ``sample`` to ``prompt_text``.

        Raises
        ------
        NoRecordedResponse
            If fewer than ``sample + 1`` responses were recorded for this prompt.
        """
        sha = text_sha256(prompt_text)
        found = self.responses_for(sha)
        if sample >= len(found):
            raise NoRecordedResponse(
                f"the replay corpus has {len(found)} response(s) for prompt {sha[:12]}, "
                f"none at index {sample}; use --backend anthropic to query a live model")
        entry = found[sample]
        provenance = {k: entry.get(k) for k in
                      ("id", "author", "written_at", "written_for_prompt_sha256", "prompt_version")}
        return LLMResponse(text=self.read(entry), backend=self.backend, model=self.model,
                           prompt_sha256=sha, metadata={"sample": sample, "provenance": provenance})


def rekey_corpus(corpus_dir=None, now=None):
    """Point every entry at the current rendering of its (detector, variant) prompt.

    Entries whose prompt changed get the new ``prompt_sha256``/``prompt_version``
    and a ``rekeyed`` record (old sha, new sha, when). ``written_for_prompt_sha256``
    keeps the prompt the response was originally written for. Returns the
    list of changed entry ids.
    """
    corpus_dir = Path(corpus_dir or default_corpus_dir())
    index = load_index(corpus_dir)
    when = now or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = []
    for entry in index["entries"]:
        prompt = build_prompt(entry["detector"], entry["variant"])
        if prompt.sha256 == entry.get("prompt_sha256"):
            continue
        entry.setdefault("rekeyed", []).append(
            {"from": entry.get("prompt_sha256"), "to": prompt.sha256,
             "prompt_version": PROMPT_VERSION, "at": when})
        entry["prompt_sha256"], entry["prompt_version"] = prompt.sha256, PROMPT_VERSION
        changed.append(entry["id"])
    if changed:
        (corpus_dir / INDEX_NAME).write_text(
            json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return changed
