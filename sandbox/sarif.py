"""A verification report as SARIF 2.1.0, the format code-scanning tools read.

One result per static-audit finding (at its line) and one per failed
property of the suite (at the line of ``generate_hard_anomalies``, the code
that failed it). Properties that never ran because the static checks failed
are listed in the run's properties, not as results. Every rule the results
use is described in ``tool.driver.rules``; the verdict, hardness, suite
version and seed are kept in the run's property bag.
"""
import ast
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import quote

from sandbox.audit import audit_source
from sandbox.untrusted import clean_text

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
    lines = [n.lineno for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "generate_hard_anomalies"]
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


def to_sarif(report, source, uri):
    """SARIF 2.1.0 log (a dict) of a verification ``report`` for the program ``source`` at ``uri``.

    Parameters
    ----------
    report : dict
        :meth:`sandbox.properties.VerificationReport.to_dict` (or a stored
        verification's report).
    source : str
        The program text the report is about (audited again for line-level findings).
    uri : str or path
        Where the program lives, relative to the repository root; used as
        the artifact location of every result.
    """
    uri = quote(Path(uri).as_posix())
    rules, results = [], []

    def add(rule_id, text, help_text, message, line):
        ids = [r["id"] for r in rules]
        if rule_id not in ids:
            rules.append(_rule(rule_id, text, help_text))
            ids.append(rule_id)
        results.append({"ruleId": rule_id, "ruleIndex": ids.index(rule_id), "level": "error",
                        "message": {"text": message}, "locations": [_location(uri, line)]})

    for finding in audit_source(source).findings:
        add(AUDIT_PREFIX + finding.rule, f"static audit rule {finding.rule}",
            "The static audit refuses programs that could leave the sandbox's allow-list.",
            clean_text(f"{finding.rule}: {finding.message}", keep_newlines=False), finding.line)
    props = report.get("properties", [])
    for prop in props:
        if prop.get("passed") or not_run(prop) or prop["name"] == "audit":
            continue  # the audit's findings are itemized above, line by line
        add(PROPERTY_PREFIX + prop["name"], f"property {prop['name']}",
            clean_text(f"threshold: {prop.get('threshold')!r}", keep_newlines=False),
            _property_message(prop), entry_line(source))
    run = {
        "tool": {"driver": {"name": TOOL_NAME, "version": _tool_version(),
                            "rules": rules}},
        "artifacts": [{"location": {"uri": uri}}],
        "results": results,
        "invocations": [{"executionSuccessful": True}],
        "properties": {
            "verdict": "CERTIFIABLE" if report.get("passed") else "REJECTED",
            "detector": report.get("detector"), "seed": report.get("seed"),
            "suiteVersion": report.get("suite_version"), "hardness": report.get("hardness"),
            "notRun": [p["name"] for p in props if not_run(p)],
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
