"""Streaming tables: ``BPF_PERF_OUTPUT`` (:class:`PerfEventArray`), ``BPF_RINGBUF_OUTPUT``
(:class:`RingBuf`), ``BPF_QUEUE``/``BPF_STACK`` (:class:`QueueStack`).

Records reach BCC-style callbacks as ``data`` (an :class:`EventData`: the address of a private
copy, so ``ctypes.cast`` works as in BCC) and ``size``; ``table.event(data)`` returns the record
as the ctypes struct the C program submitted (its type read from the object's BTF).
"""

from __future__ import annotations

import ctypes as ct
import errno
import os
from typing import Any, Callable, Iterator, Optional

from ..errors import BPFError
from .table import ArrayBase, TableBase, _from_bytes, _to_bytes

__all__ = ["EventData", "PerfEventArray", "RingBuf", "QueueStack"]


class EventData(int):
    """What perf/ring buffer callbacks receive as ``data``: the address of a private copy of the
    record (an ``int``, so ``ctypes.cast(data, ctypes.POINTER(T))`` works as in BCC), with the bytes
    on ``.raw``. The copy lives as long as this object."""

    raw: bytes
    _buf: Any

    def __new__(cls, payload: bytes) -> "EventData":
        buf = ct.create_string_buffer(payload, max(len(payload), 1))
        self = super().__new__(cls, ct.addressof(buf))
        self.raw = payload
        self._buf = buf
        return self



def _event_class(table: Any) -> Any:
    cls = table._event_class
    if cls is None:
        cls = table.bpf._event_type(table._name)
        table._event_class = cls
    return cls


def _event(table: Any, data: Any) -> Any:
    cls = _event_class(table)
    raw = getattr(data, "raw", None)
    if raw is not None:
        return _from_bytes(cls, raw)
    return ct.cast(data, ct.POINTER(cls)).contents


class PerfEventArray(ArrayBase):
    """``BPF_PERF_OUTPUT``: :meth:`open_perf_buffer`, then ``b.perf_buffer_poll()``."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._event_class: Any = None
        self._reader: Any = None
        self._perf_fds: dict[int, Any] = {}

    def event(self, data: Any) -> Any:
        """The record behind a callback's ``data`` as the C struct the program submitted (ctypes)."""
        return _event(self, data)

    def open_perf_buffer(self, callback: Callable[[int, Any, int], Any], page_cnt: int = 8,
                         lost_cb: Optional[Callable[[int], Any]] = None, wakeup_events: int = 1) -> None:
        """Per-CPU perf rings: ``callback(cpu, data, size)`` per record, ``lost_cb(count)`` on loss."""
        from ..events import PerfBuffer

        if page_cnt & (page_cnt - 1) != 0 or page_cnt <= 0:
            raise Exception("Perf buffer page_cnt must be a power of two")
        if self._reader is not None:
            raise Exception(f"perf buffer of {self._name!r} is already open")

        def sample(cpu: int, view: memoryview) -> None:
            callback(cpu, EventData(bytes(view)), len(view))

        def lost(cpu: int, count: int) -> None:
            if lost_cb is not None:
                lost_cb(count)
        self._reader = PerfBuffer(self.map, sample, lost, pages=page_cnt, wakeup_events=wakeup_events)
        self.bpf.perf_buffers[(id(self), self._name)] = self._reader

    def open_perf_event(self, typ: int, config: int, pid: int = -1) -> None:
        """Put a counter per online CPU in the array (``table.perf_read(CUR_CPU_IDENTIFIER)`` reads it)."""
        from .._sys import perf
        from .._sys.cpu import online_cpus

        for cpu in online_cpus():
            attr = perf.PerfEventAttr(type=typ, config=config)
            fd = perf.open_event(attr, pid=pid, cpu=cpu)
            self._ops.update(self._kb(cpu), int(fd.fd).to_bytes(4, "little"), 0)
            self._perf_fds[cpu] = fd

    def close(self) -> None:
        if self._reader is not None:
            self.bpf.perf_buffers.pop((id(self), self._name), None)
            self._reader.close()
            self._reader = None
        for cpu, fd in list(self._perf_fds.items()):
            try:
                self._ops.delete(self._kb(cpu))
            except BPFError:
                pass
            fd.close()
        self._perf_fds.clear()


class RingBuf(TableBase):
    """``BPF_RINGBUF_OUTPUT``: :meth:`open_ring_buffer`, then ``b.ring_buffer_poll()``."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._event_class: Any = None

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def event(self, data: Any) -> Any:
        return _event(self, data)

    def open_ring_buffer(self, callback: Callable[[Any, Any, int], Any], ctx: Any = None) -> None:
        """``callback(ctx, data, size)`` per record; a negative return stops the current poll."""
        def record(view: memoryview) -> Any:
            ret = callback(ctx, EventData(bytes(view)), len(view))
            try:
                return int(ret)
            except (TypeError, ValueError):
                return 0
        self.bpf._open_ring_buffer(self.map, record)
        self._cbs[0] = record


class QueueStack:
    """``BPF_QUEUE``/``BPF_STACK``: push, pop, peek (no keys)."""

    BPF_EXIST = 2

    def __init__(self, bpf: Any, map: Any, leaftype: Any, name: str = "") -> None:
        self.bpf = bpf
        self.map = map
        self.map_fd = map.fd
        self.map_id = map.id
        self.Leaf = leaftype
        self.ttype = int(map.type)
        self.flags = int(map.flags)
        self.max_entries = int(map.max_entries)
        self._name = name or map.name
        self._ops = map._ops
        self._vsize = int(map.value_size)

    def get_fd(self) -> int:
        return self.map_fd

    def push(self, leaf: Any, flags: int = 0) -> None:
        try:
            self._ops.update(None, _to_bytes(leaf, self.Leaf, self._vsize, "leaf"), flags)
        except BPFError as e:
            raise Exception(f"Could not push to table: {os.strerror(e.errno or errno.EINVAL)}") from e

    def pop(self) -> Any:
        raw = self._ops.lookup_and_delete(None)
        if raw is None:
            raise KeyError("Could not pop from table")
        return _from_bytes(self.Leaf, raw)

    def peek(self) -> Any:
        raw = self._ops.lookup(None)
        if raw is None:
            raise KeyError("Could not peek table")
        return _from_bytes(self.Leaf, raw)

    def itervalues(self) -> Iterator[Any]:
        for _ in range(self.max_entries):
            try:
                yield self.pop()
            except KeyError:
                return

    def values(self) -> list[Any]:
        return list(self.itervalues())
