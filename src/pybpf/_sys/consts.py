"""Kernel constants from include/uapi/linux/bpf.h (values are UAPI, stable across kernels)."""

from __future__ import annotations

import enum

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - type checkers see ordinary enum classes
    from typing import Callable, TypeVar

    _T = TypeVar("_T")
    _IntEnum = enum.IntEnum
    _IntFlag = enum.IntFlag

    def _fast(base: type) -> Callable[[_T], _T]: ...
else:
    class _IntEnum:  # plain bodies, turned into enum.IntEnum by _fast
        pass

    class _IntFlag:
        pass

    def _fast(base):
        """Build the ``base`` (IntEnum/IntFlag) from a plain class body.

        The standard library's ``enum._simple_enum`` (3.11+) does it in a third of the
        time class syntax takes, which every CLI start pays for these ~230 members;
        the functional API is the fallback on 3.10.
        """
        simple = getattr(enum, "_simple_enum", None)
        if simple is not None:
            return simple(base)

        def build(cls):
            members = [(k, v) for k, v in vars(cls).items() if not k.startswith("_")]
            e = base(cls.__name__, members, module=cls.__module__, qualname=cls.__qualname__)
            e.__doc__ = cls.__doc__
            return e

        return build


@_fast(enum.IntEnum)
class Cmd(_IntEnum):
    """bpf(2) commands."""

    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    OBJ_PIN = 6
    OBJ_GET = 7
    PROG_ATTACH = 8
    PROG_DETACH = 9
    PROG_TEST_RUN = 10

    PROG_GET_NEXT_ID = 11
    MAP_GET_NEXT_ID = 12
    PROG_GET_FD_BY_ID = 13
    MAP_GET_FD_BY_ID = 14
    OBJ_GET_INFO_BY_FD = 15
    PROG_QUERY = 16
    RAW_TRACEPOINT_OPEN = 17
    BTF_LOAD = 18
    BTF_GET_FD_BY_ID = 19
    TASK_FD_QUERY = 20
    MAP_LOOKUP_AND_DELETE_ELEM = 21
    MAP_FREEZE = 22
    BTF_GET_NEXT_ID = 23
    MAP_LOOKUP_BATCH = 24
    MAP_LOOKUP_AND_DELETE_BATCH = 25
    MAP_UPDATE_BATCH = 26
    MAP_DELETE_BATCH = 27
    LINK_CREATE = 28
    LINK_UPDATE = 29
    LINK_GET_FD_BY_ID = 30
    LINK_GET_NEXT_ID = 31
    ENABLE_STATS = 32
    ITER_CREATE = 33
    LINK_DETACH = 34
    PROG_BIND_MAP = 35
    TOKEN_CREATE = 36
    PROG_STREAM_READ_BY_FD = 37

