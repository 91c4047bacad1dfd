"""``das programs ...`` and ``das verify``: inspect, verify, revoke and move stored programs."""
import json
from pathlib import Path

import click

from das.collab.certification import Certification, useful_bound, useful_margin
from das.engine.cli._common import (
    canonical_detector,
    detector_option,
    echo,
    echo_json,
    json_option,
    read_program_file,
    refuse_overwriting,
    store_option,
    verification_seed_option,
    writable_file,
)
from das.engine.verdict import failed_properties, format_report
from das.program_store import (ProgramNotFound, ProgramStore, StoreError, TamperedProgram, default_store_path,
                               export_bundle)
from das.program_store.hashing import source_sha256
from das.program_store.records import STATUSES


def _open(store_path, existing=False):
    """The store at ``store_path`` (None: the default one); ``existing``: refuse one that is not
    there yet instead of creating it (commands that only read: a mistyped path makes nothing)."""
    if existing and not _store_file(store_path).exists():
        raise StoreError(f"no store at {_store_file(store_path)} (das enhance, score, demo and programs "
                         "add/import make one; check --store or $DAS_STORE)")
    return ProgramStore(store_path)


def _store_file(store_path):
    return Path(store_path).expanduser() if store_path else default_store_path()


def _indent(text, pad="    "):
    return "\n".join(pad + line for line in (text or "").splitlines()) or pad + "(none)"


@click.group("programs")
def programs():
    """Inspect, verify, revoke, export and import stored programs."""


