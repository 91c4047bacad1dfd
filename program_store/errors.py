"""Named errors of the program store; the CLI maps them to one-line messages."""


class StoreError(RuntimeError):
    """The store refused an operation (bad file, bad schema, refused program)."""


class InvalidInput(StoreError, ValueError):
    """An argument given to the store is malformed (empty source, bad bundle)."""


class ProgramNotFound(StoreError, LookupError):
    """No program has this sha256 (or sha256 prefix)."""


class AmbiguousPrefix(StoreError, LookupError):
    """A sha256 prefix matches more than one program."""


class TamperedProgram(StoreError):
    """A stored source no longer hashes to its key; it is never handed out."""


class NotCertified(StoreError):
    """No program is certified for the request under the current suite version."""


class BundleError(StoreError, ValueError):
    """A bundle file is unreadable, malformed or fails its hash checks."""


class CannotWrite(StoreError, OSError):
    """An output file could not be written (a directory, no space, no permission): one line, not a traceback."""
