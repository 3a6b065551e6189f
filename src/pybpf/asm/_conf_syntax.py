"""Parser for one instruction in bpf_conformance syntax (``mov %r0, 1``, ``ldxh %r0, [%r1+2]``).

Covers the mnemonics of the bpf_conformance assembler (RFC 9669 tests):
ALU ops with ``32``/``64`` suffixes, ``sdiv``/``smod``, ``movsx{8,16,32}{32,64}``,
``be``/``le``/``swap``/``bswap{16,32,64}``, ``lddw``, ``ldx*``/``ldxs*``/``st*``/``stx*``,
``ja``/``ja32``, ``j<cond>[32]``, ``call [helper|local|runtime] x``, ``call %rN``,
``exit``, ``lock [fetch] <op>[32] [mem], %rN``, ``lock xchg``/``cmpxchg``.
Extensions: ``ldabs<sz> imm``, ``ldind<sz> %r, imm``, ``may_goto``, ``gotox``,
``callx``, ``addr_space_cast``, ``ldxacq<sz>``/``stxrel<sz>`` (load-acquire and
store-release), pseudo ``lddw`` operands (``map_fd(3)`` ...) and ``.insn``.
"""

from __future__ import annotations

import re
from typing import Optional

from ._parse import (
    ParseError, check_range, helper_call, is_ident, is_num, mk, num, off16, pseudo_lddw,
    raw_insn, split_args,
)
from .insn import Instruction

__all__ = ["parse_conformance"]

_ALU = {
    "add": 0x00, "sub": 0x10, "mul": 0x20, "div": 0x30, "sdiv": 0x30, "or": 0x40, "and": 0x50,
    "lsh": 0x60, "rsh": 0x70, "mod": 0x90, "smod": 0x90, "xor": 0xA0, "mov": 0xB0, "arsh": 0xC0,
}
_JMP = {
    "jeq": 0x10, "jgt": 0x20, "jge": 0x30, "jset": 0x40, "jne": 0x50, "jsgt": 0x60, "jsge": 0x70,
    "jlt": 0xA0, "jle": 0xB0, "jslt": 0xC0, "jsle": 0xD0,
}
_SIZES = {"b": 0x10, "h": 0x08, "w": 0x00, "dw": 0x18}
_ATOMIC = {"add": 0x00, "or": 0x40, "and": 0x50, "xor": 0xA0, "xchg": 0xE1, "cmpxchg": 0xF1}

_RE_ALU = re.compile(r"^(add|sub|mul|div|sdiv|or|and|lsh|rsh|mod|smod|xor|mov|arsh)(32|64)?$")
_RE_MOVSX = re.compile(r"^movsx(8|16|32)(32|64)$")
_RE_END = re.compile(r"^(be|le|swap|bswap)(16|32|64)$")
_RE_LDST = re.compile(r"^(ldxs|ldxacq|ldx|stxrel|stx|st|ldabs|ldind)(b|h|w|dw)$")
_RE_JMP = re.compile(r"^(jeq|jgt|jge|jset|jne|jsgt|jsge|jlt|jle|jslt|jsle)(32)?$")
_RE_REG = re.compile(r"^%?r(10|[0-9]|1[1-5])$")
_RE_MEM = re.compile(r"^\[\s*%?r(10|[0-9]|1[1-5])\s*(?:([+-])\s*(0[xX][0-9a-fA-F]+|\d+))?\s*\]$")


def _reg(tok: str) -> int:
    m = _RE_REG.match(tok.strip())
    if not m:
        raise ParseError(f"invalid register {tok.strip()!r}")
    return int(m.group(1))


def _is_reg(tok: str) -> bool:
    t = tok.strip()
    return t.startswith("%") or bool(_RE_REG.match(t))


def _imm(tok: str, what: str = "immediate") -> int:
    """A 32-bit immediate as bpf_conformance reads it: hex up to 0xffffffff, or a
    decimal within the signed 32-bit range."""
    t = tok.strip()
    value = num(t, what)
    if "x" in t.lower():
        return check_range(value, -0x80000000, 0xFFFFFFFF, what)
    return check_range(value, -0x80000000, 0x7FFFFFFF, what)


def _memop(tok: str) -> tuple[int, int]:
    m = _RE_MEM.match(tok.strip())
    if not m:
        raise ParseError(f"invalid memory operand {tok.strip()!r}")
    off = 0
    if m.group(3) is not None:
        off = num(m.group(3), "offset")
        if m.group(2) == "-":
            off = -off
    return int(m.group(1)), off16(off, "memory offset")


