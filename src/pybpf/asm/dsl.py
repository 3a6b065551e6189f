"""A Pythonic builder for eBPF instructions.

Every function returns one :class:`~pybpf.asm.insn.Instruction`::

    from pybpf.asm.dsl import *
    prog = resolve([
        mov(R0, 0),
        ldx(W, R2, R1, 0),
        jeq(R2, 0, "out"),          # jump targets: a label name or an int offset
        mov(R0, 1),
        label("out"),
        exit_(),
    ])

or with a :class:`Builder`: ``a = Builder(); a.mov(R0, 0); a.label("out"); a.exit_();
insns = a.build()``.

Conventions: registers are :class:`~pybpf.asm.opcodes.Register` values (``R0``..``R10``,
``FP``) or strings ``"r1"``; a plain ``int`` where a register *or* an immediate is
allowed is an immediate. Sizes are ``B, H, W, DW`` or 1/2/4/8. Functions ending in
``32`` are the 32-bit (ALU/JMP32 class) forms. 64-bit ALU and JMP immediates must
fit in a *signed* 32-bit value, as they are sign-extended (use :func:`ld_imm64`).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Union

from pybpf.errors import AssemblerError

from .helpers import HelperID, helper_id
from .insn import Instruction, Label, resolve, slot_count
from .opcodes import B, DW, FP, H, W, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, Register, Size, size_code  # noqa: F401

__all__ = [
    "Register", "R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "FP",
    "B", "H", "W", "DW", "Size", "Label", "label", "Builder",
    "mov", "mov32", "add", "add32", "sub", "sub32", "mul", "mul32", "div", "div32",
    "or_", "or32", "and_", "and32", "lsh", "lsh32", "rsh", "rsh32", "mod", "mod32",
    "xor", "xor32", "arsh", "arsh32", "sdiv", "sdiv32", "smod", "smod32",
    "neg", "neg32", "movsx", "movsx32", "bswap", "le", "be", "to_le", "to_be",
    "addr_space_cast",
    "ldx", "ldxsx", "ldsx", "stx", "st",
    "atomic_add", "atomic_or", "atomic_and", "atomic_xor",
    "atomic_fetch_add", "atomic_fetch_or", "atomic_fetch_and", "atomic_fetch_xor",
    "xchg", "cmpxchg", "load_acquire", "store_release",
    "ld_imm64", "ld_map_fd", "ld_map_value", "ld_map_by_name", "ld_map_idx",
    "ld_map_idx_value", "ld_btf_id", "ld_func", "ld_abs", "ld_ind",
    "ja", "ja32", "gotol", "may_goto", "gotox",
    "jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle",
    "jeq32", "jne32", "jgt32", "jge32", "jlt32", "jle32", "jset32", "jsgt32", "jsge32",
    "jslt32", "jsle32",
    "call", "call_local", "call_kfunc", "callx", "exit_", "ret",
]

RegLike = Union[Register, int, str]
RegOrImm = Union[Register, int, str]
Target = Union[str, int, Label]

_RE_REGNAME = re.compile(r"^[rw](10|[0-9])$")


def _reg(x: Any, what: str = "register") -> int:
    if isinstance(x, Register):
        return int(x)
    if isinstance(x, str):
        m = _RE_REGNAME.match(x.strip().lower())
        if m:
            return int(m.group(1))
    elif isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 10:
        return int(x)
    raise AssemblerError(f"invalid {what} {x!r} (expected R0..R10)")


def _is_reg(x: Any) -> bool:
    return isinstance(x, Register) or (isinstance(x, str) and bool(_RE_REGNAME.match(x.strip().lower())))


def _imm(value: Any, wide_signed: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AssemblerError(f"invalid immediate {value!r}")
    v = int(value)
    if wide_signed:
        if not -0x80000000 <= v <= 0x7FFFFFFF:
            raise AssemblerError(
                f"immediate {v:#x} does not fit in a signed 32-bit value (64-bit operations "
                "sign-extend it); use ld_imm64 or a 32-bit operation")
    elif not -0x80000000 <= v <= 0xFFFFFFFF:
        raise AssemblerError(f"immediate {v:#x} does not fit in 32 bits")
    return v


def _off(off: Any, what: str = "offset") -> int:
    if isinstance(off, bool) or not isinstance(off, int) or not -0x8000 <= off <= 0x7FFF:
        raise AssemblerError(f"{what} {off!r} does not fit in a signed 16-bit value")
    return int(off)


def _target16(target: Target) -> tuple[int, str | None]:
    off, ref = _target(target)
    return _off(off, "jump offset"), ref


def _target32(target: Target) -> tuple[int, str | None]:
    off, ref = _target(target)
    if not -0x80000000 <= off <= 0x7FFFFFFF:
        raise AssemblerError(f"offset {off} does not fit in a signed 32-bit value")
    return off, ref


def _target(target: Target) -> tuple[int, str | None]:
    if isinstance(target, Label):
        return 0, target.name
    if isinstance(target, str):
        if not target:
            raise AssemblerError("empty label name")
        return 0, target
    if isinstance(target, int) and not isinstance(target, bool):
        return int(target), None
    raise AssemblerError(f"invalid jump target {target!r} (expected a label name or an offset)")


def label(name: str) -> Label:
    """A label marker: attach ``name`` to the next instruction (see :func:`~pybpf.asm.resolve`)."""
    return Label(name)


# -- ALU ----------------------------------------------------------------------

def _alu(cls: int, aop: int, dst: RegLike, src: RegOrImm, signed: bool = False) -> Instruction:
    d = _reg(dst, "destination register")
    off = 1 if signed else 0
    if _is_reg(src):
        return Instruction(cls | aop | 0x08, d, _reg(src), off, 0)
    return Instruction(cls | aop, d, 0, off, _imm(src, cls == 0x07))


def _make_alu(name: str, cls: int, aop: int, signed: bool, doc: str) -> Callable[[RegLike, RegOrImm], Instruction]:
    def fn(dst: RegLike, src: RegOrImm) -> Instruction:
        return _alu(cls, aop, dst, src, signed)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


_ALU_SPECS = [
    ("mov", 0xB0, "=", False), ("add", 0x00, "+=", False), ("sub", 0x10, "-=", False),
    ("mul", 0x20, "*=", False), ("div", 0x30, "/=", False), ("or_", 0x40, "|=", False),
    ("and_", 0x50, "&=", False), ("lsh", 0x60, "<<=", False), ("rsh", 0x70, ">>=", False),
    ("mod", 0x90, "%=", False), ("xor", 0xA0, "^=", False), ("arsh", 0xC0, "s>>=", False),
    ("sdiv", 0x30, "s/=", True), ("smod", 0x90, "s%=", True),
]
for _name, _aop, _sym, _signed in _ALU_SPECS:
    _base = _name.rstrip("_")
    globals()[_name] = _make_alu(
        _name, 0x07, _aop, _signed,
        f"64-bit ``dst {_sym} src`` (``src``: register or signed 32-bit immediate).")
    globals()[_base + "32"] = _make_alu(
        _base + "32", 0x04, _aop, _signed, f"32-bit ``wdst {_sym} src`` (ALU class).")

mov: Callable[[RegLike, RegOrImm], Instruction]
mov32: Callable[[RegLike, RegOrImm], Instruction]
add: Callable[[RegLike, RegOrImm], Instruction]
add32: Callable[[RegLike, RegOrImm], Instruction]
sub: Callable[[RegLike, RegOrImm], Instruction]
sub32: Callable[[RegLike, RegOrImm], Instruction]
mul: Callable[[RegLike, RegOrImm], Instruction]
mul32: Callable[[RegLike, RegOrImm], Instruction]
div: Callable[[RegLike, RegOrImm], Instruction]
div32: Callable[[RegLike, RegOrImm], Instruction]
or_: Callable[[RegLike, RegOrImm], Instruction]
or32: Callable[[RegLike, RegOrImm], Instruction]
and_: Callable[[RegLike, RegOrImm], Instruction]
and32: Callable[[RegLike, RegOrImm], Instruction]
lsh: Callable[[RegLike, RegOrImm], Instruction]
lsh32: Callable[[RegLike, RegOrImm], Instruction]
rsh: Callable[[RegLike, RegOrImm], Instruction]
rsh32: Callable[[RegLike, RegOrImm], Instruction]
mod: Callable[[RegLike, RegOrImm], Instruction]
mod32: Callable[[RegLike, RegOrImm], Instruction]
xor: Callable[[RegLike, RegOrImm], Instruction]
xor32: Callable[[RegLike, RegOrImm], Instruction]
arsh: Callable[[RegLike, RegOrImm], Instruction]
arsh32: Callable[[RegLike, RegOrImm], Instruction]
sdiv: Callable[[RegLike, RegOrImm], Instruction]
sdiv32: Callable[[RegLike, RegOrImm], Instruction]
smod: Callable[[RegLike, RegOrImm], Instruction]
smod32: Callable[[RegLike, RegOrImm], Instruction]


def neg(dst: RegLike) -> Instruction:
    """64-bit ``dst = -dst``."""
    return Instruction(0x87, _reg(dst))


def neg32(dst: RegLike) -> Instruction:
    """32-bit ``wdst = -wdst``."""
    return Instruction(0x84, _reg(dst))


def movsx(dst: RegLike, src: RegLike, bits: int) -> Instruction:
    """64-bit sign-extending move ``dst = (s<bits>)src``, bits 8, 16 or 32 (ISA v4)."""
    if bits not in (8, 16, 32):
        raise AssemblerError(f"movsx bits must be 8, 16 or 32, not {bits!r}")
    return Instruction(0xBF, _reg(dst), _reg(src), bits, 0)


def movsx32(dst: RegLike, src: RegLike, bits: int) -> Instruction:
    """32-bit sign-extending move ``wdst = (s<bits>)wsrc``, bits 8 or 16 (ISA v4)."""
    if bits not in (8, 16):
        raise AssemblerError(f"movsx32 bits must be 8 or 16, not {bits!r}")
    return Instruction(0xBC, _reg(dst), _reg(src), bits, 0)


def _end_bits(bits: int) -> int:
    if bits not in (16, 32, 64):
        raise AssemblerError(f"byte swap width must be 16, 32 or 64, not {bits!r}")
    return bits


def bswap(dst: RegLike, bits: int) -> Instruction:
    """Unconditional byte swap ``dst = bswap<bits> dst`` (ALU64 END, ISA v4)."""
    return Instruction(0xD7, _reg(dst), 0, 0, _end_bits(bits))


def le(dst: RegLike, bits: int) -> Instruction:
    """Convert ``dst`` to little endian (``dst = le<bits> dst``)."""
    return Instruction(0xD4, _reg(dst), 0, 0, _end_bits(bits))


def be(dst: RegLike, bits: int) -> Instruction:
    """Convert ``dst`` to big endian (``dst = be<bits> dst``)."""
    return Instruction(0xDC, _reg(dst), 0, 0, _end_bits(bits))


to_le = le
to_be = be


def addr_space_cast(dst: RegLike, src: RegLike, dst_as: int, src_as: int) -> Instruction:
    """``dst = addr_space_cast(src, dst_as, src_as)`` (arena pointers, Linux 6.9+)."""
    if not (0 <= dst_as <= 0xFFFF and 0 <= src_as <= 0xFFFF):
        raise AssemblerError("address spaces must fit in 16 bits")
    return Instruction(0xBF, _reg(dst), _reg(src), 1, (dst_as << 16) | src_as)


# -- memory ---------------------------------------------------------------------

def ldx(size: int | str, dst: RegLike, src: RegLike, off: int = 0) -> Instruction:
    """Load ``dst = *(u<size> *)(src + off)``."""
    return Instruction(0x61 | size_code(size), _reg(dst), _reg(src), _off(off), 0)


def ldxsx(size: int | str, dst: RegLike, src: RegLike, off: int = 0) -> Instruction:
    """Sign-extending load ``dst = *(s<size> *)(src + off)``; size B, H or W (ISA v4)."""
    code = size_code(size)
    if code == 0x18:
        raise AssemblerError("sign-extending loads are 1, 2 or 4 bytes wide")
    return Instruction(0x81 | code, _reg(dst), _reg(src), _off(off), 0)


ldsx = ldxsx


def stx(size: int | str, dst: RegLike, off: int, src: RegLike) -> Instruction:
    """Store ``*(u<size> *)(dst + off) = src``."""
    return Instruction(0x63 | size_code(size), _reg(dst), _reg(src), _off(off), 0)


def st(size: int | str, dst: RegLike, off: int, imm: int) -> Instruction:
    """Store an immediate ``*(u<size> *)(dst + off) = imm``."""
    return Instruction(0x62 | size_code(size), _reg(dst), 0, _off(off), _imm(imm, False))


def _atomic(size: int | str, dst: RegLike, off: int, src: RegLike, op: int) -> Instruction:
    code = size_code(size)
    if code not in (0x00, 0x18):
        raise AssemblerError("atomic read-modify-write operations are 4 or 8 bytes wide")
    return Instruction(0xC3 | code, _reg(dst), _reg(src), _off(off), op)


def atomic_add(size: int | str, dst: RegLike, off: int, src: RegLike, fetch: bool = False) -> Instruction:
    """``lock *(size *)(dst + off) += src``; with ``fetch`` the old value goes to ``src``."""
    return _atomic(size, dst, off, src, 0x00 | int(fetch))


def atomic_or(size: int | str, dst: RegLike, off: int, src: RegLike, fetch: bool = False) -> Instruction:
    """``lock *(size *)(dst + off) |= src`` (``fetch``: old value into ``src``)."""
    return _atomic(size, dst, off, src, 0x40 | int(fetch))


def atomic_and(size: int | str, dst: RegLike, off: int, src: RegLike, fetch: bool = False) -> Instruction:
    """``lock *(size *)(dst + off) &= src`` (``fetch``: old value into ``src``)."""
    return _atomic(size, dst, off, src, 0x50 | int(fetch))


def atomic_xor(size: int | str, dst: RegLike, off: int, src: RegLike, fetch: bool = False) -> Instruction:
    """``lock *(size *)(dst + off) ^= src`` (``fetch``: old value into ``src``)."""
    return _atomic(size, dst, off, src, 0xA0 | int(fetch))


def atomic_fetch_add(size: int | str, dst: RegLike, off: int, src: RegLike) -> Instruction:
    """``src = atomic_fetch_add((size *)(dst + off), src)``."""
    return _atomic(size, dst, off, src, 0x01)


def atomic_fetch_or(size: int | str, dst: RegLike, off: int, src: RegLike) -> Instruction:
    """``src = atomic_fetch_or((size *)(dst + off), src)``."""
    return _atomic(size, dst, off, src, 0x41)


def atomic_fetch_and(size: int | str, dst: RegLike, off: int, src: RegLike) -> Instruction:
    """``src = atomic_fetch_and((size *)(dst + off), src)``."""
    return _atomic(size, dst, off, src, 0x51)


def atomic_fetch_xor(size: int | str, dst: RegLike, off: int, src: RegLike) -> Instruction:
    """``src = atomic_fetch_xor((size *)(dst + off), src)``."""
    return _atomic(size, dst, off, src, 0xA1)


def xchg(size: int | str, dst: RegLike, off: int, src: RegLike) -> Instruction:
    """Atomic exchange: ``src = xchg((size *)(dst + off), src)``."""
    return _atomic(size, dst, off, src, 0xE1)


def cmpxchg(size: int | str, dst: RegLike, off: int, src: RegLike) -> Instruction:
    """Atomic compare-and-exchange: ``r0 = cmpxchg((size *)(dst + off), r0, src)``."""
    return _atomic(size, dst, off, src, 0xF1)


def load_acquire(size: int | str, dst: RegLike, src: RegLike, off: int = 0) -> Instruction:
    """``dst = load_acquire((size *)(src + off))`` (Linux 6.15+)."""
    return Instruction(0xC3 | size_code(size), _reg(dst), _reg(src), _off(off), 0x100)


def store_release(size: int | str, dst: RegLike, off: int, src: RegLike) -> Instruction:
    """``store_release((size *)(dst + off), src)`` (Linux 6.15+)."""
    return Instruction(0xC3 | size_code(size), _reg(dst), _reg(src), _off(off), 0x110)


# -- 64-bit immediate loads -----------------------------------------------------------

def ld_imm64(dst: RegLike, value: int) -> Instruction:
    """``dst = value ll``: load a 64-bit immediate (two slots)."""
    return Instruction(0x18, _reg(dst), 0, 0, value)


def _u32(value: int, what: str) -> int:
    if not -0x80000000 <= value <= 0xFFFFFFFF:
        raise AssemblerError(f"{what} {value} does not fit in 32 bits")
    return value & 0xFFFFFFFF


def ld_map_fd(dst: RegLike, fd: int) -> Instruction:
    """Load a map pointer by fd (``BPF_PSEUDO_MAP_FD``)."""
    return Instruction(0x18, _reg(dst), 1, 0, _u32(fd, "map fd"))


def ld_map_value(dst: RegLike, fd: int, off: int = 0) -> Instruction:
    """Load the address of a map's value plus ``off`` (``BPF_PSEUDO_MAP_VALUE``, array maps)."""
    return Instruction(0x18, _reg(dst), 2, 0, _u32(fd, "map fd") | (_u32(off, "value offset") << 32))


