"""perf_event_open(2), its ioctls, and the mmap'd ring header (include/uapi/linux/perf_event.h)."""

from __future__ import annotations

import ctypes
import enum
import mmap as _mmap
import select
from ctypes import c_int32, c_uint16, c_uint32, c_uint64

from .syscall import FD, ioctl, perf_event_open

u16, u32, s32, u64 = c_uint16, c_uint32, c_int32, c_uint64


class PerfType(enum.IntEnum):
    """perf_event_attr.type."""

    HARDWARE = 0
    SOFTWARE = 1
    TRACEPOINT = 2
    HW_CACHE = 3
    RAW = 4
    BREAKPOINT = 5


class SwEvent(enum.IntEnum):
    """PERF_COUNT_SW_* configs."""

    CPU_CLOCK = 0
    TASK_CLOCK = 1
    PAGE_FAULTS = 2
    CONTEXT_SWITCHES = 3
    CPU_MIGRATIONS = 4
    PAGE_FAULTS_MIN = 5
    PAGE_FAULTS_MAJ = 6
    ALIGNMENT_FAULTS = 7
    EMULATION_FAULTS = 8
    DUMMY = 9
    BPF_OUTPUT = 10
    CGROUP_SWITCHES = 11


class HwEvent(enum.IntEnum):
    """PERF_COUNT_HW_* configs."""

    CPU_CYCLES = 0
    INSTRUCTIONS = 1
    CACHE_REFERENCES = 2
    CACHE_MISSES = 3
    BRANCH_INSTRUCTIONS = 4
    BRANCH_MISSES = 5
    BUS_CYCLES = 6
    STALLED_CYCLES_FRONTEND = 7
    STALLED_CYCLES_BACKEND = 8
    REF_CPU_CYCLES = 9


# perf_event_attr flag bits (the bitfield after read_format)
FLAG_DISABLED = 1 << 0
FLAG_INHERIT = 1 << 1
FLAG_PINNED = 1 << 2
FLAG_EXCLUSIVE = 1 << 3
FLAG_EXCLUDE_USER = 1 << 4
FLAG_EXCLUDE_KERNEL = 1 << 5
FLAG_EXCLUDE_HV = 1 << 6
FLAG_EXCLUDE_IDLE = 1 << 7
FLAG_MMAP = 1 << 8
FLAG_COMM = 1 << 9
FLAG_FREQ = 1 << 10
FLAG_WATERMARK = 1 << 14
FLAG_WRITE_BACKWARD = 1 << 27

SAMPLE_RAW = 1 << 10

PERF_FLAG_FD_CLOEXEC = 1 << 3

# ioctls: _IO('$', n) / _IOW('$', n, u32|u64)
IOC_ENABLE = 0x2400
IOC_DISABLE = 0x2401
IOC_REFRESH = 0x2402
IOC_RESET = 0x2403
IOC_PERIOD = 0x40082404
IOC_SET_OUTPUT = 0x2405
IOC_SET_FILTER = 0x40082406
IOC_ID = 0x80082407
IOC_SET_BPF = 0x40042408
IOC_PAUSE_OUTPUT = 0x40042409
IOC_QUERY_BPF = 0xC008240A
IOC_MODIFY_ATTRIBUTES = 0x4008240B

# perf_event_header.type values seen in BPF output rings
RECORD_LOST = 2
RECORD_SAMPLE = 9


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr (PERF_ATTR_SIZE_VER8, 136 bytes)."""

    _fields_ = [
        ("type", u32),
        ("size", u32),
        ("config", u64),
        ("sample_period", u64),  # union with sample_freq
        ("sample_type", u64),
        ("read_format", u64),
        ("flags", u64),
        ("wakeup_events", u32),  # union with wakeup_watermark
        ("bp_type", u32),
        ("config1", u64),  # union: bp_addr, kprobe_func, uprobe_path
        ("config2", u64),  # union: bp_len, kprobe_addr, probe_offset
        ("branch_sample_type", u64),
        ("sample_regs_user", u64),
        ("sample_stack_user", u32),
        ("clockid", s32),
        ("sample_regs_intr", u64),
        ("aux_watermark", u32),
        ("sample_max_stack", u16),
        ("_reserved_2", u16),
        ("aux_sample_size", u32),
        ("_reserved_3", u32),
        ("sig_data", u64),
        ("config3", u64),
    ]

    def __init__(self, **kw: int) -> None:
        super().__init__(**kw)
        self.size = ctypes.sizeof(PerfEventAttr)


class PerfEventMmapPage(ctypes.Structure):
    """The head of struct perf_event_mmap_page: data_head/data_tail live at offset 1024."""

    _fields_ = [
        ("version", u32),
        ("compat_version", u32),
        ("lock", u32),
        ("index", u32),
        ("offset", ctypes.c_int64),
        ("time_enabled", u64),
        ("time_running", u64),
        ("capabilities", u64),
        ("pmc_width", u16),
        ("time_shift", u16),
        ("time_mult", u32),
        ("time_offset", u64),
        ("time_zero", u64),
        ("size", u32),
        ("_reserved_1", u32),
        ("time_cycles", u64),
        ("time_mask", u64),
        ("_reserved", ctypes.c_uint8 * (116 * 8)),
        ("data_head", u64),
        ("data_tail", u64),
        ("data_offset", u64),
        ("data_size", u64),
    ]


def open_event(attr: PerfEventAttr, pid: int = -1, cpu: int = 0, group_fd: int = -1,
               flags: int = PERF_FLAG_FD_CLOEXEC) -> FD:
    """perf_event_open returning an owned FD."""
    return FD(perf_event_open(attr, pid, cpu, group_fd, flags))


def enable(fd: int) -> None:
    ioctl(fd, IOC_ENABLE, 0)


def disable(fd: int) -> None:
    ioctl(fd, IOC_DISABLE, 0)


def set_bpf(fd: int, prog_fd: int) -> None:
    """PERF_EVENT_IOC_SET_BPF: run ``prog_fd`` on every event of ``fd`` (4.1+)."""
    ioctl(fd, IOC_SET_BPF, prog_fd)


def read_counter(fd: int) -> int:
    """The counter value of a counting event (read(2) of 8 bytes)."""
    import os

    return int.from_bytes(os.read(fd, 8), "little")


def mmap_ring(fd: int, pages: int) -> _mmap.mmap:
    """mmap 1 + ``pages`` pages (a power of two) of a perf event's ring buffer."""
    if pages & (pages - 1):
        raise ValueError("perf ring size must be a power of two pages")
    return _mmap.mmap(fd, (pages + 1) * _mmap.PAGESIZE, _mmap.MAP_SHARED, _mmap.PROT_READ | _mmap.PROT_WRITE)


class Epoll:
    """A small epoll set (fd → user data), closed with the ``with`` block."""

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._data: dict[int, object] = {}

    def add(self, fd: int, data: object = None, events: int = select.EPOLLIN) -> None:
        self._ep.register(fd, events)
        self._data[fd] = data

    def remove(self, fd: int) -> None:
        self._ep.unregister(fd)
        self._data.pop(fd, None)

    def wait(self, timeout_ms: int = -1) -> list[object]:
        """Data of the ready fds (empty on timeout); EINTR yields an empty list."""
        try:
            ready = self._ep.poll(timeout_ms / 1000 if timeout_ms >= 0 else -1)
        except InterruptedError:
            return []
        return [self._data.get(fd) for fd, _ in ready]

    def fileno(self) -> int:
        return self._ep.fileno()

    def close(self) -> None:
        self._ep.close()

    def __enter__(self) -> "Epoll":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
