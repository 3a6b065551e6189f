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
import warnings
from typing import Callable, Iterator

from .._sys.fs import find_tracefs
from ..errors import BPFError, ClosedError, Error, NotFoundError, NotSupportedError, PermissionError_

__all__ = ["TraceLine", "parse_trace_line", "TracePipe", "TraceInstance", "trace_pipe"]

PRINTK_EVENT = "bpf_trace/bpf_trace_printk"
RMDIR_TRIES = 50  # x 10 ms: how long close() waits for another reader to let go of an instance


def _os_error(e: OSError, what: str, hint: str = "") -> BPFError:
    """A typed pybpf error for a failed tracefs operation ``what`` (e.g. ``"mkdir <path>"``)."""
    err = e.errno or errno.EIO
    if err in (errno.EPERM, errno.EACCES):
        return PermissionError_(err, what, hint or "tracefs needs root (CAP_SYS_ADMIN); run as root")
    if err == errno.ENOENT:
        return NotFoundError(err, what, hint)
    return BPFError(err, what, hint)

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
    ``bpf_printk`` output reaches the top-level pipe on Linux 4.1+ (instances: 5.9+).
    """

    def __init__(self, path: str | None = None, *, timeout: float | None = None) -> None:
        self.path = path or os.path.join(find_tracefs(), "trace_pipe")
        self.timeout = timeout
        self._fd = -1
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise _os_error(e, f"open {self.path}", "no such trace_pipe" if e.errno == errno.ENOENT else "") from None
        self._buf = b""
        self._lines: collections.deque[bytes] = collections.deque()

    def fileno(self) -> int:
        """The (non-blocking) trace_pipe fd, for ``select``; :class:`~pybpf.errors.ClosedError` once closed."""
        if self._fd < 0:
            raise ClosedError("TracePipe is closed")
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
        """Close the trace_pipe fd (idempotent); unread lines stay in the kernel buffer."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __enter__(self) -> "TracePipe":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TracePipe {self.path}{' closed' if self.closed else ''}>"


