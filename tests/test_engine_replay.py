"""Replay backend and the bundled corpus: coverage, keys, provenance, tamper checks."""
import json
import shutil

import pytest

from das.detectors import DETECTOR_NAMES
from das.engine.extract import extract_program
from das.engine.clients import make_client
from das.engine.llm import NoRecordedResponse
from das.engine.prompts import build_prompt
from das.engine.replay import CorpusError, ReplayClient, default_corpus_dir, load_index, rekey_corpus
from das.engine.llm import ReplayConfig


def test_replay_is_the_default_backend_and_needs_no_key(monkeypatch):
    monkeypatch.delenv("DAS_LLM_BACKEND", raising=False)
    assert make_client().backend == "replay"


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_every_default_prompt_has_two_current_recordings(name):
    client = ReplayClient()
    prompt = build_prompt(name)
    found = client.responses_for(prompt.sha256)
    assert len(found) >= 2, f"corpus keys are stale for {name}: run `das prompts corpus --rekey`"
    sources = set()
    for i in range(len(found)):
        resp = client.complete(prompt.text, sample=i)
        prog = extract_program(resp.text)
        assert name in prog.policy  # detector-specific policy text
        sources.add(prog.source)
    assert len(sources) == len(found)


def test_every_entry_is_keyed_to_its_current_prompt_with_honest_provenance():
    for e in load_index()["entries"]:
        assert e["prompt_sha256"] == build_prompt(e["detector"], e["variant"]).sha256, e["id"]
        assert e["author"].startswith("Claude (Anthropic)")
        assert "not captured from the Messages API" in e["author"]
        assert e["written_at"] and e["written_for_prompt_sha256"]


def test_response_metadata_and_exhaustion():
    client = ReplayClient()
    prompt = build_prompt("ECOD")
    resp = client.complete(prompt.text, sample=1)
    assert resp.backend == "replay" and resp.model == "replay"
    # Newest corpus version first (v5: -09, -10; then v3: -07, -08), then by id.
    assert resp.metadata["provenance"]["id"] == "ECOD-default-10"
    assert client.complete(prompt.text, sample=2).metadata["provenance"]["id"] == "ECOD-default-07"
    assert client.complete(prompt.text, sample=4).metadata["provenance"]["id"] == "ECOD-default-03"
    with pytest.raises(NoRecordedResponse, match="none at index 99"):
        client.complete(prompt.text, sample=99)
    with pytest.raises(NoRecordedResponse, match="has 0 response"):
        client.complete("an unrecorded prompt")


@pytest.fixture
def corpus_copy(tmp_path):
    dst = tmp_path / "corpus"
    shutil.copytree(default_corpus_dir(), dst)
    return dst


def test_modified_response_file_is_refused(corpus_copy):
    path = corpus_copy / "responses" / "ecod_9.md"  # served first
    path.write_text(path.read_text() + "\n# sneaky edit\n")
    client = ReplayClient(ReplayConfig(corpus_dir=str(corpus_copy)))
    with pytest.raises(CorpusError, match="modified after recording"):
        client.complete(build_prompt("ECOD").text, sample=0)


def test_rekey_points_stale_entries_at_current_prompts(corpus_copy):
    index_path = corpus_copy / "index.json"
    index = json.loads(index_path.read_text())
    original = index["entries"][0]["prompt_sha256"]
    index["entries"][0]["prompt_sha256"] = "0" * 64
    index_path.write_text(json.dumps(index))
    changed = rekey_corpus(corpus_copy, now="2026-11-23T00:00:00Z")
    assert changed == [index["entries"][0]["id"]]
    entry = json.loads(index_path.read_text())["entries"][0]
    assert entry["prompt_sha256"] == original
    assert entry["rekeyed"] == [{"from": "0" * 64, "to": original, "prompt_version": "1.0",
                                 "at": "2026-11-23T00:00:00Z"}]
    assert rekey_corpus(corpus_copy) == []