@programs.command("list")
@detector_option(default=None, callback=canonical_detector, help="Only programs for this detector.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@store_option
@json_option
def list_cmd(detector, status, store_path, as_json):
    """List stored programs (oldest first); `default` marks the program each detector runs.

    `borderline` is the position of the program's rows under the
    detector (0: a typical normal row, 1: a typical random outlier); `useful`
    is the margin of its enhancement over the better of the detector and random
    outliers, in mean AUC-PR on the suite's planted anomalies, and `bound` its
    90% lower confidence bound over seeds and datasets (all from the latest
    verification; certification needs the bounds of both above 0).
    """
    if not _store_file(store_path).exists():  # nothing to list, and nothing made at a mistyped path
        echo_json([]) if as_json else echo(f"no programs (no store at {_store_file(store_path)} yet; the bundled "
                                           "programs are certified on first use: das demo, das enhance or das score)")
        return
    with _open(store_path) as store:
        recs = store.list(detector=detector, status=status)
        defaults = {store.default(d) for d in {r.detector for r in recs}}
        latest = {r.sha256: store.latest_verification(r.sha256) for r in recs}
    rows = [{k: v for k, v in r.to_dict().items() if k not in ("source", "hardness")}
            | {"default": r.sha256 in defaults, "useful_margin": useful_margin(latest[r.sha256]),
               "useful_lower_bound": useful_bound(latest[r.sha256]),
               "borderline": _borderline(latest[r.sha256])} for r in recs]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        echo("no programs" + ("" if detector or status else " (the bundled programs are certified on first use: "
                                                          "das demo, das enhance or das score)"))
        return
    echo(f"{'sha256':<12}  {'detector':<8} {'status':<9} {'borderline':>10} {'useful':>7} {'bound':>7}  "
         f"{'default':<7}  "
         f"{'created':<19}  {'prompt':<10} parent")
    for r, row in zip(recs, rows):
        border = "-" if row["borderline"] is None else f"{row['borderline']:.3f}"
        useful, bound = (_signed(row[k], 3) for k in ("useful_margin", "useful_lower_bound"))
        echo(f"{r.sha256[:12]}  {r.detector:<8} {r.status:<9} {border:>10} {useful:>7} {bound:>7}  "
             f"{'yes' if row['default'] else '':<7}  {r.created_at[:19]}  "
             f"{r.prompt_variant or '-':<10} {(r.parent_sha256 or '-')[:12]}")


@programs.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@detector_option(required=True, callback=canonical_detector, help="Detector family the program targets.")
@click.option("--default", "make_default", is_flag=True,
              help="Also make it the program the detector runs (when certified).")
@verification_seed_option
@store_option
@json_option
@click.pass_context
def add(ctx, file, detector, make_default, seed, store_path, as_json):
    """Store the program you wrote in FILE: audit, property suite, then the verdict.

    FILE may be plain Python or an LLM answer with ``` fences. The program is
    stored either way (a rejected one for the record); only a CERTIFIED
    program runs. Exit code 0 when certified, 1 when rejected.
    """
    from das.engine.extract import ExtractionError, extract_program

    source = read_program_file(file)
    try:
        policy = extract_program(source).policy
    except ExtractionError:
        policy = ""  # the audit below says what is wrong with it
    with _open(store_path) as store:
        _refuse_revoked(store, source_sha256(source))
        sha, ver = Certification(store).add(source, detector, policy=policy, metadata={"file": str(file)},
                                            make_default=make_default, seed=seed)
        status = store.get(sha).status
    if as_json:
        echo_json({"sha256": sha, "detector": detector, "status": status, "passed": ver.passed,
                   "default": bool(make_default and ver.passed), "report": ver.report})
    else:
        echo(f"program {file} -> {sha[:12]}")
        echo(format_report(ver.report, passed=ver.passed))
        echo(f"stored {sha[:12]} for {detector}: {status}"
             + (" (default)" if make_default and ver.passed else "")
             + (" (it stays revoked and never runs)" if status == "revoked" else ""))
    ctx.exit(0 if ver.passed and status == "certified" else 1)


def _refuse_revoked(store, sha):
    """A revoked program stays revoked: adding its source again is an error, and the suite is not run."""
    try:
        if store.get(sha).status != "revoked":
            return
    except (ProgramNotFound, TamperedProgram):  # new, or a tampered row that adding restores
        return
    reasons = [e["detail"].get("reason") for e in store.events(sha) if e["kind"] == "revoked"]
    raise StoreError(f"program {sha[:12]} is revoked ({reasons[-1] if reasons else 'no reason recorded'}); "
                     "adding it again does not restore it, and a revoked program never runs")


@programs.command("show")
@click.argument("sha")
@store_option
@json_option
@click.option("--html", "html_dir", type=click.Path(file_okay=False), default=None,
              help="Also write the latest verification as a self-contained HTML report into this directory.")
def show(sha, store_path, as_json, html_dir):
    """Show a program's policy, source and verification evidence (SHA may be a unique prefix)."""
    with _open(store_path, existing=True) as store:
        rec = store.get(store.resolve(sha))
        vers = store.verifications(rec.sha256)
        if html_dir is not None:
            _write_html(html_dir, rec, vers, err=as_json)
        if as_json:
            echo_json({"program": rec.to_dict(), "verifications": [v.to_dict() for v in vers]})
            return
    echo(f"program   {rec.sha256}\ndetector  {rec.detector}\nstatus    {rec.status}\n"
         f"created   {rec.created_at}\nprompt    {rec.prompt_sha256 or '-'} "
         f"({rec.prompt_variant or '-'})\nllm       {rec.backend or '-'} / {rec.model or '-'}\n"
         f"parent    {rec.parent_sha256 or '-'}")
    echo(f"\npolicy:\n{_indent(rec.policy)}\n\nsource:\n{_indent(rec.source)}\n")
    echo(f"verifications ({len(vers)}):")
    for v in vers:
        echo(f"    #{v.id} suite {v.suite_version} {'PASSED' if v.passed else 'FAILED'} {_useful_text(v)} "
             f"borderline={(v.report or {}).get('borderline')} duration={v.duration_s}s at {v.created_at[:19]}")
    if vers:
        report = vers[-1].report
        props = report.get("properties") if isinstance(report, dict) else None
        echo("latest report:")
        if isinstance(props, list) and all(isinstance(p, dict) and "name" in p for p in props):
            echo(_indent(format_report(report, passed=vers[-1].passed)))
        else:
            echo(_indent(json.dumps(report, indent=2, sort_keys=True)))


def _write_html(html_dir, rec, vers, err):
    """The auditor's HTML page of ``rec``'s latest verification."""
    from das.sandbox.html_report import write_report

    if not vers:
        raise StoreError(f"program {rec.sha256[:12]} has no verification to report; "
                         "run `das programs verify` first")
    path = write_report(html_dir, rec.sha256[:12], rec.source, {"detector": rec.detector, **vers[-1].report})
    echo(f"report written to {path}", err=err)


def _signed(value, digits=4):
    return "-" if value is None else f"{value:+.{digits}f}"


def _useful_text(verification):
    """``seed S  useful +m (90% lower bound +b)`` of a verification (what a reader needs to replay it);
    the confidence is the verdict's own (a later look's is higher)."""
    report = verification.report if verification is not None and isinstance(verification.report, dict) else {}
    confidence = (report.get("usefulness") or {}).get("confidence") if isinstance(report.get("usefulness"), dict) else None
    level = f"{confidence:.1%}".replace(".0%", "%") if isinstance(confidence, float) and 0 < confidence < 1 else "90%"
    return (f"seed {report.get('seed', '-')}  useful {_signed(useful_margin(verification))} "
            f"({level} lower bound {_signed(useful_bound(verification))})")


def _borderline(verification):
    """The service's borderline position in a verification's report (None when not measured)."""
    return None if verification is None else (verification.report or {}).get("borderline")


def _verify_one(service, sha, seed):
    """Verify ``sha``; a tampered program is reported (never run), not raised. ``was``: its status before."""
    try:
        was = service.store.get(sha).status
        ver = service.verify(sha, seed=seed)
    except TamperedProgram as exc:
        return {"sha256": sha, "passed": False, "suite_version": None, "borderline": None, "was": "tampered",
                "status": "tampered", "duration_s": None, "error": str(exc)}
    failed = failed_properties(ver.report or {})
    return {"sha256": sha, "passed": ver.passed, "suite_version": ver.suite_version, "was": was,
            "seed": (ver.report or {}).get("seed"), "useful_margin": useful_margin(ver),
            "useful_lower_bound": useful_bound(ver), "useful_text": _useful_text(ver),
            "borderline": _borderline(ver), "status": service.store.get(sha).status,
            "duration_s": ver.duration_s, "failed": failed}


def _counts(result, named):
    """Whether a failed verification is a failure of the store: a program named on the command line, a
    certified program that failed (it is revoked now) or a tampered one. A program picked by --all or
    --detector that never certified (a rejected bundled program) failing again is no news."""
    return result["sha256"] in named or result["was"] in ("certified", "tampered")


def _verify(ctx, shas, detector, all_, seed, store_path, as_json):
    """Shared body of ``das programs verify`` and ``das verify``; exit 1 if a program failed that counts."""
    if not (shas or detector or all_):
        raise click.UsageError("give program SHAs, --detector or --all")
    with _open(store_path) as store:
        named = [store.resolve(s) for s in shas]
        targets = list(named)
        if detector or all_:  # tampered rows are included: they must show up, and fail
            targets += [r.sha256 for r in store.list(detector=detector)
                        if r.status != "revoked" and r.sha256 not in targets]
        if not targets:
            raise StoreError("no programs to verify")
        service = Certification(store)
        results = []
        for sha in targets:  # each line as soon as its verdict is recorded: Ctrl-C shows what changed
            result = _verify_one(service, sha, seed)
            result["counts"] = not result["passed"] and _counts(result, named)
            results.append(result)
            if not as_json:
                _show_verification(result)
    if as_json:
        echo_json(results)
    failed = sum(r["counts"] for r in results)
    if failed and not as_json:
        echo(f"{failed} of {len(results)} program(s) failed verification", err=True)
    ctx.exit(1 if failed else 0)


def _show_verification(r):
    if r["status"] == "tampered":
        echo(f"{r['sha256'][:12]}  TAMPERED  its source no longer matches its sha256 "
             f"(revoke it, or restore it with `das programs add` / `das programs import`)")
        return
    border = "-" if r["borderline"] is None else f"{r['borderline']:.3f}"
    why = f"  failed: {', '.join(r['failed'])}" if r["failed"] else ""
    never = "  (never certified)" if not r["passed"] and not r["counts"] else ""
    was = f" (was {r['was']})" if r["was"] != r["status"] else ""
    echo(f"{r['sha256'][:12]}  {'PASSED' if r['passed'] else 'FAILED'}  "
         f"suite {r['suite_version']}  {r['useful_text']}  borderline {border}  -> {r['status']}{was}{why}{never}")


def _verify_options(fn):
    """Options shared by ``das programs verify`` and ``das verify``."""
    for deco in reversed([
        click.argument("shas", nargs=-1),
        detector_option(default=None, callback=canonical_detector,
                        help="Verify every live program of this detector."),
        click.option("--all", "all_", is_flag=True, help="Verify every live program."),
        verification_seed_option, store_option, json_option, click.pass_context,
    ]):
        fn = deco(fn)
    return fn


@programs.command("verify")
@_verify_options
def programs_verify(ctx, shas, detector, all_, seed, store_path, as_json):
    """Re-run the property suite on programs and record the outcome (SHA prefixes allowed).

    Exit code 1 when a program named by SHA fails, a certified program fails
    (it is then revoked) or a program was tampered with; programs picked by
    --all or --detector that never certified (rejected ones) are listed but
    do not fail the command.
    """
    _verify(ctx, shas, detector, all_, seed, store_path, as_json)


@click.command("verify")
@_verify_options
def verify(ctx, shas, detector, all_, seed, store_path, as_json):
    """Re-run the property suite on programs (same as das programs verify)."""
    _verify(ctx, shas, detector, all_, seed, store_path, as_json)


@programs.command("revoke")
@click.argument("sha")
@click.option("--reason", required=True, help="Why the program is revoked (recorded).")
@store_option
@json_option
def revoke(sha, reason, store_path, as_json):
    """Revoke a program: recorded with its reason, never deleted."""
    with _open(store_path, existing=True) as store:
        full = store.resolve(sha)
        store.revoke(full, reason)
        status = next(r.status for r in store.list() if r.sha256 == full)
    if status != "revoked":
        raise StoreError(f"program {full[:12]} could not be revoked (its status is {status})")
    if as_json:
        echo_json({"sha256": full, "status": status, "reason": reason})
    else:
        echo(f"revoked {full[:12]}: {reason}")


@programs.command("export")
@click.option("--sha", "shas", multiple=True, help="Program to export (repeatable; prefix ok).")
@detector_option(default=None, callback=canonical_detector, help="Export every certified program of this detector.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), callback=writable_file, help="Bundle file to write.")
@store_option
@json_option
def export(shas, detector, out, store_path, as_json):
    """Export programs, policies and verification reports to one JSON bundle."""
    refuse_overwriting(out, (), store_path)
    with _open(store_path, existing=True) as store:
        summary = export_bundle(store, out, shas=[store.resolve(s) for s in shas],
                                detector=detector)
    if as_json:
        echo_json(summary)
    else:
        echo(f"exported {len(summary['programs'])} program(s) to {summary['path']}")


@programs.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False))
@verification_seed_option
@store_option
@json_option
def import_(bundle, seed, store_path, as_json):
    """Import a bundle: hashes checked, new programs verified here before certification.

    A bundle only adds candidates: programs already in the store keep their
    status and default, and programs the bundle marks revoked are skipped.
    """
    with _open(store_path) as store:
        results = Certification(store).import_bundle(bundle, seed=seed)
    if as_json:
        echo_json(results)
        return
    for r in results:
        note = (" (revoked in the bundle: not imported)" if r["status"] == "skipped" else
                "" if r["added"] else " (already in the store: kept as it was)")
        echo(f"{r['sha256'][:12]}  {r['detector']:<8} -> {r['status']}{note}")


