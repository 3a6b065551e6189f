"""The disassembler: llvm, bpf_conformance and bpftool xlated styles."""

from __future__ import annotations

import pytest

from pybpf.asm import (
    B, DW, FP, H, R0, R1, R2, R3, R4, R5, R6, R9, R10, W, Builder, Instruction, KallsymsResolver,
    addr_space_cast, assemble, atomic_add, atomic_or, be, bswap, call, call_kfunc,
    call_local, cmpxchg, decode, disassemble, encode, exit_, format_instruction, is_canonical, ja,
    ja32, jeq, jsgt32, ld_abs, ld_btf_id, ld_func, ld_imm64, ld_ind, ld_map_by_name, ld_map_fd,
    ld_map_idx, ld_map_idx_value, ld_map_value, ldx, ldxsx, le, load_acquire, may_goto, mov,
    mov32, movsx, neg, neg32, sdiv32, smod, st, store_release, stx, xchg, arsh,
)
from pybpf.errors import AssemblerError


def test_llvm_style_basic() -> None:
    prog = [mov(R0, 0), ldx(W, R2, R1, 0), jeq(R1, 0, 3), call(6), call_local(-1), exit_()]
    assert disassemble(prog) == (
        "r0 = 0x0\n"
        "r2 = *(u32 *)(r1 + 0x0)\n"
        "if r1 == 0x0 goto +0x3\n"
        "call 0x6\n"
        "call -0x1\n"
        "exit\n"
    )
    assert disassemble(prog, addresses=True).splitlines()[2] == "   2: if r1 == 0x0 goto +0x3"
    assert disassemble(encode(prog)) == disassemble(prog)
    assert disassemble([]) == ""


def test_llvm_style_hexdump_reads_back() -> None:
    prog = [ld_imm64(R1, 0x1122334455667788), ld_map_fd(R2, 5), call_local(1), exit_(), exit_()]
    text = disassemble(prog, hexdump=True)
    assert text.splitlines()[0] == (
        "       0:\t18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11\tr1 = 0x1122334455667788 ll")
    assert assemble(text) == prog


def test_llvm_style_alu32() -> None:
    prog = [ldx(B, R2, R1, -8), stx(W, R10, -4, R1), atomic_add(W, R1, 0, R2), atomic_add(DW, R1, 0, R2)]
    assert disassemble(prog, alu32=True) == (
        "w2 = *(u8 *)(r1 - 0x8)\n"
        "*(u32 *)(r10 - 0x4) = w1\n"
        "lock *(u32 *)(r1 + 0x0) += w2\n"
        "lock *(u64 *)(r1 + 0x0) += r2\n"
    )
    assert disassemble(prog) == (
        "r2 = *(u8 *)(r1 - 0x8)\n"
        "*(u32 *)(r10 - 0x4) = r1\n"
        "lock *(u32 *)(r1 + 0x0) += r2\n"
        "lock *(u64 *)(r1 + 0x0) += r2\n"
    )


@pytest.mark.parametrize("insn,text", [
    (ld_map_fd(R1, 3), "r1 = map_fd(3) ll"),
    (ld_map_value(R1, 3, 8), "r1 = map_value(3, 8) ll"),
    (ld_map_idx(R1, 2), "r1 = map_idx(2) ll"),
    (ld_map_idx_value(R1, 2, 16), "r1 = map_idx_value(2, 16) ll"),
    (ld_btf_id(R1, 77), "r1 = btf_id(77) ll"),
    (ld_btf_id(R1, 77, 4), "r1 = btf_id(77, 4) ll"),
    (ld_func(R2, -5), "r2 = func(-5) ll"),
    (ld_map_by_name(R1, "events"), "r1 = map_fd(events) ll"),
    (ld_map_by_name(R1, "cfg", offset=8), "r1 = map_value(cfg, 8) ll"),
    (ld_map_fd(R1, 9).replace(symbol="events"), "r1 = map_fd(9) ll @events"),
    (call_kfunc(1234), "call kfunc(1234)"),
    (call_kfunc(1234, 3), "call kfunc(1234, 3)"),
    (call_local(5), "call +0x5"),
    (Instruction(0x85, 0, 0, 0, -2), "call helper(-0x2)"),
    (ld_ind(W, R1, 4), "r0 = *(u32 *)skb[r1 + 0x4]"),
    (ld_ind(W, R1, -4), "r0 = *(u32 *)skb[r1 - 0x4]"),
    (load_acquire(B, R0, R1, 2), "w0 = load_acquire((u8 *)(r1 + 0x2))"),
    (load_acquire(DW, R0, R1, 2), "r0 = load_acquire((u64 *)(r1 + 0x2))"),
    (store_release(H, R1, -2, R3), "store_release((u16 *)(r1 - 0x2), w3)"),
    (addr_space_cast(R1, R2, 0, 1), "r1 = addr_space_cast(r2, 0x0, 0x1)"),
    (may_goto(3), "may_goto +0x3"),
    (Instruction(0x8D, 1), "callx r1"),
    (Instruction(0x8C, 1, 2, 0, 0), ".insn 0x8c, 1, 2, 0, 0x0"),
    (Instruction(0xB7, 0, 3, 0, 5), ".insn 0xb7, 0, 3, 0, 0x5"),
    (Instruction(0x07, 1, 0, 0, 1, reference="x"), "r1 += 0x1"),
])
def test_llvm_extensions(insn: Instruction, text: str) -> None:
    assert format_instruction(insn) == text
    if insn.reference is None:
        assert assemble(text) == [insn]


