"""The BPF programs attached to cgroups, hook by hook (``bpftool cgroup show|tree``).

:func:`attached` lists the programs of one cgroup, in bpftool's hook order
(:data:`CGROUP_ATTACH_TYPES`) and the kernel's run order within a hook, with
their attach mode (``multi`` / ``override`` / exclusive); ``effective=True``
lists what actually runs there, inherited programs included (no modes then).
:func:`walk` yields the cgroups of a hierarchy as ``nftw(FTW_MOUNT)`` does.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from typing import Iterator

from ._sys import cmds
from ._sys.consts import QUERY_EFFECTIVE, AttachFlags, AttachType
from .errors import BPFError

__all__ = ["CGROUP_ATTACH_TYPES", "CgroupProg", "attach_flags_str", "attached", "has_attached", "walk"]

A = AttachType
#: The cgroup hooks in bpftool's order (its ``cgroup_attach_types[]``).
CGROUP_ATTACH_TYPES: tuple[AttachType, ...] = (
    A.CGROUP_INET_INGRESS, A.CGROUP_INET_EGRESS, A.CGROUP_INET_SOCK_CREATE, A.CGROUP_INET_SOCK_RELEASE,
    A.CGROUP_INET4_BIND, A.CGROUP_INET6_BIND, A.CGROUP_INET4_POST_BIND, A.CGROUP_INET6_POST_BIND,
    A.CGROUP_INET4_CONNECT, A.CGROUP_INET6_CONNECT, A.CGROUP_UNIX_CONNECT, A.CGROUP_INET4_GETPEERNAME,
    A.CGROUP_INET6_GETPEERNAME, A.CGROUP_UNIX_GETPEERNAME, A.CGROUP_INET4_GETSOCKNAME,
    A.CGROUP_INET6_GETSOCKNAME, A.CGROUP_UNIX_GETSOCKNAME, A.CGROUP_UDP4_SENDMSG, A.CGROUP_UDP6_SENDMSG,
    A.CGROUP_UNIX_SENDMSG, A.CGROUP_UDP4_RECVMSG, A.CGROUP_UDP6_RECVMSG, A.CGROUP_UNIX_RECVMSG,
    A.CGROUP_SOCK_OPS, A.CGROUP_DEVICE, A.CGROUP_SYSCTL, A.CGROUP_GETSOCKOPT, A.CGROUP_SETSOCKOPT,
    A.LSM_CGROUP,
)


@dataclasses.dataclass(frozen=True)
class CgroupProg:
    """A program on hook ``attach_type``; ``attach_flags`` None for effective queries."""

    prog_id: int
    attach_type: AttachType
    attach_flags: "int | None"


def attach_flags_str(flags: int) -> str:
    """bpftool's spelling of a hook's attach mode."""
    if flags == AttachFlags.ALLOW_MULTI:
        return "multi"
    if flags == AttachFlags.ALLOW_OVERRIDE:
        return "override"
    return "" if flags == 0 else f"unknown({flags:x})"


def query(cgroup_fd: int, attach_type: AttachType, effective: bool = False) -> list[CgroupProg]:
    """The programs on one hook (raises :class:`BPFError`, e.g. EINVAL for hooks this kernel lacks)."""
    q = cmds.prog_query(cgroup_fd, attach_type, QUERY_EFFECTIVE if effective else 0, max_progs=1024)
    if effective:
        return [CgroupProg(pid, attach_type, None) for pid in q["prog_ids"]]
    return [CgroupProg(pid, attach_type, f or q["attach_flags"])
            for pid, f in zip(q["prog_ids"], q["prog_attach_flags"])]


def has_attached(cgroup_fd: int, effective: bool = False) -> bool:
    """Whether any hook has a program (hooks unknown to the kernel are skipped)."""
    for at in CGROUP_ATTACH_TYPES:
        try:
            if query(cgroup_fd, at, effective):
                return True
        except BPFError as e:
            if e.errno != errno.EINVAL:
                raise
    return False


def attached(cgroup_fd: int, effective: bool = False) -> tuple[list[CgroupProg], bool]:
    """(every program of every hook in bpftool's order, whether at least one hook could be queried)."""
    out: list[CgroupProg] = []
    ok = False
    for at in CGROUP_ATTACH_TYPES:
        try:
            out.extend(query(cgroup_fd, at, effective))
            ok = True
        except BPFError:
            continue
    return out, ok


def walk(root: str) -> Iterator[tuple[str, int]]:
    """(path, depth) of ``root`` and every directory below it, depth first in directory order,
    without crossing into other file systems (``nftw(root, ..., FTW_MOUNT)``)."""
    dev = os.stat(root).st_dev
    stack: list[tuple[str, int]] = [(root, 0)]
    while stack:
        path, level = stack.pop()
        yield path, level
        try:
            with os.scandir(path) as it:
                subdirs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for sub in reversed(subdirs):
            try:
                if os.stat(sub).st_dev != dev:
                    continue
            except OSError:
                continue
            stack.append((sub, level + 1))
