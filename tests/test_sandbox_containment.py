"""Containment: unrestricted hostile Python inside the real sandboxed worker.

Each program below skips the Python wall on purpose: it reaches the real
``__import__`` through ``object.__subclasses__()`` (a stand-in for any guard
escape) and then attacks the machine with ``ctypes`` system calls.  What is
checked is the side effect on the caller's side -- files (content, mode,
mtime, xattrs), the program store, SysV IPC objects, mounts, processes left
behind, the caller's priority and affinity -- and that no secret of the
caller's environment comes back.  Against the sandbox before issue 12 (root
worker, deny-list seccomp that answered EPERM) every test here fails: the
syscalls it did not list succeed, the ones it listed are errors the program
catches, so the run ends "ok".
"""
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from das.sandbox import isolation, seccomp, zygote
from das.sandbox.isolation import THREAD_VARS
from das.sandbox.protocol import Task
from das.sandbox.results import Limits
from das.sandbox.rules import DEFAULT_IMPORTS
from das.sandbox.runner import _supervise

SECRET = "sk-ant-fake-containment-0123456789"
ESCAPED = "ESCAPED"
VIOLATION = "violation"

_HEADER = '''
def generate_hard_anomalies(n_samples, model, X_train):
    builtins = [c for c in ().__class__.__base__.__subclasses__()
                if c.__name__ == "catch_warnings"][0]()._module.__builtins__
    imp = builtins["__import__"]
    open, any, len, repr, dict, RuntimeError, OSError = (builtins[name] for name in (
        "open", "any", "len", "repr", "dict", "RuntimeError", "OSError"))
    os, ctypes, json = imp("os"), imp("ctypes"), imp("json")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    def syscall(nr, *args):
        return libc.syscall(ctypes.c_long(nr), *args)
    def path(p):
        return ctypes.c_char_p(p.encode())
'''


def hostile(body):
    """Plain (not restricted) code: the attack runs as ``body`` of the entry point."""
    source = _HEADER + textwrap.indent(textwrap.dedent(body), "    ") + "    return X_train[:n_samples]\n"
    return compile(source, "<program>", "exec")


@pytest.fixture(scope="module")
def sandbox_with_secret():
    """A zygote started while the caller's environment holds the secret."""
    if isolation.missing_layers():
        pytest.skip(f"no OS sandbox here: {isolation.missing_layers()}")
    saved = os.environ.get("ANTHROPIC_API_KEY")
    os.environ["ANTHROPIC_API_KEY"] = SECRET
    zygote.shutdown()
    server = zygote.get_zygote()
    assert server.isolated
    yield server
    zygote.shutdown()
    if saved is None:
        os.environ.pop("ANTHROPIC_API_KEY", None)
    else:
        os.environ["ANTHROPIC_API_KEY"] = saved


