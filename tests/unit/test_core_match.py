"""CO-RE relocation engine (pybpf.btf.core) on hand-built BTF: matching rules, value
calculation, patching, poisoning, ambiguity, candidates, errors. The semantics are
libbpf's relo_core.c; expected values are worked out by hand in each test."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st_

from pybpf.asm import DW, R1, R2, W, B, H, add, call, exit_, ld_abs, ld_imm64, ld_map_fd, ldx, mov, st, stx
from pybpf.asm.insn import Instruction, slot_count
from pybpf.btf import (
    VOID, Array, Builder, Const, CoreRelo, CoreReloKind as K, Enum, Enum64, EnumValue, Float, FuncProto, Fwd,
    Int, Member, Param, Ptr, Struct, Typedef, Union, Volatile,
)
from pybpf.btf.core import (
    POISON_IMM, CoreCache, CoreError, CoreResult, essential_name, essential_name_len, find_candidates,
    patch_insn, relocate, resolve_relo,
)
from pybpf.btf.core_match import format_spec, parse_spec, types_match
from pybpf.errors import Error

INT = Int("int", 4, signed=True)
UINT = Int("unsigned int", 4)
LONG = Int("long", 8, signed=True)
ULONG = Int("unsigned long", 8)
CHAR = Int("char", 1, signed=True)
U16 = Int("unsigned short", 2)
U8 = Int("unsigned char", 1)


def build(*types, base=None):
    """A BTF holding ``types`` (and what they reference); (btf, [ids])."""
    b = Builder(base=base)
    ids = [b.add(t) for t in types]
    return b.build(), ids


def relo(tid: int, access: str, kind: K) -> CoreRelo:
    return CoreRelo(0, tid, access, kind, 0)


def run(insn, local, tid, access, kind, targets, **kw):
    """Relocate a one-instruction program (+ exit); (new insns, CoreResult)."""
    results: list[CoreResult] = []
    out = relocate([insn, exit_()], [(0, relo(tid, access, kind))], local, targets, results=results, **kw)
    return out, results[0]


def value(insns):
    """The relocated value of the first instruction."""
    i = insns[0]
    if i.opcode == 0x85 and i.imm == POISON_IMM:
        return "poison"
    if i.cls in (1, 2, 3):
        return i.off
    return i.imm


# ---------------------------------------------------------------------- names
def _c_essential_len(name: str) -> int:
    """Straight port of libbpf's bpf_core_essential_name_len."""
    s = name
    n = len(s)
    for i in range(n - 5, -1, -1):
        if s[i] != "_" and s[i + 1] == "_" and s[i + 2] == "_" and s[i + 3] == "_" and s[i + 4] != "_":
            return i + 1
    return n


@pytest.mark.parametrize("name,ess", [
    ("task_struct___old", "task_struct"), ("task_struct", "task_struct"), ("a___b___c", "a___b"),
    ("___x", "___x"), ("a____b", "a____b"), ("a___", "a___"), ("x___y", "x"), ("nf_conn___init", "nf_conn"),
    ("", ""), ("a___b_", "a"),
])
def test_essential_name(name, ess):
    assert essential_name(name) == ess
    assert essential_name_len(name) == _c_essential_len(name)


@given(st_.text(alphabet="a_b", max_size=14))
def test_essential_name_matches_libbpf(name):
    assert essential_name_len(name) == _c_essential_len(name)


