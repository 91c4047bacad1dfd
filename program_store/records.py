"""Plain record types handed out by the store."""
import json
from dataclasses import asdict, dataclass, field

STATUSES = ("candidate", "certified", "rejected", "revoked", "tampered")


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
        return cls(
            sha256=row["sha256"], detector=row["detector"],
            source=row["source"] if source is None else source,
            policy=row["policy"] or "", status=row["status"], created_at=row["created_at"],
            prompt_sha256=row["prompt_sha256"], prompt_variant=row["prompt_variant"],
            backend=row["backend"], model=row["model"], parent_sha256=row["parent_sha256"],
            metadata=json.loads(row["metadata"] or "{}"), hardness=row.get("verified_hardness"),
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
        return cls(
            id=row["id"], program_sha256=row["program_sha256"],
            suite_version=row["suite_version"], passed=bool(row["passed"]),
            hardness=row["hardness"], report=json.loads(row["report"] or "{}"),
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
        return cls(
            id=row["id"], program_sha256=row["program_sha256"], detector=row["detector"],
            dataset_fingerprint=row["dataset_fingerprint"], seed=row["seed"],
            n_syn=row["n_syn"], metrics=json.loads(row["metrics"] or "{}"),
            created_at=row["created_at"],
        )

    def to_dict(self):
        """Return a JSON-serialisable dict of all fields."""
        return asdict(self)
