"""The bpf(2) system call through ctypes, and the file-descriptor wrapper.

This module is the only place in pybpf that enters the kernel for BPF commands.
"""

from __future__ import annotations

import ctypes
import errno
import os
from _thread import allocate_lock

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import BPFError, ClosedError, NotFoundError, NotSupportedError, PermissionError_
from .consts import Cmd

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "arm64": 280, "riscv64": 280, "s390x": 351, "ppc64le": 361, "i686": 357, "armv7l": 386}
_SYS_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241, "arm64": 241, "riscv64": 241, "s390x": 331, "ppc64le": 319, "i686": 336, "armv7l": 364}

_machine = os.uname().machine
try:
    NR_BPF = _SYS_BPF[_machine]
    NR_PERF_EVENT_OPEN = _SYS_PERF_EVENT_OPEN[_machine]
except KeyError:  # pragma: no cover - exotic architectures
    raise ImportError(f"pybpf: unsupported architecture {_machine!r}") from None

_get_errno = ctypes.get_errno
_addressof = ctypes.addressof
_sizeof = ctypes.sizeof
_c_long = ctypes.c_long
_c_void_p = ctypes.c_void_p

_CAPS_HINT = {
    Cmd.PROG_LOAD: "loading programs needs CAP_BPF (plus CAP_PERFMON for tracing or CAP_NET_ADMIN for "
    "networking program types); run as root",
    Cmd.MAP_CREATE: "creating maps needs CAP_BPF; run as root",
    Cmd.BTF_LOAD: "loading BTF needs CAP_BPF; run as root",
    Cmd.PROG_ATTACH: "attaching needs CAP_NET_ADMIN (cgroup, netns hooks) or CAP_BPF; run as root",
    Cmd.LINK_CREATE: "creating links needs CAP_BPF plus CAP_PERFMON or CAP_NET_ADMIN; run as root",
    Cmd.ENABLE_STATS: "enabling run-time stats needs CAP_SYS_ADMIN; run as root",
}


def _hint(cmd: int, err: int) -> str:
    if err in (errno.EPERM, errno.EACCES):
        h = _CAPS_HINT.get(cmd)  # type: ignore[call-overload]
        if h:
            return h
        return "needs CAP_BPF (or CAP_SYS_ADMIN); run as root"
    if err == 524:
        return "the kernel does not support this operation for this object type"
    if err == errno.E2BIG:
        return "attribute or object too large for this kernel (newer field used on an older kernel?)"
    return ""


def _cmd_name(cmd: int) -> str:
    try:
        return Cmd(cmd).name
    except ValueError:
        return f"bpf cmd {cmd}"


def raise_for(cmd: int, err: int, hint: str = "") -> None:
    """Raise the typed exception for ``err`` returned by bpf command ``cmd``."""
    hint = hint or _hint(cmd, err)
    name = _cmd_name(cmd)
    if err in (errno.EPERM, errno.EACCES):
        raise PermissionError_(err, name, hint)
    if err == errno.ENOENT:
        raise NotFoundError(err, name, hint)
    raise BPFError(err, name, hint)


def bpf_raw(cmd: int, attr_addr: int, size: int) -> int:
    """bpf(cmd, attr, size) returning the result or ``-errno`` (no exception, no retry)."""
    ret = _syscall(NR_BPF, _c_long(cmd), _c_void_p(attr_addr), _c_long(size))
    if ret < 0:
        return -_get_errno()
    return ret


def bpf(cmd: int, attr: Any, size: int | None = None) -> int:
    """Issue bpf(2) with a ctypes attr structure; EINTR/EAGAIN on PROG_LOAD retried.

    Raises :class:`pybpf.BPFError` (or a subclass) on failure.
    """
    addr = _addressof(attr)
    if size is None:
        size = _sizeof(attr)
    for _ in range(5):
        ret = _syscall(NR_BPF, _c_long(cmd), _c_void_p(addr), _c_long(size))
        if ret >= 0:
            return ret
        err = _get_errno()
        if err == errno.EINTR or (err == errno.EAGAIN and cmd == Cmd.PROG_LOAD):
            continue
        break
    if err == errno.EPERM and bump_memlock_rlimit_once():
        return bpf(cmd, attr, size)
    raise_for(cmd, err)
    raise AssertionError("unreachable")


