"""User ring buffers on the real kernel: UserRingBuffer written from Python, drained by a program."""

from __future__ import annotations

import struct

import pytest

import pybpf
from pybpf import Map, MapType
from pybpf.events import UserRingBuffer
from pybpf.events import _producers as P

RUN = dict(repeat=0, ctx_out_size=0)


@pytest.fixture
def maps():
    with Map.create(MapType.USER_RINGBUF, max_entries=1 << 14, name="t_urb") as urb, \
            Map.create(MapType.ARRAY, 4, 8, 2, name="t_counts") as counts:
        yield urb, counts


def counts_of(counts: Map) -> tuple[int, int]:
    return (int.from_bytes(counts[0], "little"), int.from_bytes(counts[1], "little"))


def test_user_writes_program_drains(maps):
    urb_map, counts = maps
    n = 5000
    with UserRingBuffer(urb_map) as urb, P.user_ringbuf_drainer(urb_map, counts) as prog:
        written = drained = 0
        values = []
        while written < n:
            if urb.write(struct.pack("<QQ", written, 0xDEAD)):
                values.append(written)
                written += 1
                continue
            r = prog.test_run(**RUN).retval  # ring full: let the program drain it
            assert r > 0
            drained += r
        while drained < n:
            r = prog.test_run(**RUN).retval
            assert r > 0
            drained += r
        assert prog.test_run(**RUN).retval == 0
        assert counts_of(counts) == (n, sum(values))


def test_reserve_submit_discard_and_order(maps):
    urb_map, counts = maps
    with UserRingBuffer(urb_map) as urb, P.user_ringbuf_drainer(urb_map, counts) as prog:
        a = urb.reserve(8)
        b = urb.reserve(16)
        c = urb.reserve(8)
        assert a is not None and b is not None and c is not None and len(b) == 16
        a[:] = (1).to_bytes(8, "little")
        b[:8] = (10).to_bytes(8, "little")
        b[8:] = bytes(8)
        c[:] = (100).to_bytes(8, "little")
        urb.submit(c)  # committed, but behind the busy a and b
        assert prog.test_run(**RUN).retval == 0
        urb.submit(a)
        assert prog.test_run(**RUN).retval == 1 and counts_of(counts) == (1, 1)
        urb.discard(b)
        assert prog.test_run(**RUN).retval == 1 and counts_of(counts) == (2, 101)
        with pytest.raises(ValueError):
            a[0] = 1  # released on submit
        with pytest.raises(pybpf.Error, match="not a pending reservation"):
            urb.submit(a)


def test_full_ring_and_blocking_reserve(maps):
    urb_map, counts = maps
    with UserRingBuffer(urb_map) as urb, P.user_ringbuf_drainer(urb_map, counts) as prog:
        assert urb.free_space() == 1 << 14
        n = 0
        while urb.write(bytes(56)):
            n += 1
        assert n == (1 << 14) // 64 and urb.free_space() == 0
        assert urb.reserve(8) is None
        assert urb.reserve_blocking(8, timeout_ms=20) is None
        with pytest.raises(ValueError):
            urb.reserve(1 << 14)
        assert prog.test_run(**RUN).retval == n
        v = urb.reserve_blocking(8, timeout_ms=1000)
        assert v is not None
        urb.discard(v)


def test_close_discards_pending_and_wrong_type(maps):
    urb_map, counts = maps
    with P.user_ringbuf_drainer(urb_map, counts) as prog:
        urb = UserRingBuffer(urb_map)
        urb.write((5).to_bytes(8, "little"))
        v = urb.reserve(8)
        assert v is not None
        urb.close()
        urb.close()
        assert prog.test_run(**RUN).retval == 1  # the pending one was discarded, not left busy
        with pytest.raises(pybpf.Error, match="closed"):
            urb.write(b"x")
    with Map.create(MapType.RINGBUF, max_entries=4096) as rb:
        with pytest.raises(pybpf.Error, match="USER_RINGBUF"):
            UserRingBuffer(rb)
