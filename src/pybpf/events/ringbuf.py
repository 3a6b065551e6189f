"""Reading BPF ring buffers (``BPF_MAP_TYPE_RINGBUF``, Linux 5.8+): :class:`RingBuffer`.

Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (mapped
read-write), page 1 the producer position (read-only), then the data area,
which the kernel maps *twice* back to back so that a record never wraps in
memory. Every record starts with an 8-byte header: ``u32 len`` whose bit 31
(BUSY) says the producer has not committed it yet and bit 30 (DISCARD) says it
was discarded, then ``u32`` page offset; records are 8-byte aligned.

Four ways to read, all over one epoll set holding any number of rings:

* :meth:`RingBuffer.poll` / :meth:`RingBuffer.consume` — a callback per record
  receiving a ``memoryview`` (valid only during the callback);
* :meth:`RingBuffer.poll_batch` / :meth:`RingBuffer.consume_batch` — one callback
  per run of records: a list of memoryviews, or, for fixed-size records with
  numpy installed, a read-only numpy array viewing the ring (``dtype`` rows);
* ``for rec in rb`` / :meth:`RingBuffer.records` — ``bytes`` copies, blocking;
* ``async for rec in rb`` — the same on asyncio (the epoll fd is watched with
  ``loop.add_reader``).

Delivered records are consumed, also when the callback raises (the exception,
``KeyboardInterrupt`` included, propagates after the consumer position was
published), exactly like libbpf's ``ring_buffer__poll``.
"""

from __future__ import annotations

import mmap as _mmap
from typing import Any, AsyncIterator, Callable, Iterator, Sequence

from .._sys.consts import MapType
from .._sys.syscall import FD
from ..errors import Error
from ._ring import (
    BUSY_BIT, DISCARD_BIT, LEN_MASK, PAGE, EpollSet, close_mmap, fence, map_handle, mmap_fd, numpy_or_none,
    release, stop_requested, timeout_s,
)

__all__ = ["RingBuffer"]

MIN_KERNEL = "5.8"
_FLAGS = BUSY_BIT | DISCARD_BIT
_WEAK = fence is not None
_LIST_MAX = 1024  # records per list handed to a batch callback

Callback = Callable[[memoryview], Any]
BatchCallback = Callable[[Any], Any]


class _Ring:
    """One mapped ring: positions, data views and its callbacks."""

    __slots__ = ("fd", "map", "size", "mask", "cons_mm", "data_mm", "views", "cons_q", "prod_q", "data", "hdr",
                 "callback", "batch", "record_size", "dtype")

    def __init__(self, fd: FD | None, size: int, cons_mm: _mmap.mmap, data_mm: _mmap.mmap,
                 callback: Callback | None = None, batch: BatchCallback | None = None,
                 record_size: int | None = None, dtype: Any = None, map: Any = None) -> None:
        self.fd, self.size, self.mask, self.map = fd, size, size - 1, map
        self.cons_mm: _mmap.mmap | None = cons_mm
        self.data_mm: _mmap.mmap | None = data_mm
        cons_base, data_base = memoryview(cons_mm), memoryview(data_mm)
        prod_base = data_base[:8]
        self.cons_q = cons_base[:8].cast("Q")
        self.prod_q = prod_base.cast("Q")
        self.data = data_base[PAGE:]
        self.hdr = self.data.cast("I")
        self.views = [self.hdr, self.data, self.prod_q, prod_base, self.cons_q, data_base, cons_base]
        self.callback = callback
        self.batch = batch
        self.record_size = record_size
        self.dtype = dtype

    @classmethod
    def open(cls, m: Any, **kw: Any) -> "_Ring":
        """Map ring buffer ``m`` (consumer page RW, producer page + data twice RO)."""
        fd, _t, size, obj = map_handle(m, (MapType.RINGBUF,), "RingBuffer", MIN_KERNEL)
        cons_mm = data_mm = None
        try:
            cons_mm = mmap_fd(fd.fd, PAGE, _mmap.PROT_READ | _mmap.PROT_WRITE, 0, "ring buffer consumer page",
                              MIN_KERNEL)
            data_mm = mmap_fd(fd.fd, PAGE + 2 * size, _mmap.PROT_READ, PAGE, "ring buffer data", MIN_KERNEL)
            return cls(fd, size, cons_mm, data_mm, map=obj, **kw)
        except BaseException:
            close_mmap(cons_mm)
            close_mmap(data_mm)
            fd.close()
            raise

    def pending(self) -> int:
        return self.prod_q[0] - self.cons_q[0]

    def close(self) -> None:
        release(*self.views)
        self.views = []
        close_mmap(self.cons_mm)
        close_mmap(self.data_mm)
        self.cons_mm = self.data_mm = None
        if self.fd is not None:
            self.fd.close()


