"""Assemble a results directory: tables (Markdown + CSV), plots, report.md/html.

Input is the JSONL cell log written by :func:`collab.bench.grid.run_grid`.
Fig. 5 / embedding panels need scores of individual samples, which the log
does not keep (it stays small); they are recomputed for a few named datasets
with the same default configuration and the certified programs.
"""
import html
import json
import warnings
from pathlib import Path

from das.collab.bench import plots, tables
from das.collab.bench.errors import BenchError
from das.collab.bench.log import ResultLog

LOG_NAME = "cells.jsonl"


def find_log(results):
    """Path of the JSONL log given a results directory or the file itself."""
    path = Path(results)
    if path.is_dir():
        path = path / LOG_NAME
    if not path.is_file():
        raise BenchError(f"no benchmark results at {results} "
                         f"(expected a directory with {LOG_NAME} or a .jsonl file)")
    return path


def read_log(results):
    """``(records, unreadable)``: the cell records of a results directory or JSONL file, and how many
    lines were left out (said once by an :class:`UnreadableLinesWarning`)."""
    log = ResultLog(find_log(results))
    records = log.records()
    if log.unreadable:
        warnings.warn(f"{log.path}: {log.unreadable} line(s) are not cell records (torn by an interruption, "
                      "or not written by das bench) and are left out", UnreadableLinesWarning)
    if not records:
        raise BenchError(f"{results} holds no cell records")
    return records, log.unreadable


def load_records(results):
    """All records of a results directory or JSONL file (:func:`read_log`)."""
    return read_log(results)[0]


class UnreadableLinesWarning(UserWarning):
    """Lines of a results log that are not cell records were left out."""


def build_report(results, out_dir, *, figure_data=None):
    """Write tables, plots and ``report.md`` / ``report.html`` to ``out_dir``.

    Parameters
    ----------
    results : path
        Results directory (with ``cells.jsonl``) or a JSONL file.
    out_dir : path
    figure_data : list of (dataset, detector, data) or None
        Output of :func:`plots.figure_scores` for the Fig. 5 / embedding panels.

    Returns
    -------
    dict
        ``files`` written and ``n_records`` / ``n_ok`` / ``n_failed``, ``n_left_out`` (cells of
        earlier grids) and ``n_unreadable`` (log lines that are not cell records).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = _meta(Path(results))
    records, unreadable = read_log(results)
    records, left_out = _last_grid(records, meta.get("run"))
    tabs = tables.write_tables(records, out)
    figures = []
    _, s_header, s_rows = tabs["summary_auc_pr"]
    if s_rows:
        plots.plot_delta_bars(s_header, s_rows, out / "delta_auc_pr.png")
        figures.append(("Mean delta AUC-PR over base, per detector and method", "delta_auc_pr.png"))
    for dataset, detector, data in figure_data or []:
        stem = f"{dataset}_{detector}".replace("/", "_")
        plots.plot_score_densities(data, out / f"density_{stem}.png",
                                   f"{detector} on {dataset}: scores before vs after enhancement (sum)")
        plots.plot_embedding(data, out / f"embedding_{stem}.png",
                             f"{dataset}: PCA of test and synthetic rows")
        figures.append((f"Score densities, {detector} on {dataset} (Fig. 5 style)", f"density_{stem}.png"))
        figures.append((f"2-D embedding, {dataset} ({detector} program)", f"embedding_{stem}.png"))
    latest = {r.get("key"): r for r in records}
    counts = {"n_records": len(latest), "n_ok": sum(r.get("status") == "ok" for r in latest.values())}
    counts["n_failed"] = counts["n_records"] - counts["n_ok"]
    counts["n_left_out"], counts["n_unreadable"] = left_out, unreadable
    (out / "report.md").write_text(_markdown(tabs, figures, counts, meta))
    (out / "report.html").write_text(_html(tabs, figures, counts, meta))
    files = [f"{name}.{ext}" for name in tabs for ext in ("md", "csv")] + [png for _, png in figures]
    return {"out": str(out), "files": sorted(files + ["report.html", "report.md"]), **counts}


def _last_grid(records, run):
    """The records of the grid the last ``das bench`` ran; a reused directory keeps older cells.

    Returns ``(records, n_left_out)``, counting left-out cells once each.
    """
    if not run or "datasets" not in run:
        return records, 0
    from das.collab.evaluate import PROGRAM_METHODS

    grid = {"dataset": set(run["datasets"]), "detector": set(run["detectors"]), "seed": set(run["seeds"])}
    # A detector without a certified program ran the grid's methods less those that need one.
    methods = (set(run["methods"]), set(run["methods"]) - PROGRAM_METHODS)
    kept = [r for r in records if all(r.get(k) in v for k, v in grid.items())
            and set(r.get("methods") or run["methods"]) in methods]
    return kept, len({r.get("key") for r in records}) - len({r.get("key") for r in kept})


def _run_lines(run):
    """The run configuration as ``name: value`` lines (lists comma-separated)."""
    return [f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in run.items()]


def _cells_line(counts):
    line = f"Cells: {counts['n_records']} ({counts['n_ok']} ok, {counts['n_failed']} failed)."
    if counts["n_left_out"]:
        line += (f" {counts['n_left_out']} cell(s) of earlier runs in the same directory are left out "
                 "(not in the last command's grid).")
    if counts["n_unreadable"]:
        line += f" {counts['n_unreadable']} line(s) of the log are not cell records and are left out."
    return line


def _meta(results):
    """command.txt / run.json beside the log, when present."""
    base = results if results.is_dir() else results.parent
    meta = {}
    if (base / "command.txt").is_file():
        meta["command"] = (base / "command.txt").read_text().strip()
    if (base / "run.json").is_file():
        meta["run"] = json.loads((base / "run.json").read_text())
    return meta


def _markdown(tabs, figures, counts, meta):
    parts = ["# das benchmark report\n", _cells_line(counts) + "\n"]
    if "command" in meta:
        parts.append(f"Command:\n\n```\n{meta['command']}\n```\n")
    if "run" in meta:
        parts.append("Run:\n\n" + "\n".join(f"- {line}" for line in _run_lines(meta["run"])) + "\n")
    for title, png in figures:
        parts.append(f"![{title}]({png})\n")
    for name, (title, header, rows) in tabs.items():
        parts.append(f"## {title}\n\n({name}.csv)\n\n" + tables.to_markdown(header, rows))
    return "\n".join(parts)


def _html(tabs, figures, counts, meta):
    esc = html.escape
    body = ["<h1>das benchmark report</h1>", f"<p>{esc(_cells_line(counts))}</p>"]
    if "command" in meta:
        body.append(f"<pre>{esc(meta['command'])}</pre>")
    if "run" in meta:
        body.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in _run_lines(meta["run"])) + "</ul>")
    for title, png in figures:
        body.append(f"<figure><img src='{esc(png)}' alt='{esc(title)}'>"
                    f"<figcaption>{esc(title)}</figcaption></figure>")
    for title, header, rows in tabs.values():
        body.append(f"<h2>{esc(title)}</h2>" + tables.to_html(header, rows))
    style = ("<style>body{font-family:sans-serif;font-size:13px} td{text-align:right}"
             " table,th,td{border:1px solid #999;border-collapse:collapse;padding:3px}</style>")
    head = f"<head><meta charset='utf-8'><title>das benchmark</title>{style}</head>"
    return f"<!doctype html><html>{head}<body>" + "\n".join(body) + "</body></html>\n"
