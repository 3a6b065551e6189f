"""pybpf.btf.cdump: BTF -> C header, checked against clang and bpftool."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess

import pytest

from pybpf.btf import (
    BTF, Array, Builder, Const, Enum, Enum64, EnumValue, Float, FuncProto, Fwd, Int, Kind, Member, Param, Ptr,
    Restrict, Struct, Typedef, Union, Volatile,
)
from pybpf.btf.cdump import CDumper, dump_c

VMLINUX = "/sys/kernel/btf/vmlinux"
CLANG = shutil.which("clang-19") or shutil.which("clang")
BPFTOOL = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.path.exists("/usr/sbin/bpftool") else None)
needs_clang = pytest.mark.skipif(CLANG is None, reason="clang not installed")
needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX), reason="no kernel BTF")
needs_bpftool = pytest.mark.skipif(BPFTOOL is None, reason="bpftool not installed")

U8 = Int("unsigned char", 1)
CHAR = Int("char", 1, signed=True)
S16 = Int("short int", 2, signed=True)
U16 = Int("short unsigned int", 2)
U32 = Int("unsigned int", 4)
S32 = Int("int", 4, signed=True)
U64 = Int("long long unsigned int", 8)
S64 = Int("long long int", 8, signed=True)
LONG = Int("long int", 8, signed=True)
ULONG = Int("long unsigned int", 8)
BOOL = Int("_Bool", 1, bool=True)
DOUBLE = Float("double", 8)


def _btf(*types) -> BTF:
    b = Builder()
    for t in types:
        b.add(t)
    b.add(LONG)
    return b.build()


def _body(btf: BTF) -> str:
    return dump_c(btf, header_guard=None, preserve_access_index=False, cache=False)


def _compile(tmp_path, source: str, *, bpf: bool = True, run: bool = False, name: str = "t") -> str:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    out = tmp_path / (f"{name}.o" if bpf else name)
    cmd = [CLANG, "-Werror=implicit-function-declaration", "-Wno-everything" if bpf else "-w"]
    cmd += ["-target", "bpf", "-O2", "-g", "-c"] if bpf else ["-O0"]
    cmd += [str(src), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:4000]
    if run:
        return subprocess.run([str(out)], capture_output=True, text=True, check=True).stdout
    return ""


def _layout_asserts(d: CDumper, limit: "int | None" = None, seed: int = 0) -> str:
    """_Static_assert()s of sizeof/offsetof for named structs/unions, using the dumper's names."""
    t = d.t
    ids = [i for i in range(1, t.n) if t.kind[i] in (4, 5) and t.name[i] and d._emit[i] == 2]
    if limit is not None and len(ids) > limit:
        ids = random.Random(seed).sample(ids, limit)
    out = []
    for i in ids:
        kw = "struct" if t.kind[i] == 4 else "union"
        name = d.type_name(i)
        out.append(f'_Static_assert(sizeof({kw} {name}) == {t.st[i]}, "size of {name}");')
        w, dd, kf = t.w, t.hdr[i] + 3, t.kflag[i]
        for j in range(dd, dd + 3 * t.vlen[i], 3):
            m, off = t.string(w[j]), w[j + 2]
            if not m or (kf and off >> 24):
                continue
            off &= 0xFFFFFF if kf else 0xFFFFFFFF
            out.append(f'_Static_assert(__builtin_offsetof({kw} {name}, {m}) * 8 == {off}, "{name}.{m}");')
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------- small BTFs
def _sample_types():
    node = Struct("node", 24, [])
    node.members = [Member("next", Ptr(node), 0), Member("prev", Ptr(node), 64), Member("val", S32, 128)]
    fp = Ptr(FuncProto(S32, [Param("a", S32), Param("b", Ptr(Const(CHAR)))]))
    fp_arr = Array(Ptr(FuncProto(Ptr(node), [Param("", U64)])), U32, 4)
    varfp = Ptr(FuncProto(S32, [Param("fmt", Ptr(Const(CHAR))), Param("", 0)]))
    e64 = Enum64("big", 8, [EnumValue("B1", 1 << 40), EnumValue("B2", -1)], signed=True)
    e64u = Enum64("small64", 8, [EnumValue("S1", 1)])
    e8 = Enum("tiny", 1, [EnumValue("T0", 0), EnumValue("T1", 1)])
    anon_e = Enum("", 4, [EnumValue("CONST_A", 1), EnumValue("CONST_B", 2)])
    bf = Struct("flags", 8, [Member("a", U32, 0, 3), Member("b", S32, 3, 5), Member("c", U32, 32, 1),
                             Member("d", U64, 40, 20)])
    packed = Struct("pk", 7, [Member("x", U8, 0), Member("y", U32, 8), Member("z", U16, 40)])
    anon = Struct("outer", 32, [
        Member("kind", S32, 0),
        Member("", Union("", 8, [Member("ptr", Ptr(node), 0), Member("num", U64, 0)]), 64),
        Member("", Struct("", 8, [Member("lo", U32, 0), Member("hi", U32, 32)]), 128),
        Member("cb", fp, 192)])
    aligned = Struct("al", 64, [Member("c", CHAR, 0), Member("l", LONG, 256)])
    holder = Struct("holder", 48, [Member("fns", fp_arr, 0), Member("e", e8, 256), Member("v", varfp, 320)])
    cv = Struct("cv", 24, [Member("p", Const(Ptr(Volatile(S32))), 0), Member("q", Ptr(Const(Ptr(CHAR))), 64),
                           Member("r", Restrict(Ptr(S32)), 128)])
    dup1 = Struct("dup", 4, [Member("a", S32, 0)])
    dup2 = Struct("dup", 8, [Member("b", U64, 0)])
    usedup = Struct("usedup", 16, [Member("x", dup1, 0), Member("y", dup2, 64)])
    fwd_user = Struct("fwduser", 8, [Member("f", Ptr(Fwd("opaque")), 0), ])
    mat = Struct("mat", 24, [Member("m", Array(Array(S16, U32, 3), U32, 2), 0), Member("d", DOUBLE, 128)])
    return [node, Typedef("node_t", node), Typedef("cb_t", fp), bf, packed, anon, aligned, holder, e64, e64u,
            anon_e, cv, usedup, fwd_user, mat]


