"""Shared pieces of the text assemblers: numbers, registers, instruction builders."""

from __future__ import annotations

import re

from pybpf.errors import AssemblerError

from .helpers import HelperID, helper_id
from .insn import Instruction

__all__ = ["num", "ParseError", "IDENT", "NUM_RE", "mk", "size_from_bits", "helper_or_none"]

IDENT = r"[A-Za-z_.$][\w.$]*"
NUM_RE = r"[+-]?\s*(?:0[xX][0-9a-fA-F]+|\d+)"
_NUM_FULL = re.compile(r"^([+-]?)\s*(0[xX][0-9a-fA-F]+|\d+)$")
_IDENT_FULL = re.compile(rf"^{IDENT}$")


class ParseError(Exception):
    """Raised by parsing helpers; turned into AssemblerError with line info by the caller."""


def num(tok: str, what: str = "number") -> int:
    """Parse a decimal or 0x-hex integer with optional sign."""
    m = _NUM_FULL.match(tok.strip())
    if not m:
        raise ParseError(f"invalid {what} {tok.strip()!r}")
    sign, digits = m.groups()
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 10)
    return -value if sign == "-" else value


def is_num(tok: str) -> bool:
    return bool(_NUM_FULL.match(tok.strip()))


def is_ident(tok: str) -> bool:
    return bool(_IDENT_FULL.match(tok.strip()))


def check_range(value: int, lo: int, hi: int, what: str) -> int:
    if not lo <= value <= hi:
        raise ParseError(f"{what} {value} out of range [{lo}, {hi}]")
    return value


def imm32(tok: str, what: str = "immediate") -> int:
    """A 32-bit immediate: signed, or unsigned up to 0xffffffff (taken modulo 2**32)."""
    return check_range(num(tok, what), -0x80000000, 0xFFFFFFFF, what)


def off16(value: int, what: str = "offset") -> int:
    return check_range(value, -0x8000, 0xFFFF, what)


def size_from_bits(bits: int) -> int:
    """Opcode size field for an access width in bits."""
    return {8: 0x10, 16: 0x08, 32: 0x00, 64: 0x18}[bits]


def helper_or_none(name: str) -> int | None:
    """Helper id for a helper name (with or without ``bpf_``), or None."""
    try:
        return helper_id(name)
    except AssemblerError:
        return None


def mk(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0, *,
       reference: str | None = None, symbol: str | None = None) -> Instruction:
    """Build an Instruction, converting constructor errors to ParseError."""
    try:
        return Instruction(opcode, dst, src, off, imm, reference=reference, symbol=symbol)
    except AssemblerError as exc:
        raise ParseError(str(exc)) from None


PSEUDO_KINDS = {"map_fd": 1, "map_value": 2, "btf_id": 3, "func": 4, "map_idx": 5,
                "map_idx_value": 6}


def split_args(text: str) -> list[str]:
    """Split a comma-separated argument list, respecting (), [] nesting."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    last = "".join(cur).strip()
    if last or out:
        out.append(last)
    return out


def pseudo_lddw(dst: int, kind: str, args_text: str) -> Instruction:
    """``map_fd(3)``, ``map_value(name, 8)``, ``func(+4)``/``func(label)`` ... as an lddw."""
    src = PSEUDO_KINDS[kind]
    args = split_args(args_text)
    if not 1 <= len(args) <= 2:
        raise ParseError(f"{kind}() takes 1 or 2 arguments")
    symbol = reference = None
    first = args[0]
    if is_num(first):
        lo = check_range(num(first), -0x80000000, 0xFFFFFFFF, f"{kind} argument")
    elif is_ident(first):
        lo = 0
        if src == 4:
            reference = first
        else:
            symbol = first
    else:
        raise ParseError(f"invalid {kind} argument {first!r}")
    hi = 0
    if len(args) == 2:
        hi = check_range(num(args[1]), -0x80000000, 0xFFFFFFFF, f"{kind} second argument")
    imm = (lo & 0xFFFFFFFF) | ((hi & 0xFFFFFFFF) << 32)
    return mk(0x18, dst, src, 0, imm, reference=reference, symbol=symbol)


def raw_insn(args_text: str) -> Instruction:
    """``.insn opcode, dst, src, off, imm``."""
    args = split_args(args_text)
    if len(args) != 5:
        raise ParseError(".insn takes 5 arguments: opcode, dst, src, off, imm")
    op, dst, src, off, imm = (num(a) for a in args)
    return mk(op, dst, src, off, imm)


def helper_call(name: str) -> Instruction | None:
    hid = helper_or_none(name)
    if hid is None:
        return None
    return mk(0x85, 0, 0, 0, hid)


__all__ += ["is_num", "is_ident", "check_range", "imm32", "off16", "PSEUDO_KINDS", "split_args",
            "pseudo_lddw", "raw_insn", "helper_call", "HelperID"]
