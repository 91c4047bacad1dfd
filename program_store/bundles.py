"""Bundles: programs with policies and verification reports in one JSON file.

Each entry carries ``record_sha256`` (canonical JSON of program + reports) and
the file carries ``bundle_sha256`` over all entries, so any edit is detected.
Import checks every hash first, then adds the programs as candidates: a
bundle's own reports and statuses are evidence for the auditor, never a
certificate, and an import never changes what the store already holds. Verifying the imported programs locally is the certification
service's job (:meth:`collab.certification.Certification.import_bundle`).
"""
import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from das.detectors.names import DETECTOR_NAMES
from das.program_store.errors import BundleError, InvalidInput
from das.program_store.hashing import record_sha256, source_sha256
from das.program_store.jsontext import parse_json
from das.program_store.paths import written_whole

BUNDLE_FORMAT = "das-program-bundle"
BUNDLE_VERSION = 1
#: Largest bundle read (the bundled corpus of 56 programs is 0.7 MB).
MAX_BUNDLE_CHARS = 64 << 20
_REQUIRED_TEXT = ("sha256", "detector", "source")
_OPTIONAL_TEXT = ("policy", "prompt_sha256", "prompt_variant", "backend", "model", "parent_sha256", "status")
_PROGRAM_FIELDS = ("sha256", "detector", "source", "policy", "prompt_sha256", "prompt_variant",
                   "backend", "model", "parent_sha256", "metadata", "status")


def _entry(store, sha):
    rec = store.get(sha)  # re-hashes: a tampered program is never exported
    program = {k: getattr(rec, k) for k in _PROGRAM_FIELDS}
    reports = [
        {k: v.to_dict()[k] for k in ("suite_version", "passed", "hardness", "report",
                                     "duration_s", "created_at")}
        for v in store.verifications(sha)
    ]
    body = {"program": program, "verifications": reports}
    return dict(body, record_sha256=record_sha256(body))


def export_bundle(store, out, shas=(), detector=None):
    """Write the selected programs to the bundle file ``out``.

    Parameters
    ----------
    store : ProgramStore
    out : str or Path
        Destination; written atomically (temporary file + rename).
    shas : iterable of str
        Full sha256 keys to export.
    detector : str, optional
        Also export every certified program of this detector.

    Returns
    -------
    dict
        ``{"path", "programs": [sha256...], "bundle_sha256"}``.
    """
    selected = list(dict.fromkeys(shas))
    if detector is not None:
        selected += [r.sha256 for r in store.list(detector=detector, status="certified")
                     if r.sha256 not in selected]
    if not selected:
        raise InvalidInput("nothing to export: give program shas or a detector with certified programs")
    entries = [_entry(store, sha) for sha in selected]
    bundle = {
        "format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "programs": entries, "bundle_sha256": record_sha256(entries),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with written_whole(out, encoding="utf-8") as fh:
        json.dump(bundle, fh, indent=1, sort_keys=True, ensure_ascii=False)
    return {"path": str(out), "programs": selected, "bundle_sha256": bundle["bundle_sha256"]}


def _read_bounded(path):
    """The text of the regular file ``path``, refused (InvalidInput) past ``MAX_BUNDLE_CHARS``."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInput("not a regular file")
        data = fh.read(4 * MAX_BUNDLE_CHARS + 1)  # UTF-8: at most 4 bytes a character
    text = data.decode("utf-8")
    if len(text) > MAX_BUNDLE_CHARS:
        raise InvalidInput(f"the file is over the limit of {MAX_BUNDLE_CHARS:,} characters")
    return text


def read_bundle(path):
    """Load a bundle and check its format and every hash; returns the entries.

    Raises
    ------
    BundleError
        If the file is unreadable, not a bundle, or any hash does not match.
    """
    try:
        bundle = parse_json(_read_bounded(path), MAX_BUNDLE_CHARS)
    except (OSError, UnicodeDecodeError, InvalidInput) as exc:
        raise BundleError(f"cannot read bundle {path}: {exc}") from exc
    if bundle.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path} is not a das program bundle")
    if bundle.get("format_version") != BUNDLE_VERSION:
        raise BundleError(f"{path} has bundle version {bundle.get('format_version')!r}; "
                          f"this das reads version {BUNDLE_VERSION}")
    entries = bundle.get("programs")
    if not isinstance(entries, list) or not entries:
        raise BundleError(f"{path} holds no programs")
    try:  # a lone surrogate (a JSON escape) has no UTF-8 form: no hash, no source, no store text
        matches = record_sha256(entries) == bundle.get("bundle_sha256")
    except UnicodeEncodeError:
        raise BundleError(f"{path} holds text that is not valid Unicode (a lone surrogate)") from None
    if not matches:
        raise BundleError(f"{path}: bundle_sha256 does not match its contents (modified?)")
    for i, entry in enumerate(entries):
        problem = _entry_problem(entry)
        if problem:
            raise BundleError(f"{path}: entry {i} is malformed ({problem})")
        body = {"program": entry["program"], "verifications": entry["verifications"]}
        source, sha = body["program"]["source"], body["program"]["sha256"]
        if record_sha256(body) != entry.get("record_sha256"):
            raise BundleError(f"{path}: entry {i} ({sha[:12]}) fails its record hash")
        if source_sha256(source) != sha:
            raise BundleError(f"{path}: entry {i}: source does not hash to {sha[:12]}")
    return entries


def _entry_problem(entry):
    """Why a bundle entry cannot be imported (None when every field import reads has its type and
    the detector is a registered one)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("program"), dict):
        return "'program' is not an object"
    if not isinstance(entry.get("verifications"), list):
        return "'verifications' is not a list"
    program = entry["program"]
    for name in _REQUIRED_TEXT:
        if not isinstance(program.get(name), str):
            return f"{name!r} is missing or not text"
    for name in _OPTIONAL_TEXT:
        if not isinstance(program.get(name), (str, type(None))):
            return f"{name!r} is not text"
    if not isinstance(program.get("metadata"), (dict, type(None))):
        return "'metadata' is not an object"
    if program["detector"] not in DETECTOR_NAMES:
        return f"unknown detector {program['detector']!r}; valid names: {', '.join(DETECTOR_NAMES)}"
    return None


