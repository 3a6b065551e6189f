"""Ring/perf record parsing over anonymous memory (no kernel): BUSY, DISCARD, alignment, wrap."""

from __future__ import annotations

import mmap
import struct
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.events._ring import BUSY_BIT, DISCARD_BIT, PAGE
from pybpf.events.perfbuf import PerfBuffer
from pybpf.events._drain import Ring
from pybpf.events.ringbuf import RingBuffer

SIZE = PAGE  # smallest ring


class FakeRing:
    """A ring laid out like the kernel's: consumer page, producer page, data mapped twice."""

    def __init__(self, start: int, size: int = SIZE) -> None:
        self.size = size
        self.cons_mm = mmap.mmap(-1, PAGE)
        self.data_mm = mmap.mmap(-1, PAGE + 2 * size)
        self.model = bytearray(size)
        self.prod = start
        self._set(self.cons_mm, 0, start)
        self._set(self.data_mm, 0, start)

    @staticmethod
    def _set(mm: mmap.mmap, off: int, v: int) -> None:
        struct.pack_into("<Q", mm, off, v)

    @property
    def cons(self) -> int:
        return struct.unpack_from("<Q", self.cons_mm, 0)[0]

    def free(self) -> int:
        return self.size - (self.prod - self.cons)

    def _write(self, pos: int, data: bytes) -> None:
        for i, b in enumerate(data):
            self.model[(pos + i) % self.size] = b

    def push(self, payload: bytes, flags: int = 0) -> bool:
        total = (len(payload) + 15) & ~7
        if total > self.free():
            return False
        self._write(self.prod, struct.pack("<II", len(payload) | flags, 0) + payload)
        self.prod += total
        self.sync()
        return True

    def sync(self) -> None:
        self.data_mm[PAGE:PAGE + self.size] = bytes(self.model)
        self.data_mm[PAGE + self.size:PAGE + 2 * self.size] = bytes(self.model)
        self._set(self.data_mm, 0, self.prod)

    def reader(self, callback=None, runs: bool = True) -> RingBuffer:
        rb = RingBuffer()
        ring = Ring(None, self.size, self.cons_mm, self.data_mm, callback=callback)
        ring.runs = runs
        rb._attach(ring)
        return rb


payloads = st.one_of(st.binary(max_size=200), st.sampled_from([b"", b"12345678", b"x" * 20]))
records = st.lists(st.tuples(payloads, st.sampled_from([0, 0, 0, DISCARD_BIT])), max_size=80)


def fill(r: FakeRing, recs, busy: bool):
    expect, busy_at = [], None
    for payload, flag in recs:
        if not r.push(payload, flag):
            break
        if not flag:
            expect.append(payload)
    if busy:
        busy_at = r.prod
        r.push(b"x" * 8, BUSY_BIT)
        if r.prod == busy_at:
            busy_at = None
    return expect, (busy_at if busy_at is not None else r.prod)


@settings(max_examples=150, deadline=None)
@given(recs=records, start=st.integers(0, 4 * SIZE // 8).map(lambda x: x * 8), busy=st.booleans(),
       mode=st.sampled_from(["callback", "runs", "list", "iter"]))
def test_reader_modes_agree_with_model(recs, start, busy, mode):
    r = FakeRing(start)
    expect, stop = fill(r, recs, busy)
    got: list[bytes] = []
    with r.reader(lambda mv: got.append(bytes(mv)), runs=mode == "runs") as rb:
        if mode in ("callback", "runs"):
            n = rb.consume()
        elif mode == "list":
            n = rb.consume_batch(lambda recs: got.extend(bytes(m) for m in recs))
        else:
            got = list(rb.records(timeout_ms=0))
            n = len(got)
        assert got == expect and n == len(expect)
        assert r.cons == stop
        assert rb.consume() == 0


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 150), start=st.integers(0, 4 * SIZE // 8).map(lambda x: x * 8),
       discard=st.sets(st.integers(0, 149)), busy=st.booleans(), rs=st.sampled_from([8, 12, 16, 24]))
