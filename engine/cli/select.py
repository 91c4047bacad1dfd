"""``das select``: the label-free choice of ``program="auto"`` on a dataset, with its table."""
import click

from das.engine.cli._common import (
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


def format_choice(res):
    """What enhanced the detector, said the same way by every command.

    ``auto chose program:6d1661e2cb57`` (or ``random``, ``none``) when
    ``program="auto"`` chose, else ``program 6d1661e2cb57``.
    """
    choice = (res.get("selection") or {}).get("choice")
    if choice:
        return f"auto chose {choice}"
    return f"program {res['program_sha256'][:12]}" if res.get("program_sha256") else "no program"


def format_selection(sel):
    """Lines of text: the choice, then one row per candidate (mean and per-kind planted AUC-PR);
    a candidate that failed or was refused has its reason on the next line."""
    from das.collab.planted import KINDS

    lines = [f"choice: {sel['choice']}  ({sel['seconds']:.1f} s of validation"
             + (f"; fallback: {sel['fallback']})" if sel["fallback"] else ")")]
    if sel["table"]:
        lines.append(f"{'candidate':22s}{'mean':>7s}" + "".join(f"{k:>11s}" for k in KINDS))
        for row in sel["table"]:
            mean = "failed" if row.get("error") else f"{row['mean_auc_pr']:.4f}"
            kinds = "".join(f"{row[k]:11.4f}" if row.get(k) is not None else f"{'-':>11s}" for k in KINDS)
            mark = "*" if row["candidate"] == sel["choice"] else " "
            lines.append(f"{mark}{row['candidate']:21s}{mean:>7s}{kinds}")
            if row.get("error"):
                lines.append(f"    {row['error']}")
    return lines


@click.command("select")
@data_option
@detector_option(required=True, callback=canonical_detector)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@data_options
@store_option
@json_option
def select(data, detector, seed, data_dir, read, store_path, as_json):
    """Show which enhancement program="auto" chooses for DETECTOR on a dataset, and why.

    Holds out 30 % of the training half, plants local, clustered, global and
    dependency anomalies from the rest, and validates no enhancement, random
    outliers and every certified program by AUC-PR per planted kind. Labels
    are never read (--label-column only keeps the label column out of the features).
    """
    from das.collab.data import resolve_dataset
    from das.collab.pipeline import select_dataset

    res = select_dataset(resolve_dataset(data, data_dir), detector, seed=seed, store=store_path, read=read)
    if as_json:
        echo_json(res)
        return
    echo(f"{res['detector']} on {res['dataset']}  (n_train={res['n_train']}, seed={seed})")
    for line in format_selection(res):
        echo(line)
