"""Helpers shared by every ``das`` command: JSON output and error mapping."""
import functools
import json

import click
import numpy as np

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


def user_errors(*error_types):
    """Turn library errors of ``error_types`` into a clean message and exit code 1.

    User mistakes (bad files, unknown names, refused programs) must never show
    a traceback; anything else is a bug and is left to propagate.
    """

    def decorate(command):
        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            try:
                return command(*args, **kwargs)
            except error_types as exc:
                raise click.ClickException(str(exc)) from exc

        return wrapper

    return decorate
