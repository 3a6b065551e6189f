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

from typing import Any, AsyncIterator, Callable, Iterator, Sequence

from ..errors import Error
from ._drain import BatchCallback, Callback, Ring, drain, drain_list, drain_numpy, iter_ring
from ._ring import EpollSet, numpy_or_none, timeout_s

__all__ = ["RingBuffer"]

MIN_KERNEL = "5.8"


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
        self._rings: list[Ring] = []
        self._by_fd: dict[int, Ring] = {}
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
        self._attach(Ring.open(map, callback=callback, batch=batch_callback, record_size=record_size, dtype=dtype))
        return self

    def _attach(self, ring: Ring) -> None:
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

    def _ready(self, timeout_ms: float | None) -> list[Ring]:
        by_fd = self._by_fd
        return [by_fd[fd] for fd, _ in self._ep.poll(timeout_s(timeout_ms))]

    # ------------------------------------------------------- per-record API
    def poll(self, timeout_ms: float | None = -1) -> int:
        """Wait up to ``timeout_ms`` (-1/None: forever) for data, then run the callback on
        every available record of the ready rings. Returns the number of records.

        Ctrl-C while waiting raises ``KeyboardInterrupt`` with nothing consumed.
        """
        self._check()
        return self._run(self._ready(timeout_ms), drain)

    def consume(self) -> int:
        """Run the callback on every record available now in every ring (no waiting)."""
        self._check()
        return self._run(self._rings, drain)

    def _run(self, rings: Sequence[Ring], drain: Callable[..., int], *args: Any) -> int:
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

    def _drain_batch(self, r: Ring, cb: BatchCallback | None, record_size: int | None, dtype: Any) -> int:
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
                return drain_numpy(r, cb, rs, dt, np)
        return drain_list(r, cb)

    # ------------------------------------------------------------- iterators
    def records(self, timeout_ms: float | None = -1) -> Iterator[bytes]:
        """Yield every record as ``bytes``, waiting for more; stop after ``timeout_ms``
        without data (-1/None: never). Only yielded records are consumed: leaving the
        loop early keeps the rest in the ring."""
        self._check()
        while not self._closed:
            got = False
            for r in self._rings:
                for rec in iter_ring(r):
                    got = True
                    yield rec
            if not got and not self._ready(timeout_ms) and timeout_ms is not None and timeout_ms >= 0:
                return

    def __iter__(self) -> Iterator[bytes]:
        return self.records()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._arecords()

    async def _arecords(self) -> AsyncIterator[bytes]:
        self._check()
        while not self._closed:
            got = False
            for r in self._rings:
                for rec in iter_ring(r):
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
