"""BCC's constant classes (program and attach types, XDP, perf event types and configs)."""

from __future__ import annotations

from .._sys.consts import AttachType as BPFAttachType
from .._sys.consts import ProgramType as BPFProgType
from .._sys.perf import HwEvent as PerfHWConfig
from .._sys.perf import PerfType
from .._sys.perf import SwEvent as PerfSWConfig

__all__ = ["BPFProgType", "BPFAttachType", "XDPAction", "XDPFlags", "PerfType", "PerfHWConfig", "PerfSWConfig",
           "PerfEventSampleFormat"]


class PerfEventSampleFormat:
    IP = 1 << 0
    TID = 1 << 1
    TIME = 1 << 2
    ADDR = 1 << 3
    READ = 1 << 4
    CALLCHAIN = 1 << 5
    ID = 1 << 6
    CPU = 1 << 7
    PERIOD = 1 << 8
    STREAM_ID = 1 << 9
    RAW = 1 << 10
    BRANCH_STACK = 1 << 11
    REGS_USER = 1 << 12
    STACK_USER = 1 << 13
    WEIGHT = 1 << 14
    DATA_SRC = 1 << 15
    IDENTIFIER = 1 << 16
    TRANSACTION = 1 << 17
    REGS_INTR = 1 << 18
    PHYS_ADDR = 1 << 19


class XDPAction:
    XDP_ABORTED = 0
    XDP_DROP = 1
    XDP_PASS = 2
    XDP_TX = 3
    XDP_REDIRECT = 4


class XDPFlags:
    """``XDP_FLAGS_*`` (include/uapi/linux/if_link.h)."""

    UPDATE_IF_NOEXIST = 1 << 0
    SKB_MODE = 1 << 1
    DRV_MODE = 1 << 2
    HW_MODE = 1 << 3
    REPLACE = 1 << 4
