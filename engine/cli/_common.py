"""Helpers shared by every ``das`` command: JSON output, shared options, error mapping."""
import json

import click
import numpy as np

from collab.bench.errors import BenchError
from collab.certification import ProgramRefused
from collab.data import DataError
from collab.enhance import SynthesisError, UnknownClassifier
from collab.metrics import MetricError
from collab.threshold import ThresholdError
from detectors import UnknownDetector
from engine.extract import ExtractionError
from engine.llm import LLMError, UnknownBackend
from engine.prompts import PromptError
from program_store import StoreError

#: Library errors that are the user's to fix (bad files, unknown names, refused
#: programs): printed as one line with exit code 1 by :class:`DasGroup`, never as
#: a traceback. Anything else is a bug and propagates.
USER_ERRORS = (BenchError, DataError, ExtractionError, LLMError, MetricError, ProgramRefused, PromptError,
               StoreError, SynthesisError, ThresholdError, UnknownBackend, UnknownClassifier, UnknownDetector)


class DasGroup(click.Group):
    """The ``das`` group: maps :data:`USER_ERRORS` to ``Error: <message>`` and exit code 1, once."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text."
)


store_option = click.option(
    "--store", "store_path", type=click.Path(dir_okay=False), envvar="DAS_STORE",
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
    click.echo(json.dumps(payload, indent=2, sort_keys=True, default=_default))
