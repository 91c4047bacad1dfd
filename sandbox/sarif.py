"""Verification reports as SARIF 2.1.0, the format code-scanning tools read.

One run over the audited files. One result per static-audit finding (at its line) and one per failed
property of the suite (at the line of ``generate_hard_anomalies``, the code
that failed it). Properties that never ran because the static checks failed
are listed in the run's properties, not as results. Every rule the results
use is described in ``tool.driver.rules`` with its help; security rules carry
a ``security-severity``, and each result's level follows its rule's kind:
``error`` for security and for a program that cannot run correctly,
``warning`` for a quality property (hard, novel, useful, ...) it misses.
Each result has a partial fingerprint (rule, line text and occurrence, not
the line number) so a finding keeps its identity when lines move. Each
file's verdict, borderline and depth, suite version and seed are kept in the
run's property bag.

The log's size is bounded by the programs': a message is cut at
:data:`MAX_MESSAGE` characters, and a file's results past
:data:`MAX_RESULTS` are summed up in one result.
"""
import ast
import hashlib
from collections import Counter
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
FINGERPRINT = "dasFinding/v1"
#: Longest message text kept (characters); the rest is cut with a mark.
MAX_MESSAGE = 400
#: Results kept per file; the others are counted in one last result.
MAX_RESULTS = 200

_CWE = "https://cwe.mitre.org/data/definitions/{}.html"
#: Audit rules that guard the sandbox: (security-severity, public reference, help).
SECURITY_RULES = {
    "import-not-allowed": ("8.8", _CWE.format(829), "Only modules on the allow-list (numpy, math and a small "
                           "reviewed set) may be imported; anything else could reach files, processes or the network."),
    "dunder-access": ("9.1", _CWE.format(94), "Dunder attributes (__class__, __globals__, ...) lead from any "
                      "object to the interpreter's internals and out of the sandbox."),
    "dunder-key": ("9.1", _CWE.format(94), "A dunder name used as a key or keyword reaches interpreter internals "
                   "by another spelling."),
    "private-name": ("7.5", _CWE.format(94), "Names starting with '_' are reserved for the sandbox's guards."),
    "forbidden-name": ("9.1", _CWE.format(95), "eval, exec, compile, open, __import__, getattr, globals, vars "
                       "and similar built-ins run or reach arbitrary code."),
    "forbidden-call": ("8.1", _CWE.format(94), "This call builds new types or code at run time."),
    "forbidden-attribute": ("9.1", _CWE.format(94), "This attribute gives access to interpreter internals "
                            "(frames, code objects, generators' state)."),
    "numpy-denied": ("8.8", _CWE.format(73), "numpy entry points that read or write files, map memory, "
                     "unpickle or load native code are denied."),
    "node-not-allowed": ("7.5", _CWE.format(184), "Syntax outside the reviewed subset is refused until reviewed "
                         "(deny by default)."),
    "restricted-python": ("7.5", _CWE.format(184), "RestrictedPython, which compiles what the worker runs, "
                          "refuses this construct."),
    "too-deeply-nested": ("5.3", _CWE.format(674), "Nesting this deep can exhaust the parser's or compiler's "
                          "stack."),
    "bidi-control": ("8.3", "https://trojansource.codes/", "Bidirectional overrides and control characters make "
                     "code display differently than it runs (Trojan Source, CVE-2021-42574); write them as "
                     "escapes such as \\u202e inside strings, or remove them."),
}
#: Properties a program must hold to run correctly (anything else the suite measures is quality).
CORRECTNESS_PROPERTIES = frozenset({"audit", "signature", "runs", "shape", "finite", "no_mutation",
                                    "deterministic", "degenerate_inputs", "time", "memory"})
#: Properties whose failure means the program tried to leave the sandbox at run time.
SECURITY_PROPERTIES = {"no_violation": ("9.1", _CWE.format(693))}


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


def _message(text):
    """Untrusted text as a one-line message of at most :data:`MAX_MESSAGE` characters."""
    text = clean_text(text, keep_newlines=False)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 5] + "[...]"


