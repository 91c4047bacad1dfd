"""Helpers shared by every ``das`` command: JSON output, shared options, error mapping."""
import functools
import json
import math
import os
import sqlite3
import tempfile
import warnings
from pathlib import Path

import click
import numpy as np

from das.collab.bench.errors import BenchError
from das.collab.certification import BUNDLED_PROGRAMS, ProgramRefused
from das.collab.data import MISSING, DataError, DataWarning, check_column_roles
from das.collab.enhance import SynthesisError, UnknownClassifier
from das.collab.metrics import MetricError
from das.collab.threshold import ThresholdError
from das.detectors import DetectorInputError, UnknownDetector
from das.engine.extract import ExtractionError
from das.engine.llm import LLMError, UnknownBackend
from das.engine.prompts import PromptError
from das.program_store import StoreError, default_store_path
from das.sandbox.isolation import SandboxUnavailable
from das.sandbox.untrusted import show_controls

#: Library errors that are the user's to fix (bad files, unknown names, refused
#: programs, a machine where the sandbox cannot start): printed as one line with
#: exit code 1 by :class:`DasGroup`, never as a traceback. Anything else is a bug and propagates.
USER_ERRORS = (BenchError, DataError, DetectorInputError, ExtractionError, LLMError, MetricError, ProgramRefused,
               PromptError, SandboxUnavailable, StoreError, SynthesisError, ThresholdError, UnknownBackend,
               UnknownClassifier, UnknownDetector)


#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def echo(message="", file=None, nl=True, err=False):
    """``click.echo`` for every das text output: control and bidi characters shown as escapes.

    Program sources, policies, prompt variants, detector names and messages can
    come from an attacker (a stored program, a bundle, a store file, a CSV):
    :func:`sandbox.untrusted.show_controls` shows ``ESC``, ``CR``, bidi overrides and other
    invisible characters as ``\\x1b``, ``\\x0d``, ``\\u202e`` instead of handing them to the terminal.
    """
    click.echo(None if message is None else show_controls(message), file=file, nl=nl, err=err)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Print das's own warnings (data, programs) as one line on stderr."""
    if issubclass(category, DataWarning) or category.__module__.startswith("das."):
        echo(f"Warning: {message}", err=True)
    else:
        echo(warnings.formatwarning(message, category, filename, lineno, line).rstrip(), err=True)


class DasGroup(click.Group):
    """The ``das`` group: maps :data:`USER_ERRORS` to ``Error: <message>`` and exit code 1, once.

    Error messages show control and bidi characters as escapes (as :func:`echo`
    does), Ctrl-C ends any command with one line and exit code 130, and data
    warnings print as ``Warning: <message>`` on stderr. With ``--json`` on the
    command line, an error (usage errors and Ctrl-C included) is ``{"error": ..., "exit_code": ...}``
    on stdout instead, with the same exit code.
    """

    def invoke(self, ctx):
        as_json = _wants_json(ctx)  # before the group hands the arguments to the command
        with warnings.catch_warnings():  # restores showwarning afterwards
            warnings.simplefilter("always", DataWarning)
            warnings.showwarning = _show_warning
            try:
                try:
                    return super().invoke(ctx)
                except USER_ERRORS as exc:
                    raise click.ClickException(str(exc)) from exc
                except sqlite3.Error as exc:  # only the program store speaks SQLite
                    raise click.ClickException(_store_error(exc)) from exc
            except click.ClickException as exc:  # click prints it: escape what came from outside
                if as_json:
                    echo_json({"error": exc.format_message(), "exit_code": exc.exit_code})
                    ctx.exit(exc.exit_code)
                exc.message = show_controls(exc.message)
                raise
            except KeyboardInterrupt:
                click.echo("Interrupted.", err=True)
                if as_json:  # a script reading stdout gets its one JSON object here too
                    echo_json({"error": "interrupted", "exit_code": EXIT_INTERRUPTED})
                ctx.exit(EXIT_INTERRUPTED)


def _wants_json(ctx):
    """Whether the command line asks for ``--json`` (before any ``--``): read from the arguments, as
    a usage error can come before the command's options are parsed."""
    args = [*getattr(ctx, "_protected_args", ()), *ctx.args]
    return "--json" in (args[:args.index("--")] if "--" in args else args)


