"""Concurrency and faults: parallel writers lose nothing; kill -9 mid-write is harmless."""
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from das.program_store import ProgramStore, source_sha256

REPO = Path(__file__).resolve().parents[1]
N_PROC, N_EACH = 8, 50


def _writer(path, worker, barrier, errors):
    try:
        barrier.wait()
        with ProgramStore(path) as store:
            for i in range(N_EACH):
                sha = store.add(f"def generate_{worker}_{i}(X, n):\n    return X[:n]\n", "IForest",
                                policy=f"w{worker}")
                assert store.get(sha).policy == f"w{worker}"
                store.record_verification(sha, {"hardness": i / N_EACH}, passed=True,
                                          suite_version="s1", duration_s=0.0)
                store.list(detector="IForest", status="certified")  # readers interleave
    except BaseException as exc:  # report, don't hang the parent
        errors.put(f"{worker}: {exc!r}")


def test_eight_writer_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "s.sqlite")
    ctx = mp.get_context("fork")
    barrier, errors = ctx.Barrier(N_PROC), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, w, barrier, errors)) for w in range(N_PROC)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    elapsed = time.perf_counter() - start
    errs = [errors.get() for _ in range(errors.qsize())]
    assert errs == [] and all(p.exitcode == 0 for p in procs)
    with ProgramStore(path) as store:
        recs = store.list()
        assert len(recs) == N_PROC * N_EACH
        assert all(r.status == "certified" for r in recs)
        assert store.db["verifications"].count == N_PROC * N_EACH
    assert elapsed < 60


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from das.program_store import ProgramStore
    store = ProgramStore(sys.argv[1])
    for i in range(20):
        store.add(f"def committed_{i}(): pass", "LOF")
    with store.transaction():
        for i in range(200):
            store.add(f"def pending_{i}(): pass", "LOF")
            store.record_run(store.add(f"def pending_{i}(): pass", "LOF"),
                             detector="LOF", dataset_fingerprint="fp")
        print("in-transaction", flush=True)
        time.sleep(60)
""")


def test_kill_9_mid_write_leaves_store_consistent(tmp_path):
    path = str(tmp_path / "s.sqlite")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, path], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert proc.stdout.readline().strip() == "in-transaction"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with ProgramStore(path) as store:
        recs = store.list()
        assert sorted(r.source for r in recs) == sorted(f"def committed_{i}(): pass" for i in range(20))
        assert all(r.sha256 == source_sha256(r.source) for r in recs)
        assert store.db["runs"].count == 0  # the killed transaction left nothing half-written
        store.add("def after(): pass", "LOF")  # and the store is writable again
        assert len(store.list()) == 21
