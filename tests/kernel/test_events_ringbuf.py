"""BPF ring buffers on the real kernel: pybpf.events.RingBuffer fed by syscall programs."""

from __future__ import annotations

import asyncio
import os
import struct
import threading

import pytest

import pybpf
from pybpf import Map, MapType
from pybpf.events import RingBuffer
from pybpf.events import _producers as P

RUN = dict(repeat=0, ctx_out_size=0)  # syscall programs reject repeat/ctx_out


def produce(prog: pybpf.Program, start: int, count: int) -> int:
    return P.run_producer(prog, start, count, **RUN)


def seq(mv) -> int:
    return int.from_bytes(mv[:8], "little")


class Producer(threading.Thread):
    """Runs the producer program in a thread (test_run releases the GIL)."""

    def __init__(self, prog: pybpf.Program, count: int, start: int = 0) -> None:
        super().__init__(daemon=True)
        self.prog, self.count, self.start_seq = prog, count, start
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            produce(self.prog, self.start_seq, self.count)
        except BaseException as e:  # pragma: no cover - reported by the test
            self.error = e


@pytest.fixture
def ring():
    with Map.create(MapType.RINGBUF, max_entries=1 << 20, name="t_rb") as m:
        yield m


def test_ten_million_in_order(ring):
    n = 10_000_000
    expect = 0

    def cb(mv):
        nonlocal expect
        if int.from_bytes(mv[:8], "little") != expect:
            raise AssertionError(f"record {seq(mv)} where {expect} was expected")
        expect += 1

    with P.ringbuf_producer(ring, 16) as prog, RingBuffer(ring, cb) as rb:
        t = Producer(prog, n)
        t.start()
        got = 0
        while got < n:
            got += rb.poll(1000)
            assert t.error is None
        t.join()
        assert got == n == expect
        assert rb.consume() == 0 and rb.pending() == 0


def test_memoryview_size_and_content(ring):
    out: list[bytes] = []
    with P.ringbuf_producer(ring, 20) as prog, RingBuffer(ring, lambda mv: out.append(bytes(mv))) as rb:
        produce(prog, 7, 3)
        assert rb.poll(0) == 3
    assert out == [struct.pack("<Q", i) + bytes(12) for i in (7, 8, 9)]


def test_discarded_records_are_skipped(ring):
    got: list[int] = []
    with P.ringbuf_producer(ring, 16, reserve=True, discard_every=3) as prog, \
            RingBuffer(ring, lambda mv: got.append(seq(mv))) as rb:
        produce(prog, 0, 3000)
        n = rb.consume()
        assert n == 2000 and got == [i for i in range(3000) if i % 3 != 2]
        assert rb.pending() == 0


def test_two_rings_one_epoll_set():
    with Map.create(MapType.RINGBUF, max_entries=1 << 16) as m1, \
            Map.create(MapType.RINGBUF, max_entries=1 << 16) as m2, P.ringbuf_producer(m1, 16) as p1, \
            P.ringbuf_producer(m2, 32) as p2:
        a: list[int] = []
        b: list[tuple[int, int]] = []
        with RingBuffer(m1, lambda mv: a.append(seq(mv))) as rb:
            rb.add(m2, lambda mv: b.append((seq(mv), len(mv))))
            assert len(rb) == 2
            assert rb.poll(0) == 0
            produce(p2, 100, 5)
            assert rb.poll(1000) == 5 and a == [] and b == [(i, 32) for i in range(100, 105)]
            produce(p1, 0, 10)
            produce(p2, 105, 10)
            total = 0
            while total < 20:
                total += rb.poll(1000)
            assert a == list(range(10)) and [s for s, _ in b] == list(range(100, 115))


def test_stop_by_return_value(ring):
    seen: list[int] = []

    def cb(mv):
        seen.append(seq(mv))
        return False if len(seen) == 3 else None  # -1 (libbpf style) works too

    with P.ringbuf_producer(ring, 16) as prog, RingBuffer(ring, cb) as rb:
        produce(prog, 0, 10)
        assert rb.consume() == 3 and seen == [0, 1, 2]
        assert rb.consume() == 7 and seen == list(range(10))


