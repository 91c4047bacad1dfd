"""Result tables in the papers' formats, as rows and as Markdown / CSV files.

- per-dataset AUC-PR / AUC-ROC (LLM-DAS Tables 4/5): one row per dataset, one
  column per detector x method, with an "Average" row;
- summary (Table 1): per detector and method, base mean, method mean, delta,
  percent, win count and one-tailed paired t-test p-value over datasets;
- runtime (Table 9): mean seconds of base train/test and enhancement
  train (synthesis + classifier fit) / test, per detector;
- failures: every cell that errored or timed out.
"""
import csv
import io
import math
from collections import defaultdict

from tabulate import tabulate

from das.collab.bench.log import latest_by_key
from das.collab.bench.stats import paired_comparison

METRICS = ("auc_pr", "auc_roc")
METRIC_TITLES = {"auc_pr": "AUC-PR", "auc_roc": "AUC-ROC"}


def ok_records(records):
    """Records of finished cells (status ok), latest per key."""
    return [rec for rec in latest_by_key(records).values() if rec.get("status") == "ok"]


def _order(values, preferred=()):
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + sorted(v for v in seen if v not in preferred)


def _mean_over_seeds(records, metric):
    """``{(dataset, detector, method): mean over seeds}``."""
    acc = defaultdict(list)
    for rec in records:
        for method, vals in rec.get("metrics", {}).items():
            acc[(rec["dataset"], rec["detector"], method)].append(vals[metric])
    return {k: sum(v) / len(v) for k, v in acc.items()}


def _layout(records):
    from das.collab.evaluate import METHODS

    datasets = sorted({r["dataset"] for r in records}, key=str.lower)
    detectors = _order([r["detector"] for r in records], ("PCA", "IForest", "OCSVM", "ECOD", "DRL"))
    methods = _order([m for r in records for m in r.get("metrics", {})], METHODS)
    return datasets, detectors, methods


def metric_table(records, metric="auc_pr"):
    """Per-dataset table: header and rows (dataset, value per detector x method, ...)."""
    records = ok_records(records)
    datasets, detectors, methods = _layout(records)
    values = _mean_over_seeds(records, metric)
    columns = [(d, m) for d in detectors for m in methods]
    header = ["dataset"] + [f"{d} {m}" for d, m in columns]
    rows = [[ds] + [values.get((ds, d, m), math.nan) for d, m in columns] for ds in datasets]
    if rows:
        avg = ["Average"]
        for j in range(1, len(header)):
            col = [r[j] for r in rows if not math.isnan(r[j])]
            avg.append(sum(col) / len(col) if col else math.nan)
        rows.append(avg)
    return header, rows


def summary_table(records, metric="auc_pr", baseline="base"):
    """Table 1: one row per (detector, method != baseline) over datasets with both scores."""
    records = ok_records(records)
    _, detectors, methods = _layout(records)
    values = _mean_over_seeds(records, metric)
    datasets = sorted({r["dataset"] for r in records}, key=str.lower)
    header = ["detector", "method", "n", "base mean", "method mean", "delta", "%",
              "wins", "ties", "losses", "p (one-tailed)"]
    rows = []
    for det in detectors:
        for method in methods:
            if method == baseline:
                continue
            pairs = [(values[(ds, det, baseline)], values[(ds, det, method)]) for ds in datasets
                     if (ds, det, baseline) in values and (ds, det, method) in values]
            if not pairs:
                continue
            c = paired_comparison([p[0] for p in pairs], [p[1] for p in pairs])
            rows.append([det, method, c.n, c.base_mean, c.method_mean, c.delta, c.percent,
                         c.wins, c.ties, c.losses, c.p_value])
    return header, rows


def runtime_table(records):
    """Table 9: mean seconds per detector (base train/test, enhancement train/test, collate fit)."""
    records = ok_records(records)
    _, detectors, _ = _layout(records)
    header = ["detector", "n cells", "base train", "base test", "enh. train", "enh. test",
              "collate fit", "cell wall"]
    rows = []
    for det in detectors:
        recs = [r for r in records if r["detector"] == det]
        t = [r.get("timings", {}) for r in recs]

        def mean(f):
            return sum(f(x) for x in t) / len(t)

        rows.append([det, len(recs), mean(lambda x: x.get("base_fit", 0.0)),
                     mean(lambda x: x.get("base_score", 0.0)),
                     mean(lambda x: x.get("synthesis", 0.0) + x.get("classifier_fit", 0.0)),
                     mean(lambda x: x.get("enhanced_score", 0.0)),
                     mean(lambda x: x.get("collate_fit", 0.0)),
                     sum(r["elapsed_s"] for r in recs) / len(recs)])
    return header, rows


def failure_table(records):
    """Cells whose latest record is an error or timeout."""
    latest = latest_by_key(records)
    header = ["dataset", "detector", "seed", "status", "elapsed s", "error"]
    rows = [[r["dataset"], r["detector"], r["seed"], r["status"], r.get("elapsed_s", math.nan),
             (r.get("error") or "").splitlines()[0][:160] if r.get("error") else ""]
            for r in latest.values() if r.get("status") != "ok"]
    return header, sorted(rows, key=lambda r: (r[0].lower(), r[1], r[2]))


def _fmt(value, digits=4):
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) < 1e-3 and value != 0:
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


#: Columns shown with fewer decimals than the scores.
_COLUMN_DIGITS = {"%": 1}


def _formatted(header, rows, digits):
    places = [_COLUMN_DIGITS.get(h, digits) for h in header]
    return [[_fmt(v, d) for v, d in zip(row, places)] for row in rows]


def to_markdown(header, rows, digits=4):
    """GitHub Markdown table; the best value of a numeric row is not guessed, only printed."""
    cells = [[v.replace("|", "\\|") for v in row] for row in [header, *_formatted(header, rows, digits)]]
    return tabulate(cells[1:], cells[0], tablefmt="github", disable_numparse=True) + "\n"


def to_html(header, rows, digits=4):
    """HTML table, cells escaped."""
    return tabulate(_formatted(header, rows, digits), header, tablefmt="html", disable_numparse=True)


def to_csv(header, rows):
    """CSV text with full precision."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def all_tables(records):
    """``{name: (title, header, rows)}`` for every table of the report."""
    tables = {}
    for metric in METRICS:
        title = METRIC_TITLES[metric]
        tables[f"summary_{metric}"] = (f"Summary over datasets ({title}; Table 1 style)",
                                       *summary_table(records, metric))
    for metric in METRICS:
        tables[f"per_dataset_{metric}"] = (f"Per-dataset {METRIC_TITLES[metric]} (Tables 4/5 style)",
                                           *metric_table(records, metric))
    tables["runtime"] = ("Mean runtime in seconds (Table 9 style)", *runtime_table(records))
    header, rows = failure_table(records)
    if rows:  # no empty "Failed cells" table
        tables["failures"] = ("Failed cells", header, rows)
    return tables


def write_tables(records, out_dir):
    """Write every table as ``<name>.md`` and ``<name>.csv`` under ``out_dir``; return the tables."""
    tables = all_tables(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (title, header, rows) in tables.items():
        (out_dir / f"{name}.md").write_text(f"### {title}\n\n" + to_markdown(header, rows))
        (out_dir / f"{name}.csv").write_text(to_csv(header, rows))
    return tables
