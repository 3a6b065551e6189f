"""Binary encoding of eBPF instructions: known byte patterns, decode errors, the model.

Byte/text pairs were produced with llvm-mc 19 (-mcpu=v4) and printed by
llvm-objdump 19 (``-d`` and ``-d --mcpu=v4``).
"""

from __future__ import annotations

import struct

import pytest

from pybpf.asm import (
    DW, R0, R1, R2, R10, Instruction, Label, W, assemble, decode, disassemble, encode, flatten,
    ld_imm64, ld_map_fd, ldx, mov, resolve, slot_count,
)
from pybpf.errors import AssemblerError, FormatError

LLVM_PLAIN = [
    ("b7 00 00 00 00 00 00 00", "r0 = 0x0"),
    ("b7 00 00 00 ff ff ff ff", "r0 = -0x1"),
    ("04 01 00 00 05 00 00 00", "w1 += 0x5"),
    ("bc 21 00 00 00 00 00 00", "w1 = w2"),
    ("0f 21 00 00 00 00 00 00", "r1 += r2"),
    ("17 01 00 00 03 00 00 00", "r1 -= 0x3"),
    ("2f 21 00 00 00 00 00 00", "r1 *= r2"),
    ("37 01 00 00 07 00 00 00", "r1 /= 0x7"),
    ("3f 21 01 00 00 00 00 00", "r1 s/= r2"),
    ("37 01 01 00 07 00 00 00", "r1 s/= 0x7"),
    ("3c 21 01 00 00 00 00 00", "w1 s/= w2"),
    ("9f 21 00 00 00 00 00 00", "r1 %= r2"),
    ("9f 21 01 00 00 00 00 00", "r1 s%= r2"),
    ("97 01 01 00 fd ff ff ff", "r1 s%= -0x3"),
    ("47 01 00 00 ff ff ff 7f", "r1 |= 0x7fffffff"),
    ("57 01 00 00 fe ff ff ff", "r1 &= -0x2"),
    ("67 01 00 00 03 00 00 00", "r1 <<= 0x3"),
    ("77 01 00 00 03 00 00 00", "r1 >>= 0x3"),
    ("c7 01 00 00 03 00 00 00", "r1 s>>= 0x3"),
    ("cc 31 00 00 00 00 00 00", "w1 s>>= w3"),
    ("87 01 00 00 00 00 00 00", "r1 = -r1"),
    ("84 01 00 00 00 00 00 00", "w1 = -w1"),
    ("af 21 00 00 00 00 00 00", "r1 ^= r2"),
    ("bf 10 08 00 00 00 00 00", "r0 = (s8)r1"),
    ("bf 10 10 00 00 00 00 00", "r0 = (s16)r1"),
    ("bf 10 20 00 00 00 00 00", "r0 = (s32)r1"),
    ("bc 10 08 00 00 00 00 00", "w0 = (s8)w1"),
    ("bc 10 10 00 00 00 00 00", "w0 = (s16)w1"),
    ("dc 00 00 00 10 00 00 00", "r0 = be16 r0"),
    ("dc 00 00 00 20 00 00 00", "r0 = be32 r0"),
    ("dc 00 00 00 40 00 00 00", "r0 = be64 r0"),
    ("d4 00 00 00 10 00 00 00", "r0 = le16 r0"),
    ("d4 00 00 00 20 00 00 00", "r0 = le32 r0"),
    ("d4 00 00 00 40 00 00 00", "r0 = le64 r0"),
    ("d7 00 00 00 10 00 00 00", "r0 = bswap16 r0"),
    ("d7 00 00 00 20 00 00 00", "r0 = bswap32 r0"),
    ("d7 00 00 00 40 00 00 00", "r0 = bswap64 r0"),
    ("61 12 00 00 00 00 00 00", "r2 = *(u32 *)(r1 + 0x0)"),
    ("71 12 f8 ff 00 00 00 00", "r2 = *(u8 *)(r1 - 0x8)"),
    ("69 12 08 00 00 00 00 00", "r2 = *(u16 *)(r1 + 0x8)"),
    ("79 12 ff 7f 00 00 00 00", "r2 = *(u64 *)(r1 + 0x7fff)"),
    ("61 12 00 00 00 00 00 00", "r2 = *(u32 *)(r1 + 0x0)"),
    ("91 12 00 00 00 00 00 00", "r2 = *(s8 *)(r1 + 0x0)"),
    ("89 12 00 00 00 00 00 00", "r2 = *(s16 *)(r1 + 0x0)"),
    ("81 12 00 00 00 00 00 00", "r2 = *(s32 *)(r1 + 0x0)"),
    ("7b 1a f8 ff 00 00 00 00", "*(u64 *)(r10 - 0x8) = r1"),
    ("63 1a f8 ff 00 00 00 00", "*(u32 *)(r10 - 0x8) = r1"),
    ("72 0a f8 ff 05 00 00 00", "*(u8 *)(r10 - 0x8) = 0x5"),
    ("7a 0a f8 ff fb ff ff ff", "*(u64 *)(r10 - 0x8) = -0x5"),
    ("db 21 00 00 00 00 00 00", "lock *(u64 *)(r1 + 0x0) += r2"),
    ("c3 21 00 00 00 00 00 00", "lock *(u32 *)(r1 + 0x0) += r2"),
    ("db 21 00 00 40 00 00 00", "lock *(u64 *)(r1 + 0x0) |= r2"),
    ("db 21 00 00 50 00 00 00", "lock *(u64 *)(r1 + 0x0) &= r2"),
    ("db 21 00 00 a0 00 00 00", "lock *(u64 *)(r1 + 0x0) ^= r2"),
    ("db 01 00 00 01 00 00 00", "r0 = atomic_fetch_add((u64 *)(r1 + 0x0), r0)"),
    ("db 01 00 00 41 00 00 00", "r0 = atomic_fetch_or((u64 *)(r1 + 0x0), r0)"),
    ("db 01 00 00 51 00 00 00", "r0 = atomic_fetch_and((u64 *)(r1 + 0x0), r0)"),
    ("db 01 00 00 a1 00 00 00", "r0 = atomic_fetch_xor((u64 *)(r1 + 0x0), r0)"),
    ("db 01 00 00 e1 00 00 00", "r0 = xchg_64(r1 + 0x0, r0)"),
    ("db 21 00 00 f1 00 00 00", "r0 = cmpxchg_64(r1 + 0x0, r0, r2)"),
    ("18 01 00 00 90 78 56 34 00 00 00 00 12 00 00 00", "r1 = 0x1234567890 ll"),
    ("18 01 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff", "r1 = -0x1 ll"),
    ("30 00 00 00 01 00 00 00", "r0 = *(u8 *)skb[0x1]"),
    ("48 10 00 00 00 00 00 00", "r0 = *(u16 *)skb[r1]"),
    ("15 01 03 00 00 00 00 00", "if r1 == 0x0 goto +0x3"),
    ("1d 21 fd ff 00 00 00 00", "if r1 == r2 goto -0x3"),
    ("2e 21 fe ff 00 00 00 00", "if w1 > w2 goto -0x2"),
    ("66 01 02 00 fb ff ff ff", "if w1 s> -0x5 goto +0x2"),
    ("45 01 01 00 03 00 00 00", "if r1 & 0x3 goto +0x1"),
    ("55 01 01 00 ff ff ff 7f", "if r1 != 0x7fffffff goto +0x1"),
    ("dd 21 01 00 00 00 00 00", "if r1 s<= r2 goto +0x1"),
    ("05 00 01 00 00 00 00 00", "goto +0x1"),
    ("06 00 00 00 07 00 00 00", "gotol +0x7"),
    ("85 00 00 00 06 00 00 00", "call 0x6"),
    ("95 00 00 00 00 00 00 00", "exit"),
    ("8d 01 00 00 00 00 00 00", "callx r1"),
    ("e5 00 03 00 00 00 00 00", "may_goto +0x3"),
    ("bf 21 01 00 01 00 00 00", "r1 = addr_space_cast(r2, 0x0, 0x1)"),
    ("73 1a f8 ff 00 00 00 00", "*(u8 *)(r10 - 0x8) = r1"),
    ("6b 1a f8 ff 00 00 00 00", "*(u16 *)(r10 - 0x8) = r1"),
    ("69 11 00 00 00 00 00 00", "r1 = *(u16 *)(r1 + 0x0)"),
]