def ld_map_by_name(dst: RegLike, name: str, offset: int | None = None) -> Instruction:
    """A map load for a loader to patch: ``symbol`` is the map name, ``imm`` is 0.

    Without ``offset`` it is a ``BPF_PSEUDO_MAP_FD`` load, with it a
    ``BPF_PSEUDO_MAP_VALUE`` load of the value at that offset.
    """
    if offset is None:
        return Instruction(0x18, _reg(dst), 1, 0, 0, symbol=name)
    return Instruction(0x18, _reg(dst), 2, 0, _u32(offset, "value offset") << 32, symbol=name)


def ld_map_idx(dst: RegLike, idx: int) -> Instruction:
    """Load a map pointer by index into the ``fd_array`` (``BPF_PSEUDO_MAP_IDX``)."""
    return Instruction(0x18, _reg(dst), 5, 0, _u32(idx, "map index"))


def ld_map_idx_value(dst: RegLike, idx: int, off: int = 0) -> Instruction:
    """Load a map value address by ``fd_array`` index (``BPF_PSEUDO_MAP_IDX_VALUE``)."""
    return Instruction(0x18, _reg(dst), 6, 0, _u32(idx, "map index") | (_u32(off, "value offset") << 32))


def ld_btf_id(dst: RegLike, btf_id: int, btf_obj_fd: int = 0) -> Instruction:
    """Load the address of a kernel variable by BTF id (``BPF_PSEUDO_BTF_ID``);
    ``btf_obj_fd`` selects a module's BTF (0: vmlinux)."""
    return Instruction(0x18, _reg(dst), 3, 0, _u32(btf_id, "BTF id") | (_u32(btf_obj_fd, "BTF fd") << 32))


