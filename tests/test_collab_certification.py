"""Certification service: verification, suite currency, default choice, bundle import, resolution."""
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from das.collab.certification import (Certification, ProgramRefused, UncertifiedProgramWarning, first_use_notice,
                                      resolve_source)
from das.collab.synthesis import BASELINES, UncertifiedProgram
from das.program_store import (InvalidInput, NotCertified, ProgramNotFound, ProgramStore, TamperedProgram, export_bundle,
                               read_bundle, source_sha256)

SRC = "def generate(X, n):\n    return X[:n] + 1.0\n"


def fake_verifier(suite="s1", passed=True, hardness=0.5):
    """A verifier with the sandbox's report shape; records its calls."""
    calls = []

    def verify(source, detector, seed=0):
        calls.append((source, detector, seed))
        return SimpleNamespace(passed=passed, suite_version=suite, duration_s=0.01,
                               hardness=hardness,
                               to_dict=lambda: {"borderline": hardness, "suite_version": suite,
                                                "properties": [{"name": "shape", "passed": passed}]})

    verify.calls = calls
    return verify


def service(store, suite="s1", **kw):
    return Certification(store, suite_version=suite, verifier=fake_verifier(suite=suite, **kw))


@pytest.fixture
def store(tmp_path):
    with ProgramStore(tmp_path / "s.sqlite") as s:
        yield s


def test_verification_sets_status(store):
    good = store.add(SRC, "IForest")
    bad = store.add(SRC + "#", "IForest")
    service(store).verify(good)
    service(store, passed=False).verify(bad)
    assert store.get(good).status == "certified"
    assert store.get(bad).status == "rejected"
    assert [v.passed for v in store.verifications(bad)] == [False]
    assert store.latest_verification(good).report["properties"][0]["name"] == "shape"


def test_certified_prefers_default_then_hardness(store):
    soft = store.add(SRC, "IForest")
    hard = store.add(SRC + "#hard", "IForest")
    other = store.add(SRC + "#lof", "LOF")
    service(store, hardness=0.2).verify(soft)
    service(store, hardness=0.9).verify(hard)
    cert = service(store)
    cert.verify(other)
    assert cert.certified("IForest").sha256 == hard  # no default: highest hardness
    cert.set_default("IForest", soft)
    assert cert.certified("IForest").sha256 == soft
    with pytest.raises(NotCertified, match="no certified program"):
        cert.certified("PCA")
    with pytest.raises(InvalidInput):
        cert.set_default("IForest", other)


def _default_certified_under_s1(path):
    with ProgramStore(path) as s:
        sha = s.add(SRC, "IForest")
        service(s, "s1").verify(sha)
        service(s, "s1").set_default("IForest", sha)
    return sha


def test_old_suite_certification_needs_reverification(tmp_path):
    path = tmp_path / "s.sqlite"
    sha = _default_certified_under_s1(path)
    with ProgramStore(path) as s:
        with pytest.raises(NotCertified, match="re-verification is needed"):
            service(s, "s2").certified("IForest")
        cert = service(s, "s2")
        assert cert.certified("IForest", reverify=True).sha256 == sha
        assert len(cert.verifier.calls) == 1
        assert Certification(s, suite_version="s2").certified("IForest").sha256 == sha  # now current
        assert [v.suite_version for v in s.verifications(sha)] == ["s1", "s2"]


def test_stale_without_default_says_reverify(tmp_path):
    path = tmp_path / "s.sqlite"
    with ProgramStore(path) as s:
        service(s, "s1").verify(s.add(SRC, "IForest"))
    with ProgramStore(path) as s:
        with pytest.raises(NotCertified, match="older suite"):
            service(s, "s2").certified("IForest")
        with pytest.raises(NotCertified):  # re-verification that fails does not certify
            service(s, "s2", passed=False).certified("IForest", reverify=True)


def test_reverify_under_wrong_suite_is_not_certified(tmp_path):
    path = tmp_path / "s.sqlite"
    _default_certified_under_s1(path)
    with ProgramStore(path) as s:
        stale_verifier = Certification(s, suite_version="s2", verifier=fake_verifier(suite="s1"))
        with pytest.raises(NotCertified, match="failed re-verification"):
            stale_verifier.certified("IForest", reverify=True)


