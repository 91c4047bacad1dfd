"""run_program (sandbox layers 2-5): honest constructs, typed results, proxy, limits."""
import contextlib
import os
import signal
import textwrap
import time

import numpy as np
import pytest

from das.sandbox import Limits, RunResult, run_program
from das.sandbox.runner import STATUSES

D = 4


def program(body, header="import numpy as np\n", params="n_samples, model, X_train"):
    return header + f"\ndef generate_hard_anomalies({params}):\n" + textwrap.indent(
        textwrap.dedent(body), "    ")


@pytest.fixture
def X(rng):
    return rng.normal(size=(60, D))


def row_sum(X):
    return X.sum(axis=1)


def run(body, X, n=10, **kw):
    return run_program(program(body), X, n, kw.pop("scorer", row_sum), **kw)


def test_honest_constructs_all_work(X):
    body = '''
    import math
    from scipy.spatial import distance
    from sklearn.neighbors import NearestNeighbors
    idx = np.random.randint(0, X_train.shape[0], size=n_samples)
    out = X_train[idx].copy()
    out[:, 0] += 0.5                       # augmented subscript assignment
    out[1] *= 2.0
    total = 0
    total += 1                             # augmented name assignment
    a, (b, c) = 1, (2, 3)                  # nested unpacking
    first, *rest = [1, 2, 3]
    for i, (p, q) in enumerate(zip(range(3), range(3))):
        total += p * q
    squares = [k * k for k in range(5) if k % 2]
    table = {k: v for k, v in zip("ab", (1, 2))}
    uniq = {int(v) for v in squares}
    gen_total = sum(v for v in squares)
    key_sorted = sorted(range(4), key=lambda k: -k)
    def scale(z, factor=1.0):
        def inner(w):
            return w * factor
        return inner(z)
    with np.errstate(divide="ignore"):
        ratio = np.float64(1.0) / np.float64(0.0)
    try:
        raise ValueError("handled")
    except ValueError as exc:
        msg = str(exc)
    n = 0
    while True:
        n += 1
        if n > 3:
            break
    dist = distance.cdist(out[:2], out[:3]).shape
    nn = NearestNeighbors(n_neighbors=2).fit(X_train)
    dists, ind = nn.kneighbors(out[:2])
    s = model.predict_score(out)
    rng = np.random.default_rng(0)
    out = out + 0.0 * rng.normal(size=out.shape) + 0.0 * math.sqrt(4)
    print("total", total, squares, table, sorted(uniq), gen_total, key_sorted, msg, dist, ratio)
    assert s.shape == (n_samples,)
    return scale(out)
    '''
    res = run(body, X)
    assert res.status == "ok", res.message
    assert res.output.shape == (10, D) and res.output.dtype == np.float64
    assert res.calls == 1 and res.rows_scored == 10
    assert res.stdout == ("total 6 [1, 9] {'a': 1, 'b': 2} [1, 9] 10 [3, 2, 1, 0] handled "
                          "(2, 3) inf\n")
    assert res.ok and not res.input_mutated


def test_result_type_and_statuses(X):
    res = run("return X_train[:n_samples]", X)
    assert isinstance(res, RunResult)
    assert res.status in STATUSES
    assert res.duration_s > 0
    np.testing.assert_array_equal(res.output, X[:10])
    assert res.to_dict()["output_shape"] == [10, D]


def test_same_seed_same_output_different_seed_differs(X):
    body = "return X_train[np.random.randint(0, len(X_train), n_samples)] + np.random.normal(size=(n_samples, X_train.shape[1]))"
    a = run(body, X, seed=3)
    b = run(body, X, seed=3)
    c = run(body, X, seed=4)
    np.testing.assert_array_equal(a.output, b.output)
    assert not np.array_equal(a.output, c.output)


def test_random_module_seeded(X):
    body = "import random\nreturn X_train[:n_samples] + random.random()"
    assert np.array_equal(run(body, X, seed=1).output, run(body, X, seed=1).output)


def test_degree_passed_as_fourth_argument(X):
    src = program('return X_train[:n_samples] + {"low": 0.0, "high": 1.0}[degree]',
                  params='n_samples, model, X_train, degree="low"')
    low = run_program(src, X, 5, row_sum)
    high = run_program(src, X, 5, row_sum, degree="high")
    np.testing.assert_allclose(high.output - low.output, np.ones((5, D)))


def test_input_mutation_reported_and_parent_untouched(X):
    before = X.copy()
    res = run("X_train[0, 0] = 1e6\nX_train *= 2\nreturn X_train[:n_samples]", X)
    assert res.status == "ok" and res.input_mutated
    np.testing.assert_array_equal(X, before)
    assert not run("return X_train[:n_samples] * 2", X).input_mutated


@pytest.mark.parametrize("body, mutated", [
    ("X_train[-1, -1] = -X_train[-1, -1] - 1.0", True),  # one value, on the last page only
    ("X_train[-1, -1] = np.nan", True),
    ("X_train[600, 2] = X_train[600, 2]", False),  # written, but the same bits
    ("X_train.sum()", False),  # every page read, none written
])
def test_input_mutation_on_any_page_is_found_and_reads_are_not_mutation(rng, body, mutated):
    X = rng.normal(size=(3000, 8))  # 48 pages
    res = run(body + "\nreturn X_train[:n_samples] + 1.0", X)
    assert res.status == "ok" and res.input_mutated is mutated


def test_unwritten_rows_are_never_compared(rng):
    """The kernel's page flags decide: a private mapping nobody wrote is reported unchanged without a
    byte compared (shown with a reference that differs), and a written page is compared."""
    from das.sandbox import protocol
    from das.sandbox.worker import input_mutated, written_pages

    fd = protocol.share_array(rng.normal(size=(2000, 10)))
    try:
        X, original = protocol.map_array(fd, (2000, 10))
    finally:
        os.close(fd)
    X.sum()
    assert not written_pages(X).any() and not input_mutated(X, original + 1.0)
    X[1500, 0] = X[1500, 0]
    assert written_pages(X).sum() == 1 and input_mutated(X, original + 1.0) and not input_mutated(X, original)
    assert written_pages(np.ones(1000)).all()  # anonymous memory: every page counts as written


