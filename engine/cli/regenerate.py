"""``das regenerate`` (run the codegen loop) and ``das prompts`` (show / re-key prompts)."""
import tempfile
from pathlib import Path

import click

from das.detectors import DETECTOR_NAMES
from das.engine.cli._common import (
    USER_ERRORS,
    canonical_detector,
    detector_option,
    echo,
    echo_json,
    json_option,
    store_option,
    verification_seed_option,
)
from das.engine.verdict import format_report
from das.engine.clients import make_client
from das.engine.llm import BACKENDS
from das.engine.loop import LoopConfig, generate_programs
from das.engine.prompts import VARIANT_HELP, VARIANTS, build_initial_prompt, build_prompt
from das.engine.replay import load_index, rekey_corpus
from das.program_store import ProgramStore, export_bundle


def _detector_or_all(ctx, param, value):
    """Click callback: ``all``, or the registry's spelling of a detector name (an unknown one: exit 2)."""
    return "all" if value.lower() == "all" else canonical_detector(ctx, param, value)


def _names(detector):
    """Canonical names for ``--detector`` (``all`` = every detector)."""
    return list(DETECTOR_NAMES) if detector == "all" else [detector]


def _borderline(res):
    """A certified candidate's borderline position; a reject has none worth reading."""
    return "-" if res.borderline is None or res.status != "certified" else f"{res.borderline:.3f}"


def _report_text(store, res):
    """The candidate's latest recorded report, printed like ``das audit`` (audit refusals as the loop says)."""
    ver = store.latest_verification(res.sha256) if res.sha256 else None
    if ver is None or "properties" not in ver.report:
        return res.report_text
    return format_report(ver.report, passed=ver.passed)


def _progress_line(detector, res):
    sha = (res.sha256 or "-")[:12]
    hard = _borderline(res)
    extra = f"  {res.message}" if res.message and res.status != "certified" else ""
    was = f" (was {res.was})" if res.was and res.was != res.status else ""
    return f"[{detector}] candidate {res.index}: {res.status:<10} {sha}{was}  borderline {hard}  " \
           f"rounds {res.rounds}{extra}"


