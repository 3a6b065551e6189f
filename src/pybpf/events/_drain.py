"""The BPF ring buffer consumer loops (``BPF_MAP_TYPE_RINGBUF``, Linux 5.8+).

:class:`Ring` maps one ring; the ``drain_*`` functions consume its records the
way libbpf's ``ringbuf_process_ring`` does: read ``producer_pos`` (acquire), walk
the 8-byte-aligned records from ``consumer_pos``, stop at a BUSY header, skip
DISCARD ones, and publish the new ``consumer_pos`` (release) — in a ``finally``,
so records delivered before an exception count as consumed.

Per-record delivery has two loops. The general one decodes every header. The
*run* loop serves the common case of fixed-size records: once a header ``h``
is read, the following records sit at ``off + k * step``; it walks them with
``range`` and only compares each header with ``h``, which halves the Python work
per record. Each ring learns which loop fits its traffic (many short runs:
general loop; the first headers of a drain all equal: run loop).
"""

from __future__ import annotations

import mmap as _mmap
from typing import Any, Callable, Iterator

from .._sys.consts import MapType
from .._sys.syscall import FD
from ..errors import Error
from ._ring import (
    BUSY_BIT, DISCARD_BIT, LEN_MASK, PAGE, close_mmap, fence, map_handle, mmap_fd, release, stop_requested,
)

MIN_KERNEL = "5.8"
FLAGS = BUSY_BIT | DISCARD_BIT
WEAK = fence is not None
LIST_MAX = 1024  # records per list handed to a batch callback: stays in cache, out of the GC's way
_SHORT_RUN, _SHORT_RUNS_MAX, _PROBE = 4, 8, 16

Callback = Callable[[memoryview], Any]
BatchCallback = Callable[[Any], Any]


class Ring:
    """One mapped ring buffer: its positions, data views and callbacks."""

    __slots__ = ("fd", "map", "size", "mask", "cons_mm", "data_mm", "views", "cons_q", "prod_q", "data", "data8",
                 "hdr", "callback", "batch", "record_size", "dtype", "runs", "pub")

    def __init__(self, fd: FD | None, size: int, cons_mm: _mmap.mmap, data_mm: _mmap.mmap,
                 callback: Callback | None = None, batch: BatchCallback | None = None,
                 record_size: int | None = None, dtype: Any = None, map: Any = None) -> None:
        self.fd, self.size, self.mask, self.map = fd, size, size - 1, map
        self.cons_mm: _mmap.mmap | None = cons_mm
        self.data_mm: _mmap.mmap | None = data_mm
        cons_base, data_base = memoryview(cons_mm), memoryview(data_mm)
        prod_base = data_base[:8]
        self.cons_q = cons_base[:8].cast("Q")  # consumer_pos (page 0, read-write)
        self.prod_q = prod_base.cast("Q")  # producer_pos (page 1, read-only)
        self.data = data_base[PAGE:]  # the data area, twice
        self.data8 = data_base[PAGE + 8:]  # payloads: data8[off:off + len] for a header at off
        self.hdr = self.data.cast("I")  # header words: hdr[off >> 2]
        self.views = [self.hdr, self.data8, self.data, self.prod_q, prod_base, self.cons_q, data_base, cons_base]
        self.callback = callback
        self.batch = batch
        self.record_size = record_size
        self.dtype = dtype
        self.runs = True  # per-record delivery: start with the run loop
        # Publish consumer_pos every `pub` bytes, so a slow callback frees space while it works
        # (libbpf publishes after every record, which costs a cache-line bounce per record).
        self.pub = max(256, size >> 4)

    @classmethod
    def open(cls, m: Any, **kw: Any) -> "Ring":
        """Map ring buffer ``m``: consumer page RW, producer page + data (twice) RO."""
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

    @property
    def alive(self) -> bool:
        return bool(self.views)

    def pending(self) -> int:
        return self.prod_q[0] - self.cons_q[0] if self.views else 0

    def close(self) -> None:
        release(*self.views)
        self.views = []
        close_mmap(self.cons_mm)
        close_mmap(self.data_mm)
        self.cons_mm = self.data_mm = None
        if self.fd is not None:
            self.fd.close()


