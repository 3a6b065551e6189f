"""Tracing attach points on the real kernel: tracepoint, raw_tp, tp_btf, fentry & co, iter, perf_event,
plus the Link API (info, pin/from_pin/from_id, update, detach) and Program.attach() auto-attach.

Every attach is proven by the program running: a counter map incremented, or iterator output.
The probe-based attach points (uprobe, USDT, kprobe) are in test_links_tracing_probes.py.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct

import pytest

import pybpf
from pybpf import AttachType, Map, MapType, Program, ProgramType, asm, features
from pybpf.asm import DW, R0, R1, R2, R3, R4, R5, R6, R7, R10, W
from pybpf.errors import Error, NotFoundError, NotSupportedError
from pybpf.links import Link, MultiLink, links
from pybpf.links import iter as liter
from pybpf.links import perf_event as lpe
from pybpf.links import tracing
from pybpf.spec import ProgramSpec

_libc = ctypes.CDLL(None, use_errno=True)
SYS_getpid = {"x86_64": 39, "aarch64": 172}.get(os.uname().machine, 39)


def counter_insns(m: Map, index: int | None = 0) -> list:
    """Increment m[index] (u64) — or m[bpf_get_attach_cookie()] when index is None — and return 0."""
    pre = [asm.st(W, R10, -4, index)] if index is not None else [
        asm.mov(R6, R1), asm.call("get_attach_cookie"), asm.stx(W, R10, -4, R0)]
    return asm.resolve(pre + [
        asm.mov(R2, R10), asm.add(R2, -4), asm.ld_map_fd(R1, m.fd), asm.call("map_lookup_elem"),
        asm.jeq(R0, 0, "out"), asm.mov(R1, 1), asm.atomic_add(DW, R0, 0, R1),
        asm.label("out"), asm.mov(R0, 0), asm.exit_()])


def u64(m: Map, i: int = 0) -> int:
    v = m[i]
    return v if isinstance(v, int) else struct.unpack("<Q", bytes(v)[:8])[0]


@pytest.fixture
def counter():
    with Map.create(MapType.ARRAY, 4, 8, 16) as m:
        yield m


def raw_getpid() -> None:
    """getpid(2) straight through syscall(2) (no libc caching anywhere)."""
    _libc.syscall(SYS_getpid)


# ------------------------------------------------------------------ tracepoint
def test_tracepoint_getpid_counts(counter):
    with Program.load(ProgramType.TRACEPOINT, counter_insns(counter), name="tp_getpid") as p:
        with p.attach_tracepoint("syscalls", "sys_enter_getpid") as lk:
            assert isinstance(lk, lpe.PerfEventLink)
            before = u64(counter)
            for _ in range(5):
                os.getpid()
                raw_getpid()
            assert u64(counter) - before >= 10
            info = lk.info()
            assert info.type == pybpf.LinkType.PERF_EVENT and info.prog_id == p.id and info.id == lk.id
            pi = lk.perf_info()
            assert pi["type"] == pybpf._sys.consts.PerfEventType.TRACEPOINT and pi["name"] == "sys_enter_getpid"
            assert lk.perf_fd is not None and "tracepoint syscalls/sys_enter_getpid" in repr(lk)
        n = u64(counter)
        raw_getpid()
        assert u64(counter) == n  # detached on close
        assert "closed" in repr(lk)


def test_tracepoint_one_string_and_cookie(counter):
    with Program.load(ProgramType.TRACEPOINT, counter_insns(counter, None)) as p:
        with tracing.attach_tracepoint(p, "syscalls/sys_enter_getpid", cookie=7) as lk:
            raw_getpid()
            assert u64(counter, 7) >= 1
            assert lk.cookie == 7 and lk.perf_info()["cookie"] == 7


def test_tracepoint_missing_names_it():
    with Program.load(ProgramType.TRACEPOINT, [asm.mov(R0, 0), asm.exit_()]) as p:
        with pytest.raises(NotFoundError, match="syscalls/sys_enter_nonexistent_zz"):
            tracing.attach_tracepoint(p, "syscalls", "sys_enter_nonexistent_zz")
        with pytest.raises(Error, match="category/name"):
            tracing.attach_tracepoint(p, "no_slash")


def test_tracepoint_wrong_program_type_is_typed_error(counter):
    with Program.load(ProgramType.SOCKET_FILTER, [asm.mov(R0, 0), asm.exit_()]) as p:
        with pytest.raises(pybpf.BPFError):
            tracing.attach_tracepoint(p, "syscalls", "sys_enter_getpid")


# --------------------------------------------------------------- raw tracepoint
def test_raw_tracepoint_sys_enter(counter):
    with Program.load(ProgramType.RAW_TRACEPOINT, counter_insns(counter)) as p:
        with p.attach_raw_tracepoint("sys_enter") as lk:
            raw_getpid()
            assert u64(counter) >= 1
            assert isinstance(lk, tracing.RawTracepointLink) and lk.tp_name == "sys_enter"
            info = lk.info()
            assert info.type == pybpf.LinkType.RAW_TRACEPOINT and info.details["tp_name"] == "sys_enter"
            assert lk.id in {li.id for li in links()}


def test_raw_tracepoint_missing_names_it():
    with Program.load(ProgramType.RAW_TRACEPOINT, [asm.mov(R0, 0), asm.exit_()]) as p:
        with pytest.raises(NotFoundError, match="nonexistent_tp_zz"):
            tracing.attach_raw_tracepoint(p, "nonexistent_tp_zz")


def test_raw_tracepoint_update_not_supported_and_detach_falls_back(counter):
    with Program.load(ProgramType.RAW_TRACEPOINT, counter_insns(counter)) as p, \
            Program.load(ProgramType.RAW_TRACEPOINT, counter_insns(counter, 1)) as p2:
        lk = tracing.attach_raw_tracepoint(p, "sys_enter")
        with pytest.raises(NotSupportedError, match="RAW_TRACEPOINT"):
            lk.update(p2)
        lk.detach()  # raw_tp links have no kernel detach: falls back to close
        assert lk.closed
        n = u64(counter)
        raw_getpid()
        assert u64(counter) == n


# ------------------------------------------------------ pin / from_pin / from_id
def test_pin_from_pin_from_id(counter, tmp_path):
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    path = f"/sys/fs/bpf/pybpf_test_link_{os.getpid()}"
    with Program.load(ProgramType.RAW_TRACEPOINT, counter_insns(counter)) as p:
        lk = tracing.attach_raw_tracepoint(p, "sys_enter")
        try:
            lk.pin(path)
            assert lk.pinned_path == path and os.path.exists(path)
            lk.close()  # the pin keeps it attached
            n = u64(counter)
            raw_getpid()
            assert u64(counter) > n
            with Link.from_pin(path) as again:
                assert isinstance(again, tracing.RawTracepointLink)
                assert again.prog_id == p.id
                with Link.from_id(again.id) as third:
                    assert third.info().id == again.id
            with pytest.raises(Error, match="not a BPF link"):
                with Map.create(MapType.ARRAY, 4, 4, 1) as m:
                    m.pin(path + "_map")
                    try:
                        Link.from_pin(path + "_map")
                    finally:
                        os.unlink(path + "_map")
        finally:
            if os.path.exists(path):
                os.unlink(path)
        with pytest.raises(NotFoundError):
            Link.from_id(0x7FFFFFF0)


def test_detach_removes_own_pin(counter):
    path = f"/sys/fs/bpf/pybpf_test_link_detach_{os.getpid()}"
    with Program.load(ProgramType.RAW_TRACEPOINT, counter_insns(counter)) as p:
        lk = tracing.attach_raw_tracepoint(p, "sys_enter")
        lk.pin(path)
        lk.detach()
        assert not os.path.exists(path)
        n = u64(counter)
        raw_getpid()
        assert u64(counter) == n


# ------------------------------------------------------------------------ tp_btf
def _tp_btf_prog(counter: Map, index: int | None = 0) -> Program:
    bid = tracing.find_attach_btf_id(AttachType.TRACE_RAW_TP, "sys_enter")
    return Program.load(ProgramType.TRACING, counter_insns(counter, index), expected_attach_type=AttachType.TRACE_RAW_TP,
                        attach_btf_id=bid, name="tp_btf_enter")


def test_tp_btf_sys_enter(counter):
    with _tp_btf_prog(counter) as p, p.attach_tp_btf() as lk:
        raw_getpid()
        assert u64(counter) >= 1
        assert lk.info().details.get("tp_name") == "sys_enter"
        assert "tp_btf" in repr(lk)


def test_tp_btf_cookie(counter):
    with _tp_btf_prog(counter, None) as p:
        try:
            lk = tracing.attach_tp_btf(p, cookie=3)
        except NotSupportedError as e:
            pytest.skip(str(e))
        with lk:
            raw_getpid()
            assert u64(counter, 3) >= 1


def test_find_attach_btf_id_errors():
    with pytest.raises(NotFoundError, match="btf_trace_no_such_tp_zz"):
        tracing.find_attach_btf_id(AttachType.TRACE_RAW_TP, "no_such_tp_zz")


@pytest.mark.parametrize("at,name", [(AttachType.TRACE_FENTRY, "do_sys_openat2"),
                                     (AttachType.TRACE_FEXIT, "do_sys_openat2"),
                                     (AttachType.MODIFY_RETURN, "do_sys_openat2")])
def test_fentry_family(counter, at, name):
    ok, why = features.attach_type_status(ProgramType.TRACING, at)
    if not ok:
        with pytest.raises(NotSupportedError):
            Program.load(ProgramType.TRACING, counter_insns(counter), expected_attach_type=at,
                         attach_btf_id=tracing.find_attach_btf_id(at, name))
        pytest.skip(why)
    with Program.load(ProgramType.TRACING, counter_insns(counter), expected_attach_type=at,
                      attach_btf_id=tracing.find_attach_btf_id(at, name)) as p, p.attach_trace() as lk:
        open("/dev/null").close()
        assert u64(counter) >= 1
        assert lk.info().type == pybpf.LinkType.TRACING


def test_lsm():
    ok, why = features.attach_type_status(ProgramType.LSM, AttachType.LSM_MAC)
    if not ok:
        pytest.skip(why)
    with Program.load(ProgramType.LSM, [asm.mov(R0, 0), asm.exit_()], expected_attach_type=AttachType.LSM_MAC,
                      attach_btf_id=tracing.find_attach_btf_id(AttachType.LSM_MAC, "file_open")) as p:
        with tracing.attach_lsm(p) as lk:
            open("/dev/null").close()
            assert lk.info().prog_id == p.id


# -------------------------------------------------------------------------- iter
def _task_iter_prog(fmt: bytes) -> Program:
    """iter/task: bpf_seq_printf(seq, fmt, {tgid, comm})."""
    from pybpf.btf import BTF

    b = BTF.load_vmlinux()
    pid_off = b.member_offset("struct task_struct", "tgid")[0]
    comm_off = b.member_offset("struct task_struct", "comm")[0]
    meta_off = b.member_offset("struct bpf_iter__task", "meta")[0]
    task_off = b.member_offset("struct bpf_iter__task", "task")[0]
    assert len(fmt) <= 16
    f = fmt.ljust(16, b"\0")
    lo, hi = struct.unpack("<QQ", f)
    insns = asm.resolve([
        asm.ldx(DW, R6, R1, meta_off), asm.ldx(DW, R7, R1, task_off), asm.jeq(R7, 0, "out"),
        asm.ldx(W, R2, R7, pid_off), asm.stx(DW, R10, -16, R2),
        asm.mov(R2, R7), asm.add(R2, comm_off), asm.stx(DW, R10, -8, R2),
        asm.ld_imm64(R2, lo), asm.stx(DW, R10, -32, R2), asm.ld_imm64(R2, hi), asm.stx(DW, R10, -24, R2),
        asm.ldx(DW, R1, R6, 0), asm.mov(R2, R10), asm.add(R2, -32), asm.mov(R3, len(fmt) + 1),
        asm.mov(R4, R10), asm.add(R4, -16), asm.mov(R5, 16), asm.call("seq_printf"),
        asm.label("out"), asm.mov(R0, 0), asm.exit_()])
    return Program.load(ProgramType.TRACING, insns, expected_attach_type=AttachType.TRACE_ITER,
                        attach_btf_id=tracing.find_attach_btf_id(AttachType.TRACE_ITER, "task"), name="iter_task")


def test_iter_task_read():
    with _task_iter_prog(b"%d %s\n") as p, p.attach_iter() as lk:
        assert isinstance(lk, liter.IterLink)
        text = lk.read_text()
        lines = text.splitlines()
        assert len(lines) > 5
        me = f"{os.getpid()} "
        assert any(ln.startswith(me) for ln in lines), text[:500]
        assert lk.read_text().count("\n") > 5  # each read runs the iterator afresh
        with lk.open() as f:
            assert f.read(1)
        info = lk.info()
        assert info.type == pybpf.LinkType.ITER and info.details["target_name"] == "task"
        assert lk.target_name == "task"


def test_iter_update_swaps_program():
    with _task_iter_prog(b"%d %s\n") as p1, _task_iter_prog(b"T%d\n") as p2, liter.attach_iter(p1) as lk:
        assert not lk.read_text().startswith("T")
        lk.update(p2)
        out = lk.read_text()
        assert out.startswith("T") and lk.info().prog_id == p2.id
        with pytest.raises(pybpf.BPFError):
            lk.update(p1, old_program=p1)  # BPF_F_REPLACE: p1 is no longer attached
        lk.update(p1, old_program=p2)
        assert lk.prog_id == p1.id


def test_iter_rejects_non_iter_program(counter):
    with Program.load(ProgramType.RAW_TRACEPOINT, [asm.mov(R0, 0), asm.exit_()]) as p:
        with pytest.raises(pybpf.BPFError):
            liter.attach_iter(p)


def test_iter_task_pid_parameter():
    with _task_iter_prog(b"%d %s\n") as p:
        try:
            lk = liter.attach_iter(p, tid=os.getpid())
        except NotSupportedError as e:
            pytest.skip(str(e))
        with lk:
            lines = lk.read_text().splitlines()
            assert lines and all(ln.startswith(f"{os.getpid()} ") for ln in lines)


# -------------------------------------------------------------------- perf_event
# Software page-fault events are counted in the faulting thread, at the fault: touching a
# fresh page right before reading the counter runs the program synchronously (a clock
# event would fire whenever a timer does, and the test would depend on scheduling).
def fault_fresh_page() -> None:
    """One page fault in this thread, now: the first write to a fresh anonymous mapping."""
    m = mmap.mmap(-1, mmap.PAGESIZE)
    try:
        m[0] = 1
    finally:
        m.close()


def test_perf_event_all_cpus_sample_freq(counter):
    from pybpf._sys.perf import PerfType, SwEvent

    with Program.load(ProgramType.PERF_EVENT, counter_insns(counter)) as p:
        # in frequency mode the first period is 1: the first fault on any CPU is sampled
        ml = p.attach_perf_event(PerfType.SOFTWARE, SwEvent.PAGE_FAULTS, sample_freq=1000)
        with ml:
            assert isinstance(ml, MultiLink) and len(ml) == len(pybpf._sys.cpu.online_cpus())
            assert all(isinstance(x, lpe.PerfEventLink) for x in ml)
            assert len(set(ml.ids)) == len(ml)
            fault_fresh_page()
            assert u64(counter) > 0
            pi = ml.links[0].perf_info()
            assert pi["type"] == pybpf._sys.consts.PerfEventType.EVENT and pi["config"] == SwEvent.PAGE_FAULTS
        assert ml.closed and all(x.closed for x in ml.links)


def test_perf_event_own_task_sample_period(counter):
    from pybpf._sys.perf import PerfType, SwEvent

    with Program.load(ProgramType.PERF_EVENT, counter_insns(counter)) as p:
        with lpe.attach_perf_event(p, PerfType.SOFTWARE, SwEvent.PAGE_FAULTS, sample_period=1, pid=0) as lk:
            assert isinstance(lk, lpe.PerfEventLink)
            before = u64(counter)
            for _ in range(3):
                fault_fresh_page()
            assert u64(counter) >= before + 3  # every fault of this thread is sampled
    with pytest.raises(Error, match="sample_period or sample_freq"):
        lpe.attach_perf_event(p, PerfType.SOFTWARE, SwEvent.CPU_CLOCK)


# ------------------------------------------------------------------ auto-attach
def _spec_prog(ptype, section, attach_to, insns, **kw) -> Program:
    return Program.from_spec(ProgramSpec(type=ptype, instructions=insns, section=section, attach_to=attach_to, **kw))


def test_auto_attach_tracepoint_raw_tp_tp_btf_iter(counter):
    with _spec_prog(ProgramType.TRACEPOINT, "tracepoint/syscalls/sys_enter_getpid", "syscalls/sys_enter_getpid",
                    counter_insns(counter, 0)) as p, p.attach() as lk:
        raw_getpid()
        assert u64(counter, 0) >= 1 and lk.kind == "tracepoint"
    with _spec_prog(ProgramType.TRACEPOINT, "tp/syscalls/sys_enter_getpid", "", counter_insns(counter, 1)) as p, \
            p.attach():
        raw_getpid()
        assert u64(counter, 1) >= 1
    with _spec_prog(ProgramType.RAW_TRACEPOINT, "raw_tp/sys_enter", "sys_enter", counter_insns(counter, 2)) as p, \
            p.attach() as lk:
        raw_getpid()
        assert u64(counter, 2) >= 1 and isinstance(lk, tracing.RawTracepointLink)
    bid = tracing.find_attach_btf_id(AttachType.TRACE_RAW_TP, "sys_enter")
    with _spec_prog(ProgramType.TRACING, "tp_btf/sys_enter", "sys_enter", counter_insns(counter, 3),
                    expected_attach_type=AttachType.TRACE_RAW_TP, attach_btf_id=bid) as p, p.attach():
        raw_getpid()
        assert u64(counter, 3) >= 1
    it = _task_iter_prog(b"%d\n")
    it.spec.section, it.spec.attach_to = "iter/task", "task"
    with it, it.attach() as lk:
        assert isinstance(lk, liter.IterLink) and lk.read()


def test_auto_attach_errors():
    with _spec_prog(ProgramType.PERF_EVENT, "perf_event", "", [asm.mov(R0, 0), asm.exit_()]) as p:
        with pytest.raises(Error, match="attach_perf_event"):
            p.attach()
    with _spec_prog(ProgramType.KPROBE, "uprobe", "", [asm.mov(R0, 0), asm.exit_()]) as p:
        with pytest.raises(Error, match="attach_uprobe"):
            p.attach()
    with Program.load(ProgramType.RAW_TRACEPOINT, [asm.mov(R0, 0), asm.exit_()]) as p:
        with pytest.raises(Error, match="no ELF section"):
            p.attach()
    with _spec_prog(ProgramType.TRACEPOINT, "tracepoint/nosuchcat_zz/nosuch_zz", "nosuchcat_zz/nosuch_zz",
                    [asm.mov(R0, 0), asm.exit_()]) as p:
        with pytest.raises(NotFoundError, match="nosuchcat_zz/nosuch_zz"):
            p.attach()


# ------------------------------------------- perf links: support is probed, not guessed
def test_wrong_prog_type_does_not_disable_perf_links(counter, monkeypatch):
    """An EINVAL from a user's attach (wrong program type) must not switch perf links off."""
    monkeypatch.setattr(lpe, "_perf_link_ok", None)  # as in a fresh process
    if not lpe.perf_link_supported():
        pytest.skip("BPF_LINK_CREATE with BPF_PERF_EVENT unavailable (needs Linux 5.15+)")
    with Program.load(ProgramType.KPROBE, [asm.mov(R0, 0), asm.exit_()]) as wrong:
        with pytest.raises(pybpf.BPFError, match="program type does not match"):
            tracing.attach_tracepoint(wrong, "syscalls", "sys_enter_getpid")
    assert lpe.perf_link_supported()
    with Program.load(ProgramType.TRACEPOINT, counter_insns(counter, None)) as p:
        with tracing.attach_tracepoint(p, "syscalls", "sys_enter_getpid", cookie=5) as lk:
            assert lk.is_bpf_link and lk.cookie == 5 and lk.fd != lk.perf_fd
            raw_getpid()
            assert u64(counter, 5) >= 1