def ld_func(dst: RegLike, target: Target) -> Instruction:
    """Load the address of a subprogram (``BPF_PSEUDO_FUNC``, e.g. for ``bpf_loop`` callbacks)."""
    off, ref = _target32(target)
    return Instruction(0x18, _reg(dst), 4, 0, off & 0xFFFFFFFF, reference=ref)


def ld_abs(size: int | str, imm: int) -> Instruction:
    """Legacy packet load ``r0 = *(u<size> *)skb[imm]``."""
    return Instruction(0x20 | size_code(size), 0, 0, 0, _imm(imm, False))


def ld_ind(size: int | str, src: RegLike, imm: int = 0) -> Instruction:
    """Legacy packet load ``r0 = *(u<size> *)skb[src + imm]``."""
    return Instruction(0x40 | size_code(size), 0, _reg(src), 0, _imm(imm, False))


# -- jumps and calls -----------------------------------------------------------------

def ja(target: Target) -> Instruction:
    """Unconditional jump ``goto target`` (16-bit offset)."""
    off, ref = _target16(target)
    return Instruction(0x05, 0, 0, off, 0, reference=ref)


def ja32(target: Target) -> Instruction:
    """Long unconditional jump ``gotol target`` (32-bit offset in imm, ISA v4)."""
    off, ref = _target32(target)
    return Instruction(0x06, 0, 0, 0, off, reference=ref)


