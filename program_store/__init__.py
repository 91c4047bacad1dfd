"""Program store: content-hashed, verified LLM-written programs on SQLite.

>>> from program_store import ProgramStore
>>> store = ProgramStore()            # $DAS_STORE or $DAS_HOME/programs.sqlite
>>> sha = store.add(source, "IForest", policy="...")
"""
from das.program_store.bundles import export_bundle, import_bundle, read_bundle
from das.program_store.errors import (
    AmbiguousPrefix,
    BundleError,
    CannotWrite,
    InvalidInput,
    NotCertified,
    ProgramNotFound,
    StoreError,
    TamperedProgram,
)
from das.program_store.hashing import canonical_json, record_sha256, source_sha256
from das.program_store.paths import default_store_path
from das.program_store.records import ProgramRecord, RunRecord, VerificationRecord
from das.program_store.schema import SCHEMA_VERSION
from das.program_store.store import ProgramStore

__all__ = [
    "AmbiguousPrefix", "BundleError", "CannotWrite", "InvalidInput", "NotCertified", "ProgramNotFound",
    "ProgramRecord", "ProgramStore", "RunRecord", "SCHEMA_VERSION", "StoreError",
    "TamperedProgram", "VerificationRecord", "canonical_json", "default_store_path",
    "export_bundle", "import_bundle", "read_bundle", "record_sha256", "source_sha256",
]