@click.command("regenerate")
@detector_option(required=True, callback=_detector_or_all, help="Detector name, or 'all'.")
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="default", show_default=True,
              help="Prompt variant (see `das prompts show --help`).")
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help="LLM backend [default: $DAS_LLM_BACKEND or replay].")
@click.option("--n", "n_candidates", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Candidates (independent queries) per detector.")
@click.option("--rounds", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Maximum repair rounds per candidate.")
@click.option("--model", default=None, help="Anthropic model [default: $DAS_MODEL or claude-sonnet-4-6].")
@verification_seed_option
@store_option
@click.option("--show-report", is_flag=True, help="Print the verifier report of every candidate.")
@json_option
@click.pass_context
def regenerate(ctx, detector, variant, backend, n_candidates, rounds, model, seed, store_path,
               show_report, as_json):
    """Generate, audit, verify and store synthesis programs for a detector.

    Offline by default: the replay backend serves the recorded corpus shipped
    with das (no key, no network), newest corpus first. Each candidate gets the
    runtime's verdict (property suite, `useful`, `borderline`); the certified
    candidate with the largest `useful` margin on the suite's planted anomalies
    (never benchmark labels) becomes the default.
    With `-d all`, a detector that fails is reported and the others still run.
    Exit code 1 when any detector ends with no certified program.
    """
    client = make_client(backend, **({"model": model} if model else {}))
    cfg = LoopConfig(n_candidates=n_candidates, max_repair_rounds=rounds, variant=variant, seed=seed)
    out, errors = {}, {}
    with ProgramStore(store_path) as store:
        for name in _names(detector):
            def progress(res, name=name):
                if not as_json:
                    echo(_progress_line(name, res))
                    if show_report and res.report_text:
                        echo("\n".join("    " + ln for ln in _report_text(store, res).splitlines()))
            try:
                out[name] = generate_programs(name, client=client, store=store, config=cfg, progress=progress)
            except USER_ERRORS as exc:  # one detector's failure must not hide the others'
                errors[name] = str(exc)
                if not as_json:
                    echo(f"[{name}] failed: {exc}", err=True)
    failed = sorted(set(errors) | {d for d, rs in out.items() if not any(r.status == "certified" for r in rs)})
    if as_json:
        echo_json({d: [r.to_dict() for r in rs] for d, rs in out.items()} | {"errors": errors})
        ctx.exit(1 if failed else 0)
    echo("\ndetector  sha256        status    borderline  rounds")
    for name, results in out.items():
        for r in results:
            hard = _borderline(r)
            echo(f"{name:<9} {(r.sha256 or '-')[:12]:<13} {r.status:<11} {hard:>8}  {r.rounds:>6}")
    total = sum(r.status == "certified" for rs in out.values() for r in rs)
    echo(f"{total} program(s) certified")
    if failed:
        echo(f"Error: no program certified for {', '.join(failed)}", err=True)
        ctx.exit(1)


@click.group("prompts")
def prompts():
    """Show the prompts sent to the LLM, and maintain the replay corpus keys."""


@prompts.command("show")
@detector_option(required=True, callback=canonical_detector)
@click.option("--variant", type=click.Choice(list(VARIANTS) + ["initial"]), default="default",
              show_default=True,
              help="; ".join(f"{k}: {v}" for k, v in VARIANT_HELP.items())
              + "; initial: p_initial, the description request (Eq. 2).")
@json_option
def show(detector, variant, as_json):
    """Print the exact prompt text for DETECTOR, with its sha256 and version."""
    prompt = build_initial_prompt(detector) if variant == "initial" else build_prompt(detector, variant)
    if as_json:
        echo_json(prompt.__dict__)
        return
    echo(prompt.text)
    echo(f"\n# prompt {prompt.variant} for {prompt.detector}: version {prompt.version}, "
         f"sha256 {prompt.sha256}")


def bundle_corpus(out):
    """Run the loop over the replay corpus for every detector in a scratch store; bundle what it stored."""
    with tempfile.TemporaryDirectory() as tmp, ProgramStore(Path(tmp) / "corpus.sqlite") as store:
        client = make_client("replay")
        for name in DETECTOR_NAMES:
            # Every recording of the default prompt, not the loop's default three.
            n = len(client.responses_for(build_prompt(name, "default").sha256))
            generate_programs(name, client=client, store=store,
                              config=LoopConfig(n_candidates=max(n, 1), set_default=False))
        return export_bundle(store, out, shas=[r.sha256 for r in store.list()])


@prompts.command("corpus")
@click.option("--rekey", is_flag=True,
              help="Maintainers: point corpus entries at the current prompt texts (after a template "
                   "or card change, once the responses were checked to still answer them).")
@click.option("--bundle", "bundle_out", type=click.Path(dir_okay=False), default=None,
              help="Maintainers: write the corpus's programs, run through the loop, as the bundle the "
                   "runtime certifies on first use (collab/bundled_programs.json).")
@json_option
def corpus(rekey, bundle_out, as_json):
    """List the bundled replay corpus: entries per prompt, provenance, key status."""
    if bundle_out:
        bundled = bundle_corpus(bundle_out)
        echo(f"bundled {len(bundled['programs'])} program(s) into {bundled['path']}", err=True)
    changed = rekey_corpus() if rekey else []
    rows = []
    for e in load_index()["entries"]:
        current = build_prompt(e["detector"], e["variant"]).sha256
        rows.append({"id": e["id"], "detector": e["detector"], "variant": e["variant"],
                     "prompt_sha256": e["prompt_sha256"], "current": current == e["prompt_sha256"],
                     "author": e["author"], "written_at": e["written_at"]})
    if as_json:
        echo_json({"entries": rows, "rekeyed": changed})
        return
    for r in rows:
        state = "ok" if r["current"] else "STALE (template changed; run --rekey after review)"
        echo(f"{r['id']:<22} {r['prompt_sha256'][:12]}  {state}")
    if rows:
        echo(f"author: {rows[0]['author']}")
    if changed:
        echo(f"re-keyed {len(changed)} entr(y/ies): {', '.join(changed)}")
