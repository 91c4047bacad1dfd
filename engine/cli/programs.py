"""``das programs ...`` and ``das verify``: inspect, verify, revoke and move stored programs."""
import json

import click

from collab.certification import Certification
from engine.cli._common import echo_json, json_option, store_option
from program_store import ProgramStore, StoreError, export_bundle
from program_store.records import STATUSES


def _open(store_path):
    return ProgramStore(store_path)


def _indent(text, pad="    "):
    return "\n".join(pad + line for line in (text or "").splitlines()) or pad + "(none)"


@click.group("programs")
def programs():
    """Inspect, verify, revoke, export and import stored programs."""


@programs.command("list")
@click.option("--detector", default=None, help="Only programs for this detector.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@store_option
@json_option
def list_cmd(detector, status, store_path, as_json):
    """List stored programs (oldest first)."""
    with _open(store_path) as store:
        recs = store.list(detector=detector, status=status)
        if as_json:
            echo_json([{k: v for k, v in r.to_dict().items() if k != "source"} for r in recs])
            return
        if not recs:
            click.echo("no programs")
            return
        click.echo(f"{'sha256':<12}  {'detector':<8} {'status':<9} {'hardness':>8}  {'created':<19}  "
                   "variant  parent")
        for r in recs:
            hard = "-" if r.hardness is None else f"{r.hardness:.3f}"
            click.echo(f"{r.sha256[:12]}  {r.detector:<8} {r.status:<9} {hard:>8}  {r.created_at[:19]}  "
                       f"{r.prompt_variant or '-'}  parent={(r.parent_sha256 or '-')[:12]}")


@programs.command("show")
@click.argument("sha")
@store_option
@json_option
def show(sha, store_path, as_json):
    """Show a program's policy, source and verification evidence (SHA may be a unique prefix)."""
    with _open(store_path) as store:
        rec = store.get(store.resolve(sha))
        vers = store.verifications(rec.sha256)
        if as_json:
            echo_json({"program": rec.to_dict(), "verifications": [v.to_dict() for v in vers]})
            return
    click.echo(f"program   {rec.sha256}\ndetector  {rec.detector}\nstatus    {rec.status}\n"
               f"created   {rec.created_at}\nprompt    {rec.prompt_sha256 or '-'} "
               f"({rec.prompt_variant or '-'})\nllm       {rec.backend or '-'} / {rec.model or '-'}\n"
               f"parent    {rec.parent_sha256 or '-'}")
    click.echo(f"\npolicy:\n{_indent(rec.policy)}\n\nsource:\n{_indent(rec.source)}\n")
    click.echo(f"verifications ({len(vers)}):")
    for v in vers:
        click.echo(f"    #{v.id} suite {v.suite_version} {'PASSED' if v.passed else 'FAILED'} "
                   f"hardness={v.hardness} duration={v.duration_s}s at {v.created_at[:19]}")
    if vers:
        report = vers[-1].report
        props = report.get("properties") if isinstance(report, dict) else None
        click.echo("latest report:")
        if isinstance(props, list) and all(isinstance(p, dict) for p in props):
            for p in props:
                click.echo(f"    {'ok  ' if p.get('passed') else 'FAIL'} {p.get('name')}: "
                           f"value={p.get('value')} threshold={p.get('threshold')} "
                           f"{p.get('detail') or ''}".rstrip())
        else:
            click.echo(_indent(json.dumps(report, indent=2, sort_keys=True)))


def _verify(shas, detector, all_, store_path, as_json):
    """Shared body of ``das programs verify`` and ``das verify``."""
    if not (shas or detector or all_):
        raise click.UsageError("give program SHAs, --detector or --all")
    with _open(store_path) as store:
        targets = [store.resolve(s) for s in shas]
        if detector or all_:
            targets += [r.sha256 for r in store.list(detector=detector)
                        if r.status not in ("revoked", "tampered") and r.sha256 not in targets]
        if not targets:
            raise StoreError("no programs to verify")
        service, results = Certification(store), []
        for sha in targets:
            ver = service.verify(sha)
            results.append({"sha256": sha, "passed": ver.passed, "suite_version": ver.suite_version,
                            "hardness": ver.hardness, "status": store.get(sha).status,
                            "duration_s": ver.duration_s})
    if as_json:
        echo_json(results)
        return
    for r in results:
        click.echo(f"{r['sha256'][:12]}  {'PASSED' if r['passed'] else 'FAILED'}  "
                   f"suite {r['suite_version']}  hardness={r['hardness']}  -> {r['status']}")


def _verify_options(fn):
    """Options shared by ``das programs verify`` and ``das verify``."""
    for deco in reversed([
        click.argument("shas", nargs=-1),
        click.option("--detector", default=None, help="Verify every live program of this detector."),
        click.option("--all", "all_", is_flag=True, help="Verify every live program."),
        store_option, json_option,
    ]):
        fn = deco(fn)
    return fn


@programs.command("verify")
@_verify_options
def programs_verify(shas, detector, all_, store_path, as_json):
    """Re-run the property suite on programs and record the outcome (SHA prefixes allowed)."""
    _verify(shas, detector, all_, store_path, as_json)


@click.command("verify")
@_verify_options
def verify(shas, detector, all_, store_path, as_json):
    """Re-run the property suite on programs (same as ``das programs verify``)."""
    _verify(shas, detector, all_, store_path, as_json)


@programs.command("revoke")
@click.argument("sha")
@click.option("--reason", required=True, help="Why the program is revoked (recorded).")
@store_option
@json_option
def revoke(sha, reason, store_path, as_json):
    """Revoke a program: recorded with its reason, never deleted."""
    with _open(store_path) as store:
        full = store.resolve(sha)
        store.revoke(full, reason)
    if as_json:
        echo_json({"sha256": full, "status": "revoked", "reason": reason})
    else:
        click.echo(f"revoked {full[:12]}: {reason}")


@programs.command("export")
@click.option("--sha", "shas", multiple=True, help="Program to export (repeatable; prefix ok).")
@click.option("--detector", default=None, help="Export every certified program of this detector.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Bundle file to write.")
@store_option
@json_option
def export(shas, detector, out, store_path, as_json):
    """Export programs, policies and verification reports to one JSON bundle."""
    with _open(store_path) as store:
        summary = export_bundle(store, out, shas=[store.resolve(s) for s in shas],
                                detector=detector)
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"exported {len(summary['programs'])} program(s) to {summary['path']}")


