"""``das enhance``: enhance a detector on a dataset with its certified program."""
import csv

import click
import numpy as np

from engine.cli._common import echo_json, json_option, store_option, user_errors

FUSIONS = ("sum", "collate")
CLASSIFIERS = ("rf", "svm", "mlp")


def _error_types():
    from collab.data import DataError
    from collab.enhance import SynthesisError, UnknownClassifier
    from collab.estimator import ProgramRefused
    from collab.threshold import ThresholdError
    from detectors import UnknownDetector
    from program_store import StoreError

    return (DataError, StoreError, SynthesisError, UnknownClassifier, ProgramRefused, ThresholdError,
            UnknownDetector)


def _has_labels(y):
    return y is not None and len(np.unique(np.asarray(y))) == 2


def run_enhance(data, detector, fusion="sum", program=None, classifier="rf", lam=1.0, seed=0,
                label_column=None, store_path=None):
    """Fit base and enhanced detector on the split of ``data``; record and return the run.

    Returns a dict with the split, test scores (``base``, ``enhanced``),
    ``metrics`` (empty without labels), the program sha256 and the run id.
    """
    from collab.data import load_dataset, resolve_dataset, split_dataset
    from collab.estimator import EnhancedDetector
    from collab.metrics import auc_pr, auc_roc
    from detectors import make_detector
    from program_store import ProgramStore

    name = make_detector(detector).name  # canonical name, as the store keys programs
    split = split_dataset(load_dataset(resolve_dataset(data), label_column=label_column), scale="standard")
    with ProgramStore(store_path) as store:
        if program is None:
            from engine.loop import ensure_certified  # certifies the bundled programs on first use

            program = ensure_certified(store, name).sha256
        est = EnhancedDetector(detector=name, program=program, fusion=fusion, classifier=classifier,
                               lam=lam, random_state=seed, store=store).fit(split.X_train)
        scores = {"base": est.base_decision_function(split.X_test), "enhanced": est.decision_function(split.X_test)}
        y = getattr(split, "y_test", None)
        metrics = {}
        if _has_labels(y):
            for key, s in scores.items():
                metrics[key] = {"auc_pr": float(auc_pr(y, s)), "auc_roc": float(auc_roc(y, s))}
        flat = {f"{k}_{m}": v for k, d in metrics.items() for m, v in d.items()}
        run_id = store.record_run(est.program_sha256_, detector=name, dataset_fingerprint=split.fingerprint,
                                  seed=seed, n_syn=len(est.X_syn_),
                                  metrics={**flat, "fusion": fusion, "classifier": classifier, "lam": lam})
    return {"dataset": split.name, "detector": name, "fusion": fusion, "program_sha256": est.program_sha256_,
            "n_train": len(split.X_train), "n_test": len(split.X_test), "n_syn": len(est.X_syn_),
            "metrics": metrics, "run_id": run_id, "scores": scores, "y_test": y}


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
@click.option("--program", default=None,
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
    user_errors(*_error_types())(_enhance)(data, detector, fusion, program, classifier, lam, seed,
                                            label_column, store_path, out, as_json)


def _enhance(data, detector, fusion, program, classifier, lam, seed, label_column, store_path, out, as_json):
    res = run_enhance(data, detector, fusion=fusion, program=program, classifier=classifier, lam=lam,
                      seed=seed, label_column=label_column, store_path=store_path)
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
