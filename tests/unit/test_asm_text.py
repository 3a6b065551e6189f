"""The text assembler: llvm, llvm-objdump output, bpftool xlated and bpf_conformance syntax."""

from __future__ import annotations

import pytest

from pybpf.asm import (
    B, DW, FP, H, R0, R1, R2, R3, R10, W, Instruction, assemble, atomic_add, be, bswap, call,
    call_kfunc, call_local, cmpxchg, decode, disassemble, encode, exit_, ja, ja32, jeq, jgt32,
    ld_abs, ld_imm64, ld_ind, ld_map_fd, ld_map_value, ldx, ldxsx, le, mov, mov32, movsx,
    sdiv, smod32, st, stx, xchg,
)
from pybpf.errors import AssemblerError

# `llvm-objdump -dr` (LLVM 19) of a clang-19 -O2 -mcpu=v3 object with a map, a global,
# a kfunc and a bpf-to-bpf call.
OBJDUMP = '''
p.o:	file format elf64-bpf

Disassembly of section .text:

0000000000000000 <sub>:
       0:	24 01 00 00 03 00 00 00	w1 *= 0x3
       1:	18 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00	r2 = 0x0 ll
		0000000000000008:  R_BPF_64_64	gv
       3:	61 20 00 00 00 00 00 00	r0 = *(u32 *)(r2 + 0x0)
       4:	0c 10 00 00 00 00 00 00	w0 += w1
       5:	95 00 00 00 00 00 00 00	exit

Disassembly of section xdp:

0000000000000000 <prog>:
       0:	bf 16 00 00 00 00 00 00	r6 = r1
       1:	b4 08 00 00 00 00 00 00	w8 = 0x0
       2:	63 8a fc ff 00 00 00 00	*(u32 *)(r10 - 0x4) = r8
       3:	bf a2 00 00 00 00 00 00	r2 = r10
       4:	07 02 00 00 fc ff ff ff	r2 += -0x4
       5:	18 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00	r1 = 0x0 ll
		0000000000000028:  R_BPF_64_64	m
       7:	85 00 00 00 01 00 00 00	call 0x1
       8:	bf 07 00 00 00 00 00 00	r7 = r0
       9:	85 10 00 00 ff ff ff ff	call -0x1
		0000000000000048:  R_BPF_64_32	bpf_rcu_read_lock
      10:	55 07 02 00 00 00 00 00	if r7 != 0x0 goto +0x2 <prog+0x68>
      11:	61 61 0c 00 00 00 00 00	r1 = *(u32 *)(r6 + 0xc)
      12:	05 00 08 00 00 00 00 00	goto +0x8 <prog+0xa8>
      13:	73 8a fa ff 00 00 00 00	*(u8 *)(r10 - 0x6) = r8
      14:	b4 01 00 00 68 69 00 00	w1 = 0x6968
      15:	6b 1a f8 ff 00 00 00 00	*(u16 *)(r10 - 0x8) = r1
      16:	bf a1 00 00 00 00 00 00	r1 = r10
      17:	07 01 00 00 f8 ff ff ff	r1 += -0x8
      18:	b4 02 00 00 03 00 00 00	w2 = 0x3
      19:	85 00 00 00 06 00 00 00	call 0x6
      20:	b4 01 00 00 02 00 00 00	w1 = 0x2
      21:	85 10 00 00 ff ff ff ff	call -0x1
		00000000000000a8:  R_BPF_64_32	.text
      22:	95 00 00 00 00 00 00 00	exit
'''


