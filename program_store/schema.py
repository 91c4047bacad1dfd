"""Opening a store file safely: identity checks, pragmas and schema migrations.

A store is marked by ``PRAGMA application_id`` (``APPLICATION_ID``) and its
schema version by ``PRAGMA user_version``; a ``meta`` table repeats both so the
file explains itself in the ``sqlite-utils`` CLI. Any file that is not an
SQLite database, or an SQLite database of another application, is refused
before anything is written to it.

A store file is untrusted input too (it can be shared, restored or edited):
its schema may hold only plain tables and indexes (no views, triggers,
virtual tables or generated columns, any of which runs the file's own SQL
when das reads a table), every statement is stopped after
``MAX_STATEMENT_STEPS`` virtual-machine steps, and no string or blob may
exceed ``MAX_VALUE_BYTES``. A hostile file is a clean :class:`StoreError`
(or an ``sqlite3.OperationalError: interrupted``), never a hang.
"""
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import sqlite_utils

from das.program_store.errors import StoreError

APPLICATION_ID = 0x44415331  # "DAS1": marks a file as a das program store
APP_NAME = "das-program-store"
SCHEMA_VERSION = 3
SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 60.0
#: VM steps one statement may take (counted, so the bound does not depend on load): a
#: listing of 100 000 programs takes ~2 M; an endless recursive query is stopped in ~2 s.
MAX_STATEMENT_STEPS = 100_000_000
_STEPS_PER_CHECK = 10_000
#: Largest string or blob a store value may hold (sources and reports are kilobytes).
MAX_VALUE_BYTES = 64 << 20
#: Tables every store of schema version >= 1 has (as plain tables).
TABLES = ("meta", "programs", "verifications", "runs", "events", "defaults")


def _migrate_v1(db):
    """Create the tables of schema version 1."""
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["programs"].create(
        {
            "sha256": str, "detector": str, "source": str, "policy": str,
            "prompt_sha256": str, "prompt_variant": str, "backend": str, "model": str,
            "parent_sha256": str, "metadata": str, "created_at": str, "status": str,
        },
        pk="sha256",
        not_null={"detector", "source", "created_at", "status"},
    )
    db["verifications"].create(
        {
            "id": int, "program_sha256": str, "suite_version": str, "passed": int,
            "hardness": float, "report": str, "duration_s": float, "created_at": str,
        },
        pk="id",
        foreign_keys=[("program_sha256", "programs", "sha256")],
    )
    db["runs"].create(
        {
            "id": int, "program_sha256": str, "detector": str, "dataset_fingerprint": str,
            "seed": int, "n_syn": int, "metrics": str, "created_at": str,
        },
        pk="id",
        foreign_keys=[("program_sha256", "programs", "sha256")],
    )
    # Revocations, tampering and default changes are appended here, never deleted.
    db["events"].create(
        {"id": int, "program_sha256": str, "kind": str, "detail": str, "created_at": str},
        pk="id",
    )
    db["defaults"].create(
        {"detector": str, "program_sha256": str, "updated_at": str},
        pk="detector",
        foreign_keys=[("program_sha256", "programs", "sha256")],
    )


def _migrate_v2(db):
    """Add the indexes that keep lookups fast with many programs."""
    db["programs"].create_index(["detector", "status"])
    db["verifications"].create_index(["program_sha256", "id"])
    db["runs"].create_index(["program_sha256"])
    db["events"].create_index(["program_sha256"])


def _migrate_v3(db):
    """Keep each program's latest verification on its row, so lookups need no join."""
    db["programs"].add_column("verified_suite", str)
    db["programs"].add_column("verified_hardness", float)
    db.execute(
        "UPDATE programs SET (verified_suite, verified_hardness) = (SELECT suite_version, "
        "hardness FROM verifications v WHERE v.program_sha256 = programs.sha256 "
        "ORDER BY v.id DESC LIMIT 1)")
    db["programs"].create_index(["detector", "status", "verified_suite", "verified_hardness"])


MIGRATIONS = {1: _migrate_v1, 2: _migrate_v2, 3: _migrate_v3}


def _check_header(path):
    """Refuse a non-empty file that does not start with the SQLite header."""
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_HEADER))
    if head and head != SQLITE_HEADER:
        raise StoreError(f"{path} is not an SQLite database; refusing to use it as a store")