class TraceInstance:
    """A private tracefs instance (``<tracefs>/instances/<name>``) receiving ``bpf_printk`` lines.

    Needs Linux 5.9+ (``bpf_printk`` as the ``bpf_trace/bpf_trace_printk``
    trace event; tracefs instances themselves are 3.17+). Creates the instance
    (reusing it if it exists), enables ``events`` in it (default
    ``bpf_trace/bpf_trace_printk``) and hands out :meth:`pipe` readers.
    :meth:`close` closes those readers, disables the events *it* enabled
    (``enabled_here``; in a reused instance, events already on stay on) and
    removes the instance if this object created it. Lines only arrive while
    programs printing them are loaded (the kernel enables the event's
    tracepoint then).
    """

    def __init__(self, name: str, *, events: tuple[str, ...] = (PRINTK_EVENT,), tracefs: str | None = None) -> None:
        if not name or "/" in name or "\0" in name or name in (".", ".."):
            raise Error(f"invalid trace instance name {name!r}: give a plain directory name such as 'myapp'")
        self.name = name
        self.tracefs = tracefs or find_tracefs()
        self.path = os.path.join(self.tracefs, "instances", name)
        self.events = tuple(events)
        self.enabled_here: list[str] = []
        self._pipes: list[TracePipe] = []
        self._closed = False
        self.created = False
        try:
            os.mkdir(self.path)
            self.created = True
        except FileExistsError:
            pass
        except FileNotFoundError:
            self._closed = True
            raise NotSupportedError("tracefs instances", f"{os.path.dirname(self.path)} does not exist "
                                    "(Linux 3.17+, tracefs)") from None
        except OSError as e:
            self._closed = True
            raise _os_error(e, f"mkdir {self.path}", "creating tracefs instances needs root" if e.errno in
                            (errno.EPERM, errno.EACCES) else "") from None
        try:
            for ev in self.events:
                if not self._event_on(ev):
                    self._set_event(ev, True)
                    self.enabled_here.append(ev)
        except BaseException:
            self.close()
            raise

    def _event_file(self, event: str) -> str:
        return os.path.join(self.path, "events", event, "enable")

    def _event_on(self, event: str) -> bool:
        """Whether ``event`` is enabled in this instance ("1", or "1*" when soft-enabled)."""
        try:
            with open(self._event_file(event)) as f:
                return f.read(1) == "1"
        except FileNotFoundError:
            raise Error(f"trace event {event} does not exist (bpf_printk is a trace event on Linux 5.9+)") from None
        except OSError as e:
            raise _os_error(e, f"read {self._event_file(event)}") from None

    def _set_event(self, event: str, on: bool) -> None:
        p = self._event_file(event)
        try:
            with open(p, "w") as f:
                f.write("1" if on else "0")
        except FileNotFoundError:
            raise Error(f"trace event {event} does not exist (bpf_printk is a trace event on Linux 5.9+)") from None
        except OSError as e:
            raise _os_error(e, f"write {p}") from None

    def pipe(self, timeout: float | None = None) -> TracePipe:
        """A :class:`TracePipe` on this instance's ``trace_pipe`` (closed with the instance)."""
        if self._closed:
            raise ClosedError(f"TraceInstance {self.name!r} is closed")
        p = TracePipe(os.path.join(self.path, "trace_pipe"), timeout=timeout)
        self._pipes.append(p)
        return p

    def clear(self) -> None:
        """Empty the instance's buffer."""
        p = os.path.join(self.path, "trace")
        try:
            with open(p, "w"):
                pass
        except OSError as e:
            raise _os_error(e, f"truncate {p}") from None

    def close(self) -> None:
        """Close this object's pipes, disable the events it enabled, remove the instance if it created it.

        Idempotent. When another process still holds the instance's
        ``trace_pipe`` (EBUSY for ~0.5 s), the directory is left in place with
        a :class:`RuntimeWarning` naming it; other failures raise a typed
        :class:`~pybpf.errors.BPFError`.
        """
        if self._closed:
            return
        self._closed = True
        for p in self._pipes:
            p.close()
        self._pipes = []
        enabled, self.enabled_here = self.enabled_here, []
        if not os.path.isdir(self.path):
            return
        failed: list[str] = []
        for ev in reversed(enabled):
            try:
                self._set_event(ev, False)
            except Error as e:
                failed.append(f"{ev} ({e})")
        if self.created and self._remove():
            return  # the events went with the instance
        if failed:
            warnings.warn(f"tracefs instance {self.path}: could not disable {', '.join(failed)}, enabled by pybpf",
                          RuntimeWarning, stacklevel=2)

    def _remove(self) -> bool:
        """rmdir the instance, waiting a little for other readers; False (with a warning) if still busy."""
        for _ in range(RMDIR_TRIES):
            try:
                os.rmdir(self.path)
                return True
            except FileNotFoundError:
                return True
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise _os_error(e, f"rmdir {self.path}") from None
                time.sleep(0.01)  # a reader elsewhere may just be closing
        warnings.warn(f"tracefs instance {self.path} left in place: still in use (EBUSY; another reader has its "
                      f"trace_pipe open); remove it with 'rmdir {self.path}' when that reader is done",
                      RuntimeWarning, stacklevel=3)
        return False

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
    ends iteration after that long without a line. Minimum kernel 4.1
    (``bpf_trace_printk``); instances need 5.9+ (printk as a trace event).
    """
    if isinstance(instance, TraceInstance):
        return instance.pipe(timeout)
    if isinstance(instance, str):
        path = os.path.join(find_tracefs(), "instances", instance, "trace_pipe")
        if not os.path.exists(path):
            raise Error(f"no tracefs instance {instance!r} (create it with TraceInstance({instance!r}))")
        return TracePipe(path, timeout=timeout)
    return TracePipe(timeout=timeout)