def test_read_llvm_objdump_output() -> None:
    insns = assemble(OBJDUMP)
    assert len(insns) == 6 + 23 - 2  # two lddw
    assert insns[0].label == "sub"
    assert insns[1].symbol == "gv" and insns[1].is_lddw
    prog = insns[5:]
    assert prog[0].label == "prog"
    assert prog[5].symbol == "m"
    assert prog[6] == call(1)
    assert prog[8].is_local_call and prog[8].imm == -1 and prog[8].symbol == "bpf_rcu_read_lock"
    assert prog[9].off == 2 and prog[11].off == 8
    assert prog[20].is_local_call and prog[20].symbol == ".text"
    assert prog[-1].is_exit
    # everything but the symbols matches the hex columns
    hexes = [line.split("\t")[1] for line in OBJDUMP.splitlines() if line.startswith("      ") and ":\t" in line]
    assert b"".join(bytes.fromhex(h) for h in hexes) == encode(insns)


def test_hex_column_recovers_lossy_text() -> None:
    # llvm-objdump without --mcpu prints 32-bit atomic_fetch_add like a plain add
    insns = assemble("       0:\tc3 01 00 00 01 00 00 00\tlock *(u32 *)(r1 + 0x0) += r0")
    assert insns[0].imm == 1
    # and cannot show a call's src
    assert assemble("  5:\t85 10 00 00 05 00 00 00\tcall 0x5")[0].is_local_call
    assert assemble("  1:\t18 11 00 00 07 00 00 00 00 00 00 00 00 00 00 00\tr1 = 0x7 ll")[0] == ld_map_fd(R1, 7)
    assert assemble("  1:\tc3 01 00 00 e1 00 00 00\t<unknown>")[0] == xchg(W, R1, 0, R0)
    with pytest.raises(AssemblerError, match="hex column"):
        assemble("  0:\tb7 00 00 00 01 00 00 00\tr0 = 0x2")


LLVM_TEXT = [
    ("r0 = 0", mov(R0, 0)),
    ("w1 = -1", mov32(R1, -1)),
    ("r1 = 0xffffffff", mov(R1, -1)),
    ("r1 s/= r2", sdiv(R1, R2)),
    ("w3 s%= -7", smod32(R3, -7)),
    ("r0 = (s16)r1", movsx(R0, R1, 16)),
    ("r0 = be16 r0", be(R0, 16)),
    ("r0 = le64 r0", le(R0, 64)),
    ("r0 = bswap32 r0", bswap(R0, 32)),
    ("r2 = *(u32 *)(r1 + 0)", ldx(W, R2, R1, 0)),
    ("w2 = *(u8 *)(r1 - 8)", ldx(B, R2, R1, -8)),
    ("r0 = *(s16 *)(r1 + 2)", ldxsx(H, R0, R1, 2)),
    ("*(u64 *)(r10 - 8) = r1", stx(DW, FP, -8, R1)),
    ("*(u32 *)(r10 - 0x10) = w1", stx(W, R10, -16, R1)),
    ("*(u16 *)(r10 - 2) = -5", st(H, R10, -2, -5)),
    ("lock *(u64 *)(r1 + 0) += r2", atomic_add(DW, R1, 0, R2)),
    ("r0 = atomic_fetch_add((u64 *)(r1 + 0x0), r0)", atomic_add(DW, R1, 0, R0, fetch=True)),
    ("r0 = xchg_64(r1 + 0, r0)", xchg(DW, R1, 0, R0)),
    ("w0 = xchg32_32(r1 + 4, w0)", xchg(W, R1, 4, R0)),
    ("r0 = cmpxchg_64(r1 + 0, r0, r2)", cmpxchg(DW, R1, 0, R2)),
    ("w0 = cmpxchg32_32(r1 - 4, w0, w2)", cmpxchg(W, R1, -4, R2)),
    ("r1 = 0x1234567890 ll", ld_imm64(R1, 0x1234567890)),
    ("r1 = -1 ll", ld_imm64(R1, -1)),
    ("r1 = map_fd(3)", ld_map_fd(R1, 3)),
    ("r1 = map_value(3, 16) ll", ld_map_value(R1, 3, 16)),
    ("r1 = map[id:5]", ld_map_fd(R1, 5)),
    ("r1 = map[id:5][0]+8", ld_map_value(R1, 5, 8)),
    ("r0 = *(u8 *)skb[1]", ld_abs(B, 1)),
    ("r0 = *(u16 *)skb[r1]", ld_ind(H, R1, 0)),
    ("r0 = *(u32 *)skb[r1 + 4]", ld_ind(W, R1, 4)),
    ("if r1 == 0x0 goto +3", jeq(R1, 0, 3)),
    ("if w1 > w2 goto -2 <LBB0_2>", jgt32(R1, R2, -2)),
    ("goto +1", ja(1)),
    ("goto pc-1", ja(-1)),
    ("gotol +70000", ja32(70000)),
    ("call 6", call(6)),
    ("call bpf_trace_printk", call(6)),
    ("call map_lookup_elem", call(1)),
    ("call bpf_map_lookup_elem#1", call(1)),
    ("call pc+2", call_local(2)),
    ("call +0x2", call_local(2)),
    ("call -1", call_local(-1)),
    ("call kfunc(1234)", call_kfunc(1234)),
    ("call kfunc(1234, 2)", call_kfunc(1234, 2)),
    ("exit", exit_()),
]


