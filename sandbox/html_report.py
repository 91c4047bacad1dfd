"""The auditor's report: one self-contained HTML page per program.

The page shows the source with each audit finding marked on its line, the
property table with measured values and thresholds, and the score-density
figure of :mod:`sandbox.density`. The program text is hostile: everything
from it is HTML-escaped, control and bidi characters are shown as visible
escapes (never interpreted), the page's Content-Security-Policy forbids
scripts and any fetch, so nothing in it can run or call out, and its size is
bounded by the program's (:data:`MAX_SIZE_RATIO`).
"""
import base64
import html
import json
import re
from pathlib import Path

from das.sandbox.audit import audit_source
from das.sandbox.sarif import entry_line, not_run
from das.sandbox.untrusted import CONTROLS, show_controls

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
#: Findings written into the source listing; the rest are counted (``das audit`` lists them all).
MAX_NOTES = 200
#: The page is at most this many times the program's UTF-8 size, plus :data:`MAX_FIXED_BYTES`
#: (worst case: an isolated control character after ``&``, 2 bytes shown in 22).
MAX_SIZE_RATIO = 12
#: Bound on what does not grow with the program: style, summary, property table, figure, notes.
MAX_FIXED_BYTES = 1 << 20
_RUN = re.compile(f"(?:{CONTROLS.pattern})+")
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:72em}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em}
.verdict{font-weight:bold;padding:.15em .5em;border-radius:3px;color:#fff}
.CERTIFIABLE{background:#2a7d2e} .REJECTED{background:#b3261e}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
td:nth-child(2){white-space:nowrap}
tr.fail td{background:#fdecea} tr.skip td{color:#777}
ol.src{background:#f7f7f7;border:1px solid #ddd;padding:.5em .6em .5em 4.6em;overflow-x:auto;
font:13px/1.4 ui-monospace,monospace}
ol.src li{white-space:pre;padding-left:.6em} ol.src li::marker{color:#999}
li.flagged{background:#fdecea;box-shadow:inset 4px 0 #b3261e}
.finding{display:block;white-space:pre-wrap;color:#b3261e;font-weight:bold}
mark{background:#ffd54f;color:#000;border-radius:2px}
"""


def escape(text):
    """``text`` for an HTML text node (never an attribute): escaped, with each run of control and
    invisible characters shown as highlighted escapes (``<mark>\\x1b\\u202e</mark>``)."""
    text = html.escape(str(text), quote=False)
    return _RUN.sub(lambda run: "<mark>" + show_controls(run.group()) + "</mark>", text)


def _shown(value):
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _source_block(source, findings, failed_at_entry):
    """The source as an ordered list (the browser numbers the lines), findings under their lines.

    Markup grows with the program by a bounded factor (:data:`MAX_SIZE_RATIO`):
    a line costs ``<li>``, only flagged lines carry an anchor, and at most
    :data:`MAX_NOTES` findings are written out.
    """
    by_line = {}
    notes = [(max(1, f.line), f"{f.rule}: {f.message}") for f in findings]
    if failed_at_entry:
        notes.append((entry_line(source), "failed properties: " + ", ".join(failed_at_entry)))
    for line, note in notes[:MAX_NOTES]:
        by_line.setdefault(line, []).append(note)
    out = ['<ol class="src">']
    for no, text in enumerate(source.split("\n"), 1):
        marks = by_line.pop(no, [])
        out.append(f'<li class="flagged" id="L{no}">' if marks else "<li>")
        out.append(escape(text))
        out += [f'<span class="finding">&#9650; {escape(note)}</span>' for note in marks]
    out.append("</ol>")
    for no, marks in sorted(by_line.items()):  # findings past the last line
        out += [f'<p class="finding">line {no}: {escape(note)}</p>' for note in marks]
    if len(notes) > MAX_NOTES:
        out.append(f'<p class="finding">{len(notes) - MAX_NOTES} more findings not shown '
                   "(<code>das audit --format json</code> lists them all)</p>")
    return "".join(out)


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
    figures = "".join(
        f" &middot; {key} {'-' if report.get(key) is None or verdict == 'REJECTED' else escape(f'{report[key]:.3f}')}"
        for key in ("borderline", "depth"))
    summary = (f"detector {escape(report.get('detector'))} &middot; seed {escape(report.get('seed'))} &middot; "
               f"suite {escape(report.get('suite_version'))}{figures}")
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
