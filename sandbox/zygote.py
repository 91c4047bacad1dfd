"""Fork server for sandbox workers: one small clean interpreter per process.

Forking the caller itself for every run is quick to start but costly to live
with: while the worker lives, every page of the caller is shared
copy-on-write, so the caller's own work during the run (scoring the
worker's ``model.predict_score`` calls) faults page after page -- measured
here at 1-2 thousand faults and +5 to +45 ms on the first scoring call of
every run.  A forked worker also inherits the caller's memory (secrets
included), threads and BLAS pools.

The zygote is a fresh interpreter spawned once per process inside the
bubblewrap sandbox of :mod:`sandbox.isolation` (own namespaces, uid 65534,
no capabilities, a read-only view of the interpreter only) with a scrubbed
environment and one BLAS/OpenMP thread.  It imports :mod:`sandbox.worker`
without the package ``__init__`` (which pulls the caller-side runner and the
property suite), preloads one fixed module list (:func:`preload_list`, never
a module named by a program), warms numpy up (:func:`sandbox.worker.warm_up`),
and on request forks one worker per run, handing it the two pipe ends the
caller passed over a Unix socket.  It owns the workers: it kills and reaps
them when asked, so a pid is never reused behind the caller's back.  It
exits when the caller's end of the socket closes, and nothing it catches
(a ``BaseException`` included) stops it serving.
"""
import gc
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time

from das.sandbox import isolation
from das.sandbox.isolation import SandboxUnavailable

__all__ = ["Zygote", "SandboxUnavailable", "get_zygote", "use", "shutdown", "preload_list"]

_MAX_MESSAGE = 1 << 16
_START_TIMEOUT_S = 60.0
_KILL_WAIT_S = 1.0  # a SIGKILLed worker is gone within milliseconds
# Imports das.sandbox.worker with bare ``das`` and ``das.sandbox`` packages: no __init__ chain.
_BOOTSTRAP = """import sys, types
sys.path += {paths!r}
sys.modules["das"] = types.ModuleType("das")
sys.modules["das"].__path__ = []
package = types.ModuleType("das.sandbox")
package.__path__ = [{package!r}]
sys.modules["das.sandbox"] = package
sys.modules["das"].sandbox = package
from das.sandbox.zygote import serve
serve({fd})
"""