def test_a_pagemap_that_reports_nothing_is_not_trusted(rng, monkeypatch):
    """Red team 14: where pagemap reads as zeros (gVisor-style), every page looked unwritten and a
    mutation would go unseen; a page written here must read as written, else every byte is compared."""
    from das.sandbox import protocol, worker

    fd = protocol.share_array(rng.normal(size=(2000, 10)))
    try:
        X, original = protocol.map_array(fd, (2000, 10))
    finally:
        os.close(fd)
    X[0, 0] += 1.0
    monkeypatch.setattr(worker.os, "pread", lambda fd, n, offset: bytes(n))
    assert worker.written_pages(X) is None and worker.input_mutated(X, original)


def test_inplace_operator_keeps_numpy_view_semantics(X):
    res = run("out = np.zeros((n_samples, X_train.shape[1]))\nview = out[0]\nview += 5\nreturn out", X)
    assert res.output[0, 0] == 5.0


def test_inplace_operators_on_lists_sets_and_shifts_change_aliases_as_in_python(X):
    """Red team round 6, F3: ``list *= k``, ``set |= s`` and ``array <<= k`` built new objects,
    so the program computed something other than its text means as Python."""
    body = ("a = [1.0]\nb = a\na *= 3\ns = {1}\nt = s\ns |= {2, 3}\nt -= {1}\n"
            "r = np.ones(2, dtype=np.int64)\nq = r\nr <<= 2\nc = [0]\nc[0] += 1\nc *= 2\n"
            "v = len(b) * 100 + len(s) * 10 + float(q[0]) + len(c)\n"
            "return np.zeros((n_samples, X_train.shape[1])) + v")
    assert run(body, X).output[0, 0] == 300 + 20 + 4 + 2


@pytest.mark.parametrize("body,expected", [
    ("a = [[1.0]]\na += a\nv = len(a)", 2),  # red team round 7, F1: extended from itself forever
    ("a = [0.0] * 70000\na += a\nv = len(a)", 140000),
    ("a = [1.0, 2.0]\na *= np.array([2.0, 3.0])\nv = float(np.sum(a))", 8.0),  # F2: numpy answers first
    ("a = [1.0, 2.0]\na += np.array([10.0, 20.0])\nv = float(np.sum(a)) + len(a)", 35.0),
    ("a = [1.0, 2.0]\na += np.float64(2.0)\nv = float(np.sum(a))", 7.0),
])
def test_inplace_operators_give_what_python_gives(X, body, expected):
    res = run(body + "\nreturn np.zeros((n_samples, X_train.shape[1])) + v", X)
    assert res.status == "ok" and res.output[0, 0] == expected


def test_iterating_a_set_of_nans_is_refused(X):
    """Red team round 7, F3: NaN hashes by address, so a set of NaNs iterates in address order
    and the same program gave different outputs run to run."""
    body = ("s = set()\nfor i in range(50):\n    s |= {float('nan')}\nout = []\nout += s\n"
            "return np.zeros((n_samples, X_train.shape[1])) + len(out)")
    res = run(body, X)
    assert res.status == "violation" and "iterating a set that holds a NaN: its order follows their addresses" in res.message
    res = run("h = hash(float('nan'))\nreturn np.zeros((n_samples, X_train.shape[1]))", X)
    assert res.status == "violation" and "hash() of a NaN" in res.message


def test_yield_from_iterates_as_for_does_and_still_delegates(X):
    """Red team round 8, F1: ``yield from s`` iterated a set in C, so a set of NaNs (or of program
    functions) came out in address order; a program generator is still delegated to (send works)."""
    body = ("s = set()\nfor i in range(50):\n    s |= {float('nan')}\ndef g():\n    yield from s\n"
            "out = list(g())\nreturn np.zeros((n_samples, X_train.shape[1])) + len(out)")
    res = run(body, X)
    assert res.status == "violation" and "iterating a set that holds a NaN" in res.message
    body = ("def inner():\n    x = yield 1.0\n    yield x\ndef outer():\n    yield from inner()\n"
            "g = outer()\na = next(g)\nb = g.send(5.0)\n"
            "return np.zeros((n_samples, X_train.shape[1])) + a + b")
    assert run(body, X).output[0, 0] == 6.0


@pytest.mark.parametrize("text", ["str(ValueError(s))", "repr(KeyError(s))", "f'{ValueError(s)}'",
                                  "str({1: s}.values())", "str({1: s}.items())", "str(slice(s))",
                                  "str(OSError(1, 'x', s))", "str(OSError(1, 'x', 'f', 0, s))"])
def test_text_never_shows_a_set_in_address_order(X, text):
    """Red team round 8, F5: exceptions, dict views and slices were shown without looking inside."""
    body = ("s = set()\nfor i in range(50):\n    s |= {float('nan')}\n"
            f"t = {text}\nreturn np.zeros((n_samples, X_train.shape[1])) + len(t)")
    res = run(body, X)
    assert res.status == "violation" and "iterating a set that holds a NaN" in res.message


def test_an_uncaught_exception_message_shows_no_address_and_no_address_order(X):
    """Red team round 9, F2: the message of an exception that ended the program (stored, shown
    to an LLM) held a set in address order, or an object's address."""
    nans = "s = set()\nfor i in range(50):\n    s |= {float('nan')}\n"
    res = run(nans + "raise ValueError(s)", X)
    assert res.status == "runtime-error" and "not shown: it holds a set ordered by addresses" in res.message
    res = run("class A:\n    pass\nraise ValueError(A())", X)
    assert res.status == "runtime-error" and " at 0x" not in res.message and "A object" in res.message