def test_labels_in_output() -> None:
    b = Builder()
    b.mov(R0, 0).jeq(R1, 0, "out").call_local("fn")
    b.label("out").exit_()
    b.label("fn").mov(R0, 1).ja32("out")
    prog = b.build()
    llvm = disassemble(prog)
    assert llvm == (
        "r0 = 0x0\n"
        "if r1 == 0x0 goto +0x1 <out>\n"
        "call +0x1\n"
        "out:\n"
        "exit\n"
        "fn:\n"
        "r0 = 0x1\n"
        "gotol -0x3 <out>\n"
    )
    conf = disassemble(prog, "conformance")
    assert conf == (
        "mov %r0, 0\n"
        "jeq %r1, 0, out\n"
        "call local fn\n"
        "out:\n"
        "exit\n"
        "fn:\n"
        "mov %r0, 1\n"
        "ja32 out\n"
    )
    assert assemble(llvm) == prog
    assert assemble(conf, "conformance") == prog
    assert disassemble(prog, labels=False).count(":") == 0


def test_unresolved_references_print_as_names() -> None:
    prog = [jeq(R1, 0, "out"), call_local("fn"), ld_func(R2, "cb"), ja("top"), ja32("x")]
    text = disassemble(prog)
    assert text == "if r1 == 0x0 goto out\ncall fn\nr2 = func(cb) ll\ngoto top\ngotol x\n"
    assert assemble(text, resolve=False) == prog
    assert assemble(disassemble(prog, "conformance"), "conformance", resolve=False) == prog


@pytest.mark.parametrize("insn,text", [
    (mov(R0, 1), "mov %r0, 1"),
    (mov(R0, 11), "mov %r0, 0xb"),
    (mov(R0, -100), "mov %r0, -100"),
    (mov(R0, -0x80000000), "mov %r0, 0x80000000"),
    (mov32(R1, R2), "mov32 %r1, %r2"),
    (sdiv32(R1, 3), "sdiv32 %r1, 3"),
    (smod(R1, R2), "smod %r1, %r2"),
    (movsx(R1, R2, 8), "movsx864 %r1, %r2"),
    (neg(R1), "neg %r1"),
    (neg32(R1), "neg32 %r1"),
    (be(R1, 16), "be16 %r1"),
    (le(R1, 32), "le32 %r1"),
    (bswap(R1, 64), "swap64 %r1"),
    (ld_imm64(R0, -1), "lddw %r0, 0xffffffffffffffff"),
    (ldx(H, R0, R1, 2), "ldxh %r0, [%r1+2]"),
    (ldx(DW, R0, R10, -8), "ldxdw %r0, [%r10-8]"),
    (ldxsx(B, R0, R1, 0), "ldxsb %r0, [%r1]"),
    (st(W, R1, 4, 5), "stw [%r1+4], 5"),
    (stx(DW, R10, -8, R1), "stxdw [%r10-8], %r1"),
    (atomic_add(DW, R10, -8, R1), "lock add [%r10-8], %r1"),
    (atomic_or(W, R10, -8, R1, fetch=True), "lock fetch or32 [%r10-8], %r1"),
    (xchg(W, R10, -8, R1), "lock xchg32 [%r10-8], %r1"),
    (cmpxchg(DW, R10, -8, R1), "lock cmpxchg [%r10-8], %r1"),
    (jeq(R1, 0, 3), "jeq %r1, 0, +3"),
    (jsgt32(R1, R2, -3), "jsgt32 %r1, %r2, -3"),
    (ja(1), "ja +1"),
    (ja32(-2), "ja32 -2"),
    (call(12), "call helper 0xc"),
    (call_local(4), "call local +4"),
    (call_kfunc(99), "call runtime 0x63"),
    (Instruction(0x8D, 2), "call helper %r2"),
    (exit_(), "exit"),
    (ld_abs(H, 12), "ldabsh 0xc"),
    (ld_ind(B, R1, 2), "ldindb %r1, 2"),
    (load_acquire(W, R0, R1, 0), "ldxacqw %r0, [%r1]"),
    (store_release(DW, R1, 8, R2), "stxreldw [%r1+8], %r2"),
    (ld_map_fd(R1, 3), "lddw %r1, map_fd(3)"),
])
def test_conformance_style(insn: Instruction, text: str) -> None:
    assert format_instruction(insn, "conformance") == text
    assert assemble(text, "conformance") == [insn]