@pytest.mark.parametrize("text,expected", LLVM_TEXT)
def test_llvm_syntax(text: str, expected: Instruction) -> None:
    assert assemble(text) == [expected]


XLATED = '''
   0: (bf) r6 = r1
   1: (b7) r1 = 0
   2: (63) *(u32 *)(r10 -4) = r1
   3: (7a) *(u64 *)(r10 -16) = 5
   4: (07) r2 += -4
   5: (18) r1 = map[id:382]
   7: (15) if r0 == 0x0 goto pc+25
   8: (db) r1 = atomic64_fetch_add((u64 *)(r0 +0), r1)
   9: (db) r0 = atomic64_cmpxchg((u64 *)(r9 +0), r0, r1)
  10: (c3) r1 = atomic_xchg((u32 *)(r0 +0), r1)
  11: (91) r3 = *(s8 *)(r0 +0)
  12: (bf) r4 = (s16)r3
  13: (34) w5 s/= 2
  14: (d7) r4 = bswap16 r4
  15: (66) if w5 s> 0xfffffffd goto pc+1
  16: (06) gotol pc+0
  17: (85) call bpf_trace_printk#-61360
  18: (18) r2 = 0x1122334455667788
  20: (85) call pc+2#bpf_prog_b11459a0e11ca14c_F
  21: (18) r1 = map[id:230][0]+8
  23: (95) exit
'''


def test_read_bpftool_xlated() -> None:
    insns = assemble(XLATED, "xlated")
    assert insns[1] == mov(R1, 0)
    assert insns[3] == st(DW, R10, -16, 5)
    assert insns[5] == ld_map_fd(R1, 382)
    assert insns[7] == atomic_add(DW, R0, 0, R1, fetch=True)
    assert insns[8] == cmpxchg(DW, 9, 0, R1)
    assert insns[9] == xchg(W, R0, 0, R1)
    assert insns[10] == ldxsx(B, R3, R0, 0)
    assert insns[14].opcode == 0x66 and insns[14].imm == -3
    assert insns[15] == ja32(0)
    assert insns[16] == Instruction(0x85, 0, 0, 0, -61360)
    assert insns[17] == ld_imm64(R2, 0x1122334455667788)
    assert insns[18] == call_local(2)
    assert insns[19] == ld_map_value(R1, 230, 8)
    # round trip through our own xlated output
    text = disassemble(insns, "xlated")
    assert assemble(text, "xlated") == insns


def test_xlated_opcode_annotation_checked() -> None:
    with pytest.raises(AssemblerError, match="opcode annotation"):
        assemble("   0: (b4) r0 = 0", "xlated")
    assert assemble("   0: (18) r0 = 0x5", "xlated") == [ld_imm64(R0, 5)]