@pytest.mark.parametrize("body,message", [
    ("return X_train[: n_samples - 1]", f"expected (10, {D}) got (9, {D})"),
    ("return X_train[:n_samples, 0]", f"expected (10, {D}) got (10,)"),
    ("out = X_train[:n_samples].copy()\nout[0, :2] = np.nan\nout[1, 0] = np.inf\nreturn out",
     "3 non-finite values in float32 (NaN, inf or |x| > 3.403e+38)"),
    # finite in float64, inf once the runtime's forest converts it to float32
    ("out = X_train[:n_samples].copy()\nout[0, 0] = 1e300\nout[1, 1] = -1e39\nreturn out",
     "2 non-finite values in float32 (NaN, inf or |x| > 3.403e+38)"),
    ("return 'not an array'", "output is not a float array: ValueError: could not convert string to float: 'not an array'"),
    ("return None", "the program returned None"),
    ("return 3.0", f"expected (10, {D}) got ()"),
])
def test_bad_output_messages(X, body, message):
    res = run(body, X)
    assert (res.status, res.message) == ("bad-output", message)
    assert res.output is None


def test_list_output_coerced(X):
    res = run("return [list(r) for r in X_train[:n_samples]]", X)
    assert res.status == "ok"


def test_complex_output_is_bad(X):
    res = run("return X_train[:n_samples] + 1j", X)
    assert (res.status, res.message) == ("bad-output", "output has complex values")


def test_runtime_error_has_type_message_and_line(X):
    res = run("a = 1\nb = [1, 2][5]\nreturn X_train", X)
    assert res.status == "runtime-error"
    assert res.message == "IndexError: list index out of range (line 5)"


def test_runtime_error_in_helper_reports_innermost_program_line(X):
    src = "import numpy as np\n\ndef helper(x):\n    return x / {}['k']\n" + program(
        "return helper(X_train)", header="")
    res = run_program(src, X, 5, row_sum)
    assert res.message == "KeyError: 'k' (line 4)"


def test_audit_rejected_carries_findings(X):
    res = run("import os\nreturn X_train", X)
    assert res.status == "audit-rejected"
    assert [f.rule for f in res.findings] == ["import-not-allowed"]
    assert res.message == 'Line 4: import-not-allowed: import of "os" is not allowed'


def test_timeout(X):
    t0 = time.perf_counter()
    res = run("while True:\n    pass", X, limits=Limits(timeout_s=0.5))
    assert res.status == "timeout"
    assert res.message == "wall-clock limit of 0.5 s exceeded"
    assert time.perf_counter() - t0 < 3


def test_cpu_limit_is_timeout(X):
    res = run("while True:\n    pass", X, limits=Limits(timeout_s=10, cpu_s=1))
    assert res.status == "timeout" and "CPU limit" in res.message


def test_memory_limit(X):
    res = run("a = np.ones((40_000_000,))\nreturn X_train", X, limits=Limits(memory_mb=200))
    assert res.status == "memory" and "MemoryError" in res.message


def test_call_budget(X):
    body = "for i in range(10):\n    model.predict_score(X_train[:2])\nreturn X_train[:n_samples]"
    res = run(body, X, limits=Limits(max_calls=3))
    assert (res.status, res.calls) == ("budget", 3)
    assert res.message == "model budget exceeded: more than 3 predict_score calls"


def test_row_budget(X):
    res = run("model.predict_score(X_train)\nmodel.predict_score(X_train)\nreturn X_train[:n_samples]",
              X, limits=Limits(max_rows=100))
    assert (res.status, res.rows_scored) == ("budget", 60)
    assert res.message == "model budget exceeded: 120 rows > 100"


def test_proxy_returns_real_scores(X):
    res = run("s = model.predict_score(X_train)\nd = model.decision_function(X_train)\n"
              "return np.tile(s[:n_samples, None], (1, X_train.shape[1])) + 0 * d[:n_samples, None]", X)
    np.testing.assert_allclose(res.output[:, 0], X[:10].sum(1))
    assert res.calls == 2 and res.rows_scored == 120


@pytest.mark.parametrize("call,message", [
    ("model.predict_score(X_train[:, :2])", f"predict_score expects {D} features, got 2"),
    ("model.predict_score(X_train[0])", "predict_score expects a 2-D array (n, d), got shape (4,)"),
    ("model.predict_score(np.full((2, X_train.shape[1]), np.nan))", 
     "predict_score input has 8 non-finite values in float32 (NaN, inf or |x| > 3.403e+38)"),
    ("model.predict_score(np.full((2, X_train.shape[1]), 1e300))",
     "predict_score input has 8 non-finite values in float32 (NaN, inf or |x| > 3.403e+38)"),
])
def test_proxy_input_validated(X, call, message):
    res = run(call + "\nreturn X_train[:n_samples]", X)
    assert res.status == "runtime-error"
    assert res.message == f"ValueError: {message} (line 4)"


def test_scorer_failure_becomes_program_error_not_parent_crash(X):
    def broken(_):
        raise RuntimeError("detector exploded")

    res = run("model.predict_score(X_train)\nreturn X_train[:n_samples]", X, scorer=broken)
    assert res.status == "runtime-error"
    assert res.message == "ValueError: scorer failed: RuntimeError: detector exploded (line 4)"


def test_scorer_wrong_length_refused(X):
    res = run("model.predict_score(X_train)\nreturn X_train[:n_samples]", X, scorer=lambda A: A[:3, 0])
    assert "scorer returned 3 scores for 60 rows" in res.message


def test_scoring_time_counts_against_the_hard_wall_clock_limit(X):
    def slow(A):
        time.sleep(0.4)
        return A.sum(1)

    body = "for i in range(30):\n    model.predict_score(X_train)\nreturn X_train[:n_samples]"
    t0 = time.perf_counter()
    res = run(body, X, scorer=slow, limits=Limits(timeout_s=1.0))
    assert res.status == "timeout" and res.message == "wall-clock limit of 1 s exceeded"
    assert time.perf_counter() - t0 < 2.5  # at most one scoring call past the limit