# -- caller side ---------------------------------------------------------------
class Zygote:
    """Handle on a running zygote; its methods are thread-safe.

    Parameters
    ----------
    isolated : bool, optional
        Start it inside the bubblewrap sandbox.  None (default): where the
        machine allows, else :class:`SandboxUnavailable` unless the user
        opted in (``DAS_ALLOW_UNISOLATED=1``).  False skips the sandbox.

    Attributes
    ----------
    process : subprocess.Popen
        The started process (``bwrap`` when isolated).
    pid : int
        Host pid of the zygote interpreter itself.
    """

    def __init__(self, isolated=None):
        self.isolated = isolation.require() if isolated is None else bool(isolated)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        info_read, info_write = os.pipe()
        bootstrap = _BOOTSTRAP.format(paths=isolation.import_paths(), package=isolation.package_dir(),
                                      fd=theirs.fileno())
        # -I without -E: the environment is wholly ours (isolation.sandbox_env)
        # and PYTHONHASHSEED in it must be read.
        command = [isolation.interpreter(), "-s", "-S", "-P", "-c", bootstrap]
        if self.isolated:
            command = isolation.bwrap_command(command, info_write)
        try:
            self.process = subprocess.Popen(
                command, env=isolation.sandbox_env(), pass_fds=(theirs.fileno(), info_write),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        except OSError as exc:
            ours.close()
            os.close(info_read)
            raise SandboxUnavailable(f"cannot start the sandbox zygote: {exc}") from exc
        finally:
            theirs.close()
            os.close(info_write)
        self.sock = ours
        self.owner = os.getpid()
        self.broken = False
        self.lock = threading.Lock()
        try:
            self.pid = _child_pid(info_read) if self.isolated else self.process.pid
        except SandboxUnavailable:
            self._abandon()
            raise
        finally:
            os.close(info_read)
        ready = self._request({"op": "ready"}, timeout=_START_TIMEOUT_S)
        if not ready["seccomp"] and not isolation.unisolated_allowed():
            self.close()
            raise isolation.refusal(["seccomp: the kernel refused the filter"])

    def _request(self, message, fds=(), timeout=10.0):
        data = json.dumps(message).encode("utf-8")
        with self.lock:
            try:
                self.sock.settimeout(timeout)
                socket.send_fds(self.sock, [data], list(fds))
                reply = self.sock.recv(_MAX_MESSAGE)
            except OSError as exc:  # includes socket.timeout
                self._abandon()
                raise SandboxUnavailable(f"sandbox zygote did not answer: {exc!r}") from exc
        if not reply:
            self._abandon()
            raise SandboxUnavailable("sandbox zygote exited")
        reply = json.loads(reply)
        if "error" in reply:
            raise SandboxUnavailable(f"sandbox zygote failed: {reply['error']}")
        return reply

    def fork_worker(self, read_fd, write_fd):
        """Fork a worker holding ``read_fd``/``write_fd``; returns its pid
        (in the zygote's PID namespace when isolated)."""
        return self._request({"op": "fork"}, fds=(read_fd, write_fd))["pid"]

    def kill(self, pid):
        """Kill worker ``pid`` and its process group (no-op once it is reaped)."""
        self._request({"op": "kill", "pid": pid})

    def wait(self, pid, timeout):
        """Exit of worker ``pid``: ``(wait status, CPU seconds)``, or None if
        it is still running after ``timeout`` seconds."""
        reply = self._request({"op": "wait", "pid": pid, "timeout": timeout}, timeout=timeout + 10.0)
        return None if reply["status"] is None else (reply["status"], reply["cpu"])

    def workers(self):
        """Pids of workers not reaped yet (killed ones are collected first)."""
        return self._request({"op": "workers"})["pids"]

    def alive(self):
        return self.owner == os.getpid() and not self.broken and self.process.poll() is None

    def _abandon(self):
        """A late reply would answer the next request: never use this one again."""
        self.broken = True
        self.process.kill()

    def close(self):
        """Close the socket; the zygote exits at once."""
        self.sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_CURRENT = {"zygote": None}
_CURRENT_LOCK = threading.Lock()


def _child_pid(fd, timeout=_START_TIMEOUT_S):
    """Host pid of the sandboxed interpreter, read from bwrap's info fd."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        raise SandboxUnavailable("bwrap did not start the sandbox zygote") from None


def get_zygote(isolated=None):
    """This process's zygote, started on first use (and again if it died).

    ``isolated`` as in :class:`Zygote`; a running zygote with the other
    setting is replaced.
    """
    with _CURRENT_LOCK:
        zygote = _CURRENT["zygote"]
        stale = zygote is not None and isolated is not None and zygote.isolated != bool(isolated)
        if zygote is None or stale or not zygote.alive():
            if zygote is not None and zygote.owner == os.getpid():
                zygote.close()
            zygote = _CURRENT["zygote"] = Zygote(isolated)
        return zygote


def use(server):
    """Make ``server`` this process's zygote (e.g. to compare two); the one
    it replaces keeps running until its holder closes it."""
    with _CURRENT_LOCK:
        _CURRENT["zygote"] = server


def shutdown():
    """Stop this process's zygote (a later run starts a new one)."""
    with _CURRENT_LOCK:
        zygote, _CURRENT["zygote"] = _CURRENT["zygote"], None
    if zygote is not None and zygote.owner == os.getpid():
        zygote.close()


# -- zygote side -----------------------------------------------------------------
def preload_list():
    """The one fixed list of modules the zygote imports (from sandbox.rules)."""
    from das.sandbox import rules

    return sorted(rules.NUMPY_MODULES | rules.DEFAULT_IMPORTS)


def serve(fd):
    """Main loop of the zygote process (never returns)."""
    from das.sandbox import worker

    # No process of the same uid (another worker escaped from its Python
    # wall) may open this one's /proc/<pid>/mem, fds or environ; forked
    # workers inherit the flag.
    worker.not_dumpable()
    # numpy loads sub-modules lazily: importing numpy.random in every worker
    # would cost ~10 ms a run.
    _preload(preload_list())
    for warm_up in (worker.warm_up, _warm_up_sklearn):
        try:
            warm_up()
        except BaseException:  # noqa: BLE001 - a cold zygote still serves
            pass

    # Workers then never touch the headers of the zygote's objects in a
    # collection: fewer copy-on-write faults per run.
    gc.freeze()
    sock = socket.socket(fileno=fd)
    children = _Children(seccomp_works())
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 2)
        except OSError:
            data, fds = b"", []
        if not data:
            children.kill_all()
            os._exit(0)
        try:
            children.collect()
            request = json.loads(data)
            if request["op"] == "fork":
                reply = {"pid": children.fork(sock, fds, worker.remote_main)}
            else:
                reply = children.handle(request)
        except BaseException as exc:  # noqa: BLE001 - report, keep serving
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for received in fds:
                os.close(received)
        try:
            sock.send(json.dumps(reply).encode("utf-8"))
        except OSError:
            children.kill_all()
            os._exit(0)


