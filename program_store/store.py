"""ProgramStore: content-addressed program records on SQLite (sqlite-utils).

Records only: programs, verifications, runs, events and per-detector defaults,
with integrity checks and queries. Every read re-hashes the source; a mismatch
marks the program ``tampered`` and it is never handed out again. Revocation is
an appended event plus a status, never a deletion. Running verifications,
re-verifying under a new suite and choosing a default are the certification
service's job (:mod:`collab.certification`); this module never imports the sandbox.
"""
import contextlib
import json
import string
from datetime import datetime, timezone
from pathlib import Path

from das.program_store.errors import (
    AmbiguousPrefix,
    InvalidInput,
    NotCertified,
    ProgramNotFound,
    StoreError,
    TamperedProgram,
)
from das.program_store.hashing import canonical_json, source_sha256
from das.program_store.jsontext import check_bounds
from das.program_store.paths import default_store_path
from das.program_store.records import (
    MAX_STORED_JSON_CHARS,
    STATUSES,
    ProgramRecord,
    RunRecord,
    VerificationRecord,
    checked_row,
    report_problem,
    stored_json,
)
from das.program_store.schema import connect

_HEX = frozenset(string.hexdigits.lower())


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _text_or_none(value, name):
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string or None, got {type(value).__name__}")
    return value


