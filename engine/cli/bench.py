"""``das bench`` (run / resume the benchmark grid) and ``das report`` (tables, plots)."""
from pathlib import Path

import click

from das.collab.certification import available_programs, certified_programs
from das.collab.evaluate import METHODS, PROGRAM_METHODS
from das.collab.pipeline import detector_name
from das.collab.selection import candidates
from das.engine.cli._common import (SEED, AliasOption, canonical_detector, data_options,
                                    detector_option, echo, echo_json, json_option, store_option, writable_dir)


def _programs(detectors, store_path):
    """``{detector: (sha256, source)}`` of each detector's certified program (certified on first use).

    A detector without one is named on stderr; its cells skip the methods that need a program.
    """
    found, missing = available_programs(detectors, store_path)
    for det, reason in missing.items():
        echo(f"Warning: {reason}; {det} runs only the methods that need no program "
             f"({', '.join(m for m in METHODS if m not in PROGRAM_METHODS)})", err=True)
    return {d: (rec.sha256, rec.source) for d, rec in found.items()}


def _items(value):
    """The items of a comma-separated option value; an empty item is a usage error. Click names the
    option in its message ("Invalid value for '--methods': ..."), so the message does not."""
    items = [s.strip() for s in (value or "").split(",")]
    if not value or any(not s for s in items):
        raise click.BadParameter(f"expected a comma-separated list, got {value!r}")
    return items


def _seed_list(ctx, param, value):
    try:
        seeds = [int(s) for s in _items(value)]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    bad = [s for s in seeds if not SEED.min <= s <= SEED.max]
    if bad:
        raise click.BadParameter(f"{bad[0]} is not a seed (0 to {SEED.max})")
    return seeds


def _detector_list(ctx, param, value):
    """Click callback: the registry's spelling of each comma-separated detector name (an unknown one: exit 2)."""
    return [canonical_detector(ctx, param, name) for name in _items(value)]


def _method_list(ctx, param, value):
    methods = tuple(_items(value)) if value is not None else METHODS
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    return methods


@click.command("bench")
@click.option("--data", "datasets", cls=AliasOption, aliases=("--datasets",), default=None,
              help="Comma-separated dataset names or paths (default: all in the data dir).")
@detector_option(aliases=("--detectors",), default="PCA,IForest,OCSVM,ECOD,DRL", show_default=True,
                 callback=_detector_list, help="Comma-separated detector names.")
@click.option("--seeds", default="0", show_default=True, callback=_seed_list,
              help="Comma-separated integer seeds.")
@click.option("--methods", default=None, callback=_method_list,
              help="Comma-separated subset of methods (default: all).")
@click.option("--out-dir", "out_dir", cls=AliasOption, aliases=("--out",), type=click.Path(file_okay=False),
              callback=writable_dir,
              default="results/bench", show_default=True,
              help="Results directory (cells.jsonl is the cache: re-running resumes).")
@click.option("--jobs", "n_jobs", type=click.IntRange(min=1), default=None,
              help="Parallel cells (default: usable CPUs).")
@click.option("--executor", type=click.Choice(["joblib", "dask"]), default="joblib", show_default=True,
              help="Local process pool (joblib) or Dask (optional extra das[dask]).")
@click.option("--scheduler", default=None,
              help="Address of an existing Dask scheduler (with --executor dask).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=600.0,
              show_default=True,
              help="Per-cell wall-clock limit, seconds.")
@click.option("--retry-failed", is_flag=True, help="Re-run cells whose last attempt failed or timed out.")
@click.option("--scale", type=click.Choice(["standard", "minmax", "none"]), default="standard",
              show_default=True, help="Feature scaling fitted on the training split.")
