"""uprobe / uretprobe / uprobe_multi / USDT / kprobe attachments on the real kernel.

A test binary (tests/data/uprobe/target.c, compiled with gcc -O0 -g per session) calls
``pybpf_target_func``/``pybpf_target_other`` N times and fires USDT probes; libc functions are
triggered through ctypes. kprobes need CONFIG_KPROBES: without it the tests check the typed
NotSupportedError and skip the attach with the probed reason.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

import pytest

import pybpf
from pybpf import AttachType, Map, MapType, Program, ProgramType, asm
from pybpf._sys.consts import PerfEventType
from pybpf.asm import R0
from pybpf.errors import Error, NotSupportedError
from pybpf.links import _elfsym, kprobe, perf_event, uprobe, usdt
from pybpf.spec import ProgramSpec
from test_links_tracing import counter_insns, u64

SRC = os.path.join(os.path.dirname(__file__), "..", "data", "uprobe", "target.c")
N = 7


@pytest.fixture(scope="session")
def target_bin(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the uprobe target")
    out = str(tmp_path_factory.mktemp("uprobe") / "target")
    subprocess.run(["gcc", "-O0", "-g", "-o", out, SRC], check=True)
    return out


@pytest.fixture(scope="session")
def target_own_sdt(tmp_path_factory):
    """The same target with the test's own minimal SDT note macros (no <sys/sdt.h>)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the uprobe target")
    out = str(tmp_path_factory.mktemp("uprobe") / "target_own")
    subprocess.run(["gcc", "-O0", "-g", "-DPYBPF_OWN_SDT", "-o", out, SRC], check=True)
    return out