def test_large_requests_are_scored_in_chunks_under_the_deadline(X):
    from das.sandbox.session import SCORE_CHUNK_ROWS

    sizes = []

    def slow(A):
        sizes.append(len(A))
        time.sleep(0.4)
        return A.sum(1)

    body = "s = model.predict_score(np.ones((n_samples, X_train.shape[1])))\nreturn X_train[:2] + s[:2, None]"
    res = run_program(program(body), X, SCORE_CHUNK_ROWS + 10, slow)
    assert res.status == "bad-output" and sizes == [SCORE_CHUNK_ROWS, 10]  # scored, then a wrong shape
    sizes.clear()
    t0 = time.perf_counter()
    res = run_program(program(body), X, 8 * SCORE_CHUNK_ROWS, slow, limits=Limits(timeout_s=1.0))
    assert res.status == "timeout" and len(sizes) <= 4 and time.perf_counter() - t0 < 3


def test_cpu_seconds_are_reported(X):
    res = run("t = 0\nfor i in range(3_000_000):\n    t += i\nreturn X_train[:n_samples]", X)
    assert res.status == "ok" and 0.05 < res.cpu_s < res.duration_s + 0.1
    assert res.to_dict()["cpu_s"] == res.cpu_s


def test_stdout_captured_and_capped(X):
    res = run("for i in range(1000):\n    print('x' * 100)\nreturn X_train[:n_samples]", X,
              limits=Limits(max_stdout_chars=500))
    assert res.status == "ok"
    assert res.stdout == "x" * 100 + "\n" + ("x" * 100 + "\n") * 3 + "x" * 96 + "\n[output truncated]"


def test_program_text_is_stripped_of_terminal_controls(X):
    res = run('print("ok\\x1b[2K\\r[PASS]\\x07\\u202e")\nraise ValueError("x\\x1b[1A\\x1b[2K\\n  [PASS] novel")', X)
    assert res.status == "runtime-error"
    assert res.message == "ValueError: x   [PASS] novel (line 5)"
    assert res.stdout == "ok[PASS]\n"


def test_caller_environment_values_are_redacted(X, monkeypatch):
    monkeypatch.setenv("DAS_TEST_API_KEY", "sk-fake-0123456789")
    monkeypatch.setenv("DAS_TEST_SHORT", "abc12")
    body = 'print("key sk-fake-0123456789 abc12")\nraise ValueError("leak sk-fake-\\x1b[0m0123456789")'
    res = run(body, X)
    assert res.stdout == "key [redacted] abc12\n"
    assert res.message == "ValueError: leak [redacted] (line 5)"


def test_empty_score_request_is_refused_and_the_protocol_stays_in_step(X):
    body = """
    msgs = []
    for empty in (np.empty((0, X_train.shape[1])), np.empty((3, 0))):
        try:
            model.predict_score(empty)
        except ValueError as exc:
            msgs.append(str(exc))
    s = model.predict_score(X_train[:n_samples])
    print(msgs)
    return X_train[:n_samples] + s[:, None]
    """
    res = run(body, X)
    assert res.status == "ok", res.message
    assert res.stdout == "['predict_score needs at least one row', 'predict_score expects 4 features, got 0']\n"
    np.testing.assert_allclose(res.output, X[:10] + X[:10].sum(1)[:, None])


@pytest.mark.parametrize("X_bad,n", [(np.zeros(5), 3), (np.zeros((0, 3)), 3), (np.zeros((4, 2)), 0),
                                     (np.zeros((4, 2)), 2.5), (np.zeros((4, 2)), True)])
def test_bad_arguments_raise_value_error(X_bad, n):
    with pytest.raises(ValueError):
        run_program(program("return X_train"), X_bad, n, row_sum)


def test_no_worker_left_behind():
    # In a fresh interpreter, so that children of other tests (pools, servers) don't count.
    import subprocess
    import sys

    script = """
import os, time
import numpy as np
from das.sandbox import Limits, run_program, zygote
X = np.arange(40.0).reshape(10, 4)
src = "def generate_hard_anomalies(n_samples, model, X_train):\\n    {}\\n"
run_program(src.format("return X_train[:n_samples] + 0.5"), X, 3, lambda A: A.sum(axis=1))
run_program(src.format("while True:\\n        pass"), X, 3, lambda A: A.sum(axis=1),
            limits=Limits(timeout_s=0.3))
server = zygote.get_zygote()
deadline = time.monotonic() + 5
while server.workers() and time.monotonic() < deadline:
    time.sleep(0.01)
print("workers", server.workers())
zygote.shutdown()
try:
    os.waitpid(-1, os.WNOHANG)
except ChildProcessError:
    print("no children")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.split("\n")[:2] == ["workers []", "no children"], out.stderr


def test_zygote_exits_with_its_owner():
    import subprocess
    import sys

    script = """
import os, signal
import numpy as np
from das.sandbox import run_program, zygote
run_program("def generate_hard_anomalies(n_samples, model, X_train):\\n    return X_train[:n_samples]\\n",
            np.ones((4, 2)), 2, lambda A: A.sum(axis=1))
print(zygote.get_zygote().process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.split()[0])
    import time

    deadline = time.monotonic() + 5
    while _process_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _process_exists(pid)


def _process_exists(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_zygote_restarts_after_dying():
    from das.sandbox import zygote

    X = np.arange(40.0).reshape(10, 4)
    src = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples]\n"
    assert run_program(src, X, 3, row_sum).status == "ok"
    first = zygote.get_zygote().process
    first.kill()
    first.wait()
    assert run_program(src, X, 3, row_sum).status == "ok"
    assert zygote.get_zygote().process.pid != first.pid


