"""BCC's trace_pipe readers: ``trace_readline``, ``trace_fields``, ``trace_print``.

``bpf_trace_printk`` output goes to the kernel's shared ``trace_pipe``; these
read it like BCC (bytes lines, ``(task, pid, cpu, flags, ts, msg)`` tuples)
and add an optional ``timeout`` (seconds) so callers never block forever.
"""

from __future__ import annotations

import errno
import os
import select
import sys
import time
from typing import Any, Optional

from ..events.tracepipe import parse_trace_line

__all__ = ["TraceMixin", "parse_fields"]

Fields = tuple[Any, Any, Any, Any, Any, Any]


def parse_fields(line: bytes) -> Optional[Fields]:
    """(task, pid, cpu, flags, ts, msg) of a trace line (task/flags/msg bytes), None if it is not one."""
    if line.startswith(b"CPU:"):
        return None  # "CPU:N [LOST n EVENTS]"
    t = parse_trace_line(line.decode("utf-8", "replace"))
    if not t.parsed:
        return None
    msg = t.message.encode("utf-8", "replace")
    return (t.task.encode(), t.pid, t.cpu, t.flags.encode(), t.timestamp, msg)


class TraceMixin:
    """trace_pipe access for :class:`pybpf.bcc.BPF`."""

    tracefile: Any
    _trace_instance: Any = None

    def trace_open(self, nonblocking: bool = False) -> Any:
        """Open ``<tracefs>/trace_pipe`` (once) and return the file.

        The top-level ``trace_pipe`` takes one reader at a time (EBUSY for a second one):
        when it is busy, a private tracefs instance receiving ``bpf_trace_printk`` lines
        (:class:`pybpf.events.TraceInstance`) is read instead; :meth:`cleanup` removes it.
        """
        if self.tracefile is None:
            from .._sys.fs import find_tracefs

            flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
            tracefs = find_tracefs()
            try:
                fd = os.open(os.path.join(tracefs, "trace_pipe"), flags)
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                from ..events.tracepipe import TraceInstance

                inst = TraceInstance(f"pybpf_bcc_{os.getpid()}_{id(self):x}", tracefs=tracefs)
                try:
                    fd = os.open(os.path.join(inst.path, "trace_pipe"), flags)
                except BaseException:
                    inst.close()
                    raise
                self._trace_instance = inst
                print(f"pybpf.bcc: {tracefs}/trace_pipe is busy (another reader); reading "
                      f"bpf_trace_printk output from the private instance {inst.path}", file=sys.stderr)
            self.tracefile = os.fdopen(fd, "rb", buffering=0)
            self._trace_buf = b""
        return self.tracefile

    def trace_readline(self, nonblocking: bool = False, timeout: Optional[float] = None) -> bytes:
        """One line from trace_pipe without its newline; ``b""`` when nonblocking (or ``timeout``
        seconds pass) with nothing to read. Blocks otherwise."""
        f = self.trace_open(nonblocking)
        fd = f.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            nl = self._trace_buf.find(b"\n")
            if nl >= 0:
                line, self._trace_buf = self._trace_buf[:nl], self._trace_buf[nl + 1:]
                return line.rstrip()
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                self._trace_buf += chunk
                continue
            if nonblocking:
                return b""
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return b""
            select.select([fd], [], [], left)

    def trace_fields(self, nonblocking: bool = False, timeout: Optional[float] = None) -> Fields:
        """The next printk line as ``(task, pid, cpu, flags, ts, msg)``; ``(None,)*6`` when nothing
        arrives (nonblocking, or after ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            line = self.trace_readline(nonblocking, left)
            if not line:
                if nonblocking or (deadline is not None and time.monotonic() >= deadline):
                    return (None,) * 6  # type: ignore[return-value]
                continue
            fields = parse_fields(line)
            if fields is not None:
                return fields

    def trace_print(self, fmt: Optional[str] = None, timeout: Optional[float] = None) -> None:
        """Print trace_pipe lines (formatted with ``fmt.format(*fields)`` if given) until interrupted,
        or until ``timeout`` seconds pass without a line."""
        while True:
            if fmt:
                fields = self.trace_fields(timeout=timeout)
                if fields[0] is None:
                    return
                line: Any = fmt.format(*fields)
            else:
                raw = self.trace_readline(timeout=timeout)
                if not raw:
                    return
                line = raw.decode("utf-8", "replace")
            print(line)
            sys.stdout.flush()

    def _trace_close(self) -> None:
        if self.tracefile is not None:
            self.tracefile.close()
            self.tracefile = None
        inst, self._trace_instance = self._trace_instance, None
        if inst is not None:
            inst.close()
