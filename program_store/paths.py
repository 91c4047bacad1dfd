"""Where the embedded store lives by default."""
import os
from pathlib import Path


def das_home():
    """Return ``$DAS_HOME`` or ``~/.local/share/das``."""
    return Path(os.environ.get("DAS_HOME") or Path.home() / ".local" / "share" / "das")


def default_store_path():
    """Return ``$DAS_STORE`` or ``$DAS_HOME/programs.sqlite``."""
    env = os.environ.get("DAS_STORE")
    return Path(env) if env else das_home() / "programs.sqlite"
