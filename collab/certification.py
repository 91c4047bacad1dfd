"""Certification service: verify programs, keep certificates current, choose defaults.

The store (:mod:`program_store`) keeps records; this service decides. It runs
the property suite (:func:`sandbox.verify_program`) and records the outcome,
re-verifies a program certified under an older suite version, picks the
program the runtime uses for a detector (the recorded default, else the
highest label-free hardness) and, on first use, certifies the bundled
programs. The Python API and the CLI both come through here, so a fresh store
behaves the same from either.

The bundled programs (:data:`BUNDLED_PROGRAMS`) are the engine's replay corpus
run through its generate → audit → verify loop, exported as a program bundle
(``das prompts corpus --bundle collab/bundled_programs.json`` writes it;
``tests/test_collab_certification.py`` checks it matches the corpus). On first
use they are imported as candidates and verified *locally*: the bundle's own
reports are evidence, never a certificate.
"""
import contextlib
import re
from pathlib import Path

from program_store import NotCertified, ProgramStore, TamperedProgram, import_bundle, read_bundle

#: What :meth:`program_store.ProgramStore.resolve` accepts as a sha256 prefix (``das programs show`` too).
_SHA_PREFIX = re.compile(r"^[0-9a-fA-F]{4,64}$")
#: The replay corpus's programs as a bundle, shipped with das.
BUNDLED_PROGRAMS = Path(__file__).with_name("bundled_programs.json")


class ProgramRefused(ValueError):
    """The requested program may not run for this detector."""


@contextlib.contextmanager
def opened(store=None):
    """Open the store at ``store`` (a path; None: the default store) and close it afterwards."""
    opened_store = ProgramStore(store)
    try:
        yield opened_store
    finally:
        opened_store.close()


def _sandbox_verifier():
    from sandbox import verify_program

    return verify_program


def _sandbox_suite_version():
    from sandbox import SUITE_VERSION

    return str(SUITE_VERSION)


