"""``das demo``: the detectors on the embedded scikit-learn demo suite."""
import contextlib
import sys
import time

import click

from das.collab.demo import DEFAULT_DETECTORS, run_demo
from das.engine.cli._common import (SEED, AliasOption, canonical_detector, echo, echo_json, json_option,
                                    store_option)

METRICS = (("auc_pr", "AUC-PR"), ("auc_roc", "AUC-ROC"))


def format_matrix(rows, value, row_key="dataset", col_key="detector", fmt="{:.4f}", mean=True):
    """Aligned text table of ``value`` with one line per ``row_key`` and one column per ``col_key``.

    ``rows`` are dicts; lines and columns appear in first-seen order, so any
    set of method columns (detectors, "base"/"enhanced", ...) works. Missing
    cells print as "-"; ``mean`` adds a line of column means.
    """
    lines, cols, cells = [], [], {}
    for r in rows:
        if r[row_key] not in lines:
            lines.append(r[row_key])
        if r[col_key] not in cols:
            cols.append(r[col_key])
        cells[r[row_key], r[col_key]] = r[value]
    body = [[str(line)] + [fmt.format(cells[line, c]) if (line, c) in cells else "-" for c in cols]
            for line in lines]
    if mean and len(lines) > 1:
        means = []
        for c in cols:
            vals = [cells[line, c] for line in lines if (line, c) in cells]
            means.append(fmt.format(sum(vals) / len(vals)) if vals else "-")
        body.append(["mean"] + means)
    header = [row_key] + [str(c) for c in cols]
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]

    def render(row):
        return "  ".join([row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])])

    out = [render(header), "  ".join("-" * w for w in widths)] + [render(row) for row in body]
    if mean and len(lines) > 1:
        out.insert(-1, out[1])  # rule above the mean line
    return "\n".join(out)


def format_results(rows, metrics=METRICS, row_key="dataset", col_key="detector"):
    """One titled :func:`format_matrix` block per metric, separated by blank lines."""
    return "\n\n".join(f"{title}\n{format_matrix(rows, key, row_key, col_key)}" for key, title in metrics)


def _progress(stream):
    """A ``progress(done, total, dataset, detector)`` callback drawing on ``stream``."""
    tty = stream.isatty()

    def show(done, total, dataset, detector):
        text = f"[{done + 1}/{total}] {dataset}: {detector}"
        # On a terminal redraw one line; in logs write one line per step.
        if tty:
            echo("\r", file=stream, nl=False)
        echo(f"{text:<60s}" if tty else text, file=stream, nl=not tty)

    return show


def _detector_list(ctx, param, value):
    """Click callback: the registry's spelling of each comma-separated detector name (an unknown one,
    or none at all: exit 2); None: the default detectors."""
    if value is None:
        return DEFAULT_DETECTORS
    names = [canonical_detector(ctx, param, n.strip()) for n in value.split(",") if n.strip()]
    if not names:
        raise click.BadParameter("give at least one detector name", ctx, param)
    return names


@click.command("demo")
@click.option("--detector", "-d", "detector_list", cls=AliasOption, aliases=("--detectors",), default=None,
              callback=_detector_list,
              help="Comma-separated detector names (default: PCA,IForest,OCSVM,ECOD,LOF,KNN; "
                   "add DRL explicitly, its training is slow on CPU).")
@click.option("--base-only", is_flag=True,
              help="Only the base detectors (no synthesis, no enhancement).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="random_state of the detectors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line on stderr.")
@store_option
@json_option
def demo(detector_list, base_only, seed, quiet, store_path, as_json):
    """Run the full pipeline on the demo suite built from scikit-learn's bundled data.

    Datasets (no download): breast_cancer (10 malignant of 367, as ODDS WDBC),
    wine (10 of class 0 among classes 1-2, as ODDS Wine) and digits (50 zeros
    among digits 1-9, as ODDS Optdigits). Split: normals in file order, first
    half trains; test = other half + all anomalies. Each detector is fitted,
    enhanced with its certified synthesis program (the bundled corpus is
    certified into the store on first use) by sum fusion and by CoLLaTe-style
    fusion, and by auto, the default of `das enhance` and `das score` (chosen
    without labels among the certified programs, random outliers and no
    enhancement); AUC-PR and AUC-ROC of base / auto / sum / collate are
    printed, with what auto chose.
    """
    from das.collab.certification import first_use_notice

    stream = sys.stderr
    started = time.perf_counter()
    with first_use_notice(None) if quiet else contextlib.nullcontext():
        rows = run_demo(detectors=detector_list, seed=seed, enhance=not base_only, store=store_path,
                        progress=None if quiet else _progress(stream))
    wall = time.perf_counter() - started
    if not quiet and stream.isatty():
        echo("\r" + " " * 60 + "\r", file=stream, nl=False)
    if as_json:
        echo_json(rows)
        return
    if base_only:
        echo(format_results(rows))
    else:
        for r in rows:
            r["case"] = f"{r['dataset']} / {r['detector']}"
        echo(format_results(rows, row_key="case", col_key="method"))
        chose = [f"{r['case']}: {r['choice']}" + ("" if r["lam"] is None else f" at lambda {r['lam']:g}")
                 + (" (no option qualified)" if r["by_default"] else "") for r in rows if r["method"] == "auto"]
        echo("\nauto (the default) chose: " + "; ".join(chose))
    cells = {(r["dataset"], r["detector"]): r["seconds"] for r in rows}
    echo(f"\n{len(cells)} dataset x detector cells in {sum(cells.values()):.1f} s ({wall:.1f} s in all, "
         f"with reading the data and any first-use certification), seed {seed}")