@pytest.fixture
def run(sandbox_with_secret, monkeypatch, tmp_path):
    """Run hostile code in a fresh worker; returns the RunResult."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("GITHUB_TOKEN", SECRET + "-gh")

    def run_code(body):
        X = np.arange(12.0).reshape(4, 3)
        task = Task(hostile(body), DEFAULT_IMPORTS, X, 2, None, 0, Limits(timeout_s=20), str(tmp_path))
        result = _supervise(task, lambda A: A.sum(axis=1), frozenset())
        for text in (result.message, result.stdout):
            assert SECRET not in text
        assert ESCAPED not in result.message, result.message
        return result

    return run_code


@pytest.fixture
def victim(tmp_path):
    """A file outside the sandbox with known content, mode, mtime and xattr."""
    target = tmp_path / "outside" / "victim.txt"
    target.parent.mkdir()
    target.write_bytes(b"original content\n")
    os.chmod(target, 0o640)
    os.utime(target, (1_000_000_000, 1_000_000_000))
    os.setxattr(target, "user.kept", b"yes")
    return target


def snapshot(path):
    st = os.stat(path)
    xattrs = {name: os.getxattr(path, name) for name in os.listxattr(path)}
    return path.read_bytes(), st.st_mode, st.st_mtime_ns, xattrs


# -- files --------------------------------------------------------------------------
def test_open_by_handle_at_cannot_rewrite_a_file(run, victim):
    before = snapshot(victim)
    res = run(f'''
    mmap = imp("mmap")
    handle = ctypes.create_string_buffer(8 + 128)
    handle[0] = 128
    mount_id = ctypes.c_int()
    syscall(303, -100, path("{victim}"), handle, ctypes.byref(mount_id), 0)  # name_to_handle_at
    root = os.open("/", os.O_RDONLY)
    fd = syscall(304, root, handle, os.O_RDWR)  # open_by_handle_at
    if fd >= 0:
        view = mmap.mmap(fd, 8)
        view[:8] = b"PWNED!!!"
        view.flush()
        raise RuntimeError("ESCAPED: rewrote the file through a handle")
    ''')
    assert res.status == VIOLATION
    assert snapshot(victim) == before


@pytest.mark.parametrize("name,body", [
    ("fchmodat2", "syscall(452, -100, path('{p}'), 0o777, 0)"),
    ("fchmodat", "syscall(268, -100, path('{p}'), 0o777)"),
    ("utimensat", "syscall(280, -100, path('{p}'), None, 0)"),
    ("setxattr", "syscall(188, path('{p}'), path('user.pwn'), path('1'), 1, 0)"),
    ("removexattr", "syscall(197, path('{p}'), path('user.kept'))"),
    ("openat2-write", "how = ctypes.create_string_buffer(24)\nhow[0] = 0x41\n"
                      "syscall(437, -100, path('{p}'), how, 24)"),
    ("open-for-write", "open('{p}', 'r+').write('PWNED')"),
    ("truncate", "os.truncate('{p}', 0)"),
])
def test_file_metadata_and_content_cannot_change(run, victim, name, body):
    before = snapshot(victim)
    res = run(body.format(p=victim) + "\nraise RuntimeError('ESCAPED: ' + {!r})\n".format(name))
    assert res.status == VIOLATION
    assert snapshot(victim) == before


def test_program_store_is_out_of_reach(run, isolated_home):
    store = isolated_home / "programs.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"certified program record")
    res = run(f'''
    if os.path.exists("{store}") or os.path.exists("{isolated_home}"):
        raise RuntimeError("ESCAPED: the store is visible")
    fd = os.open("{store}", os.O_RDWR)
    ''')
    assert res.status == VIOLATION  # the write-flag open is the verdict
    assert store.read_bytes() == b"certified program record"


@pytest.mark.parametrize("target", ["/etc/shadow", "/proc/{caller}/environ", "/proc/{caller}/mem",
                                    "/proc/{caller}/maps", "/proc/{zygote}/environ"])
def test_secrets_and_memory_of_others_cannot_be_opened(run, sandbox_with_secret, target):
    target = target.format(caller=os.getpid(), zygote=sandbox_with_secret.pid)
    res = run(f'''
    try:
        fh = open("{target}", "rb")
    except OSError:
        fh = None
    if fh is not None:
        raise RuntimeError("ESCAPED: opened {target}: " + repr(fh.read(100)))
    ''')
    assert res.status == "ok", res.message


@pytest.mark.parametrize("target", ["/proc/1/environ", "/proc/self/environ", "/proc/self/cmdline"])
def test_what_the_worker_can_read_of_itself_holds_no_secret(run, target):
    res = run(f'''
    try:
        with open("{target}", "rb") as fh:
            data = fh.read()
    except OSError:  # /proc/1 is the zygote: not dumpable, so not readable
        if "{target}" != "/proc/1/environ":
            raise
        data = b""
    if b"sk-ant" in data or b"ANTHROPIC" in data or b"GITHUB" in data:
        raise RuntimeError("ESCAPED: " + repr(data))
    ''')
    assert res.status == "ok", res.message


def test_a_worker_starts_its_run_detached_and_scrubbed(run):
    # Whether the spare did it while it waited or isolate() at the run: the program finds
    # itself leading its own session, the minimal environment (the initial block zeroed)
    # and stdio on /dev/null.
    res = run('''
    problems = []
    with open("/proc/self/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    if int(fields[3]) != os.getpid():  # field 6 of stat(5): the session id
        problems.append("not its own session")
    if [k for k in os.environ if k not in ["PATH", "LANG"] + THREADS]:
        problems.append("environment " + repr(dict(os.environ)))
    with open("/proc/self/environ", "rb") as fh:
        if fh.read().strip(b"\\0"):
            problems.append("initial environment block not wiped")
    if [fd for fd in (0, 1, 2) if os.readlink(f"/proc/self/fd/{fd}") != "/dev/null"]:
        problems.append("stdio not on /dev/null")
    if problems:
        raise RuntimeError("; ".join(problems))
    '''.replace("THREADS", repr(list(THREAD_VARS))))
    assert res.status == "ok", res.message


def test_the_view_holds_no_home_store_etc_or_tmp(run, tmp_path):
    # /tmp or /home may lead to the project's own (read-only) directories when the
    # checkout lives there; what must stay invisible is everything else in them.
    marker = tmp_path / "marker"
    marker.write_text("x")
    home_file = next((p for p in (Path.home() / ".bashrc", Path.home() / ".profile") if p.exists()),
                     Path.home() / ".bashrc")
    assert run("pass\n").status == "ok"  # a worker just killed: it may still be dying while the next runs
    res = run(f'''
    seen = {{p: os.path.exists(p) for p in ("/etc/passwd", "{marker}", "{tmp_path}", "{home_file}",
                                             "{os.getcwd()}/.git", "/var")}}
    writable = [p for p in ("/", "/proc/self", "/usr", "/proc/sys/kernel/core_pattern",
                            "/proc/sys/vm/drop_caches", "/proc/self/oom_score_adj") if os.access(p, os.W_OK)]
    time = imp("time")

    def alive():  # the zygote, this worker, the next run's spare; not a killed worker (dying, or a
        out = []  # zombie until the zygote's next request reaps it: the kill is answered at once)
        for p in os.listdir("/proc"):
            try:
                state = open("/proc/" + p + "/stat").read().rsplit(")", 1)[1].split()[0] if p.isdigit() else "Z"
            except OSError:  # gone meanwhile
                state = "Z"
            out += [p] if state not in ("Z", "X") else []
        return out
    pids = alive()
    for _ in range(200):  # a SIGKILLed worker takes a few ms to die
        if len(pids) <= 3:
            break
        time.sleep(0.01)
        pids = alive()
    if any(seen.values()) or writable or len(pids) > 3 or os.getuid() != 65534:
        raise RuntimeError("ESCAPED: " + json.dumps([seen, writable, pids, os.getuid()]))
    ''')
    assert res.status == "ok", res.message


# -- kernel objects, mounts, processes ------------------------------------------------
def _read(path):
    with open(path) as fh:
        return fh.read()


@pytest.mark.parametrize("name,body", [
    ("shmget", "syscall(29, 0, 4096, 0o1600)"),       # IPC_PRIVATE, IPC_CREAT|0600
    ("msgget", "syscall(68, 0, 0o1600)"),
    ("semget", "syscall(64, 0, 1, 0o1600)"),
])
def test_no_sysv_ipc_object_outlives_the_worker(run, name, body):
    kinds = ("shm", "msg", "sem")
    before = {kind: _read(f"/proc/sysvipc/{kind}") for kind in kinds}
    res = run(body + f"\nraise RuntimeError('ESCAPED: {name}')\n")
    assert res.status == VIOLATION
    assert {kind: _read(f"/proc/sysvipc/{kind}") for kind in kinds} == before


@pytest.mark.parametrize("name,body", [
    ("open_tree", "tree = syscall(428, -100, path('/'), 1 | 0x80000)\n"  # OPEN_TREE_CLONE|CLOEXEC
                  "syscall(429, tree, path(''), -100, path('{d}'), 4)"),  # move_mount, F_EMPTY_PATH
    ("mount", "syscall(165, path('/'), path('{d}'), None, 4096, None)"),  # MS_BIND
    ("fsopen", "syscall(430, path('tmpfs'), 0)"),
])
def test_no_mount_reaches_the_caller(run, tmp_path, name, body):
    before = _read("/proc/self/mountinfo")
    res = run(body.format(d=tmp_path) + f"\nraise RuntimeError('ESCAPED: {name}')\n")
    assert res.status == VIOLATION
    assert _read("/proc/self/mountinfo") == before


def _ns_pid(host_pid):
    """``host_pid``'s pid in its innermost PID namespace (None once it is gone)."""
    try:
        with open(f"/proc/{host_pid}/status") as fh:
            return next(int(line.split()[-1]) for line in fh if line.startswith("NSpid:"))
    except (OSError, StopIteration, ValueError):
        return None