def _kernel_program(map_fd: int) -> list[Instruction]:
    """The program used to check the xlated style against Linux 6.18 + bpftool."""
    a = Builder()
    a.mov(R6, R1).mov(R1, 0).stx(W, R10, -4, R1).st(DW, R10, -16, 5)
    a.mov(R2, R10).add(R2, -4).ld_map_fd(R1, map_fd).call("map_lookup_elem")
    a.jeq(R0, 0, "out")
    a.ldx(DW, R1, R0, 0).atomic_add(DW, R0, 0, R1).atomic_add(DW, R0, 0, R1, fetch=True)
    a.xchg(DW, R0, 0, R1).mov(R9, R0).mov(R0, 0).cmpxchg(DW, R9, 0, R1).mov(R0, R9)
    a.atomic_or(W, R0, 0, R1).atomic_xor(W, R0, 0, R1, fetch=True)
    a.ldxsx(B, R3, R0, 0).movsx(R4, R3, 16).mov32(R5, 7).sdiv32(R5, 2).smod(R4, 3).bswap(R4, 16)
    a.be(R4, 32).le(R4, 64)
    a.neg(R4).neg32(R5).arsh(R4, 3).lsh32(R5, R5).jsgt32(R5, -3, 1).ja32(0).mov(R1, R0)
    a.label("out").mov(R1, R10).add(R1, -16).mov(R2, 8).call("trace_printk")
    a.call("ktime_get_ns").call("get_prandom_u32").ld_map_value(R1, map_fd, 0)
    a.ld_imm64(R2, 0x1122334455667788).call_local("sub")
    a.mov(R0, 0).exit_()
    a.label("sub").mov(R0, 1).exit_()
    return a.build()


def test_kernel_verified_tag() -> None:
    from pybpf.asm import program_tag

    # `bpftool prog show` on Linux 6.18 reported tag 42d7e7d75bcde531 for this program
    # (the map fd is zeroed before hashing, so any fd gives the same tag).
    assert program_tag(_kernel_program(3), "sha256") == "42d7e7d75bcde531"
    assert program_tag(_kernel_program(77), "sha256") == "42d7e7d75bcde531"


# `bpftool prog dump xlated` of the program above as translated by Linux 6.18; the array
# map lookup is inlined by the verifier (insns 6-14). Lines 44-46 call helpers through
# kallsyms addresses; 51 is a bpf-to-bpf call of a JITed program.
XLATED_6_18 = """\
   0: (bf) r6 = r1
   1: (b7) r1 = 0
   2: (63) *(u32 *)(r10 -4) = r1
   3: (7a) *(u64 *)(r10 -16) = 5
   4: (bf) r2 = r10
   5: (07) r2 += -4
   6: (18) r1 = map[id:382]
   8: (07) r1 += 312
   9: (61) r0 = *(u32 *)(r2 +0)
  10: (35) if r0 >= 0x1 goto pc+3
  11: (67) r0 <<= 3
  12: (0f) r0 += r1
  13: (05) goto pc+1
  14: (b7) r0 = 0
  15: (15) if r0 == 0x0 goto pc+25
  16: (79) r1 = *(u64 *)(r0 +0)
  17: (db) lock *(u64 *)(r0 +0) += r1
  18: (db) r1 = atomic64_fetch_add((u64 *)(r0 +0), r1)
  19: (db) r1 = atomic64_xchg((u64 *)(r0 +0), r1)
  20: (bf) r9 = r0
  21: (b7) r0 = 0
  22: (db) r0 = atomic64_cmpxchg((u64 *)(r9 +0), r0, r1)
  23: (bf) r0 = r9
  24: (c3) lock *(u32 *)(r0 +0) |= r1
  25: (c3) r1 = atomic_fetch_xor((u32 *)(r0 +0), r1)
  26: (91) r3 = *(s8 *)(r0 +0)
  27: (bf) r4 = (s16)r3
  28: (b4) w5 = 7
  29: (34) w5 s/= 2
  30: (97) r4 s%= 3
  31: (d7) r4 = bswap16 r4
  32: (dc) r4 = be32 r4
  33: (d4) r4 = le64 r4
  34: (87) r4 = -r4
  35: (84) w5 = -w5
  36: (c7) r4 s>>= 3
  37: (6c) w5 <<= w5
  38: (66) if w5 s> 0xfffffffd goto pc+1
  39: (06) gotol pc+0
  40: (bf) r1 = r0
  41: (bf) r1 = r10
  42: (07) r1 += -16
  43: (b7) r2 = 8
  44: (85) call bpf_trace_printk#-61360
  45: (85) call bpf_ktime_get_ns#269488
  46: (85) call bpf_user_rnd_u32#22592
  47: (18) r1 = map[id:230][0]+0
  49: (18) r2 = 0x1122334455667788
  51: (85) call pc+2#bpf_prog_b11459a0e11ca14c_F
  52: (b7) r0 = 0
  53: (95) exit
  54: (b7) r0 = 1
  55: (95) exit
"""