# -- a hostile worker speaking garbage must not crash the parent ------------------
def _garbage_session(frames, d=D, n_samples=2, limits=Limits(timeout_s=2)):
    """Serve a fake worker that writes ``frames`` (raw bytes) and exits."""
    from das.sandbox.protocol import Task as _Task
    from das.sandbox.session import Session as _Session

    c_read, p_write = os.pipe()
    p_read, c_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the fake worker
        try:
            os.close(p_read)
            for frame in frames:
                if isinstance(frame, int):  # a signal to die of
                    import faulthandler

                    faulthandler.disable()  # pytest's crash dump would only add noise here
                    os.kill(os.getpid(), frame)
                os.write(c_write, frame)
        finally:
            os._exit(0)
    os.close(c_write)
    task = _Task(None, frozenset(), np.zeros((5, d)), n_samples, None, 0, limits, "/nonexistent")
    session = _Session(task, row_sum, p_read, p_write, pid, _wait_own_child)
    try:
        return session.serve()
    finally:
        os.close(p_read)
        os.close(p_write)
        os.close(c_read)
        if not session.reaped:
            os.waitpid(pid, 0)


def _wait_own_child(pid, timeout):
    """``(wait status, CPU seconds)`` of this process's child ``pid`` once it
    exits, None if it still runs after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)


def _frame(kind, payload, length=None):
    from das.sandbox import protocol

    return protocol.HEADER.pack(protocol.MAGIC, kind, len(payload) if length is None else length) + payload


def test_garbage_bad_magic():
    res = _garbage_session([b"EVIL" + b"\0" * 9])
    assert (res.status, res.message) == ("runtime-error", "worker protocol violation: worker sent a frame with a bad magic number")


def test_garbage_unknown_kind():
    res = _garbage_session([_frame(99, b"")])
    assert res.message == "worker protocol violation: unexpected message kind 99"


def test_garbage_truncated_frame_then_exit():
    res = _garbage_session([_frame(4, b"{", length=100)])
    assert res.status == "runtime-error"
    assert "worker exited with code 0 without a result" == res.message


def test_garbage_malformed_json():
    res = _garbage_session([_frame(4, b"\xff\xfe not json")])
    assert res.status == "runtime-error" and "malformed JSON message" in res.message
    res = _garbage_session([_frame(4, b'["status", "ok"]')])
    assert res.message == "worker protocol violation: malformed info message: not an object"


def test_any_error_while_serving_becomes_a_typed_result(monkeypatch):
    from das.sandbox.session import Session

    def broken(self, length):
        raise KeyError("unexpected")

    monkeypatch.setattr(Session, "_finish", broken)
    res = _garbage_session([_frame(4, b'{"status": "ok"}')])
    assert (res.status, res.message) == ("runtime-error", "worker message refused: KeyError")


def test_garbage_deeply_nested_json_is_refused_without_recursion():
    nested = b'{"status": "ok", "message": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    res = _garbage_session([_frame(4, nested)])
    assert (res.status, res.message) == ("runtime-error", "worker protocol violation: JSON message nests deeper than 4")


def test_garbage_quote_backslash_runs_are_parsed_in_linear_time():
    # a pattern matching whole JSON strings backtracked quadratically here: 64 KiB held the
    # parent 33 s; 1 MiB (the frame bound) would take hours
    from das.sandbox import protocol

    payload = b'{"status": "ok", "message": "' + b'"\\' * ((protocol.MAX_JSON_BYTES - 40) // 2) + b'"}'
    start = time.process_time()
    res = _garbage_session([_frame(4, payload)], limits=Limits(timeout_s=30))
    assert time.process_time() - start < 5.0
    assert res.status == "runtime-error" and "malformed JSON message" in res.message


def test_brackets_and_escaped_quotes_inside_strings_do_not_count_as_nesting():
    from das.sandbox import protocol

    text = protocol.encode_json({"status": "ok", "stdout": '[[[[[[{{{{ "]]] \\" [[[['})
    assert protocol.decode_json(text)["stdout"] == '[[[[[[{{{{ "]]] \\" [[[['
    with pytest.raises(protocol.ProtocolError, match="nests deeper than 4"):
        protocol.decode_json(b'{"a": "[", "b": [[[["]"]]]]}')
def test_garbage_unterminated_string_is_scanned_in_linear_time():
    """The nesting check retried an unterminated string from every quote: 64 KB held a 5 s run for 33 s."""
    from das.sandbox import protocol

    assert protocol._nesting_depth('"' + "[" * 10) == 0  # an unterminated string runs to the end
    frame = b'{"status": "ok", "message": "' + b'\\"' * 400_000  # 800 KB, one unterminated string
    res = _garbage_session([_frame(4, frame)])
    assert res.status == "runtime-error" and "malformed JSON message: Unterminated string" in res.message


def test_garbage_wrong_width_request_is_charged_to_the_byte_budget_before_reading():
    from das.sandbox import protocol

    rows, cols = 2_000_000, 4000  # 60 GiB claimed; max_rows alone would allow it
    res = _garbage_session([_frame(1, protocol.SHAPE2.pack(rows, cols), length=16 + rows * cols * 8)])
    assert (res.status, res.message) == ("budget", "model budget exceeded: score requests over 1024 MiB")


def test_garbage_violation_status_is_accepted():
    info = b'{"status": "violation", "message": "Line 5: guard: access to \\"__class__\\" refused"}'
    res = _garbage_session([_frame(4, info)])
    assert (res.status, res.message) == ("violation", 'Line 5: guard: access to "__class__" refused')


def test_garbage_unknown_status_is_not_trusted():
    res = _garbage_session([_frame(4, b'{"status": "ok-trust-me", "message": ""}')])
    assert res.message == "worker reported unknown status 'ok-trust-me'"


def test_garbage_request_length_lies():
    from das.sandbox import protocol

    res = _garbage_session([_frame(1, protocol.SHAPE2.pack(10, D), length=16 + 8)])
    assert res.message == "worker protocol violation: score request length does not match its shape"


def test_garbage_huge_claimed_request_hits_budget_before_allocation():
    from das.sandbox import protocol

    rows = 10**12
    res = _garbage_session([_frame(1, protocol.SHAPE2.pack(rows, D), length=16 + rows * D * 8)])
    assert res.status == "budget"


def test_garbage_result_shape_checked_before_reading():
    import struct

    info = _frame(4, b'{"status": "ok"}')
    result = _frame(5, struct.pack("<B", 2) + struct.pack("<QQ", 10**9, D), length=1 + 16 + 10**9 * D * 8)
    res = _garbage_session([info, result])
    assert (res.status, res.message) == ("bad-output", f"expected (2, {D}) got (1000000000, {D})")


@pytest.mark.parametrize("sig,status,message", [
    (11, "runtime-error", "worker crashed with SIGSEGV"),
    (9, "memory", "worker was killed (out of memory)"),
    (24, "timeout", "CPU limit of 30 s exceeded"),  # SIGXCPU
    (31, "violation", "the worker attempted a system call outside the sandbox's allow-list and was killed (SIGSYS)"),
])
def test_worker_death_is_classified(sig, status, message):
    res = _garbage_session([sig])
    assert (res.status, res.message) == (status, message)


def test_concurrent_runs_from_threads_share_the_zygote():
    from concurrent.futures import ThreadPoolExecutor

    X = np.arange(60.0).reshape(15, 4)
    src = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples] + model.predict_score(X_train)[:n_samples, None]\n"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda k: run_program(src, X + k, 3, row_sum), range(8)))
    for k, res in enumerate(results):
        assert res.status == "ok", res.message
        np.testing.assert_allclose(res.output, (X + k)[:3] + row_sum(X + k)[:3, None])


def test_a_zygote_that_stops_answering_is_replaced():
    from das.sandbox import zygote

    X = np.arange(40.0).reshape(10, 4)
    src = "def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples]\n"
    assert run_program(src, X, 3, row_sum).status == "ok"
    stuck = zygote.get_zygote()
    os.kill(stuck.pid, signal.SIGSTOP)  # the interpreter (process is bwrap when isolated)
    try:
        with pytest.raises(zygote.SandboxUnavailable):
            stuck._request({"op": "workers"}, timeout=0.2)
        assert not stuck.alive()
    finally:
        stuck.process.kill()
    assert run_program(src, X, 3, row_sum).status == "ok"
    assert zygote.get_zygote() is not stuck


@pytest.mark.parametrize("reply", [b'{"pid": 3, "exits": {"x": [0, 0.1]}}', b'{"pid": 3, "exits": {"7": 5}}',
                                   b'{"pid": 3, "exits": [1]}', b'not json'])
def test_a_malformed_zygote_reply_is_sandbox_unavailable_not_a_crash(reply):
    """The zygote's replies carry exits now: whatever it sends, the caller gets SandboxUnavailable."""
    import socket
    import subprocess

    from das.sandbox import zygote

    server = zygote.Zygote.__new__(zygote.Zygote)
    server.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.lock, server.exits, server.broken, server.owner = __import__("threading").Lock(), {}, False, os.getpid()
    server.process = subprocess.Popen(["sleep", "30"])
    try:
        theirs.send(reply)
        with pytest.raises(zygote.SandboxUnavailable):
            server._request({"op": "workers"}, timeout=5)
        assert server.broken and server.exits == {}
    finally:
        server.process.kill()
        server.process.wait()
        server.sock.close()
        theirs.close()


