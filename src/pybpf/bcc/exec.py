"""``bcc.exec``: start a command for a tool to trace, held until the probes are attached.

:func:`run_cmd` forks the command, which waits on a pipe; the tool attaches
its probes (typically filtering on the returned pid), then :func:`cmd_ready`
lets it exec; :func:`cmd_exited` tells whether it has ended (SIGCHLD).
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Sequence

__all__ = ["run_cmd", "cmd_ready", "cmd_exited"]

_state = {"exited": False, "pipe": (-1, -1)}


def _on_sigchld(signum: int, frame: Any) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    _state["exited"] = True


def run_cmd(args: "Sequence[str]") -> int:
    """Fork ``args`` (exec'd once :func:`cmd_ready` is called); returns the child's pid."""
    r, w = os.pipe()
    _state["pipe"] = (r, w)
    _state["exited"] = False
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(w)
            os.read(r, 1)
            os.close(r)
            os.execvp(args[0], list(args))
        except OSError as e:
            print(f"failed to exec command: {' '.join(args)}: {e}", file=sys.stderr)
        os._exit(1)
    os.close(r)
    signal.signal(signal.SIGCHLD, _on_sigchld)
    return pid


def cmd_ready() -> None:
    """Let the command started by :func:`run_cmd` run."""
    _r, w = _state["pipe"]  # type: ignore[misc]
    try:
        os.write(w, b"x")
    finally:
        os.close(w)
        _state["pipe"] = (-1, -1)


def cmd_exited() -> bool:
    """True once the command has exited."""
    return bool(_state["exited"])
