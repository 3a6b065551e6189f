"""Perf buffers on the real kernel: pybpf.events.PerfBuffer fed by a raw_tracepoint program."""

from __future__ import annotations

import struct

import pytest

import pybpf
from pybpf import Map, MapType
from pybpf._sys import consts
from pybpf._sys.cpu import online_cpus
from pybpf.events import PerfBuffer
from pybpf.events import _producers as P


def produce(prog: pybpf.Program, cpu: int, start: int, count: int) -> int:
    """Run the producer on ``cpu``; returns how many records the kernel accepted."""
    return prog.test_run(ctx=P.producer_ctx(start, count), flags=consts.TestRunFlags.RUN_ON_CPU, cpu=cpu,
                         repeat=0, ctx_out_size=0).retval


def rec(mv) -> tuple[int, int]:
    s, cpu = struct.unpack_from("<QI", mv)
    return s, cpu


@pytest.fixture
def pmap():
    with Map.create(MapType.PERF_EVENT_ARRAY, name="t_perf") as m:
        yield m


def test_records_arrive_on_the_right_cpu(pmap):
    got: list[tuple[int, int, int, int]] = []
    with P.perf_producer(pmap, 16) as prog, \
            PerfBuffer(pmap, lambda cpu, mv: got.append((cpu, *rec(mv), len(mv)))) as pb:
        assert pb.cpus == [c for c in online_cpus() if c < pmap.max_entries]
        for cpu in pb.cpus:
            assert produce(prog, cpu, 1000 * cpu, 5) == 5
        n = 0
        while n < 5 * len(pb.cpus):
            k = pb.poll(1000)
            assert k
            n += k
        by_cpu = {c: [s for cc, s, _rc, _l in got if cc == c] for c in pb.cpus}
        assert all(cc == rc for cc, _s, rc, _l in got)  # callback cpu == bpf_get_smp_processor_id()
        assert by_cpu == {c: list(range(1000 * c, 1000 * c + 5)) for c in pb.cpus}
        assert {ln for *_x, ln in got} == {20}  # raw size: 16 bytes padded so 4 + size is 8-aligned
        assert pb.lost_total == 0


def test_exact_lost_counts_and_wraparound(pmap):
    """Overfill a one-page ring without reading: delivered + lost == produced, exactly."""
    got: list[int] = []
    lost: list[tuple[int, int]] = []
    cpu = online_cpus()[0]
    with P.perf_producer(pmap, 24) as prog, \
            PerfBuffer(pmap, lambda c, mv: got.append(rec(mv)[0]), lambda c, n: lost.append((c, n)),
                       pages=1, cpus=[cpu]) as pb:
        produced = 0
        for round_ in range(20):
            accepted = produce(prog, cpu, produced, 1000)
            assert 0 < accepted < 1000
            produced += 1000
            pb.consume()
        # the last round's losses are reported with the next record
        produce(prog, cpu, produced, 1)
        produced += 1
        pb.consume()
        assert sum(n for _c, n in lost) == pb.lost_total
        assert len(got) + pb.lost_total == produced
        assert all(c == cpu for c, _n in lost) and len(lost) == 20
        assert got == sorted(got) and got[-1] == produced - 1
        # 32-byte records on a 4096-byte ring: the ring offset changes every round (wraps in the middle)


def test_wrapping_records_are_reassembled(pmap):
    """Records whose size does not divide the ring size straddle its end now and then."""
    got: list[bytes] = []
    cpu = online_cpus()[-1]
    with P.perf_producer(pmap, 40) as prog, \
            PerfBuffer(pmap, lambda c, mv: got.append(bytes(mv)), pages=1, cpus=[cpu]) as pb:
        total = 0
        for i in range(300):
            assert produce(prog, cpu, i * 7, 7) == 7
            total += pb.consume()
        assert total == 2100
        assert [rec(g)[0] for g in got] == list(range(2100))
        assert all(len(g) == 44 and g[12:] == bytes(32) for g in got)


def test_pause_resume_counts_lost(pmap):
    cpu = online_cpus()[0]
    got: list[int] = []
    with P.perf_producer(pmap, 16) as prog, PerfBuffer(pmap, lambda c, mv: got.append(rec(mv)[0]), cpus=[cpu]) as pb:
        pb.pause()
        assert produce(prog, cpu, 0, 10) == 0
        pb.resume()
        assert produce(prog, cpu, 10, 2) == 2
        assert pb.consume() == 2 and got == [10, 11] and pb.lost_total == 10


def test_overwritable_ring_keeps_the_newest(pmap):
    cpu = online_cpus()[0]
    got: list[int] = []
    with P.perf_producer(pmap, 16) as prog, \
            PerfBuffer(pmap, lambda c, mv: got.append(rec(mv)[0]), pages=1, overwrite=True, cpus=[cpu]) as pb:
        assert produce(prog, cpu, 0, 10) == 10
        assert pb.consume() == 10 and got == list(range(10))
        assert pb.consume() == 0
        assert produce(prog, cpu, 10, 1000) == 1000  # never blocks: old records are overwritten
        got.clear()
        n = pb.consume()
        assert 0 < n < 1000 and got == list(range(1010 - n, 1010))
        assert pb.lost_total == 0


def test_close_removes_fds_from_map_and_errors_propagate(pmap):
    cpu = online_cpus()[0]

    def boom(c, mv):
        raise KeyboardInterrupt

    with P.perf_producer(pmap, 16) as prog:
        with pytest.raises(KeyboardInterrupt):
            with PerfBuffer(pmap, boom, cpus=[cpu]) as pb:
                produce(prog, cpu, 0, 3)
                pb.poll(1000)
        assert pb.closed
        # no event fd left in the map: output fails with ENOENT (counted as not accepted)
        assert produce(prog, cpu, 0, 3) == 0


def test_wrong_map_and_args(pmap):
    with Map.create(MapType.RINGBUF, max_entries=4096) as rbm:
        with pytest.raises(pybpf.Error, match="PERF_EVENT_ARRAY"):
            PerfBuffer(rbm, print)
    with pytest.raises(ValueError):
        PerfBuffer(pmap, print, pages=3)
    with pytest.raises(pybpf.Error, match="max_entries"):
        PerfBuffer(pmap, print, cpus=[pmap.max_entries])
