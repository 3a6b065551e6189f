"""The instruction-building DSL, the Builder, helper ids and opcode constants."""

from __future__ import annotations

import pytest

import pybpf.asm as asm
from pybpf.asm import (
    B, DW, FP, H, HELPER_NAMES, R0, R1, R2, R3, R10, W, Builder, HelperID, Instruction, Label,
    encode, helper_id, helper_name, opcodes,
)
from pybpf.asm.dsl import (
    add, add32, addr_space_cast, and_, arsh32, atomic_add, atomic_and, atomic_fetch_add,
    atomic_fetch_and, atomic_fetch_or, atomic_fetch_xor, atomic_or, atomic_xor, be, bswap, call,
    call_kfunc, call_local, callx, cmpxchg, div, exit_, gotol, gotox, ja, ja32, jeq, jge32, jle,
    jlt32, jne, jset, jsge, jsgt, jsle32, jslt, label, ld_abs, ld_btf_id, ld_func, ld_imm64,
    ld_ind, ld_map_by_name, ld_map_fd, ld_map_idx, ld_map_idx_value, ld_map_value, ldsx, ldx,
    ldxsx, le, load_acquire, lsh, may_goto, mod32, mov, mov32, movsx, movsx32, mul, neg, neg32,
    or32, or_, ret, rsh, sdiv, sdiv32, smod, smod32, st, store_release, stx, sub32, to_be, to_le,
    xchg, xor, xor32,
)
from pybpf.errors import AssemblerError

# (instruction, expected 8/16 bytes as hex)
ENCODINGS = [
    (mov(R0, 0), "b700000000000000"),
    (mov(R1, R2), "bf21000000000000"),
    (mov32(R1, -1), "b4010000ffffffff"),
    (add(R2, -4), "07020000fcffffff"),
    (add32(R0, R1), "0c10000000000000"),
    (sub32(R1, 3), "1401000003000000"),
    (mul(R1, R2), "2f21000000000000"),
    (div(R1, 7), "3701000007000000"),
    (sdiv(R1, R2), "3f21010000000000"),
    (sdiv32(R1, 7), "3401010007000000"),
    (smod(R1, -3), "97010100fdffffff"),
    (smod32(R1, R2), "9c21010000000000"),
    (mod32(R1, 5), "9401000005000000"),
    (or_(R1, 0x7FFFFFFF), "47010000ffffff7f"),
    (or32(R1, R2), "4c21000000000000"),
    (and_(R1, -2), "57010000feffffff"),
    (lsh(R1, 3), "6701000003000000"),
    (rsh(R1, 3), "7701000003000000"),
    (arsh32(R1, R3), "cc31000000000000"),
    (xor(R1, R2), "af21000000000000"),
    (xor32(R1, 1), "a401000001000000"),
    (neg(R1), "8701000000000000"),
    (neg32(R1), "8401000000000000"),
    (movsx(R0, R1, 8), "bf10080000000000"),
    (movsx(R0, R1, 32), "bf10200000000000"),
    (movsx32(R0, R1, 16), "bc10100000000000"),
    (be(R0, 16), "dc00000010000000"),
    (to_be(R0, 64), "dc00000040000000"),
    (le(R0, 32), "d400000020000000"),
    (to_le(R0, 16), "d400000010000000"),
    (bswap(R0, 64), "d700000040000000"),
    (ldx(W, R2, R1, 0), "6112000000000000"),
    (ldx(B, R2, R1, -8), "7112f8ff00000000"),
    (ldx(H, R2, R1, 8), "6912080000000000"),
    (ldx(DW, R2, R1, 0x7FFF), "7912ff7f00000000"),
    (ldxsx(B, R2, R1, 0), "9112000000000000"),
    (ldsx(H, R2, R1, 0), "8912000000000000"),
    (ldxsx(W, R2, R1, 0), "8112000000000000"),
    (stx(DW, R10, -8, R1), "7b1af8ff00000000"),
    (stx(W, FP, -8, R1), "631af8ff00000000"),
    (st(B, R10, -8, 5), "720af8ff05000000"),
    (st(DW, R10, -8, -5), "7a0af8fffbffffff"),
    (atomic_add(DW, R1, 0, R2), "db21000000000000"),
    (atomic_add(W, R1, 0, R2), "c321000000000000"),
    (atomic_or(DW, R1, 0, R2), "db21000040000000"),
    (atomic_and(DW, R1, 0, R2), "db21000050000000"),
    (atomic_xor(DW, R1, 0, R2), "db210000a0000000"),
    (atomic_add(DW, R1, 0, R0, fetch=True), "db01000001000000"),
    (atomic_fetch_add(W, R1, 0, R0), "c301000001000000"),
    (atomic_fetch_or(DW, R1, 0, R0), "db01000041000000"),
    (atomic_fetch_and(DW, R1, 0, R0), "db01000051000000"),
    (atomic_fetch_xor(DW, R1, 0, R0), "db010000a1000000"),
    (xchg(DW, R1, 0, R0), "db010000e1000000"),
    (xchg(W, R1, 0, R0), "c3010000e1000000"),
    (cmpxchg(DW, R1, 0, R2), "db210000f1000000"),
    (cmpxchg(W, R1, 0, R2), "c3210000f1000000"),
    (load_acquire(B, R0, R1, 0), "d310000000010000"),
    (store_release(DW, R1, 0, R2), "db21000010010000"),
    (ld_imm64(R1, 0x1234567890), "18010000907856340000000012000000"),
    (ld_imm64(R1, -1), "18010000ffffffff00000000ffffffff"),
    (ld_map_fd(R1, 3), "18110000030000000000000000000000"),
    (ld_map_value(R1, 3, 8), "18210000030000000000000008000000"),
    (ld_btf_id(R1, 7), "18310000070000000000000000000000"),
    (ld_func(R1, 5), "18410000050000000000000000000000"),
    (ld_map_idx(R1, 0), "18510000000000000000000000000000"),
    (ld_map_idx_value(R1, 0, 4), "18610000000000000000000004000000"),
    (ld_abs(B, 1), "3000000001000000"),
    (ld_ind(H, R1), "4810000000000000"),
    (jeq(R1, 0, 3), "1501030000000000"),
    (jeq(R1, R2, -3), "1d21fdff00000000"),
    (jge32(R1, R2, -2), "3e21feff00000000"),
    (jsle32(R1, -5, 2), "d6010200fbffffff"),
    (jlt32(R1, 3, 1), "a601010003000000"),
    (jset(R1, 3, 1), "4501010003000000"),
    (jne(R1, 0x7FFFFFFF, 1), "55010100ffffff7f"),
    (jle(R1, R2, 1), "bd21010000000000"),
    (jsgt(R1, R2, 1), "6d21010000000000"),
    (jsge(R1, 1, 1), "7501010001000000"),
    (jslt(R1, 1, 1), "c501010001000000"),
    (ja(1), "0500010000000000"),
    (ja32(7), "0600000007000000"),
    (gotol(-7), "06000000f9ffffff"),
    (may_goto(3), "e500030000000000"),
    (gotox(R1), "0d01000000000000"),
    (call(6), "8500000006000000"),
    (call(HelperID.map_lookup_elem), "8500000001000000"),
    (call("bpf_trace_printk"), "8500000006000000"),
    (call("ringbuf_output"), "8500000082000000"),
    (call_local(-1), "85100000ffffffff"),
    (call_kfunc(1234, 2), "85200200d2040000"),
    (callx(R1), "8d01000000000000"),
    (addr_space_cast(R1, R2, 0, 1), "bf21010001000000"),
    (exit_(), "9500000000000000"),
    (ret(), "9500000000000000"),
]


