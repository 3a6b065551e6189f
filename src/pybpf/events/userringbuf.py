"""Writing user ring buffers (``BPF_MAP_TYPE_USER_RINGBUF``, Linux 6.1+): :class:`UserRingBuffer`.

The mirror image of a BPF ring buffer: user space produces, BPF programs
consume with ``bpf_user_ringbuf_drain(map, callback, ctx, flags)``. Page 0 holds
the consumer position (read-only to user space), page 1 the producer position
(read-write), then the data area mapped twice (read-write). A sample is
reserved by writing its header ``len | BUSY`` and advancing the producer
position, filled in place, then committed by clearing BUSY (or setting DISCARD)
with a release store — the protocol of libbpf's ``user_ring_buffer__reserve`` /
``__submit`` / ``__discard``. One producer at a time (not thread-safe).
"""

from __future__ import annotations

import mmap as _mmap
import select
import time
from typing import Any

from .._sys.consts import MapType
from ..errors import Error
from ._ring import (
    BUSY_BIT, DISCARD_BIT, HDR_SZ, LEN_MASK, PAGE, EpollSet, close_mmap, fence, map_handle, mmap_fd, release,
    round8,
)

__all__ = ["UserRingBuffer"]

MIN_KERNEL = "6.1"


class UserRingBuffer:
    """Produce samples into a ``BPF_MAP_TYPE_USER_RINGBUF`` map (Linux 6.1+).

    ``view = urb.reserve(n)`` returns a writable memoryview of ``n`` bytes in the
    ring (or None when there is no room), fill it, then :meth:`submit` it (or
    :meth:`discard` it); samples reach programs in reservation order, and a
    reserved-but-uncommitted sample holds back the ones after it.
    :meth:`write` does all three for a bytes-like. :meth:`reserve_blocking` waits
    (epoll) for the kernel to drain. Context manager; :meth:`close` unmaps.
    """

    def __init__(self, map: Any) -> None:
        self._fd, _t, self.size, self.map = map_handle(map, (MapType.USER_RINGBUF,), "UserRingBuffer", MIN_KERNEL)
        self._cons_mm = self._data_mm = None
        self._views: list[memoryview] = []
        self._pending: dict[int, tuple[memoryview, int, int]] = {}
        self._ep: EpollSet | None = None
        self._closed = False
        try:
            fd = self._fd.fd
            self.mask = self.size - 1
            self._cons_mm = mmap_fd(fd, PAGE, _mmap.PROT_READ, 0, "ring buffer consumer page", MIN_KERNEL)
            self._data_mm = mmap_fd(fd, PAGE + 2 * self.size, _mmap.PROT_READ | _mmap.PROT_WRITE, PAGE,
                                    "ring buffer data", MIN_KERNEL)
            cons_base, data_base = memoryview(self._cons_mm), memoryview(self._data_mm)
            prod_base = data_base[:8]
            self._cons_q = cons_base[:8].cast("Q")
            self._prod_q = prod_base.cast("Q")
            self._data = data_base[PAGE:]
            self._hdr_q = self._data.cast("Q")
            self._hdr = self._data.cast("I")
            self._views = [self._hdr, self._hdr_q, self._data, self._prod_q, prod_base, self._cons_q, data_base,
                           cons_base]
            self._prod = self._prod_q[0]
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ producing
    def free_space(self) -> int:
        """Bytes free for samples right now (each sample uses 8 header bytes, rounded to 8)."""
        self._check()
        return self.size - (self._prod - self._cons_q[0])

    def reserve(self, size: int) -> memoryview | None:
        """A writable view of ``size`` bytes for a new sample, or None if the ring is full.

        Raises ``ValueError`` if the sample can never fit.
        """
        self._check()
        if size < 0 or size > LEN_MASK:
            raise ValueError(f"sample size {size} out of range")
        total = round8(size + HDR_SZ)
        if total > self.size:
            raise ValueError(f"a {size}-byte sample does not fit in a {self.size}-byte user ring buffer")
        cons = self._cons_q[0]  # acquire: the kernel published consumer_pos with a release store
        prod = self._prod
        if total > self.size - (prod - cons):
            return None
        if fence is not None:
            fence()
        off = prod & self.mask
        self._hdr_q[off >> 3] = size | BUSY_BIT  # len | BUSY, page offset 0
        prod += total
        self._prod = prod
        if fence is not None:
            fence()
        self._prod_q[0] = prod  # release: the kernel reads producer_pos with an acquire load
        view = self._data[off + HDR_SZ:off + HDR_SZ + size]
        self._pending[id(view)] = (view, off, size)
        return view

    def reserve_blocking(self, size: int, timeout_ms: float | None = -1) -> memoryview | None:
        """:meth:`reserve`, waiting up to ``timeout_ms`` (-1/None: forever) for the kernel to
        drain enough samples (epoll EPOLLOUT on the map). None on timeout."""
        deadline = None if timeout_ms is None or timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        need = round8(size + HDR_SZ)
        while True:
            view = self.reserve(size)
            if view is not None:
                return view
            if self._ep is None:
                self._ep = EpollSet()
                self._ep.add(self._fd.fd, select.EPOLLOUT)
            left = -1.0
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
            if self._ep.poll(left) and self.free_space() < need:
                time.sleep(0.0005)  # EPOLLOUT only means "not completely full"

    def submit(self, view: memoryview) -> None:
        """Commit a reserved sample: programs can now drain it."""
        self._commit(view, 0)

    def discard(self, view: memoryview) -> None:
        """Drop a reserved sample: programs skip it."""
        self._commit(view, DISCARD_BIT)

    def _commit(self, view: memoryview, flag: int) -> None:
        self._check()
        entry = self._pending.pop(id(view), None)
        if entry is None or entry[0] is not view:
            if entry is not None:
                self._pending[id(view)] = entry
            raise Error("not a pending reservation of this UserRingBuffer")
        _view, off, size = entry
        release(view)  # the sample is the kernel's now
        if fence is not None:
            fence()
        self._hdr[off >> 2] = size | flag  # release store clearing BUSY

    def write(self, data: Any) -> bool:
        """Reserve, copy ``data`` (bytes-like) and submit; False if the ring is full."""
        mv = memoryview(data).cast("B")
        view = self.reserve(mv.nbytes)
        if view is None:
            return False
        view[:] = mv
        self.submit(view)
        return True

    def write_blocking(self, data: Any, timeout_ms: float | None = -1) -> bool:
        """:meth:`write`, waiting for room up to ``timeout_ms``; False on timeout."""
        mv = memoryview(data).cast("B")
        view = self.reserve_blocking(mv.nbytes, timeout_ms)
        if view is None:
            return False
        view[:] = mv
        self.submit(view)
        return True

    # -------------------------------------------------------------- closing
    def _check(self) -> None:
        if self._closed:
            raise Error("UserRingBuffer is closed")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Discard pending reservations, unmap, close the fds. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            for view, off, size in list(self._pending.values()):
                release(view)
                self._hdr[off >> 2] = size | DISCARD_BIT
        except (ValueError, AttributeError):
            pass
        self._pending.clear()
        release(*self._views)
        self._views = []
        close_mmap(self._cons_mm)
        close_mmap(self._data_mm)
        self._cons_mm = self._data_mm = None
        if self._ep is not None:
            self._ep.close()
        self._fd.close()

    def __enter__(self) -> "UserRingBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<UserRingBuffer {'closed' if self._closed else f'{self.size} bytes'}>"