# ------------------------------------------------------------------ per record
def drain(r: Ring) -> int:
    """Run ``r.callback`` on the available records (at most one ring's worth)."""
    if r.callback is None:
        raise Error("this ring has no per-record callback: use poll_batch() or pass callback=")
    if not r.runs:
        return _drain_general(r)
    n, more = _drain_runs(r)
    if more:  # the traffic is not fixed-size after all
        n += _drain_general(r)
    return n


def _drain_general(r: Ring) -> int:
    cb = r.callback
    cons_q = r.cons_q
    cons = cons_q[0]
    prod = r.prod_q[0]
    if cons >= prod:
        return 0
    hdr, data8, mask, weak = r.hdr, r.data8, r.mask, WEAK
    if _probe(r, cons, prod):
        r.runs = True
        return drain(r)
    limit = cons + r.size  # one ring's worth per call: poll() returns even under a fast producer
    pub = r.pub
    n = 0
    try:
        if weak:
            fence()  # type: ignore[misc]
        while True:
            while cons < prod:
                stop = min(prod, cons + pub)
                while cons < stop:
                    off = cons & mask
                    h = hdr[off >> 2]
                    if h & FLAGS:
                        if h & BUSY_BIT:
                            return n
                        cons += ((h & LEN_MASK) + 15) & ~7
                        continue
                    if weak:
                        fence()  # type: ignore[misc]
                    cons += (h + 15) & ~7
                    n += 1
                    ret = cb(data8[off:off + h])  # type: ignore[misc]
                    if ret is not None and stop_requested(ret):
                        return n
                if weak:
                    fence()  # type: ignore[misc]
                cons_q[0] = cons  # give the producer its space back now and then, not only at the end
            if cons >= limit:
                return n
            prod = r.prod_q[0]
            if cons >= prod:
                return n
    finally:
        if weak:
            fence()  # type: ignore[misc]
        cons_q[0] = cons