def _children_of(pid):
    found = set()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.parametrize("name,body", [
    ("fork", "os.fork()"),
    ("clone-thread", "imp('threading').Thread(target=len, args=((),)).start()"),
    ("exec", "os.execv('/usr/bin/true', ['true'])"),
    ("socket", "imp('socket').socket()"),
    ("socketpair", "imp('socket').socketpair()"),
    ("kill-caller", "os.kill({caller}, 15)"),
    ("kill-zygote", "os.kill(1, 9)"),
    ("ptrace-caller", "syscall(101, 16, {caller}, None, None)"),  # PTRACE_ATTACH
    ("setpriority-caller", "syscall(141, 0, {caller}, 19)"),
    ("setpriority-self", "os.nice(5)"),
    ("affinity-caller", "os.sched_setaffinity({caller}, {{0}})"),
    ("syslog", "buf = ctypes.create_string_buffer(4096)\nsyscall(103, 3, buf, 4096)"),
    ("setrlimit", "syscall(302, 0, 9, ctypes.create_string_buffer(16), None)"),  # prlimit64(RLIMIT_AS)
    ("unshare", "syscall(272, 0x10000000)"),
    ("memfd", "syscall(319, path('x'), 0)"),
    ("write-to-an-unhanded-fd", "os.write(os.open('/dev/null', os.O_RDONLY), b'x')"),
    ("sigio-to-another-process", "imp('fcntl').fcntl(0, 8, 1)"),  # F_SETOWN to the zygote
])
def test_process_routes_end_the_run(run, sandbox_with_secret, name, body):
    caller = os.getpid()
    nice, affinity = os.getpriority(os.PRIO_PROCESS, 0), os.sched_getaffinity(0)
    res = run(body.format(caller=caller) + f"\nraise RuntimeError('ESCAPED: {name}')\n")
    assert res.status == VIOLATION, res.message
    assert (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getaffinity(0)) == (nice, affinity)
    assert sandbox_with_secret.alive()
    assert sandbox_with_secret.workers() == []
    # only the spare is left: forked by the zygote for the next run, never handed this one
    spare = sandbox_with_secret.spare()
    assert {_ns_pid(child) for child in _children_of(sandbox_with_secret.pid)} <= {spare}