def test_text_utf8_cannot_encode_never_reaches_the_store(X, tmp_path, monkeypatch):
    """Lone surrogates printed, raised or refused reach the caller as encodable text."""
    from das.program_store.store import ProgramStore
    from das.sandbox.untrusted import clean_text

    monkeypatch.setenv("DAS_TEST_SURROGATE_VALUE", "secret-\udcff-value")
    src = program("print(chr(0xD800), 'a' + chr(0xDFFF))\nraise ValueError('bad ' + chr(0xDBFF) + chr(0xDC00))")
    res = run_program(src, X, 10, row_sum)
    assert res.status == "runtime-error"
    for text in (res.stdout, res.message, clean_text("x\ud800 secret-\udcff-value")):
        text.encode("utf-8")  # raises UnicodeEncodeError if a surrogate is left
    store = ProgramStore(str(tmp_path / "store.db"))
    sha = store.add(src, "PCA")
    store.record_verification(sha, {"stdout": res.stdout, "message": res.message}, False, "3.0.0")
    assert store.verifications(sha)[-1].report["message"].startswith("ValueError: bad")


def test_the_spares_warm_up_is_not_the_runs_cpu():
    """A spare warms up before its run (trusted code); the zygote reports the run's CPU without it."""
    def warm(run_waiting):
        start = time.process_time()
        while time.process_time() - start < 0.3:  # a warm-up far costlier than the run
            pass

    def run(*fds):
        os._exit(0)

    with _zygote_children(run, warm) as (children, start):
        pid = start()
        children._wait(pid, 10.0)
        status, cpu = children.exits[pid]
        assert os.waitstatus_to_exitcode(status) == 0 and cpu < 0.1


@contextlib.contextmanager
def _zygote_children(main, warm):
    """A zygote's worker table (``zygote._Children``) run here, and ``start()`` handing a worker a run."""
    import socket

    from das.sandbox import zygote

    children = zygote._Children(True, main, warm)
    caller, other = socket.socketpair()
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
    try:
        yield children, lambda: children.start(caller, fds)
    finally:
        children.kill_all()
        for fd in fds:
            os.close(fd)
        caller.close()
        other.close()


