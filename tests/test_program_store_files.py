"""Store files: foreign/corrupt files refused untouched, schema versions, sqlite-utils CLI."""
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

from das.program_store import SCHEMA_VERSION, ProgramStore, StoreError
from das.program_store.schema import APPLICATION_ID, MIGRATIONS


def _refused_untouched(path, match):
    before = path.read_bytes()
    siblings = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(StoreError, match=match):
        ProgramStore(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == siblings  # no -wal/-shm left behind


def test_text_file_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 50)
    _refused_untouched(path, "not an SQLite database")


def test_foreign_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite_utils.Database(path)
    db["customers"].insert_all([{"id": i, "name": f"c{i}"} for i in range(20)], pk="id")
    db.close()
    _refused_untouched(path, "another application")


def test_corrupt_store_is_refused_untouched(tmp_path):
    path = tmp_path / "s.sqlite"
    with ProgramStore(path) as s:
        s.add("def f(): pass", "IForest")
        s.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # wreck the schema page, keep the header
    path.write_bytes(bytes(data))
    for side in ("-wal", "-shm"):
        Path(str(path) + side).unlink(missing_ok=True)
    _refused_untouched(path, "not a usable store|another application")


def test_directory_is_refused(tmp_path):
    with pytest.raises(StoreError, match="not a file"):
        ProgramStore(tmp_path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    ProgramStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer than this das supports"):
        ProgramStore(path)


def test_old_schema_is_migrated_keeping_data(tmp_path):
    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    MIGRATIONS[1](db)  # build a version-1 store by hand
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    db["programs"].insert({"sha256": "0" * 64, "detector": "LOF", "source": "x", "policy": "",
                           "metadata": "{}", "created_at": "2026-01-01", "status": "certified"})
    for hardness in (0.2, 0.6):
        db["verifications"].insert({"program_sha256": "0" * 64, "suite_version": "s1", "passed": 1,
                                    "hardness": hardness, "report": "{}", "created_at": "2026-01-01"})
    conn.close()
    with ProgramStore(path) as s:
        assert s.db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert any(ix.columns == ["detector", "status"] for ix in s.db["programs"].indexes)
        assert s.db["programs"].count == 1
        row = next(s.db.query("SELECT verified_suite, verified_hardness FROM programs"))
        assert row == {"verified_suite": "s1", "verified_hardness": 0.6}  # backfilled from latest
        assert dict(s.db.execute("SELECT key, value FROM meta").fetchall())["schema_version"] == str(SCHEMA_VERSION)


def test_store_opens_in_sqlite_utils_cli(tmp_path):
    path = tmp_path / "s.sqlite"
    with ProgramStore(path) as s:
        s.add("def f(): pass", "IForest")
    cli = shutil.which("sqlite-utils") or str(Path(sys.executable).with_name("sqlite-utils"))
    out = subprocess.run([cli, "query", str(path),
                          "select detector, status, count(*) as n from programs group by 1, 2"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [{"detector": "IForest", "status": "candidate", "n": 1}]
    tables = subprocess.run([cli, "tables", str(path)], capture_output=True, text=True,
                            check=True).stdout
    for name in ("programs", "verifications", "runs", "defaults", "events", "meta"):
        assert f'"{name}"' in tables


def _edited_store(path, *statements):
    """A das store whose schema was then edited by hand (``statements`` run with foreign keys off)."""
    with ProgramStore(path) as s:
        s.add("def f(): pass", "IForest")
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA foreign_keys=OFF")
    for sql in statements:
        raw.execute(sql)
    raw.close()
    return path


_ENDLESS = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT {} FROM r WHERE i < 0"
_PROGRAM_COLUMNS = ("sha256", "detector", "source", "policy", "prompt_sha256", "prompt_variant", "backend",
                    "model", "parent_sha256", "metadata", "created_at", "status", "verified_suite",
                    "verified_hardness")


@pytest.mark.parametrize("statements, match", [
    # the attack: `programs` as an endless recursive view hung `das programs list`
    (("DROP TABLE programs",
      "CREATE VIEW programs AS " + _ENDLESS.format(", ".join(f"'x' AS {c}" for c in _PROGRAM_COLUMNS))),
     "holds a view 'programs'"),
    (("CREATE TRIGGER t AFTER INSERT ON events BEGIN " + _ENDLESS.format("i") + "; END",),
     "holds a trigger 't'"),
    (("CREATE VIEW extra AS SELECT 1",), "holds a view 'extra'"),
    (("ALTER TABLE programs RENAME TO old", "CREATE TABLE programs (sha256 TEXT PRIMARY KEY, "
      "n INTEGER, big BLOB AS (zeroblob(n)))"), "generated or hidden columns \\('big'\\)"),
    (("DROP TABLE runs", "CREATE VIRTUAL TABLE runs USING rtree(id, a, b)"), "'runs' is a virtual table"),
    (("DROP TABLE defaults",), "table 'defaults' is missing"),
])
def test_store_file_that_runs_its_own_sql_is_refused(tmp_path, statements, match):
    path = _edited_store(tmp_path / "s.sqlite", *statements)
    with pytest.raises(StoreError, match=match):
        ProgramStore(path)


def test_every_statement_is_bounded_in_steps_and_values_in_size(tmp_path, monkeypatch):
    from das.program_store import schema

    monkeypatch.setattr(schema, "MAX_STATEMENT_STEPS", 1_000_000)
    count = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < ?) SELECT count(*) FROM r"
    with ProgramStore(tmp_path / "s.sqlite") as s:
        with pytest.raises(sqlite3.OperationalError, match="interrupted"):
            s.db.execute(count, (10_000_000,)).fetchall()  # ~0.1 s unbounded, stopped after 1 M steps
        for _ in range(3):  # the count restarts with every statement
            assert s.db.execute(count, (50_000,)).fetchone()[0] == 50_000
        assert s.list() == []
        with pytest.raises(sqlite3.DataError, match="too big"):
            s.db.execute("SELECT zeroblob(?)", (schema.MAX_VALUE_BYTES + 1,)).fetchall()


def test_the_das_command_hides_pandas_from_sqlite_utils_and_the_library_does_not(tmp_path):
    """sqlite-utils imports pandas only for pandas column types: the ``das`` process hides it (a
    command's start), the library, imported into a user's process, never does."""
    store = str(tmp_path / "s.sqlite")
    command = (
        "import sys\n"
        "from das.engine import entry\n"
        "entry._import_sqlite_utils_without_pandas()\n"
        "from das.program_store import ProgramStore\n"
        f"ProgramStore({store!r}).close()\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
        "import pandas, sqlite_utils.db\n"
        "assert pandas.DataFrame({'a': [1]}).shape == (1, 1) and sqlite_utils.db.pd is None\n"
    )
    library = (
        "from das.program_store import ProgramStore\n"
        f"ProgramStore({store!r}).close()\n"
        "import sqlite_utils.db\n"
        "assert sqlite_utils.db.pd is not None\n"
    )
    for code in (command, library):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
