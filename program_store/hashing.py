"""Content hashes: exact source bytes for programs, canonical JSON for records."""
import hashlib
import json


def text_sha256(text):
    """sha256 hex digest of ``text`` encoded as UTF-8 (the project's one text hash)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    return text_sha256(source)


def json_default(obj):
    """``json.dumps`` default: numpy scalars/arrays (reports often hold them) as plain values."""
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
                      default=json_default)


def record_sha256(obj):
    """Return the sha256 hex digest of the canonical JSON of ``obj``."""
    return text_sha256(canonical_json(obj))