gotol = ja32


def may_goto(target: Target) -> Instruction:
    """``may_goto target`` (bounded-loop escape, Linux 6.9+)."""
    off, ref = _target16(target)
    return Instruction(0xE5, 0, 0, off, 0, reference=ref)


def gotox(reg: RegLike) -> Instruction:
    """Indirect jump ``gotox reg`` (newest kernels only)."""
    return Instruction(0x0D, _reg(reg))


def _jmp(cls: int, op: int, dst: RegLike, src: RegOrImm, target: Target) -> Instruction:
    off, ref = _target16(target)
    d = _reg(dst, "register")
    if _is_reg(src):
        return Instruction(cls | op | 0x08, d, _reg(src), off, 0, reference=ref)
    return Instruction(cls | op, d, 0, off, _imm(src, cls == 0x05), reference=ref)


def _make_jmp(name: str, cls: int, op: int, sym: str) -> Callable[[RegLike, RegOrImm, Target], Instruction]:
    def fn(dst: RegLike, src: RegOrImm, target: Target) -> Instruction:
        return _jmp(cls, op, dst, src, target)

    fn.__name__ = fn.__qualname__ = name
    width = "32-bit" if cls == 0x06 else "64-bit"
    fn.__doc__ = f"``if dst {sym} src goto target`` ({width} comparison; target: label or offset)."
    return fn


