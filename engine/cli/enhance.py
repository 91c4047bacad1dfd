"""``das enhance`` (the papers' split, with metrics) and ``das score`` (every row, PyOD-style)."""
import click
from click.core import ParameterSource
from das.collab.certification import SHA_PREFIX, Certification, ProgramRefused, opened
from das.collab.data import resolve_dataset
from das.collab.enhance import CLASSIFIERS, LAM
from das.collab.pipeline import FUSIONS, enhance_dataset, lam_unused, score_dataset
from das.collab.synthesis import BASELINES
from das.engine.cli._common import (
    SEED,
    canonical_detector,
    data_options,
    detector_option,
    echo,
    echo_json,
    finite_weight,
    json_option,
    out_file_option,
    refuse_overwriting,
    store_option,
)
from das.engine.cli.select import (
    data_option,
    format_choice,
    format_selection,
    labels_option,
)
from das.program_store import AmbiguousPrefix, NotCertified, ProgramNotFound

#: The program names --program takes besides a sha256 prefix.
PROGRAM_NAMES = ("auto", "certified", *BASELINES)


def _program_name(ctx, param, value):
    """``--program``: a name or a sha256 prefix; anything else is a usage error."""
    if value in PROGRAM_NAMES or SHA_PREFIX.match(value):
        return value
    raise click.BadParameter(f"{value[:40]!r} is not a program: give {', '.join(PROGRAM_NAMES)} or the sha256 "
                             "(a prefix of 4+ hex digits) of a certified program (see `das programs list`)")


def _check_program(program, detector, store_path):
    """A usage error for a ``--program`` sha256 prefix that names no program, several, or another
    detector's (an uncertified program stays the store's error, exit 1)."""
    if program in PROGRAM_NAMES:
        return
    with opened(store_path) as store:
        service = Certification(store)
        try:
            try:
                store.resolve(program)
            except ProgramNotFound:
                if service.bundled(program, detector):
                    return  # certified by its first use once the data has been read
                raise
            service.resolve(program, detector)
        except (ProgramNotFound, AmbiguousPrefix, ProgramRefused) as exc:
            raise click.BadParameter(str(exc), param_hint="'--program'") from None
        except NotCertified:
            pass  # said when the command resolves it


def _model_options(fn):
    """Options ``das enhance`` and ``das score`` share: data, detector, program and model."""
    for deco in reversed([
        data_option,
        detector_option(required=True, callback=canonical_detector),
        click.option("--fusion", type=click.Choice(FUSIONS), default="sum", show_default=True,
                     help="Sum fusion (LLM-DAS Eq. 7) or CoLLaTe-style learned fusion."),
        click.option("--program", default="auto", show_default=True, callback=_program_name,
                     help="auto: chosen per dataset without labels among the certified programs, random "
                          "outliers, their ensemble and no enhancement: an option that gains on every planted "
                          "anomaly kind, else random outliers at lambda 1 (PCA, IForest, ECOD) or the "
                          "detector alone (see `das select`); certified: the detector's "
                          "default program; none: the detector alone; random: random outliers; or the sha256 "
                          "(4+ character prefix) of a certified program."),
        click.option("--classifier", type=click.Choice(CLASSIFIERS), default="rf", show_default=True,
                     help="Enhancement classifier."),
        click.option("--lam", type=float, default=LAM, show_default=True, callback=finite_weight,
                     help="Weight of the classifier (sum fusion) of a fixed program; auto chooses its own."),
        click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed."),
        data_options, store_option, labels_option,
    ]):
        fn = deco(fn)
    return fn


explain_option = click.option("--explain", is_flag=True,
                              help="With --program auto: print the choice, its expected gain and its validation table.")


def _model(fusion, program, classifier, lam, seed):
    """The pipeline's model options; a warning when ``--lam`` was given where it is not used."""
    given = click.get_current_context().get_parameter_source("lam") != ParameterSource.DEFAULT
    unused = lam_unused(program, fusion)
    if given and unused:
        option, value, why = unused
        echo(f"Warning: --lam {lam:g} is not used: --{option} {value} {why}", err=True)
    return {"fusion": fusion, "program": program, "classifier": classifier, "lam": lam, "seed": seed}


def _summary(res, out):
    return {k: v for k, v in res.items() if k not in ("scores", "y_test", "rows")} | {"out": out}


@click.command("enhance")
@_model_options
@out_file_option("Write scores to this CSV file: one line per test row (every row with --score-all), "
                 "with the row's id, its label and split when known, base and enhanced scores.")
@click.option("--score-all", is_flag=True,
              help="With --out: score every row of the file, training rows included (by the model they trained); "
                   "rows --labels names, never fitted on, are scored too (split: known).")