class ProgramStore:
    """A store of LLM-written programs with their verifications and runs.

    Parameters
    ----------
    path : str or Path, optional
        Store file; ``None`` means ``$DAS_STORE`` or ``$DAS_HOME/programs.sqlite``.

    Raises
    ------
    StoreError
        If the file is not a das store (see :func:`program_store.schema.connect`).
    """

    def __init__(self, path=None):
        self.path = default_store_path() if path is None else Path(path).expanduser()
        self.db = connect(self.path)
        self._depth = 0

    # -- plumbing -------------------------------------------------------
    def close(self):
        """Close the connection."""
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def transaction(self):
        """Group writes atomically (``BEGIN IMMEDIATE``); nested blocks join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        # IMMEDIATE takes the write lock up front, so concurrent writers queue
        # on the busy timeout instead of failing on a read-to-write upgrade.
        self.db.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.conn.execute("ROLLBACK")
            raise
        else:
            self.db.conn.execute("COMMIT")
        finally:
            self._depth = 0

    def __contains__(self, sha):
        """True when a program (intact or not) is stored under the full key ``sha``."""
        return self._one("SELECT 1 FROM programs WHERE sha256 = ?", (sha,)) is not None

    def _one(self, sql, params=()):
        rows = list(self.db.query(sql, params))
        return rows[0] if rows else None

    def record_event(self, sha, kind, detail):
        """Append an event (``kind`` with a JSON ``detail``) to the history of ``sha``."""
        self.db["events"].insert(
            {"program_sha256": sha, "kind": kind, "detail": canonical_json(detail),
             "created_at": _now()}
        )

    # -- programs -------------------------------------------------------
    def add(self, source, detector, policy="", prompt_sha256=None, prompt_variant=None,
            backend=None, model=None, parent_sha256=None, metadata=None):
        """Store ``source`` as a candidate program and return its sha256.

        Identical source gives the same key; adding it again keeps the first
        record (dedup) and returns the existing sha256. Adding the source of a
        tampered record restores it (status back to candidate, an event
        ``restored``), since that source is the one the key names.
        """
        if not isinstance(source, str) or not source.strip():
            raise InvalidInput("source must be a non-empty string")
        if not isinstance(detector, str) or not detector.strip():
            raise InvalidInput("detector must be a non-empty string")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInput("metadata must be a dict or None")
        for name, value in (("policy", policy), ("prompt_sha256", prompt_sha256),
                            ("prompt_variant", prompt_variant), ("backend", backend),
                            ("model", model), ("parent_sha256", parent_sha256)):
            _text_or_none(value, name)
        sha = source_sha256(source)
        row = {
            "sha256": sha, "detector": detector, "source": source, "policy": policy or "",
            "prompt_sha256": prompt_sha256, "prompt_variant": prompt_variant,
            "backend": backend, "model": model, "parent_sha256": parent_sha256,
            "metadata": canonical_json(metadata or {}), "created_at": _now(),
            "status": "candidate",
        }
        with self.transaction():
            stored = self._one("SELECT source, status FROM programs WHERE sha256 = ?", (sha,))
            if stored is None:
                self.db["programs"].insert(row)
            elif stored["source"] != source:
                self._restore(sha, source, stored["status"])
        return sha

    def _restore(self, sha, source, status):
        """Put back the source that hashes to ``sha`` over a tampered copy; it must be verified again."""
        new_status = "revoked" if status == "revoked" else "candidate"
        self.db.execute("UPDATE programs SET source = ?, status = ?, verified_suite = NULL, "
                        "verified_hardness = NULL WHERE sha256 = ?", (source, new_status, sha))
        self.record_event(sha, "restored", {"previous_status": status})

    def resolve(self, prefix):
        """Return the full sha256 of the one program whose key starts with ``prefix``."""
        prefix = (prefix or "").strip().lower()
        if len(prefix) < 4 or not set(prefix) <= _HEX:
            raise InvalidInput(f"not a sha256 prefix (need >= 4 hex characters): {prefix!r}")
        rows = list(self.db.query(
            "SELECT sha256 FROM programs WHERE sha256 >= ? AND sha256 < ? LIMIT 2",
            (prefix, prefix + "g")))
        if not rows:
            raise ProgramNotFound(f"no program matches {prefix}")
        if len(rows) > 1:
            raise AmbiguousPrefix(f"prefix {prefix} matches several programs; give more characters")
        return rows[0]["sha256"]

    def _row(self, sha):
        row = self._one("SELECT * FROM programs WHERE sha256 = ?", (sha,))
        if row is None:
            raise ProgramNotFound(f"no program {sha}")
        return row

    def _intact(self, row):
        """Re-hash a row's source; mark and report tampering. Returns True when intact."""
        checked_row(row, "programs", required=("sha256", "source", "status"))
        if source_sha256(row["source"]) == row["sha256"]:
            return True
        if row["status"] not in ("tampered", "revoked"):  # a revocation is final, even of a tampered row
            with self.transaction():
                self.db.execute("UPDATE programs SET status = 'tampered' WHERE sha256 = ?",
                                (row["sha256"],))
                self.db.execute("DELETE FROM defaults WHERE program_sha256 = ?", (row["sha256"],))
                self.record_event(row["sha256"], "tampered", {"previous_status": row["status"]})
        return False

    def get(self, sha):
        """Return the program ``sha`` after re-hashing its source.

        Raises
        ------
        ProgramNotFound
            If no program has this key.
        TamperedProgram
            If the stored source no longer hashes to ``sha``.
        """
        row = self._row(sha)
        if not self._intact(row):
            raise TamperedProgram(
                f"program {sha} was tampered with: its stored source no longer matches "
                "its sha256; refusing to hand it out")
        return ProgramRecord.from_row(row)

    def list(self, detector=None, status=None):
        """Return programs (oldest first), optionally filtered; sources re-hashed.

        Tampered programs are included with status ``"tampered"`` and an empty source.
        """
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"unknown status {status!r}; choose from {', '.join(STATUSES)}")
        where, params = [], []
        if detector is not None:
            where.append("detector = ?")
            params.append(detector)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        sql = "SELECT * FROM programs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        out = []
        for row in list(self.db.query(sql + " ORDER BY created_at, sha256", params)):
            if self._intact(row):
                out.append(ProgramRecord.from_row(row))
            elif status in (None, "tampered", row["status"]):
                shown = "revoked" if row["status"] == "revoked" else "tampered"
                out.append(ProgramRecord.from_row(dict(row, status=shown), source=""))
        return out

    def revoke(self, sha, reason):
        """Mark ``sha`` revoked (recorded with ``reason``; the row is kept).

        A tampered program can be revoked too; it stays revoked (and withheld).
        """
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("a revocation needs a reason")
        with self.transaction():
            row = self._row(sha)
            if row["status"] == "revoked":
                raise StoreError(f"program {sha} is already revoked")
            self.db.execute("UPDATE programs SET status = 'revoked' WHERE sha256 = ?", (sha,))
            self.db.execute("DELETE FROM defaults WHERE program_sha256 = ?", (sha,))
            self.record_event(sha, "revoked", {"reason": reason, "previous_status": row["status"]})

    # -- verification records and defaults -----------------------------
    def record_verification(self, sha, report_dict, passed, suite_version, duration_s=None):
        """Record a verification; the program becomes certified or rejected.

        A revoked program stays revoked; a tampered one is refused.
        """
        if not isinstance(report_dict, dict):
            raise InvalidInput("report_dict must be a dict")
        try:
            report_json = canonical_json(report_dict)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"report is not JSON-serialisable: {exc}") from exc
        check_bounds(report_json, MAX_STORED_JSON_CHARS)  # never store what would be refused on reading
        problem = report_problem(json.loads(report_json))  # as reading will see it
        if problem:
            raise InvalidInput(f"report refused: {problem}")
        hardness = report_dict.get("hardness")
        try:
            hardness = None if hardness is None else float(hardness)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"report hardness must be a number, got {hardness!r}") from exc
        rec = self.get(sha)  # outside the transaction: a tamper mark must persist
        with self.transaction():
            vid = self.db["verifications"].insert({
                "program_sha256": sha, "suite_version": str(suite_version),
                "passed": int(bool(passed)),
                "hardness": hardness,
                "report": report_json,
                "duration_s": float(duration_s) if duration_s is not None else None,
                "created_at": _now(),
            }).last_pk
            status = rec.status if rec.status == "revoked" else ("certified" if passed else "rejected")
            self.db.execute("UPDATE programs SET status = ?, verified_suite = ?, "
                            "verified_hardness = ? WHERE sha256 = ?",
                            (status, str(suite_version), hardness, sha))
            if not passed:
                self.db.execute("DELETE FROM defaults WHERE program_sha256 = ?", (sha,))
            if status != rec.status:  # the history says why the status is what it is
                self.record_event(sha, status, {"previous_status": rec.status, "verification": vid,
                                                "suite_version": str(suite_version)})
        return self._verification(vid)

    def _verification(self, vid):
        return VerificationRecord.from_row(self._one("SELECT * FROM verifications WHERE id = ?", (vid,)))

    def latest_verification(self, sha):
        """Return the newest :class:`VerificationRecord` of ``sha`` or None."""
        row = self._one("SELECT * FROM verifications WHERE program_sha256 = ? "
                        "ORDER BY id DESC LIMIT 1", (sha,))
        return VerificationRecord.from_row(row) if row else None

    def set_default(self, detector, sha):
        """Record ``sha`` (certified, for ``detector``) as the program used for ``detector``.

        Whether its certification is current is the certification service's
        question (:meth:`collab.certification.Certification.set_default`).
        """
        rec = self.get(sha)  # outside the transaction: a tamper mark must persist
        if rec.status != "certified":
            raise NotCertified(f"program {sha[:12]} for {rec.detector} is {rec.status}")
        if rec.detector != detector:
            raise InvalidInput(f"program {sha[:12]} is for {rec.detector}, not {detector}")
        with self.transaction():
            self.db["defaults"].upsert(
                {"detector": detector, "program_sha256": sha, "updated_at": _now()}, pk="detector")
            self.record_event(sha, "default", {"detector": detector})

    def default(self, detector):
        """Return the sha256 recorded as ``detector``'s default program, or None."""
        row = self._one("SELECT program_sha256 FROM defaults WHERE detector = ?", (detector,))
        return None if row is None else row["program_sha256"]

    def ranked(self, detector, suite_version, current=True, batch=16):
        """Yield certified shas of ``detector`` (oldest first), in small batches.

        The store does not rank: the certification service orders programs
        (:meth:`collab.certification.Certification.ranked`). ``current`` selects programs whose latest verification ran under
        ``suite_version`` (False: under any other suite). ``verified_*`` mirror
        each program's latest verification (kept by :meth:`record_verification`),
        so each batch is one index range scan.
        """
        suite_clause = "verified_suite = ?" if current else "verified_suite IS NOT ?"
        sql = (f"SELECT sha256 FROM programs WHERE detector = ? AND status = 'certified' "
               f"AND {suite_clause} ORDER BY created_at, sha256 "
               f"LIMIT ? OFFSET ?")
        offset = 0
        while True:
            rows = [r["sha256"] for r in
                    self.db.query(sql, (detector, str(suite_version), batch, offset))]
            yield from rows
            if len(rows) < batch:
                return
            offset += batch

    # -- runs and history -----------------------------------------------
    def record_run(self, sha, detector, dataset_fingerprint, seed=None, n_syn=None, metrics=None):
        """Record that the runtime used ``sha`` on a dataset; returns the run id."""
        if metrics is not None and not isinstance(metrics, dict):
            raise InvalidInput("metrics must be a dict or None")
        with self.transaction():
            self._row(sha)
            return self.db["runs"].insert({
                "program_sha256": sha, "detector": detector,
                "dataset_fingerprint": str(dataset_fingerprint),
                "seed": None if seed is None else int(seed),
                "n_syn": None if n_syn is None else int(n_syn),
                "metrics": canonical_json(metrics or {}), "created_at": _now(),
            }).last_pk

    def verifications(self, sha):
        """Return all :class:`VerificationRecord` of ``sha``, oldest first."""
        return [VerificationRecord.from_row(r) for r in self.db.query(
            "SELECT * FROM verifications WHERE program_sha256 = ? ORDER BY id", (sha,))]

    def runs(self, sha):
        """Return all :class:`RunRecord` of ``sha``, oldest first."""
        return [RunRecord.from_row(r) for r in self.db.query(
            "SELECT * FROM runs WHERE program_sha256 = ? ORDER BY id", (sha,))]

    def events(self, sha):
        """Return the appended events (revoked, tampered, default, imported) of ``sha``."""
        rows = self.db.query("SELECT * FROM events WHERE program_sha256 = ? ORDER BY id", (sha,))
        return [dict(checked_row(r, "events", required=("kind", "created_at")), detail=stored_json(r, "events", "detail"))
                for r in rows]

    def history(self, sha):
        """Return lineage (parents, oldest last), children, verifications, runs and events.

        Works for tampered programs too (their source is withheld), so an
        auditor can see what happened to them.
        """
        row = checked_row(self._row(sha), "programs", text=("parent_sha256",))
        intact = self._intact(row)
        lineage, seen, parent = [], {sha}, row["parent_sha256"]
        while parent and parent not in seen:  # `seen` guards against a hand-made cycle
            seen.add(parent)
            prow = self._one("SELECT sha256, detector, status, created_at, parent_sha256 "
                             "FROM programs WHERE sha256 = ?", (parent,))
            if prow is None:
                lineage.append({"sha256": parent, "missing": True})
                break
            lineage.append(checked_row(prow, "programs", required=("sha256", "status", "created_at"),
                                       text=("detector", "parent_sha256")))
            parent = prow["parent_sha256"]
        children = [checked_row(r, "programs", required=("sha256", "status", "created_at")) for r in self.db.query(
            "SELECT sha256, status, created_at FROM programs WHERE parent_sha256 = ? "
            "ORDER BY created_at", (sha,))]
        program = ProgramRecord.from_row(self._row(sha), source=None if intact else "")
        return {
            "program": program.to_dict(), "tampered": not intact, "lineage": lineage,
            "children": children,
            "verifications": [v.to_dict() for v in self.verifications(sha)],
            "runs": [r.to_dict() for r in self.runs(sha)], "events": self.events(sha),
        }
