"""``bcc.perf``: BCC's :class:`Perf`, opening perf events that only need to exist.

Tools use it to turn on an event they do not read (``old/profile.py`` checks
that a software event can be opened); pybpf opens them with its own
``perf_event_open`` (:mod:`pybpf._sys.perf`). As in BCC the events stay open
and enabled for the life of the process.
"""

from __future__ import annotations

from typing import Any

from .._sys import perf as _perf
from .._sys.cpu import online_cpus

__all__ = ["Perf"]

_open: list[Any] = []  # events opened through Perf: kept open (BCC never closes them)


class Perf:
    """BCC's ``bcc.Perf``: ``perf_event_open(config, pid, ptype, freq)`` on every online CPU."""

    perf_event_attr = _perf.PerfEventAttr

    PERF_TYPE_HARDWARE = 0
    PERF_TYPE_SOFTWARE = 1
    PERF_TYPE_TRACEPOINT = 2
    PERF_TYPE_HW_CACHE = 3
    PERF_SAMPLE_RAW = 1024
    PERF_FLAG_FD_CLOEXEC = 8
    PERF_EVENT_IOC_SET_FILTER = 1074275334
    PERF_EVENT_IOC_ENABLE = 9216

    @staticmethod
    def _open_for_cpu(cpu: int, attr: Any, pid: int = -1) -> None:
        """Open and enable the event of ``attr`` on ``cpu`` (OSError on failure)."""
        fd = _perf.open_event(attr, pid=pid, cpu=cpu)
        _perf.enable(int(fd))
        _open.append(fd)

    @staticmethod
    def perf_event_open(tpoint_id: int, pid: int = -1, ptype: int = PERF_TYPE_TRACEPOINT, freq: int = 0) -> None:
        """Open event ``tpoint_id`` (a config of type ``ptype``) on every online CPU; sampling at
        ``freq`` Hz when given, else every event; nothing reads the samples."""
        attr = _perf.PerfEventAttr(type=ptype, config=tpoint_id, sample_type=Perf.PERF_SAMPLE_RAW,
                                   wakeup_events=9999999)
        if freq > 0:
            attr.flags |= _perf.FLAG_FREQ
            attr.sample_period = freq
        else:
            attr.sample_period = 1
        Perf.perf_custom_event_open(attr, pid)

    @staticmethod
    def perf_custom_event_open(attr: Any, pid: int = -1) -> None:
        """Open the event described by ``attr`` (a :attr:`perf_event_attr`) on every online CPU."""
        for cpu in online_cpus():
            Perf._open_for_cpu(cpu, attr, pid)