def test_the_worker_is_unprivileged_in_its_own_namespaces(run, sandbox_with_secret):
    res = run('''
    status = open("/proc/self/status").read()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    report = {k: fields[k].strip() for k in ("Uid", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp")}
    report["pid"] = os.getpid()
    raise RuntimeError("REPORT" + json.dumps(report))
    ''')
    assert res.status == "runtime-error"
    report = json.loads(res.message.split("REPORT", 1)[1].rsplit("}", 1)[0] + "}")
    assert report["Uid"].split()[0] == str(isolation.SANDBOX_ID)
    assert int(report["CapEff"], 16) == int(report["CapPrm"], 16) == int(report["CapBnd"], 16) == 0
    assert report["NoNewPrivs"] == "1" and report["Seccomp"] == "2"
    assert report["pid"] < 100  # its own PID namespace
    for kind in ("pid", "net", "ipc", "mnt", "user", "uts"):
        assert os.readlink(f"/proc/{sandbox_with_secret.pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}")


def test_the_zygote_environment_and_memory_never_held_the_secret(sandbox_with_secret):
    with open(f"/proc/{sandbox_with_secret.pid}/environ", "rb") as fh:
        assert SECRET.encode() not in fh.read()
    with open(f"/proc/{sandbox_with_secret.pid}/cmdline", "rb") as fh:
        assert SECRET.encode() not in fh.read()


# -- refusal where a layer is missing ---------------------------------------------------
def test_missing_namespaces_refuse_unless_opted_in(monkeypatch):
    monkeypatch.setattr(isolation, "bwrap_refusal", lambda: "user namespaces are disabled")
    monkeypatch.delenv(isolation.OPT_IN_VAR, raising=False)
    with pytest.raises(zygote.SandboxUnavailable, match=f"{isolation.OPT_IN_VAR}=1"):
        zygote.Zygote()
    assert isolation.require(allow_unisolated=True) is False
    monkeypatch.setenv(isolation.OPT_IN_VAR, "1")
    server = zygote.Zygote()
    try:
        assert not server.isolated and server.workers() == []
    finally:
        server.close()