_JMP_SPECS = [
    ("jeq", 0x10, "=="), ("jgt", 0x20, ">"), ("jge", 0x30, ">="), ("jset", 0x40, "&"),
    ("jne", 0x50, "!="), ("jsgt", 0x60, "s>"), ("jsge", 0x70, "s>="), ("jlt", 0xA0, "<"),
    ("jle", 0xB0, "<="), ("jslt", 0xC0, "s<"), ("jsle", 0xD0, "s<="),
]
for _name, _op, _sym in _JMP_SPECS:
    globals()[_name] = _make_jmp(_name, 0x05, _op, _sym)
    globals()[_name + "32"] = _make_jmp(_name + "32", 0x06, _op, _sym)

jeq: Callable[[RegLike, RegOrImm, Target], Instruction]
jne: Callable[[RegLike, RegOrImm, Target], Instruction]
jgt: Callable[[RegLike, RegOrImm, Target], Instruction]
jge: Callable[[RegLike, RegOrImm, Target], Instruction]
jlt: Callable[[RegLike, RegOrImm, Target], Instruction]
jle: Callable[[RegLike, RegOrImm, Target], Instruction]
jset: Callable[[RegLike, RegOrImm, Target], Instruction]
jsgt: Callable[[RegLike, RegOrImm, Target], Instruction]
jsge: Callable[[RegLike, RegOrImm, Target], Instruction]
jslt: Callable[[RegLike, RegOrImm, Target], Instruction]
jsle: Callable[[RegLike, RegOrImm, Target], Instruction]
jeq32: Callable[[RegLike, RegOrImm, Target], Instruction]
jne32: Callable[[RegLike, RegOrImm, Target], Instruction]
jgt32: Callable[[RegLike, RegOrImm, Target], Instruction]
jge32: Callable[[RegLike, RegOrImm, Target], Instruction]
jlt32: Callable[[RegLike, RegOrImm, Target], Instruction]
jle32: Callable[[RegLike, RegOrImm, Target], Instruction]
jset32: Callable[[RegLike, RegOrImm, Target], Instruction]
jsgt32: Callable[[RegLike, RegOrImm, Target], Instruction]
jsge32: Callable[[RegLike, RegOrImm, Target], Instruction]
jslt32: Callable[[RegLike, RegOrImm, Target], Instruction]
jsle32: Callable[[RegLike, RegOrImm, Target], Instruction]