@data_options
@store_option
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@json_option
@click.pass_context
def bench(ctx, datasets, detector, seeds, methods, out_dir, n_jobs, executor, scheduler, timeout,
          retry_failed, scale, data_dir, read, store_path, no_progress, as_json):
    """Run the benchmark grid: datasets x detectors x seeds x methods.

    Finished cells are cached in OUT/cells.jsonl, so an interrupted run resumes
    where it stopped; failing cells are recorded and the grid goes on. Each
    detector runs its certified program (the bundled ones are certified on first
    use; `das regenerate` makes new ones). Exit code 1 when every cell run failed.
    """
    from das.collab.bench.runner import check_measurable, parse_list, resolve_datasets, run_benchmark

    data = resolve_datasets(parse_list(datasets, "datasets") if datasets else None, data_dir)
    check_measurable(data, read)
    needs_program = bool(PROGRAM_METHODS & set(methods))
    programs = _programs(detector, store_path) if needs_program else {}
    auto = {d: candidates(d, store_path) for d in detector} if "auto" in methods else None
    result = run_benchmark(out_dir, data, detector, seeds, methods, programs, auto_candidates=auto, executor=executor,
                           n_jobs=n_jobs, timeout=timeout, retry_failed=retry_failed,
                           scale=None if scale == "none" else scale, scheduler=scheduler,
                           progress=not no_progress, read=read)
    all_failed = result["n_run"] > 0 and result["n_ok"] == 0
    if as_json:
        echo_json(result)
        ctx.exit(1 if all_failed else 0)
    echo(f"{result['n_cells']} cells: {result['n_cached']} cached, {result['n_run']} run "
         f"({result['n_ok']} ok, {result['n_failed']} failed) in {result['wall_s']:.1f} s")
    for f in result["failures"]:
        echo(f"  failed {f['dataset']}/{f['detector']}/seed {f['seed']}: {f['status']}: {f['error']}")
    if all_failed:
        raise click.ClickException(f"every one of the {result['n_run']} cells run failed (see above)")
    echo(f"results: {result['log']}  (next: das report {out_dir})")


@click.command("report")
@click.argument("results", type=click.Path(exists=True))
@click.option("--out-dir", "out_dir", cls=AliasOption, aliases=("--out",), type=click.Path(file_okay=False),
              callback=writable_dir,
              help="Report directory (default: RESULTS, or the directory of a cells.jsonl file).")
@click.option("--figure-data", "figure_datasets", cls=AliasOption, aliases=("--figure-datasets",), default=None,
              help="Comma-separated datasets for the score-density and embedding figures (recomputed).")
@click.option("--figure-detector", default="IForest", show_default=True, callback=canonical_detector,
              help="Detector for those figures.")
@data_options
@store_option
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for the recomputed figures.")
@json_option
@click.pass_context
def report(ctx, results, out_dir, figure_datasets, figure_detector, data_dir, read, store_path, seed, as_json):
    """Write tables (Markdown + CSV), plots and report.md/html from RESULTS (dir or cells.jsonl).

    Exit code 1 when no cell of the grid succeeded (the report then holds only failures)."""
    from das.collab.bench.plots import figure_scores
    from das.collab.bench.report import build_report, load_records
    from das.collab.bench.runner import parse_list, resolve_datasets
    from das.collab.data import load_dataset, split_dataset

    load_records(results)  # fail fast on a bad results path before any recomputation
    if out_dir is None:  # beside the results
        results_dir = Path(results) if Path(results).is_dir() else Path(results).parent
        out_dir = writable_dir(ctx, next(p for p in ctx.command.params if p.name == "out_dir"), str(results_dir))
    figure_data = []
    if figure_datasets:
        det = detector_name(figure_detector)
        source = certified_programs([det], store_path)[det].source
        for name, path in resolve_datasets(parse_list(figure_datasets, "figure-datasets"), data_dir):
            split = split_dataset(load_dataset(path, **read), scale="standard")
            figure_data.append((name, det, figure_scores(split, det, source, seed=seed)))
    summary = build_report(results, out_dir, figure_data=figure_data)
    none_ok = summary["n_ok"] == 0
    if as_json:
        echo_json(summary)
        ctx.exit(1 if none_ok else 0)
    echo(f"{summary['n_records']} cells ({summary['n_ok']} ok, {summary['n_failed']} failed); "
         f"wrote {len(summary['files'])} files to {summary['out']}")
    if summary["n_left_out"]:
        echo(f"{summary['n_left_out']} cell(s) of earlier runs in {results} left out "
             "(not in the last command's grid)")
    if none_ok:
        raise click.ClickException(f"no cell succeeded ({summary['n_failed']} failed): the report has no results; "
                                   "report.md lists the failures (fix them, then `das bench --retry-failed`)")