def _rule(rule_id, kind):
    """``tool.driver.rules`` entry of ``rule_id``: description, help, level and, for security, severity."""
    family, name = rule_id.split("/", 1)
    if family + "/" == AUDIT_PREFIX:
        severity, uri, help_text = SECURITY_RULES.get(name, (None, None, "The static audit refuses programs that "
                                                             "cannot run in the sandbox as written."))
        text = f"static audit rule {name}"
    else:
        severity, uri = SECURITY_PROPERTIES.get(name, (None, None))
        help_text = (f"Property {name} of the verification suite: the program must satisfy it on every generated "
                     "dataset. The message gives the measured value and the threshold; `das audit FILE -d "
                     "DETECTOR` shows the whole table.")
        text = f"property {name}"
    rule = {"id": rule_id, "name": name, "shortDescription": {"text": text},
            "fullDescription": {"text": help_text},
            "help": {"text": help_text, "markdown": f"**{text}** ({kind}): {help_text}"},
            "defaultConfiguration": {"level": _LEVELS[kind]},
            "properties": {"tags": [kind]}}
    if uri:
        rule["helpUri"] = uri
    if severity:
        rule["properties"]["security-severity"] = severity
    return rule


_LEVELS = {"security": "error", "correctness": "error", "quality": "warning"}


def _kind(rule_id):
    family, name = rule_id.split("/", 1)
    if family + "/" == AUDIT_PREFIX:
        return "security" if name in SECURITY_RULES else "correctness"
    if name in SECURITY_PROPERTIES:
        return "security"
    return "correctness" if name in CORRECTNESS_PROPERTIES else "quality"


def _property_message(prop):
    value, threshold = prop.get("value"), prop.get("threshold")
    text = f"property {prop['name']} failed: measured {value!r}, threshold {threshold!r}"
    detail = prop.get("detail")
    return _message(f"{text}. {detail}" if detail else text)


class Audited(NamedTuple):
    """One audited program file.

    ``report``: :meth:`sandbox.properties.VerificationReport.to_dict` (or a
    stored verification's report); ``source``: the program text the report is
    about, each line at its line in the file (see
    :func:`engine.extract.program_source` with ``in_place``); ``uri``: where
    the file lives, relative to the repository root.
    """

    uri: str
    source: str
    report: dict


def _findings(item):
    """``(rule_id, message, line)`` of one file: audit findings, then failed properties."""
    out = [(AUDIT_PREFIX + f.rule, _message(f"{f.rule}: {f.message}"), f.line)
           for f in audit_source(item.source).findings]
    line = entry_line(item.source)
    for prop in item.report.get("properties", []):
        if prop.get("passed") or not_run(prop) or prop["name"] == "audit":
            continue  # the audit's findings are itemized above, line by line
        out.append((PROPERTY_PREFIX + prop["name"], _property_message(prop), line))
    return out


def _fingerprint(rule_id, line_text, seen):
    """Stable identity of a finding: its rule, its line's text and how many such came before in the file."""
    key = (rule_id, " ".join(line_text.split()))
    seen[key] += 1
    return hashlib.sha256("\0".join([*key, str(seen[key])]).encode()).hexdigest()[:32]


def to_sarif(audited):
    """SARIF 2.1.0 log (a dict) with one run over the :class:`Audited` files ``audited``.

    The audit is run again on each source for line-level findings (static, milliseconds).
    """
    rules, results, artifacts, verdicts = [], [], [], {}
    index = {}

    def add(rule_id, message, uri, line, fingerprint):
        if rule_id not in index:
            index[rule_id] = len(rules)
            rules.append(_rule(rule_id, _kind(rule_id)))
        results.append({"ruleId": rule_id, "ruleIndex": index[rule_id], "level": _LEVELS[_kind(rule_id)],
                        "message": {"text": message},
                        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri},
                                                            "region": {"startLine": max(1, int(line))}}}],
                        "partialFingerprints": {FINGERPRINT: fingerprint}})

    for item in audited:
        uri, report, lines = quote(Path(item.uri).as_posix()), item.report, item.source.split("\n")
        artifacts.append({"location": {"uri": uri}})
        findings, seen = _findings(item), Counter()
        for rule_id, message, line in findings[:MAX_RESULTS]:
            text = lines[line - 1] if 0 < line <= len(lines) else ""
            add(rule_id, message, uri, line, _fingerprint(rule_id, text, seen))
        if len(findings) > MAX_RESULTS:
            rest = Counter(rule for rule, _, _ in findings[MAX_RESULTS:])
            worst = findings[MAX_RESULTS][0]
            add(worst, _message(f"{len(findings) - MAX_RESULTS} more findings not listed ("
                                + ", ".join(f"{n} {rule}" for rule, n in rest.most_common(5)) + ")"),
                uri, findings[MAX_RESULTS][2], _fingerprint(worst, "more", seen))
        props = report.get("properties", [])
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