# --- RLIMIT_MEMLOCK: kernels < 5.11 charge BPF memory against it ------------------
_memlock_lock = allocate_lock()
_memlock_done = False


def _kernel_version() -> tuple[int, int]:
    """(major, minor) of the running kernel (:func:`pybpf._sys.kver.kernel_version`)."""
    from .kver import kernel_version

    return kernel_version()[:2]


def bump_memlock_rlimit_once() -> bool:
    """Raise RLIMIT_MEMLOCK to infinity on kernels that still charge BPF memory to it (< 5.11).

    Called transparently the first time a bpf() call fails with EPERM; memcg-based
    accounting (5.11+) makes it unnecessary, so newer kernels are left alone.
    Returns True when the limit was raised just now (the caller retries once).
    """
    global _memlock_done
    with _memlock_lock:
        if _memlock_done:
            return False
        _memlock_done = True
        if _kernel_version() >= (5, 11):
            return False
        import resource

        try:
            soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
            if soft != resource.RLIM_INFINITY:
                resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                return True
        except (ValueError, OSError):
            pass
        return False


def perf_event_open(attr: Any, pid: int, cpu: int, group_fd: int = -1, flags: int = 0) -> int:
    """perf_event_open(2); returns the fd or raises BPFError naming the call."""
    ret = _syscall(
        NR_PERF_EVENT_OPEN,
        _c_void_p(_addressof(attr)),
        ctypes.c_int(pid),
        ctypes.c_int(cpu),
        ctypes.c_int(group_fd),
        ctypes.c_ulong(flags),
    )
    if ret < 0:
        err = _get_errno()
        hint = ""
        if err in (errno.EPERM, errno.EACCES):
            hint = "needs CAP_PERFMON (or CAP_SYS_ADMIN), or a lower kernel.perf_event_paranoid; run as root"
            raise PermissionError_(err, "perf_event_open", hint)
        if err == errno.ENOENT:
            raise NotSupportedError("perf event", "the kernel does not know this event type/config (ENOENT)")
        if err == errno.EOPNOTSUPP:
            raise NotSupportedError("perf event", "unsupported by this kernel/hardware (EOPNOTSUPP)")
        raise BPFError(err, "perf_event_open", hint)
    return ret


def ioctl(fd: int, request: int, arg: int = 0) -> int:
    """ioctl(2) with an integer argument; raises BPFError on failure."""
    ret = _libc.ioctl(ctypes.c_int(fd), ctypes.c_ulong(request), ctypes.c_ulong(arg))
    if ret < 0:
        err = _get_errno()
        raise BPFError(err, f"ioctl 0x{request:x}")
    return ret


class FD:
    """An owned file descriptor; closes on :meth:`close`, ``with`` exit or garbage collection.

    ``int(fd)`` returns the raw number (``-1`` once closed).
    """

    __slots__ = ("_fd", "__weakref__")

    def __init__(self, fd: int) -> None:
        if fd < 0:
            raise ValueError(f"invalid fd {fd}")
        self._fd = fd

    @property
    def fd(self) -> int:
        """The fd number; :class:`~pybpf.errors.ClosedError` (a ValueError) once closed."""
        if self._fd < 0:
            raise ClosedError("file descriptor is closed")
        return self._fd

    def __int__(self) -> int:
        return self._fd

    def fileno(self) -> int:
        return self.fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def dup(self) -> "FD":
        """A new owned fd for the same kernel object (F_DUPFD_CLOEXEC)."""
        import fcntl

        return FD(fcntl.fcntl(self.fd, fcntl.F_DUPFD_CLOEXEC, 3))

    def __enter__(self) -> "FD":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        return f"FD({self._fd})" if self._fd >= 0 else "FD(closed)"
