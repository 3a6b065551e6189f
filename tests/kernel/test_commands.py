"""Every bpf(2) command of the core layer, exercised on the real kernel.

MAP_* element/batch commands, PROG_LOAD, PROG_TEST_RUN, OBJ_PIN/GET,
GET_NEXT_ID/GET_FD_BY_ID, OBJ_GET_INFO_BY_FD, ENABLE_STATS and PROG_BIND_MAP are
covered in test_maps.py / test_programs.py; this file covers the rest.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import uuid

import pytest

import pybpf
from pybpf import AttachType, Map, MapType, Program, ProgramType, asm
from pybpf._sys import cmds, perf
from pybpf._sys.attrs import LinkCreateAttr
from pybpf._sys.consts import AttachFlags, LinkType
from pybpf._sys.fs import find_cgroup2
from pybpf.asm import R0
from pybpf.btf import BTF


@contextlib.contextmanager
def temp_cgroup():
    path = os.path.join(find_cgroup2(), f"pybpf-test-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)
        os.rmdir(path)


def _skb_prog(verdict: int = 1) -> Program:
    return Program.load(ProgramType.CGROUP_SKB, [asm.mov(R0, verdict), asm.exit_()],
                        expected_attach_type=AttachType.CGROUP_INET_EGRESS)


def test_prog_attach_query_detach():
    with temp_cgroup() as cg, _skb_prog() as p1, _skb_prog() as p2:
        cmds.prog_attach(p1.fd, cg, AttachType.CGROUP_INET_EGRESS, AttachFlags.ALLOW_MULTI)
        cmds.prog_attach(p2.fd, cg, AttachType.CGROUP_INET_EGRESS, AttachFlags.ALLOW_MULTI)
        q = cmds.prog_query(cg, AttachType.CGROUP_INET_EGRESS, max_progs=1)  # grows on ENOSPC
        assert q["prog_ids"] == [p1.id, p2.id] and q["attach_flags"] == AttachFlags.ALLOW_MULTI
        cmds.prog_detach(cg, AttachType.CGROUP_INET_EGRESS, p1.fd)
        cmds.prog_detach(cg, AttachType.CGROUP_INET_EGRESS, p2.fd)
        assert cmds.prog_query(cg, AttachType.CGROUP_INET_EGRESS)["prog_ids"] == []


def test_link_create_update_detach_and_ids():
    with temp_cgroup() as cg, _skb_prog(1) as p1, _skb_prog(0) as p2:
        link = cmds.link_create(LinkCreateAttr(prog_fd=p1.fd, target_fd=cg,
                                               attach_type=AttachType.CGROUP_INET_EGRESS))
        with link:
            info = pybpf.LinkInfo.from_fd(link.fd)
            assert info.type == LinkType.CGROUP and info.prog_id == p1.id
            assert info.details["attach_type"] == AttachType.CGROUP_INET_EGRESS
            assert info.id in {li.id for li in pybpf.links()}
            with cmds.fd_by_id("link", info.id) as again:
                assert pybpf.LinkInfo.from_fd(again.fd).id == info.id
            cmds.link_update(link.fd, p2.fd)
            assert pybpf.LinkInfo.from_fd(link.fd).prog_id == p2.id
            cmds.link_update(link.fd, p1.fd, old_prog_fd=p2.fd, flags=AttachFlags.REPLACE)
            assert pybpf.LinkInfo.from_fd(link.fd).prog_id == p1.id
            cmds.link_detach(link.fd)
            assert cmds.prog_query(cg, AttachType.CGROUP_INET_EGRESS)["prog_ids"] == []


def test_raw_tracepoint_open_and_task_fd_query():
    with Program.load(ProgramType.RAW_TRACEPOINT, [asm.mov(R0, 0), asm.exit_()], name="rawtp") as p:
        with cmds.raw_tracepoint_open("sys_enter", p.fd) as tp:
            q = cmds.task_fd_query(os.getpid(), tp.fd)
            assert q["prog_id"] == p.id and q["name"] == "sys_enter"
            info = pybpf.LinkInfo.from_fd(tp.fd)
            assert info.type == LinkType.RAW_TRACEPOINT and info.details["tp_name"] == "sys_enter"


def test_btf_load_get_fd_by_id_and_next_id():
    b = pybpf.btf.Builder()
    from pybpf.btf import Int, Struct, Member

    u32 = Int("u32", 4)
    b.add(Struct("pair", 8, [Member("a", u32, 0), Member("b", u32, 32)]))
    data = b.to_bytes()
    fd, _log = cmds.btf_load(data)
    with fd:
        info = pybpf.BTFInfo.from_fd(fd.fd)
        assert info.size == len(data) and not info.kernel_btf
        assert info.id in {x.id for x in pybpf.btfs()}
        with cmds.fd_by_id("btf", info.id) as fd2:
            assert cmds.btf_data(fd2.fd) == data
            parsed = BTF.from_bytes(cmds.btf_data(fd2.fd))
            assert parsed.find("pair").size == 8
    with pytest.raises(pybpf.BPFError, match="BTF_LOAD"):
        cmds.btf_load(b"\x9f\xeb\x01\x00" + bytes(20))


def test_iter_create_reads_task_iterator():
    vm = BTF.load_vmlinux()
    target = vm.find("bpf_iter_task", kind="func")
    # An iterator that prints nothing: the read must still terminate cleanly.
    with Program.load(ProgramType.TRACING, [asm.mov(R0, 0), asm.exit_()], name="it",
                      expected_attach_type=AttachType.TRACE_ITER, attach_btf_id=target.id) as p:
        a = LinkCreateAttr(prog_fd=p.fd, attach_type=AttachType.TRACE_ITER)
        with cmds.link_create(a) as link:
            assert pybpf.LinkInfo.from_fd(link.fd).details["target_name"] == "task"
            with cmds.iter_create(link.fd) as it:
                assert os.read(it.fd, 4096) == b""


def test_perf_event_open_ioctls_mmap_epoll():
    attr = perf.PerfEventAttr(type=perf.PerfType.SOFTWARE, config=perf.SwEvent.CPU_CLOCK,
                              sample_period=100000, flags=perf.FLAG_DISABLED)
    with perf.open_event(attr, pid=0, cpu=-1) as ev:
        perf.enable(ev.fd)
        sum(range(200000))
        perf.disable(ev.fd)
        assert perf.read_counter(ev.fd) > 0
        with Program.load(ProgramType.PERF_EVENT, [asm.mov(R0, 0), asm.exit_()]) as p:
            perf.set_bpf(ev.fd, p.fd)
    # A BPF-output event ring: mmap + epoll.
    attr = perf.PerfEventAttr(type=perf.PerfType.SOFTWARE, config=perf.SwEvent.BPF_OUTPUT,
                              sample_type=perf.SAMPLE_RAW, wakeup_events=1)
    with perf.open_event(attr, pid=-1, cpu=0) as ev:
        ring = perf.mmap_ring(ev.fd, 4)
        page = perf.PerfEventMmapPage.from_buffer(ring)
        assert page.data_head == 0 and page.data_size in (0, 4 * 4096)
        del page
        with perf.Epoll() as ep:
            ep.add(ev.fd, "ring0")
            assert ep.wait(0) == []
        ring.close()


def test_perf_event_array_holds_events():
    attr = perf.PerfEventAttr(type=perf.PerfType.SOFTWARE, config=perf.SwEvent.BPF_OUTPUT,
                              sample_type=perf.SAMPLE_RAW)
    with Map.create(MapType.PERF_EVENT_ARRAY, max_entries=pybpf.num_possible_cpus()) as m, \
            perf.open_event(attr, pid=-1, cpu=0) as ev:
        m[0] = ev.fd
        with pytest.raises(pybpf.BPFError, match="ENOTSUPP"):
            m[0]  # perf event arrays cannot be read from user space
        del m[0]


def test_enable_stats_fd_lifetime():
    with pybpf.enable_stats() as fd:
        assert fd.fd > 0
    assert fd.closed


def test_ctypes_attr_sizes_are_sane():
    from pybpf._sys import attrs

    for cls in attrs.ATTR_MEMBERS:
        assert ctypes.sizeof(cls) <= 160
