"""Thin typed wrappers over individual bpf(2) commands.

Every function here fills one attr structure, calls :func:`bpf` and returns an
int, an :class:`FD` or a ctypes info struct. Hot paths (map element ops) live in
:mod:`pybpf._sys.mapops` instead, with preallocated buffers.
"""

from __future__ import annotations

import ctypes
import errno

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

from ..errors import BPFError, NotFoundError
from .attrs import (
    BtfLoadAttr,
    EnableStatsAttr,
    GetIdAttr,
    InfoAttr,
    IterCreateAttr,
    LinkCreateAttr,
    LinkDetachAttr,
    LinkUpdateAttr,
    ObjAttr,
    ProgAttachAttr,
    ProgBindMapAttr,
    QueryAttr,
    RawTracepointAttr,
    TaskFdQueryAttr,
)
from .consts import Cmd
from .info import BtfInfo, LinkInfo, MapInfo, ProgInfo
from .syscall import FD, bpf, bpf_raw

_addr = ctypes.addressof


def cbuf(data: bytes | bytearray | memoryview) -> ctypes.Array[ctypes.c_char]:
    """A ctypes char buffer holding a copy of ``data`` (kept alive by the caller)."""
    return ctypes.create_string_buffer(bytes(data), len(data))


def cstr(s: str | bytes) -> ctypes.Array[ctypes.c_char]:
    b = s.encode() if isinstance(s, str) else s
    return ctypes.create_string_buffer(b)


def obj_pin(fd: int, path: str) -> None:
    """BPF_OBJ_PIN: pin the object behind ``fd`` at ``path`` on a bpffs."""
    p = cstr(path)
    attr = ObjAttr(pathname=_addr(p), bpf_fd=fd)
    bpf(Cmd.OBJ_PIN, attr)


def obj_get(path: str, flags: int = 0) -> FD:
    """BPF_OBJ_GET: open a pinned object."""
    p = cstr(path)
    attr = ObjAttr(pathname=_addr(p), file_flags=flags)
    return FD(bpf(Cmd.OBJ_GET, attr))


def obj_get_kind(path: str, kind: str) -> FD:
    """BPF_OBJ_GET of a pin that must be a ``kind`` ('prog', 'map', 'link', 'btf') object."""
    from ..errors import Error

    fd = obj_get(path)
    info_fn: Callable[[int], Any] = {"prog": prog_info, "map": map_info, "link": link_info, "btf": btf_info}[kind]
    try:
        info_fn(fd.fd)
    except BPFError:
        fd.close()
        raise Error(f"{path} is not a BPF {'program' if kind == 'prog' else kind}") from None
    return fd


_NEXT_ID = {"prog": Cmd.PROG_GET_NEXT_ID, "map": Cmd.MAP_GET_NEXT_ID, "btf": Cmd.BTF_GET_NEXT_ID, "link": Cmd.LINK_GET_NEXT_ID}
_FD_BY_ID = {
    "prog": Cmd.PROG_GET_FD_BY_ID,
    "map": Cmd.MAP_GET_FD_BY_ID,
    "btf": Cmd.BTF_GET_FD_BY_ID,
    "link": Cmd.LINK_GET_FD_BY_ID,
}


def next_id(kind: str, start: int) -> int | None:
    """*_GET_NEXT_ID: the next id of ``kind`` after ``start``, or None at the end."""
    attr = GetIdAttr(start_id=start)
    ret = bpf_raw(_NEXT_ID[kind], _addr(attr), ctypes.sizeof(attr))
    if ret == -errno.ENOENT:
        return None
    if ret < 0:
        from .syscall import raise_for

        raise_for(_NEXT_ID[kind], -ret)
    return int(attr.next_id)


def iter_ids(kind: str) -> list[int]:
    """All ids of ``kind`` (prog/map/btf/link) currently in the kernel."""
    ids: list[int] = []
    cur = 0
    while True:
        nxt = next_id(kind, cur)
        if nxt is None:
            return ids
        ids.append(nxt)
        cur = nxt