@pytest.mark.parametrize("values,bad", [
    ([[0.0, 1.0], [-2.0, 3.0]], 0), ([], 0), ([-1e39, 0.0], 1), ([0.0, 1e39], 1), ([np.nan], 1),
    ([-np.inf, 1.0], 1), ([np.inf, np.nan, -np.inf], 3), ([-3.4e38, 3.4e38], 0), ([np.nan, -1e300], 2),
])
def test_value_problem_counts_every_value_a_float32_library_cannot_hold(values, bad):
    from das.sandbox.results import value_problem

    problem = value_problem(np.asarray(values, dtype=np.float64))
    assert (problem is None) if bad == 0 else problem.startswith(f"{bad} non-finite values")


def test_the_zygote_is_waited_for_at_exit_so_its_cpu_counts_with_the_caller(tmp_path):
    """A process that ran a program reaps its zygote at exit (none outlives it), so the
    sandbox's CPU seconds reach whoever waits for the process (``wait4``, ``time``)."""
    import subprocess
    import sys

    script = textwrap.dedent("""
        import atexit, resource
        # registered before das's own handler, so it runs after it (atexit is last-in, first-out)
        atexit.register(lambda: print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime))
        import numpy as np
        from das.sandbox import run_program
        program = "def generate_hard_anomalies(n_samples, model, X_train):\\n    return X_train[:n_samples] + 1.0\\n"
        assert run_program(program, np.zeros((20, 3)), 5, lambda Z: np.zeros(len(Z))).status == "ok"
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) > 0.01  # the zygote's own start costs more than this


def test_a_run_asks_the_zygote_twice_and_its_exit_comes_with_a_later_reply(X, monkeypatch):
    """fork, then kill, answered without waiting for the worker's teardown; the run's exact CPU
    seconds come with the next run's replies, without a round trip of their own."""
    from das.sandbox import zygote

    run("return X_train[:n_samples]", X)  # the zygote started
    ops = []
    real = zygote.Zygote._request
    monkeypatch.setattr(zygote.Zygote, "_request", lambda self, message, *a, **k: ops.append(message["op"])
                        or real(self, message, *a, **k))
    first = run("return X_train[:n_samples] + 1.0", X)
    assert first.status == "ok" and ops == ["fork", "kill"]
    time.sleep(0.2)  # the worker is gone by now; the next request's reply carries its exit
    second = run("return X_train[:n_samples] + 1.0", X)
    assert first.cpu_s is not None and first.cpu_s > 0 and ops == ["fork", "kill"] * 2
    assert second.cpu_s is not None and second.cpu_s > 0  # asked for: one wait at most


def test_a_kill_is_answered_without_waiting_for_the_exit(monkeypatch):
    """The zygote sends SIGKILL and answers; the exit is reaped by a later request (and the
    workers op gives a killed worker a second to go first)."""
    with _zygote_children(lambda *fds: time.sleep(60), lambda run_waiting: None) as (children, start):
        waited = []
        real_wait = children._wait
        monkeypatch.setattr(children, "_wait", lambda pid, timeout: waited.append(pid) or real_wait(pid, timeout))
        pid = start()
        time.sleep(0.2)  # it took the run and sleeps
        children.handle({"op": "kill", "pid": pid})
        assert waited == []
        assert children.handle({"op": "workers"}) == {"pids": []} and waited == [pid]
        status, cpu = children.exits[pid]
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9
        assert children.take_fresh() == {str(pid): [status, cpu]} and children.take_fresh() == {}


def test_a_run_result_pickles_and_copies_with_its_cpu_seconds(X):
    import copy
    import pickle

    res = run("return X_train[:n_samples] + 1.0", X)
    for twin in (pickle.loads(pickle.dumps(res)), copy.deepcopy(res)):
        assert twin.cpu_s == res.cpu_s and twin.cpu_s > 0 and np.array_equal(twin.output, res.output)


def test_a_forked_child_never_talks_to_its_parents_zygote(X):
    """A fork of the caller (e.g. reading a RunResult's cpu_s there) is refused the parent's zygote:
    its requests would take the parent's replies."""
    from das.sandbox import zygote

    res = run("return X_train[:n_samples] + 1.0", X)
    server = zygote.get_zygote()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            server._request({"op": "workers"})
            verdict = "answered"
        except zygote.SandboxUnavailable:
            verdict = "refused"
        os.write(write, f"{verdict} {res.cpu_s!r}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    verdict, cpu = os.read(read, 100).decode().split()
    os.close(read)
    assert verdict == "refused" and (cpu == "None" or float(cpu) > 0)
    assert run("return X_train[:n_samples] + 2.0", X).status == "ok" and res.cpu_s > 0


def test_a_zygote_started_in_a_thread_outlives_the_thread(X):
    """bwrap's parent-death signal follows the thread that forked it: zygotes are started on a
    launcher thread that lives as long as the process, not on the caller's."""
    import threading

    from das.sandbox import zygote

    zygote.shutdown()
    started = {}
    thread = threading.Thread(target=lambda: started.update(res=run("return X_train[:n_samples] + 1.0", X),
                                                            server=zygote.get_zygote()))
    thread.start()
    thread.join()
    time.sleep(0.2)  # a parent-death signal would have landed by now
    assert started["res"].status == "ok" and started["server"].alive()
    assert run("return X_train[:n_samples] + 2.0", X).status == "ok" and zygote.get_zygote() is started["server"]


def test_second_zygotes_are_the_blocks_own_and_shutdown_stops_them(X):
    """Another thread's runs keep the first zygote while one thread is inside second_zygotes;
    the second outlives that thread and shutdown() stops it too."""
    import threading

    from das.sandbox import zygote

    first = zygote.get_zygote()
    inside, release, seen = threading.Event(), threading.Event(), {}

    def verifying():
        with zygote.second_zygotes(first.isolated):
            seen["res"] = run("return X_train[:n_samples] + 1.0", X)
            seen["second"] = zygote.get_zygote()
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=verifying)
    thread.start()
    assert inside.wait(60)
    assert run("return X_train[:n_samples] + 2.0", X).status == "ok" and zygote.get_zygote() is first
    release.set()
    thread.join()
    second = seen["second"]
    assert seen["res"].status == "ok" and second is not first and second.alive()
    assert zygote.get_zygote() is first
    zygote.shutdown()
    assert not second.alive() and not first.alive()


def test_a_live_workers_pid_never_answers_with_an_earlier_workers_exit():
    """Had a pid come round again, the exit kept for its earlier worker is not the live one's."""
    with _zygote_children(lambda *fds: time.sleep(60), lambda run_waiting: None) as (children, start):
        pid = start()
        children.exits[pid] = (0, 99.0)  # as if an earlier worker with this pid had been reaped
        assert children.handle({"op": "wait", "pid": pid, "timeout": 0.0}) == {"status": None, "cpu": None}
        children.handle({"op": "kill", "pid": pid})
        children._wait(pid, 10.0)
        status, cpu = children.handle({"op": "wait", "pid": pid, "timeout": 0.0}).values()
        assert os.WTERMSIG(status) == 9 and cpu < 1.0


def test_a_ctrl_c_between_request_and_reply_abandons_the_zygote(X):
    """A reply left unread would answer the next request (out of step for good): the zygote is
    killed, and the next run starts another."""
    from das.sandbox import zygote

    run("return X_train[:n_samples]", X)
    server = zygote.get_zygote()
    real = server.sock

    class Interrupted:
        def __getattr__(self, name):
            return getattr(real, name)

        def recv(self, size):
            raise KeyboardInterrupt

    server.sock = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        server.workers()
    assert not server.alive() and server.process.poll() is not None
    again = run("return X_train[:n_samples] + 1.0", X)
    assert again.status == "ok" and again.cpu_s is not None and zygote.get_zygote() is not server


def _live_in_group(group):
    """Pids of the processes of process group ``group`` that are not zombies."""
    import psutil

    live = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.info["pid"]) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                live.append(proc.info["pid"])
        except (ProcessLookupError, PermissionError):
            pass
    return live


