"""Attach encodings without a kernel: perf_event_attr for probe PMUs, tracefs command lines,
LINK_CREATE attrs (perf, tracing, iter, kprobe_multi, uprobe_multi), event names, auto-attach
section parsing, and the Link/MultiLink base classes' bookkeeping."""

from __future__ import annotations

import ctypes
import os
import re

import pytest

from pybpf._sys import perf
from pybpf._sys.attrs import LinkCreateAttr
from pybpf._sys.consts import AttachType, ProgramType
from pybpf.errors import Error, NotSupportedError
from pybpf.links import iter as liter
from pybpf.links import kprobe, link, perf_event, tracing, uprobe
from pybpf.spec import ProgramSpec


def _c_str_at(addr: int) -> bytes:
    return ctypes.string_at(addr)


# ---------------------------------------------------------------- kprobe encoding
def test_tracefs_kprobe_commands():
    assert kprobe.tracefs_kprobe_command("p_do_sys_open_0", "do_sys_open") == "p:pybpf/p_do_sys_open_0 do_sys_open"
    assert kprobe.tracefs_kprobe_command("ev", "vfs_read", 0x10) == "p:pybpf/ev vfs_read+0x10"
    assert kprobe.tracefs_kprobe_command("r_ev", "vfs_read", retprobe=True) == "r:pybpf/r_ev vfs_read"
    assert kprobe.tracefs_kprobe_command("r_ev", "vfs_read", retprobe=True, maxactive=16) == "r16:pybpf/r_ev vfs_read"
    assert kprobe.tracefs_kprobe_command("ev", None, addr=0xffffffff81000000) == "p:pybpf/ev 0xffffffff81000000"
    assert kprobe.tracefs_kprobe_command("ev", "f", group="g") == "p:g/ev f"


def test_kprobe_perf_attr():
    name = ctypes.create_string_buffer(b"do_sys_open")
    a = kprobe.kprobe_perf_attr(6, name, 8, retprobe=True, retprobe_bit=0)
    assert a.type == 6 and a.size == ctypes.sizeof(perf.PerfEventAttr) == 136
    assert a.config == 1 and a.config2 == 8 and _c_str_at(a.config1) == b"do_sys_open"
    b = kprobe.kprobe_perf_attr(6, None, 4, addr=0xffff0000)
    assert b.config == 0 and b.config1 == 0 and b.config2 == 0xffff0004


def test_kprobe_multi_attr():
    names = [ctypes.create_string_buffer(s) for s in (b"a", b"bb")]
    syms = (ctypes.c_char_p * 2)(*[ctypes.cast(n, ctypes.c_char_p) for n in names])
    cookies = (ctypes.c_uint64 * 2)(5, 6)
    a = kprobe.kprobe_multi_attr(9, 2, syms, None, cookies, retprobe=True)
    assert (a.prog_fd, a.target_fd, a.attach_type) == (9, 0, AttachType.TRACE_KPROBE_MULTI)
    k = a.kprobe_multi
    assert k.flags == kprobe.KPROBE_MULTI_RETURN and k.cnt == 2 and k.addrs == 0
    assert k.syms == ctypes.addressof(syms) and k.cookies == ctypes.addressof(cookies)
    raw = bytes(a)
    assert raw[16:20] == (1).to_bytes(4, "little") and raw[20:24] == (2).to_bytes(4, "little")


def test_kprobes_unavailable_reason(monkeypatch):
    monkeypatch.setattr(kprobe, "pmu_type", lambda pmu: None)
    monkeypatch.setattr(kprobe, "_tracefs_file", lambda name: None)
    ok, why = kprobe.kprobes_available()
    assert not ok and why == "CONFIG_KPROBES is not set: no kprobe PMU and no kprobe_events in tracefs"
    with pytest.raises(NotSupportedError) as ei:
        kprobe.attach_kprobe(3, "do_sys_open")
    assert ei.value.feature == "kprobes" and ei.value.detail == why
    with pytest.raises(NotSupportedError):
        kprobe.attach_ksyscall(3, "openat")


def test_syscall_prefix(tmp_path):
    ks = tmp_path / "kallsyms"
    arch = kprobe._ARCH_PREFIX.get(os.uname().machine, "x64")
    ks.write_text(f"ffffffff81000000 T _stext\nffffffff81001000 T __{arch}_sys_bpf\n")
    kprobe.syscall_prefix.cache_clear()
    try:
        assert kprobe.syscall_prefix(str(ks)) == f"__{arch}_sys_"
        ks.write_text("ffffffff81000000 T sys_bpf\n")
        kprobe.syscall_prefix.cache_clear()
        assert kprobe.syscall_prefix(str(ks)) == "sys_"
    finally:
        kprobe.syscall_prefix.cache_clear()


