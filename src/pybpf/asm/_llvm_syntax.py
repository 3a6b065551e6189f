"""Parser for one instruction in llvm syntax (``r0 = 0``, ``if r1 > w2 goto +3``, ...).

Also accepts the kernel/bpftool (``xlated``) spellings of the same instructions:
``goto pc+3``, ``call bpf_map_lookup_elem#1``, ``call pc+2``, ``(r10 -8)``,
``r0 = atomic64_fetch_add((u64 *)(r1 +0), r0)``, ``r1 = map[id:5]``, ``subprog[+3]``.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from ._parse import (
    IDENT, NUM_RE, ParseError, check_range, helper_call, imm32, is_ident, is_num, mk, num,
    off16, pseudo_lddw, raw_insn, size_from_bits,
)
from .insn import Instruction

__all__ = ["parse_llvm"]

_REG = r"([rw])\s*(10|[0-9])"
_MEM = r"\(\s*r(10|[0-9])\s*(?:([+-])\s*(0[xX][0-9a-fA-F]+|\d+))?\s*\)"
_ADDR = r"r(10|[0-9])\s*(?:([+-])\s*(0[xX][0-9a-fA-F]+|\d+))?"
_SZ = r"\(\s*u(8|16|32|64)\s*\*\s*\)"

_ALU_SYM = {
    "+=": 0x00, "-=": 0x10, "*=": 0x20, "/=": 0x30, "|=": 0x40, "&=": 0x50, "<<=": 0x60,
    ">>=": 0x70, "%=": 0x90, "^=": 0xA0, "=": 0xB0, "s>>=": 0xC0, "s/=": 0x30, "s%=": 0x90,
}
_JMP_SYM = {
    "==": 0x10, ">": 0x20, ">=": 0x30, "&": 0x40, "!=": 0x50, "s>": 0x60, "s>=": 0x70,
    "<": 0xA0, "<=": 0xB0, "s<": 0xC0, "s<=": 0xD0,
}
_ATOMIC_SYM = {"+": 0x00, "|": 0x40, "&": 0x50, "^": 0xA0}
_ATOMIC_NAME = {"add": 0x00, "or": 0x40, "and": 0x50, "xor": 0xA0}

_RE_ASSIGN = re.compile(r"^([rw])\s*(10|[0-9])\s*(s>>=|s/=|s%=|<<=|>>=|\+=|-=|\*=|/=|\|=|&=|%=|\^=|=)\s*(.+)$")
_RE_IF = re.compile(
    r"^if\s+([rw])\s*(10|[0-9])\s*(s>=|s<=|s>|s<|==|!=|>=|<=|>|<|&)\s*(.+?)\s+goto\s+(.+)$")
_RE_LOCK = re.compile(rf"^lock\s+\*\s*{_SZ}\s*{_MEM}\s*([+|&^])=\s*{_REG}$")
_RE_STORE = re.compile(rf"^\*\s*{_SZ}\s*{_MEM}\s*=\s*(.+)$")
_RE_STREL = re.compile(rf"^store_release\s*\(\s*{_SZ}\s*{_MEM}\s*,\s*{_REG}\s*\)$")
_RE_JUMP = re.compile(r"^(goto|gotol|may_goto|ja|ja32)\s+(.+)$")
_RE_LOAD = re.compile(rf"^\*\s*\(\s*([us])(8|16|32|64)\s*\*\s*\)\s*{_MEM}$")
_RE_SKB = re.compile(rf"^\*\s*{_SZ}\s*skb\s*\[\s*(.+?)\s*\]$")
_RE_FETCH = re.compile(rf"^atomic(64)?_fetch_(add|or|and|xor)\s*\(\s*{_SZ}\s*{_MEM}\s*,\s*{_REG}\s*\)$")
_RE_AXCHG = re.compile(rf"^atomic(64)?_xchg\s*\(\s*{_SZ}\s*{_MEM}\s*,\s*{_REG}\s*\)$")
_RE_ACMPXCHG = re.compile(
    rf"^atomic(64)?_cmpxchg\s*\(\s*{_SZ}\s*{_MEM}\s*,\s*{_REG}\s*,\s*{_REG}\s*\)$")
_RE_XCHG = re.compile(rf"^xchg(32)?_(32|64)\s*\(\s*{_ADDR}\s*,\s*{_REG}\s*\)$")
_RE_CMPXCHG = re.compile(rf"^cmpxchg(32)?_(32|64)\s*\(\s*{_ADDR}\s*,\s*{_REG}\s*,\s*{_REG}\s*\)$")
_RE_LDACQ = re.compile(rf"^load_acquire\s*\(\s*{_SZ}\s*{_MEM}\s*\)$")
_RE_ASCAST = re.compile(rf"^addr_space_cast\s*\(\s*r(10|[0-9])\s*,\s*({NUM_RE})\s*,\s*({NUM_RE})\s*\)$")
_RE_PERCPU = re.compile(r"^&\s*\(\s*void\s+__percpu\s*\*\s*\)\s*\(\s*r(10|[0-9])\s*\)$")
_RE_PSEUDO = re.compile(r"^(map_fd|map_value|btf_id|func|map_idx|map_idx_value)\s*\((.*)\)(?:\s+ll)?$")
_RE_XMAP = re.compile(r"^map\[id:(\d+)\](?:\[0\]\+(\d+))?$")
_RE_XIDX = re.compile(r"^map\[idx:(\d+)\]\+(\d+)$")
_RE_XSUB = re.compile(r"^subprog\[([+-]\d+)\]$")
_RE_END = re.compile(rf"^(be|le|bswap)(16|32|64)\s+{_REG}$")
_RE_MOVSX = re.compile(rf"^\(\s*s(8|16|32)\s*\)\s*{_REG}$")
_RE_NEG = re.compile(rf"^-\s*{_REG}$")
_RE_REG = re.compile(rf"^{_REG}$")
_RE_LL = re.compile(rf"^({NUM_RE})\s+ll$")
_RE_SYMLL = re.compile(rf"^({IDENT})\s+ll$")
_RE_CALL_PC = re.compile(r"^pc\s*([+-]\s*(?:0[xX][0-9a-fA-F]+|\d+))(?:#\S+)?$")
_RE_CALL_HASH = re.compile(r"^(\S+?)#(-?\d+)$")
_RE_KFUNC = re.compile(r"^kfunc\s*\((.+)\)$")
_RE_HELPER = re.compile(r"^helper\s*\((.+)\)$")


def _mem(reg: str, sign: Optional[str], val: Optional[str]) -> tuple[int, int]:
    off = 0
    if val is not None:
        off = num(val, "offset")
        if sign == "-":
            off = -off
    check_range(off, -0x8000, 0x7FFF, "memory offset")
    return int(reg), off


def _regnum(kind: str, n: str) -> tuple[str, int]:
    return kind, int(n)


def _target(text: str) -> tuple[int, Optional[str]]:
    """A jump target: +3, -0x2, pc+3, 3, or a label."""
    t = text.strip()
    if t.startswith("pc") and len(t) > 2 and t[2] in "+-":
        t = t[2:]
    if is_num(t):
        return num(t, "jump offset"), None
    if is_ident(t):
        return 0, t
    raise ParseError(f"invalid jump target {text.strip()!r}")


def _parse_call(arg: str) -> Instruction:
    a = arg.strip()
    m = _RE_CALL_PC.match(a)
    if m:
        return mk(0x85, 0, 1, 0, imm32(m.group(1).replace(" ", "")))
    if is_num(a):
        value = imm32(a, "call target")
        if a[0] in "+-":
            return mk(0x85, 0, 1, 0, value)
        return mk(0x85, 0, 0, 0, value)
    m = _RE_HELPER.match(a)
    if m:
        return mk(0x85, 0, 0, 0, imm32(m.group(1)))
    m = _RE_KFUNC.match(a)
    if m:
        parts = [p.strip() for p in m.group(1).split(",")]
        if len(parts) > 2:
            raise ParseError("kfunc() takes 1 or 2 arguments")
        off = off16(num(parts[1])) if len(parts) == 2 else 0
        return mk(0x85, 0, 2, off, imm32(parts[0]))
    m = _RE_CALL_HASH.match(a)
    if m:
        name, value = m.group(1), int(m.group(2))
        return mk(0x85, 0, 2 if name == "kernel-function" else 0, 0, value)
    if is_ident(a):
        insn = helper_call(a)
        if insn is not None:
            return insn
        return mk(0x85, 0, 1, 0, 0, reference=a)
    raise ParseError(f"invalid call target {a!r}")


def _rhs_reg_or_imm(text: str, kind: str) -> tuple[bool, int]:
    m = _RE_REG.match(text.strip())
    if m:
        if m.group(1) != kind:
            raise ParseError(f"register {m.group(1)}{m.group(2)} does not match {kind}-register operands")
        return True, int(m.group(2))
    return False, imm32(text)


def _assign(kind: str, dst: int, op: str, rhs: str, hint: Optional[int]) -> Instruction:
    cls = 0x04 if kind == "w" else 0x07
    if op != "=":
        aop = _ALU_SYM[op]
        signed = op in ("s/=", "s%=")
        is_reg, val = _rhs_reg_or_imm(rhs, kind)
        if is_reg:
            return mk(cls | aop | 0x08, dst, val, 1 if signed else 0, 0)
        return mk(cls | aop, dst, 0, 1 if signed else 0, val)
    r = rhs.strip()
    m = _RE_REG.match(r)
    if m:
        if m.group(1) != kind:
            raise ParseError(f"cannot move {m.group(1)}{m.group(2)} to {kind}{dst}"
                             " (use matching register kinds)")
        return mk(cls | 0xB8, dst, int(m.group(2)))
    m = _RE_NEG.match(r)
    if m:
        if (m.group(1), int(m.group(2))) != (kind, dst):
            raise ParseError("negation must use the destination register: rN = -rN")
        return mk(cls | 0x80, dst)
    m = _RE_MOVSX.match(r)
    if m:
        if m.group(2) != kind:
            raise ParseError("movsx source and destination must be the same register kind")
        bits = int(m.group(1))
        if kind == "w" and bits == 32:
            raise ParseError("w = (s32)w is not a valid instruction")
        return mk(cls | 0xB8, dst, int(m.group(3)), bits, 0)
    m = _RE_END.match(r)
    if m:
        if int(m.group(4)) != dst:
            raise ParseError("byte swap must use the destination register: rN = be16 rN")
        bits = int(m.group(2))
        if m.group(1) == "bswap":
            return mk(0xD7, dst, 0, 0, bits)
        return mk(0xDC if m.group(1) == "be" else 0xD4, dst, 0, 0, bits)
    m = _RE_LOAD.match(r)
    if m:
        signed, bits = m.group(1) == "s", int(m.group(2))
        src, off = _mem(m.group(3), m.group(4), m.group(5))
        if signed:
            if bits == 64:
                raise ParseError("there is no sign-extending 64-bit load; use u64")
            return mk(0x81 | size_from_bits(bits), dst, src, off)
        return mk(0x61 | size_from_bits(bits), dst, src, off)
    m = _RE_SKB.match(r)
    if m:
        if dst != 0:
            raise ParseError("packet loads (skb[...]) always load into r0")
        size = size_from_bits(int(m.group(1)))
        inner = m.group(2).strip()
        mr = re.match(r"^r(10|[0-9])\s*(?:([+-])\s*([+-]?\s*(?:0[xX][0-9a-fA-F]+|\d+)))?$", inner)
        if mr:
            imm = 0
            if mr.group(3) is not None:
                imm = num(mr.group(3))
                if mr.group(2) == "-":
                    imm = -imm
            return mk(0x40 | size, 0, int(mr.group(1)), 0, check_range(imm, -0x80000000, 0xFFFFFFFF, "immediate"))
        return mk(0x20 | size, 0, 0, 0, imm32(inner))
    m = _RE_FETCH.match(r)
    if m:
        bits = int(m.group(3))
        if bits not in (32, 64):
            raise ParseError("atomic operations are 32 or 64 bits wide")
        d, off = _mem(m.group(4), m.group(5), m.group(6))
        src = int(m.group(8))
        if src != dst:
            raise ParseError("atomic_fetch_<op> must return into its source register")
        return mk(0xC3 | size_from_bits(bits), d, src, off, _ATOMIC_NAME[m.group(2)] | 1)
    m = _RE_AXCHG.match(r)
    if m:
        bits = int(m.group(2))
        d, off = _mem(m.group(3), m.group(4), m.group(5))
        src = int(m.group(7))
        if src != dst or bits not in (32, 64):
            raise ParseError("invalid atomic xchg")
        return mk(0xC3 | size_from_bits(bits), d, src, off, 0xE1)
    m = _RE_ACMPXCHG.match(r)
    if m:
        bits = int(m.group(2))
        d, off = _mem(m.group(3), m.group(4), m.group(5))
        if dst != 0 or int(m.group(7)) != 0 or bits not in (32, 64):
            raise ParseError("cmpxchg compares with and returns into r0")
        return mk(0xC3 | size_from_bits(bits), d, int(m.group(9)), off, 0xF1)
    m = _RE_XCHG.match(r)
    if m:
        bits = int(m.group(2))
        d, off = _mem(m.group(3), m.group(4), m.group(5))
        src = int(m.group(7))
        if src != dst:
            raise ParseError("xchg must return into its source register")
        return mk(0xC3 | size_from_bits(bits), d, src, off, 0xE1)
    m = _RE_CMPXCHG.match(r)
    if m:
        bits = int(m.group(2))
        d, off = _mem(m.group(3), m.group(4), m.group(5))
        if dst != 0 or int(m.group(7)) != 0:
            raise ParseError("cmpxchg compares with and returns into r0/w0")
        return mk(0xC3 | size_from_bits(bits), d, int(m.group(9)), off, 0xF1)
    m = _RE_LDACQ.match(r)
    if m:
        src, off = _mem(m.group(2), m.group(3), m.group(4))
        return mk(0xC3 | size_from_bits(int(m.group(1))), dst, src, off, 0x100)
    m = _RE_ASCAST.match(r)
    if m:
        a, b = num(m.group(2)), num(m.group(3))
        check_range(a, 0, 0xFFFF, "address space")
        check_range(b, 0, 0xFFFF, "address space")
        return mk(0xBF, dst, int(m.group(1)), 1, (a << 16) | b)
    m = _RE_PERCPU.match(r)
    if m:
        return mk(0xBF, dst, int(m.group(1)), -1, 0)
    m = _RE_PSEUDO.match(r)
    if m:
        return pseudo_lddw(dst, m.group(1), m.group(2))
    m = _RE_XMAP.match(r)
    if m:
        hi = int(m.group(2)) if m.group(2) is not None else 0
        return mk(0x18, dst, 2 if m.group(2) is not None else 1, 0, int(m.group(1)) | (hi << 32))
    m = _RE_XIDX.match(r)
    if m:
        return mk(0x18, dst, 6, 0, int(m.group(1)) | (int(m.group(2)) << 32))
    m = _RE_XSUB.match(r)
    if m:
        return mk(0x18, dst, 4, 0, int(m.group(1)) & 0xFFFFFFFF)
    m = _RE_LL.match(r)
    if m:
        value = check_range(num(m.group(1)), -(1 << 63), (1 << 64) - 1, "64-bit immediate")
        return mk(0x18, dst, 0, 0, value)
    m = _RE_SYMLL.match(r)
    if m:
        return mk(0x18, dst, 0, 0, 0, symbol=m.group(1))
    if is_num(r):
        value = num(r)
        if hint == 0x18:
            return mk(0x18, dst, 0, 0, check_range(value, -(1 << 63), (1 << 64) - 1, "immediate"))
        if not -0x80000000 <= value <= 0xFFFFFFFF:
            raise ParseError(f"immediate {r!r} does not fit in 32 bits (append ' ll' for a 64-bit load)")
        return mk(cls | 0xB0, dst, 0, 0, value)
    raise ParseError("unrecognized instruction")


def parse_llvm(text: str, hint: Optional[int] = None) -> Instruction:
    """Parse one instruction (already stripped of comments, addresses and annotations).

    ``hint`` is the opcode from an xlated ``(xx)`` annotation, used to tell an
    ``lddw`` from a ``mov`` when bpftool prints ``r1 = 0x...`` for both.
    """
    t = text.strip()
    if t == "exit":
        return mk(0x95)
    if t == "nospec":
        return mk(0xC2)
    if t.startswith(".insn"):
        return raw_insn(t[5:])
    m = _RE_ASSIGN.match(t)
    if m:
        return _assign(m.group(1), int(m.group(2)), m.group(3), m.group(4), hint)
    m = _RE_IF.match(t)
    if m:
        kind, dst, op, rhs, tgt = m.groups()
        cls = 0x06 if kind == "w" else 0x05
        is_reg, val = _rhs_reg_or_imm(rhs, kind)
        off, ref = _target(tgt)
        off = check_range(off, -0x8000, 0x7FFF, "jump offset")
        code = cls | _JMP_SYM[op]
        if is_reg:
            return mk(code | 0x08, int(dst), val, off, 0, reference=ref)
        return mk(code, int(dst), 0, off, val, reference=ref)
    if t.startswith("call"):
        rest = t[4:]
        if rest[:1].isspace():
            return _parse_call(rest)
    m = re.match(rf"^(callx|gotox)\s+{_REG}$", t)
    if m:
        return mk(0x8D if m.group(1) == "callx" else 0x0D, int(m.group(3)))
    m = _RE_JUMP.match(t)
    if m:
        op, tgt = m.groups()
        off, ref = _target(tgt)
        if op in ("gotol", "ja32"):
            return mk(0x06, 0, 0, 0, check_range(off, -0x80000000, 0x7FFFFFFF, "jump offset"),
                      reference=ref)
        off = check_range(off, -0x8000, 0x7FFF, "jump offset")
        return mk(0xE5 if op == "may_goto" else 0x05, 0, 0, off, 0, reference=ref)
    m = _RE_LOCK.match(t)
    if m:
        bits = int(m.group(1))
        if bits not in (32, 64):
            raise ParseError("atomic operations are 32 or 64 bits wide")
        d, off = _mem(m.group(2), m.group(3), m.group(4))
        return mk(0xC3 | size_from_bits(bits), d, int(m.group(7)), off, _ATOMIC_SYM[m.group(5)])
    m = _RE_STREL.match(t)
    if m:
        d, off = _mem(m.group(2), m.group(3), m.group(4))
        return mk(0xC3 | size_from_bits(int(m.group(1))), d, int(m.group(6)), off, 0x110)
    m = _RE_STORE.match(t)
    if m:
        size = size_from_bits(int(m.group(1)))
        d, off = _mem(m.group(2), m.group(3), m.group(4))
        rhs = m.group(5).strip()
        mr = _RE_REG.match(rhs)
        if mr:
            return mk(0x63 | size, d, int(mr.group(2)), off, 0)
        return mk(0x62 | size, d, 0, off, imm32(rhs))
    raise ParseError("unrecognized instruction")


ParseFn = Callable[[str, Optional[int]], Instruction]