@explain_option
@json_option
def enhance(data, detector, fusion, program, classifier, lam, seed, data_dir, read, store_path, labels, out,
            score_all, explain, as_json):
    """Enhance DETECTOR on a dataset, or keep it where nothing is expected to help.

    Splits the data (normals in file order: first half trains; test = second
    half + all anomalies) and fits the detector. The default --program auto
    chooses, label-free on the training half, between no enhancement, random
    outliers and the certified programs (--explain says why); an enhancement
    synthesizes hard anomalies in the sandbox, trains the classifier, fuses the
    scores and records a run in the store. With labels, prints base vs enhanced AUC-PR / AUC-ROC.
    To score every row of your own data, see `das score`.
    """
    if score_all and not out:
        raise click.UsageError("--score-all needs --out: the file every row's scores are written to")
    path = resolve_dataset(data, data_dir)
    refuse_overwriting(out, (path, labels), store_path)
    _check_program(program, detector, store_path)
    res = enhance_dataset(path, detector, **_model(fusion, program, classifier, lam, seed),
                          label_column=read.pop("label_column"), store=store_path, read=read, score_all=score_all,
                          labels=labels)
    if out:
        res["rows"].to_csv(out)
    if as_json:
        echo_json(_summary(res, out))
        return
    echo(f"{res['detector']} on {res['dataset']}  (fusion={fusion}, {format_choice(res, program)}, "
         f"n_train={res['n_train']}, n_syn={res['n_syn']}, n_test={res['n_test']})")
    if res["metrics"]:
        echo(f"{'':10s}{'AUC-PR':>8s}{'AUC-ROC':>9s}")
        for key in ("base", "enhanced"):
            m = res["metrics"][key]
            echo(f"{key:10s}{m['auc_pr']:8.4f}{m['auc_roc']:9.4f}")
    else:
        echo("no labels with both classes: scores only")
    if out:
        echo(f"scores of {len(res['rows'].ids)} rows written to {out}" + (
            "" if score_all else f" (the test split only: the {res['n_train']} training rows are not scored; "
                                 "--score-all or `das score` scores every row)"))
    _explain(res, explain, program)
    echo(_runs_recorded(res) or "no run recorded (no program ran)")


def _runs_recorded(res):
    """``run 7 recorded``, ``runs 7, 8 recorded (one per program of the ensemble)``, or ""."""
    ids = res["run_ids"]
    if len(ids) > 1:
        return f"runs {', '.join(map(str, ids))} recorded (one per program of the ensemble)"
    return f"run {ids[0]} recorded" if ids else ""


@click.command("score")
@_model_options
@out_file_option("CSV file for the scores (one line per input row: id, label when known, base, enhanced).",
                 required=True)
@explain_option
@json_option
def score(data, detector, fusion, program, classifier, lam, seed, data_dir, read, store_path, labels, out, explain,
          as_json):
    """Score every row of a dataset, like PyOD's fit(X) then decision_scores_.

    The detector and its enhancement are fitted on all rows (labels, if any,
    are never read for fitting; rows --labels names are left out of the fit)
    and every row gets one score, written with your
    id column (or its row number) so it maps back to your data. For an honest
    evaluation on held-out rows, use `das enhance`.
    """
    path = resolve_dataset(data, data_dir)
    refuse_overwriting(out, (path, labels), store_path)
    _check_program(program, detector, store_path)
    res = score_dataset(path, detector, **_model(fusion, program, classifier, lam, seed),
                        store=store_path, read=read, labels=labels)
    res["rows"].to_csv(out)
    if as_json:
        echo_json(_summary(res, out))
        return
    echo(f"{res['detector']} on {res['dataset']}  (fusion={fusion}, {format_choice(res, program)}, "
         f"{_fitted_on(res)}, n_syn={res['n_syn']})")
    echo(f"scores of {res['n']} rows written to {out}")
    _explain(res, explain, program)
    if res["run_ids"]:
        echo(_runs_recorded(res))


def _fitted_on(res):
    left_out = res["n"] - res["n_fitted"]
    rows = (f"fitted on all {res['n']} rows" if not left_out else
            f"fitted on {res['n_fitted']} of {res['n']} rows: {left_out} known anomalies left out")
    sub = res["base_subsample"]
    return f"{rows}, {res['detector']} on a seeded subsample of {sub['rows']:,} of them" if sub else rows


def _explain(res, explain, program):
    if not explain:
        return
    if res.get("selection"):
        echo("\n".join(format_selection(res["selection"])))
    else:
        echo(f"nothing to explain: --program {program} is fixed, so auto chose nothing")