def test_callback_exception_propagates_and_state_is_consistent(ring):
    seen: list[int] = []

    def cb(mv):
        s = seq(mv)
        seen.append(s)
        if s == 4:
            raise ValueError("boom")

    with P.ringbuf_producer(ring, 16) as prog, RingBuffer(ring, cb) as rb:
        produce(prog, 0, 10)
        with pytest.raises(ValueError, match="boom"):
            rb.consume()
        assert seen == [0, 1, 2, 3, 4]
        assert rb.consume() == 5  # the failing record counts as consumed, like libbpf
        assert seen == list(range(10))


def test_keyboard_interrupt_from_callback_leaves_nothing_behind(ring):
    def cb(mv):
        raise KeyboardInterrupt

    with P.ringbuf_producer(ring, 16) as prog:
        produce(prog, 0, 4)
        with pytest.raises(KeyboardInterrupt):
            with RingBuffer(ring, cb) as rb:
                while True:
                    rb.poll(1000)
        assert rb.closed
        # the interrupted record was consumed; the other three are still there
        with RingBuffer(ring, lambda mv: None) as rb2:
            assert rb2.consume() == 3


def test_close_from_callback_is_deferred(ring):
    with P.ringbuf_producer(ring, 16) as prog:
        produce(prog, 0, 3)
        rb = RingBuffer(ring, lambda mv: rb.close())
        assert rb.consume() == 3
        assert rb.closed
        with pytest.raises(pybpf.Error, match="closed"):
            rb.poll(0)


def test_iterator_yields_copies_and_consumes_only_what_was_yielded(ring):
    with P.ringbuf_producer(ring, 16) as prog, RingBuffer(ring) as rb:
        produce(prog, 0, 10)
        got = []
        for rec in rb:
            assert isinstance(rec, bytes) and len(rec) == 16
            got.append(seq(rec))
            if len(got) == 4:
                break
        assert got == [0, 1, 2, 3]
        assert [seq(r) for r in rb.records(timeout_ms=0)] == list(range(4, 10))
        assert list(rb.records(timeout_ms=10)) == []


def test_iterator_blocks_until_data(ring):
    with P.ringbuf_producer(ring, 16) as prog, RingBuffer(ring) as rb:
        t = Producer(prog, 1000)
        timer = threading.Timer(0.05, t.start)
        timer.start()
        got = []
        for rec in rb:
            got.append(seq(rec))
            if len(got) == 1000:
                break
        t.join()
        assert got == list(range(1000))


def test_async_for(ring):
    async def main(rb, prog):
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, produce, prog, 0, 500)
        got = []
        async for rec in rb:
            got.append(seq(rec))
            if len(got) == 500:
                break
        await fut
        assert not await rb.wait_async(0.01)
        return got

    with P.ringbuf_producer(ring, 16) as prog, RingBuffer(ring) as rb:
        assert asyncio.run(main(rb, prog)) == list(range(500))


def test_batch_list_of_memoryviews(ring):
    batches: list[list[int]] = []
    with P.ringbuf_producer(ring, 24, reserve=True, discard_every=5) as prog, RingBuffer(ring) as rb:
        produce(prog, 0, 5000)
        n = rb.consume_batch(lambda recs: batches.append([seq(r) for r in recs if len(r) == 24]))
        assert n == 4000
        assert [s for b in batches for s in b] == [i for i in range(5000) if i % 5 != 4]
        assert all(len(b) <= 1024 for b in batches)


def test_batch_numpy_views():
    np = pytest.importorskip("numpy")
    dt = np.dtype([("seq", "<u8"), ("pad", "<u8")])
    with Map.create(MapType.RINGBUF, max_entries=1 << 16) as ring, \
            P.ringbuf_producer(ring, 16, reserve=True, discard_every=7) as prog, RingBuffer(ring) as rb:
        got = []

        def cb(arr):
            assert isinstance(arr, np.ndarray) and arr.dtype == dt and not arr.flags.writeable
            got.append(arr["seq"].copy())

        total = 0
        for start in range(0, 20_000, 1000):  # wraps around the 64 KiB ring many times
            produce(prog, start, 1000)
            total += rb.poll_batch(cb, 0, dtype=dt)
        allseq = np.concatenate(got)
        expect = np.array([i for i in range(20_000) if i % 7 != 6])
        assert total == len(expect) and np.array_equal(allseq, expect)
        assert len(got) > 20  # discards split the runs
        # uint8 rows without a dtype
        produce(prog, 0, 3)
        rows = []
        rb.consume_batch(lambda a: rows.append(a.copy()), record_size=16)
        assert rows[0].shape == (3, 16) and rows[0].dtype == np.uint8
        assert [int.from_bytes(r[:8].tobytes(), "little") for r in rows[0]] == [0, 1, 2]