# ---------------------------------------------------------------- uprobe encoding
def test_uprobe_perf_attr_and_command():
    path = ctypes.create_string_buffer(b"/usr/bin/bash")
    a = uprobe.uprobe_perf_attr(8, path, 0x4a0, retprobe=True, retprobe_bit=0, ref_ctr_offset=0x1234)
    assert a.type == 8 and a.config2 == 0x4a0 and _c_str_at(a.config1) == b"/usr/bin/bash"
    assert a.config == 1 | (0x1234 << 32)
    assert uprobe.tracefs_uprobe_command("p_bash_0", "/usr/bin/bash", 0x4a0) == "p:pybpf/p_bash_0 /usr/bin/bash:0x4a0"
    assert uprobe.tracefs_uprobe_command("r_x", "/b", 0x10, retprobe=True, ref_ctr_offset=0x20) == \
        "r:pybpf/r_x /b:0x10(0x20)"


def test_uprobe_multi_attr():
    path = ctypes.create_string_buffer(b"/bin/x")
    offs = (ctypes.c_uint64 * 2)(0x10, 0x20)
    ck = (ctypes.c_uint64 * 2)(1, 2)
    a = uprobe.uprobe_multi_attr(7, path, offs, 2, cookies=ck, retprobe=True, pid=1234)
    u = a.uprobe_multi
    assert a.attach_type == AttachType.TRACE_UPROBE_MULTI and a.prog_fd == 7
    assert u.path == ctypes.addressof(path) and u.offsets == ctypes.addressof(offs)
    assert u.cookies == ctypes.addressof(ck) and u.ref_ctr_offsets == 0
    assert (u.cnt, u.flags, u.pid) == (2, uprobe.UPROBE_MULTI_RETURN, 1234)
    assert uprobe.uprobe_multi_attr(7, path, offs, 2, pid=-1).uprobe_multi.pid == 0


def test_pmu_format_bit(monkeypatch, tmp_path):
    real_open = open

    def fake_open(p, *a, **kw):
        if str(p).startswith("/sys/bus/event_source/devices/fakepmu/"):
            return real_open(tmp_path / os.path.basename(p), *a, **kw)
        return real_open(p, *a, **kw)
    (tmp_path / "retprobe").write_text("config:0\n")
    (tmp_path / "type").write_text("42\n")
    (tmp_path / "ref_ctr_offset").write_text("config:32-63\n")
    monkeypatch.setattr("builtins.open", fake_open)
    assert perf_event.pmu_type("fakepmu") == 42
    assert perf_event.pmu_format_bit("fakepmu", "retprobe") == 0
    assert perf_event.pmu_format_bit("fakepmu", "ref_ctr_offset") == 32
    assert perf_event.pmu_format_bit("fakepmu", "missing") is None


# ---------------------------------------------------------------- link attrs
def test_perf_link_attr():
    a = perf_event.perf_link_attr(3, 4, cookie=-1)
    assert (a.prog_fd, a.target_fd, a.attach_type) == (3, 4, AttachType.PERF_EVENT)
    assert a.perf_event.bpf_cookie == 0xFFFFFFFFFFFFFFFF
    assert bytes(a)[16:24] == b"\xff" * 8


def test_tracing_link_attr():
    a = tracing.tracing_link_attr(3, AttachType.TRACE_FENTRY, cookie=9, target_fd=5, target_btf_id=77)
    assert (a.prog_fd, a.target_fd, a.attach_type) == (3, 5, AttachType.TRACE_FENTRY)
    assert a.tracing.target_btf_id == 77 and a.tracing.cookie == 9
    raw = bytes(a)
    assert raw[16:20] == (77).to_bytes(4, "little") and raw[24:32] == (9).to_bytes(8, "little")


def test_iter_link_attr_and_options():
    assert ctypes.sizeof(liter.IterLinkInfo) == 16
    info = liter.IterOptions(tid=5).link_info()
    assert info is not None and info.task.tid == 5 and bytes(info)[:4] == (5).to_bytes(4, "little")
    a = liter.iter_link_attr(3, info)
    assert a.attach_type == AttachType.TRACE_ITER and a.iter_info == ctypes.addressof(info)
    assert a.iter_info_len == 16
    assert liter.iter_link_attr(3, None).iter_info == 0
    assert liter.IterOptions().link_info() is None
    c = liter.IterOptions(cgroup_fd=7, order=liter.CgroupIterOrder.DESCENDANTS_PRE).link_info()
    assert bytes(c)[:8] == (2).to_bytes(4, "little") + (7).to_bytes(4, "little")
    m = liter.IterOptions(map=11).link_info()
    assert m.map.map_fd == 11
    with pytest.raises(Error, match="not several"):
        liter.IterOptions(map=1, tid=2).link_info()