def run(binary: str, n: int = N) -> str:
    return subprocess.run([binary, str(n)], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def counter():
    with Map.create(MapType.ARRAY, 4, 8, 16) as m:
        yield m


@pytest.fixture
def kprog(counter):
    with Program.load(ProgramType.KPROBE, counter_insns(counter), name="probe_cnt") as p:
        yield p


@pytest.fixture
def cookie_prog(counter):
    with Program.load(ProgramType.KPROBE, counter_insns(counter, None), name="probe_cookie") as p:
        yield p


def _uprobe_events() -> str:
    from pybpf._sys.fs import find_tracefs

    with open(os.path.join(find_tracefs(), "uprobe_events")) as f:
        return f.read()


# ------------------------------------------------------------------- uprobes
def test_uprobe_and_uretprobe_on_test_binary(target_bin, counter, cookie_prog):
    with uprobe.attach_uprobe(cookie_prog, target_bin, "pybpf_target_func", cookie=1) as up, \
            cookie_prog.attach_uprobe(target_bin, "pybpf_target_func", retprobe=True, cookie=2) as ur:
        run(target_bin)
        assert u64(counter, 1) == N and u64(counter, 2) == N
        pi = up.perf_info()
        off = _elfsym.resolve_symbol(target_bin, "pybpf_target_func").offset
        assert pi["type"] == PerfEventType.UPROBE and pi["file"] == target_bin and pi["offset"] == off
        assert pi["cookie"] == 1
        assert ur.perf_info()["type"] == PerfEventType.URETPROBE
        assert up.info().type == pybpf.LinkType.PERF_EVENT and "uprobe" in repr(up)
    run(target_bin)
    assert u64(counter, 1) == N  # detached


def test_uprobe_symbol_plus_offset_and_raw_offset(target_bin, counter, kprog):
    sym = _elfsym.resolve_symbol(target_bin, "pybpf_target_other")
    # +4 lands after `push %rbp; mov %rsp,%rbp` (1 + 3 bytes) on x86-64 at -O0
    extra = 4 if os.uname().machine == "x86_64" else 0
    with uprobe.attach_uprobe(kprog, target_bin, "pybpf_target_other", offset=extra) as a, \
            uprobe.attach_uprobe(kprog, target_bin, None, offset=sym.offset):
        run(target_bin)
        assert u64(counter) == 2 * N
        assert a.perf_info()["offset"] == sym.offset + extra


def test_uprobe_libc_getpid_and_ifunc(counter, kprog):
    libc = ctypes.CDLL("libc.so.6")
    with uprobe.attach_uprobe(kprog, "libc.so.6", "getpid") as lk:
        before = u64(counter)
        for _ in range(3):
            libc.getpid()
        assert u64(counter) - before >= 3
        assert lk.perf_info()["file"] == _elfsym.resolve_binary("libc.so.6")
    sym = _elfsym.resolve_symbol("libc.so.6", "strlen")
    if sym.type != _elfsym.STT_GNU_IFUNC:
        pytest.skip("strlen is not an IFUNC in this libc")
    with uprobe.attach_uprobe(kprog, "libc", "strlen"):
        before = u64(counter)
        libc.strlen(b"hello")
        assert u64(counter) > before  # the implementation the resolver picked, not the resolver


def test_uprobe_pid_filter(target_bin, counter, kprog):
    proc = subprocess.Popen([target_bin, "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with uprobe.attach_uprobe(kprog, target_bin, "pybpf_target_func", pid=proc.pid):
            run(target_bin, 3)  # another process: not counted
            assert u64(counter) == 0
            proc.stdin.write(f"{N}\n")
            proc.stdin.flush()
            proc.wait(10)
            assert u64(counter) == N
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


def test_uprobe_tracefs_fallback_cleans_up(target_bin, counter, kprog):
    with uprobe.attach_uprobe(kprog, target_bin, "pybpf_target_func", force_tracefs=True) as lk:
        assert f"pybpf/p_target_0x" in _uprobe_events()
        run(target_bin)
        assert u64(counter) == N
        assert lk.perf_info()["type"] == PerfEventType.UPROBE
    assert f"_{os.getpid()}_" not in _uprobe_events()


def test_uprobe_bad_symbol_and_binary(target_bin, kprog):
    with pytest.raises(_elfsym.SymbolNotFoundError) as ei:
        uprobe.attach_uprobe(kprog, target_bin, "no_such_function_zz")
    assert "no_such_function_zz" in str(ei.value) and target_bin in str(ei.value)
    assert ei.value.symbol == "no_such_function_zz" and ei.value.binary == target_bin
    with pytest.raises(pybpf.NotFoundError, match="no_such_binary_zz") as bi:
        uprobe.attach_uprobe(kprog, "/nonexistent/no_such_binary_zz", "main")
    assert isinstance(bi.value, FileNotFoundError)  # what it raised before
    with pytest.raises(pybpf.NotFoundError, match="no_such_binary_zz"):
        usdt.attach_usdt(kprog, "/nonexistent/no_such_binary_zz", "prov", "probe")
    with pytest.raises(pybpf.BPFError):
        uprobe.attach_uprobe(kprog, target_bin, None, offset=1 << 40)  # beyond the file


def test_uprobe_semaphore_ref_ctr(target_bin, counter, kprog):
    tick = [n for n in usdt.parse_usdt_notes(target_bin) if n.name == "tick"]
    if not tick or not tick[0].sema_offset:
        pytest.skip("target built without <sys/sdt.h> semaphores")
    assert run(target_bin).strip() == "done 0"
    with uprobe.attach_uprobe(kprog, target_bin, None, offset=tick[0].ip_offset,
                              ref_ctr_offset=tick[0].sema_offset) as lk:
        assert run(target_bin).strip() == f"done {N}"
        assert u64(counter) == N
        assert lk.perf_info()["ref_ctr_offset"] == tick[0].sema_offset


# --------------------------------------------------------------- uprobe_multi
def _multi_prog(counter, index=None):
    return Program.load(ProgramType.KPROBE, counter_insns(counter, index),
                        expected_attach_type=AttachType.TRACE_UPROBE_MULTI, name="upmulti")


def test_uprobe_multi(target_bin, counter):
    with _multi_prog(counter) as p:
        with uprobe.attach_uprobe_multi(p, target_bin, ["pybpf_target_func", "pybpf_target_other"],
                                        cookies=[3, 4]) as lk:
            run(target_bin)
            assert u64(counter, 3) == N and u64(counter, 4) == N
            info = lk.info()
            assert info.type == pybpf.LinkType.UPROBE_MULTI and info.details["count"] == 2
            assert isinstance(lk, uprobe.UprobeMultiLink)
        with uprobe.attach_uprobe_multi(p, target_bin, ["pybpf_target_func"], retprobe=True, cookies=[5]) as lk:
            run(target_bin)
            assert u64(counter, 5) == N and lk.info().details["flags"] == uprobe.UPROBE_MULTI_RETURN


def test_uprobe_multi_errors(target_bin, counter, kprog):
    with _multi_prog(counter) as p:
        with pytest.raises(Error, match="cookies must have 2"):
            uprobe.attach_uprobe_multi(p, target_bin, ["pybpf_target_func", "pybpf_target_other"], cookies=[1])
        with pytest.raises(_elfsym.SymbolNotFoundError, match="nope_zz"):
            uprobe.attach_uprobe_multi(p, target_bin, ["nope_zz"])
    with pytest.raises(pybpf.BPFError, match="TRACE_UPROBE_MULTI"):
        uprobe.attach_uprobe_multi(kprog, target_bin, ["pybpf_target_func"])  # wrong expected_attach_type


# ----------------------------------------------------------------------- USDT
@pytest.mark.parametrize("which", ["sdt_h", "own"])
def test_usdt_loop_cookie_is_spec_id(which, target_bin, target_own_sdt, counter, cookie_prog):
    binary = target_bin if which == "sdt_h" else target_own_sdt
    notes = usdt.parse_usdt_notes(binary)
    assert {(n.provider, n.name) for n in notes} >= {("pybpf_test", "loop"), ("pybpf_test", "done")}
    loop = next(n for n in notes if n.name == "loop")
    args = usdt.parse_usdt_args(loop.args)
    assert len(args) == 2 and args[0].size == 4 and args[1].size == 8
    with Map.create(MapType.ARRAY, 4, usdt.USDT_SPEC_SIZE, usdt.USDT_MAX_SPEC_CNT) as specs:
        with cookie_prog.attach_usdt(binary, "pybpf_test", "loop", specs_map=specs, cookie=99) as lk:
            assert isinstance(lk, usdt.UsdtLink) and len(lk) == 1
            (sid, spec), = lk.specs.items()
            run(binary)
            assert u64(counter, sid) == N
            raw = bytes(specs[sid])
            assert usdt.UsdtSpec.decode(raw) == usdt.UsdtSpec(tuple(args), 99)
            assert lk.links[0].perf_info()["cookie"] == sid
        with usdt.attach_usdt(cookie_prog, binary, "pybpf_test", "done") as lk2:
            assert list(lk2.specs) == [sid]  # the id was freed on close and reused
            run(binary)
            assert u64(counter, sid) == N + 1


def test_usdt_semaphore(target_bin, counter, kprog):
    tick = next(n for n in usdt.parse_usdt_notes(target_bin) if n.name == "tick")
    assert tick.semaphore and tick.sema_offset
    with usdt.attach_usdt(kprog, target_bin, "pybpf_test", "tick"):
        assert run(target_bin).strip() == f"done {N}"  # the kernel set the semaphore
        assert u64(counter) == N
    assert run(target_bin).strip() == "done 0"


def test_usdt_missing_probe(target_bin, kprog):
    with pytest.raises(_elfsym.SymbolNotFoundError, match="pybpf_test:nope"):
        usdt.attach_usdt(kprog, target_bin, "pybpf_test", "nope")


# ------------------------------------------------------------ auto-attach
def test_auto_attach_uprobe_usdt(target_bin, counter):
    def spec_prog(section, index, **kw):
        return Program.from_spec(ProgramSpec(type=ProgramType.KPROBE, instructions=counter_insns(counter, index),
                                             section=section, **kw))
    with spec_prog(f"uprobe/{target_bin}:pybpf_target_func", 0) as a, \
            spec_prog(f"uretprobe/{target_bin}:pybpf_target_other", 1) as b, \
            spec_prog(f"usdt/{target_bin}:pybpf_test:loop", 2) as c, \
            spec_prog(f"uprobe.multi/{target_bin}:pybpf_target_*", 3,
                      expected_attach_type=AttachType.TRACE_UPROBE_MULTI) as d:
        with a.attach(), b.attach(), c.attach(), d.attach():
            run(target_bin)
        assert [u64(counter, i) for i in range(4)] == [N, N, N, 2 * N]
    with spec_prog(f"uprobe/{target_bin}", 0) as bad:
        with pytest.raises(Error, match="attach_uprobe"):
            bad.attach()


# -------------------------------------------------------------------- kprobes
def test_kprobe_reports_missing_config_kprobes(kprog):
    ok, why = kprobe.kprobes_available()
    if ok:
        pytest.skip("this kernel has kprobes")
    assert why == "CONFIG_KPROBES is not set: no kprobe PMU and no kprobe_events in tracefs"
    for call in (lambda: kprobe.attach_kprobe(kprog, "do_sys_openat2"),
                 lambda: kprog.attach_kprobe("do_sys_openat2", retprobe=True),
                 lambda: kprobe.attach_ksyscall(kprog, "openat"),
                 lambda: kprobe.attach_kprobe_multi(kprog, ["do_sys_openat2"])):
        with pytest.raises(NotSupportedError) as ei:
            call()
        assert ei.value.feature == "kprobes" and ei.value.detail == why
    spec = ProgramSpec(type=ProgramType.KPROBE, instructions=[asm.mov(R0, 0), asm.exit_()],
                       section="kprobe/do_sys_openat2", attach_to="do_sys_openat2")
    with Program.from_spec(spec) as p, pytest.raises(NotSupportedError, match="CONFIG_KPROBES"):
        p.attach()


def test_kprobe_and_kretprobe(counter, kprog):
    ok, why = kprobe.kprobes_available()
    if not ok:
        pytest.skip(why)
    with kprobe.attach_kprobe(kprog, "do_sys_openat2"), kprobe.attach_kretprobe(kprog, "do_sys_openat2"):
        open("/dev/null").close()
        assert u64(counter) >= 2
    with kprobe.attach_kprobe(kprog, "do_sys_openat2", force_tracefs=True):
        open("/dev/null").close()
    with pytest.raises(pybpf.NotFoundError, match="no_such_kfunc_zz"):
        kprobe.attach_kprobe(kprog, "no_such_kfunc_zz")


def test_ksyscall(counter, kprog):
    ok, why = kprobe.kprobes_available()
    if not ok:
        pytest.skip(why)
    with kprobe.attach_ksyscall(kprog, "getpid"):
        os.getpid()
        assert u64(counter) >= 1


def test_kprobe_multi(counter):
    for ok, why in (kprobe.kprobes_available(), kprobe.kprobe_multi_available()):
        if not ok:
            pytest.skip(why)
    with Program.load(ProgramType.KPROBE, counter_insns(counter, None),
                      expected_attach_type=AttachType.TRACE_KPROBE_MULTI) as p:
        with kprobe.attach_kprobe_multi(p, ["do_sys_openat2"], cookies=[6]) as lk:
            open("/dev/null").close()
            assert u64(counter, 6) >= 1 and lk.info().type == pybpf.LinkType.KPROBE_MULTI


def test_no_stale_pybpf_dynamic_events():
    assert f"_{os.getpid()}_" not in _uprobe_events()
    assert perf_event.EVENT_GROUP == "pybpf"
