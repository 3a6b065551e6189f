"""Property tests: every valid instruction form survives encode/decode and text round trips."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from pybpf.asm import Instruction, assemble, decode, disassemble, encode, format_instruction, resolve

regs = hs.integers(0, 10)
imm32 = hs.integers(-(2**31), 2**31 - 1)
off16 = hs.integers(-(2**15), 2**15 - 1)
sizes = hs.sampled_from([0x00, 0x08, 0x10, 0x18])
ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xA0, 0xB0, 0xC0]
JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0]
ATOMIC_OPS = [0x00, 0x40, 0x50, 0xA0, 0x01, 0x41, 0x51, 0xA1, 0xE1, 0xF1]
I = Instruction

alu_k = hs.builds(lambda c, op, d, imm: I(c | op, d, 0, 0, imm),
                  hs.sampled_from([0x04, 0x07]), hs.sampled_from(ALU_OPS), regs, imm32)
alu_x = hs.builds(lambda c, op, d, s: I(c | op | 0x08, d, s, 0, 0),
                  hs.sampled_from([0x04, 0x07]), hs.sampled_from(ALU_OPS), regs, regs)
sdiv_smod = hs.builds(lambda c, op, x, d, s, imm: I(c | op | x, d, s if x else 0, 1, 0 if x else imm),
                      hs.sampled_from([0x04, 0x07]), hs.sampled_from([0x30, 0x90]),
                      hs.sampled_from([0, 0x08]), regs, regs, imm32)
movsx = hs.one_of(
    hs.builds(lambda d, s, b: I(0xBF, d, s, b, 0), regs, regs, hs.sampled_from([8, 16, 32])),
    hs.builds(lambda d, s, b: I(0xBC, d, s, b, 0), regs, regs, hs.sampled_from([8, 16])))
neg = hs.builds(lambda c, d: I(c, d), hs.sampled_from([0x84, 0x87]), regs)
endian = hs.builds(lambda c, d, b: I(c, d, 0, 0, b), hs.sampled_from([0xD4, 0xDC, 0xD7]), regs,
                   hs.sampled_from([16, 32, 64]))
ldx = hs.builds(lambda sz, d, s, o: I(0x61 | sz, d, s, o, 0), sizes, regs, regs, off16)
ldsx = hs.builds(lambda sz, d, s, o: I(0x81 | sz, d, s, o, 0), hs.sampled_from([0x00, 0x08, 0x10]),
                 regs, regs, off16)
st = hs.builds(lambda sz, d, o, imm: I(0x62 | sz, d, 0, o, imm), sizes, regs, off16, imm32)
stx = hs.builds(lambda sz, d, s, o: I(0x63 | sz, d, s, o, 0), sizes, regs, regs, off16)
atomic = hs.builds(lambda sz, d, s, o, op: I(0xC3 | sz, d, s, o, op), hs.sampled_from([0x00, 0x18]),
                   regs, regs, off16, hs.sampled_from(ATOMIC_OPS))
acq_rel = hs.builds(lambda sz, d, s, o, op: I(0xC3 | sz, d, s, o, op), sizes, regs, regs, off16,
                    hs.sampled_from([0x100, 0x110]))
lddw = hs.builds(lambda d, s, imm: I(0x18, d, s, 0, imm), regs, hs.integers(0, 6), hs.integers(0, 2**64 - 1))
ld_abs = hs.builds(lambda sz, imm: I(0x20 | sz, 0, 0, 0, imm), sizes, imm32)
ld_ind = hs.builds(lambda sz, s, imm: I(0x40 | sz, 0, s, 0, imm), sizes, regs, imm32)
jmp_k = hs.builds(lambda c, op, d, imm, o: I(c | op, d, 0, o, imm),
                  hs.sampled_from([0x05, 0x06]), hs.sampled_from(JMP_OPS), regs, imm32, off16)
jmp_x = hs.builds(lambda c, op, d, s, o: I(c | op | 0x08, d, s, o, 0),
                  hs.sampled_from([0x05, 0x06]), hs.sampled_from(JMP_OPS), regs, regs, off16)
ja = hs.builds(lambda o: I(0x05, 0, 0, o, 0), off16)
ja32 = hs.builds(lambda imm: I(0x06, 0, 0, 0, imm), imm32)
may_goto = hs.builds(lambda o: I(0xE5, 0, 0, o, 0), off16)
call_helper = hs.builds(lambda imm: I(0x85, 0, 0, 0, imm), imm32)
call_local = hs.builds(lambda imm: I(0x85, 0, 1, 0, imm), imm32)
call_kfunc = hs.builds(lambda imm, o: I(0x85, 0, 2, o, imm), imm32, off16)
callx = hs.builds(lambda d: I(0x8D, d), regs)
gotox = hs.builds(lambda d: I(0x0D, d), regs)
exit_ = hs.builds(lambda: I(0x95))
addr_space_cast = hs.builds(lambda d, s, a, b: I(0xBF, d, s, 1, (a << 16) | b), regs, regs,
                            hs.integers(0, 0xFFFF), hs.integers(0, 0xFFFF))

valid_insn = hs.one_of(alu_k, alu_x, sdiv_smod, movsx, neg, endian, ldx, ldsx, st, stx, atomic,
                       acq_rel, lddw, ld_abs, ld_ind, jmp_k, jmp_x, ja, ja32, may_goto,
                       call_helper, call_local, call_kfunc, callx, gotox, exit_, addr_space_cast)
# anything at all (reserved fields set, unknown opcodes): must survive as `.insn`
raw_insn = hs.builds(lambda op, d, s, o, imm: I(op, d, s, o, imm),
                     hs.integers(0, 255).filter(lambda x: x != 0x18), hs.integers(0, 15),
                     hs.integers(0, 15), off16, imm32)
programs = hs.lists(valid_insn, min_size=1, max_size=30)

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(programs)
def test_encode_decode_roundtrip(insns: list[Instruction]) -> None:
    data = encode(insns)
    assert len(data) == 8 * sum(i.size for i in insns)
    assert decode(data) == insns


@SETTINGS
@given(programs)
def test_llvm_text_roundtrip(insns: list[Instruction]) -> None:
    assert assemble(disassemble(insns, "llvm"), "llvm") == insns
    assert assemble(disassemble(insns, "llvm", alu32=True), "llvm") == insns
    assert assemble(disassemble(insns, "llvm", addresses=True), "llvm") == insns
    assert assemble(disassemble(insns, "llvm", hexdump=True), "llvm") == insns


@SETTINGS
@given(programs)
def test_conformance_text_roundtrip(insns: list[Instruction]) -> None:
    assert assemble(disassemble(insns, "conformance"), "conformance") == insns
    assert assemble(disassemble(insns, "conformance", addresses=True), "conformance") == insns


@SETTINGS
@given(hs.lists(hs.one_of(valid_insn, raw_insn), min_size=1, max_size=20))
def test_any_instruction_roundtrips(insns: list[Instruction]) -> None:
    for style in ("llvm", "conformance"):
        assert assemble(disassemble(insns, style), style) == insns
    assert decode(encode(insns)) == insns
    for insn in insns:
        assert format_instruction(insn, "xlated")  # never fails


@SETTINGS
@given(programs)
def test_xlated_text_roundtrip_for_kernel_forms(insns: list[Instruction]) -> None:
    # Every form the kernel prints losslessly reads back (pseudo calls print off or imm).
    keep = [i for i in insns if not (
        (i.opcode == 0x85 and i.src != 0) or (i.opcode == 0x18 and i.src in (3, 5))
        or (i.opcode == 0x18 and i.src in (1, 4) and i.imm >> 32)
        or i.opcode in (0x8D, 0x0D) or (i.opcode & 0xE7 == 0x20 and i.opcode & 0x18 == 0x18)
        or (i.opcode & 0xE7 == 0x40 and i.opcode & 0x18 == 0x18))]
    keep = [i for i in keep if not (i.opcode == 0x85 and not 0 <= i.imm < 212)]
    if not keep:
        return
    text = disassemble(keep, "xlated")
    assert assemble(text, "xlated") == keep


@SETTINGS
@given(hs.lists(hs.sampled_from(["jeq", "ja", "ja32", "call", "ldfunc"]), min_size=1, max_size=15),
       hs.randoms(use_true_random=False))
def test_labels_resolve_consistently(kinds: list[str], rnd: object) -> None:
    from pybpf.asm import dsl

    import random
    assert isinstance(rnd, random.Random)
    n = len(kinds) + 1
    body = []
    for k in kinds:
        target = f"L{rnd.randrange(n)}"
        body.append({"jeq": lambda t: dsl.jeq(dsl.R1, 0, t), "ja": dsl.ja, "ja32": dsl.ja32,
                     "call": dsl.call_local, "ldfunc": lambda t: dsl.ld_func(dsl.R2, t)}[k](target))
    body.append(dsl.exit_())
    prog = []
    for i, insn in enumerate(body):
        prog += [dsl.label(f"L{i}"), insn]
    out = resolve(prog)
    pcs = []
    pc = 0
    for insn in out:
        pcs.append(pc)
        pc += insn.size
    for i, (src, insn) in enumerate(zip(body, out)):
        if src.reference is None:
            continue
        target = pcs[int(src.reference[1:])]
        assert pcs[i] + 1 + insn.target_offset == target
    for style in ("llvm", "conformance"):
        assert assemble(disassemble(out, style), style) == out
