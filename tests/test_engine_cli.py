"""`das regenerate` and `das prompts` end to end, with the real sandbox and store."""
import json

from click.testing import CliRunner

from das.collab.certification import Certification
from das.engine.cli import main
from das.engine.prompts import build_prompt
from das.program_store import ProgramStore


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_commands_have_help():
    for args in (["regenerate"], ["prompts"], ["prompts", "show"], ["prompts", "corpus"]):
        res = run(*args, "--help")
        assert res.exit_code == 0 and "Usage:" in res.output


def test_prompts_show_prints_text_and_hash():
    res = run("prompts", "show", "--detector", "ocsvm", "--variant", "hardness")
    assert res.exit_code == 0
    assert build_prompt("OCSVM", "hardness").sha256 in res.output and "`degree`" in res.output
    data = json.loads(run("prompts", "show", "-d", "KNN", "--json").output)
    assert data["sha256"] == build_prompt("KNN").sha256 and data["version"] == "1.0"


def test_prompts_corpus_lists_current_entries():
    data = json.loads(run("prompts", "corpus", "--json").output)
    assert len(data["entries"]) >= 14 and all(e["current"] for e in data["entries"])
    assert data["rekeyed"] == []


def test_user_errors_are_clean():
    for args in (["prompts", "show", "-d", "nope"], ["regenerate", "-d", "nope"]):  # usage errors, as elsewhere
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and "Traceback" not in res.output and "unknown detector 'nope'" in res.output
    res = CliRunner().invoke(main, ["regenerate", "-d", "PCA", "--backend", "anthropic"])
    assert res.exit_code == 1 and "ANTHROPIC_API_KEY" in res.output


def test_regenerate_offline_gives_each_candidate_the_runtimes_verdict():
    # one recorded seed for both runs: each verification otherwise draws its own
    res = run("regenerate", "--detector", "ECOD", "--n", "3", "--show-report", "--seed", "7")
    assert res.exit_code == 0, res.output
    assert res.output.count("[ECOD] candidate") == 3  # --n 3 of the recordings, newest corpus first
    assert "[PASS] harder_than_random" in res.output
    # The service's properties are part of the verdict: what regenerate certifies, the runtime accepts.
    assert "useful:" in res.output and "borderline:" in res.output
    data = json.loads(run("regenerate", "-d", "ECOD", "--n", "3", "--seed", "7", "--json").output)
    certified = [r for r in data["ECOD"] if r["status"] == "certified"]
    assert certified and f"{len(certified)} program(s) certified" in res.output
    assert all(0.0 < r["borderline"] <= 1.0 for r in certified)
    with ProgramStore() as store:
        service = Certification(store)
        for r in certified:  # certified by regenerate = current under the runtime's suite
            assert service.require_current(store.get(r["sha256"])).status == "certified"
