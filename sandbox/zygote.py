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
and gives every run a fresh worker, handing it the three descriptors the
caller passed over a Unix socket (the two pipe ends and the sealed memfd
of ``X_train``, see :func:`sandbox.protocol.share_array`).  The fork is
kept off the run's path: one *spare* worker is forked ahead of need (while
the current run goes on) and waits, before any task, for the descriptors
of exactly one run; it is never handed a second.  So is a worker's exit: a
kill is answered as soon as the signal is sent (a SIGKILLed process never
runs again), and the worker is reaped while the caller goes on (tearing down
a worker's warmed heap took ~1.5 ms a run); every reply carries the exits
reaped since the last one, so a run's CPU seconds (``wait4``, exact) mostly
reach the caller with its next request.  The zygote owns the workers: only
it reaps them, so a pid is never reused behind the caller's back.  It exits
when the caller's end of the socket closes, and nothing it catches (a
``BaseException`` included) stops it serving.

Two zygotes at most: a *lean* one that preloads numpy and the standard
library modules only, and a *heavy* one, started on first need, that also
preloads scipy and scikit-learn (~70 MB more, which every worker forked
from it would carry and tear down).  A program runs in the heavy one only
when its audited imports name scipy or scikit-learn (:func:`needs_heavy`).
"""
import atexit
import contextlib
import contextvars
import functools
import gc
import json
import os
import queue
import resource
import select
import signal
import socket
import struct
import subprocess
import threading
import time
import weakref

from das.sandbox import isolation
from das.sandbox.isolation import SandboxUnavailable

__all__ = ["Zygote", "SandboxUnavailable", "get_zygote", "second_zygotes", "use", "discard", "shutdown",
           "preload_list", "needs_heavy"]

_MAX_MESSAGE = 1 << 16
_START_TIMEOUT_S = 60.0
#: Exits kept for :meth:`Zygote.wait`, on each side (the oldest go first).
_KEPT_EXITS = 4096
_KILLED_EXIT_S = 1.0  # a SIGKILLed worker is gone within milliseconds
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
serve({fd}, {heavy})
"""
#: Top-level packages whose modules only the heavy zygote preloads.
HEAVY_PACKAGES = frozenset({"scipy", "sklearn"})