def call(helper: int | HelperID | str) -> Instruction:
    """Call a helper by id, :class:`HelperID` or name (``"map_lookup_elem"`` or
    ``"bpf_map_lookup_elem"``)."""
    if isinstance(helper, bool):
        raise AssemblerError(f"invalid helper {helper!r}")
    return Instruction(0x85, 0, 0, 0, _imm(helper_id(helper), False))


def call_local(target: Target) -> Instruction:
    """bpf-to-bpf call of a subprogram (``src = BPF_PSEUDO_CALL``, relative offset in imm)."""
    off, ref = _target32(target)
    return Instruction(0x85, 0, 1, 0, off, reference=ref)


def call_kfunc(btf_id: int, off: int = 0) -> Instruction:
    """Call a kernel function by BTF id (``src = BPF_PSEUDO_KFUNC_CALL``); ``off`` is the
    index of the module BTF fd in ``fd_array`` (0: vmlinux)."""
    return Instruction(0x85, 0, 2, _off(off), _imm(btf_id, False))


def callx(reg: RegLike) -> Instruction:
    """Indirect call through a register (``callx``; not supported by Linux)."""
    return Instruction(0x8D, _reg(reg))


def exit_() -> Instruction:
    """``exit``: return ``r0`` to the caller."""
    return Instruction(0x95)


