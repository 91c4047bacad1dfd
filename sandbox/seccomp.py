"""The worker's seccomp-BPF allow-list: default deny, the process is killed.

Installed in every worker after fork (the zygote itself must still fork).
Only the system calls a numpy/scipy/scikit-learn worker makes once its
modules are imported are allowed -- the list was derived by tracing the
bundled corpus programs, the test programs and a program using every
preloaded scipy/sklearn module with ``strace -f`` inside the bubblewrap
sandbox.  Everything else (process creation, exec, sockets, signals to other
processes, ptrace, the mount API, SysV IPC, priorities and affinities,
xattrs, ``open_by_handle_at``, chmod / chown / utime, ``syslog`` ...) kills
the worker with ``SIGSYS`` (``SECCOMP_RET_KILL_PROCESS``): an attempt is a
verdict, not an error a program could catch.

Arguments are checked where a call is needed but dangerous: ``write`` /
``writev`` / ``pwrite64`` only to the descriptors the worker was handed,
``open``/``openat`` only without write flags (``openat2`` hides its flags in
a struct and is refused), ``kill``/``tkill``/``tgkill`` only to itself,
``prlimit64`` only to read, ``ioctl`` only as ``TCGETS``, ``fcntl`` only on
descriptor flags.  ``getrandom`` stays allowed: joblib calls ``uuid4()`` for
every ``Parallel`` (each scikit-learn ``kneighbors``), and entropy is a
determinism question that the property suite answers by running a program
twice.

Hand-rolled rather than libseccomp (``pyseccomp``): libseccomp is a system
library a clean CI install cannot count on, and the filter is a short
straight-line BPF program (a comparison per allowed number, a few argument
checks) that :mod:`tests.test_sandbox_containment` exercises route by route.
Only x86_64 is supported; any other architecture or the x32 ABI is killed,
and :func:`available` says False there so that :mod:`sandbox.isolation`
refuses to run untrusted code.
"""
import ctypes
import os
import platform
import struct

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15     # BPF_JMP | BPF_JEQ | BPF_K
_JSET = 0x45    # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06     # BPF_RET | BPF_K
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
# O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | __O_TMPFILE
OPEN_WRITE_FLAGS = 0x1 | 0x2 | 0x40 | 0x200 | 0x400 | 0x400000

#: x86_64 system calls allowed whatever their arguments.
ALLOWED_SYSCALLS = {
    # files already open or opened read-only, and the import system's look-ups
    "read": 0, "readv": 19, "pread64": 17, "lseek": 8, "close": 3, "fstat": 5,
    "stat": 4, "lstat": 6, "newfstatat": 262, "statx": 332, "access": 21,
    "faccessat": 269, "faccessat2": 439, "readlink": 89, "readlinkat": 267,
    "getdents64": 217, "getcwd": 79,
    # memory
    "brk": 12, "mmap": 9, "munmap": 11, "mremap": 25, "mprotect": 10, "madvise": 28,
    # signals delivered to itself, locks, time, identity in its own namespaces
    "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "sigaltstack": 131,
    "futex": 202, "sched_yield": 24, "nanosleep": 35, "clock_nanosleep": 230,
    "clock_gettime": 228, "clock_getres": 229, "gettimeofday": 96, "time": 201,
    "getpid": 39, "gettid": 186, "getuid": 102, "geteuid": 107, "getgid": 104,
    "getegid": 108, "uname": 63, "getrlimit": 97, "getrusage": 98,
    "sched_getaffinity": 204, "exit": 60, "exit_group": 231,
    # joblib names every Parallel (each sklearn kneighbors) with uuid4():
    # entropy is a determinism matter for the property suite, not an escape.
    "getrandom": 318,
}
#: Allowed only when argument ``arg`` (low 32 bits) is one of the handed
#: descriptors (``write_fds``) or this process (``self``).
WRITE_SYSCALLS = {"write": 1, "writev": 20, "pwrite64": 18}
SELF_SIGNAL_SYSCALLS = {"kill": 62, "tkill": 200, "tgkill": 234}
#: ``ioctl`` only as ``TCGETS`` (``isatty`` of a file opened for reading).
IOCTL_SYSCALL, TCGETS = 16, 0x5401
#: ``fcntl`` only to duplicate a descriptor or get/set its flags: no
#: ``F_SETOWN``/``F_SETSIG`` (SIGIO to another process), no locks or leases.
FCNTL_SYSCALL = 72
FCNTL_COMMANDS = (0, 1, 2, 3, 4, 1030)  # F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC
#: Allowed only without :data:`OPEN_WRITE_FLAGS`: number -> flags argument.
OPEN_SYSCALLS = {"open": (2, 1), "openat": (257, 2)}
_PRLIMIT64 = 302  # allowed only as a read of this process (pid 0, new_limit NULL)