def fd_by_id(kind: str, obj_id: int, open_flags: int = 0) -> FD:
    """*_GET_FD_BY_ID: an fd for the object with ``obj_id``; NotFoundError if gone."""
    attr = GetIdAttr(start_id=obj_id, open_flags=open_flags)
    try:
        return FD(bpf(_FD_BY_ID[kind], attr))
    except NotFoundError as e:
        raise NotFoundError(errno.ENOENT, e.command, f"no {kind} with id {obj_id}") from None


def obj_info(fd: int, info: Any) -> Any:
    """BPF_OBJ_GET_INFO_BY_FD into the ctypes struct ``info`` (whose pointers the caller set)."""
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=_addr(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return info


def prog_info(fd: int) -> ProgInfo:
    return obj_info(fd, ProgInfo())


def map_info(fd: int) -> MapInfo:
    return obj_info(fd, MapInfo())


def btf_info(fd: int, name_buf_len: int = 0) -> tuple[BtfInfo, str]:
    info = BtfInfo()
    name = ctypes.create_string_buffer(64)
    info.name = _addr(name)
    info.name_len = 64
    obj_info(fd, info)
    return info, name.value.decode(errors="replace")


def btf_data(fd: int) -> bytes:
    """The raw BTF blob of a loaded BTF object."""
    info, _ = btf_info(fd)
    size = int(info.btf_size)
    buf = ctypes.create_string_buffer(size)
    info2 = BtfInfo(btf=_addr(buf), btf_size=size)
    obj_info(fd, info2)
    return buf.raw[: int(info2.btf_size)]


def link_info(fd: int) -> LinkInfo:
    return obj_info(fd, LinkInfo())


def prog_attach(
    prog_fd: int, target_fd: int, attach_type: int, flags: int = 0, replace_fd: int = 0, relative_fd: int = 0,
    expected_revision: int = 0,
) -> None:
    """BPF_PROG_ATTACH (cgroup, sockmap, flow dissector, lirc, tcx/netkit via mprog flags)."""
    attr = ProgAttachAttr(
        target_fd=target_fd,
        attach_bpf_fd=prog_fd,
        attach_type=attach_type,
        attach_flags=flags,
        replace_bpf_fd=replace_fd,
        relative_fd=relative_fd,
        expected_revision=expected_revision,
    )
    bpf(Cmd.PROG_ATTACH, attr)


def prog_detach(target_fd: int, attach_type: int, prog_fd: int = 0, flags: int = 0) -> None:
    """BPF_PROG_DETACH."""
    attr = ProgAttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type, attach_flags=flags)
    bpf(Cmd.PROG_DETACH, attr)


def prog_query(target_fd: int, attach_type: int, query_flags: int = 0, max_progs: int = 64) -> dict[str, Any]:
    """BPF_PROG_QUERY: attached program ids (and link ids / revision on mprog hooks)."""
    while True:
        ids = (ctypes.c_uint32 * max_progs)()
        flags = (ctypes.c_uint32 * max_progs)()
        link_ids = (ctypes.c_uint32 * max_progs)()
        link_flags = (ctypes.c_uint32 * max_progs)()
        attr = QueryAttr(
            target_fd=target_fd,
            attach_type=attach_type,
            query_flags=query_flags,
            prog_ids=_addr(ids),
            prog_cnt=max_progs,
            # the kernel rejects per-program flags on an effective query (EINVAL)
            prog_attach_flags=0 if query_flags & 1 else _addr(flags),
            link_ids=_addr(link_ids),
            link_attach_flags=_addr(link_flags),
        )
        try:
            bpf(Cmd.PROG_QUERY, attr)
        except BPFError as e:
            if e.errno == errno.ENOSPC:
                max_progs *= 4
                continue
            raise
        n = int(attr.prog_cnt)
        return {
            "attach_flags": int(attr.attach_flags),
            "prog_ids": list(ids[:n]),
            "prog_attach_flags": list(flags[:n]),
            "link_ids": list(link_ids[:n]),
            "link_attach_flags": list(link_flags[:n]),
            "revision": int(attr.revision),
        }


