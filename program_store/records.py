"""Plain record types handed out by the store.

A row is checked before it becomes a record: a store file can be edited, so
every column must hold the type das wrote there, and JSON columns are parsed
within bounds (:func:`program_store.jsontext.parse_json`); anything else is a
:class:`StoreError` naming the row, never a crash further on.
"""
import math
from dataclasses import asdict, dataclass, field

from das.program_store.errors import InvalidInput, StoreError
from das.program_store.jsontext import parse_json

STATUSES = ("candidate", "certified", "rejected", "revoked", "tampered")
#: Longest JSON column (report, metadata, metrics, event detail) parsed from a store.
MAX_STORED_JSON_CHARS = 16 << 20
_NUMBER = (int, float)
#: Numeric fields of a stored verification report that das formats or compares (finite or absent).
_REPORT_NUMBERS = ("hardness", "duration_s", "borderline", "depth")
_USEFUL_NUMBERS = ("margin", "lower_bound", "borderline", "borderline_lower_bound")


def checked_row(row, table, required=(), text=(), numbers=()):
    """``row`` once its ``required`` columns hold str, its ``text`` columns str or NULL and its
    ``numbers`` int/float or NULL."""
    for names, types, nullable in ((required, str, False), (text, str, True), (numbers, _NUMBER, True)):
        for name in names:
            value = row[name]
            if (value is None and not nullable) or (
                    value is not None and (not isinstance(value, types) or isinstance(value, bool))):
                raise StoreError(f"{table} row {_key(row)} is malformed: column {name!r} holds "
                                 f"{type(value).__name__}; the store file was edited")
    return row


def stored_json(row, table, column):
    """The JSON object in ``row[column]`` (NULL is ``{}``), parsed within bounds."""
    text = row[column]
    if text is None:
        return {}
    try:
        return parse_json(text, MAX_STORED_JSON_CHARS)
    except InvalidInput as exc:
        raise StoreError(f"{table} row {_key(row)}: column {column!r} is refused: {exc}") from None


def report_problem(report):
    """Why a stored verification report cannot be handed out: None when every field das reads
    (properties, verdict, figures, usefulness margins, bounds and means, suite datasets) has the type
    it reads: every figure a finite number or absent."""
    def number(value):  # an int beyond float range, or NaN, would fail every format and comparison later
        return value is None or (isinstance(value, float) and math.isfinite(value)) or (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63)

    props = report.get("properties") or []
    if not isinstance(props, list) or not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in props):
        return "'properties' is not a list of named objects"
    for key in _REPORT_NUMBERS:
        if not number(report.get(key)):
            return f"{key!r} is not a number"
    seed = report.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not isinstance(report.get("passed"), (bool, type(None))):
        return "'seed' or 'passed' has the wrong type"
    if not isinstance(report.get("detector", ""), str):
        return "'detector' is not a string"
    useful = report.get("usefulness", {})
    if not isinstance(useful, dict):
        return "'usefulness' is not an object"
    for key in _USEFUL_NUMBERS:
        if not number(useful.get(key)):
            return f"'usefulness' {key!r} is not a number"
    means = useful.get("means")
    if means and not (isinstance(means, dict) and all(number(means.get(k)) and means.get(k) is not None
                                                      for k in ("program", "base", "random"))):
        return "'usefulness' does not hold the means of program, base and random"
    datasets = report.get("suite_spec") or {}
    datasets = datasets.get("datasets") or {} if isinstance(datasets, dict) else None
    if not isinstance(datasets, dict) or not all(isinstance(e, dict) and "n" in e and "d" in e
                                                 for e in datasets.values()):
        return "'suite_spec' does not list datasets with n and d"
    return None


def _stored_report(row):
    report = stored_json(row, "verifications", "report")
    problem = report_problem(report)
    if problem:
        raise StoreError(f"verifications row {_key(row)}: column 'report' is refused: {problem}")
    return report


def _key(row):
    key = row.get("sha256", row.get("id"))
    return repr(key if not isinstance(key, str) else key[:12])


_PROGRAM_TEXT = ("policy", "prompt_sha256", "prompt_variant", "backend", "model", "parent_sha256")


@dataclass(frozen=True)
class ProgramRecord:
    """One stored program, its provenance and its certification status.

    ``source`` is the exact stored text (it hashes to ``sha256``); records of
    tampered programs returned by :meth:`ProgramStore.list` carry an empty
    source, since a tampered source is never handed out. ``hardness`` is the
    label-free hardness of the latest verification (None before any).
    """

    sha256: str
    detector: str
    source: str
    policy: str
    status: str
    created_at: str
    prompt_sha256: str | None = None
    prompt_variant: str | None = None
    backend: str | None = None
    model: str | None = None
    parent_sha256: str | None = None
    metadata: dict = field(default_factory=dict)
    hardness: float | None = None

    @classmethod
    def from_row(cls, row, source=None):
        """Build a record from a ``programs`` row (``metadata`` is JSON text)."""
        checked_row(row, "programs", required=("sha256", "detector", "source", "status", "created_at"),
                    text=_PROGRAM_TEXT, numbers=("verified_hardness",))
        return cls(
            sha256=row["sha256"], detector=row["detector"],
            source=row["source"] if source is None else source,
            policy=row["policy"] or "", status=row["status"], created_at=row["created_at"],
            prompt_sha256=row["prompt_sha256"], prompt_variant=row["prompt_variant"],
            backend=row["backend"], model=row["model"], parent_sha256=row["parent_sha256"],
            metadata=stored_json(row, "programs", "metadata"), hardness=row.get("verified_hardness"),
        )

    def to_dict(self):
        """Return a JSON-serialisable dict of all fields."""
        return asdict(self)


@dataclass(frozen=True)
class VerificationRecord:
    """One verification of a program under a property-suite version."""

    id: int
    program_sha256: str
    suite_version: str
    passed: bool
    hardness: float | None
    report: dict
    duration_s: float | None
    created_at: str

    @classmethod
    def from_row(cls, row):
        """Build a record from a ``verifications`` row."""
        checked_row(row, "verifications", required=("program_sha256", "suite_version", "created_at"),
                    numbers=("id", "passed", "hardness", "duration_s"))
        return cls(
            id=row["id"], program_sha256=row["program_sha256"],
            suite_version=row["suite_version"], passed=bool(row["passed"]),
            hardness=row["hardness"], report=_stored_report(row),
            duration_s=row["duration_s"], created_at=row["created_at"],
        )

    def to_dict(self):
        """Return a JSON-serialisable dict of all fields."""
        return asdict(self)


@dataclass(frozen=True)
class RunRecord:
    """One use of a program by the runtime on a dataset."""

    id: int
    program_sha256: str
    detector: str
    dataset_fingerprint: str
    seed: int | None
    n_syn: int | None
    metrics: dict
    created_at: str

    @classmethod
    def from_row(cls, row):
        """Build a record from a ``runs`` row."""
        checked_row(row, "runs", required=("program_sha256", "dataset_fingerprint", "created_at"),
                    text=("detector",),
                    numbers=("id", "seed", "n_syn"))
        return cls(
            id=row["id"], program_sha256=row["program_sha256"], detector=row["detector"],
            dataset_fingerprint=row["dataset_fingerprint"], seed=row["seed"],
            n_syn=row["n_syn"], metrics=stored_json(row, "runs", "metrics"),
            created_at=row["created_at"],
        )

    def to_dict(self):
        """Return a JSON-serialisable dict of all fields."""
        return asdict(self)
