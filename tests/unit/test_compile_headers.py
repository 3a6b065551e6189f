"""pybpf's own BPF headers: the generated helper table, and libbpf-style programs (tests/data/compile)
compiled with every available compiler (the ziglang wheel and clang-19), checked at the ELF/BTF level.
Loading them into the kernel is tests/kernel/test_compile_load.py."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from pybpf.asm import HelperID
from pybpf.btf import BTF, BTFExt, CoreReloKind
from pybpf.compile import compile, include_dir, toolchain, vmlinux
from pybpf.errors import CompileError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "compile"
SOURCES = sorted(p.name for p in DATA.glob("*.bpf.c"))
COMPILERS = [c for c, ok in (("zig", toolchain.zig_path() is not None), ("clang-19", shutil.which("clang-19")))
             if ok]
pytestmark = pytest.mark.skipif(not COMPILERS, reason="no BPF C compiler (pip install ziglang)")
HAVE_BTF = os.path.exists(vmlinux.VMLINUX_BTF)
needs_btf = pytest.mark.skipif(not HAVE_BTF, reason="kernel without BTF (vmlinux.h)")


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    """One cache for the module (vmlinux.h is generated once); bpftool stands in for pybpf's
    dumper only if the dumper is missing (test-only fallback)."""
    old = os.environ.get("PYBPF_CACHE_DIR")
    os.environ["PYBPF_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    saved = vmlinux.override
    try:
        import pybpf.btf.cdump  # noqa: F401
    except ImportError:
        if shutil.which("bpftool"):
            vmlinux.override = ("bpftool", lambda p: subprocess.run(
                ["bpftool", "btf", "dump", "file", p, "format", "c"], check=True, capture_output=True,
                text=True).stdout)
    yield
    vmlinux.override = saved
    if old is None:
        os.environ.pop("PYBPF_CACHE_DIR", None)
    else:
        os.environ["PYBPF_CACHE_DIR"] = old


def _sections(obj: bytes) -> dict[str, bytes]:
    import io

    elf = ELFFile(io.BytesIO(obj))
    return {s.name: s.data() for s in elf.iter_sections()}


def _helper_calls(code: bytes) -> set[int]:
    calls = set()
    for i in range(0, len(code) - 7, 8):
        op, regs, _off, imm = struct.unpack_from("<BBhi", code, i)
        if op == 0x85 and regs >> 4 == 0:  # call imm, src_reg 0: a helper
            calls.add(imm)
    return calls


def _btf(secs: dict[str, bytes]) -> BTF:
    return BTF.from_bytes(secs[".BTF"], base=None)


# ---------------------------------------------------------------------- the helper table

def test_helper_defs_cover_every_helper_id():
    text = (include_dir() / "bpf" / "bpf_helper_defs.h").read_text()
    decls = dict(re.findall(r"\(\* const (bpf_\w+)\)\(.*\) = \(void \*\) (\d+);", text))
    assert {n: int(i) for n, i in decls.items()} == {"bpf_" + h.name: int(h) for h in HelperID if h}
    assert "static long (* const bpf_map_update_elem)(void *map, const void *key, const void *value, " \
           "__u64 flags) = (void *) 2;" in text
    assert "static long (* const bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *) 6;" in text
    assert "static __bpf_fastcall __u32 (* const bpf_get_smp_processor_id)(void) = (void *) 8;" in text
    assert "(* const bpf_get_socket_cookie)(void *ctx)" in text  # overloaded: void *ctx


def test_helper_defs_are_what_the_generator_makes():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_helper_defs
    finally:
        sys.path.pop(0)
    src = gen_helper_defs.default_source()
    if not src.is_file() or "Start of BPF helper function descriptions" not in src.read_text():
        pytest.skip("no UAPI linux/bpf.h with helper documentation")
    committed = (include_dir() / "bpf" / "bpf_helper_defs.h").read_text()
    fresh = gen_helper_defs.generate(src)
    strip = lambda t: re.sub(r"\(Linux [\d.]+\)|\(Linux unknown\)", "", t)  # noqa: E731
    assert strip(fresh) == strip(committed), "run tools/gen_helper_defs.py"


def test_generator_type_rewrites():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_helper_defs as g
    finally:
        sys.path.pop(0)
    assert g._norm_type("struct sk_buff *") == "struct __sk_buff *"
    assert g._norm_type("const struct bpf_map *") == "const void *"
    assert g._norm_type("u64") == "__u64" and g._norm_type("size_t") == "unsigned long"
    assert g._split_param("struct xdp_buff *xdp_md") == g.Param("struct xdp_md *", "xdp_md")
    a = g.Helper("bpf_x", "long", (g.Param("struct __sk_buff *", "skb"), g.Param("__u64", "f")), ())
    b = g.Helper("bpf_x", "long", (g.Param("struct bpf_sock_ops *", "skops"), g.Param("__u64", "f")), ())
    assert g.merge_overloads([a, b]).params == (g.Param("void *", "ctx"), g.Param("__u64", "f"))


# ---------------------------------------------------------------------- example programs

@pytest.mark.parametrize("cc", COMPILERS)
@pytest.mark.parametrize("name", SOURCES)
def test_example_compiles(cc, name):
    needs = "vmlinux.h" in (DATA / name).read_text()
    if needs and not HAVE_BTF:
        pytest.skip("kernel without BTF")
    obj = compile(DATA / name, compiler=cc, cflags=["-Wall", "-Werror"])
    secs = _sections(obj)
    assert secs["license"].rstrip(b"\0") in (b"GPL", b"Dual BSD/GPL")
    assert ".BTF" in secs and ".BTF.ext" in secs
    assert ".eh_frame" not in secs
    btf = _btf(secs)
    progs = [s for s in secs if not s.startswith(".") and s not in ("license", "") and secs[s]]
    assert progs, secs.keys()
    assert all(len(secs[p]) % 8 == 0 for p in progs)
    if ".maps" in secs:
        assert btf.find(".maps")


def test_examples_agree_between_compilers():
    if len(COMPILERS) < 2:
        pytest.skip("needs both ziglang and clang-19")
    for name in SOURCES:
        if "vmlinux.h" in (DATA / name).read_text() and not HAVE_BTF:
            continue
        a, b = (_sections(compile(DATA / name, compiler=cc)) for cc in COMPILERS)
        ka = {k for k in a if not k.startswith((".debug", ".rel.debug", ".llvm"))}
        kb = {k for k in b if not k.startswith((".debug", ".rel.debug", ".llvm"))}
        assert ka == kb, name


@needs_btf
@pytest.mark.parametrize("cc", COMPILERS)
def test_features_core_relocations_and_helpers(cc):
    secs = _sections(compile(DATA / "features.bpf.c", compiler=cc))
    btf = _btf(secs)
    ext = BTFExt.from_bytes(secs[".BTF.ext"], btf)
    kinds = {CoreReloKind(r.kind) for rs in ext.core_relos.values() for r in rs}
    assert kinds >= {CoreReloKind.FIELD_BYTE_OFFSET, CoreReloKind.FIELD_BYTE_SIZE, CoreReloKind.FIELD_EXISTS,
                     CoreReloKind.FIELD_SIGNED, CoreReloKind.FIELD_LSHIFT_U64, CoreReloKind.FIELD_RSHIFT_U64,
                     CoreReloKind.TYPE_ID_LOCAL, CoreReloKind.TYPE_ID_TARGET, CoreReloKind.TYPE_EXISTS,
                     CoreReloKind.TYPE_SIZE, CoreReloKind.TYPE_MATCHES, CoreReloKind.ENUMVAL_EXISTS,
                     CoreReloKind.ENUMVAL_VALUE}
    calls = _helper_calls(secs["kprobe/do_nanosleep"])
    # printk with <= 3 args -> trace_printk; more -> trace_vprintk; CORE reads -> probe_read_kernel(_str)
    assert {HelperID.trace_printk, HelperID.trace_vprintk, HelperID.probe_read_kernel,
            HelperID.probe_read_kernel_str, HelperID.tail_call} <= calls
    assert HelperID.snprintf in _helper_calls(secs["xdp"])
    # the 9-level BPF_CORE_READ chain: 9 relocated pid/real_parent accesses in one statement
    accesses = [r.access_str for rs in ext.core_relos.values() for r in rs]
    assert len(accesses) > 20
    # map definitions: __uint/__type/__ulong land in BTF
    assert {v.type.name for v in btf.find(".maps").vars} == {"jmp", "counts", "bloom"}


@needs_btf
@pytest.mark.parametrize("cc", COMPILERS)
def test_usdt_spec_layout(cc):
    """The spec table layout the loader fills (pybpf.links.usdt encodes 16/208-byte specs)."""
    btf = _btf(_sections(compile(DATA / "usdt.bpf.c", compiler=cc)))
    assert btf.sizeof("__bpf_usdt_arg_spec") == 16 and btf.sizeof("__bpf_usdt_spec") == 208
    spec = btf.find("__bpf_usdt_arg_spec")
    offs = {m.name: (m.bit_offset, m.bitfield_size) for m in spec.members}
    assert offs == {"val_off": (0, 0), "arg_type": (64, 8), "idx_reg_off": (72, 12), "scale_bitshift": (84, 4),
                    "__reserved": (88, 8), "reg_off": (96, 0), "arg_signed": (112, 0), "arg_bitshift": (120, 0)}
    try:
        from pybpf.links import usdt as links_usdt
    except ImportError:
        return
    assert getattr(links_usdt, "USDT_SPEC_SIZE", 208) == 208


# ---------------------------------------------------------------------- header behaviour

def test_helpers_header_first_then_uapi_types():
    """bpf_helpers.h works before any type header, and a later <linux/types.h> still compiles."""
    src = textwrap.dedent("""\
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_endian.h>
        #include <linux/bpf.h>
        SEC("xdp") int f(struct xdp_md *ctx) { return bpf_ntohs(0x0100) == 1 ? XDP_PASS : XDP_DROP; }
        char LICENSE[] SEC("license") = "GPL";
        """)
    if "zig" in COMPILERS:
        assert compile(src, compiler="zig", cflags=["-Wall", "-Werror"])


def test_bpf_prog2_struct_arguments():
    src = textwrap.dedent("""\
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_tracing.h>
        struct pair { __u64 a, b; };
        struct small { char c; };
        long got;
        SEC("fentry/f") int BPF_PROG2(f, int, x, struct pair, p, struct small, s, long, y)
        {
            got = x + p.a + p.b + s.c + y;
            return 0;
        }
        char LICENSE[] SEC("license") = "GPL";
        """)
    for cc in COMPILERS:
        code = _sections(compile(src, compiler=cc))["fentry/f"]
        loads = {struct.unpack_from("<h", code, i + 2)[0] for i in range(0, len(code), 8)
                 if code[i] == 0x79 and code[i + 1] >> 4 == 1}  # ldxdw rX, [r1 + off]
        assert loads == {0, 8, 16, 24, 32}, (cc, loads)  # x, p.a, p.b, s, y: five u64 slots


_REGS = ("typedef unsigned long long u64;\ntypedef int pid_t;\ntypedef unsigned char __u8;\n"
         "typedef unsigned short __u16;\ntypedef unsigned int __u32;\ntypedef unsigned long long __u64;\n"
         "typedef int __s32;\ntypedef long long __s64;\ntypedef __u16 __be16;\ntypedef __u32 __be32;\n"
         "typedef __u32 __wsum;\n")
#: minimal per-architecture "vmlinux.h": just the register structs bpf_tracing.h touches
FAKE_VMLINUX = {
    "arm64": _REGS + "struct user_pt_regs { u64 regs[31]; u64 sp; u64 pc; u64 pstate; };\n"
                     "struct pt_regs { union { struct user_pt_regs user_regs;\n"
                     "  struct { u64 regs[31]; u64 sp; u64 pc; u64 pstate; }; }; u64 orig_x0; }\n"
                     "  __attribute__((preserve_access_index));\n",
    "riscv": _REGS + "struct user_regs_struct { u64 pc, ra, sp, gp, tp, t0, t1, t2, s0, s1,\n"
                     "  a0, a1, a2, a3, a4, a5, a6, a7; };\n"
                     "struct pt_regs { u64 epc, ra, sp, gp, tp, t0, t1, t2, s0, s1, a0, a1, a2, a3, a4, a5,\n"
                     "  a6, a7, orig_a0; } __attribute__((preserve_access_index));\n",
    "x86": _REGS + "struct pt_regs { u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di,\n"
                   "  orig_ax, ip, cs, flags, sp, ss; } __attribute__((preserve_access_index));\n",
}


@pytest.mark.parametrize("arch", ["arm64", "aarch64", "riscv64", "x86_64"])
def test_tracing_macros_for_other_arches(tmp_path, arch):
    hdr = "#define __VMLINUX_H__\n" + FAKE_VMLINUX[toolchain.target_arch(arch)]
    (tmp_path / "vmlinux.h").write_text(hdr)
    src = textwrap.dedent("""\
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_tracing.h>
        long seen;
        SEC("kprobe/f") int BPF_KPROBE(kp, long a, long b, long c, long d, long e)
        { seen = a + b + c + d + e + PT_REGS_RC(ctx) + PT_REGS_SP(ctx) + PT_REGS_IP(ctx); return 0; }
        SEC("ksyscall/g") int BPF_KSYSCALL(ks, pid_t p, long q) { seen = p + q; return 0; }
        SEC("kretprobe/h") int BPF_KRETPROBE(kr, long rc) { seen = rc; return 0; }
        char LICENSE[] SEC("license") = "GPL";
        """)
    obj = compile(src, filename=str(tmp_path / "t.bpf.c"), arch=arch, compiler=COMPILERS[0],
                  cflags=["-Wall", "-Werror"])
    code = _sections(obj)["kprobe/f"]
    loads = {struct.unpack_from("<h", code, i + 2)[0] for i in range(0, len(code), 8) if code[i] == 0x79}
    # PARM1..5, RC, SP, IP as byte offsets into the arch's register struct
    expected = {"arm64": {0, 8, 16, 24, 32, 248, 256}, "riscv": {80, 88, 96, 104, 112, 16, 0},
                "x86": {112, 104, 96, 88, 72, 80, 152, 128}}[toolchain.target_arch(arch)]
    assert loads == expected, (arch, sorted(loads))


def test_tracing_without_target_arch_explains():
    src = ('#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\nstruct pt_regs { long di; };\n'
           'SEC("kprobe/f") int BPF_KPROBE(kp, long a) { return a; }\n')
    with pytest.raises(CompileError, match="no BPF target arch"):
        compile(src, cflags=[f"-U__TARGET_ARCH_{toolchain.target_arch()}"])


def test_printk_variants_pick_the_right_helper():
    src = textwrap.dedent("""\
        #include <bpf/bpf_helpers.h>
        SEC("xdp") int a(void *ctx) { bpf_printk("none"); bpf_printk("%d %d %d", 1, 2, 3); return 2; }
        SEC("tc") int b(void *ctx) { bpf_printk("%d %d %d %d", 1, 2, 3, 4); return 0; }
        char LICENSE[] SEC("license") = "GPL";
        """)
    secs = _sections(compile(src))
    assert _helper_calls(secs["xdp"]) == {HelperID.trace_printk}
    assert _helper_calls(secs["tc"]) == {HelperID.trace_vprintk}
    assert b"%d %d %d %d" in secs[".rodata"]  # static const format strings


def test_include_dir_and_command_line():
    d = include_dir()
    assert {p.name for p in (d / "bpf").iterdir()} >= {
        "bpf_helpers.h", "bpf_helper_defs.h", "bpf_tracing.h", "bpf_core_read.h", "bpf_endian.h", "usdt.bpf.h"}
    from pybpf.compile import command_line

    cmd = command_line("x.bpf.c", "x.o")
    assert f"-isystem {d}" in cmd and "-g" in cmd.split() and cmd.endswith("-c x.bpf.c -o x.o")


def test_wrappers_without_arguments():
    src = textwrap.dedent("""\
        #include <bpf/bpf_helpers.h>
        #define __VMLINUX_H__ /* kernel pt_regs names */
        #include <bpf/bpf_tracing.h>
        struct pt_regs { unsigned long di, si, dx, cx, r8, r9, sp, bp, ax, ip; };
        long n;
        SEC("tp_btf/x") int BPF_PROG(p0) { n = ctx[0]; return 0; }
        SEC("kprobe/x") int BPF_KPROBE(k0) { n = PT_REGS_IP(ctx); return 0; }
        SEC("kretprobe/x") int BPF_KRETPROBE(r0) { n++; return 0; }
        SEC("tp_btf/y") int BPF_PROG2(q0) { n--; return 0; }
        SEC("tp_btf/z") int BPF_PROG(p12, long a, long b, long c, long d, long e, long f, long g, long h,
                                     long i, long j, long k, long l) { n = a + l; return 0; }
        char LICENSE[] SEC("license") = "GPL";
        """)
    for cc in COMPILERS:
        secs = _sections(compile(src, compiler=cc, arch="x86_64", cflags=["-Wall", "-Werror"]))
        code = secs["tp_btf/z"]
        loads = {struct.unpack_from("<h", code, i + 2)[0] for i in range(0, len(code), 8) if code[i] == 0x79}
        assert loads == {0, 88}, loads  # a = ctx[0], l = ctx[11]


@needs_btf
def test_helpers_header_before_vmlinux_h():
    src = ('#include <bpf/bpf_helpers.h>\n#include "vmlinux.h"\n#include <bpf/bpf_core_read.h>\n'
           'SEC("xdp") int f(struct xdp_md *ctx) { __be16 p = 0; __wsum w = 0; return XDP_PASS + p + w; }\n'
           'char LICENSE[] SEC("license") = "GPL";\n')
    for cc in COMPILERS:
        assert compile(src, compiler=cc, cflags=["-Wall", "-Werror"])