def connect(path):
    """Open ``path`` as a store connection, creating or migrating the schema.

    Parameters
    ----------
    path : str or Path
        Store file; created (with its directory) when missing.

    Returns
    -------
    sqlite_utils.Database
        Over a connection in autocommit mode (``isolation_level=None``); the
        store opens its own ``BEGIN IMMEDIATE`` transactions.

    Raises
    ------
    StoreError
        If the file is not SQLite (a 0-byte file included), belongs to another
        application, is corrupt, has a newer schema than this code knows, or
        cannot be created where asked.
    """
    path = Path(path)
    if not path.exists():
        _create(path)
    if not path.is_file():
        raise StoreError(f"{path} is not a file")
    if path.stat().st_size == 0:
        # A new store is never 0 bytes (see _create): this one was truncated or made by hand.
        raise StoreError(f"{path} is an empty (0-byte) file, not a das store; restore it from a "
                         "backup, or delete it to start a new store")
    _check_header(path)
    return _open(path)


def _create(path):
    """Build a new, migrated store beside ``path`` and link it into place.

    Other processes see either no file or a complete store, never a half-made
    one, so an empty file at ``path`` can always be refused.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    except OSError as exc:  # a parent is a file ($DAS_HOME set to a file), or no permission
        why = (f"{exc.filename} is not a directory" if isinstance(exc, (FileExistsError, NotADirectoryError))
               else f"{exc.strerror}: {exc.filename}")
        raise StoreError(f"cannot create a store at {path}: {why} "
                         "(check $DAS_HOME, $DAS_STORE or --store)") from None
    os.close(fd)
    try:
        _open(Path(tmp)).close()
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(tmp + suffix).unlink(missing_ok=True)


def _bound(conn):
    """Stop any statement after ``MAX_STATEMENT_STEPS`` VM steps; cap strings and blobs.

    The step count restarts with every statement (the trace callback fires
    as each one starts), so only a single runaway statement is stopped.
    """
    steps = [0]

    def start(_sql):
        steps[0] = 0

    def progress():
        steps[0] += _STEPS_PER_CHECK
        return steps[0] > MAX_STATEMENT_STEPS  # non-zero interrupts the statement

    conn.set_trace_callback(start)
    conn.set_progress_handler(progress, _STEPS_PER_CHECK)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)


def _open(path):
    """Connect to an existing file, check it is ours, set pragmas and migrate."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    _bound(conn)
    try:
        # One read transaction, so the checks see one snapshot.
        conn.execute("BEGIN")
        try:
            _check_identity(conn, path)
        finally:
            conn.execute("COMMIT")
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            _retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
        conn.execute("PRAGMA foreign_keys=ON")
        db = sqlite_utils.Database(conn)
        _migrate(db, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path} is not a usable store: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return db


def _retry_locked(fn):
    """Run ``fn``, retrying while SQLite reports the file locked.

    Switching to WAL needs a moment of exclusive access and does not wait on
    the busy handler, so openers racing on a brand-new file retry here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _check_identity(conn, path):
    """Read-only checks that ``conn`` is an empty database or one of ours."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    n_objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id == 0 and n_objects == 0:
        return  # a brand-new (or zero-byte) database: ours to initialise
    if app_id != APPLICATION_ID:
        raise StoreError(
            f"{path} is an SQLite database of another application "
            f"(application_id={app_id}); refusing to use it as a das store"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has store schema version {version}, newer than this das "
            f"supports ({SCHEMA_VERSION}); upgrade das"
        )
    _check_schema(conn, path, version)


def _check_schema(conn, path, version):
    """Refuse a schema that runs the file's own SQL on reads (views, triggers, virtual or
    generated columns) or lacks one of the store's tables."""
    def refuse(why):
        raise StoreError(f"{path} is not a usable store: {why}; refusing to read it")

    objects = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    for kind, name, sql in objects:
        if kind not in ("table", "index"):
            refuse(f"it holds a {kind} {name!r} (a das store has only tables and indexes)")
        if kind == "table" and (sql or "").lstrip()[:14].upper() == "CREATE VIRTUAL":
            refuse(f"table {name!r} is a virtual table")
    tables = {name for kind, name, _ in objects if kind == "table"}
    missing = [t for t in TABLES if t not in tables] if version >= 1 else []
    if missing:
        refuse(f"table {missing[0]!r} is missing")
    for table in sorted(tables & set(TABLES)):
        hidden = [row[1] for row in conn.execute("SELECT * FROM pragma_table_xinfo(?)", (table,)) if row[6]]
        if hidden:
            refuse(f"table {table!r} has generated or hidden columns ({hidden[0]!r})")


def _migrate(db, path):
    """Apply the missing migrations, each in its own immediate transaction."""
    while True:
        # Re-read inside the lock so that concurrent openers migrate only once.
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            _check_identity(db.conn, path)
            version = db.conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                db.conn.execute("COMMIT")
                return
            MIGRATIONS[version + 1](db)
            db.conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.conn.execute(f"PRAGMA user_version={version + 1}")
            db["meta"].upsert_all(
                [
                    {"key": "application", "value": APP_NAME},
                    {"key": "schema_version", "value": str(version + 1)},
                ],
                pk="key",
            )
            db.conn.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