def _probe(r: Ring, cons: int, prod: int) -> bool:
    """Do the next records (up to 16) all carry the first one's header (fixed-size traffic)?"""
    off = cons & r.mask
    h = r.hdr[off >> 2]
    if h & FLAGS:
        return False
    step = (h + 15) & ~7
    k = min(_PROBE, (prod - cons) // step)
    if k < _SHORT_RUN * 2:
        return False
    heads = r.hdr[off >> 2:(off + k * step) >> 2:step >> 2].tolist()
    return heads.count(h) == k


def _drain_runs(r: Ring) -> tuple[int, bool]:
    """The run loop; returns (records delivered, whether the general loop should go on)."""
    cb = r.callback
    cons_q = r.cons_q
    cons = cons_q[0]
    prod = r.prod_q[0]
    if cons >= prod:
        return 0, False
    hdr, data8, mask, weak = r.hdr, r.data8, r.mask, WEAK
    limit = cons + r.size
    pub = r.pub
    n = short = 0
    run = -1  # offset where the run being delivered started (-1: none)
    o = step = 0
    try:
        if weak:
            fence()  # type: ignore[misc]
        while True:
            while cons < prod:
                off = cons & mask
                h = hdr[off >> 2]
                if h & FLAGS:
                    if h & BUSY_BIT:
                        return n, False
                    cons += ((h & LEN_MASK) + 15) & ~7
                    continue
                step = (h + 15) & ~7
                run = off
                # the double mapping keeps [off, off + prod - cons) contiguous
                for o in range(off, off + min(prod - cons, pub), step):
                    if hdr[o >> 2] != h:
                        break
                    if weak:
                        fence()  # type: ignore[misc]
                    ret = cb(data8[o:o + h])  # type: ignore[misc]
                    if ret is not None and stop_requested(ret):
                        o += step
                        run = -1
                        n += (o - off) // step
                        cons += o - off
                        return n, False
                else:
                    o += step
                run = -1
                k = (o - off) // step
                n += k
                cons += o - off
                if weak:
                    fence()  # type: ignore[misc]
                cons_q[0] = cons
                if k < _SHORT_RUN and cons < prod:  # the run ended on another size, not at the end
                    short += 1
                    if short > _SHORT_RUNS_MAX:
                        r.runs = False
                        return n, True
            if cons >= limit:
                return n, False
            prod = r.prod_q[0]
            if cons >= prod:
                return n, False
    finally:
        if run >= 0:  # the callback raised inside a run: that record was delivered, so it is consumed
            cons += o + step - run
        if weak:
            fence()  # type: ignore[misc]
        cons_q[0] = cons


# ----------------------------------------------------------------------- batch
def drain_list(r: Ring, cb: BatchCallback) -> int:
    """Hand ``cb`` lists of up to LIST_MAX memoryviews; returns the records delivered."""
    cons_q = r.cons_q
    cons = cons_q[0]
    prod = r.prod_q[0]
    if cons >= prod:
        return 0
    if WEAK:
        fence()  # type: ignore[misc]
    hdr, data8, mask = r.hdr, r.data8, r.mask
    runs = r.runs or _probe(r, cons, prod)
    recs: list[memoryview] = []
    add = recs.append
    n = short = 0
    try:
        while cons < prod:
            while cons < prod and len(recs) < LIST_MAX:
                off = cons & mask
                h = hdr[off >> 2]
                if h & FLAGS:
                    if h & BUSY_BIT:
                        prod = cons
                        break
                    cons += ((h & LEN_MASK) + 15) & ~7
                    continue
                step = (h + 15) & ~7
                if not runs:
                    add(data8[off:off + h])
                    cons += step
                    continue
                # a run of equal headers: check them with one strided read, slice in a comprehension
                k = min(LIST_MAX - len(recs), (prod - cons) // step)
                k = _run_length(hdr, off, step, k, h)
                end = off + k * step
                recs += [data8[o:o + h] for o in range(off, end, step)]
                cons += end - off
                if k < _SHORT_RUN and cons < prod:
                    short += 1
                    if short > _SHORT_RUNS_MAX:
                        runs = r.runs = False
            if recs:
                n += len(recs)
                if WEAK:
                    fence()  # type: ignore[misc]
                cb(recs)
                recs.clear()
                if WEAK:
                    fence()  # type: ignore[misc]
                cons_q[0] = cons
    finally:
        recs.clear()
        if WEAK:
            fence()  # type: ignore[misc]
        cons_q[0] = cons
    r.runs = runs
    return n


def _run_length(hdr: memoryview, off: int, step: int, k: int, h: int) -> int:
    """How many of the ``k`` records at ``off, off + step, ...`` have header ``h`` (>= 1)."""
    first = min(k, 64)  # probe a little first: mixed traffic ends runs early
    heads = hdr[off >> 2:(off + first * step) >> 2:step >> 2].tolist()
    if heads.count(h) == first:
        if first == k:
            return k
        rest = hdr[(off + first * step) >> 2:(off + k * step) >> 2:step >> 2].tolist()
        if rest.count(h) == len(rest):
            return k
        heads += rest
    for i, x in enumerate(heads):
        if x != h:
            return i
    return len(heads)


def drain_numpy(r: Ring, cb: BatchCallback, rs: int, dt: Any, np: Any) -> int:
    """Hand ``cb`` numpy views of runs of ``rs``-byte records (vectorised header checks)."""
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
                    if WEAK:
                        fence()  # type: ignore[misc]
                    arr = np.ndarray((k,), dt, mm, PAGE + off + 8, (total,))
                    cons += k * total
                    n_done += k
                    try:
                        cb(arr)
                    finally:
                        del arr
                    if WEAK:
                        fence()  # type: ignore[misc]
                    cons_q[0] = cons
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
        if WEAK:
            fence()  # type: ignore[misc]
        cons_q[0] = cons
    return n_done


# -------------------------------------------------------------------- iterator
def iter_ring(r: Ring) -> Iterator[bytes]:
    """Yield copies of the available records; only yielded records are consumed."""
    cons_q = r.cons_q
    cons = cons_q[0]
    prod = r.prod_q[0]
    if cons >= prod:
        return
    if WEAK:
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
            if WEAK:
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
        if r.views:
            if WEAK:
                fence()  # type: ignore[misc]
            cons_q[0] = cons