LLVM_ALU32 = [
    ("b7 00 00 00 00 00 00 00", "r0 = 0x0"),
    ("b7 00 00 00 ff ff ff ff", "r0 = -0x1"),
    ("04 01 00 00 05 00 00 00", "w1 += 0x5"),
    ("bc 21 00 00 00 00 00 00", "w1 = w2"),
    ("0f 21 00 00 00 00 00 00", "r1 += r2"),
    ("17 01 00 00 03 00 00 00", "r1 -= 0x3"),
    ("2f 21 00 00 00 00 00 00", "r1 *= r2"),
    ("37 01 00 00 07 00 00 00", "r1 /= 0x7"),
    ("3f 21 01 00 00 00 00 00", "r1 s/= r2"),
    ("37 01 01 00 07 00 00 00", "r1 s/= 0x7"),
    ("3c 21 01 00 00 00 00 00", "w1 s/= w2"),
    ("9f 21 00 00 00 00 00 00", "r1 %= r2"),
    ("9f 21 01 00 00 00 00 00", "r1 s%= r2"),
    ("97 01 01 00 fd ff ff ff", "r1 s%= -0x3"),
    ("47 01 00 00 ff ff ff 7f", "r1 |= 0x7fffffff"),
    ("57 01 00 00 fe ff ff ff", "r1 &= -0x2"),
    ("67 01 00 00 03 00 00 00", "r1 <<= 0x3"),
    ("77 01 00 00 03 00 00 00", "r1 >>= 0x3"),
    ("c7 01 00 00 03 00 00 00", "r1 s>>= 0x3"),
    ("cc 31 00 00 00 00 00 00", "w1 s>>= w3"),
    ("87 01 00 00 00 00 00 00", "r1 = -r1"),
    ("84 01 00 00 00 00 00 00", "w1 = -w1"),
    ("af 21 00 00 00 00 00 00", "r1 ^= r2"),
    ("bf 10 08 00 00 00 00 00", "r0 = (s8)r1"),
    ("bf 10 10 00 00 00 00 00", "r0 = (s16)r1"),
    ("bf 10 20 00 00 00 00 00", "r0 = (s32)r1"),
    ("bc 10 08 00 00 00 00 00", "w0 = (s8)w1"),
    ("bc 10 10 00 00 00 00 00", "w0 = (s16)w1"),
    ("dc 00 00 00 10 00 00 00", "r0 = be16 r0"),
    ("dc 00 00 00 20 00 00 00", "r0 = be32 r0"),
    ("dc 00 00 00 40 00 00 00", "r0 = be64 r0"),
    ("d4 00 00 00 10 00 00 00", "r0 = le16 r0"),
    ("d4 00 00 00 20 00 00 00", "r0 = le32 r0"),
    ("d4 00 00 00 40 00 00 00", "r0 = le64 r0"),
    ("d7 00 00 00 10 00 00 00", "r0 = bswap16 r0"),
    ("d7 00 00 00 20 00 00 00", "r0 = bswap32 r0"),
    ("d7 00 00 00 40 00 00 00", "r0 = bswap64 r0"),
    ("61 12 00 00 00 00 00 00", "w2 = *(u32 *)(r1 + 0x0)"),
    ("71 12 f8 ff 00 00 00 00", "w2 = *(u8 *)(r1 - 0x8)"),
    ("69 12 08 00 00 00 00 00", "w2 = *(u16 *)(r1 + 0x8)"),
    ("79 12 ff 7f 00 00 00 00", "r2 = *(u64 *)(r1 + 0x7fff)"),
    ("61 12 00 00 00 00 00 00", "w2 = *(u32 *)(r1 + 0x0)"),
    ("91 12 00 00 00 00 00 00", "r2 = *(s8 *)(r1 + 0x0)"),
    ("89 12 00 00 00 00 00 00", "r2 = *(s16 *)(r1 + 0x0)"),
    ("81 12 00 00 00 00 00 00", "r2 = *(s32 *)(r1 + 0x0)"),
    ("7b 1a f8 ff 00 00 00 00", "*(u64 *)(r10 - 0x8) = r1"),
    ("63 1a f8 ff 00 00 00 00", "*(u32 *)(r10 - 0x8) = w1"),
    ("72 0a f8 ff 05 00 00 00", "*(u8 *)(r10 - 0x8) = 0x5"),
    ("7a 0a f8 ff fb ff ff ff", "*(u64 *)(r10 - 0x8) = -0x5"),
    ("db 21 00 00 00 00 00 00", "lock *(u64 *)(r1 + 0x0) += r2"),
    ("c3 21 00 00 00 00 00 00", "lock *(u32 *)(r1 + 0x0) += w2"),
    ("db 21 00 00 40 00 00 00", "lock *(u64 *)(r1 + 0x0) |= r2"),
    ("db 21 00 00 50 00 00 00", "lock *(u64 *)(r1 + 0x0) &= r2"),
    ("db 21 00 00 a0 00 00 00", "lock *(u64 *)(r1 + 0x0) ^= r2"),
    ("db 01 00 00 01 00 00 00", "r0 = atomic_fetch_add((u64 *)(r1 + 0x0), r0)"),
    ("c3 01 00 00 01 00 00 00", "w0 = atomic_fetch_add((u32 *)(r1 + 0x0), w0)"),
    ("db 01 00 00 41 00 00 00", "r0 = atomic_fetch_or((u64 *)(r1 + 0x0), r0)"),
    ("db 01 00 00 51 00 00 00", "r0 = atomic_fetch_and((u64 *)(r1 + 0x0), r0)"),
    ("db 01 00 00 a1 00 00 00", "r0 = atomic_fetch_xor((u64 *)(r1 + 0x0), r0)"),
    ("db 01 00 00 e1 00 00 00", "r0 = xchg_64(r1 + 0x0, r0)"),
    ("c3 01 00 00 e1 00 00 00", "w0 = xchg32_32(r1 + 0x0, w0)"),
    ("db 21 00 00 f1 00 00 00", "r0 = cmpxchg_64(r1 + 0x0, r0, r2)"),
    ("c3 21 00 00 f1 00 00 00", "w0 = cmpxchg32_32(r1 + 0x0, w0, w2)"),
    ("18 01 00 00 90 78 56 34 00 00 00 00 12 00 00 00", "r1 = 0x1234567890 ll"),
    ("18 01 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff", "r1 = -0x1 ll"),
    ("30 00 00 00 01 00 00 00", "r0 = *(u8 *)skb[0x1]"),
    ("48 10 00 00 00 00 00 00", "r0 = *(u16 *)skb[r1]"),
    ("15 01 03 00 00 00 00 00", "if r1 == 0x0 goto +0x3"),
    ("1d 21 fd ff 00 00 00 00", "if r1 == r2 goto -0x3"),
    ("2e 21 fe ff 00 00 00 00", "if w1 > w2 goto -0x2"),
    ("66 01 02 00 fb ff ff ff", "if w1 s> -0x5 goto +0x2"),
    ("45 01 01 00 03 00 00 00", "if r1 & 0x3 goto +0x1"),
    ("55 01 01 00 ff ff ff 7f", "if r1 != 0x7fffffff goto +0x1"),
    ("dd 21 01 00 00 00 00 00", "if r1 s<= r2 goto +0x1"),
    ("05 00 01 00 00 00 00 00", "goto +0x1"),
    ("06 00 00 00 07 00 00 00", "gotol +0x7"),
    ("85 00 00 00 06 00 00 00", "call 0x6"),
    ("95 00 00 00 00 00 00 00", "exit"),
    ("8d 01 00 00 00 00 00 00", "callx r1"),
    ("e5 00 03 00 00 00 00 00", "may_goto +0x3"),
    ("bf 21 01 00 01 00 00 00", "r1 = addr_space_cast(r2, 0x0, 0x1)"),
    ("73 1a f8 ff 00 00 00 00", "*(u8 *)(r10 - 0x8) = w1"),
    ("6b 1a f8 ff 00 00 00 00", "*(u16 *)(r10 - 0x8) = w1"),
    ("69 11 00 00 00 00 00 00", "w1 = *(u16 *)(r1 + 0x0)"),
]


