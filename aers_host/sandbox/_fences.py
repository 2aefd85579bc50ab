"""OS fences a worker puts up around itself before it loads plugin code.

Order matters and is fixed (:func:`apply_all`): parent-death signal (a ``kill -9`` of the
host takes the worker with it), private user+network namespace (only possible while the
process is single-threaded — the host starts workers with one BLAS thread), rlimits,
``PR_SET_NO_NEW_PRIVS``, seccomp, Landlock. Each step reports what it achieved as a string
(``"applied"`` or ``"unavailable: <why>"``) rather than raising: a fence the kernel does not
offer degrades with a loud report (``aers doctor``), it does not stop the run.

The worker needs nothing from the file system or the network once its imports are done:
the shared memory is already mapped and the pipes already open. So Landlock handles every
file-system and TCP right and grants none — except, for a worker hosting native code,
read and execute beneath the system library directories its ``readable`` list names (the
plugin's own code comes from an inherited sealed memfd, which Landlock does not govern),
and seccomp refuses new sockets, ``connect``, ``exec``, process creation (threads stay
possible), opening files for writing, namespace and mount changes, ``ptrace`` and
kernel-attack-surface calls such as ``bpf`` and ``io_uring``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import stat
from collections.abc import Sequence
from typing import Final

_PR_SET_PDEATHSIG: Final = 1
_PR_SET_NO_NEW_PRIVS: Final = 38
_CLONE_NEWUSER: Final = 0x10000000
_CLONE_NEWNET: Final = 0x40000000
_CLONE_THREAD: Final = 0x00010000
_SYS_LANDLOCK_CREATE_RULESET: Final = 444  # same number on every architecture
_SYS_LANDLOCK_ADD_RULE: Final = 445
_SYS_LANDLOCK_RESTRICT_SELF: Final = 446
_LANDLOCK_RULE_PATH_BENEATH: Final = 1
_LANDLOCK_EXECUTE: Final = 1 << 0
_LANDLOCK_READ_FILE: Final = 1 << 2
_LANDLOCK_READ_DIR: Final = 1 << 3
_LANDLOCK_CREATE_RULESET_VERSION: Final = 1
#: File-system rights by the Landlock ABI that introduced them (ABI 1: bits 0-12).
_LANDLOCK_FS_BY_ABI: Final = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1,
                              5: (1 << 16) - 1}  # fmt: skip
_LANDLOCK_NET_ALL: Final = 0b11  # BIND_TCP | CONNECT_TCP (ABI 4)
_LANDLOCK_SCOPE_ALL: Final = 0b11  # ABSTRACT_UNIX_SOCKET | SIGNAL (ABI 6)

#: Syscalls a worker never needs; refused with EPERM.
DENIED_SYSCALLS: Final = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "execve",
    "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev", "mount",
    "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "kexec_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "iopl", "ioperm",
    "personality", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "name_to_handle_at", "open_by_handle_at", "creat", "truncate", "unlink", "unlinkat",
    "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat",
    "symlink", "symlinkat", "mknod", "mknodat", "chmod", "fchmodat", "chown", "lchown",
    "fchownat", "memfd_create", "kill", "tkill",
)  # fmt: skip
#: Open flags that make an ``open``/``openat`` a write.
_WRITE_OPEN_FLAGS: Final = (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND)

_libc = ctypes.CDLL(None, use_errno=True)


def _os_error(what: str) -> str:
    code = ctypes.get_errno()
    return f"unavailable: {what} failed: {errno.errorcode.get(code, code)} ({os.strerror(code)})"


def set_parent_death_signal(parent_pid: int) -> str:
    """[worker, pre-plugin] SIGKILL us when the host dies; exit now if it already has.

    Why the re-check: the host may die between ``fork`` and ``prctl``.
    """
    if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return _os_error("prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent_pid:
        os._exit(70)
    return "applied"


def enter_private_netns() -> str:
    """[worker, pre-plugin] Enter a new user + network namespace: a down loopback, no routes."""
    tasks = len(os.listdir("/proc/self/task"))
    if tasks > 1:
        return f"unavailable: worker already has {tasks} threads (unshare needs one)"
    if _libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
        return _os_error("unshare(CLONE_NEWUSER|CLONE_NEWNET)")
    return "applied"


def apply_rlimits(address_space_bytes: int, cpu_seconds: int, open_files: int) -> str:
    """[worker, pre-plugin] Cap memory, CPU time and descriptors; forbid file growth and core dumps.

    ``RLIMIT_FSIZE`` 0 makes any write to a regular file fail (SIGXFSZ is ignored so it is
    ``EFBIG`` rather than a crash); pipes and the already-sized shared memory are unaffected.
    """
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limits = (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_NOFILE, open_files),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_AS, address_space_bytes),
    )
    for which, value in limits:
        _soft, hard = resource.getrlimit(which)
        soft = value if hard == resource.RLIM_INFINITY else min(value, hard)
        new_hard = soft
        if which == resource.RLIMIT_CPU and (hard == resource.RLIM_INFINITY or hard > soft):
            new_hard = soft + 1  # SIGXCPU at the soft limit, SIGKILL a second later
        resource.setrlimit(which, (soft, new_hard))
    mib = address_space_bytes // (1 << 20)
    return f"applied (as={mib}MiB cpu={cpu_seconds}s nofile={open_files} fsize=0 core=0)"


def set_no_new_privs() -> str:
    """[worker, pre-plugin] ``PR_SET_NO_NEW_PRIVS``: no setuid gain; seccomp needs it."""
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return _os_error("prctl(PR_SET_NO_NEW_PRIVS)")
    return "applied"


def apply_seccomp() -> str:
    """[worker, pre-plugin] Refuse :data:`DENIED_SYSCALLS` and opening files for writing."""
    try:
        import pyseccomp as sc  # imported here: the host never needs it
    except ImportError as exc:  # pragma: no cover - pyseccomp is a dependency
        return f"unavailable: pyseccomp: {exc}"
    try:
        filt = sc.SyscallFilter(sc.ALLOW)
        eperm = sc.ERRNO(errno.EPERM)
        for name in DENIED_SYSCALLS:
            try:
                filt.add_rule(eperm, name)
            except (ValueError, RuntimeError, OSError):
                continue  # not a syscall on this architecture
        filt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
        filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # flags live in memory: make libc fall back
        filt.add_rule(sc.ERRNO(errno.ENOSYS), "openat2")
        for flag in _WRITE_OPEN_FLAGS:
            filt.add_rule(eperm, "openat", sc.Arg(2, sc.MASKED_EQ, flag, flag))
            filt.add_rule(eperm, "open", sc.Arg(1, sc.MASKED_EQ, flag, flag))
        filt.load()
    except (OSError, RuntimeError, ValueError) as exc:
        return f"unavailable: seccomp: {exc}"
    return "applied"


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneath(ctypes.Structure):
    _pack_ = 1  # struct landlock_path_beneath_attr is packed
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def landlock_abi() -> int:
    """[any-thread] The kernel's Landlock ABI version (0 when absent or disabled)."""
    abi = _libc.syscall(
        _SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION
    )
    return max(int(abi), 0)


