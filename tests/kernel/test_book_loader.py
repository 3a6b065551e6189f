"""The object loader on the "Learning eBPF" (Liz Rice) examples, built from tests/data/book.

* chapter 3, hello.bpf.c: XDP hello with a global counter, attached to ``lo`` of a
  test network namespace; UDP traffic to 127.0.0.1 there makes ``obj.bss.counter``
  grow, and ``.rodata`` holds the bpf_printk format string;
* chapter 5, hello-buffer-config.bpf.c: a BPF_KPROBE_SYSCALL(execve) CO-RE program
  with a per-user config hash map (struct value with a ``message`` char array) and a
  perf buffer. Its CO-RE relocations must resolve exactly as libbpf resolves them
  (same relocation log lines as ``bpftool -d prog loadall``, same xlated bytecode),
  and the config map round-trips typed values.

The sources include only tests/data/book/book.h (no vmlinux.h, no libbpf headers).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

import pybpf
from pybpf.links import net
from netns import in_netns, ns  # noqa: F401  (fixture)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))
import build  # noqa: E402

BOOK = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "data", "book"))
BPFTOOL = shutil.which("bpftool")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    if os.uname().machine != "x86_64":
        pytest.skip("tests/data/book/book.h describes x86-64 pt_regs only")
    d = tmp_path_factory.mktemp("book")
    return {n: build.build(os.path.join(BOOK, f"{n}.bpf.c"), str(d / f"{n}.bpf.o"))
            for n in ("hello", "hello-buffer-config")}


def udp_to_loopback(netns: str, n: int) -> int:
    """Send ``n`` datagrams to 127.0.0.1 inside ``netns``; how many arrived.

    A datagram received has been through lo's receive path, XDP included: once this
    returns n, the XDP program has run n times (no waiting for it needed). The receive
    timeout only guards against a hang."""
    with in_netns(netns):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with rx, tx:
        rx.bind(("127.0.0.1", 0))
        port = rx.getsockname()[1]
        for i in range(n):
            tx.sendto(b"hello %d" % i, ("127.0.0.1", port))
        rx.settimeout(30.0)
        got = 0
        try:
            while got < n:
                rx.recv(64)
                got += 1
        except socket.timeout:
            pass
        return got


# ---------------------------------------------------------------------- chapter 3
def test_ch3_hello_xdp_counts_loopback_traffic(book, ns):
    with pybpf.load(book["hello"]) as obj:
        assert obj.bss.counter == 0
        # .rodata holds the bpf_printk format string: in the typed view and in the map's bytes
        fmt = obj.rodata.to_dict()["hello.____fmt"]
        assert (fmt.encode() if isinstance(fmt, str) else bytes(fmt)).rstrip(b"\0") == b"Hello World %d"
        assert b"Hello World %d\0" in bytes(obj.maps[".rodata"][0])
        assert obj.maps[".rodata"].info().flags & pybpf.MapFlags.RDONLY_PROG

        lk = net.attach_xdp(obj.programs["hello"], "lo", netns=ns)
        with lk:
            assert udp_to_loopback(ns, 5) == 5  # XDP_PASS: everything still arrives
            seen = obj.bss.counter
            assert seen >= 5  # one run per packet received through lo (UDP; plus anything else on lo)
            assert udp_to_loopback(ns, 3) == 3
            assert obj.bss.counter >= seen + 3
        after = obj.bss.counter
        assert udp_to_loopback(ns, 3) == 3
        assert obj.bss.counter == after  # detached: the packets went through lo without a run
        obj.bss.counter = 0  # the typed view writes the live map
        assert obj.programs["hello"].test_run(data=bytes(64)).retval == 2
        assert obj.bss.counter == 1


# ---------------------------------------------------------------------- chapter 5
_PATCHED = re.compile(r"prog '[^']+': relo #\d+: (?:patched insn|matching candidate|<).*")


def bpftool_loadall(path: str) -> tuple[list[str], dict[str, list[tuple]], dict[str, int]]:
    """libbpf's CO-RE log lines, the normalized xlated bytecode of every program and the
    values libbpf gave the .kconfig externs."""
    from pybpf._sys.fs import ensure_bpffs
    from pybpf.prog import Program
    from test_object_libbpf import normalize

    ensure_bpffs()
    pin_dir = f"/sys/fs/bpf/pybpf_book_{os.getpid()}"
    shutil.rmtree(pin_dir, ignore_errors=True)
    try:
        r = subprocess.run([BPFTOOL, "-d", "prog", "loadall", path, pin_dir], capture_output=True, text=True)
        if r.returncode:
            pytest.fail(f"bpftool could not load {path}:\n{r.stderr[-3000:]}")
        lines = [ln.removeprefix("libbpf: ") for ln in r.stderr.splitlines()]
        kcfg = {m.group(1): int(m.group(2), 16) for m in
                (re.fullmatch(r"extern \(kcfg\) '(\w+)': set to (0x[0-9a-f]+)", ln) for ln in lines) if m}
        xl = {}
        for name in sorted(os.listdir(pin_dir)):
            with Program.from_pin(os.path.join(pin_dir, name)) as p:
                xl[name] = normalize(p.xlated_bytes())
        return [ln for ln in lines if _PATCHED.fullmatch(ln)], xl, kcfg
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)


def _syscall_wrapper_in_kallsyms() -> bool:
    with open("/proc/kallsyms") as f:
        return any(line.rstrip().endswith(" __x64_sys_bpf") for line in f)


def test_ch5_hello_buffer_config_core_and_config_map(book):
    path = book["hello-buffer-config"]
    spec = pybpf.open(path)
    prog = spec.programs["hello"]
    assert prog.type == pybpf.ProgramType.KPROBE and prog.section == "ksyscall/execve"
    assert len(prog.core_relos) == 3  # ctx->di, and regs->di twice (the syscall-wrapper path)
    assert "LINUX_HAS_SYSCALL_WRAPPER" in spec.externs

    log: list[str] = []
    with spec.load(log=log.append) as obj:
        ours = [ln for ln in log if _PATCHED.fullmatch(ln)]
        assert sum("patched insn" in ln for ln in ours) == 3
        assert all("112" in ln for ln in ours if "patched insn" in ln)  # offsetof(struct pt_regs, di)
        assert not any("poison" in ln for ln in log)
        assert obj.kconfig.LINUX_HAS_SYSCALL_WRAPPER == int(_syscall_wrapper_in_kallsyms())

        # the typed config map: struct msg_t { char message[12]; }
        cfg = obj.maps["my_config"]
        cfg[501] = {"message": "Hi user 501!"}
        assert cfg[501].message == "Hi user 501!"
        assert bytes(cfg._ops.lookup((501).to_bytes(4, "little"))) == b"Hi user 501!"  # noqa: SLF001
        cfg[0] = {"message": "Hey root!"}
        assert cfg[0].message == "Hey root!"
        assert bytes(cfg._ops.lookup(bytes(4))) == b"Hey root!\0\0\0"  # noqa: SLF001
        assert sorted(cfg.keys()) == [0, 501]
        assert obj.data.message == "Hello World"

        out = obj.maps["output"]
        assert out.type == pybpf.MapType.PERF_EVENT_ARRAY
        assert out.max_entries == pybpf.num_possible_cpus()


@pytest.mark.skipif(BPFTOOL is None, reason="bpftool not installed")
def test_ch5_hello_buffer_config_same_as_libbpf(book, monkeypatch):
    """Same CO-RE resolution as libbpf (log lines) and same verified bytecode.

    libbpf 1.1 decides LINUX_HAS_SYSCALL_WRAPPER by creating a kprobe on
    ``__x64_sys_bpf`` (0 where kprobes are unavailable, as on some CI kernels); pybpf
    looks the symbol up in /proc/kallsyms. The verifier prunes the branch the frozen
    value rules out, so the bytecode is compared with pybpf given libbpf's value.
    """
    from pybpf import object_externs
    from test_object_libbpf import normalize

    path = book["hello-buffer-config"]
    ref_lines, ref_xlated, ref_kcfg = bpftool_loadall(path)
    assert "LINUX_HAS_SYSCALL_WRAPPER" in ref_kcfg
    monkeypatch.setattr(object_externs, "_has_syscall_wrapper", lambda: bool(ref_kcfg["LINUX_HAS_SYSCALL_WRAPPER"]))
    log: list[str] = []
    with pybpf.load(path, log=log.append) as obj:
        assert obj.kconfig.LINUX_HAS_SYSCALL_WRAPPER == ref_kcfg["LINUX_HAS_SYSCALL_WRAPPER"]
        xlated = {n: normalize(p.xlated_bytes()) for n, p in obj.programs.items()}
    assert [ln for ln in log if _PATCHED.fullmatch(ln)] == ref_lines  # candidates, specs, patched insns
    assert xlated == ref_xlated