def test_fallback_skips_tampered_and_puts_unknown_hardness_last(store):
    none = store.add(SRC + "#none", "IForest")
    low = store.add(SRC + "#low", "IForest")
    high = store.add(SRC + "#high", "IForest")
    store.record_verification(none, {}, passed=True, suite_version="s1")
    store.record_verification(low, {"borderline": 0.1}, passed=True, suite_version="s1")
    store.record_verification(high, {"borderline": 0.9}, passed=True, suite_version="s1")
    cert = service(store)
    assert cert.certified("IForest").sha256 == high
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE programs SET source = 'x' WHERE sha256 = ?", (high,))
    raw.commit()
    raw.close()
    assert cert.certified("IForest").sha256 == low  # tampered one refused, next hardest used
    assert store.list(status="tampered")[0].sha256 == high


def test_set_default_refuses_a_stale_certificate(store):
    sha = store.add(SRC, "IForest")
    service(store, "s0").verify(sha)
    with pytest.raises(NotCertified, match="re-verification is needed"):
        service(store, "s1").set_default("IForest", sha)


def test_bundle_import_verifies_locally(store, tmp_path):
    a, b = store.add(SRC, "IForest"), store.add(SRC + "#b", "IForest")
    service(store).verify(a)
    service(store).verify(b)
    store.revoke(b, "bad")
    bundle = export_bundle(store, tmp_path / "b.json", shas=[a, b])["path"]
    with ProgramStore(tmp_path / "other.sqlite") as other:
        cert = service(other, hardness=0.7)
        results = cert.import_bundle(bundle)
        assert [(r["sha256"], r["status"], r["passed"]) for r in results] == [
            (a, "certified", True), (b, "skipped", None)]
        assert len(cert.verifier.calls) == 1  # the revoked program is never run
        assert other.latest_verification(a).report["borderline"] == 0.7


def test_bundle_import_never_reverifies_so_never_revokes_the_default(store, tmp_path):
    """The attack: re-export the user's default; an import under a newer suite re-verified it and
    revoked it on failure (revocation is final), leaving the bundle's own program as auto's choice."""
    mine, theirs = store.add(SRC, "IForest"), store.add(SRC + "#theirs", "IForest")
    service(store, "s0").verify(mine)
    service(store, "s0").verify(theirs)
    bundle = export_bundle(store, tmp_path / "b.json", shas=[mine, theirs])["path"]
    with ProgramStore(tmp_path / "user.sqlite") as user:
        user.add(SRC, "IForest")
        service(user, "s0").verify(mine)
        user.set_default("IForest", mine)
        cert = service(user, "s1", passed=False)  # a newer suite the user's program fails
        results = cert.import_bundle(bundle)
        assert [(r["sha256"], r["status"], r["passed"]) for r in results] == [
            (mine, "certified", None), (theirs, "rejected", False)]
        assert [call[0] for call in cert.verifier.calls] == [SRC + "#theirs"]  # only the new candidate ran
        assert user.get(mine).status == "certified" and user.default("IForest") == mine
        assert [e["kind"] for e in user.events(mine)] == ["certified", "default", "imported"]


def test_resolve_by_sha_refuses_other_detectors_and_uncertified(store):
    good, cand = store.add(SRC, "IForest"), store.add(SRC + "#c", "IForest")
    cert = service(store)
    cert.verify(good)
    assert cert.resolve(good[:10], "IForest").sha256 == good
    with pytest.raises(ProgramRefused, match="not PCA"):
        cert.resolve(good, "PCA")
    with pytest.raises(NotCertified, match="only certified programs run"):
        cert.resolve(cand, "IForest")
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE programs SET source = 'x' WHERE sha256 = ?", (good,))
    raw.commit()
    raw.close()
    with pytest.raises(TamperedProgram):
        cert.resolve(good, "IForest")


def test_program_text_needs_the_opt_in_and_warns(tmp_path):
    path = tmp_path / "s.sqlite"
    src = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples]\n"
    with pytest.raises(ProgramRefused, match="allow_uncertified=True"):
        resolve_source(src, "IForest", path)
    with pytest.raises(ProgramRefused, match="allow_uncertified=True"):
        resolve_source("print(1)", "IForest", path)  # a typo is refused the same way
    with pytest.warns(UncertifiedProgramWarning, match="without a certificate"):
        assert resolve_source(src, "IForest", path, allow_uncertified=True) == UncertifiedProgram(
            src, source_sha256(src))
    with pytest.raises(ValueError, match="certified"):
        resolve_source("", "IForest", path)
    assert resolve_source("none", "IForest", path) is BASELINES["none"]
    assert resolve_source("random", "IForest", path) is BASELINES["random"]