# How bpftool v7.1 (whose disassembler is Linux 6.1's) printed the v4 instructions.
XLATED_6_1_DIFF = {
    26: "  26: BUG_ldx_91",
    27: "  27: (bf) r4 = r3",
    29: "  29: (34) w5 /= 2",
    30: "  30: (97) r4 %= 3",
    31: "  31: BUG_alu64_d7",
    39: "  39: (06) if w0 jmp 0x0 goto pc+0",
}


def _xlated_insns() -> list[Instruction]:
    insns = assemble(XLATED_6_18, "xlated")
    # bpf-to-bpf calls of JITed programs carry the offset in off and the subprog index in imm
    return [i.replace(off=i.imm, imm=1) if i.is_local_call else i for i in insns]


def _resolver() -> KallsymsResolver:
    base = 0xFFFFFFFF81000000
    return KallsymsResolver(
        symbols={base - 61360: "bpf_trace_printk", base + 269488: "bpf_ktime_get_ns",
                 base + 22592: "bpf_user_rnd_u32", 0xFFFFFFFFC0022058: "bpf_prog_b11459a0e11ca14c_F"},
        call_base=base, jited_ksyms=[0xFFFFFFFFC0026BB8, 0xFFFFFFFFC0022058])


def test_xlated_matches_bpftool() -> None:
    insns = _xlated_insns()
    assert disassemble(insns, "xlated", call_resolver=_resolver()) == XLATED_6_18


def test_xlated_version_compat() -> None:
    lines = XLATED_6_18.splitlines()
    for idx, text in XLATED_6_1_DIFF.items():
        pos = next(i for i, line in enumerate(lines) if line.startswith(f"{idx:4d}:"))
        lines[pos] = text
    expected = "\n".join(lines) + "\n"
    out = disassemble(_xlated_insns(), "xlated", call_resolver=_resolver(), version=(6, 1))
    assert out == expected


def test_xlated_defaults_without_resolver() -> None:
    prog = [call(6), Instruction(0x85, 0, 0, 0, -61360), call_local(3), call_kfunc(55),
            Instruction(0x85, 0, 1, 2, 1)]
    assert disassemble(prog, "xlated", addresses=False) == (
        "(85) call bpf_trace_printk#6\n"
        "(85) call unknown#-61360\n"
        "(85) call pc+3\n"
        "(85) call kernel-function#55\n"
        "(85) call pc+2\n"
    )


