"""Hostile inputs beyond the program's code reach the CLI: outputs, store files, bundles, reports.

Each test reproduces an attack that crashed or hung the caller, and checks its side effects:
a clean ``Error:`` line and exit code 1, no traceback, nothing stored lost.
"""
import sqlite3

import pytest
from click.testing import CliRunner

from das.engine.cli import main
from das.program_store import ProgramStore


def invoke(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), res.exc_info
    return res


def test_a_finite_1e300_in_the_output_is_a_verdict_not_a_crash(tmp_path):
    """One finite 1e300 crashed the forest's float32 conversion in the `useful` measurement."""
    program = tmp_path / "big.py"
    program.write_text(
        "import numpy as np\n\n"
        "def generate_hard_anomalies(n_samples, model, X_train):\n"
        "    lo, hi = X_train.min(axis=0), X_train.max(axis=0)\n"
        "    out = np.random.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), (n_samples, X_train.shape[1]))\n"
        "    out[0, 0] = 1e300\n"
        "    return out\n")
    res = invoke("programs", "add", program, "-d", "IForest")
    assert res.exit_code == 1
    assert "[FAIL] finite" in res.output and "non-finite values in float32" in res.output
    assert "verdict: REJECTED" in res.output


def _store_with_programs(n):
    with ProgramStore() as s:
        with s.transaction():
            for i in range(n):
                s.add(f"def f(): return {i}\n", "IForest")


def test_an_endless_view_in_the_store_is_refused_not_a_hang(tmp_path):
    _store_with_programs(2)
    with ProgramStore() as s:
        path = s.path
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("ALTER TABLE programs RENAME TO kept")
    raw.execute("CREATE VIEW programs AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
                "SELECT * FROM kept, r WHERE i < 0")
    raw.close()
    res = invoke("programs", "list")
    assert res.exit_code == 1
    assert res.output.startswith("Error: ") and "holds a view 'programs'" in res.output
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT count(*) FROM kept").fetchone()[0] == 2  # nothing stored is lost
    raw.close()


def test_a_statement_over_its_step_bound_is_a_clean_error(monkeypatch):
    from das.program_store import schema

    _store_with_programs(2000)
    monkeypatch.setattr(schema, "MAX_STATEMENT_STEPS", 20_000)
    res = invoke("programs", "list")
    assert res.exit_code == 1
    assert res.output == ("Error: program store: a query ran over 20,000 steps and was stopped "
                          "(the store file may be damaged or hostile)\n")