def test_the_text_of_a_certified_program_is_that_program(tmp_path):
    # The second walkthrough's M5: the source of a certified program was refused as "not certified".
    from das.collab.certification import suite_version
    from das.collab.synthesis import CertifiedProgram

    path = tmp_path / "s.sqlite"
    src = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples] + 2\n"
    with ProgramStore(path) as st:
        sha = st.add(src, "IForest")
        Certification(st, suite_version=suite_version(), verifier=fake_verifier(suite=suite_version())).verify(sha)
    assert resolve_source(src, "IForest", path) == CertifiedProgram(src, sha)
    with pytest.raises(ProgramRefused, match="is for IForest, not PCA"):
        resolve_source(src, "PCA", path)


@pytest.mark.parametrize("status", ["revoked", "rejected"])
def test_program_text_revoked_or_rejected_in_the_store_never_runs(tmp_path, status):
    path = tmp_path / "s.sqlite"
    src = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples] + 1\n"
    with ProgramStore(path) as st:
        sha = st.add(src, "IForest")
        service(st, passed=status == "revoked").verify(sha)
        if status == "revoked":
            st.revoke(sha, "copies rows on large data")
        assert st.get(sha).status == status
    with pytest.raises(ProgramRefused, match=f"{sha[:12]} is {status}"):
        resolve_source(src, "IForest", path, allow_uncertified=True)


@pytest.fixture
def bundle(tmp_path):
    """A bundle with two IForest programs (hardness 0.3 and 0.8 under the fake verifier) and one LOF."""
    with ProgramStore(tmp_path / "maker.sqlite") as maker:
        shas = [maker.add(SRC + f"# {tag}\n", det) for tag, det in (("soft", "IForest"), ("hard", "IForest"),
                                                                       ("lof", "LOF"))]
        return Path(export_bundle(maker, tmp_path / "bundle.json", shas=shas)["path"])


def hardness_by_tag(suite="s1", passed=True):
    """A verifier whose hardness depends on the program's tag comment."""
    def verify(source, detector, seed=0):
        hard = 0.8 if "hard" in source else 0.3
        return SimpleNamespace(passed=passed, suite_version=suite, duration_s=0.0, hardness=hard,
                               to_dict=lambda: {"borderline": hard})
    return verify


def test_ensure_certifies_the_bundled_programs_once(store, bundle):
    cert = Certification(store, suite_version="s1", verifier=hardness_by_tag())
    first = cert.ensure("iforest", bundle=bundle)
    assert first.detector == "IForest" and first.source.endswith("# hard\n")
    assert store.default("IForest") == first.sha256
    assert {r.detector for r in store.list()} == {"IForest"}  # only the asked detector is imported
    n_verifications = sum(len(store.verifications(r.sha256)) for r in store.list())
    assert cert.ensure("IForest", bundle=bundle).sha256 == first.sha256
    assert sum(len(store.verifications(r.sha256)) for r in store.list()) == n_verifications  # idempotent


