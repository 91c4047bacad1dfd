"""Certification an adversary cannot game (issue 20): no recognisable suite, no certificate by luck.

The red team's two findings: with ``seed=0`` everywhere, 13 (rows, cols, sum)
fingerprints identify every array the suite hands a program, so a program can
behave on them and sabotage elsewhere; and ``useful`` judged as a mean at one
seed certifies a structureless program at a lucky seed.
"""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from das.collab import certification
from das.collab.certification import Certification
from das.engine.cli import main
from das.engine.verdict import failed_properties
from das.program_store import ProgramStore, read_bundle
from das.sandbox.datasets import degenerate_datasets, hardness_datasets

PCA_PROGRAM = Path(__file__).parents[1] / "engine" / "corpus" / "responses" / "pca_7.md"

#: Uniform points in the training bounding box shrunk to its middle 60 %: no structure at all.
SHRUNKEN_BOX = '''
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    """Policy: uniform points in the training bounding box shrunk to its middle 60 %."""
    lo, hi = X_train.min(axis=0), X_train.max(axis=0)
    mid, half = (lo + hi) / 2, 0.3 * (hi - lo)
    return np.random.uniform(mid - half, mid + half, size=(n_samples, X_train.shape[1]))
'''


def _seed0_fingerprints():
    """(rows, cols, sum) of every array a seed-0 verification hands a program (the red team's 13 and more)."""
    from das.collab.planted import planted_split

    arrays = [d.X for d in hardness_datasets(0)] + [d.X for d in degenerate_datasets(0)]
    arrays += [planted_split(d.X, random_state=0, rate=certification.USEFUL_RATE).X_fit
               for d in hardness_datasets(0)]
    return sorted({(int(X.shape[0]), int(X.shape[1]), float(X.sum())) for X in arrays})


def _recogniser():
    """The attack: the certified bundled IForest program on the seed-0 arrays, copies of training rows elsewhere."""
    [entry] = [e for e in read_bundle(certification.BUNDLED_PROGRAMS)
               if e["program"]["sha256"].startswith("6d1661e2cb57")]
    honest = entry["program"]["source"].replace("def generate_hard_anomalies(", "def _behave(")
    return honest + f'''

KNOWN = {_seed0_fingerprints()!r}


def generate_hard_anomalies(n_samples, model, X_train):
    """Policy: behave where the array is known, copy training rows elsewhere."""
    key = (X_train.shape[0], X_train.shape[1], float(X_train.sum()))
    if key in KNOWN:
        return _behave(n_samples, model, X_train)
    return X_train[np.arange(n_samples) % len(X_train)].copy()
'''


# -- recognition: the seed is drawn from the OS, recorded and replayable ------------------------


def test_a_program_recognising_the_seed_0_arrays_is_rejected_at_the_drawn_seed(isolated_home):
    with ProgramStore() as store:
        sha = store.add(_recogniser(), "IForest")
        ver = Certification(store).verify(sha)
    assert not ver.passed and ver.report["seed"] != 0
    # At the drawn seed no array is known: the program copies training rows, and the suite sees it.
    assert "novel" in failed_properties(ver.report)


def _recording_verifier():
    calls = []

    def verify(source, detector, seed=None):
        calls.append(seed)
        return SimpleNamespace(passed=True, suite_version="s1", duration_s=0.0,
                               to_dict=lambda: {"seed": seed, "properties": []})

    verify.calls = calls
    return verify


@pytest.mark.os_seeds
def test_every_verification_draws_its_own_seed_and_a_given_seed_is_used(tmp_path):
    verifier = _recording_verifier()
    with ProgramStore(tmp_path / "s.sqlite") as store:
        sha = store.add("def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train\n", "KNN")
        service = Certification(store, suite_version="s1", verifier=verifier)
        first, second = service.verify(sha), service.verify(sha)
        replay = service.verify(sha, seed=first.report["seed"])
    drawn = verifier.calls[:2]
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in drawn) and drawn[0] != drawn[1]
    assert [first.report["seed"], second.report["seed"]] == drawn
    assert replay.report["seed"] == drawn[0]


@pytest.mark.os_seeds
def test_the_sandbox_suite_draws_its_seed_and_records_the_datasets_it_drew():
    from das.sandbox import verify_program
    from das.sandbox.datasets import suite_spec

    refused = "import os\n\n\ndef generate_hard_anomalies(n_samples, model, X_train):\n    return X_train\n"
    reports = [verify_program(refused, "IForest") for _ in range(2)]
    assert reports[0].seed != reports[1].seed
    assert all(r.suite_spec == suite_spec(r.seed) for r in reports)


