"""A small seccomp-BPF filter installed in the worker through ``prctl``.

No seccomp binding is installed here (``import seccomp`` fails), so the
filter is assembled by hand and loaded with ctypes.  It is a second wall
behind the restricted language: even if a program reached ``os``, the
kernel would refuse process creation (fork/vfork/clone without
CLONE_THREAD; clone3 gets ENOSYS so libc falls back to clone), exec,
sockets, signals to other processes, ptrace, raising resource limits,
io_uring, and any ``open`` for writing plus every call that changes the
file system.  Refused calls fail with EPERM, which Python turns into a
``PermissionError`` the worker reports as a runtime error.

Only x86_64 is supported; elsewhere :func:`install` returns False.
"""
import ctypes
import errno
import platform
import struct

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15     # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35     # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45    # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06     # BPF_RET | BPF_K
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CLONE_THREAD = 0x00010000
# O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND
_OPEN_WRITE_FLAGS = 0x1 | 0x2 | 0x40 | 0x200 | 0x400

#: x86_64 syscalls refused with EPERM.
DENIED_SYSCALLS = {
    "fork": 57, "vfork": 58, "execve": 59, "execveat": 322,
    "socket": 41, "connect": 42, "accept": 43, "sendto": 44, "bind": 49,
    "listen": 50, "socketpair": 53, "accept4": 288,
    "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
    "rt_tgsigqueueinfo": 297, "pidfd_send_signal": 424, "pidfd_open": 434,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "mount": 165, "umount2": 166, "chroot": 161, "pivot_root": 155,
    "unshare": 272, "setns": 308, "setrlimit": 160,
    "unlink": 87, "unlinkat": 263, "rename": 82, "renameat": 264, "renameat2": 316,
    "mkdir": 83, "mkdirat": 258, "rmdir": 84, "link": 86, "linkat": 265,
    "symlink": 88, "symlinkat": 266, "chmod": 90, "fchmod": 91, "fchmodat": 268,
    "chown": 92, "fchown": 93, "lchown": 94, "fchownat": 260, "truncate": 76,
    "ftruncate": 77, "creat": 85, "mknod": 133, "mknodat": 259,
    "reboot": 169, "init_module": 175, "finit_module": 313, "delete_module": 176,
    "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250,
    "add_key": 248, "request_key": 249, "personality": 135, "memfd_create": 319,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "chdir": 80, "fchdir": 81,
}
#: Refused with ENOSYS so that libc falls back to an inspectable variant.
ENOSYS_SYSCALLS = {"clone3": 435, "openat2": 437}
_CLONE = 56
_PRLIMIT64 = 302  # allowed only as a read (new_limit == NULL)
_OPEN = 2      # flags in args[1]
_OPENAT = 257  # flags in args[2]


def _insn(code, jt, jf, k):
    return struct.pack("=HBBI", code, jt, jf, k)


def _arg_low(i):
    """Offset of the low 32 bits of syscall argument ``i`` in seccomp_data."""
    return 16 + 8 * i


def build_filter():
    """Assemble the BPF program (bytes, one 8-byte instruction each)."""
    eperm = _RET_ERRNO | errno.EPERM
    prog = [
        _insn(_LD_ABS, 0, 0, 4),                          # A = arch
        _insn(_JEQ, 1, 0, _AUDIT_ARCH_X86_64),
        _insn(_RET, 0, 0, _RET_KILL_PROCESS),
        _insn(_LD_ABS, 0, 0, 0),                          # A = syscall nr
        _insn(_JGE, 0, 1, _X32_BIT),                      # x32 ABI: refuse
        _insn(_RET, 0, 0, eperm),
    ]
    for nr in DENIED_SYSCALLS.values():
        prog += [_insn(_JEQ, 0, 1, nr), _insn(_RET, 0, 0, eperm)]
    for nr in ENOSYS_SYSCALLS.values():
        prog += [_insn(_JEQ, 0, 1, nr), _insn(_RET, 0, 0, _RET_ERRNO | errno.ENOSYS)]
    # clone: threads (CLONE_THREAD) are fine, new processes are not.
    prog += [
        _insn(_JEQ, 0, 4, _CLONE),
        _insn(_LD_ABS, 0, 0, _arg_low(0)),
        _insn(_JSET, 0, 1, _CLONE_THREAD),
        _insn(_RET, 0, 0, _RET_ALLOW),
        _insn(_RET, 0, 0, eperm),
    ]
    # prlimit64 reads limits (getrlimit uses it); setting them is refused.
    prog += [
        _insn(_JEQ, 0, 6, _PRLIMIT64),
        _insn(_LD_ABS, 0, 0, _arg_low(2)),
        _insn(_JEQ, 0, 3, 0),
        _insn(_LD_ABS, 0, 0, _arg_low(2) + 4),
        _insn(_JEQ, 0, 1, 0),
        _insn(_RET, 0, 0, _RET_ALLOW),
        _insn(_RET, 0, 0, eperm),
    ]
    for nr, arg in ((_OPEN, 1), (_OPENAT, 2)):
        prog += [
            _insn(_JEQ, 0, 4, nr),
            _insn(_LD_ABS, 0, 0, _arg_low(arg)),
            _insn(_JSET, 0, 1, _OPEN_WRITE_FLAGS),
            _insn(_RET, 0, 0, eperm),
            _insn(_RET, 0, 0, _RET_ALLOW),
        ]
    prog.append(_insn(_RET, 0, 0, _RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def available():
    """Whether the filter can be installed on this platform."""
    return platform.system() == "Linux" and platform.machine() == "x86_64"


def install():
    """Install the filter in the calling process (irreversible).

    Returns
    -------
    bool
        True when installed, False on an unsupported platform.

    Raises
    ------
    OSError
        If the kernel refuses the filter.
    """
    if not available():
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    code = build_filter()
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
    return True