def test_an_interrupted_first_use_is_finished_by_the_next(store, bundle, monkeypatch):
    """Walkthrough H1: a Ctrl-C after the first program certified left the others candidates for good
    (no default either), since a certified program made first use look done."""
    cert = Certification(store, suite_version="s1", verifier=hardness_by_tag())
    real_verify, calls = cert.verify, []

    def interrupted(sha, **kw):
        if calls:
            raise KeyboardInterrupt
        calls.append(sha)
        return real_verify(sha, **kw)

    monkeypatch.setattr(cert, "verify", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cert.ensure("IForest", bundle=bundle)
    monkeypatch.setattr(cert, "verify", real_verify)
    assert [r.status for r in store.list()].count("candidate") == 1 and store.default("IForest") is None
    found = cert.ensure("IForest", bundle=bundle)
    assert [r.status for r in store.list()] == ["certified", "certified"]
    assert found.source.endswith("# hard\n") and store.default("IForest") == found.sha256
    n_verifications = sum(len(store.verifications(r.sha256)) for r in store.list())
    cert.ensure("IForest", bundle=bundle)
    assert sum(len(store.verifications(r.sha256)) for r in store.list()) == n_verifications


def test_two_processes_on_a_fresh_store_certify_the_bundle_once(tmp_path, bundle):
    """Walkthrough 4, M7: two commands at once on a fresh store both certified the whole bundle (twice
    the CPU, both looks pooled). The first use holds a lock beside the store; the second waits and
    finds it done."""
    import threading

    slow = hardness_by_tag()

    def verify(source, detector, seed=0):
        time.sleep(0.2)
        return slow(source, detector, seed)

    found, errors, said = [], [], []

    def use():
        try:
            with ProgramStore(tmp_path / "shared.sqlite") as st, first_use_notice(lambda: said.append(1)):
                found.append(Certification(st, suite_version="s1", verifier=verify).ensure("IForest", bundle=bundle).sha256)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    ProgramStore(tmp_path / "shared.sqlite").close()  # the file exists before both open it
    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(found) == 2 and found[0] == found[1]
    assert said == [1]  # the one that waited never said it was certifying (walkthrough 5)
    with ProgramStore(tmp_path / "shared.sqlite") as st:
        assert sorted(len(st.verifications(r.sha256)) for r in st.list()) == [1, 1]


def test_a_bundled_program_this_store_lacks_is_certified_when_named(tmp_path, bundle):
    """Walkthrough 5, M1: a bundled program's sha (shared by a colleague) was "not found" in a store
    whose first use had not run yet; naming it now runs that first use. Another detector's bundled
    program is refused without certifying anything."""
    soft, hard, lof = (e["program"]["sha256"] for e in read_bundle(bundle))
    with ProgramStore(tmp_path / "fresh.sqlite") as st:
        cert = Certification(st, suite_version="s1", verifier=hardness_by_tag())
        with pytest.raises(ProgramRefused, match="is for LOF, not IForest"):
            cert.resolve(lof[:8], "IForest", bundle=bundle)
        with pytest.raises(ProgramNotFound):
            cert.resolve("abcd" if not soft.startswith("abcd") else "dcba", "IForest", bundle=bundle)
        assert st.list() == []
        assert cert.resolve(soft[:8].upper(), "IForest", bundle=bundle).sha256 == soft
        assert st.default("IForest") == hard and {r.sha256 for r in st.list()} == {soft, hard}


def test_a_busy_first_use_lock_says_so_and_an_odd_lock_path_never_hangs(tmp_path):
    """Red team 18: a lock held elsewhere waited in silence; a FIFO named <store>.lock hung in open();
    a link there was followed; a store reached through a link locked another file."""
    import fcntl
    import os
    import threading

    from das.collab.certification import StoreBusyWarning

    real = tmp_path / "real.sqlite"
    ProgramStore(real).close()
    (tmp_path / "link.sqlite").symlink_to(real)
    with ProgramStore(tmp_path / "link.sqlite") as st:
        cert = Certification(st, suite_version="s1")
        with open(tmp_path / "real.sqlite.lock", "a") as held:  # another process's first use
            fcntl.flock(held, fcntl.LOCK_EX)
            threading.Timer(0.3, fcntl.flock, (held, fcntl.LOCK_UN)).start()
            with pytest.warns(StoreBusyWarning, match="waiting"), cert._first_use_lock():
                pass
        os.unlink(tmp_path / "real.sqlite.lock")
        os.mkfifo(tmp_path / "real.sqlite.lock")
        with cert._first_use_lock():  # a FIFO: no lock, no hang
            pass
        os.unlink(tmp_path / "real.sqlite.lock")
        (tmp_path / "real.sqlite.lock").symlink_to(tmp_path / "elsewhere")
        with cert._first_use_lock():  # a link: not followed, nothing made at its target
            pass
        assert not (tmp_path / "elsewhere").exists()


def test_a_busy_lock_whose_warning_is_an_error_closes_its_descriptor(tmp_path):
    """Red team 20, F2: with warnings made errors (-W error), the warning left the lock's descriptor open."""
    import fcntl
    import os
    import warnings

    from das.collab.certification import StoreBusyWarning, _exclusive

    path = tmp_path / "s.sqlite.lock"
    held = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    before = len(os.listdir("/proc/self/fd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreBusyWarning)
        with pytest.raises(StoreBusyWarning), _exclusive(path):
            pass
    assert len(os.listdir("/proc/self/fd")) == before
    os.close(held)


def test_a_lock_file_replaced_while_waited_on_is_locked_anew(tmp_path):
    """Red team 19, F3: with the lock file removed and made again while one process held it, a second
    process locked the old file and went in beside a third holding the new one."""
    import fcntl
    import os
    import threading

    from das.collab.certification import _exclusive

    path = tmp_path / "s.sqlite.lock"
    old = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(old, fcntl.LOCK_EX)
    entered = threading.Event()

    def waiter():
        with pytest.warns(UserWarning), _exclusive(path):
            entered.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)
    os.unlink(path)
    new = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(new, fcntl.LOCK_EX)
    os.close(old)  # releases the old file's lock
    assert not entered.wait(0.5)  # the new file is still held
    os.close(new)
    assert entered.wait(10)
    thread.join()


def test_first_use_verifies_a_restored_candidate_and_ignores_a_bundled_source_stored_for_another_detector(
        store, bundle):
    """Red team 14, F2/F3: a candidate restored after tampering kept its old passing verdict unverified,
    and ensure() made it the default (NotCertified on every use); the bundled source stored as a user's
    KNN program was certified and handed to IForest (InvalidInput on every use)."""
    from das.program_store import read_bundle

    cert = Certification(store, suite_version="s1", verifier=hardness_by_tag())
    hard = next(e["program"] for e in read_bundle(bundle) if e["program"]["source"].endswith("# hard\n"))
    store.add(hard["source"], "KNN")  # the same source, stored for another detector first
    found = cert.ensure("IForest", bundle=bundle)
    assert found.detector == "IForest" and store.default("IForest") == found.sha256
    assert store.get(hard["sha256"]).detector == "KNN"


def test_ensure_refuses_when_nothing_passes_or_nothing_is_bundled(store, bundle):
    cert = Certification(store, suite_version="s1", verifier=hardness_by_tag(passed=False))
    with pytest.raises(NotCertified, match="no bundled program for IForest passed verification"):
        cert.ensure("IForest", bundle=bundle)
    with pytest.raises(NotCertified, match="Toy has no bundled programs"):
        cert.ensure("Toy", bundle=bundle)


def test_the_shipped_bundle_is_the_corpus_run_through_the_loop():
    """collab/bundled_programs.json holds exactly the programs the engine extracts from the corpus."""
    from das.collab.certification import BUNDLED_PROGRAMS
    from das.detectors import DETECTOR_NAMES
    from das.engine.clients import make_client
    from das.engine.extract import extract_program
    from das.engine.prompts import build_prompt
    from das.engine.replay import load_index
    from das.program_store import read_bundle, source_sha256

    client, expected = make_client("replay"), set()
    for name in DETECTOR_NAMES:
        n = sum(e["detector"] == name and e["variant"] == "default" for e in load_index()["entries"])
        for sample in range(n):
            text = client.complete(build_prompt(name).text, sample=sample).text
            expected.add((name, source_sha256(extract_program(text).source)))
    bundled = {(e["program"]["detector"], e["program"]["sha256"]) for e in read_bundle(BUNDLED_PROGRAMS)}
    assert bundled == expected, "regenerate with `das prompts corpus --bundle collab/bundled_programs.json`"


# -- pure parts of the service: the usefulness summary and the ranking ------------------------


def _kinds(value):
    return {"local": value, "global": value}


def _ran(program, base=0.2, random=0.3):
    return {"base": _kinds(base), "random": _kinds(random), "program": _kinds(program), "borderline": 0.4}


def test_a_program_failing_on_one_suite_dataset_is_useful_nowhere():
    from das.collab.certification import Usefulness

    spread = [0.85, 0.9, 0.95]
    ran = {s: {"a": _ran(p), "b": _ran(p + 0.01)} for s, p in enumerate(spread)}
    result = Usefulness(ran, 0.0)
    assert result.useful and result.means["program"] == pytest.approx(0.905)
    ran[1]["c"] = {"error": "synthesis failed"}
    result = Usefulness(ran, 0.0)
    assert result.means["program"] == 0.0 and result.means["base"] == pytest.approx(0.2)
    assert result.borderline == pytest.approx(0.4) and not result.useful


@pytest.mark.parametrize("means, useful", [
    ({"base": 0.2, "random": 0.5, "program": 0.4}, False),  # beats the detector, not random outliers
    ({"base": 0.5, "random": 0.2, "program": 0.4}, False),  # beats random outliers, not the detector
    ({"base": 0.4, "random": 0.4, "program": 0.4}, False),  # a tie is no gain
    ({"base": 0.2, "random": 0.3, "program": 0.4}, True),
])
def test_useful_needs_to_beat_both_the_detector_and_random_outliers(means, useful):
    from das.collab.certification import Usefulness

    units = {s: {d: _ran(means["program"] + 0.001 * (d - 1.5), means["base"], means["random"]) for d in range(4)}
             for s in range(3)}
    assert Usefulness(units, 0.0).useful is useful


def _verification(bound=None, borderline=None):
    usefulness = None if bound is None else {"margin": bound + 0.01, "lower_bound": bound}
    report = {"borderline": borderline, **({"usefulness": usefulness} if usefulness else {})}
    return SimpleNamespace(report=report)


def test_rank_key_puts_unknown_bounds_last_then_orders_by_borderline():
    from das.collab.certification import rank_key

    ranked = sorted([("a" * 64, _verification()), ("b" * 64, _verification(-0.05, 0.9)),
                     ("c" * 64, _verification(0.10, 0.1)), ("d" * 64, _verification(0.10, 0.6)),
                     ("e" * 64, None)],
                    key=lambda e: rank_key(e[1], e[0]), reverse=True)
    assert [sha[0] for sha, _ in ranked] == ["d", "c", "b", "e", "a"]


def test_the_service_ranks_and_the_store_only_lists(store):
    """Programs come out of the service by the lower bound of their useful margin, whatever order the store
    lists them in (a larger mean with a wider interval does not win)."""
    shas = [store.add(SRC + f"#{i}", "IForest") for i in range(3)]
    for sha, (margin, bound) in zip(shas, ((0.30, 0.001), (0.05, 0.04), (0.04, 0.02))):
        store.record_verification(sha, {"usefulness": {"margin": margin, "lower_bound": bound}},
                                  passed=True, suite_version="s1")
    assert service(store).ranked("IForest") == [shas[1], shas[2], shas[0]]
    assert service(store).certified("IForest").sha256 == shas[1]


# -- useful / borderline pooled over a program's verifications (one suite version) ------------
def _units(seed, margins, borderline=0.4):
    """A ServiceReport's usefulness for ``seed``: one unit per margin (program AUC-PR minus base's)."""
    from das.collab.certification import Usefulness

    per_dataset = {f"d{i}": {"base": {"local": 0.5}, "random": {"local": 0.4},
                             "program": {"local": 0.5 + m}, "borderline": borderline}
                   for i, m in enumerate(margins)}
    return Usefulness({seed: per_dataset}, 0.0)


def pooling_verifier(draws, suite="s1"):
    """A verifier whose sandbox suite passes and whose ``useful`` units at ``seed`` are ``draws[seed]``."""
    from das.collab.certification import ServiceReport

    def verify(source, detector, seed=0):
        useful = _units(seed, draws[seed])
        sandbox = SimpleNamespace(passed=True, to_dict=lambda: {"seed": seed, "properties": []})
        return ServiceReport(sandbox, useful, bool(useful.useful and useful.is_borderline), suite, 0.01)

    return verify


LUCKY = [0.05, 0.04, 0.06, 0.05, 0.045, 0.055]       # passes on its own
UNLUCKY = [-0.01, 0.0, -0.02, 0.01, -0.015, 0.005]   # fails on its own
POOR = [-0.06, -0.05, -0.07, -0.04, -0.055, -0.065]  # clearly worse than base


@pytest.fixture
def drawn(monkeypatch):
    """Make the OS's seed draws ``seeds``, in order: ``drawn(1, 2, 3)``."""
    from das.sandbox import datasets

    def draws(*seeds):
        queue = list(seeds)
        monkeypatch.setattr(datasets, "draw_seed", lambda: queue.pop(0))

    return draws


def test_one_unlucky_draw_does_not_revoke_a_certified_program(store, drawn):
    sha = store.add(SRC, "IForest")
    cert = Certification(store, suite_version="s1", verifier=pooling_verifier({1: LUCKY, 2: UNLUCKY}))
    drawn(1, 2)
    assert cert.verify(sha).passed
    assert not pooling_verifier({2: UNLUCKY})(SRC, "IForest", seed=2).passed  # alone it fails
    ver = cert.verify(sha)
    assert ver.passed and store.get(sha).status == "certified"
    useful = ver.report["usefulness"]
    assert sorted(useful["seeds"]) == [1, 2] and useful["drawn"] == [2] and list(useful["per_seed"]) == ["2"]
    assert useful["looks"] == 2 and useful["keeping"] and useful["confidence"] == pytest.approx(0.90)


def test_a_certificate_is_kept_at_the_first_looks_confidence_and_lost_to_more_evidence(store, drawn):
    """Walkthrough 3, H2: the README's `das verify` revoked a certified program whose pooled units
    passed at 90 % but not at the second look's 97.5 %, the level meant for gaining a certificate."""
    from das.collab.certification import lower_bound

    first, second = [0.03, 0.012, 0.035, 0.015, 0.03, 0.018], [-0.025, 0.02, -0.03, 0.025, -0.025, 0.022]
    assert lower_bound(first + second, 0.90) > 0 > lower_bound(first + second, 0.975)
    sha = store.add(SRC, "IForest")
    drawn(1, 2, 3)
    cert = Certification(store, suite_version="s1", verifier=pooling_verifier({1: first, 2: second, 3: POOR}))
    assert cert.verify(sha).passed
    ver = cert.verify(sha)
    assert ver.passed and store.get(sha).status == "certified" and ver.report["usefulness"]["keeping"]
    assert not cert.verify(sha).passed and store.get(sha).status == "revoked"  # evidence of no gain


def test_a_certificate_a_replay_gave_is_not_kept_at_90_percent(store, drawn):
    """Red team 14, F1: a replay at a chosen seed certified a rejected program, and the keep rule then
    judged the next drawn look at 90 % (it passed there, and failed at the look's own 97.5 %)."""
    from das.collab.certification import lower_bound

    first, second = [0.01, -0.015, 0.015, -0.017, 0.012, -0.013], [0.03, 0.005, 0.035, 0.01, 0.03, 0.013]
    assert lower_bound(first, 0.90) < 0 < lower_bound(first + second, 0.90) and lower_bound(first + second, 0.975) < 0
    sha = store.add(SRC, "IForest")
    drawn(1, 2)
    cert = Certification(store, suite_version="s1", verifier=pooling_verifier({1: first, 7: LUCKY, 2: second}))
    assert not cert.verify(sha).passed
    assert cert.verify(sha, seed=7).passed and store.get(sha).status == "certified"  # an operator's replay
    ver = cert.verify(sha)
    assert not ver.passed and not ver.report["usefulness"]["keeping"] and store.get(sha).status == "revoked"


def test_verifying_again_is_not_a_reroll_of_a_rejected_program(store, drawn):
    sha = store.add(SRC, "IForest")
    cert = Certification(store, suite_version="s1", verifier=pooling_verifier({1: POOR, 2: LUCKY, 3: LUCKY}))
    drawn(1, 2)
    assert not cert.verify(sha).passed
    assert not cert.verify(sha).passed  # a lucky draw alone would certify it
    assert store.get(sha).status == "rejected"


def test_a_chosen_seed_is_a_replay_judged_alone_and_never_pooled(store, drawn):
    # The red team's F01: an author who picks the seed knows the suite's arrays; a program
    # tuned to them must not be certified for good by it, nor kept certified by its units.
    sha = store.add(SRC, "IForest")
    cert = Certification(store, suite_version="s1", verifier=pooling_verifier({7: LUCKY, 1: POOR, 2: POOR}))
    ver = cert.verify(sha, seed=7)
    assert ver.passed and ver.report["usefulness"]["chosen_seed"] is True  # a replay's own verdict
    drawn(1, 2)
    first = cert.verify(sha)
    assert not first.passed and store.get(sha).status == "revoked"
    assert first.report["usefulness"]["seeds"] == [1] and first.report["usefulness"]["looks"] == 1


def test_a_failing_replay_never_revokes_a_program_a_drawn_verification_certified(store, drawn):
    # Red team round 12, F02: a replay judged alone had revoked, for good, a program whose
    # pooled drawn verdict passed; it now rejects it until the next drawn verification.
    sha = store.add(SRC, "IForest")
    cert = Certification(store, suite_version="s1", verifier=pooling_verifier({1: LUCKY, 2: UNLUCKY, 3: LUCKY}))
    drawn(1, 3)
    assert cert.verify(sha).passed
    assert not cert.verify(sha, seed=2).passed and store.get(sha).status == "rejected"
    assert cert.verify(sha).passed and store.get(sha).status == "certified"


def test_a_failing_replay_cannot_shield_a_program_from_the_next_drawn_failure(store, drawn):
    # Red team round 13: replay fails (rejected), a drawn failure then only kept it rejected, and a
    # passing replay certified it again; a program that ever passed is revoked by a drawn failure.
    sha = store.add(SRC, "IForest")
    cert = Certification(store, suite_version="s1", verifier=pooling_verifier({1: LUCKY, 7: POOR, 3: POOR}))
    assert cert.verify(sha, seed=1).passed
    assert not cert.verify(sha, seed=7).passed and store.get(sha).status == "rejected"
    drawn(3)
    assert not cert.verify(sha).passed and store.get(sha).status == "revoked"
    cert.verify(sha, seed=1)  # a passing replay does not bring it back
    assert store.get(sha).status == "revoked"


def test_every_drawn_verification_is_pooled_at_a_tighter_confidence(store, drawn):
    from das.collab.certification import look_confidence

    sha = store.add(SRC, "IForest")
    draws = {s: LUCKY for s in range(1, 13)}
    cert = Certification(store, suite_version="s1", verifier=pooling_verifier(draws, suite="s1"))
    drawn(0, *range(1, 13))
    Certification(store, suite_version="s0", verifier=pooling_verifier({0: POOR}, suite="s0")).verify(sha)
    for k in range(1, 13):
        useful = cert.verify(sha).report["usefulness"]
    assert sorted(useful["seeds"]) == list(range(1, 13)) and useful["looks"] == 12  # the older suite's left out
    assert [look_confidence(k) for k in (1, 2, 10)] == pytest.approx([0.9, 0.975, 0.999])


def test_a_second_look_must_clear_the_tighter_bound(store, drawn):
    from das.collab.certification import lower_bound

    first, second = [0.03, -0.01, 0.035, -0.015, 0.03, -0.01], [0.032, -0.012, 0.033, -0.013, 0.031, -0.011]
    assert lower_bound(first + second, 0.90) > 0 > lower_bound(first + second, 0.975)
    sha = store.add(SRC, "IForest")
    drawn(1, 2)
    cert = Certification(store, suite_version="s1", verifier=pooling_verifier({1: first, 2: second}))
    cert.verify(sha)
    ver = cert.verify(sha)
    assert not ver.passed and ver.report["usefulness"]["looks"] == 2  # at 90 % it would pass


def test_borderline_units_count_within_their_range():
    from das.collab.certification import BORDERLINE_RANGE

    far = _units(1, LUCKY, borderline=1e38)
    assert far.borderline == BORDERLINE_RANGE[1] and far.borderlines == [BORDERLINE_RANGE[1]] * len(LUCKY)
    mixed = _units(1, LUCKY, borderline=-5.0)
    mixed.per_seed[1]["d0"]["borderline"] = 1e38  # one absurd unit does not carry the others
    assert not mixed.is_borderline


@pytest.mark.parametrize("stored", [
    {"usefulness": {"per_seed": {"x": {}}, "chosen_seed": False, "drawn": [1]}},
    {"usefulness": {"per_seed": {"5": {"d0": {"base": {"local": 0.4}, "random": {"local": 0.1},
                                              "program": {"local": 0.0}, "borderline": 0.0}}},
                    "chosen_seed": False}},  # no "drawn"
    {"usefulness": {"per_seed": {"5": {"d0": {"base": {"local": 0.4}, "random": {"local": 0.1},
                                              "program": {"local": 0.0}, "borderline": 0.0}}},
                    "drawn": [5]}},  # no "chosen_seed": an older report
    {"usefulness": {"per_seed": {"5": {"d0": {"base": {"local": "high"}, "random": {}, "program": {},
                                              "borderline": 1.0}}}, "chosen_seed": False, "drawn": [5]}},
    {"usefulness": {"per_seed": {"5": {"d0": {"base": {"local": 1e999}, "random": {"local": 0.1},
                                              "program": {"local": 1.0}, "borderline": 1.0}}}, "chosen_seed": False, "drawn": [5]}},
    {"usefulness": {"per_seed": [1, 2], "chosen_seed": False, "drawn": [1]}},
    {"usefulness": {"per_seed": {"5": {"d0": {"error": "no rows"}}}, "chosen_seed": False, "drawn": ["5"]}},
])
def test_malformed_stored_units_are_not_pooled(store, stored, drawn):
    sha = store.add(SRC, "IForest")
    store.record_verification(sha, stored, passed=False, suite_version="s1")
    drawn(2)
    ver = Certification(store, suite_version="s1", verifier=pooling_verifier({2: LUCKY})).verify(sha)
    assert ver.passed and ver.report["usefulness"]["seeds"] == [2] and ver.report["usefulness"]["looks"] == 1


def test_a_report_that_reading_would_refuse_is_not_stored(store):
    sha = store.add(SRC, "IForest")
    with pytest.raises(InvalidInput, match="usefulness"):
        store.record_verification(sha, {"usefulness": "pooled"}, passed=True, suite_version="s1")
    assert store.verifications(sha) == [] and store.get(sha).status == "candidate"