CONF_TEXT = [
    ("mov %r0, 1", mov(R0, 1)),
    ("mov32 %r0, 0xffffffff", mov32(R0, -1)),
    ("add64 %r1, %r2", Instruction(0x0F, 1, 2)),
    ("sdiv32 %r0, -3", Instruction(0x34, 0, 0, 1, -3)),
    ("smod %r0, %r1", Instruction(0x9F, 0, 1, 1, 0)),
    ("movsx832 %r0, %r1", Instruction(0xBC, 0, 1, 8)),
    ("movsx3264 %r0, %r1", movsx(R0, R1, 32)),
    ("neg %r1", Instruction(0x87, 1)),
    ("neg32 %r1", Instruction(0x84, 1)),
    ("be16 %r0", be(R0, 16)),
    ("le64 %r0", le(R0, 64)),
    ("swap32 %r0", bswap(R0, 32)),
    ("bswap64 %r0", bswap(R0, 64)),
    ("lddw %r0, 0x123", ld_imm64(R0, 0x123)),
    ("lddw %r1, map_fd(4)", ld_map_fd(R1, 4)),
    ("ldxh %r0, [%r1+2]", ldx(H, R0, R1, 2)),
    ("ldxdw %r0, [%r10-8]", ldx(DW, R0, R10, -8)),
    ("ldxsw %r0, [%r1]", ldxsx(W, R0, R1, 0)),
    ("stxdw [%r10-8], %r1", stx(DW, R10, -8, R1)),
    ("stw [%r1+0], 5", st(W, R1, 0, 5)),
    ("stb [%r1 + 0x10], -1", st(B, R1, 16, -1)),
    ("jeq %r1, 0, +3", jeq(R1, 0, 3)),
    ("jgt32 %r1, %r2, -2", jgt32(R1, R2, -2)),
    ("ja +1", ja(1)),
    ("ja32 -5", ja32(-5)),
    ("call 1", call(1)),
    ("call helper 0xc", call(12)),
    ("call local +4", call_local(4)),
    ("call runtime 77", call_kfunc(77)),
    ("call %r2", Instruction(0x8D, 2)),
    ("exit", exit_()),
    ("lock add [%r1+0], %r2", atomic_add(DW, R1, 0, R2)),
    ("lock fetch add32 [%r10-8], %r1", atomic_add(W, R10, -8, R1, fetch=True)),
    ("lock xchg32 [%r10-8], %r1", xchg(W, R10, -8, R1)),
    ("lock cmpxchg [%r10-8], %r1", cmpxchg(DW, R10, -8, R1)),
    ("ldabsw 0x10", ld_abs(W, 16)),
    ("ldindh %r1, 4", ld_ind(H, R1, 4)),
]


@pytest.mark.parametrize("text,expected", CONF_TEXT)
def test_conformance_syntax(text: str, expected: Instruction) -> None:
    assert assemble(text, "conformance") == [expected]


def test_conformance_program_with_labels() -> None:
    text = '''
    # bpf_conformance style program
    mov %r0, 0
    mov %r1, 1
    call local func1      # bpf-to-bpf call
    jne %r0, 15, exit     # "exit" is the first exit instruction
    ja32 done
    func1:
    mov %r0, 15
    exit
    done:
    exit
    '''
    insns = assemble(text, "conformance")
    assert insns[2] == call_local(2).replace()
    assert insns[3].off == 2  # to the first exit (index 6)
    assert insns[4].imm == 2
    assert insns[5].label == "func1"
    assert insns[6].label == "exit"
    assert insns[7].label == "done"
    assert assemble(text, "auto") == insns


def test_labels_and_references_llvm() -> None:
    text = '''
    start:
        r0 = 0
        if r1 == 0 goto out   // symbolic
        call helper_sub
    out: exit
    helper_sub:
        r0 = 1 ; comment
        goto start
        exit
    '''
    insns = assemble(text)
    assert insns[0].label == "start"
    assert insns[1].off == 1
    assert insns[2].is_local_call and insns[2].imm == 1
    assert insns[3].label == "out"
    assert insns[5].off == -6
    raw = assemble(text, resolve=False)
    assert raw[1].reference == "out" and raw[2].reference == "helper_sub"