def import_bundle(store, path, detector=None):
    """Import a bundle: check every hash, then add its programs as candidates.

    A bundle only adds candidates. A program already in the store keeps its
    record, status and default: an import never revokes, replaces or removes
    anything (a tampered row gets back the source its key names, as
    :meth:`ProgramStore.add` does). A program the bundle marks revoked is not
    imported (``"skipped"``). Nothing is verified here, so nothing imported is
    certified yet. ``detector``: import only that detector's programs (every
    hash is still checked).

    Returns
    -------
    list of dict
        One ``{"sha256", "detector", "status", "added"}`` per program, in
        bundle order: ``status`` is the program's status in the store after
        the import (``"skipped"`` for a program revoked in the bundle) and
        ``added`` whether this import stored it.
    """
    entries = read_bundle(path)  # all hashes checked before anything is written
    if detector is not None:
        entries = [e for e in entries if e["program"]["detector"] == detector]
    added = []  # per entry: whether this import stored it (None: skipped)
    with store.transaction():
        for entry in entries:
            p = entry["program"]
            if p.get("status") == "revoked":
                added.append(None)
                continue
            added.append(p["sha256"] not in store)
            sha = store.add(p["source"], p["detector"], policy=p.get("policy") or "",
                            prompt_sha256=p.get("prompt_sha256"),
                            prompt_variant=p.get("prompt_variant"), backend=p.get("backend"),
                            model=p.get("model"), parent_sha256=p.get("parent_sha256"),
                            metadata=p.get("metadata") or {})
            store.record_event(sha, "imported", {"bundle": str(path), "bundle_status": p.get("status"),
                                                 "bundle_verifications": len(entry["verifications"]),
                                                 "added": added[-1]})
    results = []
    for entry, new in zip(entries, added):
        p = entry["program"]
        if new is None:
            results.append({"sha256": p["sha256"], "detector": p["detector"], "status": "skipped", "added": False})
        else:
            rec = store.get(p["sha256"])
            results.append({"sha256": rec.sha256, "detector": rec.detector, "status": rec.status, "added": new})
    return results