class Certification:
    """Certification decisions over an open :class:`program_store.ProgramStore`.

    Parameters
    ----------
    store : program_store.ProgramStore
    suite_version : str, optional
        Version certificates must match; default ``sandbox.SUITE_VERSION``.
    verifier : callable, optional
        ``verifier(source, detector, seed=0) -> report`` with ``passed``,
        ``hardness``, ``suite_version``, ``duration_s`` and ``to_dict()``;
        default :func:`sandbox.verify_program`.
    """

    def __init__(self, store, *, suite_version=None, verifier=None):
        self.store = store
        self.suite_version = str(suite_version) if suite_version is not None else _sandbox_suite_version()
        self.verifier = verifier

    def verify(self, sha, seed=0):
        """Run the property suite on ``sha`` now and record the outcome; returns the record."""
        rec = self.store.get(sha)
        report = (self.verifier or _sandbox_verifier())(rec.source, rec.detector, seed=seed)
        report_dict = dict(report.to_dict())
        if report_dict.get("hardness") is None and getattr(report, "hardness", None) is not None:
            report_dict["hardness"] = report.hardness  # the label-free ranking key
        return self.store.record_verification(sha, report_dict, passed=report.passed,
                                              suite_version=report.suite_version,
                                              duration_s=report.duration_s)

    def require_current(self, rec, reverify=False):
        """Return ``rec`` if certified under the current suite, re-verifying it if ``reverify``.

        Raises
        ------
        NotCertified
            Not certified, no passing verification, or certified under an older
            suite (and ``reverify`` is False or the re-verification fails).
        """
        if rec.status != "certified":
            raise NotCertified(f"program {rec.sha256[:12]} for {rec.detector} is {rec.status}, not certified")
        latest = self.store.latest_verification(rec.sha256)
        if latest is None or not latest.passed:
            raise NotCertified(f"program {rec.sha256[:12]} has no passing verification")
        if latest.suite_version == self.suite_version:
            return rec
        if not reverify:
            raise NotCertified(
                f"program {rec.sha256[:12]} for {rec.detector} was certified under suite "
                f"{latest.suite_version}, current is {self.suite_version}; re-verification "
                f"is needed (das verify {rec.sha256[:12]})")
        ver = self.verify(rec.sha256)
        if not ver.passed or ver.suite_version != self.suite_version:
            raise NotCertified(f"program {rec.sha256[:12]} failed re-verification under suite "
                               f"{self.suite_version} (got {ver.suite_version}, passed={ver.passed})")
        return self.store.get(rec.sha256)

    def set_default(self, detector, sha):
        """Make ``sha`` (certified under the current suite) the program used for ``detector``."""
        self.require_current(self.store.get(sha))
        self.store.set_default(detector, sha)

    def certified(self, detector, reverify=False):
        """Return the certified program the runtime uses for ``detector``.

        The recorded default if there is one; otherwise the certified program
        with the highest label-free hardness in its latest verification.
        ``reverify`` re-verifies a program certified under an older suite
        instead of refusing it.

        Raises
        ------
        NotCertified
            If no program qualifies (the message says why).
        TamperedProgram
            If the default program was tampered with.
        """
        default = self.store.default(detector)
        if default is not None:
            return self.require_current(self.store.get(default), reverify)
        for sha in self.store.ranked(detector, self.suite_version):
            try:
                return self.require_current(self.store.get(sha))
            except (TamperedProgram, NotCertified):
                continue
        stale = 0
        for sha in self.store.ranked(detector, self.suite_version, current=False):
            stale += 1
            if reverify:
                try:
                    return self.require_current(self.store.get(sha), reverify=True)
                except (TamperedProgram, NotCertified):
                    continue
        if stale:
            raise NotCertified(
                f"{stale} program(s) for {detector} were certified under an older suite "
                f"than {self.suite_version}; re-verification is needed (das verify --detector {detector})")
        raise NotCertified(f"no certified program for detector {detector}")

    def ensure(self, detector, bundle=BUNDLED_PROGRAMS):
        """Return ``detector``'s certified program, certifying the bundled programs on first use.

        A program already certified (re-verified if its suite is stale) is
        returned unchanged (idempotent). Otherwise ``detector``'s programs in
        ``bundle`` are imported and verified here, and the hardest certified
        one (label-free hardness, ties by sha256, as the engine's loop chooses)
        becomes the default and is returned.

        Raises
        ------
        NotCertified
            If no program qualifies (the message says why).
        """
        from detectors import UnknownDetector, get_card

        try:
            name = get_card(detector).name
        except UnknownDetector:  # a user's own detector: nothing is bundled for it
            name = detector
        try:
            return self.certified(name, reverify=True)
        except NotCertified as exc:
            if not any(e["program"]["detector"] == name for e in read_bundle(bundle)):
                raise NotCertified(f"{exc}; {name} has no bundled programs: certify one "
                                   "(`das regenerate`, `das programs import`) or pass its source") from exc
        results = [r for r in self.import_bundle(bundle, detector=name) if r["passed"]]
        if not results:
            raise NotCertified(f"no bundled program for {name} passed verification under suite "
                               f"{self.suite_version} (see `das programs list --detector {name}`)")
        best = max(results, key=lambda r: (self.store.latest_verification(r["sha256"]).hardness or 0.0,
                                           r["sha256"]))
        self.set_default(name, best["sha256"])
        return self.store.get(best["sha256"])

    def add(self, source, detector, *, policy="", metadata=None, make_default=False):
        """Store a program written by a user, verify it now and, if ``make_default`` and it is
        certified, make it ``detector``'s default.

        Returns
        -------
        (str, program_store.VerificationRecord)
            The sha256 and the verification just recorded.
        """
        sha = self.store.add(source, detector, policy=policy, backend="user", metadata=metadata)
        ver = self.verify(sha)
        if make_default and ver.passed:
            self.set_default(detector, sha)
        return sha, ver

    def import_bundle(self, path, detector=None):
        """Import a bundle (hashes checked) and verify every live program locally.

        ``detector``: only that detector's programs.

        Returns
        -------
        list of dict
            One ``{"sha256", "detector", "status", "passed"}`` per program;
            ``passed`` is None for programs imported revoked (never verified).
        """
        results = []
        for entry in import_bundle(self.store, path, detector=detector):
            if entry["status"] == "revoked":
                results.append(dict(entry, passed=None))
                continue
            ver = self.verify(entry["sha256"])
            results.append(dict(entry, status=self.store.get(entry["sha256"]).status, passed=ver.passed))
        return results

    def resolve(self, sha_or_prefix, detector):
        """Return the program ``sha_or_prefix`` if it may run for ``detector``.

        Raises
        ------
        ProgramNotFound, TamperedProgram
            No such program, or its source no longer matches its hash.
        ProgramRefused
            The program belongs to another detector.
        NotCertified
            It is not certified under the current suite.
        """
        rec = self.store.get(self.store.resolve(sha_or_prefix))  # re-hashes: TamperedProgram on mismatch
        if rec.detector.lower() != detector.lower():
            raise ProgramRefused(f"program {rec.sha256[:12]} is for {rec.detector}, not {detector}")
        try:
            return self.require_current(rec)
        except NotCertified as exc:
            raise NotCertified(f"{exc}; only certified programs run (see `das verify`)") from exc


def resolve_program(program, detector, store=None):
    """Return ``(source, sha256_or_None)`` for an estimator's ``program`` argument.

    ``"certified"``: :meth:`Certification.ensure` (bundled programs certified
    on first use); a sha256 or unique prefix: :meth:`Certification.resolve`;
    any other text: a raw program source (research use; still audited and run
    only in the sandbox), returned with sha None without opening the store.

    Raises
    ------
    NotCertified, TamperedProgram, ProgramRefused, ValueError
    """
    if not isinstance(program, str) or not program.strip():
        raise ValueError("program must be 'certified', a sha256 or the source of generate_hard_anomalies")
    if program != "certified" and not _SHA_PREFIX.match(program):
        if "generate_hard_anomalies" not in program:
            raise ValueError("program source must define generate_hard_anomalies(n_samples, model, X_train)")
        return program, None
    with opened(store) as st:
        service = Certification(st)
        rec = service.ensure(detector) if program == "certified" else service.resolve(program, detector)
    return rec.source, rec.sha256


def certified_programs(detectors, store=None):
    """``{detector: ProgramRecord}`` of each detector's certified program (certified on first use).

    Opens the store at ``store`` (a path; None: the default store) and closes it.
    """
    with opened(store) as st:
        service = Certification(st)
        return {det: service.ensure(det) for det in detectors}

