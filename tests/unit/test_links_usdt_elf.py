"""USDT argument parsing and spec encoding (usdt.bpf.h layout), .note.stapsdt parsing, and the ELF
symbol resolution used by uprobes (versions, PIE offsets, IFUNC, library lookup). No kernel needed."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess

import pytest

from pybpf.errors import Error, FormatError
from pybpf.links import _elfsym, usdt
from pybpf.links.usdt import UsdtArg, UsdtArgType, UsdtSpec, parse_usdt_arg, parse_usdt_args

SRC = os.path.join(os.path.dirname(__file__), "..", "data", "uprobe", "target.c")

# x86-64 struct pt_regs offsets
AX, BX, CX, DX, SI, DI, BP, SP, IP, R8, R15 = 80, 40, 88, 96, 104, 112, 32, 152, 128, 72, 0


@pytest.mark.parametrize("text,expect", [
    ("-4@%eax", UsdtArg(UsdtArgType.REG, reg_off=AX, size=4, signed=True)),
    ("8@%rdx", UsdtArg(UsdtArgType.REG, reg_off=DX, size=8)),
    ("1@%al", UsdtArg(UsdtArgType.REG, reg_off=AX, size=1)),
    ("2@%si", UsdtArg(UsdtArgType.REG, reg_off=SI, size=2)),
    ("-1@%dil", UsdtArg(UsdtArgType.REG, reg_off=DI, size=1, signed=True)),
    ("8@%r8", UsdtArg(UsdtArgType.REG, reg_off=R8, size=8)),
    ("4@%r15d", UsdtArg(UsdtArgType.REG, reg_off=R15, size=4)),
    ("8@-8(%rbp)", UsdtArg(UsdtArgType.REG_DEREF, val_off=-8, reg_off=BP, size=8)),
    ("-4@16(%rsp)", UsdtArg(UsdtArgType.REG_DEREF, val_off=16, reg_off=SP, size=4, signed=True)),
    ("8@(%rax)", UsdtArg(UsdtArgType.REG_DEREF, val_off=0, reg_off=AX, size=8)),
    ("-4@$5", UsdtArg(UsdtArgType.CONST, val_off=5, size=4, signed=True)),
    ("8@$-1", UsdtArg(UsdtArgType.CONST, val_off=-1, size=8)),
    ("4@$0x10", UsdtArg(UsdtArgType.CONST, val_off=16, size=4)),
    ("8@-8(%rbp,%rax,8)", UsdtArg(UsdtArgType.SIB, val_off=-8, reg_off=BP, idx_reg_off=AX, scale=8, size=8)),
    ("4@(%rdx,%rcx)", UsdtArg(UsdtArgType.SIB, val_off=0, reg_off=DX, idx_reg_off=CX, scale=1, size=4)),
])
def test_parse_x86_args(text, expect):
    got = parse_usdt_arg(text, "x86_64")
    assert got == expect and got.text == text


@pytest.mark.parametrize("text,expect", [
    ("8@x0", UsdtArg(UsdtArgType.REG, reg_off=0, size=8)),
    ("-4@x19", UsdtArg(UsdtArgType.REG, reg_off=19 * 8, size=4, signed=True)),
    ("4@[sp, 12]", UsdtArg(UsdtArgType.REG_DEREF, val_off=12, reg_off=31 * 8, size=4)),
    ("-8@[x29, -16]", UsdtArg(UsdtArgType.REG_DEREF, val_off=-16, reg_off=29 * 8, size=8, signed=True)),
    ("8@[x1]", UsdtArg(UsdtArgType.REG_DEREF, val_off=0, reg_off=8, size=8)),
    ("-4@5", UsdtArg(UsdtArgType.CONST, val_off=5, size=4, signed=True)),
    ("8@sp", UsdtArg(UsdtArgType.REG, reg_off=31 * 8, size=8)),
])
def test_parse_arm64_args(text, expect):
    assert parse_usdt_arg(text, "aarch64") == expect


def test_parse_arg_lists():
    args = parse_usdt_args("-4@%esi -4@-24(%rbp) -4@%ecx 2@%ax 8@%rdx", "x86_64")
    assert [a.type for a in args] == [UsdtArgType.REG, UsdtArgType.REG_DEREF, UsdtArgType.REG, UsdtArgType.REG,
                                      UsdtArgType.REG]
    assert [a.reg_off for a in args] == [SI, BP, CX, AX, DX]
    arm = parse_usdt_args("8@x0 4@[sp, 12] -4@5", "aarch64")
    assert [a.type for a in arm] == [UsdtArgType.REG, UsdtArgType.REG_DEREF, UsdtArgType.CONST]
    assert parse_usdt_args("", "x86_64") == []
    with pytest.raises(FormatError, match="at most 12"):
        parse_usdt_args(" ".join(["8@%rax"] * 13), "x86_64")


@pytest.mark.parametrize("bad,arch", [("3@%eax", "x86_64"), ("4@%xyz", "x86_64"), ("4@foo(%rip)", "x86_64"),
                                      ("4@%eax extra", "x86_64"), ("8@x31", "aarch64"), ("nonsense", "x86_64"),
                                      ("8@-8(%rbp,%rax,3)", "x86_64")])
def test_parse_errors(bad, arch):
    with pytest.raises(FormatError):
        parse_usdt_arg(bad, arch)


def test_unsupported_arch():
    with pytest.raises(Error, match="riscv64"):
        parse_usdt_arg("8@a0", "riscv64")


def test_arg_spec_encoding_matches_usdt_bpf_h():
    # struct __bpf_usdt_arg_spec { u64 val_off; u32 arg_type:8, idx_reg_off:12, scale_bitshift:4, :8;
    #                              short reg_off; bool arg_signed; char arg_bitshift; }  (16 bytes, LE)
    a = parse_usdt_arg("-4@-24(%rbp)", "x86_64")
    raw = a.encode()
    assert len(raw) == 16
    assert raw == struct.pack("<q", -24) + struct.pack("<I", 2) + struct.pack("<h", BP) + b"\x01" + bytes([32])
    c = parse_usdt_arg("8@$7", "x86_64").encode()
    assert c == struct.pack("<Q", 7) + b"\0\0\0\0" + b"\0\0" + b"\0" + b"\0"
    sib = parse_usdt_arg("2@4(%rbx,%rsi,4)", "x86_64").encode()
    packed = 3 | (SI << 8) | (2 << 20)
    assert sib == struct.pack("<QIhbb", 4, packed, BX, 0, 48)
    for t in ("-4@-24(%rbp)", "8@$7", "2@4(%rbx,%rsi,4)", "-1@%al"):
        x = parse_usdt_arg(t, "x86_64")
        assert UsdtArg.decode(x.encode()) == x


def test_spec_encoding_layout_and_roundtrip():
    args = tuple(parse_usdt_args("-4@%edx 8@-8(%rbp) -4@$5", "x86_64"))
    s = UsdtSpec(args, cookie=0x1122334455667788)
    raw = s.encode()
    assert len(raw) == usdt.USDT_SPEC_SIZE == 208
    assert raw[:48] == b"".join(a.encode() for a in args)
    assert raw[48:192] == b"\0" * 144
    assert struct.unpack_from("<Qh", raw, 192) == (0x1122334455667788, 3)
    assert raw[202:] == b"\0" * 6
    assert UsdtSpec.decode(raw) == s
    assert UsdtSpec().encode()[192:] == b"\0" * 16
    with pytest.raises(FormatError):
        UsdtSpec.decode(raw[:100])


def test_spec_id_allocator():
    ids = usdt._SpecIds()
    a = ids.alloc(1, 3)
    assert a == [0, 1, 2] and ids.alloc(2, 1) == [0]
    ids.release(1, [1])
    assert ids.alloc(1, 2) == [1, 3]
    with pytest.raises(Error, match="too many"):
        ids.alloc(1, usdt.USDT_MAX_SPEC_CNT)


# ----------------------------------------------------------------- compiled target
@pytest.fixture(scope="module")
def target(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not available")
    d = tmp_path_factory.mktemp("t")
    out = {}
    for name, extra in (("sdt", []), ("own", ["-DPYBPF_OWN_SDT"]), ("pie_so", ["-shared", "-fPIC"])):
        path = str(d / name)
        subprocess.run(["gcc", "-O0", "-g", *extra, "-o", path, SRC], check=True)
        out[name] = path
    plain = str(d / "plain")
    subprocess.run(["gcc", "-x", "c", "-o", plain, "-"], input=b"int main(void) { return 0; }\n", check=True)
    out["plain"] = plain
    stripped = str(d / "stripped")
    subprocess.run(["gcc", "-O0", "-o", stripped, SRC], check=True)
    subprocess.run(["strip", "-s", stripped], check=True)
    out["stripped"] = stripped
    return out


def _readelf_notes(path: str) -> list[tuple[str, str, int, int, int, str]]:
    if shutil.which("readelf") is None:
        pytest.skip("readelf not available")
    text = subprocess.run(["readelf", "-n", path], check=True, capture_output=True, text=True).stdout
    out, cur = [], {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Provider:"):
            cur = {"provider": line.split(":", 1)[1].strip()}
        elif line.startswith("Name:") and cur:
            cur["name"] = line.split(":", 1)[1].strip()
        elif line.startswith("Location:") and cur:
            parts = dict(p.strip().split(": ") for p in line.split(","))
            cur.update(pc=int(parts["Location"], 16), base=int(parts["Base"], 16), sema=int(parts["Semaphore"], 16))
        elif line.startswith("Arguments:") and cur:
            cur["args"] = line.split(":", 1)[1].strip()
            out.append((cur["provider"], cur["name"], cur["pc"], cur["base"], cur["sema"], cur["args"]))
            cur = {}
    return out


@pytest.mark.parametrize("which", ["sdt", "own"])
def test_notes_match_readelf(target, which):
    notes = usdt.parse_usdt_notes(target[which])
    assert [(n.provider, n.name, n.pc, n.base, n.semaphore, n.args) for n in notes] == _readelf_notes(target[which])
    for n in notes:
        # gcc links without prelink: the .stapsdt.base address equals the note's base, no adjustment
        assert n.abs_ip == n.pc
        n.spec()  # every argument string parses


def test_note_offsets_are_file_offsets(target):
    from elftools.elf.elffile import ELFFile

    for n in usdt.parse_usdt_notes(target["sdt"]):
        with open(target["sdt"], "rb") as f:
            elf = ELFFile(f)
            assert n.ip_offset == _elfsym.vaddr_to_offset(elf, n.abs_ip)
            if n.semaphore:
                assert n.sema_offset == _elfsym.vaddr_to_offset(elf, n.semaphore)
                sec = elf.get_section_by_name(".probes")
                assert sec["sh_offset"] <= n.sema_offset < sec["sh_offset"] + sec["sh_size"]


def test_notes_prelink_adjustment(target, tmp_path):
    """A note whose recorded base differs from .stapsdt.base's address gets its pc shifted by the delta."""
    data = bytearray(open(target["own"], "rb").read())
    notes = usdt.parse_usdt_notes(target["own"])
    first = notes[0]
    # patch the first note's desc: pc -= 0x10, base -= 0x10 (as if prelinked 0x10 lower)
    needle = struct.pack("<QQ", first.pc, first.base)
    at = data.find(needle)
    assert at > 0
    data[at:at + 16] = struct.pack("<QQ", first.pc - 0x10, first.base - 0x10)
    p = tmp_path / "prelinked"
    p.write_bytes(bytes(data))
    again = usdt.parse_usdt_notes(str(p))[0]
    assert again.pc == first.pc - 0x10 and again.abs_ip == first.pc and again.ip_offset == first.ip_offset