def test_perf_event_options():
    a = perf_event.PerfEventOptions(type=1, config=0, sample_freq=99).perf_attr()
    assert a.sample_period == 99 and a.flags & perf.FLAG_FREQ
    b = perf_event.PerfEventOptions(type=1, config=0, sample_period=1000, inherit=True).perf_attr()
    assert b.sample_period == 1000 and b.flags == perf.FLAG_INHERIT
    with pytest.raises(Error):
        perf_event.PerfEventOptions(type=1, config=0, sample_period=1, sample_freq=1).perf_attr()


def test_dynamic_event_name():
    n = perf_event.dynamic_event_name("p", "do_sys_open", index=0)
    assert n == f"p_do_sys_open_{os.getpid()}_0"
    n = perf_event.dynamic_event_name("r", "libc.so.6", 0x40, index=3)
    assert n == f"r_libc_so_6_0x40_{os.getpid()}_3"
    long = perf_event.dynamic_event_name("p", "x" * 200, index=1)
    assert len(long) <= 63 and long.endswith(f"_{os.getpid()}_1") and re.fullmatch(r"\w+", long)


# ---------------------------------------------------------------- Link base class
class _FakeLink(link.Link):
    closed_log: list[str] = []

    def __init__(self, name: str) -> None:
        super().__init__(None, kind="fake", target=name)
        self.name = name

    def _release(self) -> None:
        _FakeLink.closed_log.append(self.name)


def test_link_without_fd_raises_not_supported():
    lk = _FakeLink("a")
    assert not lk.is_bpf_link and "fake a" in repr(lk)
    for call in (lambda: lk.fd, lk.info, lambda: lk.pin("/sys/fs/bpf/x"), lambda: lk.update(3)):
        with pytest.raises(NotSupportedError):
            call()
    lk.close()
    lk.close()  # idempotent
    assert lk.closed and _FakeLink.closed_log.count("a") == 1 and "closed" in repr(lk)


def test_multilink_closes_all_even_on_error():
    class Boom(_FakeLink):
        def _release(self) -> None:
            super()._release()
            raise RuntimeError("boom")
    _FakeLink.closed_log.clear()
    ml = link.MultiLink([_FakeLink("x"), Boom("y"), _FakeLink("z")], kind="multi")
    assert len(ml) == 3 and [lk.name for lk in ml] == ["x", "y", "z"]
    with pytest.raises(RuntimeError):
        ml.close()
    assert _FakeLink.closed_log == ["x", "y", "z"] and ml.closed
    with pytest.raises(NotSupportedError, match="members"):
        link.MultiLink([_FakeLink("q")]).pin("/sys/fs/bpf/q")


def test_prog_fd_of():
    assert link.prog_fd_of(5) == 5

    class P:
        fd = 7
    assert link.prog_fd_of(P()) == 7
    with pytest.raises(TypeError):
        link.prog_fd_of("nope")


def test_registry_maps_link_types():
    from pybpf._sys.consts import LinkType

    assert link._REGISTRY[LinkType.ITER] is liter.IterLink
    assert link._REGISTRY[LinkType.PERF_EVENT] is perf_event.PerfEventLink
    assert link._REGISTRY[LinkType.RAW_TRACEPOINT] is tracing.RawTracepointLink
    assert link._REGISTRY[LinkType.UPROBE_MULTI] is uprobe.UprobeMultiLink
    assert link._REGISTRY[LinkType.KPROBE_MULTI] is kprobe.KprobeMultiLink


# ---------------------------------------------------------------- auto-attach parsing
class _FakeProg:
    def __init__(self, ptype, section, attach_to=""):
        self.type = ptype
        self.spec = ProgramSpec(type=ptype, section=section, attach_to=attach_to)
        self.fd = 99


@pytest.fixture
def recorder(monkeypatch):
    calls: list[tuple] = []

    def rec(name):
        def f(*a, **kw):
            calls.append((name, a[1:], kw))
            return name
        return f
    from pybpf.links import iter as it, usdt
    monkeypatch.setattr(tracing, "attach_tracepoint", rec("tracepoint"))
    monkeypatch.setattr(tracing, "attach_raw_tracepoint", rec("raw_tp"))
    monkeypatch.setattr(tracing, "attach_tracing", rec("tracing"))
    monkeypatch.setattr(it, "attach_iter", rec("iter"))
    monkeypatch.setattr(kprobe, "attach_kprobe", rec("kprobe"))
    monkeypatch.setattr(kprobe, "attach_ksyscall", rec("ksyscall"))
    monkeypatch.setattr(kprobe, "attach_kprobe_multi", rec("kprobe_multi"))
    monkeypatch.setattr(uprobe, "attach_uprobe", rec("uprobe"))
    monkeypatch.setattr(uprobe, "attach_uprobe_multi", rec("uprobe_multi"))
    monkeypatch.setattr(usdt, "attach_usdt", rec("usdt"))
    return calls


