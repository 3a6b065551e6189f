"""Feature probes: what the running kernel supports, and which kernel brought it.

Each probe creates a minimal map or loads a minimal program and interprets the
kernel's answer, as ``bpftool feature probe`` does. Results are cached per
process. ``PROG_TYPE_MIN_KERNEL`` / ``MAP_TYPE_MIN_KERNEL`` say in which kernel
version each type appeared.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import functools
import os
import struct
from typing import Iterator

from ._sys.attrs import LinkCreateAttr, MapCreateAttr, ProgLoadAttr
from ._sys.consts import AttachType, Cmd, MapFlags, MapType, ProgramType
from ._sys.syscall import bpf_raw

__all__ = [
    "Feature", "has_program_type", "program_type_status", "attach_type_status", "has_map_type", "has_helper", "has_bpf_link", "has_bounded_loops",
    "has_isa_v2", "has_isa_v3", "has_isa_v4", "has_large_insn_limit", "probe_all", "helpers_for",
    "PROG_TYPE_MIN_KERNEL", "MAP_TYPE_MIN_KERNEL", "unsupported_reason",
]

PROG_TYPE_MIN_KERNEL: dict[ProgramType, str] = {
    ProgramType.SOCKET_FILTER: "3.19", ProgramType.KPROBE: "4.1", ProgramType.SCHED_CLS: "4.1",
    ProgramType.SCHED_ACT: "4.1", ProgramType.TRACEPOINT: "4.7", ProgramType.XDP: "4.8",
    ProgramType.PERF_EVENT: "4.9", ProgramType.CGROUP_SKB: "4.10", ProgramType.CGROUP_SOCK: "4.10",
    ProgramType.LWT_IN: "4.10", ProgramType.LWT_OUT: "4.10", ProgramType.LWT_XMIT: "4.10",
    ProgramType.SOCK_OPS: "4.13", ProgramType.SK_SKB: "4.14", ProgramType.CGROUP_DEVICE: "4.15",
    ProgramType.SK_MSG: "4.17", ProgramType.RAW_TRACEPOINT: "4.17", ProgramType.CGROUP_SOCK_ADDR: "4.17",
    ProgramType.LWT_SEG6LOCAL: "4.18", ProgramType.LIRC_MODE2: "4.18", ProgramType.SK_REUSEPORT: "4.19",
    ProgramType.FLOW_DISSECTOR: "4.20", ProgramType.CGROUP_SYSCTL: "5.2",
    ProgramType.RAW_TRACEPOINT_WRITABLE: "5.2", ProgramType.CGROUP_SOCKOPT: "5.3", ProgramType.TRACING: "5.5",
    ProgramType.STRUCT_OPS: "5.6", ProgramType.EXT: "5.6", ProgramType.LSM: "5.7", ProgramType.SK_LOOKUP: "5.9",
    ProgramType.SYSCALL: "5.14", ProgramType.NETFILTER: "6.4",
}

from .map import MAP_TYPE_MIN_KERNEL  # noqa: E402  (shared table)

_MOV_R0_0 = struct.pack("<BBhi", 0xB7, 0, 0, 0)
_EXIT = struct.pack("<BBhi", 0x95, 0, 0, 0)


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


@dataclasses.dataclass(frozen=True)
class Feature:
    """One probed feature: ``name``, whether ``supported``, the ``min_kernel`` that brought it."""

    name: str
    supported: bool
    min_kernel: str = ""
    detail: str = ""

    def __bool__(self) -> bool:
        return self.supported


def _load(prog_type: int, code: bytes, expected_attach_type: int = 0, log: bool = False,
          flags: int = 0) -> tuple[int, str]:
    """Try PROG_LOAD; returns (0 or -errno, log). The fd is closed immediately."""
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    logbuf = ctypes.create_string_buffer(4096) if log else None
    attr = ProgLoadAttr(prog_type=prog_type, insn_cnt=len(code) // 8, insns=ctypes.addressof(insns),
                        license=ctypes.addressof(lic), expected_attach_type=expected_attach_type, prog_flags=flags)
    if logbuf is not None:
        attr.log_level, attr.log_size, attr.log_buf = 1, 4096, ctypes.addressof(logbuf)
    ret = bpf_raw(Cmd.PROG_LOAD, ctypes.addressof(attr), ctypes.sizeof(attr))
    if ret >= 0:
        os.close(ret)
        ret = 0
    return ret, (logbuf.value.decode(errors="replace") if logbuf is not None else "")


_DEFAULT_ATTACH: dict[ProgramType, AttachType] = {
    ProgramType.CGROUP_SOCK_ADDR: AttachType.CGROUP_INET4_CONNECT,
    ProgramType.CGROUP_SOCKOPT: AttachType.CGROUP_GETSOCKOPT,
    ProgramType.SK_LOOKUP: AttachType.SK_LOOKUP,
    ProgramType.NETFILTER: AttachType.NETFILTER,
}


def has_program_type(t: ProgramType) -> bool:
    """Whether programs of type ``t`` can be loaded here (minimum kernel in PROG_TYPE_MIN_KERNEL)."""
    return program_type_status(t)[0]


@functools.lru_cache(maxsize=None)
def program_type_status(t: ProgramType) -> tuple[bool, str]:
    """(usable, reason) for program type ``t``; the reason names why it is not usable."""
    code = _MOV_R0_0 + _EXIT
    if t == ProgramType.NETFILTER:
        code = _insn(0xB7, 0, 0, 0, 1) + _EXIT  # NF_ACCEPT
    ret, log = _load(int(t), code, int(_DEFAULT_ATTACH.get(t, 0)), log=True)
    if ret == 0:
        return True, ""
    if ret in (-errno.EPERM, -errno.EACCES):
        # Known to the kernel but refused even for root (e.g. tracing programs under lockdown).
        return False, f"refused by the kernel (EPERM) — needs Linux {PROG_TYPE_MIN_KERNEL.get(t, '?')}+ with " \
                      "the facility enabled and no lockdown restriction"
    if log.strip():
        # The verifier saw the program: the type exists (tracing/ext/lsm/struct_ops complain
        # about the missing attach target, which is fine for a probe).
        return True, ""
    return False, f"unknown to this kernel (needs Linux {PROG_TYPE_MIN_KERNEL.get(t, '?')}+ and its CONFIG option)"


@functools.lru_cache(maxsize=None)
def attach_type_status(prog_type: ProgramType, attach_type: AttachType) -> tuple[bool, str]:
    """(usable, reason): can ``prog_type`` programs with ``expected_attach_type`` load here?

    Distinguishes e.g. tp_btf/iter (TRACING, usable on this kernel) from fentry/fexit,
    which the kernel refuses with EPERM when the trampoline facility is unavailable.
    """
    ret, log = _load(int(prog_type), _MOV_R0_0 + _EXIT, int(attach_type), log=True)
    if ret == 0 or (log.strip() and ret != -errno.EPERM):
        return True, ""
    if ret in (-errno.EPERM, -errno.EACCES):
        return False, (f"{attach_type.name.lower()} programs are refused by this kernel (EPERM at load; "
                       "BPF trampolines unavailable or lockdown)")
    return False, f"attach type {attach_type.name.lower()} unknown to this kernel"


def _map_attr(t: MapType) -> MapCreateAttr:
    a = MapCreateAttr(map_type=int(t), key_size=4, value_size=4, max_entries=1)
    if t in (MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER):
        a.key_size = 0
    elif t == MapType.LPM_TRIE:
        a.key_size, a.value_size, a.map_flags = 8, 4, MapFlags.NO_PREALLOC
    elif t in (MapType.RINGBUF, MapType.USER_RINGBUF):
        a.key_size = a.value_size = 0
        a.max_entries = os.sysconf("SC_PAGE_SIZE")
    elif t in (MapType.CGROUP_STORAGE, MapType.PERCPU_CGROUP_STORAGE):
        a.key_size, a.max_entries = 16, 0  # struct bpf_cgroup_storage_key
    elif t in (MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE, MapType.CGRP_STORAGE):
        a.max_entries, a.map_flags = 0, MapFlags.NO_PREALLOC
    elif t == MapType.STACK_TRACE:
        a.value_size = 8
    elif t == MapType.STRUCT_OPS:
        a.btf_vmlinux_value_type_id = 1
    elif t == MapType.ARENA:
        a.key_size = a.value_size = 0
        a.map_flags = MapFlags.MMAPABLE
    return a


@functools.lru_cache(maxsize=None)
def has_map_type(t: MapType) -> bool:
    """Whether the kernel can create map type ``t`` (minimum kernel in MAP_TYPE_MIN_KERNEL)."""
    from .map import _storage_btf, btf_fd_for

    a = _map_attr(t)
    inner = btf = None
    try:
        if t in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            ia = MapCreateAttr(map_type=MapType.ARRAY, key_size=4, value_size=4, max_entries=1)
            r = bpf_raw(Cmd.MAP_CREATE, ctypes.addressof(ia), ctypes.sizeof(ia))
            if r < 0:
                return False
            inner = r
            a.inner_map_fd = r
        if t in (MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE, MapType.CGRP_STORAGE):
            blob, kid, vid = _storage_btf(4)
            fd_num, btf = btf_fd_for(blob)
            a.btf_fd, a.btf_key_type_id, a.btf_value_type_id = fd_num, kid, vid
        ret = bpf_raw(Cmd.MAP_CREATE, ctypes.addressof(a), ctypes.sizeof(a))
        if ret >= 0:
            os.close(ret)
            return True
        if t == MapType.STRUCT_OPS:
            return ret == -524  # ENOTSUPP for our bogus value type id: the map type exists
        return False
    except Exception:
        return False
    finally:
        if inner is not None:
            os.close(inner)
        if btf is not None:
            btf.close()


_INVALID_HELPER_MARKERS = ("invalid func ", "unknown func ", "program of this type cannot use helper")


def has_helper(prog_type: ProgramType, helper_id: int) -> bool:
    """Whether programs of ``prog_type`` may call helper ``helper_id`` (as bpftool probes it)."""
    return _has_helper(int(prog_type), int(helper_id))


@functools.lru_cache(maxsize=None)
def _has_helper(prog_type: int, helper_id: int) -> bool:
    code = _insn(0x85, 0, 0, 0, helper_id) + _MOV_R0_0 + _EXIT
    ret, log = _load(prog_type, code, int(_DEFAULT_ATTACH.get(ProgramType(prog_type), 0)), log=True)
    if ret == 0:
        return True
    return not any(m in log for m in _INVALID_HELPER_MARKERS) and bool(log.strip())


def helpers_for(prog_type: ProgramType) -> list[int]:
    """Ids of the helpers ``prog_type`` may call."""
    from .asm import HelperID

    if not has_program_type(prog_type):
        return []
    return [int(h) for h in HelperID if int(h) and has_helper(prog_type, int(h))]


@functools.lru_cache(maxsize=None)
def has_bpf_link() -> bool:
    """BPF_LINK_CREATE exists (5.7): an invalid fd gives EBADF instead of EINVAL."""
    a = LinkCreateAttr(prog_fd=0xFFFFFFFF, target_fd=0xFFFFFFFF, attach_type=int(AttachType.CGROUP_INET_INGRESS))
    ret = bpf_raw(Cmd.LINK_CREATE, ctypes.addressof(a), ctypes.sizeof(a))
    if ret >= 0:
        os.close(ret)
        return True
    return ret == -errno.EBADF


@functools.lru_cache(maxsize=None)
def has_bounded_loops() -> bool:
    """Bounded loops (backward jumps) are accepted (5.3)."""
    code = _MOV_R0_0 + _insn(0x07, 0, 0, 0, 1) + _insn(0xA5, 0, 0, -2, 4) + _EXIT  # r0+=1; if r0<4 goto -2
    return _load(int(ProgramType.SOCKET_FILTER), code)[0] == 0


@functools.lru_cache(maxsize=None)
def has_isa_v2() -> bool:
    """ISA v2: JLT/JLE/JSLT/JSLE conditional jumps (4.14)."""
    code = _MOV_R0_0 + _insn(0xA5, 0, 0, 0, 1) + _EXIT  # if r0 < 1 goto +0
    return _load(int(ProgramType.SOCKET_FILTER), code)[0] == 0


@functools.lru_cache(maxsize=None)
def has_isa_v3() -> bool:
    """ISA v3: the JMP32 class (5.1)."""
    code = _MOV_R0_0 + _insn(0xA6, 0, 0, 0, 1) + _EXIT  # if w0 < 1 goto +0
    return _load(int(ProgramType.SOCKET_FILTER), code)[0] == 0


@functools.lru_cache(maxsize=None)
def has_isa_v4() -> bool:
    """ISA v4: sdiv/smod, movsx, ldsx, bswap, gotol (6.6)."""
    code = _MOV_R0_0 + _insn(0xBF, 0, 0, 8, 0) + _EXIT  # r0 = (s8)r0
    return _load(int(ProgramType.SOCKET_FILTER), code)[0] == 0


@functools.lru_cache(maxsize=None)
def has_large_insn_limit() -> bool:
    """1M processed-instruction limit, 4096+ instructions for unprivileged... (5.2)."""
    code = _MOV_R0_0 * 4097 + _EXIT
    return _load(int(ProgramType.SOCKET_FILTER), code)[0] == 0


_ATTACH_PROBES = [
    (ProgramType.TRACING, AttachType.TRACE_RAW_TP, "5.5"),
    (ProgramType.TRACING, AttachType.TRACE_FENTRY, "5.5"),
    (ProgramType.TRACING, AttachType.TRACE_FEXIT, "5.5"),
    (ProgramType.TRACING, AttachType.MODIFY_RETURN, "5.7"),
    (ProgramType.TRACING, AttachType.TRACE_ITER, "5.8"),
    (ProgramType.LSM, AttachType.LSM_MAC, "5.7"),
    (ProgramType.LSM, AttachType.LSM_CGROUP, "6.0"),
    (ProgramType.KPROBE, AttachType.TRACE_KPROBE_MULTI, "5.18"),
    (ProgramType.KPROBE, AttachType.TRACE_UPROBE_MULTI, "6.6"),
    (ProgramType.SCHED_CLS, AttachType.TCX_INGRESS, "6.6"),
    (ProgramType.XDP, AttachType.XDP, "5.9"),
    (ProgramType.NETFILTER, AttachType.NETFILTER, "6.4"),
]


def unsupported_reason(t: ProgramType | MapType) -> str:
    """A one-line reason naming the missing feature and the kernel that brings it."""
    if isinstance(t, ProgramType):
        return f"program type {t.name} unavailable (needs Linux {PROG_TYPE_MIN_KERNEL.get(t, '?')}+)"
    return f"map type {t.name} unavailable (needs Linux {MAP_TYPE_MIN_KERNEL.get(t, '?')}+)"


def probe_all(helpers: bool = False) -> Iterator[Feature]:
    """Every probe, in ``bpftool feature probe`` order (helpers only when asked: ~7k loads)."""
    for pt in ProgramType:
        if pt == ProgramType.UNSPEC:
            continue
        ok, why = program_type_status(pt)
        yield Feature(f"program_type {pt.name.lower()}", ok, PROG_TYPE_MIN_KERNEL.get(pt, ""), why)
    for mt in MapType:
        if mt == MapType.UNSPEC:
            continue
        yield Feature(f"map_type {mt.name.lower()}", has_map_type(mt), MAP_TYPE_MIN_KERNEL.get(mt, ""))
    for pt, at, ver in _ATTACH_PROBES:
        ok, why = attach_type_status(pt, at)
        yield Feature(f"attach_type {at.name.lower()}", ok, ver, why)
    yield Feature("bpf_link", has_bpf_link(), "5.7")
    yield Feature("large_insn_limit", has_large_insn_limit(), "5.2")
    yield Feature("bounded_loops", has_bounded_loops(), "5.3")
    yield Feature("isa_v2", has_isa_v2(), "4.14")
    yield Feature("isa_v3", has_isa_v3(), "5.1")
    yield Feature("isa_v4", has_isa_v4(), "6.6")
    if helpers:
        from .asm import helper_name

        for pt in ProgramType:
            if pt == ProgramType.UNSPEC:
                continue
            for h in helpers_for(pt):
                yield Feature(f"helper {pt.name.lower()} {helper_name(h)}", True)