@pytest.mark.parametrize("hexbytes,text", LLVM_PLAIN)
def test_llvm_objdump_vectors_plain(hexbytes: str, text: str) -> None:
    data = bytes.fromhex(hexbytes)
    insns = decode(data)
    assert len(insns) == 1
    assert encode(insns) == data
    assert disassemble(insns, "llvm", labels=False) == text + "\n"
    assert encode(assemble(text)) == data


@pytest.mark.parametrize("hexbytes,text", LLVM_ALU32)
def test_llvm_objdump_vectors_alu32(hexbytes: str, text: str) -> None:
    data = bytes.fromhex(hexbytes)
    insns = decode(data)
    assert disassemble(insns, "llvm", alu32=True, labels=False) == text + "\n"
    assert encode(assemble(text)) == data


def test_conformance_raw_lddw() -> None:
    # bpf_conformance tests/lddw.data: lddw %r0, 0x1122334455667788; exit
    words = [0x5566778800000018, 0x1122334400000000, 0x0000000000000095]
    raw = b"".join(struct.pack("<Q", w) for w in words)
    insns = assemble("lddw %r0, 0x1122334455667788\nexit\n", "conformance")
    assert encode(insns) == raw
    assert decode(raw) == insns
    assert insns[0].imm == 0x1122334455667788
    assert insns[0].size == 2 and insns[0].is_wide and insns[0].is_lddw


