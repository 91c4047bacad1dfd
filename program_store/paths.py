"""Where the embedded store lives by default, and files written whole or not at all."""
import contextlib
import errno
import os
import tempfile
from pathlib import Path

from das.program_store.errors import CannotWrite


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
    there is kept until the new one is complete. The new file gets the usual permissions.

    A ``path`` that exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a named
    pipe) is written into as it is: replacing it would turn a device or a pipe into a regular
    file. A directory is refused. Any error of the file system is a :class:`CannotWrite`.
    """
    path = Path(path)
    try:
        special = path.exists() and not path.is_file()
        if special and path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    if special:
        try:
            fh = open(path, mode, **open_kwargs)
        except OSError as exc:
            raise _cannot_write(path, exc) from exc
        with _as_cannot_write(path):
            with fh:
                yield fh
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    try:
        with _as_cannot_write(path):
            with os.fdopen(fd, mode, **open_kwargs) as fh:
                yield fh
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cannot_write(path, exc):
    return CannotWrite(f"cannot write {path}: {exc.strerror or exc}")


@contextlib.contextmanager
def _as_cannot_write(path):
    """An :class:`OSError` of the writing (ENOSPC on ``/dev/full``, EPIPE ...) as a :class:`CannotWrite`."""
    try:
        yield
    except CannotWrite:
        raise
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