def test_a_ctrl_c_while_a_zygote_starts_leaves_no_process(monkeypatch):
    from das.sandbox import zygote

    started, real_launched, real_child_pid = [], zygote._launched, zygote._child_pid
    monkeypatch.setattr(zygote, "_launched", lambda start: started.append(real_launched(start)) or started[-1])

    def interrupted(fd, timeout=60.0):
        time.sleep(0.1)  # bwrap has started by now
        raise KeyboardInterrupt

    monkeypatch.setattr(zygote, "_child_pid", interrupted)
    with pytest.raises(KeyboardInterrupt) as caught:  # kept, as a REPL keeps the last traceback
        zygote.Zygote()
    monkeypatch.setattr(zygote, "_child_pid", real_child_pid)
    group = started[0].pid  # started in a session of its own: bwrap leads its group
    deadline = time.monotonic() + 5
    while _live_in_group(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _live_in_group(group) and caught.traceback


def test_a_fork_taken_while_a_zygote_starts_can_start_its_own():
    """A lock the parent held at the fork (another thread starting a zygote) is not the child's."""
    from das.sandbox import zygote

    with zygote._SLOTS_LOCK:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            fresh = zygote._SLOTS_LOCK.acquire(timeout=5) and not any(zygote._SLOTS.values())
            os._exit(0 if fresh else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_unisolated_second_zygotes_are_second_zygotes_too():
    from das.sandbox import zygote

    first = zygote.get_zygote()
    with zygote.second_zygotes(False):
        second = zygote.get_zygote()
    assert second is not first and not second.isolated and zygote.get_zygote() is first


def test_a_forked_child_closes_its_copies_of_the_zygotes_sockets(X):
    """The zygote ends when the caller's socket closes: a child still holding a copy kept it
    serving (shutdown waited out its 5 s)."""
    from das.sandbox import zygote

    run("return X_train[:n_samples]", X)
    server = zygote.get_zygote()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, b"1" if server.sock.fileno() == -1 else b"0")
        time.sleep(8)
        os._exit(0)
    try:
        assert os.read(read, 1) == b"1"  # the child's copy is closed
        start = time.monotonic()
        zygote.shutdown()
        assert time.monotonic() - start < 3 and not server.alive()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)
        os.close(write)


def test_a_fork_while_a_zygote_starts_does_not_hold_the_start_back(monkeypatch):
    """Red team 19, F1: a child forked while a zygote started kept bwrap's info pipe and the socket
    open, and the start read the pipe to its end (as long as the child lived)."""
    from das.sandbox import zygote

    children, real = [], zygote._launched

    def launched_then_forked(start):  # a fork in the window: the pipe and sockets are open
        process = real(start)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            time.sleep(10)
            os._exit(0)
        children.append(pid)
        return process

    monkeypatch.setattr(zygote, "_launched", launched_then_forked)
    try:
        began = time.monotonic()
        server = zygote.Zygote()
        started = time.monotonic() - began
        server.close()
        closed = time.monotonic() - began - started
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert children and started < 5 and closed < 3, (started, closed)


def test_a_launch_given_up_before_it_started_is_never_run():
    """Red team 20, F1: a start interrupted while the launcher was busy closed its descriptors, and
    the launcher then forked with those numbers, reused meanwhile by other files."""
    import threading

    from das.sandbox import zygote

    release, ran = threading.Event(), []
    busy = threading.Thread(target=zygote._launched, args=(lambda: release.wait(10),))
    busy.start()
    time.sleep(0.1)  # the launcher is inside the busy job
    previous = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    threading.Timer(0.5, release.set).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            zygote._launched(lambda: ran.append(True))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    busy.join(10)
    assert zygote._launched(lambda: "next") == "next" and ran == []