ret = exit_


class Builder:
    """Collects instructions: every DSL function is available as a method that appends
    its result and returns the builder (so calls chain)::

        a = Builder()
        a.mov(R0, 0).jeq(R1, 0, "out")
        a.mov(R0, 1)
        a.label("out")
        a.exit_()
        insns = a.build()

    :meth:`build` resolves label references (see :func:`~pybpf.asm.resolve`).
    """

    def __init__(self) -> None:
        self.insns: list[Instruction] = []
        self._pending: str | None = None

    def emit(self, *items: Instruction | Iterable[Instruction]) -> "Builder":
        """Append instructions (or lists of them)."""
        for item in items:
            if isinstance(item, Instruction):
                self._append(item)
            elif isinstance(item, Label):
                self.label(item.name)
            else:
                for insn in item:
                    self.emit(insn)
        return self

    append = emit

    def _append(self, insn: Instruction) -> None:
        if self._pending is not None:
            if insn.label is not None and insn.label != self._pending:
                raise AssemblerError(f"labels {self._pending!r} and {insn.label!r} mark the same instruction")
            insn = insn.copy()
            insn.label = self._pending
            self._pending = None
        self.insns.append(insn)

    def label(self, name: str) -> "Builder":
        """Define label ``name`` at the next instruction."""
        if self._pending is not None:
            raise AssemblerError(f"labels {self._pending!r} and {name!r} mark the same instruction")
        Label(name)  # validate
        self._pending = name
        return self

    @property
    def pc(self) -> int:
        """The slot index the next instruction will get."""
        return slot_count(self.insns)

    def __len__(self) -> int:
        return len(self.insns)

    def build(self, *, resolve_labels: bool = True) -> list[Instruction]:
        """The instructions, with label references resolved unless ``resolve_labels=False``."""
        if self._pending is not None:
            raise AssemblerError(f"label {self._pending!r} is not followed by an instruction")
        if resolve_labels:
            return resolve(self.insns)
        return list(self.insns)

    def encode(self) -> bytes:
        """The resolved program's bytes."""
        from .insn import encode

        return encode(self.build())

    def exit(self) -> "Builder":
        """Append ``exit`` (same as :meth:`exit_`)."""
        return self.emit(exit_())

    def __getattr__(self, name: str) -> Callable[..., "Builder"]:
        fn = _BUILDER_FUNCS.get(name)
        if fn is None:
            raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

        def method(*args: Any, **kwargs: Any) -> "Builder":
            return self.emit(fn(*args, **kwargs))

        method.__name__ = name
        method.__doc__ = fn.__doc__
        return method


_BUILDER_FUNCS: dict[str, Callable[..., Instruction]] = {
    name: globals()[name] for name in __all__
    if callable(globals()[name]) and name not in ("label", "Builder", "Label", "Register", "Size")
}