def _insn(code, jt, jf, k):
    return struct.pack("=HBBI", code, jt, jf, k)


def _arg_low(i):
    """Offset of the low 32 bits of syscall argument ``i`` in seccomp_data."""
    return 16 + 8 * i


def _ret(action):
    return _insn(_RET, 0, 0, action)


def _arg_in(nr, arg, values):
    """Allow ``nr`` when argument ``arg`` is one of ``values``; kill otherwise.
    (A still holds the syscall number when ``nr`` does not match.)"""
    values = sorted(set(values))
    body = [_insn(_LD_ABS, 0, 0, _arg_low(arg))]
    for k, value in enumerate(values):  # on a match jump to the ALLOW below
        body.append(_insn(_JEQ, len(values) - k, 0, value))
    body += [_ret(_RET_KILL_PROCESS), _ret(_RET_ALLOW)]
    return [_insn(_JEQ, 0, len(body), nr)] + body


def _head():
    """Architecture check, then every call allowed whatever its arguments."""
    prog = [
        _insn(_LD_ABS, 0, 0, 4),                  # A = arch
        _insn(_JEQ, 1, 0, _AUDIT_ARCH_X86_64),
        _ret(_RET_KILL_PROCESS),
        _insn(_LD_ABS, 0, 0, 0),                  # A = syscall nr
        _insn(_JSET, 0, 1, _X32_BIT),             # x32 ABI
        _ret(_RET_KILL_PROCESS),
    ]
    for nr in sorted(ALLOWED_SYSCALLS.values()):
        prog += [_insn(_JEQ, 0, 1, nr), _ret(_RET_ALLOW)]
    return b"".join(prog)


def _tail():
    """The argument checks that depend on neither the descriptors nor the pid; the final kill."""
    prog = _arg_in(IOCTL_SYSCALL, 1, [TCGETS]) + _arg_in(FCNTL_SYSCALL, 1, FCNTL_COMMANDS)
    for nr, arg in OPEN_SYSCALLS.values():
        prog += [
            _insn(_JEQ, 0, 4, nr),
            _insn(_LD_ABS, 0, 0, _arg_low(arg)),
            _insn(_JSET, 0, 1, OPEN_WRITE_FLAGS),
            _ret(_RET_KILL_PROCESS),
            _ret(_RET_ALLOW),
        ]
    # prlimit64(0, resource, NULL, old): getrlimit; any other use is killed.
    prog += [
        _insn(_JEQ, 0, 8, _PRLIMIT64),
        _insn(_LD_ABS, 0, 0, _arg_low(0)),
        _insn(_JEQ, 0, 5, 0),
        _insn(_LD_ABS, 0, 0, _arg_low(2)),
        _insn(_JEQ, 0, 3, 0),
        _insn(_LD_ABS, 0, 0, _arg_low(2) + 4),
        _insn(_JEQ, 0, 1, 0),
        _ret(_RET_ALLOW),
        _ret(_RET_KILL_PROCESS),
    ]
    prog.append(_ret(_RET_KILL_PROCESS))
    return b"".join(prog)


# Built once at import (in the zygote, before it forks): a worker assembles only its own part.
_HEAD, _TAIL = _head(), _tail()


def build_filter(write_fds, pid):
    """Assemble the BPF program (bytes, one 8-byte instruction each).

    Parameters
    ----------
    write_fds : iterable of int
        Descriptors ``write``/``writev``/``pwrite64`` may use.
    pid : int
        This process (as it sees itself): the only target of ``kill``.
    """
    prog = [_HEAD]
    for nr in WRITE_SYSCALLS.values():
        prog += _arg_in(nr, 0, write_fds)
    for nr in SELF_SIGNAL_SYSCALLS.values():
        prog += _arg_in(nr, 0, [pid])
    prog.append(_TAIL)
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def available():
    """Whether the filter can be installed on this platform."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return False
    try:
        with open("/proc/self/status", "rb") as fh:
            return b"\nSeccomp:" in fh.read()
    except OSError:
        return False


def install(write_fds):
    """Install the filter in the calling process (irreversible).

    Sets ``no_new_privs`` first, as the kernel requires of an unprivileged
    process.

    Raises
    ------
    OSError
        If the platform is not supported or the kernel refuses the filter.
    """
    if not available():
        raise OSError("the seccomp filter supports x86_64 Linux only")
    libc = ctypes.CDLL(None, use_errno=True)
    code = build_filter(write_fds, os.getpid())
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
