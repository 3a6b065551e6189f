"""Walk and describe every BPF object in the kernel, as bpftool does.

``pybpf.programs()``, ``maps()``, ``links()``, ``btfs()`` iterate the kernel's
ID space (BPF_*_GET_NEXT_ID, 4.13+; BTF 5.4+, links 5.8+) and yield info records.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime
import errno
import time
from typing import Any, Iterator

from ._sys import cmds
from ._sys.consts import AttachType, LinkType, MapType, ProgramType, StatsType
from ._sys.info import LinkInfo as _LinkInfo
from ._sys.info import ProgInfo
from ._sys.syscall import FD
from .errors import BPFError, NotFoundError

__all__ = ["ProgramInfo", "MapInfo", "LinkInfo", "BTFInfo", "programs", "maps", "links", "btfs", "enable_stats",
           "fdinfo"]


def fdinfo(fd: int) -> dict[str, str]:
    """Key/value pairs of /proc/self/fdinfo/<fd> (memlock, prog_tag, map_type, ...)."""
    out: dict[str, str] = {}
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k.strip()] = v.strip()
    except OSError:
        pass
    return out


def _boot_time_ns() -> int:
    """Wall-clock time of boot in ns (load_time is CLOCK_BOOTTIME based)."""
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def _enum_or_int(enum_cls: type, v: int) -> object:
    try:
        return enum_cls(v)
    except ValueError:
        return v


@dataclasses.dataclass
class ProgramInfo:
    """struct bpf_prog_info, decoded. Minimum kernel 4.13."""

    id: int
    type: ProgramType | int
    name: str
    tag: str
    gpl_compatible: bool
    load_time_ns: int
    created_by_uid: int
    xlated_prog_len: int
    jited_prog_len: int
    map_ids: list[int]
    btf_id: int
    run_cnt: int
    run_time_ns: int
    recursion_misses: int
    verified_insns: int
    memlock: int | None
    ifindex: int = 0
    netns_dev: int = 0
    netns_ino: int = 0
    nr_func_info: int = 0
    nr_line_info: int = 0
    nr_jited_ksyms: int = 0
    attach_btf_obj_id: int = 0
    attach_btf_id: int = 0

    @property
    def loaded_at(self) -> datetime.datetime:
        """Load time as an aware UTC datetime."""
        ns = _boot_time_ns() + self.load_time_ns
        return datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)

    @property
    def loaded_at_epoch(self) -> int:
        """Load time in whole seconds since the epoch (as bpftool prints it)."""
        return (_boot_time_ns() + self.load_time_ns) // 1_000_000_000

    @classmethod
    def from_fd(cls, fd: int) -> "ProgramInfo":
        """Describe the program behind ``fd`` (BPF_OBJ_GET_INFO_BY_FD, 4.13+, and its fdinfo)."""
        i = cmds.prog_info(fd)
        nmaps = int(i.nr_map_ids)
        map_ids: list[int] = []
        if nmaps:
            ids = (ctypes.c_uint32 * nmaps)()
            i2 = ProgInfo(nr_map_ids=nmaps, map_ids=ctypes.addressof(ids))
            cmds.obj_info(fd, i2)
            map_ids = list(ids[: min(nmaps, int(i2.nr_map_ids))])
        mem = fdinfo(fd).get("memlock")
        return cls(
            id=int(i.id), type=_enum_or_int(ProgramType, i.type), name=i.name.decode(errors="replace"),  # type: ignore
            tag=bytes(i.tag).hex(), gpl_compatible=bool(i.gpl_compatible), load_time_ns=int(i.load_time),
            created_by_uid=int(i.created_by_uid), xlated_prog_len=int(i.xlated_prog_len),
            jited_prog_len=int(i.jited_prog_len), map_ids=map_ids, btf_id=int(i.btf_id), run_cnt=int(i.run_cnt),
            run_time_ns=int(i.run_time_ns), recursion_misses=int(i.recursion_misses),
            verified_insns=int(i.verified_insns), memlock=int(mem) if mem else None, ifindex=int(i.ifindex),
            netns_dev=int(i.netns_dev), netns_ino=int(i.netns_ino), nr_func_info=int(i.nr_func_info),
            nr_line_info=int(i.nr_line_info), nr_jited_ksyms=int(i.nr_jited_ksyms),
            attach_btf_obj_id=int(i.attach_btf_obj_id), attach_btf_id=int(i.attach_btf_id),
        )


@dataclasses.dataclass
class MapInfo:
    """struct bpf_map_info, decoded. Minimum kernel 4.13."""

    id: int
    type: MapType | int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_value_type_id: int
    map_extra: int
    memlock: int | None
    frozen: bool
    ifindex: int = 0

    @classmethod
    def from_fd(cls, fd: int) -> "MapInfo":
        """Describe the map behind ``fd`` (BPF_OBJ_GET_INFO_BY_FD, 4.13+, and its fdinfo)."""
        i = cmds.map_info(fd)
        fi = fdinfo(fd)
        mem = fi.get("memlock")
        return cls(
            id=int(i.id), type=_enum_or_int(MapType, i.type), name=i.name.decode(errors="replace"),  # type: ignore
            key_size=int(i.key_size), value_size=int(i.value_size), max_entries=int(i.max_entries),
            flags=int(i.map_flags), btf_id=int(i.btf_id), btf_key_type_id=int(i.btf_key_type_id),
            btf_value_type_id=int(i.btf_value_type_id), btf_vmlinux_value_type_id=int(i.btf_vmlinux_value_type_id),
            map_extra=int(i.map_extra), memlock=int(mem) if mem else None, frozen=fi.get("frozen") == "1",
            ifindex=int(i.ifindex),
        )


@dataclasses.dataclass
class LinkInfo:
    """struct bpf_link_info, decoded (type-specific fields in ``details``). Minimum kernel 5.8."""

    id: int
    type: LinkType | int
    prog_id: int
    details: dict[str, object]

    @classmethod
    def from_fd(cls, fd: int) -> "LinkInfo":
        """Describe the bpf_link behind ``fd`` (BPF_OBJ_GET_INFO_BY_FD on links, 5.8+)."""
        i = cmds.link_info(fd)
        t = int(i.type)
        d: dict[str, object] = {}
        if t == LinkType.RAW_TRACEPOINT:
            d["tp_name"] = _link_string(fd, "raw_tracepoint", "tp_name", "tp_name_len")
        elif t == LinkType.TRACING:
            d.update(attach_type=_enum_or_int(AttachType, i.tracing.attach_type),
                     target_obj_id=int(i.tracing.target_obj_id), target_btf_id=int(i.tracing.target_btf_id))
        elif t == LinkType.CGROUP:
            d.update(cgroup_id=int(i.cgroup.cgroup_id), attach_type=_enum_or_int(AttachType, i.cgroup.attach_type))
        elif t == LinkType.ITER:
            d["target_name"] = _link_string(fd, "iter", "target_name", "target_name_len")
            d["map_id"] = int(i.iter.map_id)
        elif t == LinkType.NETNS:
            d.update(netns_ino=int(i.netns.netns_ino), attach_type=_enum_or_int(AttachType, i.netns.attach_type))
        elif t == LinkType.XDP:
            d["ifindex"] = int(i.xdp.ifindex)
        elif t in (LinkType.TCX, LinkType.NETKIT):
            d.update(ifindex=int(i.tcx.ifindex), attach_type=_enum_or_int(AttachType, i.tcx.attach_type))
        elif t == LinkType.NETFILTER:
            d.update(pf=int(i.netfilter.pf), hooknum=int(i.netfilter.hooknum), priority=int(i.netfilter.priority),
                     flags=int(i.netfilter.flags))
        elif t == LinkType.STRUCT_OPS:
            d["map_id"] = int(i.struct_ops.map_id)
        elif t == LinkType.SOCKMAP:
            d.update(map_id=int(i.sockmap.map_id), attach_type=_enum_or_int(AttachType, i.sockmap.attach_type))
        elif t == LinkType.KPROBE_MULTI:
            d.update(count=int(i.kprobe_multi.count), flags=int(i.kprobe_multi.flags),
                     missed=int(i.kprobe_multi.missed))
        elif t == LinkType.UPROBE_MULTI:
            d.update(count=int(i.uprobe_multi.count), flags=int(i.uprobe_multi.flags), pid=int(i.uprobe_multi.pid))
        elif t == LinkType.PERF_EVENT:
            d["perf_event_type"] = int(i.perf_event.type)
        return cls(id=int(i.id), type=_enum_or_int(LinkType, t), prog_id=int(i.prog_id), details=d)  # type: ignore


def _link_string(fd: int, member: str, field: str, len_field: str) -> str:
    buf = ctypes.create_string_buffer(512)
    i = _LinkInfo()
    sub = getattr(i, member)
    setattr(sub, field, ctypes.addressof(buf))
    setattr(sub, len_field, 512)
    try:
        cmds.obj_info(fd, i)
    except BPFError:
        return ""
    return buf.value.decode(errors="replace")


@dataclasses.dataclass
class BTFInfo:
    """struct bpf_btf_info, decoded. Minimum kernel 4.18 (kernel BTF objects 5.5, names 5.11)."""

    id: int
    name: str
    size: int
    kernel_btf: bool

    @classmethod
    def from_fd(cls, fd: int) -> "BTFInfo":
        """Describe the BTF object behind ``fd`` (BPF_OBJ_GET_INFO_BY_FD, 4.18+; names 5.11+)."""
        i, name = cmds.btf_info(fd)
        return cls(id=int(i.id), name=name, size=int(i.btf_size), kernel_btf=bool(i.kernel_btf))


def _walk(kind: str, info_cls: Any) -> Iterator[Any]:
    for obj_id in cmds.iter_ids(kind):
        try:
            fd = cmds.fd_by_id(kind, obj_id)
        except NotFoundError:
            continue  # went away between GET_NEXT_ID and GET_FD_BY_ID
        with fd:
            try:
                yield info_cls.from_fd(fd.fd)
            except BPFError as e:
                if e.errno == errno.ENOENT:
                    continue
                raise


def programs() -> Iterator[ProgramInfo]:
    """Every program loaded in the kernel (as ``bpftool prog show``; BPF_PROG_GET_NEXT_ID, 4.13+)."""
    return _walk("prog", ProgramInfo)


def maps() -> Iterator[MapInfo]:
    """Every map in the kernel (as ``bpftool map show``; BPF_MAP_GET_NEXT_ID, 4.13+)."""
    return _walk("map", MapInfo)


def links() -> Iterator[LinkInfo]:
    """Every BPF link in the kernel (as ``bpftool link show``; BPF_LINK_GET_NEXT_ID, 5.8+)."""
    return _walk("link", LinkInfo)


def btfs() -> Iterator[BTFInfo]:
    """Every BTF object in the kernel (vmlinux, modules, programs'; BPF_BTF_GET_NEXT_ID, 5.4+)."""
    return _walk("btf", BTFInfo)


def ids(kind: str) -> set[int]:
    """The current id set of ``kind`` ('prog', 'map', 'link', 'btf'): cheap, for leak checks (4.13+;
    links 5.8+, BTF 5.4+)."""
    return set(cmds.iter_ids(kind))


@contextlib.contextmanager
def enable_stats(stats_type: StatsType = StatsType.RUN_TIME) -> Iterator[FD]:
    """Enable run_cnt/run_time_ns accounting while the ``with`` block runs (BPF_ENABLE_STATS, 5.8+)."""
    fd = cmds.enable_stats(int(stats_type))
    try:
        yield fd
    finally:
        fd.close()