def apply_landlock(readable: Sequence[str] = ()) -> str:
    """[worker, pre-plugin] No file-system access, no TCP, no signals out of the domain.

    Args:
        readable: paths (directories or files) left readable and executable, for the
            system libraries a native plugin links; missing paths are skipped.
    """
    abi = landlock_abi()
    if abi < 1:
        return _os_error("landlock_create_ruleset") if abi == 0 else "unavailable"
    fs = max(mask for since, mask in _LANDLOCK_FS_BY_ABI.items() if since <= abi)
    attr = _RulesetAttr(
        fs, _LANDLOCK_NET_ALL if abi >= 4 else 0, _LANDLOCK_SCOPE_ALL if abi >= 6 else 0
    )
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 16 if abi >= 4 else 8
    fd = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if fd < 0:
        return _os_error("landlock_create_ruleset")
    try:
        granted = [path for path in readable if _allow_read(fd, path)]
        if _libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, fd, 0) != 0:
            return _os_error("landlock_restrict_self")
    finally:
        os.close(fd)
    parts = (
        ["fs"] + (["tcp"] if abi >= 4 else []) + (["signals", "abstract-unix"] if abi >= 6 else [])
    )
    reads = f"; read-only {', '.join(granted)}" if granted else ""
    return f"applied (abi {abi}: no {', '.join(parts)}{reads})"


def _allow_read(ruleset: int, path: str) -> bool:
    """Grant read (and execute, for mapping libraries) beneath ``path``; False if absent."""
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        is_dir = stat.S_ISDIR(os.fstat(target).st_mode)
        rights = _LANDLOCK_EXECUTE | _LANDLOCK_READ_FILE | (_LANDLOCK_READ_DIR if is_dir else 0)
        rule = _PathBeneath(rights, target)
        added = _libc.syscall(
            _SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0
        )
        return bool(added == 0)
    finally:
        os.close(target)


def apply_all(
    *,
    address_space_bytes: int,
    cpu_seconds: int,
    open_files: int,
    readable: Sequence[str] = (),
) -> dict[str, str]:
    """[worker, pre-plugin] Apply rlimits, no_new_privs, seccomp, Landlock; report each.

    The namespace and parent-death steps run earlier (see the worker), so they are not here.
    ``readable`` is passed to :func:`apply_landlock` (native workers only).
    """
    report = {"rlimits": apply_rlimits(address_space_bytes, cpu_seconds, open_files)}
    report["no_new_privs"] = set_no_new_privs()
    report["seccomp"] = apply_seccomp()
    report["landlock"] = apply_landlock(readable)
    return report
