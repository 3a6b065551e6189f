"""``pybpf trace_pipe [instance NAME]``: stream ``bpf_printk`` output (pybpf's own).

Lines come from :func:`pybpf.events.trace_pipe` (the shared top-level
``trace_pipe``, or a tracefs instance made with :class:`pybpf.events.TraceInstance`).
Plain output is ``TASK-PID [CPU] TIMESTAMP: MESSAGE`` (lines that do not parse
as is); ``-j`` prints one JSON object per line. Ctrl-C ends it quietly (exit 0).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from ..errors import Error
from ._common import CLIError, Context, is_prefix, usage_error

HELP = """Usage: pybpf trace_pipe [instance NAME]
       pybpf trace_pipe help

       Streams bpf_printk() output until Ctrl-C.
       OPTIONS := { {-j|--json} }
"""


def _line(ln: Any) -> str:
    if ln.pid < 0:
        return str(ln.message)
    return f"{ln.task}-{ln.pid} [{ln.cpu:03d}] {ln.timestamp:.6f}: {ln.message}"


def run(ctx: Context, words: list[str]) -> int:
    from ..events import trace_pipe

    instance = None
    i = 0
    while i < len(words):
        w = words[i]
        if is_prefix(w, "help"):
            sys.stderr.write(HELP)
            return 0
        if is_prefix(w, "instance"):
            if i + 1 >= len(words):
                raise usage_error("'instance' needs a name")
            instance = words[i + 1]
            i += 2
            continue
        raise usage_error(f"expected 'instance', got: '{w}'?")
    try:
        pipe = trace_pipe(instance)
    except (Error, OSError) as e:
        raise CLIError(f"could not open trace pipe: {e}", 1) from None
    from ._json import dumps

    out = sys.stdout
    try:
        for ln in pipe:
            if ctx.json:
                out.write(dumps({"task": ln.task, "pid": ln.pid, "tgid": ln.tgid, "cpu": ln.cpu, "flags": ln.flags,
                                 "timestamp": ln.timestamp, "event": ln.event, "message": ln.message}) + "\n")
            else:
                out.write(_line(ln) + "\n")
            out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        close = getattr(pipe, "close", None)
        if close is not None:
            close()
    return 0