def test_no_notes(target):
    assert usdt.parse_usdt_notes(target["plain"]) == []
    assert usdt.parse_usdt_notes(target["pie_so"])  # shared object still carries its notes


def test_resolve_symbol_in_test_binaries(target):
    from elftools.elf.elffile import ELFFile

    for which in ("sdt", "pie_so"):
        s = _elfsym.resolve_symbol(target[which], "pybpf_target_func")
        assert s.type == _elfsym.STT_FUNC and s.binary == target[which] and s.size > 0
        with open(target[which], "rb") as f:
            elf = ELFFile(f)
            text = elf.get_section_by_name(".text")
            assert s.offset == s.vaddr - text["sh_addr"] + text["sh_offset"]
    assert _elfsym.symbol_offset(target["sdt"], "pybpf_target_func+0x4") == \
        _elfsym.resolve_symbol(target["sdt"], "pybpf_target_func").offset + 4
    # stripped: .dynsym only (no local functions there)
    with pytest.raises(_elfsym.SymbolNotFoundError, match="stripped"):
        _elfsym.resolve_symbol(target["stripped"], "pybpf_target_func")


def test_symbol_not_found_names_both(target):
    with pytest.raises(_elfsym.SymbolNotFoundError) as ei:
        _elfsym.resolve_symbol(target["sdt"], "nope_zz")
    assert ei.value.symbol == "nope_zz" and ei.value.binary == target["sdt"]
    assert "nope_zz" in str(ei.value) and target["sdt"] in str(ei.value)


