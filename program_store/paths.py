"""Where the embedded store lives by default, and files written whole or not at all."""
import contextlib
import os
import tempfile
from pathlib import Path


def das_home():
    """Return ``$DAS_HOME`` or ``~/.local/share/das``."""
    return Path(os.environ.get("DAS_HOME") or Path.home() / ".local" / "share" / "das")


def default_store_path():
    """Return ``$DAS_STORE`` or ``$DAS_HOME/programs.sqlite``."""
    env = os.environ.get("DAS_STORE")
    return Path(env) if env else das_home() / "programs.sqlite"


@contextlib.contextmanager
def written_whole(path, mode="w", **open_kwargs):
    """Write ``path`` through a temporary file beside it that replaces it only when the block
    ends without error: ``path`` is never left half-written (Ctrl-C included), and a file already
    there is kept until the new one is complete. The new file gets the usual permissions."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