def test_missing_seccomp_refuses_unless_opted_in(monkeypatch):
    monkeypatch.setattr(seccomp, "available", lambda: False)
    monkeypatch.delenv(isolation.OPT_IN_VAR, raising=False)
    with pytest.raises(zygote.SandboxUnavailable, match="seccomp"):
        isolation.require()
    assert isolation.require(allow_unisolated=True) is True  # bwrap still used


def test_a_kernel_refusing_the_filter_is_a_missing_layer(monkeypatch):
    monkeypatch.delenv(isolation.OPT_IN_VAR, raising=False)
    monkeypatch.setattr(zygote.Zygote, "_request", lambda self, message, **kw: {"seccomp": False})
    monkeypatch.setattr(zygote.Zygote, "close", lambda self: (self.process.kill(), self.process.wait()))
    with pytest.raises(zygote.SandboxUnavailable, match="seccomp: the kernel refused"):
        zygote.Zygote(isolated=False)
    assert zygote.seccomp_works()  # this kernel accepts it


# -- the zygote itself ----------------------------------------------------------------
def test_preload_survives_base_exceptions(monkeypatch):
    import importlib

    class Skipped(BaseException):  # like pytest's Skipped
        pass

    def explode(name):
        raise Skipped(name)

    monkeypatch.setattr(importlib, "import_module", explode)
    zygote._preload(["sklearn.utils.tests.test_x"])  # returns instead of dying


def test_zygote_preloads_only_the_fixed_list(run):
    preloaded = set(zygote.preload_list(heavy=False))  # the hostile code imports nothing: the lean zygote
    res = run(f'''
    modules = imp("sys").modules
    extra = [m for m in ("scipy.optimize", "sklearn.ensemble", "_pytest", "unittest.mock")
             if m in modules and m not in {sorted(preloaded)!r}]
    raise RuntimeError("REPORT" + json.dumps(extra))
    ''')
    assert res.message.split("REPORT", 1)[1].startswith("[]"), res.message


def test_every_run_gets_its_own_fresh_worker(run, sandbox_with_secret):
    """The worker forked ahead of need (the spare) takes exactly one run: a
    module changed by one run is pristine in the next, and pids never repeat."""
    pids = []
    for _ in range(3):
        spare = sandbox_with_secret.spare()
        res = run('''
        seen = "planted_by_an_earlier_run" in builtins  # the interpreter's real builtins
        builtins["planted_by_an_earlier_run"] = True
        raise RuntimeError("REPORT" + json.dumps([os.getpid(), seen]))
        ''')
        assert "REPORT" in res.message, res.message
        pid, seen = json.loads(res.message.split("REPORT", 1)[1].rsplit("]", 1)[0] + "]")
        assert not seen
        assert pid == spare  # the run went to the worker forked before it was asked for
        pids.append(pid)
    assert len(set(pids)) == 3
    assert sandbox_with_secret.spare() not in pids


def test_the_rows_cannot_be_written_through_their_memfd(run):
    """X_train is mapped from a sealed memfd: private copy-on-write for the
    program, and no route (mprotect, a shared writable map, write) changes the sealed pages."""
    res = run('''
    mmap = imp("mmap")
    maps = [line for line in open("/proc/self/maps") if "das-x-train" in line]
    start, end = (int(v, 16) for v in [l for l in maps if l.split()[1].startswith("r--s")][0].split()[0].split("-"))
    routes = [libc.mprotect(ctypes.c_void_p(start), end - start, 3)]  # PROT_READ | PROT_WRITE
    X_train[0, 0] = 12345.0  # private: only this process's copy
    view = (ctypes.c_double * 1).from_address(start)
    routes.append(view[0] == 12345.0)
    raise RuntimeError("REPORT" + json.dumps([len(maps), routes]))
    ''')
    count, routes = json.loads(res.message.split("REPORT", 1)[1].rsplit("]", 1)[0] + "]")
    assert count == 2 and routes == [-1, False], res.message


def test_nothing_lands_in_the_callers_tmp(run):
    before = set(os.listdir("/tmp"))
    res = run("imp('tempfile').mkstemp()\nraise RuntimeError('ESCAPED: wrote a temporary file')\n")
    assert res.status == VIOLATION
    assert not {name for name in set(os.listdir("/tmp")) - before if name.startswith(("sklearn", "tmp"))}


