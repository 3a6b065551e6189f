"""The only layer of pybpf that calls into the kernel: bpf(2), perf_event_open,
ioctl, mmap and netlink through ctypes and the standard library.
"""

from .consts import AttachType, Cmd, LinkType, MapFlags, MapType, ProgFlags, ProgramType, UpdateFlags
from .syscall import FD, bpf, bpf_raw, raise_for

__all__ = [
    "AttachType", "Cmd", "LinkType", "MapFlags", "MapType", "ProgFlags", "ProgramType", "UpdateFlags",
    "FD", "bpf", "bpf_raw", "raise_for",
]