def test_lddw_two_slots() -> None:
    insn = ld_imm64(R1, 0x1234567890)
    data = insn.encode()
    assert data == bytes.fromhex("18010000907856340000000012000000")
    assert decode(data) == [insn]
    assert slot_count([insn, mov(R0, 0)]) == 3


def test_imm_normalization() -> None:
    assert Instruction(0xB7, 0, 0, 0, 0xFFFFFFFF).imm == -1
    assert Instruction(0xB7, 0, 0, 0xFFFF, 0).off == -1
    assert ld_imm64(R0, -1).imm == 0xFFFFFFFFFFFFFFFF
    with pytest.raises(AssemblerError):
        Instruction(0xB7, 0, 0, 0, 1 << 32)
    with pytest.raises(AssemblerError):
        Instruction(0xB7, 0, 0, 1 << 16, 0)
    with pytest.raises(AssemblerError):
        Instruction(0x100)
    with pytest.raises(AssemblerError):
        Instruction(0xB7, 16)
    with pytest.raises(AssemblerError):
        Instruction(0x18, 0, 0, 0, 1 << 64)


def test_assembler_error_is_format_error() -> None:
    assert issubclass(AssemblerError, FormatError)


@pytest.mark.parametrize("data,msg", [
    (b"\x95\x00\x00\x00\x00\x00\x00", "multiple of 8"),
    (bytes.fromhex("1801000001000000"), "truncated lddw"),
    (bytes.fromhex("18010000010000009500000000000000"), "malformed lddw"),
    (bytes.fromhex("18010000010000000010000000000000"), "malformed lddw"),
])
def test_decode_errors(data: bytes, msg: str) -> None:
    with pytest.raises(AssemblerError, match=msg):
        decode(data)