# ---------------------------------------------------------------------- fields
def test_field_through_anonymous_members_and_flavor():
    local, (ls,) = build(Struct("s___mine", 8, [Member("a", INT, 0), Member("b", INT, 32)]))
    inner = Union("", 4, [Member("b", INT, 0), Member("c", CHAR, 0)])
    target, _ = build(Struct("s", 16, [Member("x", LONG, 0), Member("", inner, 64), Member("a", INT, 96)]))
    out, res = run(add(R1, 4), local, ls, "0:1", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 8 and res.target_spec.endswith("s.b (0:1:0 @ offset 8)")
    out, res = run(add(R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 12
    assert res.local_spec == f"<byte_off> [{ls}] struct s___mine.a (0:0 @ offset 0)"
    out, _ = run(mov(R1, 4), local, ls, "0:1", K.FIELD_BYTE_SIZE, [target])
    assert value(out) == 4
    out, _ = run(mov(R1, 1), local, ls, "0:1", K.FIELD_EXISTS, [target])
    assert value(out) == 1
    out, _ = run(mov(R1, 1), local, ls, "0:1", K.FIELD_SIGNED, [target])
    assert value(out) == 1


def test_local_anonymous_members_are_skipped_in_the_spec():
    inner = Struct("", 8, [Member("p", INT, 0), Member("q", INT, 32)])
    local, (ls,) = build(Struct("s", 12, [Member("x", INT, 0), Member("", inner, 32)]))
    target, _ = build(Struct("s", 16, [Member("q", INT, 0), Member("p", INT, 64)]))
    spec = parse_spec(local, ls, "0:1:1", K.FIELD_BYTE_OFFSET)
    assert [a.name for a in spec.spec] == [None, "q"] and spec.bit_offset == 64
    out, _ = run(add(R1, 8), local, ls, "0:1:1", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 0


def test_nested_struct_and_arrays():
    li = Struct("inner", 8, [Member("v", LONG, 0)])
    local, (ls,) = build(Struct("s", 48, [Member("arr", Array(INT, INT, 4), 0), Member("in", Array(li, INT, 4), 128)]))
    ti = Struct("inner", 16, [Member("pad", LONG, 0), Member("v", LONG, 64)])
    target, _ = build(Struct("s", 200, [Member("pad", Array(CHAR, INT, 8), 0),
                                        Member("arr", Array(INT, INT, 8), 64),
                                        Member("in", Array(ti, INT, 4), 320)]))
    # arr[2]: 8 + 2*4
    out, res = run(add(R1, 8), local, ls, "0:0:2", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 16 and "arr[2]" in res.target_spec
    # in[3].v: 40 + 3*16 + 8
    out, _ = run(add(R1, 16 + 24), local, ls, "0:1:3:0", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 40 + 48 + 8
    # byte size of an array field / of an element
    out, _ = run(mov(R1, 16), local, ls, "0:0", K.FIELD_BYTE_SIZE, [target])
    assert value(out) == 32
    out, _ = run(mov(R1, 4), local, ls, "0:0:1", K.FIELD_BYTE_SIZE, [target])
    assert value(out) == 4
    # index 3 exists locally (4 elems) and in the target (8): fine; root array index
    out, _ = run(add(R1, 2 * 48), local, ls, "2", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 400


def test_array_index_out_of_target_bounds():
    local, (ls,) = build(Struct("s", 64, [Member("arr", Array(INT, INT, 16), 0)]))
    target, _ = build(Struct("s", 32, [Member("arr", Array(INT, INT, 8), 0)]))
    out, _ = run(mov(R1, 1), local, ls, "0:0:9", K.FIELD_EXISTS, [target])
    assert value(out) == 0
    out, res = run(add(R1, 36), local, ls, "0:0:9", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == "poison" and res.poison
    out, _ = run(mov(R1, 1), local, ls, "0:0:7", K.FIELD_EXISTS, [target])
    assert value(out) == 1


def test_flexible_array():
    flex_l = Struct("s", 4, [Member("n", INT, 0), Member("data", Array(INT, INT, 0), 32)])
    local, (ls,) = build(flex_l)
    target, _ = build(Struct("s", 8, [Member("x", INT, 0), Member("n", INT, 32),
                                      Member("data", Array(INT, INT, 0), 64)]))
    out, _ = run(add(R1, 4 + 400), local, ls, "0:1:100", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 8 + 400
    # a zero-length array that is not the last member is not flexible
    notlast, _ = build(Struct("s", 8, [Member("data", Array(INT, INT, 0), 0), Member("n", INT, 0)]))
    out, _ = run(mov(R1, 1), local, ls, "0:1:100", K.FIELD_EXISTS, [notlast])
    assert value(out) == 0


@pytest.mark.parametrize("ltype,ttype,ok", [
    (INT, LONG, True),                      # ints: size and sign ignored
    (INT, Ptr(INT), False),
    (Ptr(INT), Ptr(CHAR), True),            # any two pointers
    (Struct("a", 4), Union("b", 8), True),  # any two composites
    (Enum("e___x", 4, [EnumValue("A", 0)]), Enum64("e", 8, [EnumValue("B", 1)]), True),
    (Enum("e", 4), Enum("f", 4), False),    # named enums must match (modulo flavor)
    (Enum("", 4), Enum("f", 4), True),      # ... unless one is anonymous
    (Fwd("x"), Fwd("x___1"), True),
    (Fwd("x"), Fwd("y"), False),
    (Float("double", 8), Float("float", 4), True),
    (Array(INT, INT, 2), Array(LONG, INT, 9), True),
    (Array(INT, INT, 2), INT, False),
    (INT, Int("bf", 4, bits=3, offset=2), False),   # legacy bitfield ints are rejected
    (Typedef("t", Const(INT)), Volatile(LONG), True),
    (FuncProto(INT), FuncProto(INT), False),  # not a relocatable field kind
])
def test_field_compatibility(ltype, ttype, ok):
    local, (ls,) = build(Struct("s", 8, [Member("f", ltype, 0)]))
    target, _ = build(Struct("s", 8, [Member("f", ttype, 0)]))
    out, res = run(mov(R1, 1), local, ls, "0:0", K.FIELD_EXISTS, [target])
    assert value(out) == int(ok)
    assert res.matches == int(ok)


# ---------------------------------------------------------------------- bitfields
def _bf_target():
    return Struct("bf", 16, [
        Member("a", UINT, 0, 3),
        Member("b", UINT, 3, 20),
        Member("x", U16, 12, 10),      # needs a 4-byte load
        Member("y", U8, 70, 4),        # byte 8 bit 6: needs a 2-byte load at 8
        Member("s", INT, 96, 5),       # signed
        Member("z", ULONG, 10, 60),    # can't be loaded with 8 bytes
        Member("e", Enum("ee", 4, [EnumValue("N", -1)], signed=True), 101, 2),
    ])


def _bf_local():
    # plain (non-bitfield) local members with the same names
    return Struct("bf", 64, [Member(n, t, 64 * i) for i, (n, t) in enumerate(
        [("a", UINT), ("b", UINT), ("x", U16), ("y", U8), ("s", INT), ("z", ULONG),
         ("e", Enum("ee", 4, [EnumValue("N", -1)], signed=True))])])


@pytest.mark.parametrize("field,idx,off,size,lshift,rshift,signed", [
    # byte_off = container start, byte_sz = container, lshift = 64 - (bit end within container),
    # rshift = 64 - bits
    ("a", 0, 0, 4, 64 - 3, 64 - 3, 0),
    ("b", 1, 0, 4, 64 - 23, 64 - 20, 0),
    ("x", 2, 0, 4, 64 - 22, 64 - 10, 0),
    ("y", 3, 8, 2, 64 - 10, 64 - 4, 0),
    ("s", 4, 12, 4, 64 - 5, 64 - 5, 1),
    ("e", 6, 12, 4, 64 - 7, 64 - 2, 1),
])
def test_bitfields_by_hand(field, idx, off, size, lshift, rshift, signed):
    local, (ls,) = build(_bf_local())
    target, _ = build(_bf_target())
    acc = f"0:{idx}"
    lt = local[ls].members[idx].type
    # the local members are plain fields: the instruction must hold their values
    assert value(run(add(R1, 8 * idx), local, ls, acc, K.FIELD_BYTE_OFFSET, [target])[0]) == off
    assert value(run(mov(R1, lt.size), local, ls, acc, K.FIELD_BYTE_SIZE, [target])[0]) == size
    assert value(run(mov(R1, 64 - 8 * lt.size), local, ls, acc, K.FIELD_LSHIFT_U64, [target])[0]) == lshift
    assert value(run(mov(R1, 64 - 8 * lt.size), local, ls, acc, K.FIELD_RSHIFT_U64, [target])[0]) == rshift
    assert value(run(mov(R1, int(lt.signed)), local, ls, acc, K.FIELD_SIGNED, [target])[0]) == signed


def test_local_bitfields_are_not_validated_except_sign_and_rshift():
    # compilers may choose other load sizes for bitfields: libbpf doesn't check them
    local, (ls,) = build(Struct("bf", 8, [Member("b", UINT, 5, 20)]))
    target, _ = build(_bf_target())
    assert value(run(add(R1, 999), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target])[0]) == 0
    assert value(run(mov(R1, 999), local, ls, "0:0", K.FIELD_BYTE_SIZE, [target])[0]) == 4
    assert value(run(mov(R1, 999), local, ls, "0:0", K.FIELD_LSHIFT_U64, [target])[0]) == 41
    assert value(run(mov(R1, 44), local, ls, "0:0", K.FIELD_RSHIFT_U64, [target])[0]) == 44
    with pytest.raises(CoreError, match="unexpected value 40"):
        run(mov(R1, 40), local, ls, "0:0", K.FIELD_RSHIFT_U64, [target])
    with pytest.raises(CoreError, match="unexpected value 1"):
        run(mov(R1, 1), local, ls, "0:0", K.FIELD_SIGNED, [target])


def test_bitfield_too_wide_for_a_64bit_load():
    local, (ls,) = build(_bf_local())
    target, _ = build(_bf_target())
    with pytest.raises(CoreError, match="64-bit load"):
        run(add(R1, 40), local, ls, "0:5", K.FIELD_BYTE_OFFSET, [target])
    # existence does not need the load
    assert value(run(mov(R1, 1), local, ls, "0:5", K.FIELD_EXISTS, [target])[0]) == 1


def test_non_bitfield_shifts():
    local, (ls,) = build(Struct("s", 8, [Member("v", U16, 16)]))
    target, _ = build(Struct("s", 8, [Member("v", UINT, 32)]))
    assert value(run(mov(R1, 48), local, ls, "0:0", K.FIELD_LSHIFT_U64, [target])[0]) == 32
    assert value(run(mov(R1, 48), local, ls, "0:0", K.FIELD_RSHIFT_U64, [target])[0]) == 32
    with pytest.raises(CoreError, match="unexpected value 40"):
        run(mov(R1, 40), local, ls, "0:0", K.FIELD_RSHIFT_U64, [target])


# ---------------------------------------------------------------------- load/store sizes
def test_memsz_adjust_unsigned_and_pointers():
    local, (ls,) = build(Struct("s", 24, [Member("u", ULONG, 0), Member("p", Ptr(INT), 64), Member("i", LONG, 128)]))
    long32 = Int("long", 4, signed=True)  # a 32-bit kernel: pointers are 4 bytes
    target, _ = build(long32, Struct("s", 12, [Member("u", UINT, 0), Member("p", Ptr(INT), 32), Member("i", INT, 64)]))
    assert target.pointer_size == 4
    out, res = run(ldx(DW, R2, R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target])
    assert (res.orig_sz, res.new_sz) == (8, 4)
    assert out[0] == ldx(W, R2, R1, 0)
    out, _ = run(stx(DW, R1, 8, R2), local, ls, "0:1", K.FIELD_BYTE_OFFSET, [target])
    assert out[0] == stx(W, R1, 4, R2)
    out, _ = run(st(DW, R1, 8, 7), local, ls, "0:1", K.FIELD_BYTE_OFFSET, [target])
    assert out[0] == st(W, R1, 4, 7)
    # signed integer resized: the value would be wrong, poison the load (not an error)
    out, res = run(ldx(DW, R2, R1, 16), local, ls, "0:2", K.FIELD_BYTE_OFFSET, [target])
    assert res.fail_memsz_adjust and value(out) == "poison"
    # ... but an ALU use of the same offset is fine
    out, _ = run(add(R1, 16), local, ls, "0:2", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 8


def test_memsz_errors():
    local, (ls,) = build(Struct("s", 8, [Member("u", ULONG, 0)]))
    target, _ = build(Struct("s", 16, [Member("u", Int("unsigned __int128", 16), 0)]))
    with pytest.raises(CoreError, match="not a valid LDX/ST/STX size"):
        run(ldx(DW, R2, R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target])
    target2, _ = build(Struct("s", 4, [Member("u", UINT, 0)]))
    with pytest.raises(CoreError, match="accesses 4 bytes, expected the field size 8"):
        run(ldx(W, R2, R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target2])
    # same size: any access width is left alone
    target3, _ = build(Struct("s", 8, [Member("u", ULONG, 0)]))
    out, _ = run(ldx(B, R2, R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target3])
    assert out[0] == ldx(B, R2, R1, 0)


def test_array_element_size_is_used_for_loads():
    local, (ls,) = build(Struct("s", 32, [Member("a", Array(ULONG, INT, 4), 0)]))
    target, _ = build(Struct("s", 32, [Member("a", Array(UINT, INT, 8), 0)]))
    out, _ = run(ldx(DW, R2, R1, 16), local, ls, "0:0:2", K.FIELD_BYTE_OFFSET, [target])
    assert out[0] == ldx(W, R2, R1, 8)
    # the whole array: libbpf only resizes loads of ints and pointers, an array field is poisoned
    out, _ = run(ldx(DW, R2, R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == "poison"


def test_offset_out_of_16_bits():
    local, (ls,) = build(Struct("s", 8, [Member("v", INT, 0)]))
    target, _ = build(Struct("s", 40000, [Member("pad", Array(CHAR, INT, 36000), 0), Member("v", INT, 36000 * 8)]))
    with pytest.raises(CoreError, match="does not fit in the 16-bit") as ei:
        run(ldx(W, R2, R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target])
    assert ei.value.errno == "ERANGE"
    out, _ = run(add(R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 36000


# ---------------------------------------------------------------------- patching rules
def _simple():
    local, (ls,) = build(Struct("s", 8, [Member("a", INT, 0), Member("b", INT, 32)]))
    target, _ = build(Struct("s", 16, [Member("b", INT, 0), Member("a", INT, 64)]))
    return local, ls, target


def test_validation_of_the_original_value():
    local, ls, target = _simple()
    for insn, what in ((add(R1, 5), "ALU/ALU64 imm"), (ldx(W, R2, R1, 5), "LDX/ST/STX off"),
                       (ld_imm64(R1, 5), "LDIMM64 imm64")):
        with pytest.raises(CoreError, match=f"unexpected value 5 in {what}, expected 4") as ei:
            run(insn, local, ls, "0:1", K.FIELD_BYTE_OFFSET, [target], prog_name="p")
        msg = str(ei.value)
        assert "\n" not in msg and msg.startswith("prog 'p': relo #0: insn #0: <byte_off>")
        assert "struct s.b" in msg and ei.value.kind == K.FIELD_BYTE_OFFSET and ei.value.insn_index == 0
        assert isinstance(ei.value, Error)
    out, _ = run(ld_imm64(R1, 4), local, ls, "0:1", K.FIELD_BYTE_OFFSET, [target])
    assert out[0] == ld_imm64(R1, 0)


@pytest.mark.parametrize("insn,match", [
    (add(R1, R2), "register source"),
    (call(1), "can't relocate instruction"),
    (ld_abs(W, 4), "LDIMM64 has unexpected form"),
    (ld_map_fd(R1, 4), "LDIMM64 has unexpected form"),
])
def test_unrelocatable_instructions(insn, match):
    local, ls, target = _simple()
    with pytest.raises(CoreError, match=match):
        run(insn, local, ls, "0:1", K.FIELD_BYTE_OFFSET, [target])


def test_alu32_and_negative_values():
    local, (le,) = build(Enum("e", 4, [EnumValue("A", -5)], signed=True))
    target, _ = build(Enum("e", 4, [EnumValue("A", -7)], signed=True))
    out, res = run(Instruction(0xB4, 1, 0, 0, -5), local, le, "0", K.ENUMVAL_VALUE, [target])  # w1 = -5
    assert out[0].imm == -7 and res.new_val == (1 << 64) - 7
    out, _ = run(ld_imm64(R1, -5), local, le, "0", K.ENUMVAL_VALUE, [target])
    assert out[0].imm == (1 << 64) - 7


def test_poisoning_keeps_slots_and_labels():
    local, (ls,) = build(Struct("s", 8, [Member("gone", INT, 0), Member("a", INT, 32)]))
    target, _ = build(Struct("s", 8, [Member("a", INT, 0)]))
    lab = mov(R2, 0)
    lab.label = "here"
    ld = ld_imm64(R1, 0)
    ld.label = "wide"
    insns = [lab, ld, add(R1, 4), ldx(W, R2, R1, 0), exit_()]
    relos = [(1, relo(ls, "0:0", K.FIELD_BYTE_OFFSET)),   # lddw at slot 1 -> two calls
             (3, relo(ls, "0:1", K.FIELD_BYTE_OFFSET)),   # slot 3 is the add (after the lddw)
             (4, relo(ls, "0:0", K.FIELD_BYTE_OFFSET))]
    log: list[str] = []
    out = relocate(insns, relos, local, [target], log=log.append)
    assert slot_count(out) == slot_count(insns) and len(out) == len(insns) + 1
    poison = Instruction(0x85, 0, 0, 0, 195896080)
    assert out[1].opcode == 0x85 and out[1].imm == 0xBAD2310 and out[1].label == "wide"
    assert out[2] == poison and out[3] == add(R1, 0) and out[4] == poison and out[0] is lab
    assert "relo #0: substituting insn #1 w/ invalid insn" in log
    assert "relo #0: substituting insn #2 w/ invalid insn" in log
    assert "relo #1: patched insn #3 (ALU/ALU64) imm 4 -> 0" in log
    assert insns[2] == add(R1, 4)  # input untouched


def test_relocation_slot_must_start_an_instruction():
    local, ls, target = _simple()
    insns = [ld_imm64(R1, 4), exit_()]
    with pytest.raises(CoreError, match="middle of an lddw"):
        relocate(insns, [(1, relo(ls, "0:1", K.FIELD_BYTE_OFFSET))], local, [target])
    with pytest.raises(CoreError, match="past the end"):
        relocate(insns, [(3, relo(ls, "0:1", K.FIELD_BYTE_OFFSET))], local, [target])


def test_explicit_relocation_numbers():
    local, ls, target = _simple()
    log: list[str] = []
    relocate([add(R1, 4)], [(0, relo(ls, "0:1", K.FIELD_BYTE_OFFSET), 7)], local, [target], log=log.append)
    assert log[-1] == "relo #7: patched insn #0 (ALU/ALU64) imm 4 -> 0"
    with pytest.raises(CoreError, match=r"^relo #9: insn #0: <byte_off> .*struct s.b .*expected 4") as ei:
        relocate([add(R1, 5)], [(0, relo(ls, "0:1", K.FIELD_BYTE_OFFSET), 9)], local, [target])
    assert ei.value.relo_index == 9


def test_resolve_relo_without_instructions():
    local, ls, target = _simple()
    res = resolve_relo(relo(ls, "0:1", K.FIELD_BYTE_OFFSET), local, [target], relo_index=2, insn_index=5)
    assert (res.orig_val, res.new_val, res.poison, res.validate) == (4, 0, False, True)
    assert (res.orig_sz, res.new_sz, res.relo_index, res.insn_index) == (4, 4, 2, 5)
    assert res.target_spec == "<byte_off> [1] struct s.b (0:0 @ offset 0)"


def test_patch_insn_directly():
    res = CoreResult(3, 12, K.FIELD_BYTE_OFFSET, 1, orig_val=4, new_val=2416)
    log: list[str] = []
    assert patch_insn(ldx(W, R2, R1, 4), res, log=log.append, prog_name="h") == [ldx(W, R2, R1, 2416)]
    assert log == ["prog 'h': relo #3: patched insn #12 (LDX/ST/STX) off 4 -> 2416"]
    res.validate = False
    assert patch_insn(ldx(H, R2, R1, 99), res) == [ldx(H, R2, R1, 2416)]


# ---------------------------------------------------------------------- candidates
def test_missing_type_and_empty_targets():
    local, (ls,) = build(Struct("nope", 4, [Member("a", INT, 0)]))
    target, _ = build(Struct("other", 4, [Member("a", INT, 0)]))
    for targets in ([target], []):
        assert value(run(mov(R1, 1), local, ls, "0", K.TYPE_EXISTS, targets)[0]) == 0
        assert value(run(mov(R1, 1), local, ls, "0", K.TYPE_MATCHES, targets)[0]) == 0
        assert value(run(mov(R1, 1), local, ls, "0:0", K.FIELD_EXISTS, targets)[0]) == 0
        # like libbpf: size and target id of a missing type are 0, not poisoned
        assert value(run(mov(R1, 4), local, ls, "0", K.TYPE_SIZE, targets)[0]) == 0
        assert value(run(ld_imm64(R1, ls), local, ls, "0", K.TYPE_ID_TARGET, targets)[0]) == 0
        for k in (K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_SIGNED, K.FIELD_LSHIFT_U64,
                  K.FIELD_RSHIFT_U64):
            assert value(run(mov(R1, 0), local, ls, "0:0", k, targets)[0]) == "poison"


def test_several_candidates_must_agree():
    local, (ls,) = build(Struct("s___l", 8, [Member("a", INT, 0), Member("b", INT, 32)]))
    same = [Member("a", INT, 32), Member("b", INT, 0)]
    target, (t1, t2, t3) = build(Struct("s", 8, same), Struct("s___v2", 8, list(same)),
                                 Struct("s___v3", 8, [Member("a", Ptr(INT), 0)]))  # a: not compatible
    cache = CoreCache()
    out, res = run(add(R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target], cache=cache)
    assert value(out) == 4 and res.matches == 2 and res.target.type_id == t1
    assert [c.type_id for c in cache.cands[ls]] == [t1, t2]  # pruned like libbpf's cand cache
    with pytest.raises(CoreError, match="relocation decision ambiguity"):
        run(ld_imm64(R1, ls), local, ls, "0", K.TYPE_ID_TARGET, [target])
    other, _ = build(Struct("s", 8, same), Struct("s___v2", 8, [Member("a", INT, 0)]))
    with pytest.raises(CoreError, match="field offset ambiguity"):
        run(add(R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [other])


def test_flavored_target_names_are_candidates():
    local, (ls,) = build(Struct("nf_conn", 4, [Member("x", INT, 0)]))
    target, (tid,) = build(Struct("nf_conn___init", 8, [Member("pad", INT, 0), Member("x", INT, 32)]))
    out, res = run(add(R1, 0), local, ls, "0:0", K.FIELD_BYTE_OFFSET, [target])
    assert value(out) == 4 and res.target.type_id == tid
    assert [c.type_id for c in find_candidates(local, ls, [target])] == [tid]


def test_kind_filter_and_enum64_candidates():
    local, (ls, le) = build(Struct("x", 4, [Member("a", INT, 0)]), Enum("e", 4, [EnumValue("V", 1)]))
    target, ids = build(Union("x", 4, [Member("a", INT, 0)]), Typedef("x", INT),
                        Enum64("e", 8, [EnumValue("V", 1 << 40)]))
    assert find_candidates(local, ls, [target]) == []
    assert [c.type_id for c in find_candidates(local, le, [target])] == [ids[2]]
    out, _ = run(ld_imm64(R1, 1), local, le, "0", K.ENUMVAL_VALUE, [target])
    assert value(out) == 1 << 40


def test_module_btfs_only_when_vmlinux_has_no_candidate():
    vml, _ = build(Struct("core_only", 4, [Member("a", INT, 0)]), INT)
    mod, (ms, ms2) = build(Struct("mod_only", 8, [Member("pad", INT, 0), Member("a", INT, 32)]),
                           Struct("core_only", 8, [Member("pad", INT, 0), Member("a", INT, 32)]), base=vml)
    assert mod.first_id == vml.last_id + 1 and ms > vml.last_id
    local, (lm, lc) = build(Struct("mod_only", 4, [Member("a", INT, 0)]), Struct("core_only", 4, [Member("a", INT, 0)]))
    out, res = run(add(R1, 0), local, lm, "0:0", K.FIELD_BYTE_OFFSET, [vml, mod])
    assert value(out) == 4 and res.target.btf is mod and res.target.btf_name == "module #1"
    out, res = run(ld_imm64(R1, lm), local, lm, "0", K.TYPE_ID_TARGET, [vml, mod])
    assert value(out) == ms
    # vmlinux has core_only: the module's copy is not even considered
    out, res = run(add(R1, 0), local, lc, "0:0", K.FIELD_BYTE_OFFSET, [vml, mod])
    assert value(out) == 0 and res.target.btf is vml and res.matches == 1


def test_cache_is_bound_to_its_btfs():
    local, ls, target = _simple()
    cache = CoreCache()
    relocate([add(R1, 4)], [(0, relo(ls, "0:1", K.FIELD_BYTE_OFFSET))], local, [target], cache=cache)
    with pytest.raises(ValueError):
        relocate([add(R1, 4)], [(0, relo(ls, "0:1", K.FIELD_BYTE_OFFSET))], local, [local], cache=cache)


# ---------------------------------------------------------------------- type relocations
def test_type_id_local_and_anonymous_types():
    anon = Struct("", 4, [Member("a", INT, 0)])
    local, (la,) = build(anon)
    out, res = run(ld_imm64(R1, 123), local, la, "0", K.TYPE_ID_LOCAL, [])  # not validated
    assert value(out) == la and not res.validate
    with pytest.raises(CoreError, match="anonymous"):
        run(mov(R1, 1), local, la, "0", K.TYPE_EXISTS, [local])


def test_type_size_and_exists_compat():
    local, (lt, lp, lf) = build(Typedef("t", INT), Typedef("p", Ptr(INT)),
                                Typedef("f", Ptr(FuncProto(INT, [Param("", INT)]))))
    target, _ = build(Typedef("t", LONG), Typedef("p", INT),
                      Typedef("f", Ptr(FuncProto(INT, [Param("", INT), Param("", INT)]))))
    assert value(run(mov(R1, 4), local, lt, "0", K.TYPE_SIZE, [target])[0]) == 8
    assert value(run(mov(R1, 1), local, lt, "0", K.TYPE_EXISTS, [target])[0]) == 1
    assert value(run(mov(R1, 1), local, lp, "0", K.TYPE_EXISTS, [target])[0]) == 0   # ptr vs int
    assert value(run(mov(R1, 1), local, lf, "0", K.TYPE_EXISTS, [target])[0]) == 0   # 1 vs 2 params


def test_type_exists_function_pointers_and_floats():
    fp = lambda *ps: Typedef("f", Ptr(FuncProto(INT, [Param("", p) for p in ps])))  # noqa: E731
    local, (lf, lfl) = build(fp(Ptr(INT), INT), Typedef("d", Float("double", 8)))
    good, _ = build(fp(Ptr(CHAR), LONG), Typedef("d", Float("double", 8)))
    bad, _ = build(fp(INT, INT))
    assert value(run(mov(R1, 1), local, lf, "0", K.TYPE_EXISTS, [good])[0]) == 1
    assert value(run(mov(R1, 1), local, lf, "0", K.TYPE_EXISTS, [bad])[0]) == 0
    log: list[str] = []
    # like libbpf, a float is not a kind bpf_core_types_are_compat knows: "unexpected kind"
    assert value(run(mov(R1, 1), local, lfl, "0", K.TYPE_EXISTS, [good], log=log.append)[0]) == 0
    assert any(x.startswith("unexpected kind float relocated") for x in log)


def _match(ltype, ttype):
    local, (lid,) = build(ltype)
    target, (tid,) = build(ttype)
    return types_match(local, lid, target, tid)


S_AB = Struct("s", 8, [Member("a", INT, 0), Member("b", Ptr(Struct("node", 8)), 32)])


@pytest.mark.parametrize("ltype,ttype,ok", [
    (Typedef("t", INT), Typedef("t", Typedef("u", Const(INT))), 1),
    (Typedef("t", INT), Typedef("t", UINT), 0),                     # signedness
    (Typedef("t", INT), Typedef("t", LONG), 0),                     # size
    (Typedef("t", Int("int", 4, signed=True)), Typedef("t", Int("int", 4, signed=True, char=True)), 1),
    (Struct("s", 4, [Member("b", INT, 0)]), S_AB, 0),               # int vs pointer member
    (Struct("s", 4, [Member("a", INT, 0)]), S_AB, 1),               # subset, offsets ignored
    (Struct("s", 4, [Member("a", INT, 64)]), S_AB, 1),
    (Struct("s", 4, [Member("zz", INT, 0)]), S_AB, 0),              # missing member
    (Union("s", 4, [Member("a", INT, 0)]), S_AB, 0),                # kind
    (Struct("s", 4, [Member("b", Ptr(Fwd("node")), 0)]), S_AB, 1),  # fwd vs struct behind pointer
    (Struct("s", 4, [Member("b", Ptr(Fwd("node", True)), 0)]), S_AB, 0),
    (Struct("s", 4, [Member("b", Ptr(Struct("node", 1)), 0)]), S_AB, 1),  # contents ignored behind ptr
    (Struct("s", 4, [Member("b", Ptr(Union("node", 1)), 0)]), S_AB, 0),
    (Struct("s", 4, [Member("b", Ptr(Struct("other", 1)), 0)]), S_AB, 0),   # names still checked
    (Fwd("s"), Fwd("s___x"), 1),
    (Fwd("s"), Fwd("s", True), 0),
    (Fwd("s"), Struct("s", 4), 0),                                  # not behind a pointer
    (Typedef("pp", Ptr(Union("u", 1))), Typedef("pp", Ptr(Fwd("u", True))), 1),
    (Enum("e", 4, [EnumValue("A", 1)]), Enum("e", 4, [EnumValue("B", 0), EnumValue("A", 9)]), 1),  # names only
    (Enum("e", 4, [EnumValue("A", 1), EnumValue("C", 1)]), Enum("e", 4, [EnumValue("A", 9)]), 0),
    (Enum("e", 4, [EnumValue("A___x", 1)]), Enum("e", 4, [EnumValue("A", 9)]), 1),
    (Enum("e", 8, [EnumValue("A", 1)]), Enum64("e", 8, [EnumValue("A", 9)]), 1),    # enum vs enum64, same size
    (Enum("e", 4, [EnumValue("A", 1)]), Enum64("e", 8, [EnumValue("A", 9)]), 0),
    (Typedef("a", Array(INT, INT, 4)), Typedef("a", Array(INT, INT, 4)), 1),
    (Typedef("a", Array(INT, INT, 4)), Typedef("a", Array(INT, INT, 5)), 0),
    (Typedef("f", Ptr(FuncProto(INT, [Param("x", Ptr(INT))]))),
     Typedef("f", Ptr(FuncProto(INT, [Param("y", Ptr(INT))]))), 1),
    (Typedef("f", Ptr(FuncProto(INT, [Param("x", INT)]))), Typedef("f", Ptr(FuncProto(VOID, [Param("x", INT)]))), 0),
    (Typedef("f", Ptr(FuncProto(INT, [Param("x", INT)]))), Typedef("f", Ptr(FuncProto(INT, []))), 0),
    (Struct("s", 4, [Member("", INT, 0)]), Struct("s", 4, [Member("a", INT, 0)]), 0),  # anon vs named member
    (Typedef("f", Ptr(FuncProto(INT, [Param("x", INT)]))), Typedef("f", Ptr(FuncProto(INT, [Param("x", LONG)]))), 0),
    (Typedef("v", Ptr(VOID)), Typedef("v", Ptr(VOID)), 1),
    (Typedef("v", Ptr(VOID)), Typedef("v", Ptr(INT)), 0),
    (Typedef("p", Ptr(Fwd("n"))), Typedef("p", Ptr(Fwd("n"))), 1),
    (Typedef("t", Int("foo", 4)), Typedef("t", Struct("foo", 4)), 0),
    (Typedef("t", Enum("foo", 4)), Typedef("t", Struct("foo", 4)), 0),
    (Typedef("t", Ptr(INT)), Typedef("t", Array(INT, INT, 1)), 0),
    (Typedef("t", Float("double", 8)), Typedef("t", Float("double", 8)), 0),  # libbpf: unexpected kind
])
def test_types_match(ltype, ttype, ok):
    assert _match(ltype, ttype) == ok


def test_type_matches_relocation():
    local, (ls, lbad) = build(Struct("s", 4, [Member("a", INT, 0)]), Struct("s___bad", 4, [Member("a", LONG, 0)]))
    target, _ = build(S_AB)
    assert value(run(mov(R1, 1), local, ls, "0", K.TYPE_MATCHES, [target])[0]) == 1
    assert value(run(mov(R1, 1), local, lbad, "0", K.TYPE_MATCHES, [target])[0]) == 0
    assert value(run(mov(R1, 1), local, lbad, "0", K.TYPE_EXISTS, [target])[0]) == 1


# ---------------------------------------------------------------------- enums
def test_enum_values():
    local, (le, l64) = build(Enum("e", 4, [EnumValue("A", 1), EnumValue("B___new", 2), EnumValue("GONE", 3)]),
                             Enum64("big", 8, [EnumValue("H", 1 << 40)]))
    target, _ = build(Enum("e", 4, [EnumValue("B", 20), EnumValue("A", 10)]),
                      Enum64("big", 8, [EnumValue("H", (1 << 63) + 5)]))
    assert value(run(ld_imm64(R1, 1), local, le, "0", K.ENUMVAL_VALUE, [target])[0]) == 10
    assert value(run(ld_imm64(R1, 2), local, le, "1", K.ENUMVAL_VALUE, [target])[0]) == 20
    assert value(run(mov(R1, 1), local, le, "1", K.ENUMVAL_EXISTS, [target])[0]) == 1
    assert value(run(mov(R1, 1), local, le, "2", K.ENUMVAL_EXISTS, [target])[0]) == 0
    assert value(run(ld_imm64(R1, 3), local, le, "2", K.ENUMVAL_VALUE, [target])[0]) == "poison"
    assert value(run(ld_imm64(R1, 1 << 40), local, l64, "0", K.ENUMVAL_VALUE, [target])[0]) == (1 << 63) + 5
    assert format_spec(parse_spec(local, le, "1", K.ENUMVAL_VALUE)) == f"<enumval_value> [{le}] enum e::B___new = 2"


def test_unsigned_32bit_enum_is_sign_extended_like_libbpf():
    # struct btf_enum.val is __s32 in libbpf: 0xefffffff is expected as 0xffffffffefffffff
    local, (le,) = build(Enum("ino", 4, [EnumValue("X", 0xEFFFFFFF)]))
    target, _ = build(Enum("ino", 4, [EnumValue("X", 0xEFFFFFFE)]))
    with pytest.raises(CoreError, match="unexpected value 4026531839 in LDIMM64"):
        run(ld_imm64(R1, 0xEFFFFFFF), local, le, "0", K.ENUMVAL_VALUE, [target])
    out, _ = run(ld_imm64(R1, 0xFFFFFFFFEFFFFFFF), local, le, "0", K.ENUMVAL_VALUE, [target])
    assert value(out) == 0xFFFFFFFFEFFFFFFE


# ---------------------------------------------------------------------- spec parsing errors
@pytest.mark.parametrize("access,kind,match", [
    ("", K.FIELD_BYTE_OFFSET, "invalid access string"),
    (":0", K.FIELD_BYTE_OFFSET, "invalid access string"),
    ("0:", K.FIELD_BYTE_OFFSET, "invalid access string"),
    ("0:-1", K.FIELD_BYTE_OFFSET, "invalid access string"),
    ("0:x", K.FIELD_BYTE_OFFSET, "invalid access string"),
    ("0:5", K.FIELD_BYTE_OFFSET, "member #5 .* does not exist"),
    ("0:0:1", K.FIELD_BYTE_OFFSET, "unexpected kind int"),
    ("0:1:4", K.FIELD_BYTE_OFFSET, "out of bounds"),
    ("0:1", K.TYPE_EXISTS, "must be '0'"),
    ("0", K.ENUMVAL_VALUE, "does not name an enumerator"),
    (":".join(["0"] * 65), K.FIELD_BYTE_OFFSET, "more than 64"),
    ("0", 13, "unknown relocation kind"),
])
def test_bad_specs(access, kind, match):
    local, (ls,) = build(Struct("s", 20, [Member("a", INT, 0), Member("arr", Array(INT, INT, 4), 32)]))
    with pytest.raises(CoreError, match=match) as ei:
        run(mov(R1, 0), local, ls, access, kind, [local])
    assert "\n" not in str(ei.value)


def test_bad_relocations_on_valid_specs():
    local, (ls,) = build(Struct("s", 20, [Member("a", INT, 0), Member("arr", Array(INT, INT, 4), 32)]))
    for targets in ([local], []):  # with and without a matching candidate
        with pytest.raises(CoreError, match="can't be applied to array access"):
            run(mov(R1, 0), local, ls, "0:1:2", K.FIELD_SIGNED, targets)
    with pytest.raises(CoreError, match="local type id 99 does not exist"):
        run(mov(R1, 0), local, 99, "0", K.TYPE_EXISTS, [local])


def test_log_is_one_line_per_decision():
    local, ls, target = _simple()
    log: list[str] = []
    relocate([add(R1, 4)], [(0, relo(ls, "0:1", K.FIELD_BYTE_OFFSET))], local, [target], log=log.append,
             prog_name="handle")
    assert log == [
        f"CO-RE relocating [{ls}] struct s: found target candidate [1] struct s in [vmlinux]",
        f"prog 'handle': relo #0: <byte_off> [{ls}] struct s.b (0:1 @ offset 4)",
        "prog 'handle': relo #0: matching candidate #0 <byte_off> [1] struct s.b (0:0 @ offset 0)",
        "prog 'handle': relo #0: patched insn #0 (ALU/ALU64) imm 4 -> 0",
    ]
    assert all("\n" not in line for line in log)
