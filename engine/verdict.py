"""Text of a verification report for the terminal (``das audit``, ``das programs add``)."""

_NOT_RUN = "not run"


def _value(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _skipped(prop):
    return prop.get("value") is None and str(prop.get("detail") or "").startswith(_NOT_RUN)


def failed_properties(report):
    """Names of the properties in a report dict that ran and failed (skipped ones are not listed)."""
    return [p["name"] for p in report.get("properties") or [] if not p.get("passed") and not _skipped(p)]


def _property_lines(prop):
    mark = "PASS" if prop.get("passed") else "FAIL"
    detail = str(prop.get("detail") or "")
    if prop.get("value") is None:  # nothing measured: the detail says why
        return [f"  [{mark}] {prop['name']}: {detail or 'no value'}"]
    thr = "" if prop.get("threshold") is None else f" (threshold {_value(prop['threshold'])})"
    lines = [f"  [{mark}] {prop['name']}: {_value(prop['value'])}{thr}"]
    if detail and not prop.get("passed"):
        lines += [f"         {line}" for line in detail.splitlines()]
    return lines


def format_report(report, passed=None):
    """Readable verdict of a report dict (``VerificationReport.to_dict()``).

    ``passed``: the recorded outcome when the dict does not carry it.
    One line per property that ran, with its full measured value and threshold;
    properties that never ran are listed once as skipped with the reason; the
    borderline position (the service's) and depth share (the suite's) are
    shown for certifiable programs only (a reject has none worth reading).
    """
    passed = report.get("passed") if passed is None else passed
    lines = [f"detector {report.get('detector')}  seed {report.get('seed')}  "
             f"suite {report.get('suite_version')}  ({report.get('duration_s') or 0:.2f} s)"]
    datasets = (report.get("suite_spec") or {}).get("datasets", {})
    if datasets:
        lines.append("  datasets: " + ", ".join(f"{k} {e['n']}x{e['d']}" for k, e in datasets.items()))
    props = report.get("properties") or []
    for prop in props:
        if not _skipped(prop):
            lines += _property_lines(prop)
    skipped = [p for p in props if _skipped(p)]
    if skipped:
        reason = str(skipped[0]["detail"])[len(_NOT_RUN):].lstrip(": ") or "earlier checks failed"
        lines.append(f"  [SKIP] {', '.join(p['name'] for p in skipped)}: not run ({reason})")
    if passed:
        lines += [f"{key}: {report[key]:.3f}" for key in ("borderline", "depth") if report.get(key) is not None]
    lines.append("verdict: " + ("CERTIFIABLE" if passed else "REJECTED"))
    return "\n".join(lines)