@programs.command("history")
@click.argument("sha")
@store_option
@json_option
def history(sha, store_path, as_json):
    """Show a program's lineage (parents), verifications, runs and events."""
    with _open(store_path, existing=True) as store:
        hist = store.history(store.resolve(sha))
    if as_json:
        echo_json(hist)
        return
    prog = hist["program"]
    echo(f"program {prog['sha256']}  {prog['detector']}  {prog['status']}"
         + ("  TAMPERED" if hist["tampered"] else ""))
    echo("lineage:" if hist["lineage"] else "lineage: (no parent)")
    for i, p in enumerate(hist["lineage"], 1):
        echo(f"    {'  ' * (i - 1)}<- {p['sha256'][:12]} "
             + ("(not in this store)" if p.get("missing") else f"{p['status']} {p['created_at'][:19]}"))
    for c in hist["children"]:
        echo(f"    -> child {c['sha256'][:12]} {c['status']}")
    echo(f"verifications ({len(hist['verifications'])}):")
    for v in hist["verifications"]:
        report = v.get("report") or {}
        useful = report.get("usefulness") if isinstance(report.get("usefulness"), dict) else {}
        pooled = f" pooled {useful['looks']} looks" if isinstance(useful.get("looks"), int) and useful["looks"] > 1 else ""
        chosen = " (seed given: a replay)" if useful.get("chosen_seed") is True else ""
        echo(f"    #{v['id']} suite {v['suite_version']} {'PASSED' if v['passed'] else 'FAILED'}"
             f" seed={report.get('seed')}{chosen}{pooled} borderline={report.get('borderline')}"
             f" at {v['created_at'][:19]}")
    echo(f"runs ({len(hist['runs'])}):")
    for r in hist["runs"]:
        echo(f"    #{r['id']} data {r['dataset_fingerprint'][:12]} seed={r['seed']} "
             f"n_syn={r['n_syn']} metrics={json.dumps(r['metrics'], sort_keys=True)}")
    echo(f"events ({len(hist['events'])}):")
    for e in hist["events"]:
        echo(f"    {e['created_at'][:19]} {e['kind']} {json.dumps(e['detail'], sort_keys=True)}")