def test_perf_link_probe_is_cached_and_needs_no_attach(monkeypatch):
    monkeypatch.setattr(lpe, "_perf_link_ok", None)
    first = lpe.perf_link_supported()
    assert lpe._perf_link_ok is first and lpe.perf_link_supported() is first
    assert lpe._probe_perf_link() is first


# ------------------------------------------- legacy perf attach (kernels < 5.15)
def test_legacy_set_bpf_path(counter, monkeypatch):
    """Without perf bpf_links the program goes on the perf fd with PERF_EVENT_IOC_SET_BPF."""
    monkeypatch.setattr(lpe, "_perf_link_ok", False)
    with Program.load(ProgramType.TRACEPOINT, counter_insns(counter)) as p:
        with tracing.attach_tracepoint(p, "syscalls", "sys_enter_getpid") as lk:
            assert not lk.is_bpf_link and lk.fd == lk.perf_fd
            raw_getpid()
            assert u64(counter) >= 1
            with pytest.raises(NotSupportedError):
                lk.info()
            with pytest.raises(NotSupportedError):
                lk.pin("/sys/fs/bpf/never")
            q = lk.perf_info()
            assert q["prog_id"] == p.id and q["name"] == "sys_enter_getpid"
        n = u64(counter)
        raw_getpid()
        assert u64(counter) == n
        with pytest.raises(NotSupportedError, match="cookie"):
            tracing.attach_tracepoint(p, "syscalls", "sys_enter_getpid", cookie=1)