def _store_error(exc):
    """One line for an SQLite error from the program store (a damaged or hostile file)."""
    from das.program_store.schema import MAX_STATEMENT_STEPS

    why = (f"a query ran over {MAX_STATEMENT_STEPS:,} steps and was stopped"
           if "interrupted" in str(exc) else str(exc))
    return f"program store: {why} (the store file may be damaged or hostile)"


class AliasOption(click.Option):
    """An option whose old spellings (``aliases``) still work but are left out of ``--help``."""

    def __init__(self, param_decls, *, aliases=(), **attrs):
        super().__init__(list(param_decls) + list(aliases), **attrs)
        self.aliases = tuple(aliases)

    def get_help_record(self, ctx):
        shown = self.opts
        self.opts = [o for o in shown if o not in self.aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def detector_option(help="Detector name (PCA, IForest, OCSVM, ECOD, LOF, KNN, DRL).", **attrs):
    """``--detector`` / ``-d``, spelled the same on every command."""
    return click.option("--detector", "-d", cls=AliasOption, help=help, **attrs)


#: Seeds the detectors and numpy's RandomState accept.
SEED = click.IntRange(0, 2**32 - 1)


def finite_weight(ctx, param, value):
    """Click callback: a fusion weight must be a finite number >= 0 (nan and inf are refused)."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise click.BadParameter(f"must be a finite number >= 0, got {value}")
    return value


def verification_seed_option(fn):
    """``--seed`` of the commands that verify programs: unset, every verification draws its own seed
    from the OS (recorded in its report); a recorded seed replays that verification."""
    return click.option("--seed", type=SEED, default=None,
                        help="Verification seed [default: drawn from the OS for each verification and "
                             "recorded in its report]; pass a recorded seed to replay that verdict.")(fn)


def canonical_detector(ctx, param, value):
    """Click callback: the registry's spelling of a detector name (``iforest`` -> ``IForest``); an
    unknown name is a usage error (exit code 2)."""
    from das.detectors import canonical_name

    if value is None:
        return None
    try:
        return canonical_name(value)
    except UnknownDetector as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def writable_file(ctx, param, value):
    """Refuse, before any work is done, an output file that could not be written: no name, a
    directory, a missing directory, or one where no file can be made (the file is written through
    a temporary file beside it, so its directory must take one, even when the file is writable).

    A file that exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a named pipe)
    is kept as given (``/dev/stdout`` resolves to a name that does not exist) and written into."""
    if value is None:
        return None
    try:
        if value.strip() == "-":  # not standard output: the summary is printed there
            raise click.BadParameter("'-' is not standard output here: name a file (or /dev/stdout)", ctx, param)
        given = Path(value).expanduser()
        if not value.strip() or value.endswith(("/", os.sep)) or given.is_dir():
            raise click.BadParameter(f"{value!r} is not a file name", ctx, param)
        if given.exists() and not given.is_file():  # a device or a pipe: written into, never replaced
            if not os.access(given, os.W_OK):
                raise click.BadParameter(f"cannot write {value}: permission denied", ctx, param)
            return str(given)
        target = given.resolve()
        parent = target.parent
        if not parent.is_dir():
            why = "is not a directory" if parent.exists() else "does not exist"
            raise click.BadParameter(f"directory {parent} {why}", ctx, param)
    except OSError as exc:  # a name too long, a loop of links ...
        raise click.BadParameter(f"cannot use {value!r}: {exc.strerror or exc}", ctx, param) from None
    _check_can_write_in(parent, ctx, param)
    return str(target)  # what was checked is what is written ('~', 'missing/../x')


def refuse_overwriting(out, inputs, store_path):
    """A usage error when ``out`` is a file the command reads: the data, a labels file (``inputs``),
    the program store at ``store_path`` (the ``--store`` value; None: the default store) with its
    SQLite journal files, or the bundled programs. Writing there would destroy it; symbolic and hard
    links are followed. Checked before any work, like :func:`writable_file`."""
    if out is None or not Path(out).exists():
        return
    store = Path(store_path).expanduser() if store_path else default_store_path()
    named = [(path, f"an input file ({path})") for path in inputs if path is not None]
    named += [(Path(f"{store}{suffix}"), f"the program store ({store})") for suffix in ("", "-wal", "-shm", "-journal")]
    named.append((BUNDLED_PROGRAMS, f"the bundled programs ({BUNDLED_PROGRAMS})"))
    for path, what in named:
        try:
            same = Path(path).exists() and os.path.samefile(out, path)
        except OSError:
            continue
        if same:
            raise click.UsageError(f"--out {out} is {what}: it would be overwritten; write to another file")


def writable_dir(ctx, param, value):
    """Refuse, before any work is done, an output directory that could not be made or written in
    (its nearest existing ancestor is where it would be made); nothing is created here."""
    if value is None:
        return None
    try:
        path = Path(value).expanduser().resolve()
        existing = next(p for p in (path, *path.parents) if p.exists())
        is_dir = existing.is_dir()
    except OSError as exc:  # a name too long, a loop of links ...
        raise click.BadParameter(f"cannot use {value!r}: {exc.strerror or exc}", ctx, param) from None
    if not is_dir:
        raise click.BadParameter(f"{existing} is not a directory", ctx, param)
    _check_can_write_in(existing, ctx, param)
    return str(path)


def _check_can_write_in(directory, ctx, param):
    """A file made and removed in ``directory``: the one test permissions, read-only or
    virtual file systems (``/proc``) all answer. A probe that cannot be removed (an
    append-only directory) is named in a warning, never a traceback."""
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".das-probe-")
    except OSError as exc:
        raise click.BadParameter(f"cannot write in {directory}: {exc.strerror or exc}", ctx, param) from None
    os.close(fd)
    try:
        os.unlink(probe)
    except FileNotFoundError:
        pass
    except OSError as exc:
        echo(f"Warning: could not remove the empty probe file {probe} ({exc.strerror or exc})", err=True)


def out_file_option(help, **attrs):
    """``--out FILE``: a file to write, whose directory must exist (checked before the work)."""
    # No explicit default=None: click 8.5 then skips the required check, and the work ran before failing.
    return click.option("--out", type=click.Path(dir_okay=False, writable=True), callback=writable_file,
                        help=help, **attrs)


def _columns(ctx, param, value):
    return tuple(c.strip() for v in value for c in v.split(",") if c.strip())


def _one_character(ctx, param, value):
    """``--sep``, ``--decimal`` and ``--thousands`` are one character (``tab`` and ``\\t`` name a tab)."""
    if value is None or value in ("tab", "\\t") or len(value) == 1:
        return value
    raise click.BadParameter(f"expected one character, got {value!r}")


def _known_encoding(ctx, param, value):
    """``--encoding`` names a text encoding Python knows (a usage error otherwise, before any work)."""
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(f"unknown encoding {value!r} (e.g. utf-8, cp1252, latin-1, utf-16)") from None
    return value


_DATA_OPTIONS = (
    click.option("--data-dir", type=click.Path(file_okay=False), envvar="DAS_DATA_DIR", default=None,
                 help="Directory where dataset names are looked up (default: $DAS_DATA_DIR)."),
    click.option("--label-column", default=None,
                 help="Table label column (1 = anomaly) [default: label or y; a column named like a label "
                      "(Label, class, target, is_fraud, ...) with a warning]."),
    click.option("--id-column", default=None,
                 help="Table column of row ids, kept in the output, never a feature [default: a column "
                      "named id, row_id, *_id, CustomerID, ... or holding UUIDs, with a warning]."),
    click.option("--drop", multiple=True, callback=_columns,
                 help="Table columns to ignore (repeatable or comma-separated)."),
    click.option("--sep", default=None, callback=_one_character,
                 help="CSV/TSV field separator ('\\t' or tab for a tab) [default: tab for .tsv, else guessed "
                      "among , ; tab |]."),
    click.option("--decimal", default=".", show_default=True, callback=_one_character,
                 help="CSV/TSV decimal mark (',' for 1,5)."),
    click.option("--thousands", default=None, callback=_one_character,
                 help="CSV/TSV thousands separator (',' for 1,234.5; '.' or ' ' for 1.234,5 with --decimal ,; "
                      "' ' also reads no-break spaces)."),
    click.option("--encoding", default="utf-8", show_default=True, callback=_known_encoding,
                 help="CSV/TSV text encoding (cp1252 for a file saved by Excel on Windows)."),
    click.option("--header/--no-header", default=None,
                 help="Whether the CSV/TSV's first row names the columns [default: yes unless it is all numbers]."),
    click.option("--missing", type=click.Choice(MISSING), default="error", show_default=True,
                 help="Missing values: refuse, drop their rows, or fill with the column mean."),
)
#: The parameter names :func:`data_options` adds (a test checks every command that reads data has them).
DATA_OPTION_NAMES = ("data_dir", "label_column", "id_column", "drop", "sep", "decimal", "thousands", "encoding",
                     "header", "missing")


def data_options(fn):
    """The options of every command that reads data: where names are found and how tables are read.

    The command receives ``data_dir`` and ``read``, a dict of
    :func:`collab.data.load_dataset` options (``label_column``, ``sep``, ...).
    A column given two roles (``--label-column X --drop X``) is a usage error.
    """
    @functools.wraps(fn)
    def wrapper(*args, label_column, id_column, drop, sep, decimal, thousands, encoding, header, missing, **kwargs):
        try:
            check_column_roles(label_column, id_column, drop)
        except DataError as exc:
            raise click.UsageError(str(exc), click.get_current_context()) from exc
        if thousands is not None and thousands == decimal:
            hint = " (1.234,5: pass --decimal , too)" if thousands == "." else ""
            raise click.UsageError(f"--thousands {thousands!r} is also the decimal mark{hint}",
                                   click.get_current_context())
        read = {"label_column": label_column, "id_column": id_column, "drop": drop, "sep": sep,
                "decimal": decimal, "thousands": thousands, "encoding": encoding, "header": header,
                "missing": missing}
        return fn(*args, read=read, **kwargs)

    for option in reversed(_DATA_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def read_program_file(path, in_place=False):
    """The program in a file: plain Python, or an LLM answer with fences and prose around it.

    ``in_place``: each line of the program at its line in the file (the
    rest blank), so that reports' line numbers are the file's.

    Raises
    ------
    click.ClickException
        Unreadable file, or one over the audit's size limit.
    engine.extract.ExtractionError
        No ``generate_hard_anomalies`` can be found in a fenced answer.
    """
    from das.engine.extract import program_source
    from das.sandbox.properties import MAX_SOURCE_BYTES

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SOURCE_BYTES + 1)  # never more than the audit would look at
        if len(data) > MAX_SOURCE_BYTES:
            raise click.ClickException(f"program file {path} is over the limit of {MAX_SOURCE_BYTES:,} bytes")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read program file {path}: {exc}") from exc
    return program_source(text, in_place=in_place)


#: Printed on stderr before a command certifies the bundled programs (30-60 s of silence otherwise).
FIRST_USE_MESSAGE = "certifying the bundled synthesis programs (first use only)..."


def say_first_use():
    """Print :data:`FIRST_USE_MESSAGE` on stderr (never stdout: ``--json`` stays JSON). Every command
    says it when a first use is about to certify (:func:`collab.certification.first_use_notice`,
    entered by the CLI's group): after its input was read and checked, only if work follows."""
    echo(FIRST_USE_MESSAGE, err=True)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text."
)


def _store_path(ctx, param, value):
    """Refuse a store path under a file (``$DAS_HOME`` set to a file) before any work is done."""
    path = Path(value).expanduser() if value else default_store_path()
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise click.BadParameter(f"cannot keep the store at {path}: {parent} is not a directory "
                                 "(check $DAS_HOME, $DAS_STORE or --store)", ctx, param)
    return value


store_option = click.option(
    "--store", "store_path", type=click.Path(dir_okay=False), envvar="DAS_STORE", callback=_store_path,
    default=None, help="Program store file (default: $DAS_STORE or $DAS_HOME/programs.sqlite).",
)


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return str(obj)


def echo_json(payload):
    """Print ``payload`` as indented JSON (numpy values converted)."""
    echo(json.dumps(payload, indent=2, sort_keys=True, default=_default))
