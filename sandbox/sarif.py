"""Verification reports as SARIF 2.1.0, the format code-scanning tools read.

One run over the audited files. One result per static-audit finding (at its line) and one per failed
property of the suite (at the line of ``generate_hard_anomalies``, the code
that failed it). Properties that never ran because the static checks failed
are listed in the run's properties, not as results. Every rule the results
use is described in ``tool.driver.rules``; each file's verdict, borderline and depth,
suite version and seed are kept in the run's property bag.
"""
import ast
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from das.sandbox.audit import audit_source
from das.sandbox.rules import ENTRY_POINT
from das.sandbox.untrusted import clean_text

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "das-audit"
AUDIT_PREFIX = "audit/"
PROPERTY_PREFIX = "property/"


def _tool_version():
    try:
        return version("das")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def not_run(prop):
    """True for a property the suite skipped (its static checks failed first)."""
    return prop.get("value") is None and str(prop.get("detail") or "").startswith("not run")


def entry_line(source):
    """Line of the ``generate_hard_anomalies`` definition (1 when there is none or it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 1
    lines = [n.lineno for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == ENTRY_POINT]
    return lines[0] if lines else 1


def _location(uri, line):
    return {"physicalLocation": {"artifactLocation": {"uri": uri},
                                 "region": {"startLine": max(1, int(line))}}}


def _rule(rule_id, text, help_text):
    return {"id": rule_id, "name": rule_id.split("/", 1)[1],
            "shortDescription": {"text": text}, "fullDescription": {"text": help_text},
            "defaultConfiguration": {"level": "error"}}


def _property_message(prop):
    value, threshold = prop.get("value"), prop.get("threshold")
    text = f"property {prop['name']} failed: measured {value!r}, threshold {threshold!r}"
    detail = prop.get("detail")
    return clean_text(f"{text}. {detail}" if detail else text, keep_newlines=False)


class Audited(NamedTuple):
    """One audited program file.

    ``report``: :meth:`sandbox.properties.VerificationReport.to_dict` (or a
    stored verification's report); ``source``: the program text the report is
    about; ``uri``: where the file lives, relative to the repository root;
    ``text``: the whole file when the program was extracted from it (an LLM
    answer with fences), so that line numbers point into the file.
    """

    uri: str
    source: str
    report: dict
    text: str | None = None


def _offset(item):
    """Lines before the program inside its file (0 when the file is the program)."""
    at = -1 if item.text is None else item.text.find(item.source)
    return item.text[:at].count("\n") if at > 0 else 0


def to_sarif(audited):
    """SARIF 2.1.0 log (a dict) with one run over the :class:`Audited` files ``audited``.

    The audit is run again on each source for line-level findings (static, milliseconds).
    """
    rules, results, artifacts, verdicts = [], [], [], {}

    def add(rule_id, text, help_text, message, uri, line):
        ids = [r["id"] for r in rules]
        if rule_id not in ids:
            rules.append(_rule(rule_id, text, help_text))
            ids.append(rule_id)
        results.append({"ruleId": rule_id, "ruleIndex": ids.index(rule_id), "level": "error",
                        "message": {"text": message}, "locations": [_location(uri, line)]})

    for item in audited:
        uri, report, offset = quote(Path(item.uri).as_posix()), item.report, _offset(item)
        artifacts.append({"location": {"uri": uri}})
        for finding in audit_source(item.source).findings:
            add(AUDIT_PREFIX + finding.rule, f"static audit rule {finding.rule}",
                "The static audit refuses programs that could leave the sandbox's allow-list.",
                clean_text(f"{finding.rule}: {finding.message}", keep_newlines=False), uri,
                finding.line + offset)
        props = report.get("properties", [])
        for prop in props:
            if prop.get("passed") or not_run(prop) or prop["name"] == "audit":
                continue  # the audit's findings are itemized above, line by line
            add(PROPERTY_PREFIX + prop["name"], f"property {prop['name']}",
                clean_text(f"threshold: {prop.get('threshold')!r}", keep_newlines=False),
                _property_message(prop), uri, entry_line(item.source) + offset)
        verdicts[uri] = {
            "verdict": "CERTIFIABLE" if report.get("passed") else "REJECTED",
            "detector": report.get("detector"), "seed": report.get("seed"),
            "suiteVersion": report.get("suite_version"), "borderline": report.get("borderline"),
            "depth": report.get("depth"),
            "notRun": [p["name"] for p in props if not_run(p)],
        }
    run = {
        "tool": {"driver": {"name": TOOL_NAME, "version": _tool_version(), "rules": rules}},
        "artifacts": artifacts,
        "results": results,
        "invocations": [{"executionSuccessful": True}],
        "properties": {"programs": verdicts},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
