"""``das audit``: static audit, sandbox runs and the property suite for one program file."""
from pathlib import Path

import click

from engine.cli._common import canonical_detector, detector_option, echo_json, json_option, read_program_file
from engine.cli._verdict import format_report


@click.command("audit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@detector_option(required=True, callback=canonical_detector,
                 help="Detector family the program targets (e.g. IForest, PCA, OCSVM, ECOD, LOF, KNN, DRL).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the generated datasets, the detector and every sandbox run.")
@json_option
@click.pass_context
def audit(ctx, file, detector, seed, as_json):
    """Certify the synthesis program in FILE for DETECTOR, or say exactly why not.

    Runs the static audit, the sandboxed runs and the property suite on generated
    data (never user data) and prints each property with its measured value and
    threshold. FILE may be plain Python or an LLM answer with ``` fences around
    the code. Exit code 0 when CERTIFIABLE, 1 when REJECTED.
    """
    from sandbox import verify_program

    source = read_program_file(file)
    report = verify_program(source, detector, seed=seed)
    if as_json:
        echo_json({"file": str(file), "verdict": _verdict(report), **report.to_dict()})
    else:
        click.echo(f"program {file}")
        click.echo(format_report(report.to_dict()))
    ctx.exit(0 if report.passed else 1)


def _verdict(report):
    return "CERTIFIABLE" if report.passed else "REJECTED"