@_fast(enum.IntEnum)
class MapType(_IntEnum):
    """Map types (enum bpf_map_type)."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33

@_fast(enum.IntEnum)
class ProgramType(_IntEnum):
    """Program types (enum bpf_prog_type)."""

    UNSPEC = 0
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    LWT_IN = 10
    LWT_OUT = 11
    LWT_XMIT = 12
    SOCK_OPS = 13
    SK_SKB = 14
    CGROUP_DEVICE = 15
    SK_MSG = 16
    RAW_TRACEPOINT = 17
    CGROUP_SOCK_ADDR = 18
    LWT_SEG6LOCAL = 19
    LIRC_MODE2 = 20
    SK_REUSEPORT = 21
    FLOW_DISSECTOR = 22
    CGROUP_SYSCTL = 23
    RAW_TRACEPOINT_WRITABLE = 24
    CGROUP_SOCKOPT = 25
    TRACING = 26
    STRUCT_OPS = 27
    EXT = 28
    LSM = 29
    SK_LOOKUP = 30
    SYSCALL = 31
    NETFILTER = 32

@_fast(enum.IntEnum)
class AttachType(_IntEnum):
    """Attach types (enum bpf_attach_type)."""

    CGROUP_INET_INGRESS = 0
    CGROUP_INET_EGRESS = 1
    CGROUP_INET_SOCK_CREATE = 2
    CGROUP_SOCK_OPS = 3
    SK_SKB_STREAM_PARSER = 4
    SK_SKB_STREAM_VERDICT = 5
    CGROUP_DEVICE = 6
    SK_MSG_VERDICT = 7
    CGROUP_INET4_BIND = 8
    CGROUP_INET6_BIND = 9
    CGROUP_INET4_CONNECT = 10
    CGROUP_INET6_CONNECT = 11
    CGROUP_INET4_POST_BIND = 12
    CGROUP_INET6_POST_BIND = 13
    CGROUP_UDP4_SENDMSG = 14
    CGROUP_UDP6_SENDMSG = 15
    LIRC_MODE2 = 16
    FLOW_DISSECTOR = 17
    CGROUP_SYSCTL = 18
    CGROUP_UDP4_RECVMSG = 19
    CGROUP_UDP6_RECVMSG = 20
    CGROUP_GETSOCKOPT = 21
    CGROUP_SETSOCKOPT = 22
    TRACE_RAW_TP = 23
    TRACE_FENTRY = 24
    TRACE_FEXIT = 25
    MODIFY_RETURN = 26
    LSM_MAC = 27
    TRACE_ITER = 28
    CGROUP_INET4_GETPEERNAME = 29
    CGROUP_INET6_GETPEERNAME = 30
    CGROUP_INET4_GETSOCKNAME = 31
    CGROUP_INET6_GETSOCKNAME = 32
    XDP_DEVMAP = 33
    CGROUP_INET_SOCK_RELEASE = 34
    XDP_CPUMAP = 35
    SK_LOOKUP = 36
    XDP = 37
    SK_SKB_VERDICT = 38
    SK_REUSEPORT_SELECT = 39
    SK_REUSEPORT_SELECT_OR_MIGRATE = 40
    PERF_EVENT = 41
    TRACE_KPROBE_MULTI = 42
    LSM_CGROUP = 43
    STRUCT_OPS = 44
    NETFILTER = 45
    TCX_INGRESS = 46
    TCX_EGRESS = 47
    TRACE_UPROBE_MULTI = 48
    CGROUP_UNIX_CONNECT = 49
    CGROUP_UNIX_SENDMSG = 50
    CGROUP_UNIX_RECVMSG = 51
    CGROUP_UNIX_GETPEERNAME = 52
    CGROUP_UNIX_GETSOCKNAME = 53
    NETKIT_PRIMARY = 54
    NETKIT_PEER = 55
    TRACE_KPROBE_SESSION = 56
    TRACE_UPROBE_SESSION = 57

@_fast(enum.IntEnum)
class LinkType(_IntEnum):
    """Link types (enum bpf_link_type)."""

    UNSPEC = 0
    RAW_TRACEPOINT = 1
    TRACING = 2
    CGROUP = 3
    ITER = 4
    NETNS = 5
    XDP = 6
    PERF_EVENT = 7
    KPROBE_MULTI = 8
    STRUCT_OPS = 9
    NETFILTER = 10
    TCX = 11
    UPROBE_MULTI = 12
    NETKIT = 13
    SOCKMAP = 14

@_fast(enum.IntFlag)
class UpdateFlags(_IntFlag):
    """Flags for map updates (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK)."""

    ANY = 0
    NOEXIST = 1
    EXIST = 2
    F_LOCK = 4


ANY = UpdateFlags.ANY
NOEXIST = UpdateFlags.NOEXIST
EXIST = UpdateFlags.EXIST
F_LOCK = UpdateFlags.F_LOCK


@_fast(enum.IntFlag)
class MapFlags(_IntFlag):
    """map_flags for MAP_CREATE."""

    NONE = 0
    NO_PREALLOC = 1
    NO_COMMON_LRU = 2
    NUMA_NODE = 4
    RDONLY = 8
    WRONLY = 16
    STACK_BUILD_ID = 32
    ZERO_SEED = 64
    RDONLY_PROG = 128
    WRONLY_PROG = 256
    CLONE = 512
    MMAPABLE = 1024
    PRESERVE_ELEMS = 2048
    INNER_MAP = 4096
    LINK = 8192
    PATH_FD = 16384
    VTYPE_BTF_OBJ_FD = 32768
    TOKEN_FD = 65536
    SEGV_ON_FAULT = 131072
    NO_USER_CONV = 262144


@_fast(enum.IntFlag)
class ProgFlags(_IntFlag):
    """prog_flags for PROG_LOAD."""

    NONE = 0
    STRICT_ALIGNMENT = 1
    ANY_ALIGNMENT = 2
    TEST_RND_HI32 = 4
    TEST_STATE_FREQ = 8
    SLEEPABLE = 16
    XDP_HAS_FRAGS = 32
    XDP_DEV_BOUND_ONLY = 64
    TEST_REG_INVARIANTS = 128
    TOKEN_FD = 65536


@_fast(enum.IntFlag)
class AttachFlags(_IntFlag):
    """attach_flags for PROG_ATTACH / LINK_CREATE (mprog)."""

    NONE = 0
    ALLOW_OVERRIDE = 1
    ALLOW_MULTI = 2
    REPLACE = 4
    BEFORE = 8
    AFTER = 16
    ID = 32
    LINK = 8192


@_fast(enum.IntFlag)
class TestRunFlags(_IntFlag):
    """flags for PROG_TEST_RUN."""

    NONE = 0
    RUN_ON_CPU = 1
    XDP_LIVE_FRAMES = 2
    SKB_CHECKSUM_COMPLETE = 4


@_fast(enum.IntEnum)
class StatsType(_IntEnum):
    """ENABLE_STATS types."""

    RUN_TIME = 0


@_fast(enum.IntEnum)
class PerfEventType(_IntEnum):
    """TASK_FD_QUERY fd_type (enum bpf_perf_event_type)."""

    UNSPEC = 0
    UPROBE = 1
    URETPROBE = 2
    KPROBE = 3
    KRETPROBE = 4
    TRACEPOINT = 5
    EVENT = 6


QUERY_EFFECTIVE = 1
OBJ_NAME_LEN = 16
BPF_TAG_SIZE = 8