@programs.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False))
@store_option
@json_option
def import_(bundle, store_path, as_json):
    """Import a bundle: hashes checked, every program re-verified before certification."""
    with _open(store_path) as store:
        results = Certification(store).import_bundle(bundle)
    if as_json:
        echo_json(results)
        return
    for r in results:
        click.echo(f"{r['sha256'][:12]}  {r['detector']:<8} -> {r['status']}")


@programs.command("history")
@click.argument("sha")
@store_option
@json_option
def history(sha, store_path, as_json):
    """Show a program's lineage (parents), verifications, runs and events."""
    with _open(store_path) as store:
        hist = store.history(store.resolve(sha))
    if as_json:
        echo_json(hist)
        return
    prog = hist["program"]
    click.echo(f"program {prog['sha256']}  {prog['detector']}  {prog['status']}"
               + ("  TAMPERED" if hist["tampered"] else ""))
    click.echo("lineage:" if hist["lineage"] else "lineage: (no parent)")
    for i, p in enumerate(hist["lineage"], 1):
        click.echo(f"    {'  ' * (i - 1)}<- {p['sha256'][:12]} "
                   + ("(not in this store)" if p.get("missing") else f"{p['status']} {p['created_at'][:19]}"))
    for c in hist["children"]:
        click.echo(f"    -> child {c['sha256'][:12]} {c['status']}")
    click.echo(f"verifications ({len(hist['verifications'])}):")
    for v in hist["verifications"]:
        click.echo(f"    #{v['id']} suite {v['suite_version']} {'PASSED' if v['passed'] else 'FAILED'}"
                   f" hardness={v['hardness']} at {v['created_at'][:19]}")
    click.echo(f"runs ({len(hist['runs'])}):")
    for r in hist["runs"]:
        click.echo(f"    #{r['id']} data {r['dataset_fingerprint'][:12]} seed={r['seed']} "
                   f"n_syn={r['n_syn']} metrics={json.dumps(r['metrics'], sort_keys=True)}")
    click.echo(f"events ({len(hist['events'])}):")
    for e in hist["events"]:
        click.echo(f"    {e['created_at'][:19]} {e['kind']} {json.dumps(e['detail'], sort_keys=True)}")