def test_batch_numpy_wrong_size_raises_after_consuming():
    pytest.importorskip("numpy")
    with Map.create(MapType.RINGBUF, max_entries=1 << 16) as ring, P.ringbuf_producer(ring, 16) as p16, \
            P.ringbuf_producer(ring, 32) as p32, RingBuffer(ring) as rb:
        produce(p16, 0, 2)
        produce(p32, 2, 1)
        produce(p16, 3, 2)
        got = []
        with pytest.raises(pybpf.Error, match="32 bytes read with record_size=16"):
            rb.consume_batch(lambda a: got.extend(a[:, 0].tolist()), record_size=16)
        rb.consume_batch(lambda a: got.extend(a[:, 0].tolist()), record_size=16)
        assert got == [0, 1, 3, 4] and rb.pending() == 0


def test_batch_under_concurrent_producer():
    np = pytest.importorskip("numpy")
    n = 2_000_000
    with Map.create(MapType.RINGBUF, max_entries=1 << 18) as ring, P.ringbuf_producer(ring, 16) as prog, \
            RingBuffer(ring, record_size=16, batch_callback=None) as rb:
        nxt = 0

        def cb(arr):
            nonlocal nxt
            s = arr[:, :8].copy().view("<u8").ravel()
            assert s[0] == nxt and (np.diff(s) == 1).all()
            nxt = int(s[-1]) + 1

        t = Producer(prog, n)
        t.start()
        got = 0
        while got < n:
            got += rb.poll_batch(cb, 1000)
        t.join()
        assert got == n == nxt


def test_wrong_map_type_and_closed_errors():
    with Map.create(MapType.ARRAY, 4, 8, 1) as arr:
        with pytest.raises(pybpf.Error, match="RINGBUF"):
            RingBuffer(arr, print)
    with Map.create(MapType.RINGBUF, max_entries=4096) as m:
        rb = RingBuffer(m)
        with pytest.raises(pybpf.Error, match="no per-record callback"):
            rb.consume()
        rb.close()
        rb.close()
        with pytest.raises(pybpf.Error, match="closed"):
            rb.consume()


def test_raw_fd_and_fileno(ring):
    with P.ringbuf_producer(ring, 16) as prog, RingBuffer(ring.fd, lambda mv: None) as rb:
        import select

        assert select.select([rb], [], [], 0)[0] == []
        produce(prog, 0, 1)
        assert select.select([rb], [], [], 1)[0] == [rb]
        assert rb.consume() == 1
    assert os.fstat(ring.fd)  # the caller's map fd stays open


def test_sigint_while_waiting_propagates_after_cleanup(ring):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread")
    import signal

    timer = threading.Timer(0.1, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        with RingBuffer(ring, lambda mv: None) as rb:
            timer.start()
            rb.poll(-1)
    timer.join()
    assert rb.closed


CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
from pybpf import Map, MapType
from pybpf.events import PerfBuffer, RingBuffer
with Map.create(MapType.RINGBUF, max_entries=4096) as m, Map.create(MapType.PERF_EVENT_ARRAY) as pm, \
        RingBuffer(m, print) as rb, PerfBuffer(pm, print) as pb:
    print(m.id, pm.id, flush=True)
    while True:
        rb.poll(-1)
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_in_polling_process_frees_everything(sig):
    import signal
    import subprocess
    import sys
    import time

    from pybpf.introspect import ids

    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    child = subprocess.Popen([sys.executable, "-c", CHILD, src], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        map_ids = {int(x) for x in child.stdout.readline().split()}
        assert len(map_ids) == 2 and map_ids <= ids("map")
        time.sleep(0.05)
        child.send_signal(getattr(signal, sig))
        _out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if sig == "SIGINT":
        assert "KeyboardInterrupt" in err
    deadline = time.monotonic() + 5
    while map_ids & ids("map") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not map_ids & ids("map")