@pytest.mark.parametrize("ptype,section,attach_to,expect", [
    (ProgramType.TRACEPOINT, "tracepoint/syscalls/sys_enter_getpid", "syscalls/sys_enter_getpid",
     ("tracepoint", ("syscalls/sys_enter_getpid",), {})),
    (ProgramType.TRACEPOINT, "tp/sched/sched_switch", "", ("tracepoint", ("sched/sched_switch",), {})),
    (ProgramType.RAW_TRACEPOINT, "raw_tp/sys_enter", "", ("raw_tp", ("sys_enter",), {})),
    (ProgramType.RAW_TRACEPOINT_WRITABLE, "raw_tracepoint.w/x", "", ("raw_tp", ("x",), {})),
    (ProgramType.TRACING, "tp_btf/sys_enter", "sys_enter", ("tracing", (), {})),
    (ProgramType.TRACING, "fentry.s/do_x", "do_x", ("tracing", (), {})),
    (ProgramType.LSM, "lsm/file_open", "file_open", ("tracing", (), {})),
    (ProgramType.EXT, "freplace/f", "f", ("tracing", (), {})),
    (ProgramType.TRACING, "iter/task", "task", ("iter", (), {})),
    (ProgramType.KPROBE, "kprobe/do_sys_open", "", ("kprobe", ("do_sys_open", 0), {"retprobe": False})),
    (ProgramType.KPROBE, "kretprobe/do_sys_open+0x8", "", ("kprobe", ("do_sys_open", 8), {"retprobe": True})),
    (ProgramType.KPROBE, "ksyscall/openat", "", ("ksyscall", ("openat",), {"retprobe": False})),
    (ProgramType.KPROBE, "kretsyscall/openat", "", ("ksyscall", ("openat",), {"retprobe": True})),
    (ProgramType.KPROBE, "kprobe.multi/vfs_*", "", ("kprobe_multi", (), {"pattern": "vfs_*", "retprobe": False})),
    (ProgramType.KPROBE, "uprobe//bin/bash:readline", "",
     ("uprobe", ("/bin/bash", "readline"), {"offset": 0, "retprobe": False})),
    (ProgramType.KPROBE, "uretprobe/libc.so.6:malloc+0x4", "",
     ("uprobe", ("libc.so.6", "malloc"), {"offset": 4, "retprobe": True})),
    (ProgramType.KPROBE, "uprobe/libc.so.6:0x1234", "",
     ("uprobe", ("libc.so.6", None), {"offset": 0x1234, "retprobe": False})),
    (ProgramType.KPROBE, "usdt//usr/bin/python3:python:function__entry", "",
     ("usdt", ("/usr/bin/python3", "python", "function__entry"), {})),
])
def test_auto_attach_dispatch(recorder, ptype, section, attach_to, expect):
    assert tracing.auto_attach(_FakeProg(ptype, section, attach_to)) == expect[0]
    assert recorder == [expect]


@pytest.mark.parametrize("section,match", [
    ("perf_event", "attach_perf_event"), ("uprobe", "attach_uprobe"), ("usdt/bin:only", "attach_usdt"),
    ("kprobe", "attach_kprobe"), ("tracepoint", "attach_tracepoint"), ("weird/x", "attach_"),
    ("uprobe/binonly", "attach_uprobe"),
])
def test_auto_attach_errors_name_the_function(recorder, section, match):
    with pytest.raises(Error, match=match):
        tracing.auto_attach(_FakeProg(ProgramType.KPROBE, section))
    assert recorder == []


def test_auto_attach_network_types_delegate_or_explain(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("pybpf.links.net")
    fake.auto_attach = lambda prog: ("net", prog.spec.section)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pybpf.links.net", fake)
    assert tracing.auto_attach(_FakeProg(ProgramType.XDP, "xdp")) == ("net", "xdp")
    del fake.auto_attach
    with pytest.raises(Error, match="attach_xdp"):
        tracing.auto_attach(_FakeProg(ProgramType.XDP, "xdp"))


def test_tracepoint_name_validation():
    assert tracing._split_tp("a/b", None) == ("a", "b")
    assert tracing._split_tp("a:b", None) == ("a", "b")
    for bad in (("a", None), ("", "b"), ("a", "b/c"), ("..", "x")):
        with pytest.raises(Error):
            tracing._split_tp(*bad)


def test_linkcreate_union_size_matches_kernel_header():
    # union bpf_attr.link_create: 16 bytes of header + the largest member (uprobe_multi: 44 → 48 padded)
    assert ctypes.sizeof(LinkCreateAttr) >= 16 + 44