def raw_tracepoint_open(name: str | None, prog_fd: int, cookie: int = 0) -> FD:
    """BPF_RAW_TRACEPOINT_OPEN (raw_tp by name; tp_btf/fentry/lsm with name=None)."""
    n = cstr(name) if name else None
    attr = RawTracepointAttr(name=_addr(n) if n is not None else 0, prog_fd=prog_fd, cookie=cookie)
    return FD(bpf(Cmd.RAW_TRACEPOINT_OPEN, attr))


def btf_load(data: bytes, log_level: int = 0, log_size: int = 0) -> tuple[FD, str]:
    """BPF_BTF_LOAD; returns (fd, log). Raises BPFError with the log's last line as hint."""
    blob = cbuf(data)
    log = ctypes.create_string_buffer(log_size) if log_size else None
    attr = BtfLoadAttr(
        btf=_addr(blob),
        btf_size=len(data),
        btf_log_buf=_addr(log) if log is not None else 0,
        btf_log_size=log_size,
        btf_log_level=log_level if log is not None else 0,
    )
    ret = bpf_raw(Cmd.BTF_LOAD, _addr(attr), ctypes.sizeof(attr))
    if ret < 0 and log is None and -ret not in (errno.EPERM, errno.EACCES):
        return btf_load(data, 1, 1 << 20)
    text = log.value.decode(errors="replace") if log is not None else ""
    if ret < 0:
        from .syscall import raise_for

        last = [ln for ln in text.splitlines() if ln.strip()]
        raise_for(Cmd.BTF_LOAD, -ret, last[-1] if last else "")
    return FD(ret), text


def task_fd_query(pid: int, fd: int) -> dict[str, Any]:
    """BPF_TASK_FD_QUERY: what program/probe a perf-event or raw_tp fd of ``pid`` carries."""
    buf = ctypes.create_string_buffer(4096)
    attr = TaskFdQueryAttr(pid=pid, fd=fd, buf=_addr(buf), buf_len=4096)
    bpf(Cmd.TASK_FD_QUERY, attr)
    return {
        "prog_id": int(attr.prog_id),
        "fd_type": int(attr.fd_type),
        "name": buf.value.decode(errors="replace"),
        "probe_offset": int(attr.probe_offset),
        "probe_addr": int(attr.probe_addr),
    }


def link_create(attr: LinkCreateAttr) -> FD:
    """BPF_LINK_CREATE with a filled attr."""
    return FD(bpf(Cmd.LINK_CREATE, attr))


def link_update(link_fd: int, new_prog_fd: int, old_prog_fd: int = 0, flags: int = 0) -> None:
    """BPF_LINK_UPDATE (flags BPF_F_REPLACE with old_prog_fd)."""
    bpf(Cmd.LINK_UPDATE, LinkUpdateAttr(link_fd=link_fd, new_prog_fd=new_prog_fd, old_prog_fd=old_prog_fd, flags=flags))


def link_detach(link_fd: int) -> None:
    """BPF_LINK_DETACH."""
    bpf(Cmd.LINK_DETACH, LinkDetachAttr(link_fd=link_fd))


def enable_stats(stats_type: int = 0) -> FD:
    """BPF_ENABLE_STATS: stats stay on while the returned fd is open."""
    return FD(bpf(Cmd.ENABLE_STATS, EnableStatsAttr(type=stats_type)))


def iter_create(link_fd: int) -> FD:
    """BPF_ITER_CREATE: a readable fd producing the iterator's output."""
    return FD(bpf(Cmd.ITER_CREATE, IterCreateAttr(link_fd=link_fd)))


def prog_bind_map(prog_fd: int, map_fd: int) -> None:
    """BPF_PROG_BIND_MAP: keep ``map_fd`` alive as long as the program."""
    bpf(Cmd.PROG_BIND_MAP, ProgBindMapAttr(prog_fd=prog_fd, map_fd=map_fd))