def test_split_symbol_version():
    assert _elfsym.split_symbol_version("malloc@@GLIBC_2.2.5") == ("malloc", "GLIBC_2.2.5", True)
    assert _elfsym.split_symbol_version("memcpy@GLIBC_2.2.5") == ("memcpy", "GLIBC_2.2.5", False)
    assert _elfsym.split_symbol_version("f") == ("f", None, False)


@pytest.fixture(scope="module")
def libc():
    try:
        return _elfsym.resolve_binary("libc.so.6")
    except FileNotFoundError:
        pytest.skip("no glibc")


def test_libc_lookup_and_versions(libc):
    assert os.path.isabs(libc) and _elfsym.resolve_binary("libc") == libc
    m = _elfsym.resolve_symbol(libc, "malloc")
    assert m.default_version and m.version.startswith("GLIBC_")
    assert _elfsym.resolve_symbol(libc, f"malloc@@{m.version}").offset == m.offset
    assert _elfsym.resolve_symbol(libc, f"malloc@{m.version}").offset == m.offset
    with pytest.raises(_elfsym.SymbolNotFoundError):
        _elfsym.resolve_symbol(libc, "malloc@NOT_A_VERSION")


def test_libc_hidden_versions_and_ifunc(libc):
    try:
        old = _elfsym.resolve_symbol(libc, "memcpy@GLIBC_2.2.5")
    except _elfsym.SymbolNotFoundError:
        pytest.skip("this libc has no memcpy@GLIBC_2.2.5 compat symbol")
    new = _elfsym.resolve_symbol(libc, "memcpy", resolve_ifunc=False)
    assert not old.default_version and new.default_version and old.vaddr != new.vaddr
    if new.type == _elfsym.STT_GNU_IFUNC:
        resolved = _elfsym.resolve_symbol(libc, "memcpy")
        assert resolved.vaddr == new.vaddr and resolved.offset != new.offset  # the implementation, not the resolver