def _target(tok: str) -> tuple[int, Optional[str]]:
    t = tok.strip()
    if is_num(t):
        value = num(t, "jump offset")
        if "x" not in t.lower():  # decimal: signed; hex: up to 0xffff as in bpf_conformance
            check_range(value, -0x80000000, 0x7FFFFFFF, "jump offset")
        return value, None
    if is_ident(t):
        return 0, t
    raise ParseError(f"invalid jump target {t!r}")


def _nargs(ops: list[str], n: int, mnemonic: str) -> None:
    if len(ops) != n:
        raise ParseError(f"{mnemonic} takes {n} operand{'s' if n != 1 else ''}, got {len(ops)}")


def _call(rest: str) -> Instruction:
    words = rest.split(None, 1)
    if not words:
        raise ParseError("call needs a target")
    mode = words[0]
    if mode in ("helper", "local", "runtime"):
        if len(words) != 2:
            raise ParseError(f"call {mode} needs a target")
        target = words[1].strip()
    else:
        mode, target = "", rest.strip()
    if mode == "local":
        off, ref = _target(target)
        return mk(0x85, 0, 1, 0, check_range(off, -0x80000000, 0x7FFFFFFF, "call offset"), reference=ref)
    if mode == "runtime":
        args = split_args(target)
        if not 1 <= len(args) <= 2:
            raise ParseError("call runtime takes an id and an optional offset")
        off = off16(num(args[1]), "offset") if len(args) == 2 else 0
        return mk(0x85, 0, 2, off, _imm(args[0]))
    if _is_reg(target):
        return mk(0x8D, _reg(target))
    if is_num(target):
        return mk(0x85, 0, 0, 0, _imm(target))
    if mode == "" and is_ident(target):
        insn = helper_call(target)
        if insn is not None:
            return insn
        return mk(0x85, 0, 1, 0, 0, reference=target)
    if is_ident(target):
        insn = helper_call(target)
        if insn is not None:
            return insn
    raise ParseError(f"invalid call target {target!r}")


