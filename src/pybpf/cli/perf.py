"""``pybpf perf``: show/list the BPF programs attached to perf events (bpftool's format)."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ._common import Args, CLIError, Context, select

HELP = """Usage: pybpf perf { show | list }
       pybpf perf help

       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} }
"""


def plain(a: Any) -> str:
    """bpftool's print_perf_plain()."""
    head = f"pid {a.pid}  fd {a.fd}: prog_id {a.prog_id}  "
    t = a.fd_type
    if t in (0, 1):
        return head + f"{a.kind}  {a.name}\n"
    if t in (2, 3):
        if a.name:
            return head + f"{a.kind}  func {a.name}  offset {a.probe_offset}\n"
        return head + f"{a.kind}  addr {a.probe_addr}\n"
    if t in (4, 5):
        return head + f"{a.kind}  filename {a.name}  offset {a.probe_offset}\n"
    return head


def as_json(a: Any) -> dict[str, Any]:
    """bpftool's print_perf_json()."""
    o: dict[str, Any] = {"pid": a.pid, "fd": a.fd, "prog_id": a.prog_id}
    t = a.fd_type
    if t in (0, 1):
        o.update(fd_type=a.kind, tracepoint=a.name)
    elif t in (2, 3):
        o["fd_type"] = a.kind
        if a.name:
            o.update(func=a.name, offset=a.probe_offset)
        else:
            o["addr"] = a.probe_addr
    elif t in (4, 5):
        o.update(fd_type=a.kind, filename=a.name, offset=a.probe_offset)
    return o


def do_show(ctx: Context, args: Args) -> int:
    from ..perfquery import perf_attachments, task_fd_query_probe

    err = task_fd_query_probe()
    if err:
        sys.stderr.write("HINT: non root or kernel doesn't support TASK_FD_QUERY\n")
        raise CLIError(f"perf_query_support: {os.strerror(err)}")
    if ctx.json:
        ctx.emit_json([as_json(a) for a in perf_attachments()])
        return 0
    for a in perf_attachments():
        sys.stdout.write(plain(a))
    return 0


VERBS = [("show", do_show), ("list", do_show), ("help", do_show)]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "perf", VERBS, words, HELP)