EXPECTED_SNIPPETS = [
    "struct node {\n\tstruct node *next;\n\tstruct node *prev;\n\tint val;\n};",
    "typedef struct node node_t;",
    "typedef int (*cb_t)(int a, const char *b);",
    "struct flags {\n\tunsigned int a: 3;\n\tint b: 5;\n\tint: 24;\n\tunsigned int c: 1;\n\tchar: 7;\n"
    "\tlong long unsigned int d: 20;\n};",
    "struct pk {\n\tunsigned char x;\n\tunsigned int y;\n\tshort unsigned int z;\n} __attribute__((packed));",
    "\tunion {\n\t\tstruct node *ptr;\n\t\tlong long unsigned int num;\n\t};\n\tstruct {\n\t\tunsigned int lo;\n",
    "\tint (*cb)(int a, const char *b);",
    "struct al {\n\tchar c;\n\tlong: 64;\n\tlong: 64;\n\tlong: 64;\n\tlong int l;\n\tlong: 64;\n",
    "enum tiny {\n\tT0 = 0,\n\tT1 = 1,\n} __attribute__((mode(byte)));",
    "\tstruct node * (*fns[4])(long long unsigned int);",
    "\tint (*v)(const char *fmt, ...);",
    "enum big {\n\tB1 = 1099511627776LL,\n\tB2 = -1LL,\n};",
    "enum small64 {\n\tS1 = 1ULL,\n} __attribute__((mode(word)));",
    "enum {\n\tCONST_A = 1,\n\tCONST_B = 2,\n};",
    "\tvolatile int * const p;\n\tchar * const *q;\n\tint * restrict r;",
    "struct dup___2 {\n\tlong long unsigned int b;\n};",
    "struct opaque;\n\nstruct fwduser {",
    "\tshort int m[2][3];\n\tdouble d;",
]


def test_small_btf_text():
    text = dump_c(_btf(*_sample_types()), cache=False)
    assert text.startswith("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
                           "#pragma clang attribute push (__attribute__((preserve_access_index)), "
                           "apply_to = record)\n#endif\n\n")
    assert text.endswith("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
                         "#endif /* __VMLINUX_H__ */\n")
    for snip in EXPECTED_SNIPPETS:
        assert snip in text, snip
    # a struct is defined before it is embedded; pointers only need a forward declaration
    assert text.index("struct dup {") < text.index("struct usedup {")


