"""Content hashes: exact source bytes for programs, canonical JSON for records."""
import hashlib
import json


def source_sha256(source):
    """Return the sha256 hex digest of the exact UTF-8 bytes of ``source``.

    Parameters
    ----------
    source : str
        Program source text; not normalised, so any edit changes the key.

    Returns
    -------
    str
        64 lowercase hex characters.
    """
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _plain(obj):
    """Turn numpy scalars/arrays (reports often hold them) into plain JSON values."""
    if type(obj).__module__ == "numpy" and hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def canonical_json(obj):
    """Serialise ``obj`` deterministically (sorted keys, compact separators).

    Raises
    ------
    TypeError
        If ``obj`` holds a value JSON cannot represent (numpy values are converted).
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_plain)


def record_sha256(obj):
    """Return the sha256 hex digest of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()
