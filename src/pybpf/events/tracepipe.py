"""``bpf_printk`` output: tracefs ``trace_pipe`` readers and private trace instances.

``bpf_trace_printk`` (helper 6) and ``bpf_trace_vprintk`` (5.16+) emit the
``bpf_trace/bpf_trace_printk`` trace event (Linux 5.9+; before that they used
``trace_printk()``). Loading a program that calls them enables that event in the
*top-level* trace buffer, so the lines show up in ``<tracefs>/trace_pipe``, which
every reader shares: a line read by one tool is gone for the others.

:class:`TraceInstance` avoids that: it creates ``<tracefs>/instances/<name>``
(a separate ring buffer) and enables ``bpf_trace/bpf_trace_printk`` *in it*. A
trace event writes to every buffer where it is enabled, so each instance gets
its own copy of every line (verified on Linux 6.18; needs 5.9+ where printk is
an event). The top-level buffer still receives the lines as well.

tracefs is found wherever it is mounted, or mounted at /sys/kernel/tracing
(:func:`pybpf._sys.fs.find_tracefs`). Reads use a non-blocking fd and
``select`` so every read can time out.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import os
import re
import select
import time
from typing import Callable, Iterator

from .._sys.fs import find_tracefs
from ..errors import Error

__all__ = ["TraceLine", "parse_trace_line", "TracePipe", "TraceInstance", "trace_pipe"]

PRINTK_EVENT = "bpf_trace/bpf_trace_printk"

# "  <task>-<pid> [(<tgid>)] [<cpu>] <flags> <timestamp>: <event>: <message>"
_LINE = re.compile(
    r"^\s*(?P<task>.*)-(?P<pid>\d+)\s+(?:\(\s*(?P<tgid>[-\d]+)\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:(?P<flags>\S{4,})\s+)?(?P<ts>\d+(?:\.\d+)?):\s+(?P<event>[^:\s]+):\s?(?P<msg>.*)$"
)


@dataclasses.dataclass(frozen=True)
class TraceLine:
    """One parsed trace line. ``pid`` is the kernel pid, i.e. the *thread* id
    (``threading.get_native_id()``); lines that do not parse have ``pid == -1``
    and the raw text in ``message``."""

    task: str
    pid: int
    cpu: int
    flags: str
    timestamp: float
    message: str
    event: str = ""
    tgid: int | None = None

    @property
    def parsed(self) -> bool:
        return self.pid >= 0


def parse_trace_line(line: str) -> TraceLine:
    """Parse a ``trace``/``trace_pipe`` line (``task-pid [cpu] flags ts: event: message``)."""
    line = line.rstrip("\n")
    m = _LINE.match(line)
    if m is None:
        return TraceLine("", -1, -1, "", 0.0, line)
    tgid = m.group("tgid")
    return TraceLine(
        task=m.group("task").strip(), pid=int(m.group("pid")), cpu=int(m.group("cpu")),
        flags=m.group("flags") or "", timestamp=float(m.group("ts")), message=m.group("msg"),
        event=m.group("event"), tgid=int(tgid) if tgid and tgid.strip("-") else None,
    )


class TracePipe:
    """A ``trace_pipe`` reader (top-level buffer, or an instance's).

    Iterating yields :class:`TraceLine` objects and blocks for new lines; with
    ``timeout`` (seconds) iteration ends after that long without a line. Reading
    *consumes* lines (that is how ``trace_pipe`` works). Context manager.
    """

    def __init__(self, path: str | None = None, *, timeout: float | None = None) -> None:
        self.path = path or os.path.join(find_tracefs(), "trace_pipe")
        self.timeout = timeout
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self._buf = b""
        self._lines: collections.deque[bytes] = collections.deque()

    def fileno(self) -> int:
        if self._fd < 0:
            raise Error("TracePipe is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def _fill(self, timeout: float | None) -> bool:
        """Read what is available, waiting up to ``timeout`` s (None: forever) for the
        first bytes. True if complete lines are buffered."""
        fd = self.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._lines:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                data = self._buf + chunk
                parts = data.split(b"\n")
                self._buf = parts.pop()
                self._lines.extend(p for p in parts if p.strip())
                continue
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            r, _w, _x = select.select([fd], [], [], left)
            if not r:
                return False
        return True

    def readline(self, timeout: float | None = None) -> TraceLine | None:
        """The next line, waiting up to ``timeout`` s (None: forever); None on timeout."""
        if not self._lines and not self._fill(timeout):
            return None
        return parse_trace_line(self._lines.popleft().decode(errors="replace"))

    def read_available(self) -> list[TraceLine]:
        """Every line available right now (never blocks)."""
        out: list[TraceLine] = []
        while self._lines or self._fill(0):
            out.extend(parse_trace_line(b.decode(errors="replace")) for b in self._lines)
            self._lines.clear()
        return out

    def lines(self, timeout: float | None = None) -> Iterator[TraceLine]:
        """Yield lines; stop after ``timeout`` s without one (None: never stop)."""
        while not self.closed:
            line = self.readline(timeout)
            if line is None:
                return
            yield line

    def __iter__(self) -> Iterator[TraceLine]:
        return self.lines(self.timeout)

    def wait_for(self, predicate: Callable[[TraceLine], bool], timeout: float) -> TraceLine | None:
        """Read lines until one satisfies ``predicate`` (returned) or ``timeout`` s pass (None).
        Lines read on the way are consumed."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            line = self.readline(left)
            if line is None:
                return None
            if predicate(line):
                return line

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> "TracePipe":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TracePipe {self.path}{' closed' if self.closed else ''}>"


class TraceInstance:
    """A private tracefs instance (``<tracefs>/instances/<name>``) receiving ``bpf_printk`` lines.

    Creates the instance (reusing it if it exists), enables ``events`` in it
    (default ``bpf_trace/bpf_trace_printk``) and hands out :meth:`pipe` readers.
    :meth:`close` closes those readers and removes the instance if this object
    created it. Lines only arrive while programs printing them are loaded (the
    kernel enables the event's tracepoint then).
    """

    def __init__(self, name: str, *, events: tuple[str, ...] = (PRINTK_EVENT,), tracefs: str | None = None) -> None:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"invalid trace instance name {name!r}")
        self.name = name
        self.tracefs = tracefs or find_tracefs()
        self.path = os.path.join(self.tracefs, "instances", name)
        self.events = tuple(events)
        self._pipes: list[TracePipe] = []
        self._closed = False
        try:
            os.mkdir(self.path)
            self.created = True
        except FileExistsError:
            self.created = False
        try:
            for ev in self.events:
                self._set_event(ev, True)
        except BaseException:
            self.close()
            raise

    def _set_event(self, event: str, on: bool) -> None:
        p = os.path.join(self.path, "events", event, "enable")
        try:
            with open(p, "w") as f:
                f.write("1" if on else "0")
        except FileNotFoundError:
            raise Error(f"trace event {event} does not exist (bpf_printk is a trace event on Linux 5.9+)") from None

    def pipe(self, timeout: float | None = None) -> TracePipe:
        """A :class:`TracePipe` on this instance's ``trace_pipe`` (closed with the instance)."""
        if self._closed:
            raise Error("TraceInstance is closed")
        p = TracePipe(os.path.join(self.path, "trace_pipe"), timeout=timeout)
        self._pipes.append(p)
        return p

    def clear(self) -> None:
        """Empty the instance's buffer."""
        with open(os.path.join(self.path, "trace"), "w"):
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for p in self._pipes:
            p.close()
        self._pipes = []
        if not os.path.isdir(self.path):
            return
        for ev in self.events:
            try:
                self._set_event(ev, False)
            except (Error, OSError):
                pass
        if self.created:
            for _ in range(50):
                try:
                    os.rmdir(self.path)
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        raise
                    time.sleep(0.01)  # a reader elsewhere may just be closing

    def __enter__(self) -> "TraceInstance":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TraceInstance {self.path}{' closed' if self._closed else ''}>"


def trace_pipe(instance: TraceInstance | str | None = None, *, timeout: float | None = None) -> TracePipe:
    """A reader of ``bpf_printk`` lines: ``for line in trace_pipe(): print(line.pid, line.message)``.

    ``instance``: a :class:`TraceInstance`, or the name of an existing tracefs
    instance; None reads the shared top-level ``trace_pipe``. ``timeout`` (s)
    ends iteration after that long without a line.
    """
    if isinstance(instance, TraceInstance):
        return instance.pipe(timeout)
    if isinstance(instance, str):
        path = os.path.join(find_tracefs(), "instances", instance, "trace_pipe")
        if not os.path.exists(path):
            raise Error(f"no tracefs instance {instance!r} (create it with TraceInstance({instance!r}))")
        return TracePipe(path, timeout=timeout)
    return TracePipe(timeout=timeout)