def test_filter_is_well_formed():
    code = seccomp.build_filter((1, 2, 5), 1)
    assert len(code) % 8 == 0 and 0 < len(code) // 8 < 4096  # kernel BPF_MAXINSNS
    denied = {"fork", "clone", "execve", "socket", "kill", "ptrace", "mount", "open_by_handle_at",
              "shmget", "setpriority", "sched_setaffinity", "setxattr", "syslog", "openat2"}
    assert not denied & set(seccomp.ALLOWED_SYSCALLS)


# -- concurrent workers ---------------------------------------------------------------
_VICTIM = """import numpy as np
def generate_hard_anomalies(n_samples, model, X_train):
    s = model.predict_score(X_train)
    return X_train[:n_samples] + s[:n_samples, None] * 0
"""
#: Plain code of an escaped worker: read every other process's fds and memory
#: (red-team PoC os_probe.py, concurrent) looking for the victim's X_train.
_STEAL = '''
me, found, opened = os.getpid(), [], []
needle = b"\\x00\\x00\\x00\\x00\\x40\\x9a\\xde\\x40" * 3   # 31337.0 as float64, three times
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) == me:
        continue
    for name in ("fd", "environ", "mem"):
        try:
            if name == "fd":  # the numbers are listed; what they point to is not
                opened.extend((p, fd, os.readlink("/proc/%s/fd/%s" % (p, fd))) for fd in os.listdir("/proc/%s/fd" % p))
                continue
            fh = open("/proc/%s/%s" % (p, name), "rb")
        except OSError:
            continue
        opened.append((p, name))
        if name == "mem":
            for line in open("/proc/%s/maps" % p):
                a, z = [int(v, 16) for v in line.split()[0].split("-")]
                if "rw" in line.split()[1] and z - a < (64 << 20):
                    try:
                        fh.seek(a)
                        chunk = fh.read(z - a)
                    except OSError:
                        continue
                    if needle in chunk:
                        found.append((p, hex(a)))
if found or opened:
    raise RuntimeError("ESCAPED: " + repr((found, opened))[:500])
'''


def test_an_escaped_worker_cannot_read_a_concurrent_worker_or_the_zygote(run, sandbox_with_secret):
    """Workers and the zygote are not dumpable: without PR_SET_DUMPABLE 0 the
    same-uid attacker opens /proc/<victim>/mem and finds the victim's rows."""
    import threading
    import time

    from das.sandbox import run_program

    started, victim = threading.Event(), {}

    def slow_score(A):
        started.set()
        time.sleep(3)  # the victim's worker waits with its X_train in memory
        return A.sum(axis=1)

    thread = threading.Thread(target=lambda: victim.setdefault(
        "result", run_program(_VICTIM, np.full((5, 3), 31337.0), 2, slow_score)))
    thread.start()
    assert started.wait(30)
    assert len(sandbox_with_secret.workers()) == 1  # the victim is alive meanwhile
    res = run(_STEAL)
    thread.join()
    assert res.status == "ok", res.message
    assert victim["result"].status == "ok"


def test_str_hashes_are_the_same_in_every_zygote():
    """PYTHONHASHSEED is fixed in the sandbox: hash("coin") (red-team p3_hashcoin)
    and set order cannot flip between the certification's zygote and a later one."""
    import subprocess
    import sys

    from das.sandbox import run_program

    source = ("import numpy as np\ndef generate_hard_anomalies(n_samples, model, X_train):\n"
              "    print(hash('coin'), list({'a', 'b', 'c', 'd'}))\n    return X_train[:n_samples]\n")
    outputs = []
    for _ in range(2):
        zygote.shutdown()
        res = run_program(source, np.ones((4, 2)), 2, lambda A: A.sum(axis=1), seed=3)
        assert res.status == "ok", res.message
        outputs.append(res.stdout)
    zygote.shutdown()
    pinned = subprocess.run([sys.executable, "-c", "print(hash('coin'))"], env={"PYTHONHASHSEED": "0"},
                            capture_output=True, text=True, check=True).stdout.split()[0]
    assert outputs[0] == outputs[1]
    assert outputs[0].split()[0] == pinned
