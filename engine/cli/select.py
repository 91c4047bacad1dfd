"""``das select``: the label-free choice of ``program="auto"`` on a dataset, with its table."""
import click

from das.engine.cli._common import echo, echo_json, json_option, store_option


def format_selection(sel):
    """Lines of text: the choice, then one row per candidate (mean and per-kind planted AUC-PR)."""
    from das.collab.planted import KINDS

    lines = [f"choice: {sel['choice']}  ({sel['seconds']:.1f} s of validation"
             + (f"; fallback: {sel['fallback']})" if sel["fallback"] else ")")]
    if sel["table"]:
        lines.append(f"{'candidate':22s}{'mean':>7s}" + "".join(f"{k:>11s}" for k in KINDS))
        for row in sel["table"]:
            mean = "failed" if row["mean_auc_pr"] is None else f"{row['mean_auc_pr']:.4f}"
            kinds = "".join(f"{row[k]:11.4f}" if row.get(k) is not None else f"{'-':>11s}" for k in KINDS)
            mark = "*" if row["candidate"] == sel["choice"] else " "
            lines.append(f"{mark}{row['candidate']:21s}{mean:>7s}{kinds}")
    return lines


@click.command("select")
@click.option("--data", required=True, help="Dataset: a .npz/.mat/.csv path or a name in $DAS_DATA_DIR.")
@click.option("--detector", "-d", required=True, help="Detector name (PCA, IForest, OCSVM, ECOD, LOF, KNN, DRL).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--label-column", default=None, help="Label column of a CSV file (never read for the choice).")
@store_option
@json_option
def select(data, detector, seed, label_column, store_path, as_json):
    """Show which enhancement program="auto" chooses for DETECTOR on a dataset, and why.

    Holds out 30 % of the training half, plants local, clustered, global and
    dependency anomalies from the rest, and validates no enhancement, random
    outliers and every certified program by AUC-PR per planted kind. Labels
    are never read.
    """
    from das.collab.pipeline import select_dataset

    res = select_dataset(data, detector, seed=seed, store=store_path, label_column=label_column)
    if as_json:
        echo_json(res)
        return
    echo(f"{res['detector']} on {res['dataset']}  (n_train={res['n_train']}, seed={seed})")
    for line in format_selection(res):
        echo(line)