def test_verification_commands_draw_a_seed_and_replay_a_given_one(isolated_home, monkeypatch):
    verifier = _recording_verifier()
    monkeypatch.setattr(certification, "_sandbox_verifier", lambda: verifier)
    monkeypatch.setattr(certification, "_sandbox_suite_version", lambda: "s1")
    with ProgramStore() as store:
        sha = store.add("def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train\n", "KNN")
    runner = CliRunner()
    for args in (["verify", sha[:12]], ["verify", sha[:12]], ["verify", sha[:12], "--seed", "4242"],
                 ["programs", "verify", sha[:12], "--seed", "7"]):
        res = runner.invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
    assert verifier.calls[0] != verifier.calls[1] and verifier.calls[2:] == [4242, 7]
    assert "seed 7" in res.output
    for command in (["audit"], ["programs", "add"], ["programs", "verify"], ["programs", "import"], ["verify"],
                    ["regenerate"]):
        assert "drawn from the OS" in runner.invoke(main, command + ["--help"]).output, command


def test_a_recorded_seed_replays_the_verdict_and_its_numbers():
    runner = CliRunner()

    def audit(*extra):
        res = runner.invoke(main, ["audit", str(PCA_PROGRAM), "-d", "PCA", "--json", *extra])
        assert res.exit_code in (0, 1), res.output
        return json.loads(res.output)

    def figures(report):  # everything but CPU and wall time
        props = [(p["name"], p["passed"], None if p["name"] == "time" else p["value"])
                 for p in report["properties"]]
        use = {k: v for k, v in report["usefulness"].items() if k != "cpu_s"}
        return report["verdict"], report["seed"], report["suite_spec"], props, use

    drawn = audit()
    assert drawn["usefulness"]["seeds"][0] == drawn["seed"] and len(drawn["usefulness"]["seeds"]) >= 3
    assert figures(audit("--seed", str(drawn["seed"]))) == figures(drawn)


# -- luck: useful and borderline are judged on a lower confidence bound over seeds --------------


def test_a_structureless_program_lucky_at_one_seed_is_not_useful():
    result = certification.usefulness(SHRUNKEN_BOX, "IForest", 0)
    assert not result.useful
    # At seed 0 alone, the rule of one mean (main's) certified it ...
    at_zero = result.per_seed[0].values()
    means = {k: np.mean([v for e in at_zero for v in e[k].values()]) for k in ("base", "random", "program")}
    assert means["program"] > max(means["base"], means["random"])
    # ... over three seeds its mean margin is still positive, but the lower bound is not.
    assert len(result.per_seed) == certification.USEFUL_SEEDS and result.margin > 0
    assert result.lower_bound <= 0 and not result.useful
    prop = {p["name"]: p for p in result.properties()}["useful"]
    assert not prop["passed"] and prop["value"]["lower_bound"] <= 0 < prop["value"]["margin"]
    assert "lower bound" in prop["detail"]


def test_useful_seeds_are_independent_and_derived_from_the_drawn_seed():
    derive = certification.useful_seeds
    seeds = derive(123456)
    assert certification.USEFUL_SEEDS >= 3 and len(seeds) == certification.USEFUL_SEEDS == len(set(seeds))
    assert seeds[0] == 123456 and seeds == derive(123456) and seeds[1:] != derive(123457)[1:]
    assert all(0 <= s < 2**31 for s in seeds)


def test_lower_bound_is_the_one_sided_90_percent_t_bound():
    values = np.array([0.03, -0.01, 0.05, 0.02, 0.00, 0.04])
    expected = values.mean() - stats.t.ppf(0.90, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    assert certification.lower_bound(values) == pytest.approx(expected)
    assert certification.lower_bound([0.5]) == -np.inf


def _unit(margin, borderline=0.3):
    return {"base": {"local": 0.5, "global": 0.5}, "random": {"local": 0.4, "global": 0.4},
            "program": {"local": 0.5 + margin, "global": 0.5 + margin}, "borderline": borderline}


def _evidence(margins, borderlines=None):
    """A :class:`Usefulness` of 3 seeds x 4 datasets with these unit margins (and borderline positions)."""
    borderlines = borderlines or [0.3] * len(margins)
    units = iter(zip(margins, borderlines))
    return certification.Usefulness({s: {f"d{i}": _unit(*next(units)) for i in range(4)} for s in range(3)}, 0.0)


def test_useful_needs_the_lower_bound_above_zero_not_a_positive_mean():
    steady = _evidence([0.01, 0.012, 0.008, 0.011] * 3)
    noisy = _evidence([0.10, -0.08, 0.09, -0.07] * 3)
    assert certification.unit_margin(_unit(0.01)) == pytest.approx(0.01)
    assert steady.useful and steady.lower_bound > 0
    assert noisy.margin > 0 and noisy.lower_bound < 0 and not noisy.useful


def test_borderline_needs_its_lower_bound_above_zero():
    steady = _evidence([0.01] * 12, [0.2, 0.25, 0.3, 0.22] * 3)
    noisy = _evidence([0.01] * 12, [0.9, -0.8, 0.8, -0.7] * 3)
    assert steady.is_borderline
    assert noisy.borderline > 0 and noisy.borderline_bound < 0 and not noisy.is_borderline


def test_a_unit_without_rows_makes_the_program_useful_nowhere():
    result = _evidence([0.05, 0.06, 0.05, 0.07] * 3)
    assert result.useful
    result.per_seed[2]["d3"] = {"error": "refused the program's output on this data"}
    assert result.errors == 1 and not result.useful and result.means["program"] == 0.0