def parse_conformance(text: str, hint: Optional[int] = None) -> Instruction:
    """Parse one instruction in bpf_conformance syntax."""
    t = text.strip()
    parts = t.split(None, 1)
    mnemonic = parts[0].lower()
    rest = parts[1] if len(parts) > 1 else ""
    if mnemonic == ".insn":
        return raw_insn(rest)
    if mnemonic == "exit":
        _nargs(split_args(rest), 0, "exit")
        return mk(0x95)
    if mnemonic == "call":
        return _call(rest)
    if mnemonic == "lock":
        words = rest.split(None, 1)
        fetch = False
        if words and words[0] == "fetch":
            fetch = True
            words = words[1].split(None, 1) if len(words) > 1 else []
        if len(words) != 2:
            raise ParseError("lock needs an operation and operands: lock [fetch] add [%r1], %r2")
        op = words[0]
        size = 0x18
        if op.endswith("32"):
            op, size = op[:-2], 0x00
        elif op.endswith("64"):
            op = op[:-2]
        if op not in _ATOMIC:
            raise ParseError(f"unknown atomic operation {words[0]!r}")
        ops = split_args(words[1])
        _nargs(ops, 2, "lock")
        dst, off = _memop(ops[0])
        imm = _ATOMIC[op] | (1 if fetch else 0)
        return mk(0xC3 | size, dst, _reg(ops[1]), off, imm)
    ops = split_args(rest)
    m = _RE_ALU.match(mnemonic)
    if m:
        name, width = m.groups()
        cls = 0x04 if width == "32" else 0x07
        _nargs(ops, 2, mnemonic)
        dst = _reg(ops[0])
        signed = 1 if name in ("sdiv", "smod") else 0
        if _is_reg(ops[1]):
            return mk(cls | _ALU[name] | 0x08, dst, _reg(ops[1]), signed, 0)
        return mk(cls | _ALU[name], dst, 0, signed, _imm(ops[1]))
    m = re.match(r"^neg(32|64)?$", mnemonic)
    if m:
        _nargs(ops, 1, mnemonic)
        return mk((0x84 if m.group(1) == "32" else 0x87), _reg(ops[0]))
    m = _RE_MOVSX.match(mnemonic)
    if m:
        bits, width = int(m.group(1)), m.group(2)
        if width == "32" and bits == 32:
            raise ParseError("movsx3232 is not a valid instruction")
        _nargs(ops, 2, mnemonic)
        return mk(0xBC if width == "32" else 0xBF, _reg(ops[0]), _reg(ops[1]), bits, 0)
    m = _RE_END.match(mnemonic)
    if m:
        _nargs(ops, 1, mnemonic)
        kind, bits = m.group(1), int(m.group(2))
        code = {"be": 0xDC, "le": 0xD4}.get(kind, 0xD7)
        return mk(code, _reg(ops[0]), 0, 0, bits)
    if mnemonic == "lddw":
        _nargs(ops, 2, mnemonic)
        dst = _reg(ops[0])
        mp = re.match(r"^(map_fd|map_value|btf_id|func|map_idx|map_idx_value)\s*\((.*)\)$", ops[1])
        if mp:
            return pseudo_lddw(dst, mp.group(1), mp.group(2))
        value = check_range(num(ops[1], "64-bit immediate"), -(1 << 63), (1 << 64) - 1, "immediate")
        return mk(0x18, dst, 0, 0, value)
    m = _RE_LDST.match(mnemonic)
    if m:
        kind, size = m.group(1), _SIZES[m.group(2)]
        if kind in ("ldx", "ldxs", "ldxacq"):
            _nargs(ops, 2, mnemonic)
            src, off = _memop(ops[1])
            if kind == "ldxs":
                if size == 0x18:
                    raise ParseError("there is no ldxsdw")
                return mk(0x81 | size, _reg(ops[0]), src, off)
            if kind == "ldxacq":
                return mk(0xC3 | size, _reg(ops[0]), src, off, 0x100)
            return mk(0x61 | size, _reg(ops[0]), src, off)
        if kind in ("st", "stx", "stxrel"):
            _nargs(ops, 2, mnemonic)
            dst, off = _memop(ops[0])
            if kind == "st":
                return mk(0x62 | size, dst, 0, off, _imm(ops[1]))
            if kind == "stxrel":
                return mk(0xC3 | size, dst, _reg(ops[1]), off, 0x110)
            return mk(0x63 | size, dst, _reg(ops[1]), off)
        if kind == "ldabs":
            _nargs(ops, 1, mnemonic)
            return mk(0x20 | size, 0, 0, 0, _imm(ops[0]))
        _nargs(ops, 2, mnemonic)
        return mk(0x40 | size, 0, _reg(ops[0]), 0, _imm(ops[1]))
    if mnemonic in ("ja", "may_goto"):
        _nargs(ops, 1, mnemonic)
        off, ref = _target(ops[0])
        off = off16(off, "jump offset")
        if "x" not in ops[0].lower():
            check_range(off, -0x8000, 0x7FFF, "jump offset")
        return mk(0x05 if mnemonic == "ja" else 0xE5, 0, 0, off, 0, reference=ref)
    if mnemonic in ("ja32", "gotol"):
        _nargs(ops, 1, mnemonic)
        off, ref = _target(ops[0])
        return mk(0x06, 0, 0, 0, check_range(off, -0x80000000, 0x7FFFFFFF, "jump offset"), reference=ref)
    if mnemonic in ("callx", "gotox"):
        _nargs(ops, 1, mnemonic)
        return mk(0x8D if mnemonic == "callx" else 0x0D, _reg(ops[0]))
    if mnemonic == "addr_space_cast":
        _nargs(ops, 4, mnemonic)
        a = check_range(num(ops[2]), 0, 0xFFFF, "address space")
        b = check_range(num(ops[3]), 0, 0xFFFF, "address space")
        return mk(0xBF, _reg(ops[0]), _reg(ops[1]), 1, (a << 16) | b)
    m = _RE_JMP.match(mnemonic)
    if m:
        _nargs(ops, 3, mnemonic)
        code = (0x06 if m.group(2) else 0x05) | _JMP[m.group(1)]
        dst = _reg(ops[0])
        off, ref = _target(ops[2])
        off = off16(off, "jump offset")
        if "x" not in ops[2].lower():
            check_range(off, -0x8000, 0x7FFF, "jump offset")
        if _is_reg(ops[1]):
            return mk(code | 0x08, dst, _reg(ops[1]), off, 0, reference=ref)
        return mk(code, dst, 0, off, _imm(ops[1]), reference=ref)
    raise ParseError(f"invalid mnemonic {parts[0]!r}")