@pytest.mark.parametrize("insn,hexbytes", ENCODINGS)
def test_dsl_encoding(insn: Instruction, hexbytes: str) -> None:
    assert insn.encode().hex() == hexbytes


def test_register_spellings() -> None:
    assert mov("r1", "r2") == mov(R1, R2) == mov(1, R2)
    assert mov(R1, 2) != mov(R1, R2)  # a plain int source is an immediate
    assert opcodes.FP is R10 and FP == 10 and str(R3) == "r3"


@pytest.mark.parametrize("make", [
    lambda: mov(R1, 0x80000000),            # sign extension footgun on 64-bit ops
    lambda: jeq(R1, 0xFFFFFFFF, 1),
    lambda: mov32(R1, 1 << 32),
    lambda: mov(11, 0),
    lambda: mov("r11", 0),
    lambda: mov(R1, 1.5),
    lambda: movsx(R1, R2, 64),
    lambda: movsx32(R1, R2, 32),
    lambda: bswap(R1, 8),
    lambda: ldx(3, R1, R2, 0),
    lambda: ldx("qword", R1, R2, 0),
    lambda: ldxsx(DW, R1, R2, 0),
    lambda: atomic_add(B, R1, 0, R2),
    lambda: xchg(H, R1, 0, R2),
    lambda: ldx(W, R1, R2, 1 << 15),
    lambda: stx(W, R1, -(1 << 15) - 1, R2),
    lambda: ja(40000),
    lambda: jeq(R1, 0, -40000),
    lambda: ja32(1 << 31),
    lambda: call_local(0xFFFFFFFF),
    lambda: call("no_such_helper"),
    lambda: call(True),
    lambda: ja(1.0),
    lambda: ja(""),
    lambda: addr_space_cast(R1, R2, 1 << 16, 0),
    lambda: ld_map_value(R1, 3, 1 << 32),
    lambda: Label(""),
])
def test_dsl_errors(make: object) -> None:
    with pytest.raises(AssemblerError):
        make()  # type: ignore[operator]


def test_mov32_accepts_unsigned() -> None:
    assert mov32(R1, 0xFFFFFFFF).imm == -1


