"""Plumbing shared by the event readers: map fds, mmaps, memory ordering, epoll.

Memory ordering. The kernel publishes ring positions and record headers with
``smp_store_release`` and expects consumers to read them with
``smp_load_acquire`` (and to publish the consumer position with a release
store). pybpf reads and writes the shared pages through memoryviews: every
aligned 4/8-byte item access is a single load or store. On x86 (TSO) plain
loads are acquire loads and plain stores are release stores, so nothing more is
needed. On weakly ordered CPUs (arm64, riscv64, ppc64le, s390x is TSO too but is
treated conservatively) :func:`fence` issues a full barrier through
``pthread_mutex_unlock`` + ``pthread_mutex_lock`` of a private mutex (a release
followed by an acquire, which no CPU reorders), at the points libbpf uses
acquire/release.
"""

from __future__ import annotations

import ctypes
import functools
import errno
import mmap as _mmap
import os
import select
from typing import Any, Callable

from .._sys import cmds
from .._sys.consts import MapType
from .._sys.syscall import FD
from ..errors import BPFError, Error, NotSupportedError

PAGE = _mmap.PAGESIZE
BUSY_BIT = 1 << 31  # BPF_RINGBUF_BUSY_BIT: record reserved, not committed yet
DISCARD_BIT = 1 << 30  # BPF_RINGBUF_DISCARD_BIT: record discarded, skip it
LEN_MASK = DISCARD_BIT - 1
HDR_SZ = 8  # BPF_RINGBUF_HDR_SZ: u32 len (+ flag bits), u32 page offset

TSO = os.uname().machine in ("x86_64", "AMD64", "i386", "i686")


def _make_fence() -> Callable[[], None] | None:
    if TSO:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    mutex = ctypes.create_string_buffer(64)  # >= sizeof(pthread_mutex_t) everywhere; zeroed = initializer
    lock, unlock = libc.pthread_mutex_lock, libc.pthread_mutex_unlock
    ptr = ctypes.cast(mutex, ctypes.c_void_p)
    lock(ptr)

    def fence() -> None:
        """A full memory barrier (release then acquire on a private, always-held mutex)."""
        unlock(ptr)
        lock(ptr)

    fence._keep = (mutex, libc)  # type: ignore[attr-defined]
    return fence


#: ``None`` on TSO CPUs (plain loads/stores already have acquire/release semantics).
fence: Callable[[], None] | None = _make_fence()


def round8(n: int) -> int:
    return (n + 7) & ~7


def map_handle(m: Any, expect: tuple[MapType, ...], what: str, min_kernel: str) -> tuple[FD, int, int, Any]:
    """An owned dup of ``m``'s fd (a :class:`pybpf.Map`, an fd-like or an int) plus its type,
    max_entries and the original object. Raises :class:`Error` for the wrong map type."""
    if isinstance(m, int):
        raw = m
    elif hasattr(m, "fileno"):
        raw = m.fileno()
    elif hasattr(m, "fd"):
        raw = int(m.fd)
    else:
        raise TypeError(f"{what} needs a Map or a map fd, not {type(m).__name__}")
    import fcntl

    fd = FD(fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, 3))
    try:
        info = cmds.map_info(fd.fd)
        mtype = int(info.type)
        if mtype not in expect:
            names = " or ".join(t.name for t in expect)
            try:
                got = MapType(mtype).name
            except ValueError:
                got = str(mtype)
            raise Error(f"{what} needs a {names} map, got {got}")
        return fd, mtype, int(info.max_entries), m
    except BaseException:
        fd.close()
        raise


def mmap_fd(fd: int, length: int, prot: int, offset: int, what: str, min_kernel: str) -> _mmap.mmap:
    """mmap(2) a shared region of ``fd``; errors name the region and the kernel it needs."""
    try:
        return _mmap.mmap(fd, length, _mmap.MAP_SHARED, prot, offset=offset)
    except OSError as e:
        err = e.errno or errno.EINVAL
        if err in (errno.EINVAL, errno.ENODEV) and what.startswith("ring"):
            raise NotSupportedError(f"mmap of {what}", f"needs Linux {min_kernel}+") from None
        raise BPFError(err, f"mmap {what}") from None


def close_mmap(mm: _mmap.mmap | None) -> None:
    """Unmap ``mm``; if the caller still holds views into it (a record kept past its
    callback), leave the mapping to be unmapped when the last view goes away."""
    if mm is None:
        return
    try:
        mm.close()
    except BufferError:
        pass


def release(*views: memoryview | None) -> None:
    for v in views:
        if v is not None:
            try:
                v.release()
            except BufferError:
                pass


class EpollSet:
    """``select.epoll`` keyed by fd, closed with the owner."""

    __slots__ = ("ep", "poll")

    def __init__(self) -> None:
        self.ep = select.epoll()
        self.poll = self.ep.poll

    def add(self, fd: int, events: int = select.EPOLLIN) -> None:
        self.ep.register(fd, events)

    def remove(self, fd: int) -> None:
        try:
            self.ep.unregister(fd)
        except (OSError, ValueError):
            pass

    def fileno(self) -> int:
        return self.ep.fileno()

    def close(self) -> None:
        self.ep.close()


def timeout_s(timeout_ms: float | None) -> float:
    """epoll timeout in seconds from milliseconds (None or negative: wait forever)."""
    if timeout_ms is None or timeout_ms < 0:
        return -1
    return timeout_ms / 1000


def stop_requested(ret: Any) -> bool:
    """Callbacks stop the current poll by returning ``False`` or a negative int (libbpf style)."""
    return ret is False or (type(ret) is int and ret < 0)


@functools.lru_cache(maxsize=None)
def numpy_or_none() -> Any:
    """numpy if installed (it is optional), else None."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is optional
        return None
    return numpy