def test_options():
    btf = _btf(*_sample_types())
    t = dump_c(btf, header_guard="MY_H", preserve_access_index=False, cache=False)
    assert t.startswith("#ifndef MY_H\n#define MY_H\n\nstruct node {") and "pragma" not in t
    only = dump_c(btf, types=["struct usedup"], header_guard=None, preserve_access_index=False, cache=False)
    assert only == ("struct dup {\n\tint a;\n};\n\nstruct dup___2 {\n\tlong long unsigned int b;\n};\n\n"
                    "struct usedup {\n\tstruct dup x;\n\tstruct dup___2 y;\n};\n\n")
    s = dump_c(btf, sort=True, header_guard=None, preserve_access_index=False, cache=False)

    def blocks(text):  # definitions; forward declarations depend on the order
        return sorted(b for b in text.split("\n\n") if not re.fullmatch(r"(struct|union) \w+;", b))
    assert blocks(s) == blocks(_body(btf)) and s != _body(btf)
    d = CDumper(btf)
    fp = next(x for x in btf.iter_types(Kind.TYPEDEF) if x.name == "cb_t")
    assert d.type_decl(fp.type_id, "handler") == "int (*handler)(int a, const char *b)"


@needs_clang
def test_small_btf_compiles_with_layout(tmp_path):
    btf = _btf(*_sample_types())
    d = CDumper(btf)
    d.dump_all()
    src = d.text() + _layout_asserts(d) + "int use(struct outer *o, struct holder *h) { return o->lo + h->e; }\n"
    _compile(tmp_path, src)
    _compile(tmp_path, src.replace("int use", "int main(void) { return 0; }\nint use"), bpf=False, name="host")


@needs_bpftool
def test_small_btf_matches_bpftool(tmp_path):
    btf = _btf(*_sample_types())
    ref = _bpftool_c(tmp_path, btf)
    assert _normalize(dump_c(btf, cache=False)) == _normalize(ref)


def _bpftool_c(tmp_path, btf: BTF) -> str:
    p = tmp_path / "x.btf"
    p.write_bytes(btf.data)
    return subprocess.run([BPFTOOL, "btf", "dump", "file", str(p), "format", "c"], capture_output=True,
                          text=True, check=True).stdout


def _normalize(text: str) -> str:
    # libbpf >= 1.2 adds mode(byte)/mode(word) to enums of unusual size; older bpftools do not
    return re.sub(r" __attribute__\(\(mode\((byte|word)\)\)\)", "", text)


# ---------------------------------------------------------------------- random layouts, checked by clang
_SCALARS = [(U8, "u"), (CHAR, "s"), (S16, "s"), (U16, "u"), (U32, "u"), (S32, "s"), (U64, "u"), (S64, "s"),
            (LONG, "s"), (BOOL, "b")]
_ENUMS = [Enum("e_a", 4, [EnumValue("EA0", 0), EnumValue("EA1", 5)]),
          Enum("e_b", 1, [EnumValue("EB0", 0), EnumValue("EB1", 3)]),
          Enum64("e_c", 8, [EnumValue("EC0", 1 << 33)])]


