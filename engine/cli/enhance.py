"""``das enhance``: enhance a detector on a dataset with its certified program."""
import csv

import click

from collab.enhance import CLASSIFIERS
from collab.pipeline import FUSIONS, enhance_dataset
from engine.cli._common import echo_json, json_option, store_option


def write_scores(path, scores, y):
    """Write test scores (and labels when known) as CSV: index,label,base,enhanced."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "label", "base", "enhanced"])
        for i, (b, e) in enumerate(zip(scores["base"], scores["enhanced"])):
            writer.writerow([i, "" if y is None else int(y[i]), repr(float(b)), repr(float(e))])


@click.command("enhance")
@click.option("--data", required=True, help="Dataset: a .npz/.mat/.csv path or a name in $DAS_DATA_DIR.")
@click.option("--detector", required=True, help="Detector name (PCA, IForest, OCSVM, ECOD, LOF, KNN, DRL).")
@click.option("--fusion", type=click.Choice(FUSIONS), default="sum", show_default=True,
              help="Sum fusion (LLM-DAS Eq. 7) or CoLLaTe-style learned fusion.")
@click.option("--program", default="certified",
              help="sha256 (or prefix) of a certified program; default: the detector's certified program.")
@click.option("--classifier", type=click.Choice(CLASSIFIERS), default="rf", show_default=True,
              help="Enhancement classifier.")
@click.option("--lam", type=float, default=1.0, show_default=True, help="Weight of the classifier (sum fusion).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--label-column", default=None, help="Label column of a CSV file (1 = anomaly).")
@store_option
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the test scores to this CSV file.")
@json_option
def enhance(data, detector, fusion, program, classifier, lam, seed, label_column, store_path, out, as_json):
    """Enhance DETECTOR on a dataset with its certified synthesis program.

    Splits the data (normals in file order: first half trains; test = second
    half + all anomalies), fits the detector, synthesizes hard anomalies in the
    sandbox, trains the enhancement classifier, fuses the scores and records a
    run in the store. With labels, prints base vs enhanced AUC-PR / AUC-ROC.
    """
    res = enhance_dataset(data, detector, fusion=fusion, program=program, classifier=classifier, lam=lam,
                          seed=seed, label_column=label_column, store=store_path)
    if out:
        write_scores(out, res["scores"], res["y_test"])
    if as_json:
        echo_json({k: v for k, v in res.items() if k not in ("scores", "y_test")} | {"out": out})
        return
    click.echo(f"{res['detector']} on {res['dataset']}  (fusion={fusion}, program {res['program_sha256'][:12]}, "
               f"n_train={res['n_train']}, n_syn={res['n_syn']}, n_test={res['n_test']})")
    if res["metrics"]:
        click.echo(f"{'':10s}{'AUC-PR':>8s}{'AUC-ROC':>9s}")
        for key in ("base", "enhanced"):
            m = res["metrics"][key]
            click.echo(f"{key:10s}{m['auc_pr']:8.4f}{m['auc_roc']:9.4f}")
    else:
        click.echo("no labels (or a single class): scores only")
    if out:
        click.echo(f"scores written to {out}")
    click.echo(f"run {res['run_id']} recorded")