def test_missing_binary_is_a_typed_error_naming_it(tmp_path):
    from pybpf.errors import NotFoundError
    from pybpf.links import uprobe

    for name in ("libno_such_lib_zz.so.1", str(tmp_path / "no_such_bin_zz"), "no_such_prog_zz"):
        with pytest.raises(NotFoundError) as ei:
            _elfsym.resolve_binary(name)
        e = ei.value
        assert isinstance(e, Error) and isinstance(e, FileNotFoundError)  # pybpf Error, and still what it was
        assert e.binary == name and name in str(e) and "\n" not in str(e) and e.errno == 2
    with pytest.raises(NotFoundError, match="no_such_bin_zz"):
        uprobe.resolve_offset(str(tmp_path / "no_such_bin_zz"), "main")
    with pytest.raises(NotFoundError, match="no_such_bin_zz"):
        usdt.parse_usdt_notes(str(tmp_path / "no_such_bin_zz"))


IFUNC_LIB = r"""
#include <stdio.h>
#include <stdlib.h>
static int twice_impl(int x) { return 2 * x; }
static int (*resolve_twice(void))(int) { return twice_impl; }
int twice(int) __attribute__((ifunc("resolve_twice")));
__attribute__((constructor)) static void mark(void) {
    const char *p = getenv("PYBPF_IFUNC_CTOR_MARK");
    if (p) { FILE *f = fopen(p, "w"); if (f) fclose(f); }
}
"""