def _rand_struct(rng: random.Random, idx: int, pool: list) -> Struct:
    """A struct laid out the way a C compiler would (natural alignment, bitfields
    not straddling their unit), sometimes with extra aligned gaps, packing or
    extra tail padding, nested named/anonymous aggregates and function pointers."""
    packed = rng.random() < 0.15
    members: list[Member] = []
    bit = 0
    max_align = 1
    for j in range(rng.randint(1, 9)):
        roll = rng.random()
        if roll < 0.2 and not packed:
            t, _sg = rng.choice(_SCALARS[:-1])
            width = rng.randint(1, t.size * 8)
            unit = t.size * 8
            if bit % unit + width > unit:
                bit = (bit + unit - 1) // unit * unit
            if rng.random() < 0.2:
                bit += rng.randint(0, (unit - bit % unit - width))
            members.append(Member(f"f{j}", t, bit, width))
            bit += width
            max_align = max(max_align, t.size)
            continue
        if roll < 0.45:
            t = rng.choice(_SCALARS)[0]
        elif roll < 0.55:
            t = rng.choice(_ENUMS)
        elif roll < 0.65:
            t = Array(rng.choice(_SCALARS)[0], U32, rng.randint(0, 4))
        elif roll < 0.7:
            t = Array(Array(U16, U32, 2), U32, rng.randint(1, 3))
        elif roll < 0.8 and pool:
            t = rng.choice(pool)
        elif roll < 0.87:
            inner = [Member("ia", U32, 0), Member("ib", U8, 32)]
            t = rng.choice([Union("", 4, [Member(f"u{j}a", U32, 0), Member(f"u{j}b", U16, 0)]),
                            Struct("", 8, [Member(f"s{j}a", U32, 0), Member(f"s{j}b", U8, 32)])])
            del inner
        elif roll < 0.93:
            t = Ptr(FuncProto(S32, [Param("x", Ptr(pool[0] if pool else S32)), Param("", U64)]))
        elif roll < 0.97:
            t = DOUBLE
        else:
            t = Ptr(Const(CHAR))
        size = _size(t)
        align = 1 if packed else _align(t)
        off = (bit + 7) // 8
        off = (off + align - 1) // align * align
        if not packed and rng.random() < 0.1:
            off += align * rng.randint(1, 3)
        name = "" if isinstance(t, (Struct, Union)) and not t.name else f"m{j}"
        members.append(Member(name, t, off * 8))
        bit = (off + size) * 8
        max_align = max(max_align, align)
    size = (bit + 7) // 8
    size = (size + max_align - 1) // max_align * max_align
    if not packed and rng.random() < 0.15:
        size += max_align * rng.randint(1, 2)
    return Struct(f"r{idx}", size, members)


def _size(t) -> int:
    if isinstance(t, Array):
        return _size(t.type) * t.nelems
    if isinstance(t, (Ptr, Const)):
        return 8
    return t.size


def _align(t) -> int:
    if isinstance(t, Array):
        return _align(t.type)
    if isinstance(t, (Struct, Union)):
        return max([_align(m.type) for m in t.members] or [1]) if t.name != "packed" else 1
    if isinstance(t, (Ptr, Const)):
        return 8
    return min(t.size, 8)


def _random_btf(seed: int, n: int = 120) -> tuple[BTF, list[Struct]]:
    rng = random.Random(seed)
    pool: list[Struct] = []
    for i in range(n):
        s = _rand_struct(rng, i, [p for p in pool if not _is_packed(p)])
        pool.append(s)
    return _btf(*pool), pool


def _is_packed(s: Struct) -> bool:
    return any(not m.bitfield_size and m.bit_offset % (8 * _align(m.type)) for m in s.members) \
        or s.size % max([_align(m.type) for m in s.members] or [1]) != 0


@needs_clang
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_layouts_compile_and_match_codecs(tmp_path, seed):
    from pybpf.btf.values import codec_for
    btf, structs = _random_btf(seed)
    d = CDumper(btf)
    d.dump_all()
    # host program: fill each struct with known bytes and print every integer member
    rng = random.Random(seed)
    lines = ["#include <stdio.h>", "#include <string.h>", d.text(), _layout_asserts(d), "int main(void) {"]
    expected = []
    for s in btf.iter_types(Kind.STRUCT):
        if not s.name.startswith("r"):
            continue
        raw = bytes(rng.randrange(256) for _ in range(s.size))
        v = codec_for(btf, s).decode(raw)
        cname = d.type_name(s.id)
        lines.append(f"{{ struct {cname} x; unsigned char b[] = {{{', '.join(map(str, raw)) or '0'}}};"
                     f" memcpy(&x, b, {s.size});")
        for m in s.members:
            r = btf.resolve(m.type)
            if not m.name or r.kind not in (Kind.INT, Kind.ENUM, Kind.ENUM64) or getattr(r, "bool", False):
                continue  # (a _Bool holding 2 is undefined behaviour in C)
            bits = m.bitfield_size or r.size * 8
            mask = (1 << bits) - 1
            # compare bit patterns: C gives 1-byte enums (mode(byte)) a signed type
            lines.append(f'  printf("%llu\\n", (unsigned long long)x.{m.name} & {mask}ULL);')
            expected.append(str(int(getattr(v, m.name)) & mask))
        lines.append("}")
    lines.append("return 0; }")
    out = _compile(tmp_path, "\n".join(lines), bpf=False, run=True, name=f"r{seed}")
    assert out.split() == expected
    # and the same header builds for BPF
    _compile(tmp_path, d.text() + _layout_asserts(d) + "int x;\n", name=f"b{seed}")