class _Children:
    """The zygote's workers: live pids, killed pids awaiting collection, exits."""

    def __init__(self, seccomp_ok):
        self.seccomp_ok = seccomp_ok
        self.live = set()
        self.pidfds = {}  # live pid -> pidfd (readable once it exits)
        self.exits = {}  # pid -> (wait status, CPU seconds), bounded

    def fork(self, sock, fds, main):
        if len(fds) != 2:
            raise ValueError("a fork request carries exactly two descriptors")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker
            try:
                sock.close()
                main(*fds)
            finally:
                os._exit(70)
        self.pidfds[pid] = os.pidfd_open(pid)
        self.live.add(pid)
        return pid

    def handle(self, request):
        op = request["op"]
        if op == "ready":
            return {"seccomp": self.seccomp_ok}
        if op == "workers":
            return {"pids": sorted(self.live)}
        pid = int(request["pid"])
        if op == "kill":
            if pid in self.live:
                _kill(pid)
                self._wait(pid, _KILL_WAIT_S)
                self.collect()
            return {}
        if op == "wait":
            self._wait(pid, float(request["timeout"]))
            status, cpu = self.exits.get(pid, (None, None))
            return {"status": status, "cpu": cpu}
        raise ValueError(f"unknown request {op!r}")

    def _wait(self, pid, timeout):
        """Reap ``pid`` as soon as it exits (its pidfd turns readable), or
        give up after ``timeout`` seconds."""
        if pid in self.live and not self._reap(pid):
            select.select([self.pidfds[pid]], [], [], max(0.0, timeout))
            self._reap(pid)

    def _reap(self, pid):
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if not done:
            return False
        self.live.discard(pid)
        os.close(self.pidfds.pop(pid))
        self.exits[pid] = (status, usage.ru_utime + usage.ru_stime)
        while len(self.exits) > 256:
            self.exits.pop(next(iter(self.exits)))
        return True

    def collect(self):
        for pid in list(self.live):
            self._reap(pid)

    def kill_all(self):
        for pid in self.live:
            _kill(pid)


def _kill(pid):
    """SIGKILL worker ``pid`` and its process group (none before its setsid)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def seccomp_works():
    """Whether the kernel accepts the workers' filter (tried in a child)."""
    from das.sandbox import seccomp

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the probe child
        code = 1
        try:
            seccomp.install(write_fds=())
            code = 0
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def _warm_up_sklearn():
    """scikit-learn's first validation scans every installed package's
    metadata for narwhals plugins (then cached): do it here, not in each
    worker, where opening those files would be wasted work."""
    import sys

    neighbors = sys.modules.get("sklearn.neighbors")
    if neighbors is not None:
        X = [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]
        neighbors.NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X[:1])


def _preload(imports):
    """Import ``imports`` here so every later fork finds them warm.

    A module that fails to import (whatever it raises) is left out: the
    worker reports its import as a runtime error.
    """
    import importlib

    for name in imports:
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - e.g. pytest's Skipped
            pass