class RingBuffer:
    """Consume one or more BPF ring buffers (``BPF_MAP_TYPE_RINGBUF``, Linux 5.8+).

    ``RingBuffer(map_or_maps, callback)`` maps every ring and registers it with
    one epoll set; :meth:`add` adds more. ``callback(memoryview)`` is called per
    record; the view is only valid during the call (copy with ``bytes(view)``).
    Return ``False`` or a negative int from it to stop the current poll after
    that record; anything else (``None``, ...) continues.

    ``batch_callback``, ``record_size`` and ``dtype`` are per-ring defaults for
    :meth:`poll_batch`. The object is a context manager; :meth:`close` unmaps
    everything and closes its fds (the maps themselves stay open: they belong to
    the caller). Not thread-safe: poll from one thread at a time.
    """

    def __init__(self, map_or_maps: Any = None, callback: Callback | None = None, *,
                 batch_callback: BatchCallback | None = None, record_size: int | None = None,
                 dtype: Any = None) -> None:
        self._rings: list[_Ring] = []
        self._by_fd: dict[int, _Ring] = {}
        self._ep = EpollSet()
        self._closed = False
        self._busy = 0
        self._close_pending = False
        try:
            if map_or_maps is not None:
                maps = map_or_maps if isinstance(map_or_maps, (list, tuple)) else [map_or_maps]
                for m in maps:
                    self.add(m, callback, batch_callback=batch_callback, record_size=record_size, dtype=dtype)
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- set-up
    def add(self, map: Any, callback: Callback | None = None, *, batch_callback: BatchCallback | None = None,
            record_size: int | None = None, dtype: Any = None) -> "RingBuffer":
        """Add a ring buffer map (a :class:`pybpf.Map` or an fd) with its callbacks."""
        self._check()
        if record_size is not None and record_size <= 0:
            raise ValueError("record_size must be positive")
        self._attach(_Ring.open(map, callback=callback, batch=batch_callback, record_size=record_size, dtype=dtype))
        return self

    def _attach(self, ring: _Ring) -> None:
        if ring.fd is not None:  # fd-less rings (unit tests over anonymous memory) are never "ready"
            try:
                self._ep.add(ring.fd.fd)
            except BaseException:
                ring.close()
                raise
            self._by_fd[ring.fd.fd] = ring
        self._rings.append(ring)

    @property
    def closed(self) -> bool:
        return self._closed

    def fileno(self) -> int:
        """The epoll fd: readable when any ring has data (for select/asyncio loops)."""
        self._check()
        return self._ep.fileno()

    def pending(self) -> int:
        """Bytes produced but not consumed yet, over all rings (headers and padding included)."""
        return sum(r.pending() for r in self._rings)

    def __len__(self) -> int:
        return len(self._rings)

    def _check(self) -> None:
        if self._closed or self._close_pending:
            raise Error("RingBuffer is closed")

    def _ready(self, timeout_ms: float | None) -> list[_Ring]:
        by_fd = self._by_fd
        return [by_fd[fd] for fd, _ in self._ep.poll(timeout_s(timeout_ms))]

    # ------------------------------------------------------- per-record API
    def poll(self, timeout_ms: float | None = -1) -> int:
        """Wait up to ``timeout_ms`` (-1/None: forever) for data, then run the callback on
        every available record of the ready rings. Returns the number of records.

        Ctrl-C while waiting raises ``KeyboardInterrupt`` with nothing consumed.
        """
        self._check()
        return self._run(self._ready(timeout_ms), self._drain)

    def consume(self) -> int:
        """Run the callback on every record available now in every ring (no waiting)."""
        self._check()
        return self._run(self._rings, self._drain)

    def _run(self, rings: Sequence[_Ring], drain: Callable[..., int], *args: Any) -> int:
        n = 0
        self._busy += 1
        try:
            for r in rings:
                n += drain(r, *args)
        finally:
            self._busy -= 1
            if self._close_pending and not self._busy:
                self.close()
        return n

    def _drain(self, r: _Ring) -> int:
        cb = r.callback
        if cb is None:
            raise Error("this ring has no per-record callback: use poll_batch() or pass callback=")
        cons_q = r.cons_q
        cons = cons_q[0]
        prod = r.prod_q[0]
        if cons >= prod:
            return 0
        hdr, data, mask, weak = r.hdr, r.data, r.mask, _WEAK
        limit = cons + r.size  # at most one ring's worth per call, so poll() returns under a fast producer
        n = 0
        try:
            if weak:
                fence()  # type: ignore[misc]
            while True:
                while cons < prod:
                    off = cons & mask
                    h = hdr[off >> 2]
                    if h & _FLAGS:
                        if h & BUSY_BIT:
                            return n
                        cons += ((h & LEN_MASK) + 15) & ~7
                        continue
                    if weak:
                        fence()  # type: ignore[misc]
                    cons += (h + 15) & ~7
                    n += 1
                    off += 8
                    ret = cb(data[off:off + h])
                    if ret is not None and stop_requested(ret):
                        return n
                if cons >= limit:
                    return n
                prod = r.prod_q[0]
                if cons >= prod:
                    return n
        finally:
            if weak:
                fence()  # type: ignore[misc]
            cons_q[0] = cons

    # ------------------------------------------------------------ batch API
    def poll_batch(self, callback_batch: BatchCallback | None = None, timeout_ms: float | None = -1, *,
                   record_size: int | None = None, dtype: Any = None) -> int:
        """Like :meth:`poll`, but hand the callback many records at once.

        ``callback_batch(records)`` (default: each ring's ``batch_callback``) receives

        * a ``list`` of memoryviews, one per record, or
        * with ``record_size`` (or ``dtype``, whose itemsize is then the record
          size) and numpy installed: a read-only numpy array viewing the records
          in place — shape ``(n,)`` of ``dtype``, or ``(n, record_size)`` uint8
          without dtype — found with vectorised header checks (no Python work per
          record). Discarded records split the batch into several calls.

        The records are valid only during the callback. A record whose size is
        not ``record_size`` raises :class:`pybpf.Error` (after being consumed).
        Returns the number of records delivered.
        """
        self._check()
        return self._run(self._ready(timeout_ms), self._drain_batch, callback_batch, record_size, dtype)

    def consume_batch(self, callback_batch: BatchCallback | None = None, *, record_size: int | None = None,
                      dtype: Any = None) -> int:
        """:meth:`poll_batch` without waiting: every record available now."""
        self._check()
        return self._run(self._rings, self._drain_batch, callback_batch, record_size, dtype)

    def _drain_batch(self, r: _Ring, cb: BatchCallback | None, record_size: int | None, dtype: Any) -> int:
        cb = cb or r.batch
        if cb is None:
            raise Error("no batch callback: pass callback_batch= or batch_callback= to add()")
        rs = record_size or r.record_size
        dt = dtype if dtype is not None else r.dtype
        if rs is None and dt is not None:
            np = numpy_or_none()
            if np is not None:
                rs = np.dtype(dt).itemsize
        if rs is not None:
            np = numpy_or_none()
            if np is not None:
                return self._drain_numpy(r, cb, rs, dt, np)
        return self._drain_list(r, cb)

    def _drain_list(self, r: _Ring, cb: BatchCallback) -> int:
        cons_q = r.cons_q
        cons = cons_q[0]
        prod = r.prod_q[0]
        if cons >= prod:
            return 0
        if _WEAK:
            fence()  # type: ignore[misc]
        hdr, data, mask = r.hdr, r.data, r.mask
        recs: list[memoryview] = []
        add = recs.append
        n = 0
        try:
            while cons < prod:
                # Lists are capped: a few thousand memoryviews stay in cache and out of the GC's way.
                end = min(prod, cons + _LIST_MAX * 8 * 4)
                while cons < end:
                    off = cons & mask
                    h = hdr[off >> 2]
                    if h & _FLAGS:
                        if h & BUSY_BIT:
                            prod = cons
                            break
                        cons += ((h & LEN_MASK) + 15) & ~7
                        continue
                    cons += (h + 15) & ~7
                    off += 8
                    add(data[off:off + h])
                    if len(recs) >= _LIST_MAX:
                        break
                if recs:
                    n += len(recs)
                    if _WEAK:
                        fence()  # type: ignore[misc]
                    cb(recs)
                    recs.clear()
                    if _WEAK:
                        fence()  # type: ignore[misc]
                    cons_q[0] = cons
        finally:
            recs.clear()
            if _WEAK:
                fence()  # type: ignore[misc]
            cons_q[0] = cons
        return n

    def _drain_numpy(self, r: _Ring, cb: BatchCallback, rs: int, dt: Any, np: Any) -> int:
        cons_q = r.cons_q
        cons = cons_q[0]
        prod = r.prod_q[0]
        if cons >= prod:
            return 0
        total = (rs + 15) & ~7
        mask, mm, hdr = r.mask, r.data_mm, r.hdr
        if dt is None:
            dt = np.dtype((np.uint8, (rs,)))
        else:
            dt = np.dtype(dt)
            if dt.itemsize > rs:
                raise ValueError(f"dtype itemsize {dt.itemsize} exceeds record_size {rs}")
        u32 = np.uint32
        n_done = 0
        try:
            while cons < prod:
                off = cons & mask
                k = (prod - cons) // total
                if k:
                    hdrs = np.ndarray((k,), u32, mm, PAGE + off, (total,))
                    bad = hdrs != rs
                    if bad.any():
                        k = int(bad.argmax())
                    if k:
                        if _WEAK:
                            fence()  # type: ignore[misc]
                        arr = np.ndarray((k,), dt, mm, PAGE + off + 8, (total,))
                        cons += k * total
                        n_done += k
                        try:
                            cb(arr)
                        finally:
                            del arr
                        continue
                # the record at cons is busy, discarded, or of another size
                h = hdr[off >> 2]
                if h & BUSY_BIT:
                    break
                if h == rs:
                    continue  # committed after the vectorised check: look again
                cons += ((h & LEN_MASK) + 15) & ~7
                if not h & DISCARD_BIT:
                    raise Error(f"ring buffer record of {h & LEN_MASK} bytes read with record_size={rs}")
        finally:
            if _WEAK:
                fence()  # type: ignore[misc]
            cons_q[0] = cons
        return n_done

    # ------------------------------------------------------------- iterators
    def records(self, timeout_ms: float | None = -1) -> Iterator[bytes]:
        """Yield every record as ``bytes``, waiting for more; stop after ``timeout_ms``
        without data (-1/None: never). Only yielded records are consumed: leaving the
        loop early keeps the rest in the ring."""
        self._check()
        while not self._closed:
            got = False
            for r in self._rings:
                for rec in self._iter_ring(r):
                    got = True
                    yield rec
            if not got and not self._ready(timeout_ms) and timeout_ms is not None and timeout_ms >= 0:
                return

    def __iter__(self) -> Iterator[bytes]:
        return self.records()

    def _iter_ring(self, r: _Ring) -> Iterator[bytes]:
        cons_q = r.cons_q
        cons = cons_q[0]
        prod = r.prod_q[0]
        if cons >= prod:
            return
        if _WEAK:
            fence()  # type: ignore[misc]
        hdr, mm, mask = r.hdr, r.data_mm, r.mask
        assert mm is not None
        limit = cons + r.size
        try:
            while cons < prod:
                off = cons & mask
                h = hdr[off >> 2]
                if h & BUSY_BIT:
                    return
                if _WEAK:
                    fence()  # type: ignore[misc]
                ln = h & LEN_MASK
                cons += (ln + 15) & ~7
                if not h & DISCARD_BIT:
                    start = PAGE + off + 8
                    rec = mm[start:start + ln]
                    cons_q[0] = cons
                    yield rec
                    if not r.views:
                        return  # closed while the consumer held this record
                if cons >= prod and cons < limit:
                    prod = r.prod_q[0]
        finally:
            if not self._closed and r.views:
                if _WEAK:
                    fence()  # type: ignore[misc]
                cons_q[0] = cons

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._arecords()

    async def _arecords(self) -> AsyncIterator[bytes]:
        self._check()
        while not self._closed:
            got = False
            for r in self._rings:
                for rec in self._iter_ring(r):
                    got = True
                    yield rec
            if not got:
                await self.wait_async()

    async def wait_async(self, timeout: float | None = None) -> bool:
        """Wait (asyncio) until a ring has data; False on ``timeout`` seconds."""
        import asyncio

        self._check()
        if self._ep.poll(0):
            return True
        loop = asyncio.get_running_loop()
        fut: "asyncio.Future[None]" = loop.create_future()
        fd = self._ep.fileno()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, ready)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            loop.remove_reader(fd)

    async def poll_async(self, timeout: float | None = None) -> int:
        """Await data (asyncio), then run the callbacks like :meth:`consume`."""
        await self.wait_async(timeout)
        return self.consume()

    # --------------------------------------------------------------- closing
    def close(self) -> None:
        """Unmap the rings and close the fds (deferred until a running poll returns
        when called from a callback). Idempotent."""
        if self._closed:
            return
        if self._busy:
            self._close_pending = True
            return
        self._closed = True
        rings, self._rings = self._rings, []
        self._by_fd = {}
        try:
            for r in rings:
                if r.fd is not None:
                    self._ep.remove(r.fd.fd)
                r.close()
        finally:
            self._ep.close()

    def __enter__(self) -> "RingBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._rings)} ring(s)"
        return f"<RingBuffer {state}>"