@needs_bpftool
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_layouts_match_bpftool(tmp_path, seed):
    btf, _ = _random_btf(seed)
    assert _normalize(dump_c(btf, cache=False)) == _normalize(_bpftool_c(tmp_path, btf))


# ---------------------------------------------------------------------- vmlinux
_NAMED = [
    re.compile(r"^(struct|union|enum) (\w+) \{", re.M),
    re.compile(r"^(struct|union|enum) (\w+);$", re.M),
]


def _named_types(text: str) -> set[tuple[str, str]]:
    """(kind, name) of every struct/union/enum definition or declaration and typedef."""
    names = {(m.group(1), m.group(2)) for rx in _NAMED for m in rx.finditer(text)}
    for stmt in re.findall(r"^typedef (.*?);$", text, re.M | re.S):
        if stmt.rstrip().endswith("}"):
            continue
        m = re.search(r"\(\*\s*(\w+)\)", stmt) or re.search(r"(\w+)\s*(?:\[\d*\])*\s*$", stmt) \
            or re.search(r"(\w+)\(", stmt)
        if m is None:
            m = re.search(r"(\w+)\s*(?:\[\d*\])*$", stmt.split("(")[0])
        names.add(("typedef", m.group(1) if m else stmt))
    for m in re.finditer(r"^\} (\w+);$", text, re.M):  # typedef struct {...} name;
        names.add(("typedef", m.group(1)))
    return names


@pytest.fixture(scope="module")
def vmlinux_h():
    btf = BTF.load_vmlinux()
    return btf, dump_c(btf, cache=False)


@needs_vmlinux
@needs_clang
def test_vmlinux_compiles(tmp_path, vmlinux_h):
    btf, text = vmlinux_h
    (tmp_path / "vmlinux.h").write_text(text)
    prog = """#include "vmlinux.h"
#define SEC(n) __attribute__((section(n), used))
char LICENSE[] SEC("license") = "GPL";
SEC("kprobe/do_nanosleep")
int probe(struct pt_regs *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx->di;
	struct sk_buff *skb = (struct sk_buff *)ctx->si;
	return t->pid + t->tgid + skb->len + skb->protocol + (int)t->__state;
}
"""
    _compile(tmp_path, prog)


@needs_vmlinux
@needs_clang
def test_vmlinux_layout_matches_btf(tmp_path):
    btf = BTF.load_vmlinux()
    d = CDumper(btf)
    d.dump_all()
    src = d.text() + _layout_asserts(d, limit=4000, seed=7)
    _compile(tmp_path, src)


@needs_vmlinux
@needs_bpftool
def test_vmlinux_same_named_types_as_bpftool(vmlinux_h):
    btf, text = vmlinux_h
    ref = subprocess.run([BPFTOOL, "btf", "dump", "file", VMLINUX, "format", "c"], capture_output=True, text=True,
                         check=True).stdout
    ours, theirs = _named_types(text), _named_types(ref)
    assert len(ours) > 10000
    assert ours == theirs
    assert _normalize(text) == _normalize(ref)  # bpftool of the same libbpf vintage: byte-identical


@needs_vmlinux
@needs_clang
def test_vmlinux_kfuncs_and_sorted_compile(tmp_path):
    btf = BTF.load_vmlinux()
    text = dump_c(btf, kfuncs=True, sort=True, cache=False)
    assert "/* BPF kfuncs */" in text and "__weak __ksym;" in text
    (tmp_path / "vmlinux.h").write_text(text)
    _compile(tmp_path, '#include "vmlinux.h"\nint f(struct task_struct *t) { return t->pid; }\n')


@needs_vmlinux
def test_vmlinux_output_cache(tmp_path, vmlinux_h, monkeypatch):
    """cache=True fills the on-disk cache; a later call returns the same text from it
    without running the dumper (speed is measured by bench/startup.py, not here)."""
    import pybpf.btf.cdump as cdump

    btf, text = vmlinux_h
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("PYBPF_BTF_CACHE", raising=False)
    assert dump_c(btf, cache=True) == text  # fills the cache
    assert list(tmp_path.rglob("cdump-*.h"))

    def no_dump(*args, **kwargs):
        raise AssertionError("the cached text should have been used")

    monkeypatch.setattr(cdump, "_dump", no_dump)
    assert dump_c(btf) == text
    assert dump_c(btf, cache=True) == text
    with pytest.raises(AssertionError, match="cached text"):
        dump_c(btf, cache=False)