def test_decode_accepts_buffers() -> None:
    data = bytes.fromhex("b7000000000000009500000000000000")
    assert decode(bytearray(data)) == decode(memoryview(data)) == decode(data)
    assert decode(b"") == []


def test_encode_unresolved_reference() -> None:
    prog = [Instruction(0x05, reference="nowhere"), Instruction(0x95)]
    with pytest.raises(AssemblerError, match="unresolved reference"):
        encode(prog)


def test_properties() -> None:
    call = Instruction(0x85, 0, 0, 0, 1)
    assert call.is_call and call.is_helper_call and not call.is_local_call and not call.is_jump
    local = Instruction(0x85, 0, 1, 0, 3)
    assert local.is_local_call and local.is_pseudo_call and local.has_target
    assert local.target_offset == 3
    assert Instruction(0x85, 0, 2, 0, 77).is_kfunc_call
    assert Instruction(0x8D, 1).is_call
    assert Instruction(0x95).is_exit
    jeq = Instruction(0x15, 1, 0, -3, 0)
    assert jeq.is_jump and jeq.is_conditional_jump and jeq.target_offset == -3
    assert jeq.cls == 5
    gotol = Instruction(0x06, 0, 0, 0, 100000)
    assert gotol.is_jump and not gotol.is_conditional_jump and gotol.target_offset == 100000
    assert Instruction(0x05, 0, 0, 2).is_jump
    assert not Instruction(0x07, 1, 0, 0, 1).is_jump
    for src, expected in [(0, False), (1, True), (2, True), (3, False), (4, False), (5, True), (6, True)]:
        assert Instruction(0x18, 1, src, 0, 5).is_map_load is expected
    assert Instruction(0x18, 1, 4, 0, 5).is_pseudo_func
    fn = Instruction(0x18, 1, 4, 0, 0xFFFFFFFE)
    assert fn.target_offset == -2
    with pytest.raises(AssemblerError):
        _ = mov(R0, 1).target_offset


