"""The ``das`` console script: Ctrl-C is a clean exit even while the CLI imports.

Importing the command modules (numpy, scikit-learn, torch) takes seconds; a
Ctrl-C in that window must end like one during a command: one line, exit 130.
"""
import sys


def run():
    """Import the click group and run it."""
    try:
        from das.engine.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    main()
