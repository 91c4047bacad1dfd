"""``das audit``: static audit, sandbox runs and the property suite for one program file."""
from pathlib import Path

import click

from das.engine.cli._common import (
    canonical_detector,
    detector_option,
    echo,
    echo_json,
    json_option,
    read_program_file,
    store_option,
    verification_seed_option,
)
from das.engine.verdict import format_report

FORMATS = ("text", "json", "sarif")


@click.command("audit")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@detector_option(required=True, callback=canonical_detector,
                 help="Detector family the program targets (e.g. IForest, PCA, OCSVM, ECOD, LOF, KNN, DRL).")
@verification_seed_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Output: text, JSON (as --json) or SARIF 2.1.0 for code-scanning tools.")
@json_option
@click.option("--html", "html_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write a self-contained HTML report per file into this directory.")
@store_option
@click.pass_context
def audit(ctx, files, detector, seed, fmt, as_json, html_dir, store_path):
    """Certify the synthesis program in each FILE for DETECTOR, or say exactly why not.

    Runs the static audit, the sandboxed runs, the property suite and the
    certification service's `useful` and `borderline` properties on generated
    data (never user data), the same verdict `das regenerate`, `das programs
    add` and the runtime require, and prints each property with its measured
    value and threshold. A FILE may be plain Python or an LLM answer with ``` fences around
    the code. Exit code 0 when every FILE is CERTIFIABLE, 1 when one is REJECTED.
    JSON is one object for one FILE, a list for several.
    """
    from das.collab.certification import verify_with_usefulness
    from das.sandbox.sarif import Audited, to_sarif

    fmt = "json" if as_json else fmt
    if html_dir is not None:  # before the audit: a folder that cannot be made is a usage error
        try:
            html_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"cannot create {html_dir}: {exc.strerror}", param_hint="--html") from None
    audited = []
    for file in files:
        source = read_program_file(file, in_place=True)  # line N of the source is line N of the file
        audited.append(Audited(str(file), source, verify_with_usefulness(source, detector, seed=seed).to_dict()))
    if fmt == "sarif":
        echo_json(to_sarif(audited))
    elif fmt == "json":
        docs = [{"file": a.uri, "verdict": _verdict(a.report), "in_store": _stored_status(store_path, a.source),
                 **a.report} for a in audited]
        echo_json(docs[0] if len(docs) == 1 else docs)
    for a in audited:
        if fmt == "text":
            echo(f"program {a.uri}")
            echo(format_report(a.report))
            known = _stored_status(store_path, a.source)
            if known:
                echo(f"in the store: {known} (this audit judged one fresh draw; the store pools every drawn "
                     "verification: das programs history)")
        if html_dir is not None:
            from das.sandbox.html_report import write_report

            path = write_report(html_dir, Path(a.uri).name, a.source, a.report)
            echo(f"report written to {path}", err=fmt != "text")
    ctx.exit(0 if all(a.report["passed"] for a in audited) else 1)


def _verdict(report):
    return "CERTIFIABLE" if report["passed"] else "REJECTED"


def _stored_status(store_path, source):
    """``"<status> for <detector> (<sha12>)"`` when ``source`` is in the store, else None; the store is
    only read, and none is made where there is none."""
    from das.program_store import ProgramNotFound, ProgramStore, StoreError, TamperedProgram, source_sha256
    from das.program_store.paths import default_store_path

    path = Path(store_path) if store_path else default_store_path()
    if not path.is_file():
        return None
    sha = source_sha256(source)
    try:
        with ProgramStore(path) as store:
            rec = store.get(sha)
    except ProgramNotFound:
        return None
    except TamperedProgram:
        return f"tampered ({sha[:12]}: its stored record no longer matches its hash)"
    except StoreError as exc:
        return f"unknown: the store cannot be read ({exc})"
    return f"{rec.status} for {rec.detector} ({sha[:12]})"
