"""pybpf.bcc's USDT API on the running kernel: USDT contexts, bpf_usdt_readarg/_p, pid filters,
semaphores, probe enumeration and errors, on a test binary with <sys/sdt.h> probes
(tests/data/uprobe/bcc_usdt.c)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from typing import Iterator

import pytest

from pybpf.bcc import BPF, USDT, USDTException
from pybpf.compile import toolchain
from pybpf.errors import Error
from pybpf.links import resolve_binary
from pybpf.links.usdt import parse_usdt_notes

pytestmark = pytest.mark.skipif(
    toolchain.zig_path() is None or not os.path.exists("/sys/kernel/btf/vmlinux"),
    reason="needs the ziglang compiler and kernel BTF")

SRC = os.path.join(os.path.dirname(__file__), "..", "data", "uprobe", "bcc_usdt.c")
N = 5


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "bcc-cache"))


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
    """Compiles C test programs with gcc; skips when gcc or <sys/sdt.h> (systemtap-sdt-dev) is missing."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build the USDT test binary")
    probe = subprocess.run(["gcc", "-fsyntax-only", "-x", "c", "-"], input="#include <sys/sdt.h>\n",
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("needs <sys/sdt.h> (systemtap-sdt-dev) to build the USDT test binary")
    d = tmp_path_factory.mktemp("bcc_usdt")

    def build(name: str, *args: str) -> str:
        out = str(d / name)
        subprocess.run(["gcc", *args, "-o", out], check=True)
        return out
    return build


@pytest.fixture(scope="module", params=["-O0", "-O2"])
def target(request, builder):
    """The probe binary: -O0 passes arguments in memory (-4@-8(%rbp)), -O2 in registers (-1@%cl)."""
    return builder("bcc_usdt" + request.param, request.param, SRC)


@pytest.fixture(scope="module")
def target_o2(builder):
    return builder("bcc_usdt_o2", "-O2", SRC)


@pytest.fixture(scope="module")
def no_probes(builder, tmp_path_factory):
    src = tmp_path_factory.mktemp("noprobes") / "plain.c"
    src.write_text("int main(void) { return 0; }\n")
    return builder("plain", str(src))


def run(binary: str, n: int = N) -> str:
    return subprocess.run([binary, str(n)], check=True, capture_output=True, text=True).stdout


@contextlib.contextmanager
def waiting(binary: str) -> Iterator[subprocess.Popen]:
    """A target process blocked before its probes ("wait" mode); killed if still alive at the end."""
    with subprocess.Popen([binary, "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        try:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
            yield p
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()


def go(p: subprocess.Popen, n: int = N) -> str:
    """Let a waiting target fire its probes n times; its output."""
    out, _ = p.communicate(f"{n}\n")
    assert p.returncode == 0
    return out


ARGS_SRC = r'''
struct rec {
    s8 c;        u16 us;     int neg;     u64 big;    char msg[16];   short k;
    long k64;    u64 us64;   u32 big32;   int missing; int zeroth;
};
BPF_HASH(recs, u32, struct rec);

int on_args(struct pt_regs *ctx) {
    struct rec r = {};
    bpf_usdt_readarg(1, ctx, &r.c);
    bpf_usdt_readarg(2, ctx, &r.us);
    bpf_usdt_readarg(3, ctx, &r.neg);
    bpf_usdt_readarg(4, ctx, &r.big);
    bpf_usdt_readarg_p(5, ctx, r.msg, sizeof(r.msg));
    bpf_usdt_readarg(6, ctx, &r.k);
    bpf_usdt_readarg(6, ctx, &r.k64);            /* signed 2-byte constant into 8 bytes */
    bpf_usdt_readarg(2, ctx, &r.us64);           /* unsigned 2 bytes into 8 bytes */
    bpf_usdt_readarg(4, ctx, &r.big32);          /* 8 bytes into 4: truncated */
    r.missing = bpf_usdt_readarg(7, ctx, &r.k64);
    r.zeroth = bpf_usdt_readarg(0, ctx, &r.k64);
    u32 i = -r.c - 1;                            /* arg 1 is -(i + 1) */
    recs.update(&i, &r);
    return 0;
}
'''


def test_readarg_every_size_sign_and_pointer(target):
    u = USDT(path=target)
    u.enable_probe("pybpf_bcc:args", "on_args")
    with BPF(text=ARGS_SRC, usdt_contexts=[u]) as b:
        assert b.num_open_uprobes() == 1
        assert run(target).startswith("done")
        got = {k.value: v for k, v in b["recs"].items()}
        assert sorted(got) == list(range(N))
        for i, r in got.items():
            assert (r.c, r.us, r.neg, r.big) == (-(i + 1), 60000 + i, -100000 * (i + 1), 0x8877665544332211 + i)
            assert r.msg == f"msg {i}".encode()
            assert (r.k, r.k64, r.us64, r.big32) == (-7, -7, 60000 + i, 0x44332211 + i)
            assert r.missing == r.zeroth == -2  # -ENOENT: no 7th argument, no argument 0 (indexes are 1-based)
    assert not b.uprobe_fds and b.module is None


PID_SRC = r'''
struct event { u32 pid; int i; char msg[16]; };
BPF_PERF_OUTPUT(events);

int on_args(struct pt_regs *ctx) {
    struct event e = {};
    e.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_usdt_readarg(1, ctx, &e.i);               /* int8 into int: sign-extended */
    e.i = -e.i - 1;
    bpf_usdt_readarg_p(5, ctx, &e.msg, sizeof(e.msg));
    events.perf_submit(ctx, &e, sizeof(e));
    return 0;
}
'''


@pytest.mark.parametrize("ignore_pid", [False, True])
def test_pid_context_filters_other_processes(target_o2, ignore_pid):
    with waiting(target_o2) as p:
        u = USDT(pid=p.pid)
        u.enable_probe("pybpf_bcc:args", "on_args")
        assert u.enumerate_active_probes() == [(target_o2.encode(), b"on_args",
                                                _note(target_o2, "pybpf_bcc", "args").abs_ip, p.pid)]
        with BPF(text=PID_SRC, usdt_contexts=[u], attach_usdt_ignore_pid=ignore_pid) as b:
            got = []
            b["events"].open_perf_buffer(lambda cpu, data, size: got.append(b["events"].event(data)))
            other = subprocess.Popen([target_o2, "3"], stdout=subprocess.DEVNULL)
            assert other.wait() == 0
            assert go(p, 4).startswith("done")
            b.perf_buffer_consume()
            seen = sorted((e.pid, e.i, e.msg) for e in got)
    mine = [(p.pid, i, f"msg {i}".encode()) for i in range(4)]
    theirs = [(other.pid, i, f"msg {i}".encode()) for i in range(3)]
    assert seen == sorted(mine + theirs if ignore_pid else mine)


GUARD_SRC = r'''
BPF_ARRAY(sum, u64, 1);
int on_guarded(struct pt_regs *ctx) {
    int i = 0;
    if (bpf_usdt_readarg(1, ctx, &i) == 0)
        sum.atomic_increment(0, i + 1);
    return 0;
}
'''


def test_semaphore_probe_fires_only_while_attached(target):
    assert run(target) == "done 0\n"
    u = USDT(path=target)
    (probe,) = [p for p in u.enumerate_probes() if p.name == b"guarded"]
    assert probe.semaphore and probe.semaphore_offset
    u.enable_probe("guarded", "on_guarded")  # the only probe named "guarded": no provider needed
    with BPF(text=GUARD_SRC, usdt_contexts=[u]) as b:
        assert run(target) == f"done {N}\n"  # the kernel raised the semaphore for the attachment
        assert b["sum"][0].value == sum(i + 1 for i in range(N))
    assert run(target) == "done 0\n"


TWO_SRC = r'''
BPF_HASH(seen, long, u64);
int on_any(struct pt_regs *ctx) {
    long v = -1;
    bpf_usdt_readarg(1, ctx, &v);
    seen.increment(v);
    return 0;
}
BPF_HASH(typed, long, long);
int BPF_USDT(on_dup, long i) {
    long sq = i * i;
    typed.update(&i, &sq);
    return 0;
}
'''


def test_one_function_for_two_probes_and_bpf_usdt(target):
    """One function on two probes whose first arguments differ (int64 in a register or memory,
    int32): each site has its own spec; libbpf's BPF_USDT works in BCC text too."""
    u = USDT(path=target)
    u.enable_probe("pybpf_dup:args", "on_any")
    u.enable_probe("pybpf_bcc:guarded", "on_any")
    u.enable_probe(b"pybpf_dup:args", b"on_dup")
    u.enable_probe("pybpf_dup:args", "on_dup")  # enabling twice is one attachment
    with BPF(text=TWO_SRC, usdt_contexts=[u]) as b:
        assert len(b.uprobe_fds) == 3
        run(target)
        assert {k.value: v.value for k, v in b["seen"].items()} == {i: 2 for i in range(N)}
        assert {k.value: v.value for k, v in b["typed"].items()} == {i: i * i for i in range(N)}


def _note(binary, provider, name):
    return next(n for n in parse_usdt_notes(binary) if (n.provider, n.name) == (provider, name))


def test_enumerate_probes_locations_arguments_ctypes(target_o2):
    u = USDT(path=target_o2)
    probes = {p.short_name(): p for p in u.enumerate_probes()}
    assert set(probes) == {"pybpf_bcc:args", "pybpf_dup:args", "pybpf_bcc:guarded"}
    args = probes["pybpf_bcc:args"]
    assert (args.provider, args.name, args.bin_path) == (b"pybpf_bcc", b"args", target_o2.encode())
    assert (args.num_locations, args.num_arguments) == (1, 6)
    note = _note(target_o2, "pybpf_bcc", "args")
    assert str(args) == f"pybpf_bcc:args [sema 0x{note.semaphore:x}]"
    loc = args.get_location(0)
    assert loc.address == note.abs_ip and str(loc) == f"{target_o2} 0x{note.abs_ip:x}"
    described = [str(loc.get_argument(i)) for i in range(loc.num_arguments)]
    assert described[0].startswith("1 signed   bytes @ ") and described[1].startswith("2 unsigned bytes @ ")
    assert described[5] == "2 signed   bytes @ -7"  # gcc -O2 passes the literal as a constant
    assert loc.get_argument(5).constant == -7 and loc.get_argument(5).valid == 1
    assert [u.get_probe_arg_ctype("pybpf_bcc:args", i) for i in range(6)] == [
        "int8_t", "uint16_t", "int32_t", "uint64_t", "uint64_t", "int16_t"]
    assert u.get_probe_arg_ctype("pybpf_dup:args", 0) == "int64_t"
    with pytest.raises(USDTException, match="has no argument 6"):
        u.get_probe_arg_ctype("pybpf_bcc:args", 6)
    with pytest.raises(USDTException, match="has no location 1"):
        args.get_location(1)
    assert u.get_text() == "" and u.enumerate_active_probes() == []
    u.enable_probe("pybpf_bcc:args", "on_args")
    assert u.get_text().startswith("/* USDT pybpf_bcc:args -> on_args: 1 site(s) in ")
    assert u.enumerate_active_probes() == [(target_o2.encode(), b"on_args", note.abs_ip, -1)]


def test_pid_context_reads_the_process_mappings(target_o2):
    with waiting(target_o2) as p:
        by_pid = USDT(pid=p.pid)
        names = {(pr.short_name(), pr.bin_path) for pr in by_pid.enumerate_probes()}
        assert ("pybpf_bcc:guarded", target_o2.encode()) in names
        both = USDT(pid=p.pid, path=target_o2)
        assert {pr.short_name() for pr in both.enumerate_probes()} == {
            "pybpf_bcc:args", "pybpf_dup:args", "pybpf_bcc:guarded"}
        go(p, 0)


def test_library_names_resolve_like_bcc():
    libc = resolve_binary("libc.so.6")
    by_name = USDT(path="c")
    assert repr(by_name).startswith(f"<USDT {libc}: ")
    assert len(by_name.enumerate_probes()) == len({(n.provider, n.name) for n in parse_usdt_notes(libc)})
    assert {p.bin_path for p in by_name.enumerate_probes()} <= {libc.encode()}


def test_errors_are_one_line_and_typed(target_o2, no_probes, tmp_path, capsys):
    def fails(match, f, *a, **kw):
        with pytest.raises(USDTException, match=match) as ei:
            f(*a, **kw)
        assert isinstance(ei.value, Error) and "\n" not in str(ei.value)

    fails("needs a pid or a binary path", USDT)
    fails("cannot find binary or library 'no_such_prog_zz'", USDT, path="no_such_prog_zz")
    text = tmp_path / "notes.txt"
    text.write_text("not an ELF file\n")
    fails(f"cannot read the probes of {text}: .*not a valid ELF file", USDT, path=str(text))
    dead = subprocess.Popen(["/bin/true"])
    dead.wait()
    fails(f"no process {dead.pid}", USDT, pid=dead.pid)
    u = USDT(path=target_o2)
    fails(r"no USDT probe 'nope' in .*; it has pybpf_bcc:args, pybpf_bcc:guarded, pybpf_dup:args", u.enable_probe,
          "nope", "f")
    fails("no USDT probe 'other:args'", u.enable_probe, "other:args", "f")
    fails(r"'args' is ambiguous .*one of pybpf_bcc, pybpf_dup \('provider:args'\)", u.enable_probe, "args", "f")
    fails(r"has no USDT probes \(no .note.stapsdt section\)", USDT(path=no_probes).enable_probe, "x", "f")
    with pytest.raises(SystemExit) as ei:
        u.enable_probe_or_bail("nope", "f")
    assert ei.value.code == 1 and "no USDT probe 'nope'" in capsys.readouterr().err


def test_enabled_function_missing_from_the_text_cleans_up(target_o2):
    u = USDT(path=target_o2)
    u.enable_probe("pybpf_bcc:guarded", "on_guarded")
    u.enable_probe("pybpf_bcc:args", "not_defined")
    with pytest.raises(Error, match="Unknown program not_defined"):
        BPF(text=GUARD_SRC, usdt_contexts=[u])
    assert run(target_o2) == "done 0\n"  # the attached guarded probe was detached again

