"""generate -> audit -> verify -> repair -> store, for n candidates per detector.

Nothing an LLM writes is trusted: every extracted program is stored as a
candidate with its lineage (prompt sha256, parent sha256 for repairs, response
metadata), audited, verified by the property suite, and the outcome recorded.
A rejected program gets a repair prompt that carries the verifier's report,
for at most ``max_repair_rounds`` rounds. Verdicts are the certification
service's (:meth:`collab.certification.Certification.verify`: the static audit
and the sandbox's property suite, then ``useful`` and ``borderline``; it
records the verification and revokes a certified program that fails): the
loop never writes a verification itself, and the runtime requires the same verdict. The default program of a detector is chosen label-free, by
the service's ranking (the largest ``useful`` margin on the suite's planted
anomalies).
The replay corpus run through this loop ships as ``collab/bundled_programs.json``
(``das prompts corpus --bundle``), which the runtime certifies on first use.
"""
import logging
from dataclasses import dataclass, field

from das.engine.extract import ExtractionError, extract_program
from das.engine.llm import LLMError, NoRecordedResponse
from das.engine.prompts import build_prompt, build_repair_prompt
from das.engine.verdict import failed_properties, format_report

log = logging.getLogger("das.engine.loop")


@dataclass(frozen=True)
class LoopConfig:
    """Settings of :func:`generate_programs`."""

    n_candidates: int = 3
    max_repair_rounds: int = 2
    variant: str = "default"
    seed: int | None = None  # verification seed; None: each verification draws one from the OS
    set_default: bool = True


@dataclass
class CandidateResult:
    """What happened to one candidate (after its repair rounds).

    ``status``: ``certified``, ``rejected`` (verifier or audit said no after
    the last round), ``revoked`` (it passed, but this very source was revoked
    in the store), ``no-program`` (no extractable function) or
    ``unavailable`` (the backend had no response; a replay repair prompt
    without a recording keeps the previous status and its message).
    """

    index: int
    status: str
    sha256: str | None = None
    borderline: float | None = None
    rounds: int = 0
    parent_sha256: str | None = None
    message: str = ""
    report_text: str = ""
    lineage: list = field(default_factory=list)
    was: str | None = None  # the program's status in the store before this verification (None: new)

    def to_dict(self):
        """JSON-serializable dict."""
        return dict(self.__dict__)


def _response_meta(resp, prompt, round_no, index):
    return {"prompt_version": prompt.version, "round": round_no, "candidate": index,
            "usage": resp.usage, "latency_s": resp.latency_s, "response": resp.metadata}


class _Run:
    """One detector's loop; holds the injected collaborators."""

    def __init__(self, detector, client, service, config):
        self.detector, self.client, self.service = detector, client, service
        self.store, self.config = service.store, config

    def _check(self, sha):
        """Verify ``sha`` through the certification service (which records the outcome).

        Returns ``(passed, borderline, text, why)``: ``why`` is the one-line reason of a refusal.
        """
        ver = self.service.verify(sha, seed=self.config.seed)
        report = ver.report or {}
        failed = failed_properties(report)
        if "audit" in failed:
            why = "refused by the static audit"
        else:
            why = "refused by the property suite" + (f" ({', '.join(failed)})" if failed else "")
        return bool(ver.passed), report.get("borderline"), format_report(report, passed=ver.passed), why

    def candidate(self, index):
        """Run one candidate through its rounds."""
        cfg = self.config
        base = build_prompt(self.detector, cfg.variant)
        prompt, parent, result = base, None, CandidateResult(index, "unavailable")
        for round_no in range(cfg.max_repair_rounds + 1):
            try:
                resp = self.client.complete(prompt.text, sample=index if round_no == 0 else 0)
            except NoRecordedResponse as exc:
                if round_no == 0:  # the corpus holds fewer recordings than candidates asked for
                    result.status, result.message = "exhausted", str(exc)
                else:  # the verdict stands; replay has no answer to a repair prompt
                    result.message += "; the replay corpus holds no repair (--backend anthropic repairs)"
                return result
            except LLMError as exc:
                result.status, result.message = "unavailable", str(exc)
                return result
            result.rounds = round_no
            try:
                program = extract_program(resp.text)
            except ExtractionError as exc:
                result.status, result.message = "no-program", str(exc)
                prompt = build_repair_prompt(base, "# (no function found)", str(exc),
                                             round_no + 1, cfg.max_repair_rounds)
                continue
            sha = self.store.add(
                program.source, self.detector, policy=program.policy,
                prompt_sha256=prompt.sha256, prompt_variant=prompt.variant,
                backend=resp.backend, model=resp.model, parent_sha256=parent,
                metadata=_response_meta(resp, prompt, round_no, index))
            was = self.store.get(sha).status
            passed, borderline, text, why = self._check(sha)
            result.sha256, result.borderline, result.parent_sha256 = sha, borderline, parent
            result.report_text = text
            result.was = None if was == "candidate" else was
            result.lineage.append(sha)
            if passed and self.store.get(sha).status == "revoked":  # the same source, revoked before
                result.status, result.message = "revoked", "revoked in the store; never used again"
                return result
            if passed:
                result.status, result.message = "certified", ""
                return result
            result.status, result.message = "rejected", why
            prompt = build_repair_prompt(base, program.source, text, round_no + 1,
                                         cfg.max_repair_rounds)
            parent = sha
        return result


def generate_programs(detector, *, client, store, verifier=None, config=None, progress=None):
    """Generate, check and store ``config.n_candidates`` programs for ``detector``.

    Parameters
    ----------
    detector : str
        Canonical detector name (prompts use its card).
    client : engine.llm.LLMClient
    store : program_store.ProgramStore
    verifier : callable, optional
        ``verifier(source, detector, seed=...)`` -> report with ``passed``,
        ``suite_version``, ``duration_s``, ``to_dict()`` (``borderline``:
        the service's position, None when not measured); default
        :func:`collab.certification.verify_with_usefulness`. Given to the
        :class:`collab.certification.Certification` service that records it.
    config : LoopConfig, optional
    progress : callable, optional
        Called with each finished :class:`CandidateResult`.

    Returns
    -------
    list of CandidateResult
        In candidate order; stops early when the backend has no more responses
        for the first round (replay with fewer than n recordings).
    """
    from das.collab.certification import Certification

    config = config or LoopConfig()
    run = _Run(detector, client, Certification(store, verifier=verifier), config)
    results = []
    for index in range(config.n_candidates):
        res = run.candidate(index)
        if res.status == "exhausted" and index > 0:
            break  # fewer recordings than candidates asked for: not a failure
        if res.status == "exhausted":
            res.status = "unavailable"
        results.append(res)
        if progress:
            progress(res)
    if config.set_default:
        choose_default(store, detector, results)
    return results


def choose_default(store, detector, results):
    """Make the certified candidate the service ranks first the detector's default (label-free).

    Returns the chosen sha256 or None when no candidate was certified.
    """
    from das.collab.certification import rank_key

    certified = [r for r in results if r.status == "certified"]
    if not certified:
        return None
    best = max(certified, key=lambda r: rank_key(store.latest_verification(r.sha256), r.sha256))
    store.set_default(detector, best.sha256)
    log.info("default program for %s: %s", detector, best.sha256[:12])
    return best.sha256