def test_multiple_labels_same_instruction() -> None:
    insns = assemble("a:\nb:\ngoto b\ngoto a\nexit")
    assert insns[0].label == "a"
    assert insns[0].off == -1 and insns[1].off == -2


def test_symbol_suffix() -> None:
    insns = assemble("r1 = map_fd(my_map) ll\nr2 = map_value(cfg, 8)\ncall 1 @bpf_map_lookup_elem")
    assert insns[0].symbol == "my_map" and insns[0].src == 1 and insns[0].imm == 0
    assert insns[1].symbol == "cfg" and insns[1].src == 2 and insns[1].imm == 8 << 32
    assert insns[2].symbol == "bpf_map_lookup_elem"
    assert assemble(disassemble(insns)) == insns


def test_raw_insn_directive() -> None:
    assert assemble(".insn 0x95, 0, 0, 0, 0") == [exit_()]
    assert assemble(".insn 0x8c, 1, 2, 0, 0x0", "conformance") == [Instruction(0x8C, 1, 2)]


@pytest.mark.parametrize("text,syntax,fragment", [
    ("r0 = 0\nr11 = 1", "llvm", "line 2"),
    ("r0 = 0\nr0 += w1", "llvm", "does not match"),
    ("r0 = 0x123456789", "llvm", "ll"),
    ("goto nowhere\nexit", "llvm", "undefined label 'nowhere'"),
    ("if r1 == 0 goto +40000", "llvm", "out of range"),
    ("r1 = *(u64 *)(r2 + 70000)", "llvm", "out of range"),
    ("r1 = -r2", "llvm", "negation"),
    ("frobnicate r1", "llvm", "unrecognized"),
    ("w0 = (s32)w1", "llvm", "not a valid"),
    ("lock *(u8 *)(r1 + 0) += r2", "llvm", "32 or 64"),
    ("mov %r0", "conformance", "2 operands"),
    ("ldxq %r0, [%r1]", "conformance", "invalid mnemonic"),
    ("ldxb %r0, %r1", "conformance", "memory operand"),
    ("or %r0, %r50", "conformance", "invalid register"),
    ("mov32 %r0, 2147483648", "conformance", "out of range"),
    ("mov32 %r0, 0x100000000", "conformance", "out of range"),
    ("lock or [%r10-8]", "conformance", "operands"),
    ("lock", "conformance", "lock"),
    ("jeq %r1, 0, NOT_A_LABEL\nexit", "conformance", "undefined label"),
    ("x:\nx:\nexit", "llvm", "duplicate label"),
])
def test_errors(text: str, syntax: str, fragment: str) -> None:
    with pytest.raises(AssemblerError, match=fragment.replace("(", r"\(")):
        assemble(text, syntax)


def test_error_attributes() -> None:
    with pytest.raises(AssemblerError) as info:
        assemble("r0 = 0\n\n  bogus insn  \n")
    err = info.value
    assert getattr(err, "lineno") == 3
    assert "bogus insn" in str(err) and "line 3" in str(err)


def test_unknown_syntax() -> None:
    with pytest.raises(AssemblerError):
        assemble("exit", "intel")


def test_comments_and_blank_lines() -> None:
    text = "# header\n\n  r0 = 1   # trailing\n; llvm comment\n// c++ comment\nexit // done\n"
    assert assemble(text) == [mov(R0, 1), exit_()]


def test_ld_imm64_roundtrip_via_xlated_and_map_names() -> None:
    prog = [ld_map_fd(R1, 12), ld_imm64(R2, 5), exit_()]
    assert decode(encode(assemble(disassemble(prog, "xlated"), "xlated"))) == prog
