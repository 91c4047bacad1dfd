"""``das store``: where the program store lives (for sqlite-utils, backups, scripts)."""
from pathlib import Path

import click

from das.engine.cli._common import echo, echo_json, json_option, store_option
from das.program_store import default_store_path


@click.group("store")
def store():
    """The program store file itself (plain SQLite)."""


@store.command("path")
@store_option
@json_option
def path(store_path, as_json):
    """Print the store file every command uses: --store, else $DAS_STORE, else $DAS_HOME/programs.sqlite.

    For scripts: sqlite-utils tables "$(das store path)" --counts
    """
    resolved = (Path(store_path).expanduser() if store_path else default_store_path()).resolve()
    if as_json:
        echo_json({"path": str(resolved), "exists": resolved.is_file()})
        return
    echo(str(resolved))