def _mapped(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/maps") as f:
        return any(line.split(maxsplit=5)[-1].strip() == real for line in f if len(line.split()) >= 6)


def test_ifunc_in_unloaded_library_is_not_loaded(tmp_path, monkeypatch):
    """IFUNC resolution never dlopen()s the target (its constructors would run in the tracer):
    an unmapped library gets its resolver probed, with a warning."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not available")
    lib = str(tmp_path / "libpybpf_ifunc_zz.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O0", "-o", lib, "-x", "c", "-"], input=IFUNC_LIB.encode(),
                   check=True)
    mark = tmp_path / "ctor_ran"
    monkeypatch.setenv("PYBPF_IFUNC_CTOR_MARK", str(mark))
    raw = _elfsym.resolve_symbol(lib, "twice", resolve_ifunc=False)
    assert raw.type == _elfsym.STT_GNU_IFUNC
    with pytest.warns(RuntimeWarning, match="not loaded in this process"):
        sym = _elfsym.resolve_symbol(lib, "twice")
    assert sym.offset == raw.offset  # the resolver
    assert not mark.exists() and not _mapped(lib)
    # Once the process has it mapped, the implementation the loader bound is used.
    import ctypes

    ctypes.CDLL(lib)
    assert mark.exists() and _mapped(lib)
    impl = _elfsym.resolve_symbol(lib, "twice")
    assert impl.offset != raw.offset and impl.vaddr == raw.vaddr


def test_resolve_binary_errors_and_path_lookup(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_lib_zz"):
        _elfsym.resolve_binary("libno_such_lib_zz.so.1")
    with pytest.raises(FileNotFoundError):
        _elfsym.resolve_binary(str(tmp_path / "missing"))
    sh = shutil.which("sh")
    if sh:
        assert _elfsym.resolve_binary("sh") == os.path.abspath(sh)
    with pytest.raises(Error):
        _elfsym.resolve_binary("")


def test_ld_so_cache_parse(tmp_path):
    # A synthetic new-format cache: header(48) + 2 entries(24 each) + strings.
    strings = b"libfoo.so.1\0/opt/lib/libfoo.so.1\0libbar.so\0/opt/lib/libbar.so\0"
    hdr_len, ent_len = 48, 24
    str_base = hdr_len + 2 * ent_len
    offs = [str_base + strings.index(s) for s in (b"libfoo.so.1", b"/opt/lib/libfoo.so.1", b"libbar.so",
                                                     b"/opt/lib/libbar.so")]
    hdr = b"glibc-ld.so.cache1.1" + struct.pack("<II", 2, len(strings)) + b"\0" * (hdr_len - 28)
    ents = struct.pack("<iIIIQ", 0x303, offs[0], offs[1], 0, 0) + struct.pack("<iIIIQ", 0x303, offs[2], offs[3], 0, 0)
    p = tmp_path / "ld.so.cache"
    p.write_bytes(hdr + ents + strings)
    assert _elfsym.ld_so_cache(str(p)) == [("libfoo.so.1", "/opt/lib/libfoo.so.1"), ("libbar.so", "/opt/lib/libbar.so")]
    # with an old-format header in front, offsets stay relative to the new header
    old = b"ld.so-1.7.0" + b"\0" * 5
    p.write_bytes(old + hdr + ents + strings)
    assert _elfsym.ld_so_cache(str(p))[0] == ("libfoo.so.1", "/opt/lib/libfoo.so.1")
    assert _elfsym.ld_so_cache(str(tmp_path / "nope")) == []


def test_match_symbols(target):
    assert _elfsym.match_symbols(target["sdt"], "pybpf_target_*") == ["pybpf_target_func", "pybpf_target_other"]
