"""Programs compiled by pybpf.compile (ziglang and clang-19, pybpf's own headers) pass the kernel
verifier: bpftool (libbpf) loads each object, and the packet programs also run (BPF_PROG_TEST_RUN)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from pybpf import AttachType, ProgramType, features
from pybpf.compile import compile, toolchain, vmlinux

DATA = Path(__file__).resolve().parents[1] / "data" / "compile"
SOURCES = sorted(p.name for p in DATA.glob("*.bpf.c"))
COMPILERS = [c for c, ok in (("zig", toolchain.zig_path() is not None), ("clang-19", shutil.which("clang-19")))
             if ok]
BPFFS = "/sys/fs/bpf"

pytestmark = [
    pytest.mark.skipif(not COMPILERS, reason="no BPF C compiler (pip install ziglang)"),
    pytest.mark.skipif(not shutil.which("bpftool"), reason="bpftool not installed"),
]


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    old = os.environ.get("PYBPF_CACHE_DIR")
    os.environ["PYBPF_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("PYBPF_CACHE_DIR", None)
    else:
        os.environ["PYBPF_CACHE_DIR"] = old


@pytest.fixture
def pindir(tmp_path):
    if not os.path.ismount(BPFFS):
        r = subprocess.run(["mount", "-t", "bpf", "bpf", BPFFS], capture_output=True)
        if r.returncode:
            pytest.skip("no bpffs")
    d = os.path.join(BPFFS, f"pybpf_compile_{os.getpid()}_{tmp_path.name}")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _functions(obj: bytes) -> set[str]:
    """Names of the program (entry) functions: global FUNC symbols outside .text."""
    elf = ELFFile(io.BytesIO(obj))
    symtab = elf.get_section_by_name(".symtab")
    out = set()
    for s in symtab.iter_symbols():
        if s["st_info"]["type"] == "STT_FUNC" and s["st_info"]["bind"] == "STB_GLOBAL":
            sec = elf.get_section(s["st_shndx"]).name
            if sec != ".text":
                out.add(s.name)
    return out


def _skip_reason(name: str) -> str:
    text = (DATA / name).read_text()
    if "vmlinux.h" in text and not os.path.exists(vmlinux.VMLINUX_BTF):
        return "kernel without BTF"
    if re.search(r'SEC\("f(entry|exit)/', text):
        ok, why = features.attach_type_status(ProgramType.TRACING, AttachType.TRACE_FENTRY)
        if not ok:
            return why
    return ""


def _loadall(obj: bytes, tmp_path: Path, pindir: str) -> set[str]:
    f = tmp_path / "prog.o"
    f.write_bytes(obj)
    r = subprocess.run(["bpftool", "prog", "loadall", str(f), pindir], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return set(os.listdir(pindir))


@pytest.mark.parametrize("cc", COMPILERS)
@pytest.mark.parametrize("name", SOURCES)
def test_compiled_example_loads(cc, name, tmp_path, pindir):
    why = _skip_reason(name)
    if why:
        pytest.skip(why)
    obj = compile(DATA / name, compiler=cc)
    assert _loadall(obj, tmp_path, pindir) == _functions(obj)


def _run(pin: str, data: bytes, tmp_path: Path) -> int:
    f = tmp_path / "pkt"
    f.write_bytes(data)
    r = subprocess.run(["bpftool", "prog", "run", "pinned", pin, "data_in", str(f), "repeat", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = re.search(r"[Rr]eturn value:\s*(\d+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    return int(m.group(1))


def _ipv4_packet(proto: int = 0x0800, dport: int = 0) -> bytes:
    """Ethernet + IPv4 + UDP (to ``dport``) + 32 bytes of payload."""
    eth = b"\x02" * 6 + b"\x04" * 6 + proto.to_bytes(2, "big")
    ip = bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    udp = (1234).to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes(4)
    return eth + ip + udp + bytes(32)


@pytest.mark.parametrize("cc", COMPILERS)
def test_compiled_packet_programs_run(cc, tmp_path, pindir):
    obj = compile(DATA / "hello.bpf.c", compiler=cc)
    _loadall(obj, tmp_path, pindir)
    assert _run(os.path.join(pindir, "hello"), _ipv4_packet(), tmp_path) == 2  # XDP_PASS
    shutil.rmtree(pindir)
    _loadall(compile(DATA / "classic_tc.bpf.c", compiler=cc), tmp_path, pindir)
    tc = os.path.join(pindir, "drop_discard")
    assert _run(tc, _ipv4_packet(dport=9), tmp_path) == 2  # TC_ACT_SHOT
    assert _run(tc, _ipv4_packet(dport=53), tmp_path) == 0  # TC_ACT_OK
    assert _run(tc, _ipv4_packet(0x86DD, dport=9), tmp_path) == 0
    shutil.rmtree(pindir)
    if "vmlinux.h" in (DATA / "features.bpf.c").read_text() and not os.path.exists(vmlinux.VMLINUX_BTF):
        return
    obj = compile(DATA / "features.bpf.c", compiler=cc)
    _loadall(obj, tmp_path, pindir)
    endian = os.path.join(pindir, "endian")
    assert _run(endian, _ipv4_packet(0x0800), tmp_path) == 2
    assert _run(endian, _ipv4_packet(0x86DD), tmp_path) == 2  # BPF_SNPRINTF + vprintk path
    assert _run(endian, _ipv4_packet(0x0806), tmp_path) == 2  # ntohl(htonl(XDP_PASS))
