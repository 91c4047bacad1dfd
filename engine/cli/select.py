"""``das select``: the label-free choice of ``program="auto"`` on a dataset, with its table."""
import click

from das.engine.cli._common import (
    SEED,
    canonical_detector,
    data_options,
    detector_option,
    echo,
    echo_json,
    json_option,
    store_option,
)

data_option = click.option("--data", required=True,
                           help="Dataset: a .npz/.mat/.csv/.tsv/.parquet path or a name in --data-dir.")


labels_option = click.option(
    "--labels", "labels", type=click.Path(exists=True, dir_okay=False), default=None,
    help="File of known anomalies' row ids, one per line (the --id-column's values, else 0-based row "
         "numbers). They are never fitted on; auto chooses by cross-validated AUC-PR on them.")


#: How a fixed ``--program`` without a program hash is named.
_BASELINE_NAMES = {"random": "random outliers", "none": "no enhancement"}


def format_choice(res, program=None):
    """What enhanced the detector, said the same way by every command.

    ``auto chose program:6d1661e2cb57 (lambda 0.5)`` (or ``random``,
    ``ensemble``; no lambda with collate fusion), ``auto kept the base detector`` when ``program="auto"``
    chose, else ``program 6d1661e2cb57``, ``random outliers`` or ``no enhancement``.
    """
    sel = res.get("selection") or {}
    if sel.get("choice"):
        if sel.get("lam") is None:
            return "auto kept the base detector"
        if res.get("fusion") == "collate":  # the learned fusion weighs the classifier itself: no lambda
            return f"auto chose {sel['choice']}"
        return f"auto chose {sel['choice']} (lambda {sel['lam']:g})"
    if res.get("program_sha256"):
        return f"program {res['program_sha256'][:12]}"
    return _BASELINE_NAMES.get(program, "no program")


def format_expected_gain(gain):
    """Lines of text: the expected AUC-PR gain with its interval and basis, the decision and why."""
    if gain["decision"] == "keep base":
        head = "expected gain: none, keeping the base detector"
    else:
        head = (f"expected gain ({gain['basis']}; not a forecast on real anomalies): "
                f"{gain['estimate']:+.4f} AUC-PR, SE {gain['std_error']:.4f}, "
                f"95% interval [{gain['interval'][0]:+.4f}, {gain['interval'][1]:+.4f}]")
        if gain.get("by_default"):
            head += "; the detector's default, taken whatever its planted gain"
    lines = [head]
    if gain.get("per_kind"):
        lines.append("  per planted kind: " + ", ".join(f"{k} {v:+.4f}" for k, v in gain["per_kind"].items()))
    lines.append(f"  decision: {gain['decision']} ({gain['reason']}; basis: {gain['basis']})")
    if gain.get("track_record"):
        from das.collab.track_record import describe

        lines.append("  " + describe(gain["track_record"]))
    return lines


def _shown(x):
    """``x`` as printed to 4 decimals, without a "-0.0000" for a rounding residue below zero."""
    return 0.0 if abs(x) < 5e-5 else x


def format_selection(sel):
    """Lines of text: the choice and its expected gain, then one row per option (gain over the base:
    mean, worst kind, bound (the smallest kind's split-mean less one standard error over the splits:
    what the rule ranks by), per planted kind; with known anomalies: mean and its standard error); a
    candidate that failed or was refused has its reason on the next line."""
    from das.collab.planted import KINDS

    choice = sel["choice"] if sel.get("lam") is None else f"{sel['choice']} at lambda {sel['lam']:g}"
    lines = [f"choice: {choice}  ({sel['seconds']:.1f} s of validation"
             + (f"; fallback: {sel['fallback']})" if sel["fallback"] else ")")]
    if sel.get("expected_gain"):
        lines += format_expected_gain(sel["expected_gain"])
    if sel["table"]:
        by_labels = not any(k in row for row in sel["table"] for k in KINDS)
        cols = ("SE",) if by_labels else ("worst", "bound", *KINDS)
        set_aside = any(row.get("eligible") and row.get("accepted") is False for row in sel["table"])
        lines.append("AUC-PR gain over the base detector, per option (*: chosen, e: eligible"
                     + (", d: eligible but not beating the default on every kind):" if set_aside else "):"))
        lines.append(f"  {'candidate':22s}{'lambda':>7s}{'mean':>9s}" + "".join(f"{k:>11s}" for k in cols))
        keys = ("std_error",) if by_labels else ("worst_gain", "worst_bound", *KINDS)
        for row in sel["table"]:
            mark = "*" if row["candidate"] == sel["choice"] and row["lam"] == sel.get("lam") else \
                " " if not row.get("eligible") else "d" if row.get("accepted") is False else "e"
            if row.get("error"):
                lines.append(f"{mark} {row['candidate']:22s}{'-':>7s}{'failed':>9s}")
                lines.append(f"    {row['error']}")
                continue
            vals = "".join(f"{_shown(row[k]):+11.4f}" if row.get(k) is not None else f"{'-':>11s}" for k in keys)
            lines.append(f"{mark} {row['candidate']:22s}{row['lam']:7g}{row['mean_gain']:+9.4f}{vals}")
    return lines


@click.command("select")
@data_option
@detector_option(required=True, callback=canonical_detector)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed.")
@data_options
@store_option
@labels_option
@json_option
def select(data, detector, seed, data_dir, read, store_path, labels, as_json):
    """Show which enhancement program="auto" chooses for DETECTOR on a dataset, why, and what to expect.

    Three times, holds out 30 % of the training half and plants local,
    clustered, global and dependency anomalies from the rest; validates random
    outliers, up to two certified programs and their ensemble, each at fusion
    weights 0.25, 0.5, 1 and 2, by the AUC-PR gain over the base detector per
    planted kind. An option qualifies only if every kind gains by more than one
    standard error over the splits (the largest such worst-kind bound wins).
    Otherwise PCA, IForest and ECOD get their default, random outliers at
    lambda 1 (what gained for them on the decision datasets), which any other
    option must also beat on every kind; other detectors keep the base
    detector. The reason names the kind that fell short. The expected gain is
    measured on planted anomalies: it is not a forecast. The file's labels are never read to choose (--label-column
    only keeps the label column out of the features, and --labels refuses a row
    it labels normal); --labels names known anomalies to choose by instead.
    """
    from das.collab.data import resolve_dataset
    from das.collab.pipeline import select_dataset

    path = resolve_dataset(data, data_dir)
    res = select_dataset(path, detector, seed=seed, store=store_path, read=read,
                         labels=labels)
    if as_json:
        echo_json(res)
        return
    echo(f"{res['detector']} on {res['dataset']}  (n_train={res['n_train']}, seed={seed})")
    for line in format_selection(res):
        echo(line)
