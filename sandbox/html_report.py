"""The auditor's report: one self-contained HTML page per program.

The page shows the source with each audit finding marked on its line, the
property table with measured values and thresholds, and the score-density
figure of :mod:`sandbox.density`. The program text is hostile: everything
from it is HTML-escaped, control and bidi characters are shown as visible
marks (never interpreted), and the page's Content-Security-Policy forbids
scripts and any fetch, so nothing in it can run or call out.
"""
import base64
import html
import json
import re
from pathlib import Path

from das.sandbox.audit import audit_source
from das.sandbox.sarif import entry_line, not_run
from das.sandbox.untrusted import show_controls

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:72em}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em}
.verdict{font-weight:bold;padding:.15em .5em;border-radius:3px;color:#fff}
.CERTIFIABLE{background:#2a7d2e} .REJECTED{background:#b3261e}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
td:nth-child(2){white-space:nowrap}
tr.fail td{background:#fdecea} tr.skip td{color:#777}
pre.src{background:#f7f7f7;border:1px solid #ddd;padding:.5em 0;overflow-x:auto}
.line{display:block;padding:0 .6em;white-space:pre} .no{color:#999;user-select:none;display:inline-block;width:3.5em}
.line.flagged{background:#fdecea;box-shadow:inset 4px 0 #b3261e}
.finding{display:block;white-space:pre-wrap;color:#b3261e;padding:0 .6em 0 4.6em;font-weight:bold}
.ctl{background:#ffd54f;color:#000;border-radius:2px}
"""


def _mark(char):
    return f'<span class="ctl" title="control character">U+{ord(char):04X}</span>'


def escape(text):
    """``text`` as HTML text: escaped, with invisible and control characters shown as marks."""
    return show_controls(html.escape(str(text), quote=True), mark=_mark)


def _shown(value):
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _source_block(source, findings, failed_at_entry):
    by_line = {}
    for finding in findings:
        by_line.setdefault(max(1, finding.line), []).append(f"{finding.rule}: {finding.message}")
    if failed_at_entry:
        by_line.setdefault(entry_line(source), []).append("failed properties: " + ", ".join(failed_at_entry))
    lines = source.split("\n")
    out = []
    for no, text in enumerate(lines, 1):
        notes = by_line.pop(no, [])
        cls = "line flagged" if notes else "line"
        out.append(f'<span class="{cls}" id="L{no}"><span class="no">{no}</span>{escape(text)}</span>')
        out += [f'<span class="finding">&#9650; {escape(note)}</span>' for note in notes]
    for no, notes in sorted(by_line.items()):  # findings past the last line (or line 0)
        out += [f'<span class="finding">line {no}: {escape(note)}</span>' for note in notes]
    return '<pre class="src">' + "".join(out) + "</pre>"


def _property_table(props):
    rows = ["<tr><th>property</th><th>result</th><th>measured</th><th>threshold</th><th>detail</th></tr>"]
    for p in props:
        state = "not run" if not_run(p) else ("pass" if p.get("passed") else "FAIL")
        cls = {"pass": "", "FAIL": "fail", "not run": "skip"}[state]
        measured = "" if state == "not run" else _shown(p.get("value"))
        threshold = "" if p.get("threshold") is None else _shown(p.get("threshold"))
        cells = [p.get("name"), state, measured, threshold, p.get("detail") or ""]
        rows.append(f'<tr class="{cls}">' + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _figure(density, svg):
    if svg is None:
        return "<p>No score figure (not computed for this page).</p>"
    note = "" if "synthesized" in density.scores else (
        f"<p>The program produced no rows in the sandbox (status {escape(density.status)}): "
        "only normal rows and random outliers are shown.</p>")
    data = base64.b64encode(svg.encode()).decode()
    return (f'<img id="density" alt="score densities" src="data:image/svg+xml;base64,{data}">{note}')


def render(source, report, title, density=None, svg=None):
    """The report page as a string.

    Parameters
    ----------
    source : str
        The program text (untrusted).
    report : dict
        A verification report (:meth:`VerificationReport.to_dict` or a stored one).
    title : str
        What the page is about (a file name or a sha256).
    density, svg : optional
        :class:`sandbox.density.ScoreDensity` and its SVG figure.
    """
    verdict = "CERTIFIABLE" if report.get("passed") else "REJECTED"
    props = report.get("properties", [])
    failed = [p["name"] for p in props if not p.get("passed") and not not_run(p) and p["name"] != "audit"]
    findings = audit_source(source).findings
    hardness = report.get("hardness")
    summary = (f"detector {escape(report.get('detector'))} &middot; seed {escape(report.get('seed'))} &middot; "
               f"suite {escape(report.get('suite_version'))} &middot; hardness "
               f"{'-' if hardness is None or verdict == 'REJECTED' else escape(f'{hardness:.3f}')}")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>das audit: {escape(title)}</title><style>{_STYLE}</style></head><body>",
        f'<h1>das audit: {escape(title)} <span class="verdict {verdict}" id="verdict">{verdict}</span></h1>',
        f"<p>{summary}</p>",
        f'<h2>Source ({len(findings)} audit finding{"s" * (len(findings) != 1)}, '
        f'{len(failed)} failed propert{"ies" if len(failed) != 1 else "y"})</h2>',
        _source_block(source, findings, failed),
        "<h2>Properties</h2>", _property_table(props),
        "<h2>Detector scores on a suite dataset</h2>", _figure(density, svg),
        "</body></html>",
    ])


def write_report(out_dir, name, source, report):
    """Write ``out_dir/<name>.html`` for ``source`` and its verification ``report``; return the path.

    ``name`` (a file name or a sha256) titles the page; characters other than
    letters, digits, ``.``, ``-`` and ``_`` become ``_`` in the file name.

    The figure fits the report's detector on the suite's base dataset for the
    report's seed and runs the program once more in the sandbox.
    """
    from das.sandbox.density import density_svg, score_density

    density = score_density(source, report["detector"], report.get("seed", 0))
    page = render(source, report, name, density, density_svg(density))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / (re.sub(r"[^\w.-]", "_", name) + ".html")
    path.write_text(page, encoding="utf-8")
    return path