@pytest.mark.parametrize("insn,text", [
    (mov32(R0, 1), "(b4) w0 = 1"),
    (mov(R1, R10), "(bf) r1 = r10"),
    (Instruction(0x07, 1, 0, 0, -8), "(07) r1 += -8"),
    (stx(DW, R10, -8, R1), "(7b) *(u64 *)(r10 -8) = r1"),
    (ldx(W, R3, R6, 0), "(61) r3 = *(u32 *)(r6 +0)"),
    (be(R0, 16), "(dc) r0 = be16 r0"),
    (ld_abs(B, 1), "(30) r0 = *(u8 *)skb[1]"),
    (ld_ind(W, R1, -4), "(40) r0 = *(u32 *)skb[r1 + -4]"),
    (ld_map_idx_value(R1, 2, 16), "(18) r1 = map[idx:2]+16"),
    (ld_func(R1, -4), "(18) r1 = subprog[-4]"),
    (ld_btf_id(R1, 7, 1), "(18) r1 = 0x100000007"),
    (load_acquire(W, R0, R1, 4), "(c3) r0 = load_acquire((u32 *)(r1 +4))"),
    (store_release(B, R1, 4, R2), "(d3) store_release((u8 *)(r1 +4), r2)"),
    (may_goto(5), "(e5) may_goto pc+5"),
    (addr_space_cast(R1, R2, 1, 0), "(bf) r1 = addr_space_cast(r2, 1, 0)"),
    (jeq(R1, -1, 2), "(15) if r1 == 0xffffffff goto pc+2"),
    (Instruction(0x1D, 1, 2, 0, 3), "(1d) if r1 == r2 goto pc+0"),
    (Instruction(0xC2), "(c2) nospec"),
    (Instruction(0x71, 1, 2, 3, 0), "(71) r1 = *(u8 *)(r2 +3)"),
    (Instruction(0xE1, 1, 2, 3, 0), "BUG_ldx_e1"),
    (Instruction(0xDB, 1, 2, 3, 0x77), "BUG_db"),
    (Instruction(0x00, 1, 2, 3, 0x77), "BUG_ld_00"),
])
def test_xlated_forms(insn: Instruction, text: str) -> None:
    assert format_instruction(insn, "xlated") == text


def test_xlated_opcodes_option() -> None:
    out = disassemble([mov(R0, 0), ld_imm64(R1, 5), exit_()], "xlated", opcodes=True)
    assert out == (
        "   0: (b7) r0 = 0\n"
        "       b7 00 00 00 00 00 00 00\n"
        "   1: (18) r1 = 0x5\n"
        "       18 01 00 00 05 00 00 00 00 00 00 00 00 00 00 00\n"
        "   3: (95) exit\n"
        "       95 00 00 00 00 00 00 00\n"
    )


def test_kallsyms_resolver_reads_file(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "kallsyms"
    path.write_text(
        "ffffffff81000000 T __bpf_call_base\n"
        "ffffffff81000010 T bpf_map_lookup_elem\n"
        "ffffffff81001000 t __htab_map_lookup_elem\n")
    res = KallsymsResolver(str(path))
    prog = [Instruction(0x85, 0, 0, 0, 0x1000), Instruction(0x85, 0, 0, 0, 0x20), Instruction(0x85, 0, 0, 0, 0x30000), Instruction(0x85, 0, 1, 5, 0)]
    assert disassemble(prog, "xlated", call_resolver=res, addresses=False) == (
        "(85) call __htab_map_lookup_elem#4096\n"
        "(85) call bpf_skb_change_type#32\n"  # a valid helper id wins, as in the kernel
        "(85) call 0xffffffff81030000#196608\n"
        "(85) call pc+5\n"
    )
    hidden = pathlib.Path(str(tmp_path)) / "hidden"
    hidden.write_text("0000000000000000 T __bpf_call_base\n0000000000000000 T foo\n")
    assert KallsymsResolver(str(hidden)).symbols == {}
    assert KallsymsResolver(str(pathlib.Path(str(tmp_path)) / "missing")).symbols == {}


def test_is_canonical() -> None:
    assert is_canonical(mov(R0, 1))
    assert not is_canonical(Instruction(0xB7, 0, 1, 0, 1))
    assert not is_canonical(Instruction(0x87, 0, 0, 0, 1))
    assert not is_canonical(Instruction(0xD7, 0, 0, 0, 8))
    assert not is_canonical(Instruction(0xDF, 0, 0, 0, 16))
    assert not is_canonical(Instruction(0x99, 0, 0, 0, 0))
    assert not is_canonical(Instruction(0x18, 0, 7, 0, 0))
    assert not is_canonical(Instruction(0xC3, 0, 1, 0, 0x02))
    assert not is_canonical(Instruction(0xD3, 0, 1, 0, 0x00))  # 8-bit lock add
    assert is_canonical(Instruction(0xD3, 0, 1, 0, 0x100))


def test_unknown_style() -> None:
    with pytest.raises(AssemblerError):
        disassemble([exit_()], "att")
    with pytest.raises(AssemblerError):
        format_instruction(exit_(), "att")


def test_decode_then_disassemble_everything_roundtrips() -> None:
    data = encode([mov(R0, 0), Instruction(0xFF, 15, 15, -1, -1), exit_()])
    for style in ("llvm", "conformance"):
        assert encode(assemble(disassemble(data, style), style)) == data
    _ = (FP, R5, decode, arsh)
