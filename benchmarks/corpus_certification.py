"""Every bundled program under the certification service, one line each.

Imports ``collab/bundled_programs.json`` into a fresh store and verifies each
program locally (:meth:`collab.certification.Certification.import_bundle`),
then prints, per program: its corpus entry, status, the borderline position
(0 = the median normal row, 1 = the median random outlier), the ``useful``
margin (mean planted AUC-PR of the enhancement minus the better of the
detector and random outliers) with its 90% lower confidence bound over
seeds and datasets (:data:`collab.certification.USEFUL_RULE`), the
verification seed (each verification draws one from the OS; ``das programs
verify --seed`` replays it), the three means and the failing properties.
No dataset's labels are involved: everything is measured on the suite's
seed-drawn datasets with anomalies planted by construction.

    python benchmarks/corpus_certification.py > results/full/corpus_certification.txt
"""
import argparse
import tempfile
from pathlib import Path

from das.collab.certification import (
    BUNDLED_PROGRAMS,
    USEFUL_RULE,
    Certification,
    suite_version,
    useful_bound,
    useful_margin,
)
from das.detectors import DETECTOR_NAMES
from das.program_store import ProgramStore


def corpus_id(record):
    """The replay-corpus entry a bundled program came from (``-`` when unknown)."""
    provenance = ((record.metadata or {}).get("response") or {}).get("provenance") or {}
    return provenance.get("id") or "-"


def rows(store):
    """One dict per stored program with its latest verification's figures."""
    out = []
    for rec in store.list():
        ver = store.latest_verification(rec.sha256)
        report = ver.report if ver else {}
        means = (report.get("usefulness") or {}).get("means")
        margin = useful_margin(ver)
        out.append({
            "detector": rec.detector, "id": corpus_id(rec), "sha": rec.sha256[:12], "status": rec.status,
            "borderline": report.get("borderline"), "margin": margin, "bound": useful_bound(ver),
            "seed": report.get("seed"),
            "means": None if means is None else {k: round(v, 4) for k, v in means.items()},
            "failed": [p["name"] for p in report.get("properties", []) if not p["passed"]]})
    return sorted(out, key=lambda r: (r["detector"], r["id"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(BUNDLED_PROGRAMS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ProgramStore(Path(tmp) / "store.sqlite") as store:
        service = Certification(store)
        for name in DETECTOR_NAMES:
            service.import_bundle(args.bundle, detector=name)
        table = rows(store)
    print(f"# Bundled programs under the certification service, suite {suite_version()}.")
    print(f"# Rule: {USEFUL_RULE}.")
    print("# Columns: detector, corpus entry, sha256[:12], status, verification seed, borderline position, "
          "useful margin and its lower bound, mean planted AUC-PR (base, random, program), failing properties.")
    for r in table:
        border = "-" if r["borderline"] is None else f"{r['borderline']:+.3f}"
        margin, bound = ("-" if r[k] is None else f"{r[k]:+.4f}" for k in ("margin", "bound"))
        print(f"{r['detector']:<8} {r['id']:<18} {r['sha']}  {r['status']:<9} seed {r['seed']!s:>10}  "
              f"borderline {border:>7}  useful {margin:>8} (bound {bound:>8})  {r['means']}  {r['failed']}")
    certified = {}
    for r in table:
        certified.setdefault(r["detector"], [0, 0])
        certified[r["detector"]][0] += r["status"] == "certified"
        certified[r["detector"]][1] += 1
    print("# certified / bundled: " + ", ".join(f"{d} {c}/{n}" for d, (c, n) in certified.items()))


if __name__ == "__main__":
    main()