def test_numpy_batches_agree_with_model(n, start, discard, busy, rs):
    np = pytest.importorskip("numpy")
    r = FakeRing(start)
    recs = [(i.to_bytes(4, "little") * (rs // 4), DISCARD_BIT if i in discard else 0) for i in range(n)]
    expect, stop = fill(r, recs, busy)
    arrays = []
    with r.reader() as rb:
        k = rb.consume_batch(lambda a: arrays.append(a.copy()), record_size=rs)
        rows = [bytes(row) for a in arrays for row in a]
        assert rows == expect and k == len(expect) and r.cons == stop
        assert all(a.shape[1:] == (rs,) and a.dtype == np.uint8 for a in arrays)


def test_views_are_released_and_list_cleared():
    r = FakeRing(0)
    for i in range(3):
        r.push(bytes([i]) * 8)
    kept = []
    with r.reader() as rb:
        rb.consume_batch(kept.append)
        assert kept[0] == []  # the list is emptied after the callback: views do not outlive it


def test_close_with_a_kept_view_does_not_crash():
    r = FakeRing(0)
    r.push(b"abcdefgh")
    kept = []
    rb = r.reader(kept.append)
    rb.consume()
    rb.close()  # the mapping stays alive for the kept view
    assert bytes(kept[0]) == b"abcdefgh"


def _perf_buf(records: list[tuple[int, bytes]], start: int, pages_size: int = 1024):
    """A fake per-CPU perf ring with records (type, body) written from ``start``."""
    data = bytearray(pages_size)
    pos = start
    for typ, body in records:
        rec = struct.pack("<IHH", typ, 0, 8 + len(body)) + body
        for i, b in enumerate(rec):
            data[(pos + i) % pages_size] = b
        pos += len(rec)
    buf = types.SimpleNamespace(data=memoryview(data), size=pages_size, mask=pages_size - 1, cpu=3)
    return buf, start, pos


@given(start=st.integers(0, 1023 // 8).map(lambda x: x * 8), sizes=st.lists(st.integers(0, 9).map(lambda x: x * 8 + 4),
                                                                       max_size=6))
def test_perf_records_including_wrapped_ones(start, sizes):
    recs, expect = [], []
    for i, sz in enumerate(sizes):
        raw = bytes([i + 1]) * sz
        recs.append((9, struct.pack("<I", sz) + raw))  # PERF_RECORD_SAMPLE
        expect.append(("s", 3, raw))
        if i == 2:
            recs.append((2, struct.pack("<QQ", 77, 5)))  # PERF_RECORD_LOST
            expect.append(("l", 3, 5))
    buf, pos, end = _perf_buf(recs, start)
    got = []
    pb = PerfBuffer.__new__(PerfBuffer)
    pb.callback = lambda cpu, mv: got.append(("s", cpu, bytes(mv)))
    pb.lost = lambda cpu, n: got.append(("l", cpu, n))
    pb.lost_total = 0
    n, reached, stopped = pb._parse(buf, pos, end)
    assert got == expect and reached == end and not stopped
    assert n == len(sizes) and pb.lost_total == (5 if len(sizes) > 2 else 0)


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.sampled_from([8, 16, 24]), min_size=1, max_size=60), repeat=st.integers(1, 30),
       stop_at=st.integers(0, 200), raise_at=st.integers(0, 200), runs=st.booleans())
def test_stop_and_raise_positions_in_both_loops(sizes, repeat, stop_at, raise_at, runs):
    """Runs of equal sizes (run loop) and mixed sizes (general loop): a callback that stops or
    raises at record k leaves exactly k + 1 records consumed."""
    r = FakeRing(0)
    pushed = []
    for i, sz in enumerate(s for s in sizes for _ in range(repeat)):
        if not r.push(i.to_bytes(4, "little") * (sz // 4)):
            break
        pushed.append(i)
    seen: list[int] = []

    def cb(mv):
        seen.append(int.from_bytes(mv[:4], "little"))
        if len(seen) - 1 == raise_at:
            raise RuntimeError("x")
        if len(seen) - 1 == stop_at:
            return -1
        return None

    with r.reader(cb, runs=runs) as rb:
        try:
            rb.consume()
        except RuntimeError:
            assert raise_at < len(pushed) and raise_at <= stop_at
        k = len(seen)
        assert seen == pushed[:k]
        assert k == len(pushed) or k - 1 in (stop_at, raise_at)
        rest: list[int] = []
        rb._rings[0].callback = lambda mv: rest.append(int.from_bytes(mv[:4], "little"))
        rb.consume()
        assert seen + rest == pushed and r.cons == r.prod


@pytest.mark.parametrize("mode", ["general", "runs", "list", "numpy"])
def test_consumer_position_is_published_during_a_long_drain(mode):
    """A slow consumer hands space back to the producer while it works, not only at the end."""
    r = FakeRing(0, 1 << 16)
    records = []
    for i in range(2700):
        assert r.push(i.to_bytes(16, "little"), DISCARD_BIT if i == 1500 else 0)
        records.append(i)
    seen: list[int] = []
    with r.reader(lambda mv: seen.append(r.cons), runs=mode == "runs") as rb:
        if mode in ("general", "runs"):
            assert rb.consume() == 2699
        elif mode == "list":
            assert rb.consume_batch(lambda recs: seen.append(r.cons)) == 2699
            assert len(seen) == 3
        else:
            pytest.importorskip("numpy")
            assert rb.consume_batch(lambda a: seen.append(r.cons), record_size=16) == 2699
            assert seen == [0, 1500 * 24]  # numpy batches are as large as possible
        assert max(seen) > 0 and r.cons == r.prod
