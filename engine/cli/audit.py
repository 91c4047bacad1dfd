"""``das audit``: static audit, sandbox runs and the property suite for one program file."""
from pathlib import Path

import click

from engine.cli._common import echo_json, json_option


def _read_source(path):
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read program file {path}: {exc}") from exc


def _check_detector(ctx, param, value):
    # Imported here: loading the detector registry (torch) is only needed for this command.
    from detectors import UnknownDetector, make_detector

    try:
        return make_detector(value).name
    except UnknownDetector as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("audit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--detector", "-d", required=True, callback=_check_detector,
    help="Detector family the program targets (e.g. IForest, PCA, OCSVM, ECOD, LOF, KNN, DRL).",
)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the generated datasets, the detector and every sandbox run.")
@json_option
@click.pass_context
def audit(ctx, file, detector, seed, as_json):
    """Certify the synthesis program in FILE for DETECTOR, or say exactly why not.

    Runs the static audit, the sandboxed runs and the property suite on generated
    data (never user data) and prints each property with its measured value and
    threshold. Exit code 0 when CERTIFIABLE, 1 when REJECTED.
    """
    from sandbox import verify_program

    source = _read_source(file)
    report = verify_program(source, detector, seed=seed)
    if as_json:
        echo_json({"file": str(file), "verdict": _verdict(report), **report.to_dict()})
    else:
        click.echo(f"program {file}")
        click.echo(report.format_text())
    ctx.exit(0 if report.passed else 1)


def _verdict(report):
    return "CERTIFIABLE" if report.passed else "REJECTED"
