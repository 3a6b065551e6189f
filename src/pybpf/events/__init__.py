"""Event streams from BPF programs to user space.

* :class:`RingBuffer` — read ``BPF_MAP_TYPE_RINGBUF`` maps (Linux 5.8+): per-record
  callbacks, batches (numpy views for fixed-size records), iterators, ``async for``;
* :class:`UserRingBuffer` — write ``BPF_MAP_TYPE_USER_RINGBUF`` maps (Linux 6.1+)
  that programs drain with ``bpf_user_ringbuf_drain``;
* :class:`PerfBuffer` — read ``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` per-CPU perf rings
  (Linux 4.3+), with lost-sample counts, overwritable rings, pause/resume;
* :func:`trace_pipe`, :class:`TracePipe`, :class:`TraceInstance`, :class:`TraceLine` —
  ``bpf_printk`` output from tracefs, parsed.

Everything is pure Python (mmap, memoryviews, epoll); numpy is optional.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "RingBuffer": ".ringbuf",
    "UserRingBuffer": ".userringbuf",
    "PerfBuffer": ".perfbuf",
    "trace_pipe": ".tracepipe", "TracePipe": ".tracepipe", "TraceInstance": ".tracepipe",
    "TraceLine": ".tracepipe", "parse_trace_line": ".tracepipe",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'pybpf.events' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover
    from .perfbuf import PerfBuffer  # noqa: F401
    from .ringbuf import RingBuffer
    from .tracepipe import TraceInstance, TraceLine, TracePipe, parse_trace_line, trace_pipe
    from .userringbuf import UserRingBuffer
