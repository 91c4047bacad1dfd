"""The ``das`` console script: Ctrl-C is a clean exit even while the CLI imports.

Importing the command modules (numpy, scikit-learn, torch) takes seconds; a
Ctrl-C in that window must end like one during a command: one line, exit 130.
A Ctrl-C after the command has ended (its output written, its exit code set) is
ignored: the interpreter's exit (atexit callbacks, threads, sockets) must not turn
it into a traceback or an exit code 130 that says the previous file was kept.
"""
import signal
import sys


def _import_sqlite_utils_without_pandas():
    """Import sqlite-utils with pandas hidden: it imports pandas only to map ``pandas.Timestamp``
    columns, which the store never writes, and pandas (with pyarrow) took ~0.25 CPU s of every
    command's start (measured: ``das programs list`` 0.85 -> 0.62 s). Only here, in the ``das``
    process, where no one else's code runs and no other thread imports meanwhile; a later
    ``import pandas`` (reading a CSV) works as usual."""
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        return
    sys.modules["pandas"] = None  # ``import pandas`` raises ImportError, which sqlite-utils catches
    try:
        import sqlite_utils  # noqa: F401
    finally:
        if sys.modules.get("pandas", ...) is None:
            del sys.modules["pandas"]


def run():
    """Import the click group and run it."""
    try:
        _import_sqlite_utils_without_pandas()
        from das.engine.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    try:
        main()
    finally:  # the command's work is done (or it failed): a late Ctrl-C changes nothing
        signal.signal(signal.SIGINT, signal.SIG_IGN)