# -- caller side ---------------------------------------------------------------
class Zygote:
    """Handle on a running zygote; its methods are thread-safe.

    Parameters
    ----------
    isolated : bool, optional
        Start it inside the bubblewrap sandbox.  None (default): where the
        machine allows, else :class:`SandboxUnavailable` unless the user
        opted in (``DAS_ALLOW_UNISOLATED=1``).  False skips the sandbox.
    heavy : bool, default False
        Also preload scipy and scikit-learn (:func:`preload_list`).

    Attributes
    ----------
    process : subprocess.Popen
        The started process (``bwrap`` when isolated).
    pid : int
        Host pid of the zygote interpreter itself.
    """

    def __init__(self, isolated=None, heavy=False):
        self.isolated = isolation.require() if isolated is None else bool(isolated)
        self.heavy = bool(heavy)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        info_read, info_write = os.pipe()
        starting = [ours, theirs, info_read, info_write]  # a child forked meanwhile closes its copies
        _STARTING.append(starting)
        try:
            self._start(starting)
        finally:
            _STARTING.remove(starting)
            for end in starting:  # what an exception (a Ctrl-C) left open; a start leaves none
                _close_end(end)

    def _start(self, starting):
        ours, theirs, info_read, info_write = starting

        def release(end):  # forgotten first: a child forked between the two keeps a copy, never closes a reused number
            starting.remove(end)
            _close_end(end)

        bootstrap = _BOOTSTRAP.format(paths=isolation.import_paths(), package=isolation.package_dir(),
                                      fd=theirs.fileno(), heavy=self.heavy)
        # -I without -E: the environment is wholly ours (isolation.sandbox_env)
        # and PYTHONHASHSEED in it must be read.
        command = [isolation.interpreter(), "-s", "-S", "-P", "-c", bootstrap]
        if self.isolated:
            command = isolation.bwrap_command(command, info_write)
        try:
            self.process = _launched(functools.partial(
                subprocess.Popen, command, env=isolation.sandbox_env(), pass_fds=(theirs.fileno(), info_write),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        except OSError as exc:  # whatever else is raised (a Ctrl-C), what is left open is closed by __init__
            raise SandboxUnavailable(f"cannot start the sandbox zygote: {exc}") from exc
        finally:
            release(theirs)
            release(info_write)
        self.sock = ours
        self.owner = os.getpid()
        self.broken = False
        _EVERY.add(self)
        starting.remove(ours)
        self.lock = threading.Lock()
        self.exits = {}  # pid -> (wait status, CPU seconds): reaped workers' exits the replies carried
        try:
            self.pid = _child_pid(info_read) if self.isolated else self.process.pid
        except BaseException:  # a Ctrl-C included: no half-started zygote is left running
            self._abandon()
            raise
        finally:
            release(info_read)
        ready = self._request({"op": "ready"}, timeout=_START_TIMEOUT_S)
        if not ready["seccomp"] and not isolation.unisolated_allowed():
            self.close()
            raise isolation.refusal(["seccomp: the kernel refused the filter"])

    def _request(self, message, fds=(), timeout=10.0):
        if os.getpid() != self.owner:  # a forked child would read its parent's replies
            raise SandboxUnavailable("the sandbox zygote belongs to the process that started it")
        data = json.dumps(message).encode("utf-8")
        with self.lock:  # the exits a reply carries are merged before another request can be answered
            try:
                self.sock.settimeout(timeout)
                socket.send_fds(self.sock, [data], list(fds))
                reply = self.sock.recv(_MAX_MESSAGE)
            except OSError as exc:  # includes socket.timeout
                self._abandon()
                raise SandboxUnavailable(f"sandbox zygote did not answer: {exc!r}") from exc
            except BaseException:  # interrupted between request and reply: out of step for good
                self._abandon()
                raise
            if not reply:
                self._abandon()
                raise SandboxUnavailable("sandbox zygote exited")
            try:
                reply = json.loads(reply)
                exits = {int(pid): (int(status), float(cpu))
                         for pid, (status, cpu) in reply.pop("exits", {}).items()}
            except (ValueError, TypeError, AttributeError):
                self._abandon()
                raise SandboxUnavailable("sandbox zygote sent a malformed reply") from None
            self.exits.update(exits)
            if message["op"] == "fork" and isinstance(reply.get("pid"), int):
                self.exits.pop(reply["pid"], None)  # an earlier worker's, had the pid come round again
            while len(self.exits) > _KEPT_EXITS:
                self.exits.pop(next(iter(self.exits)))
        if "error" in reply:
            raise SandboxUnavailable(f"sandbox zygote failed: {reply['error']}")
        return reply

    def fork_worker(self, read_fd, write_fd, data_fd):
        """Start a fresh worker holding ``read_fd``/``write_fd`` and the memfd
        ``data_fd``; returns its pid (in the zygote's PID namespace when isolated)."""
        return self._request({"op": "fork"}, fds=(read_fd, write_fd, data_fd))["pid"]

    def kill(self, pid):
        """SIGKILL worker ``pid`` and its process group (no-op once it is reaped); answered at once,
        without waiting for its exit (:meth:`wait` gives that)."""
        self._request({"op": "kill", "pid": pid})

    def wait(self, pid, timeout):
        """Exit of worker ``pid``: ``(wait status, CPU seconds)``, or None if it is still running
        after ``timeout`` seconds. An exit a reply already carried costs no round trip."""
        with self.lock:
            known = self.exits.get(pid)
        if known is not None:
            return known
        reply = self._request({"op": "wait", "pid": pid, "timeout": timeout}, timeout=timeout + 10.0)
        return None if reply["status"] is None else (reply["status"], reply["cpu"])

    def workers(self):
        """Pids of workers handed a run and not reaped yet (killed ones are given a second to
        exit first); the spare, which holds no run, is not one."""
        return self._request({"op": "workers"})["pids"]

    def spare(self):
        """Pid of the spare worker (forked ahead, no run handed to it yet), or None."""
        return self._request({"op": "spare"})["pid"]

    def alive(self):
        return self.owner == os.getpid() and not self.broken and self.process.poll() is None

    def _abandon(self):
        """A late reply would answer the next request: never use this one again (it is killed)."""
        self.broken = True
        _kill_group(self.process)
        self.sock.close()

    def close(self):
        """Close the socket; the zygote exits at once."""
        self.sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: This process's zygotes: (second, heavy) -> Zygote. The first ones serve every run; the
#: second ones serve the runs inside :func:`second_zygotes` (another process: another address
#: layout). Each is started on first need, and again if it died.
_SLOTS = dict.fromkeys([(False, False), (False, True), (True, False), (True, True)])
_SLOTS_LOCK = threading.Lock()
_OUTSIDE = object()
#: Inside :func:`second_zygotes`: the isolation of the second zygotes (None: the default); else _OUTSIDE.
_SECOND = contextvars.ContextVar("das_sandbox_second_zygotes", default=_OUTSIDE)


def _launched(start):
    """``start()`` (which forks a zygote) run on this process's launcher thread, a daemon that lives
    as long as the process: bwrap's ``--die-with-parent`` (the kernel's parent-death signal) fires
    when the *thread* that forked it ends, and a caller's thread may end long before its process.
    Interrupted while waiting, the started process is killed rather than left behind."""
    with _LAUNCHER_LOCK:
        if _LAUNCHER["pid"] != os.getpid():  # none yet, or a fork of the process that had one
            jobs = queue.SimpleQueue()
            threading.Thread(target=_launch_loop, args=(jobs,), name="das-zygote-launcher", daemon=True).start()
            _LAUNCHER.update(pid=os.getpid(), jobs=jobs)
        jobs = _LAUNCHER["jobs"]
    job = {"done": threading.Event(), "lock": threading.Lock()}
    jobs.put((start, job))
    try:
        job["done"].wait()
    except BaseException:
        with job["lock"]:
            job["abandoned"] = True  # not started yet: the launcher skips it
        # Started: its fork returns within milliseconds. Until then the descriptors it passes are
        # not closed (the caller's cleanup waits), so a number reused meanwhile is never handed over.
        job["done"].wait()
        if job.get("value") is not None:
            _kill_group(job["value"])
        raise
    if "error" in job:
        raise job["error"]
    return job["value"]


def _launch_loop(jobs):
    while True:
        start, job = jobs.get()
        with job["lock"]:
            abandoned = job.get("abandoned", False)
        if not abandoned:
            try:
                job["value"] = start()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                job["error"] = exc
        job["done"].set()


def _close_end(end):
    """Close a socket or a raw descriptor of a zygote's start (gone already: nothing to do)."""
    with contextlib.suppress(OSError):
        end.close() if isinstance(end, socket.socket) else os.close(end)


def _kill_group(process):
    """SIGKILL a started zygote's process group (bwrap and the child it has not yet tied to its own
    life) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.kill()
    process.wait()


_LAUNCHER = {"pid": None, "jobs": None}
_LAUNCHER_LOCK = threading.Lock()


#: Every zygote this process holds a socket to, and the descriptors of those being started
#: (a forked child closes its copies).
_EVERY = weakref.WeakSet()
_STARTING = []


def _forget_after_fork():
    """In a forked child: the parent's zygotes and launcher are not its own (its copies of their
    sockets are closed, so that the parent's closing one still ends it), and a lock another of the
    parent's threads held at the fork would never be released."""
    global _SLOTS_LOCK, _LAUNCHER_LOCK
    _SLOTS_LOCK, _LAUNCHER_LOCK = threading.Lock(), threading.Lock()
    _SLOTS.update(dict.fromkeys(_SLOTS))
    _LAUNCHER.update(pid=None, jobs=None)
    for zygote in list(_EVERY):
        zygote.lock = threading.Lock()
        zygote.broken = True
        zygote.sock.close()
    for starting in _STARTING:
        for end in starting:
            _close_end(end)
        starting.clear()
    _STARTING.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def _child_pid(fd, timeout=_START_TIMEOUT_S):
    """Host pid of the sandboxed interpreter, read from bwrap's info fd: as soon as what was read
    is a JSON object naming it (a process forked meanwhile may hold the pipe's write end open)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
            pid = _named_pid(data)
            if pid is not None:
                return pid
    pid = _named_pid(data)
    if pid is None:
        raise SandboxUnavailable("bwrap did not start the sandbox zygote")
    return pid


def _named_pid(data):
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None


def get_zygote(isolated=None, heavy=False):
    """This process's lean (or ``heavy``) zygote, started on first use (and again if it died);
    inside :func:`second_zygotes`, its second one of that kind.

    ``isolated`` and ``heavy`` as in :class:`Zygote`; a running zygote with
    the other ``isolated`` setting is replaced.
    """
    second = _SECOND.get()
    if second is not _OUTSIDE and isolated is None:
        isolated = second
    key = (second is not _OUTSIDE, bool(heavy))
    with _SLOTS_LOCK:
        zygote = _SLOTS[key]
        stale = zygote is not None and isolated is not None and zygote.isolated != bool(isolated)
        if zygote is None or stale or not zygote.alive():
            if zygote is not None and zygote.owner == os.getpid():
                zygote.close()
            zygote = _SLOTS[key] = Zygote(isolated, heavy)
        return zygote


@contextlib.contextmanager
def second_zygotes(isolated=None):
    """Within the block, in this thread (and context) only, runs come from this process's second
    zygotes, started once per process and kind (~2.5 s), isolated like ``isolated`` (None: the
    default): a process of their own, so another address layout (a program keyed to an address
    would not repeat itself there)."""
    token = _SECOND.set(isolated)
    try:
        yield
    finally:
        _SECOND.reset(token)


def use(server):
    """Make ``server`` this process's (first) zygote of its kind (e.g. to compare two);
    the one it replaces keeps running until its holder closes it."""
    with _SLOTS_LOCK:
        _SLOTS[(False, server.heavy)] = server


def discard(server):
    """Close ``server`` (one that stopped answering, say); the next run of its kind starts another."""
    with _SLOTS_LOCK:
        for key, zygote in _SLOTS.items():
            if zygote is server:
                _SLOTS[key] = None
    if server.owner == os.getpid():
        server.close()


def shutdown():
    """Stop this process's zygotes, second ones included (a later run starts new ones)."""
    with _SLOTS_LOCK:
        zygotes = [z for z in _SLOTS.values() if z is not None]
        _SLOTS.update(dict.fromkeys(_SLOTS))
    for zygote in zygotes:
        if zygote.owner == os.getpid():
            zygote.close()


# At exit the zygotes are waited for, not left to die with their socket: no
# process outlives das, and their CPU time is counted with das's (wait4, time).
atexit.register(shutdown)


def needs_heavy(imports):
    """Whether a program importing the modules ``imports`` runs in the heavy zygote."""
    return any(name.split(".")[0] in HEAVY_PACKAGES for name in imports)


# -- zygote side -----------------------------------------------------------------
def preload_list(heavy=True):
    """The fixed list of modules a zygote imports (from sandbox.rules); without
    ``heavy``, none of :data:`HEAVY_PACKAGES`."""
    from das.sandbox import rules

    return sorted(name for name in rules.NUMPY_MODULES | rules.DEFAULT_IMPORTS if heavy or not needs_heavy([name]))


def serve(fd, heavy=True):
    """Main loop of the zygote process (never returns)."""
    from das.sandbox import worker

    # No process of the same uid (another worker escaped from its Python
    # wall) may open this one's /proc/<pid>/mem, fds or environ; forked
    # workers inherit the flag.
    worker.not_dumpable()
    # numpy loads sub-modules lazily: importing numpy.random in every worker
    # would cost ~10 ms a run.
    _preload(preload_list(heavy))
    for warm_up in (worker.warm_up, _warm_up_sklearn):
        try:
            warm_up()
        except BaseException:  # noqa: BLE001 - a cold zygote still serves
            pass

    # Workers then never touch the headers of the zygote's objects in a
    # collection: fewer copy-on-write faults per run.
    gc.freeze()
    sock = socket.socket(fileno=fd)
    children = _Children(seccomp_works(), worker.remote_main, worker.warm_spare)
    children.prepare(sock)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 3)
        except OSError:
            data, fds = b"", []
        if not data:
            children.kill_all()
            os._exit(0)
        try:
            children.collect()
            request = json.loads(data)
            if request["op"] == "fork":
                reply = {"pid": children.start(sock, fds)}
            else:
                reply = children.handle(request)
        except BaseException as exc:  # noqa: BLE001 - report, keep serving
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for received in fds:
                os.close(received)
        reply["exits"] = children.take_fresh()
        try:
            sock.send(json.dumps(reply).encode("utf-8"))
        except OSError:
            children.kill_all()
            os._exit(0)
        try:  # the next run's worker, forked while this one runs
            children.prepare(sock)
        except BaseException:  # noqa: BLE001 - the next start forks it then
            pass


class _Children:
    """The zygote's workers: the spare, live pids, killed pids awaiting collection, exits.

    ``main(read_fd, write_fd, data_fd)`` is a worker's entry point, ``warm()``
    what a spare runs before it waits (see :func:`sandbox.worker.warm_spare`).
    """

    def __init__(self, seccomp_ok, main, warm):
        self.seccomp_ok = seccomp_ok
        self.main = main
        self.warm = warm
        self.spare = None  # (pid, socket to it) of the worker forked ahead, not handed a run yet
        self.live = set()
        self.pidfds = {}  # pid -> pidfd (readable once it exits), spare included
        self.channels = {}  # pid -> socket to a worker handed a run, until it is reaped
        self.exits = {}  # pid -> (wait status, CPU seconds of the run), bounded
        self.fresh = {}  # the exits reaped since the last reply, which carries them
        self.killed = set()  # live pids sent SIGKILL (their exits are on the way)

    def prepare(self, sock):
        """Fork the spare worker unless one waits; ``sock`` (the caller's) is closed in it."""
        if self.spare is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the spare
            try:
                sock.close()
                ours.close()
                self.warm(lambda: bool(select.select([theirs], [], [], 0)[0]))
                self.main(*_one_run(theirs))
            finally:
                os._exit(70)
        theirs.close()
        self.pidfds[pid] = os.pidfd_open(pid)
        self.spare = (pid, ours)
        self.exits.pop(pid, None)  # an earlier worker's, had the pid come round again

    def start(self, sock, fds):
        """Hand ``fds`` (one run's) to the spare, forked now if none waits; its pid."""
        if len(fds) != 3:
            raise ValueError("a fork request carries exactly three descriptors")
        for _ in range(2):  # a spare that died meanwhile is replaced once
            self.prepare(sock)
            (pid, channel), self.spare = self.spare, None
            self.live.add(pid)
            try:
                socket.send_fds(channel, [b"run"], fds)
                self.channels[pid] = channel  # it reports its CPU before the run on it
                return pid
            except OSError:
                channel.close()
                self._kill(pid)
        raise RuntimeError("no worker could be started")

    def handle(self, request):
        op = request["op"]
        if op == "ready":
            return {"seccomp": self.seccomp_ok}
        if op == "workers":
            for pid in self.killed & self.live:
                self._wait(pid, _KILLED_EXIT_S)
            return {"pids": sorted(self.live)}
        if op == "spare":
            return {"pid": self.spare and self.spare[0]}
        pid = int(request["pid"])
        if op == "kill":
            self._kill(pid)
        elif op == "wait":
            self._wait(pid, float(request["timeout"]))
        else:
            raise ValueError(f"unknown request {op!r}")
        status, cpu = (None, None) if pid in self.live else self.exits.get(pid, (None, None))
        return {"status": status, "cpu": cpu}

    def _kill(self, pid):
        """SIGKILL ``pid``; it is reaped now if already gone, else by a later :meth:`collect`."""
        if pid in self.live:
            _kill(pid)
            self.killed.add(pid)
            self._reap(pid)

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
        self.killed.discard(pid)
        os.close(self.pidfds.pop(pid))
        before = _cpu_before_run(self.channels.pop(pid, None))
        self.exits[pid] = self.fresh[pid] = (status, max(0.0, usage.ru_utime + usage.ru_stime - before))
        while len(self.exits) > _KEPT_EXITS:
            self.exits.pop(next(iter(self.exits)))
        return True

    def take_fresh(self):
        """The exits reaped since the last call, as a reply carries them (``{pid: [status, cpu]}``)."""
        fresh, self.fresh = self.fresh, {}
        return {str(pid): list(exit) for pid, exit in fresh.items()}

    def collect(self):
        for pid in list(self.live):
            self._reap(pid)

    def kill_all(self):
        for pid in self.live | ({self.spare[0]} if self.spare else set()):
            _kill(pid)


def _cpu_before_run(channel):
    """CPU seconds a reaped worker spent before its run (its warm-up), as it reported them on
    ``channel`` when it took the run, before any program ran (0.0 when it did not); closes it."""
    if channel is None:
        return 0.0
    try:
        channel.setblocking(False)
        message = channel.recv(16)
    except OSError:  # nothing sent
        message = b""
    finally:
        channel.close()
    return max(0.0, struct.unpack("<d", message)[0]) if len(message) == 8 else 0.0


def _one_run(channel):
    """In the spare: wait for one run's three descriptors (exit if the zygote is gone)."""
    try:
        data, fds, _, _ = socket.recv_fds(channel, 16, 3)
    except OSError:
        data, fds = b"", []
    if data != b"run" or len(fds) != 3:
        os._exit(0)
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all of it trusted code: the warm-up
    try:
        channel.send(struct.pack("<d", usage.ru_utime + usage.ru_stime))
    except OSError:  # the zygote counts the warm-up as the run's then
        pass
    channel.close()  # the program never holds it
    return fds


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