def test_equality_and_repr() -> None:
    a = mov(R0, 1)
    b = Instruction(0xB7, 0, 0, 0, 1)
    assert a == b
    assert a != Instruction(0xB7, 0, 0, 0, 1, label="x")
    assert a != Instruction(0xB7, 0, 0, 0, 1, symbol="x")
    assert a != "r0 = 1"
    r = repr(Instruction(0xB7, 0, 0, 0, 1, label="start"))
    assert "r0 = 0x1" in r and "label='start'" in r and "0xb7" in r
    assert str(a) == "r0 = 0x1"
    with pytest.raises(TypeError):
        hash(a)


def test_replace_and_copy() -> None:
    a = ld_map_fd(R1, 3)
    b = a.replace(imm=7)
    assert a.imm == 3 and b.imm == 7 and b.src == 1
    c = a.copy()
    assert c == a and c is not a
    with pytest.raises(TypeError):
        a.replace(bogus=1)
    with pytest.raises(AssemblerError):
        a.replace(dst=99)


def test_resolve_offsets_count_slots() -> None:
    prog = [
        Instruction(0x05, reference="end"),      # 0
        ld_imm64(R1, 1),                          # 1-2
        Instruction(0x15, 1, 0, 0, 0, reference="end"),  # 3
        Instruction(0x06, reference="start"),     # 4 gotol
        Instruction(0x85, 0, 1, 0, 0, reference="start"),  # 5 local call
        Instruction(0x18, 2, 4, 0, 0, reference="end"),     # 6-7 ld_func
        Label("end"),
        Instruction(0x95),                        # 8
    ]
    prog[0] = prog[0].replace(label="start")
    out = resolve(prog)
    assert [i.reference for i in out] == [None] * 7
    assert out[0].off == 7
    assert out[2].off == 4
    assert out[3].imm == -5
    assert out[4].imm == -6
    assert out[5].imm == 1
    assert out[6].label == "end"
    # the input is untouched
    assert prog[0].reference == "end"


def test_resolve_errors() -> None:
    with pytest.raises(AssemblerError, match="undefined label"):
        resolve([Instruction(0x05, reference="x")])
    partial = resolve([Instruction(0x05, reference="x")], strict=False)
    assert partial[0].reference == "x"
    with pytest.raises(AssemblerError, match="duplicate label"):
        resolve([Instruction(0x95, label="a"), Instruction(0x95, label="a")])
    with pytest.raises(AssemblerError, match="out of 16-bit range"):
        resolve([Instruction(0x05, reference="far")] + [mov(R0, 0)] * 40000 + [Label("far"), Instruction(0x95)])
    with pytest.raises(AssemblerError, match="cannot refer"):
        resolve([Instruction(0xB7, reference="x"), Label("x"), Instruction(0x95)])
    with pytest.raises(AssemblerError, match="not followed"):
        flatten([mov(R0, 0), Label("end")])
    with pytest.raises(AssemblerError, match="same instruction"):
        flatten([Label("a"), Label("b"), mov(R0, 0)])


def test_flatten_nested() -> None:
    prog = [mov(R0, 0), [ldx(W, R1, R10, -8), [Label("x"), mov(R0, 1)]], (i for i in [Instruction(0x95)])]
    flat = flatten(prog)
    assert len(flat) == 4 and flat[2].label == "x"
    with pytest.raises(AssemblerError):
        flatten([b"\x95" * 8])
    with pytest.raises(AssemblerError):
        flatten([42])


def test_decode_encode_large_program() -> None:
    # 100,000 slots: every instruction decoded in order, lddw pairs joined, bytes round-trip
    prog = [mov(R0, i % 100) for i in range(90000)] + [ld_imm64(R1, i << 32 | i) for i in range(5000)]
    data = encode(prog)
    assert len(data) == (90000 + 2 * 5000) * 8
    insns = decode(data)
    assert len(insns) == 95000
    assert insns == prog
    assert [x.imm for x in insns[:90000:997]] == [i % 100 for i in range(0, 90000, 997)]
    assert all(x.opcode == 0x18 and x.dst == 1 and x.imm == (i << 32 | i) for i, x in enumerate(insns[90000:]))
    assert encode(insns) == data


def test_dw_size_constant() -> None:
    assert ldx(DW, R2, R1, 0).opcode == 0x79
    assert ldx(8, R2, R1, 0).opcode == 0x79
    assert ldx("u64", R2, R1, 0).opcode == 0x79