def test_symbolic_targets() -> None:
    assert ja("out").reference == "out" and ja("out").off == 0
    assert ja(Label("out")).reference == "out"
    assert call_local("fn").reference == "fn" and call_local("fn").src == 1
    assert ld_func(R1, "cb").reference == "cb" and ld_func(R1, "cb").src == 4
    m = ld_map_by_name(R1, "events")
    assert m.symbol == "events" and m.src == 1 and m.imm == 0 and m.is_map_load
    mv = ld_map_by_name(R1, "cfg", offset=16)
    assert mv.src == 2 and mv.imm == 16 << 32
    assert label("x") == Label("x")


def test_builder() -> None:
    a = Builder()
    a.mov(R0, 0).ldx(W, R2, R1, 0).jeq(R2, 0, "out")
    assert a.pc == 3
    a.ld_imm64(R3, 1 << 40)
    assert a.pc == 5 and len(a) == 4
    a.label("out")
    a.exit()
    insns = a.build()
    assert insns[2].off == 2 and insns[2].reference is None
    assert insns[4].label == "out" and insns[4].is_exit
    assert a.encode() == encode(insns)
    assert a.build(resolve_labels=False)[2].reference == "out"
    b = Builder().emit(mov(R0, 1), [Label("end"), exit_()])
    assert b.build()[1].label == "end"
    with pytest.raises(AttributeError):
        Builder().no_such_instruction()
    with pytest.raises(AssemblerError):
        Builder().label("a").label("b")
    with pytest.raises(AssemblerError):
        Builder().mov(R0, 0).label("dangling").build()
    with pytest.raises(AssemblerError):
        Builder().label("x").emit(Instruction(0x95, label="y"))
    assert Builder().exit_().build() == [exit_()]
    assert Builder().mov.__doc__


def test_helpers_list() -> None:
    assert len(HelperID) == 212 == len(HELPER_NAMES)
    assert HelperID.unspec == 0
    assert HelperID.map_lookup_elem == 1
    assert HelperID.trace_printk == 6
    assert HelperID.tail_call == 12
    assert HelperID.probe_read_kernel == 113
    assert HelperID.ringbuf_output == 130
    assert HelperID.loop == 181
    assert HelperID.kptr_xchg == 194
    assert HelperID.ktime_get_tai_ns == 208
    assert HelperID.user_ringbuf_drain == 209
    assert HelperID.cgrp_storage_get == 210
    assert HelperID.cgrp_storage_delete == 211
    assert [h.value for h in HelperID] == list(range(212))
    assert helper_name(1) == "bpf_map_lookup_elem"
    assert helper_name(211) == "bpf_cgrp_storage_delete"
    assert helper_name(9999, default="unknown") == "unknown"
    with pytest.raises(AssemblerError):
        helper_name(212)
    assert helper_id("bpf_map_lookup_elem") == helper_id("map_lookup_elem") == 1
    assert helper_id(HelperID.loop) == 181 and helper_id(5) == 5
    with pytest.raises(AssemblerError):
        helper_id("bpf_nope")


def test_opcode_constants() -> None:
    o = opcodes
    assert o.Class.ALU64 | o.AluOp.ADD | o.Source.X == 0x0F
    assert o.Class.JMP | o.JmpOp.CALL == 0x85
    assert o.Class.LD | o.Mode.IMM | o.SizeCode.DW == o.LDDW == 0x18
    assert o.Class.STX | o.Mode.ATOMIC | o.SizeCode.DW == 0xDB
    assert o.Class.LDX | o.Mode.MEMSX | o.SizeCode.B == 0x91
    assert o.PseudoSrc.MAP_FD == o.BPF_PSEUDO_MAP_FD == 1
    assert o.PseudoSrc.MAP_VALUE == 2 and o.PseudoSrc.BTF_ID == 3 and o.PseudoSrc.FUNC == 4
    assert o.PseudoSrc.MAP_IDX == 5 and o.PseudoSrc.MAP_IDX_VALUE == 6
    assert o.PseudoCall.CALL == o.BPF_PSEUDO_CALL == 1 and o.PseudoCall.KFUNC_CALL == 2
    assert o.AtomicOp.CMPXCHG == 0xF1 and o.AtomicOp.XCHG == 0xE1 and o.BPF_FETCH == 1
    assert o.AtomicOp.LOAD_ACQ == 0x100 and o.AtomicOp.STORE_REL == 0x110
    assert o.size_code(B) == o.SizeCode.B and o.size_code(8) == o.SizeCode.DW
    assert o.size_code(o.SizeCode.H) == o.SizeCode.H and o.size_code("u16") == o.SizeCode.H
    assert o.size_bytes(0x79) == 8 and o.size_bytes(0x61) == 4
    assert asm.Size.DW == 8 and asm.W == 4


def test_public_api_exports() -> None:
    for name in asm.__all__:
        assert hasattr(asm, name), name
