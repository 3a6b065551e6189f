"""Which processes hold BPF programs on perf events (``bpftool perf list``).

A BPF program attached to a tracepoint, kprobe or uprobe runs from a perf
event; raw tracepoints run from a raw_tp bpf_link. Both are file descriptors
of some process. :func:`perf_attachments` walks ``/proc/<pid>/fd`` of every
process (in directory order, as bpftool does) and asks the kernel about each fd
with ``BPF_TASK_FD_QUERY`` (Linux 4.18+; needs CAP_SYS_ADMIN): fds that carry
no BPF program answer ENOTSUPP and are skipped.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from typing import Iterator

from ._sys import cmds
from .errors import BPFError

__all__ = ["PerfAttachment", "FD_TYPE_NAMES", "perf_attachments", "task_fd_query_probe"]

ENOTSUPP = 524

#: ``enum bpf_task_fd_type`` -> bpftool's names.
FD_TYPE_NAMES = {0: "raw_tracepoint", 1: "tracepoint", 2: "kprobe", 3: "kretprobe", 4: "uprobe", 5: "uretprobe"}


@dataclasses.dataclass(frozen=True)
class PerfAttachment:
    """One fd of process ``pid`` running BPF program ``prog_id``.

    ``name`` is the tracepoint name, the probed function (kprobes; empty for a
    probe by address, see ``probe_addr``) or the probed file (uprobes);
    ``probe_offset`` the offset into the function / file.
    """

    pid: int
    fd: int
    prog_id: int
    fd_type: int
    name: str
    probe_offset: int
    probe_addr: int

    @property
    def kind(self) -> str:
        """``tracepoint``, ``raw_tracepoint``, ``kprobe``, ``kretprobe``, ``uprobe``, ``uretprobe``."""
        return FD_TYPE_NAMES.get(self.fd_type, f"type {self.fd_type}")


def task_fd_query_probe() -> int:
    """0 if BPF_TASK_FD_QUERY works here, else the errno it fails with (bpftool's support probe:
    querying a plain directory fd must answer ENOTSUPP)."""
    fd = os.open("/", os.O_RDONLY | os.O_CLOEXEC)
    try:
        cmds.task_fd_query(os.getpid(), fd)
    except BPFError as e:
        return 0 if e.errno == ENOTSUPP else (e.errno or errno.EINVAL)
    finally:
        os.close(fd)
    return 0


def _numeric(names: Iterator[os.DirEntry[str]]) -> Iterator[int]:
    for de in names:
        if de.name.isdigit():
            yield int(de.name)


def perf_attachments(pids: "list[int] | None" = None) -> Iterator[PerfAttachment]:
    """Every (pid, fd) with a BPF program on a perf event or raw tracepoint.

    ``pids`` restricts the walk (default: every process in ``/proc``). Processes
    and fds that vanish during the walk are skipped.
    """
    if pids is None:
        try:
            with os.scandir("/proc") as it:
                pids = list(_numeric(it))
        except OSError:
            return
    for pid in pids:
        try:
            with os.scandir(f"/proc/{pid}/fd") as it:
                fds = list(_numeric(it))
        except OSError:
            continue
        for fd in fds:
            try:
                q = cmds.task_fd_query(pid, fd)
            except BPFError:
                continue
            yield PerfAttachment(pid, fd, q["prog_id"], q["fd_type"], q["name"], q["probe_offset"],
                                 q["probe_addr"])
