"""Fork server for sandbox workers: one small clean interpreter per process.

Forking the caller itself for every run is quick to start but costly to live
with: while the worker lives, every page of the caller is shared
copy-on-write, so the caller's own work during the run (scoring the
worker's ``model.predict_score`` calls) faults page after page -- measured
here at 1-2 thousand faults and +5 to +45 ms on the first scoring call of
every run.  A forked worker also inherits the caller's memory (secrets
included), threads and BLAS pools.

The zygote is a fresh interpreter spawned once per process with a scrubbed
environment and one BLAS/OpenMP thread.  It imports numpy, RestrictedPython
and the worker, warms numpy up (:func:`sandbox.worker.warm_up`), and on
request forks one worker per run, handing it the two pipe ends the caller
passed over a Unix socket.  It owns the workers: it
kills and reaps them when asked, so a pid is never reused behind the
caller's back.  It exits when the caller's end of the socket closes.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

#: Environment variables that pin BLAS/OpenMP pools; "1" in the zygote and workers.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_MAX_MESSAGE = 1 << 16
_START_TIMEOUT_S = 60.0


class SandboxUnavailable(RuntimeError):
    """The zygote could not be started or stopped answering."""


# -- caller side ---------------------------------------------------------------
class Zygote:
    """Handle on a running zygote; its methods are thread-safe."""

    def __init__(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        env.update({name: "1" for name in THREAD_VARS})
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", f"from sandbox.zygote import serve; serve({theirs.fileno()})"],
                env=env, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            ours.close()
            raise SandboxUnavailable(f"cannot start the sandbox zygote: {exc}") from exc
        finally:
            theirs.close()
        self.sock = ours
        self.owner = os.getpid()
        self.broken = False
        self.lock = threading.Lock()
        self._request({"op": "ready"}, timeout=_START_TIMEOUT_S)

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

    def fork_worker(self, read_fd, write_fd, imports=()):
        """Fork a worker holding ``read_fd``/``write_fd``; returns its pid."""
        return self._request({"op": "fork", "imports": sorted(imports)}, fds=(read_fd, write_fd))["pid"]

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


def get_zygote():
    """This process's zygote, started on first use (and again if it died)."""
    with _CURRENT_LOCK:
        zygote = _CURRENT["zygote"]
        if zygote is None or not zygote.alive():
            if zygote is not None and zygote.owner == os.getpid():
                zygote.close()
            zygote = _CURRENT["zygote"] = Zygote()
        return zygote


def shutdown():
    """Stop this process's zygote (a later run starts a new one)."""
    with _CURRENT_LOCK:
        zygote, _CURRENT["zygote"] = _CURRENT["zygote"], None
    if zygote is not None and zygote.owner == os.getpid():
        zygote.close()


# -- zygote side -----------------------------------------------------------------
def serve(fd):
    """Main loop of the zygote process (never returns)."""
    from sandbox import rules, worker

    # numpy loads sub-modules lazily: importing numpy.random in every worker
    # would cost ~10 ms a run.
    _preload(sorted(rules.NUMPY_MODULES | rules.BASE_IMPORTS))
    worker.warm_up()

    sock = socket.socket(fileno=fd)
    children = _Children()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 2)
        except OSError:
            data, fds = b"", []
        if not data:
            children.kill_all()
            os._exit(0)
        children.collect()
        try:
            request = json.loads(data)
            if request["op"] == "fork":
                reply = {"pid": children.fork(sock, fds, request["imports"], worker.remote_main)}
            else:
                reply = children.handle(request)
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for received in fds:
                os.close(received)
        sock.send(json.dumps(reply).encode("utf-8"))


class _Children:
    """The zygote's workers: live pids, killed pids awaiting collection, exits."""

    def __init__(self):
        self.live = set()
        self.exits = {}  # pid -> (wait status, CPU seconds), bounded

    def fork(self, sock, fds, imports, main):
        if len(fds) != 2:
            raise ValueError("a fork request carries exactly two descriptors")
        _preload(imports)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker
            sock.close()
            main(*fds)
        self.live.add(pid)
        return pid

    def handle(self, request):
        op = request["op"]
        if op == "ready":
            return {}
        if op == "workers":
            return {"pids": sorted(self.live)}
        pid = int(request["pid"])
        if op == "kill":
            if pid in self.live:
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                self.collect()
            return {}
        if op == "wait":
            deadline = time.monotonic() + float(request["timeout"])
            while pid in self.live and not self._reap(pid) and time.monotonic() < deadline:
                time.sleep(0.005)
            status, cpu = self.exits.get(pid, (None, None))
            return {"status": status, "cpu": cpu}
        raise ValueError(f"unknown request {op!r}")

    def _reap(self, pid):
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if not done:
            return False
        self.live.discard(pid)
        self.exits[pid] = (status, usage.ru_utime + usage.ru_stime)
        while len(self.exits) > 256:
            self.exits.pop(next(iter(self.exits)))
        return True

    def collect(self):
        for pid in list(self.live):
            self._reap(pid)

    def kill_all(self):
        for pid in self.live:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _preload(imports):
    """Import allowed modules here so every later fork finds them warm."""
    import importlib

    for name in imports:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the worker reports the failure as a runtime error
