"""BPF iterators (``SEC("iter/<target>")``): :func:`attach_iter` and :class:`IterLink`.

An iterator program is a ``BPF_PROG_TYPE_TRACING`` program loaded with
``expected_attach_type = BPF_TRACE_ITER`` and ``attach_btf_id`` of the
``bpf_iter_<target>`` function (see
:func:`pybpf.links.tracing.find_attach_btf_id`). Linking it (``BPF_LINK_CREATE``,
5.8+) fixes its parameters (a map for ``bpf_map_elem``/``sockmap`` iterators
5.9+, a cgroup 6.1+, a task/pid/pidfd 6.1+); each ``BPF_ITER_CREATE`` then
opens a fresh seq_file whose contents are what the program wrote with
``bpf_seq_printf``/``bpf_seq_write``: :meth:`IterLink.read`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import errno
import io
import os
from typing import Any

from .._sys import cmds
from .._sys.attrs import IterLinkInfo, LinkCreateAttr
from .._sys.consts import AttachType, LinkType
from ..errors import BPFError, Error, NotSupportedError
from .link import Link, prog_fd_of, register_link_type

__all__ = ["IterLink", "IterOptions", "CgroupIterOrder", "IterLinkInfo", "attach_iter", "iter_link_attr"]


class CgroupIterOrder(enum.IntEnum):
    """enum bpf_cgroup_iter_order."""

    UNSPEC = 0
    SELF_ONLY = 1
    DESCENDANTS_PRE = 2
    DESCENDANTS_POST = 3
    ANCESTORS_UP = 4


@dataclasses.dataclass
class IterOptions:
    """Parameters of :func:`attach_iter` (at most one group may be given).

    ``map``: a Map or map fd (map element / sockmap / sk_storage iterators).
    ``cgroup_fd``/``cgroup_id`` + ``order``: cgroup iterator. ``tid``/``pid``/
    ``pid_fd``: task, task_file, task_vma iterators restricted to one task/process.
    """

    map: Any = None
    cgroup_fd: int = 0
    cgroup_id: int = 0
    order: CgroupIterOrder | int = CgroupIterOrder.UNSPEC
    tid: int = 0
    pid: int = 0
    pid_fd: int = 0

    def link_info(self) -> IterLinkInfo | None:
        groups = [self.map is not None, bool(self.cgroup_fd or self.cgroup_id or self.order),
                  bool(self.tid or self.pid or self.pid_fd)]
        if sum(groups) > 1:
            raise Error("iterator options: give a map, a cgroup or a task, not several")
        if not any(groups):
            return None
        info = IterLinkInfo()
        if self.map is not None:
            info.map.map_fd = prog_fd_of(self.map)
        elif groups[1]:
            info.cgroup.order, info.cgroup.cgroup_fd, info.cgroup.cgroup_id = (int(self.order), self.cgroup_fd,
                                                                               self.cgroup_id)
        else:
            info.task.tid, info.task.pid, info.task.pid_fd = self.tid, self.pid, self.pid_fd
        return info


def iter_link_attr(prog_fd: int, info: IterLinkInfo | None) -> LinkCreateAttr:
    """The LINK_CREATE attr for an iterator (``info`` must stay alive during the call)."""
    a = LinkCreateAttr(prog_fd=prog_fd, attach_type=int(AttachType.TRACE_ITER))
    if info is not None:
        a.iter_info = ctypes.addressof(info)
        a.iter_info_len = ctypes.sizeof(info)
    return a


@register_link_type
class IterLink(Link):
    """An iterator link: :meth:`read` runs the iterator once and returns its output."""

    link_type = LinkType.ITER

    def open(self) -> io.BufferedReader:
        """A new readable file (BPF_ITER_CREATE, 5.8+); each one runs the iterator from the start."""
        fd = cmds.iter_create(self._need_link("BPF_ITER_CREATE").fd)
        raw = fd.fd
        fd._fd = -1  # ownership moves to the file object  # noqa: SLF001
        return io.open(raw, "rb", closefd=True)  # type: ignore[return-value]

    def read(self, chunk: int = 1 << 16) -> bytes:
        """The iterator's whole output (bytes written by bpf_seq_printf/seq_write)."""
        out = bytearray()
        with cmds.iter_create(self._need_link("BPF_ITER_CREATE").fd) as fd:
            while True:
                try:
                    b = os.read(fd.fd, chunk)
                except InterruptedError:
                    continue
                except OSError as e:
                    if e.errno == errno.EAGAIN:  # a program returned 1 / asked to retry: keep reading
                        continue
                    raise BPFError(e.errno or errno.EIO, "read(iterator)",
                                   "the iterator program failed (E2BIG: one record overflowed the seq buffer)"
                                   ) from None
                if not b:
                    return bytes(out)
                out += b

    def read_text(self, encoding: str = "utf-8") -> str:
        """:meth:`read` decoded as text (undecodable bytes replaced); runs the iterator once (5.8+)."""
        return self.read().decode(encoding, errors="replace")

    @property
    def target_name(self) -> str:
        return str(self.info().details.get("target_name", ""))


def attach_iter(prog: Any, map: Any = None, *, cgroup_fd: int = 0, cgroup_id: int = 0,
                order: CgroupIterOrder | int = CgroupIterOrder.UNSPEC, tid: int = 0, pid: int = 0,
                pid_fd: int = 0) -> IterLink:
    """Link an iterator program (5.8+); see :class:`IterOptions` for the parameters."""
    opts = IterOptions(map=map, cgroup_fd=cgroup_fd, cgroup_id=cgroup_id, order=order, tid=tid, pid=pid,
                       pid_fd=pid_fd)
    info = opts.link_info()
    try:
        fd = cmds.link_create(iter_link_attr(prog_fd_of(prog), info))
    except BPFError as e:
        if e.errno == errno.E2BIG or (e.errno == errno.EINVAL and info is not None and (tid or pid or pid_fd)):
            raise NotSupportedError("iterator parameters", "task/cgroup iterator parameters need Linux 6.1+; "
                                    "map parameters 5.9+") from None
        if e.errno == errno.EINVAL:
            raise BPFError(e.errno, e.command, "not an iterator program (load TRACING with BPF_TRACE_ITER and "
                           "attach_btf_id of bpf_iter_<target>), or the target needs/forbids a map") from None
        raise
    target = getattr(getattr(prog, "spec", None), "attach_to", "") or ""
    return IterLink(fd, kind="iter", target=target, program=prog)
