"""Disassembler: instructions to text in three styles.

* ``"llvm"``: what ``llvm-objdump -d`` prints (``r2 = *(u32 *)(r1 + 0x0)``,
  ``if r1 == 0x0 goto +0x3``, ``call 0x6``, ``r1 = 0x1234 ll``), with a few
  extensions where llvm's text would lose information (see below);
* ``"conformance"``: the syntax of the bpf_conformance test suite
  (``mov %r0, 1``, ``ldxh %r0, [%r1+2]``, ``jeq %r1, 0, +3``, ``lock fetch add [%r1], %r2``);
* ``"xlated"``: the kernel's ``print_bpf_insn()`` format as printed by
  ``bpftool prog dump xlated`` (``   0: (b7) r0 = 0``, ``call bpf_trace_printk#6``,
  ``r1 = map[id:12]``, ``goto pc+3``).

Both ``llvm`` and ``conformance`` output reads back with
:func:`pybpf.asm.assemble` into identical instructions. Extensions used for that:

* bpf-to-bpf calls print a signed offset (``call +0x5``, ``call -0x1``),
  helper calls an unsigned id (``call 0x6``), kfunc calls ``call kfunc(<btf id>[, <off>])``
  (llvm-objdump prints all three as ``call <n>``);
* pseudo ``lddw`` forms: ``map_fd(3)``, ``map_value(3, 8)``, ``btf_id(7)``, ``func(+4)``,
  ``map_idx(0)``, ``map_idx_value(0, 16)`` (the second argument is the upper imm half);
* ``ld_ind`` with a non-zero immediate: ``r0 = *(u16 *)skb[r1 + 0x4]``;
* an instruction's ``symbol`` is shown as the map name (``map_fd(my_map)``) or as
  a trailing ``@name``; an unresolved ``reference`` as the label name;
* anything that is not a well-formed instruction (reserved fields in use, unknown
  opcodes) prints as ``.insn <opcode>, <dst>, <src>, <off>, <imm>``.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from pybpf.errors import AssemblerError

from .helpers import HELPER_NAMES
from .insn import Instruction, decode, flatten, label_positions

__all__ = ["disassemble", "format_instruction", "is_canonical", "KallsymsResolver", "CallResolver"]

#: A callback giving the name of a call target for the ``xlated`` style (or None).
CallResolver = Callable[[Instruction], Optional[str]]

_ALU_OPS = {
    0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=", 0x60: "<<=",
    0x70: ">>=", 0x90: "%=", 0xA0: "^=", 0xB0: "=", 0xC0: "s>>=",
}
_JMP_OPS = {
    0x10: "==", 0x20: ">", 0x30: ">=", 0x40: "&", 0x50: "!=", 0x60: "s>", 0x70: "s>=",
    0xA0: "<", 0xB0: "<=", 0xC0: "s<", 0xD0: "s<=",
}
_ALU_NAMES = {
    0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and", 0x60: "lsh",
    0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xA0: "xor", 0xB0: "mov", 0xC0: "arsh",
}
_JMP_NAMES = {
    0x10: "jeq", 0x20: "jgt", 0x30: "jge", 0x40: "jset", 0x50: "jne", 0x60: "jsgt", 0x70: "jsge",
    0xA0: "jlt", 0xB0: "jle", 0xC0: "jslt", 0xD0: "jsle",
}
_ATOMIC_ALU = {0x00: "add", 0x40: "or", 0x50: "and", 0xA0: "xor"}
_ATOMIC_SIGN = {0x00: "+=", 0x40: "|=", 0x50: "&=", 0xA0: "^="}
_BITS = {0x00: 32, 0x08: 16, 0x10: 8, 0x18: 64}
_SUFFIX = {0x00: "w", 0x08: "h", 0x10: "b", 0x18: "dw"}
_PSEUDO_NAMES = {1: "map_fd", 2: "map_value", 3: "btf_id", 4: "func", 5: "map_idx", 6: "map_idx_value"}
_FETCH_OPS = frozenset((0x01, 0x41, 0x51, 0xA1))
_PLAIN_ATOMICS = frozenset((0x00, 0x40, 0x50, 0xA0))


def is_canonical(insn: Instruction) -> bool:
    """True when ``insn`` is a well-formed instruction with all reserved fields zero,
    i.e. one that has a symbolic text form (otherwise it disassembles as ``.insn``)."""
    op, dst, src, off, imm = insn.opcode, insn.dst, insn.src, insn.off, insn.imm
    cls = op & 0x07
    if dst > 10 or src > 10:
        return False
    if cls == 0x04 or cls == 0x07:  # ALU, ALU64
        aop = op & 0xF0
        x = op & 0x08
        if aop == 0xD0:  # END
            return src == 0 and off == 0 and imm in (16, 32, 64) and (cls == 0x04 or not x)
        if aop == 0x80:  # NEG
            return not x and src == 0 and off == 0 and imm == 0
        if aop > 0xC0:
            return False
        if aop in (0x30, 0x90):
            off_ok = off in (0, 1)
        elif aop == 0xB0 and x:
            if cls == 0x07 and off == 1:  # addr_space_cast
                return True
            off_ok = off in ((0, 8, 16, 32) if cls == 0x07 else (0, 8, 16))
        else:
            off_ok = off == 0
        return off_ok and (imm == 0 if x else src == 0)
    mode = op & 0xE0
    size = op & 0x18
    if cls == 0x01:  # LDX
        if mode == 0x60:
            return imm == 0
        return mode == 0x80 and size != 0x18 and imm == 0
    if cls == 0x02:  # ST
        return mode == 0x60 and src == 0
    if cls == 0x03:  # STX
        if mode == 0x60:
            return imm == 0
        if mode != 0xC0:
            return False
        if imm in (0x100, 0x110):
            return True
        return size in (0x00, 0x18) and (imm in _PLAIN_ATOMICS or imm in _FETCH_OPS or imm in (0xE1, 0xF1))
    if cls == 0x00:  # LD
        if op == 0x18:
            return off == 0 and src <= 6
        if mode == 0x20:
            return dst == 0 and src == 0 and off == 0
        if mode == 0x40:
            return dst == 0 and off == 0
        return False
    # JMP, JMP32
    if op == 0x05 or op == 0xE5:
        return dst == 0 and src == 0 and imm == 0
    if op == 0x06:
        return dst == 0 and src == 0 and off == 0
    if op == 0x85:
        return dst == 0 and ((src in (0, 1) and off == 0) or src == 2)
    if op in (0x8D, 0x0D):
        return src == 0 and off == 0 and imm == 0
    if op == 0x95:
        return dst == 0 and src == 0 and off == 0 and imm == 0
    jop = op & 0xF0
    if jop not in _JMP_OPS:
        return False
    return imm == 0 if op & 0x08 else src == 0


def _h(v: int) -> str:
    """llvm-style signed hex: 0x5, -0x5."""
    return f"-{-v:#x}" if v < 0 else f"{v:#x}"


def _rel_h(v: int) -> str:
    return f"+{v:#x}" if v >= 0 else f"-{-v:#x}"


def _mem(reg: int, off: int) -> str:
    return f"(r{reg} - {-off:#x})" if off < 0 else f"(r{reg} + {off:#x})"


def _s64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= (1 << 63) else v


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def _raw(insn: Instruction) -> str:
    return f".insn {insn.opcode:#04x}, {insn.dst}, {insn.src}, {insn.off}, {_h(insn.imm)}"


def _pseudo_arg(insn: Instruction) -> str:
    kind = _PSEUDO_NAMES[insn.src]
    lo, hi = insn.imm & 0xFFFFFFFF, insn.imm >> 32
    if insn.src == 4:
        first = insn.reference if insn.reference is not None else f"{_s32(lo):+d}"
    elif insn.symbol is not None and lo == 0 and insn.src in (1, 2, 5, 6):
        first = insn.symbol
    else:
        first = str(lo)
    if hi or insn.src in (2, 6):
        return f"{kind}({first}, {hi})"
    return f"{kind}({first})"


def _symbol_suffix(insn: Instruction, text: str) -> str:
    if insn.symbol is None:
        return text
    if insn.opcode == 0x18 and insn.src in (1, 2, 5, 6) and insn.imm & 0xFFFFFFFF == 0:
        return text  # shown as the map argument
    return f"{text} @{insn.symbol}"


# -- llvm ------------------------------------------------------------------

def _llvm(insn: Instruction, alu32: bool, target: Optional[str]) -> str:
    if not is_canonical(insn):
        return _raw(insn)
    op, d, s, off, imm = insn.opcode, insn.dst, insn.src, insn.off, insn.imm
    cls = op & 0x07
    if cls == 0x04 or cls == 0x07:
        r = "w" if cls == 0x04 else "r"
        aop = op & 0xF0
        if aop == 0xD0:
            if cls == 0x07:
                return f"r{d} = bswap{imm} r{d}"
            return f"r{d} = {'be' if op & 0x08 else 'le'}{imm} r{d}"
        if aop == 0x80:
            return f"{r}{d} = -{r}{d}"
        if op & 0x08:
            if aop == 0xB0:
                if off == 1:
                    u = imm & 0xFFFFFFFF
                    return f"r{d} = addr_space_cast(r{s}, {u >> 16:#x}, {u & 0xFFFF:#x})"
                if off:
                    return f"{r}{d} = (s{off}){r}{s}"
            rhs = f"{r}{s}"
        else:
            rhs = _h(imm)
        sym = _ALU_OPS[aop]
        if off == 1 and aop in (0x30, 0x90):
            sym = "s" + sym
        if aop == 0xB0:
            return f"{r}{d} = {rhs}"
        return f"{r}{d} {sym} {rhs}"
    size = op & 0x18
    bits = _BITS[size]
    mode = op & 0xE0
    if cls == 0x01:
        if mode == 0x80:
            return f"r{d} = *(s{bits} *){_mem(s, off)}"
        r = "w" if alu32 and size != 0x18 else "r"
        return f"{r}{d} = *(u{bits} *){_mem(s, off)}"
    if cls == 0x02:
        return f"*(u{bits} *){_mem(d, off)} = {_h(imm)}"
    if cls == 0x03:
        if mode == 0x60:
            r = "w" if alu32 and size != 0x18 else "r"
            return f"*(u{bits} *){_mem(d, off)} = {r}{s}"
        wide = size == 0x18
        if imm == 0x100:
            return f"{'r' if wide else 'w'}{d} = load_acquire((u{bits} *){_mem(s, off)})"
        if imm == 0x110:
            return f"store_release((u{bits} *){_mem(d, off)}, {'r' if wide else 'w'}{s})"
        if imm in _PLAIN_ATOMICS:
            r = "r" if wide or not alu32 else "w"
            return f"lock *(u{bits} *){_mem(d, off)} {_ATOMIC_SIGN[imm]} {r}{s}"
        r = "r" if wide else "w"
        addr = _mem(d, off)[1:-1]
        if imm in _FETCH_OPS:
            return f"{r}{s} = atomic_fetch_{_ATOMIC_ALU[imm & 0xF0]}((u{bits} *){_mem(d, off)}, {r}{s})"
        if imm == 0xE1:
            name = "xchg_64" if wide else "xchg32_32"
            return f"{r}{s} = {name}({addr}, {r}{s})"
        name = "cmpxchg_64" if wide else "cmpxchg32_32"
        return f"{r}0 = {name}({addr}, {r}0, {r}{s})"
    if cls == 0x00:
        if op == 0x18:
            if s == 0:
                return f"r{d} = {_h(_s64(imm))} ll"
            return f"r{d} = {_pseudo_arg(insn)} ll"
        if mode == 0x20:
            return f"r0 = *(u{bits} *)skb[{_h(imm)}]"
        if imm == 0:
            return f"r0 = *(u{bits} *)skb[r{s}]"
        return f"r0 = *(u{bits} *)skb[r{s} {'-' if imm < 0 else '+'} {abs(imm):#x}]"
    # jumps
    if op == 0x95:
        return "exit"
    if op == 0x85:
        if s == 1:
            return f"call {insn.reference if insn.reference is not None else _rel_h(imm)}"
        if s == 2:
            return f"call kfunc({imm}, {off})" if off else f"call kfunc({imm})"
        return f"call {imm:#x}" if imm >= 0 else f"call helper({_h(imm)})"
    if op == 0x8D:
        return f"callx r{d}"
    if op == 0x0D:
        return f"gotox r{d}"
    tail = f" <{target}>" if target is not None and insn.reference is None else ""
    if op == 0x06:
        return f"gotol {insn.reference or _rel_h(imm)}{tail}"
    dest = insn.reference or _rel_h(off)
    if op == 0x05:
        return f"goto {dest}{tail}"
    if op == 0xE5:
        return f"may_goto {dest}{tail}"
    r = "w" if cls == 0x06 else "r"
    rhs = f"{r}{s}" if op & 0x08 else _h(imm)
    return f"if {r}{d} {_JMP_OPS[op & 0xF0]} {rhs} goto {dest}{tail}"


# -- conformance ---------------------------------------------------------------

def _cimm(imm: int) -> str:
    if imm < 0 and imm != -0x80000000:
        return str(imm)
    if -10 <= imm <= 10:
        return str(imm)
    return f"{imm & 0xFFFFFFFF:#x}"


def _cmem(reg: int, off: int) -> str:
    if off == 0:
        return f"[%r{reg}]"
    return f"[%r{reg}{'+' if off >= 0 else ''}{off}]"


def _crel(v: int) -> str:
    return f"+{v}" if v >= 0 else str(v)


def _conformance(insn: Instruction, target: Optional[str]) -> str:
    if not is_canonical(insn):
        return _raw(insn)
    op, d, s, off, imm = insn.opcode, insn.dst, insn.src, insn.off, insn.imm
    cls = op & 0x07
    if cls == 0x04 or cls == 0x07:
        suffix = "" if cls == 0x07 else "32"
        aop = op & 0xF0
        if aop == 0xD0:
            if cls == 0x07:
                return f"swap{imm} %r{d}"
            return f"{'be' if op & 0x08 else 'le'}{imm} %r{d}"
        if aop == 0x80:
            return f"neg{suffix} %r{d}"
        if aop == 0xB0 and op & 0x08 and off:
            if off == 1:
                u = imm & 0xFFFFFFFF
                return f"addr_space_cast %r{d}, %r{s}, {u >> 16}, {u & 0xFFFF}"
            return f"movsx{off}{'64' if cls == 0x07 else '32'} %r{d}, %r{s}"
        name = _ALU_NAMES[aop]
        if off == 1 and aop in (0x30, 0x90):
            name = "s" + name
        rhs = f"%r{s}" if op & 0x08 else _cimm(imm)
        return f"{name}{suffix} %r{d}, {rhs}"
    size = op & 0x18
    sfx = _SUFFIX[size]
    mode = op & 0xE0
    if cls == 0x01:
        return f"ldx{'s' if mode == 0x80 else ''}{sfx} %r{d}, {_cmem(s, off)}"
    if cls == 0x02:
        return f"st{sfx} {_cmem(d, off)}, {_cimm(imm)}"
    if cls == 0x03:
        if mode == 0x60:
            return f"stx{sfx} {_cmem(d, off)}, %r{s}"
        if imm == 0x100:
            return f"ldxacq{sfx} %r{d}, {_cmem(s, off)}"
        if imm == 0x110:
            return f"stxrel{sfx} {_cmem(d, off)}, %r{s}"
        width = "32" if size == 0x00 else ""
        if imm == 0xE1:
            name = f"xchg{width}"
        elif imm == 0xF1:
            name = f"cmpxchg{width}"
        else:
            name = f"{'fetch ' if imm & 1 else ''}{_ATOMIC_ALU[imm & 0xF0]}{width}"
        return f"lock {name} {_cmem(d, off)}, %r{s}"
    if cls == 0x00:
        if op == 0x18:
            if s == 0:
                return f"lddw %r{d}, {imm:#x}"
            return f"lddw %r{d}, {_pseudo_arg(insn)}"
        if mode == 0x20:
            return f"ldabs{sfx} {_cimm(imm)}"
        return f"ldind{sfx} %r{s}, {_cimm(imm)}"
    if op == 0x95:
        return "exit"
    if op == 0x85:
        if s == 1:
            return f"call local {insn.reference or target or _crel(imm)}"
        if s == 2:
            return f"call runtime {_cimm(imm)}, {off}" if off else f"call runtime {_cimm(imm)}"
        return f"call helper {_cimm(imm)}"
    if op == 0x8D:
        return f"call helper %r{d}"
    if op == 0x0D:
        return f"gotox %r{d}"
    if op == 0x06:
        return f"ja32 {insn.reference or target or _crel(imm)}"
    dest = insn.reference or target or _crel(off)
    if op == 0x05:
        return f"ja {dest}"
    if op == 0xE5:
        return f"may_goto {dest}"
    suffix = "32" if cls == 0x06 else ""
    rhs = f"%r{s}" if op & 0x08 else _cimm(imm)
    return f"{_JMP_NAMES[op & 0xF0]}{suffix} %r{d}, {rhs}, {dest}"


# -- xlated (kernel print_bpf_insn + bpftool callbacks) --------------------------

def _xcall_name(insn: Instruction, resolver: Optional[CallResolver]) -> str:
    imm = insn.imm
    if insn.src == 0 and 0 <= imm < len(HELPER_NAMES):
        return HELPER_NAMES[imm]
    if resolver is not None:
        name = resolver(insn)
        if name is not None:
            return name
    if insn.src == 1:
        return f"{insn.off if insn.off else imm:+d}"
    if insn.src == 2:
        return "kernel-function"
    return "unknown"


_LATEST = (99, 0)


def _xlated(insn: Instruction, resolver: Optional[CallResolver], v: tuple[int, int] = _LATEST) -> str:
    op, d, s, off, imm = insn.opcode, insn.dst, insn.src, insn.off, insn.imm
    cls = op & 0x07
    code = f"({op:02x})"
    v4 = v >= (6, 6)  # sdiv/smod, movsx, ldsx, bswap, gotol
    if cls == 0x04 or cls == 0x07:
        r = "w" if cls == 0x04 else "r"
        aop = op & 0xF0
        if aop == 0xD0:
            if cls == 0x07:
                if not v4:
                    return f"BUG_alu64_{op:02x}"
                return f"{code} r{d} = bswap{imm} r{d}"
            return f"{code} r{d} = {'be' if op & 0x08 else 'le'}{imm} r{d}"
        if aop == 0x80:
            return f"{code} {r}{d} = -{r}{d}"
        if op == 0xBF and off == 1 and v >= (6, 9):
            u = imm & 0xFFFFFFFF
            return f"{code} r{d} = addr_space_cast(r{s}, {u >> 16}, {u & 0xFFFF})"
        if op == 0xBF and off == -1 and v >= (6, 8):
            return f"{code} r{d} = &(void __percpu *)(r{s})"
        sym = _ALU_OPS.get(aop, "")
        if off == 1 and aop in (0x30, 0x90) and v4:
            sym = "s" + sym
        if op & 0x08:
            movsx = f"(s{off})" if aop == 0xB0 and off in (8, 16, 32) and v4 else ""
            return f"{code} {r}{d} {sym} {movsx}{r}{s}"
        return f"{code} {r}{d} {sym} {imm}"
    size = op & 0x18
    bits = _BITS[size]
    mode = op & 0xE0
    if cls == 0x03:
        if mode == 0x60:
            return f"{code} *(u{bits} *)(r{d} {off:+d}) = r{s}"
        if mode == 0xC0:
            mem = f"(u{bits} *)(r{d} {off:+d})"
            w64 = "64" if size == 0x18 else ""
            if imm in _PLAIN_ATOMICS:
                return f"{code} lock *{mem} {_ATOMIC_SIGN[imm]} r{s}"
            if imm in _FETCH_OPS:
                return f"{code} r{s} = atomic{w64}_fetch_{_ATOMIC_ALU[imm & 0xF0]}({mem}, r{s})"
            if imm == 0xF1:
                return f"{code} r0 = atomic{w64}_cmpxchg({mem}, r0, r{s})"
            if imm == 0xE1:
                return f"{code} r{s} = atomic{w64}_xchg({mem}, r{s})"
            if imm == 0x100 and v >= (6, 15):
                return f"{code} r{d} = load_acquire((u{bits} *)(r{s} {off:+d}))"
            if imm == 0x110 and v >= (6, 15):
                return f"{code} store_release({mem}, r{s})"
        return f"BUG_{op:02x}"
    if cls == 0x02:
        if mode == 0x60:
            return f"{code} *(u{bits} *)(r{d} {off:+d}) = {imm}"
        if mode == 0xC0:
            return f"{code} nospec"
        return f"BUG_st_{op:02x}"
    if cls == 0x01:
        if mode == 0x60:
            return f"{code} r{d} = *(u{bits} *)(r{s} {off:+d})"
        if mode == 0x80 and size != 0x18 and v4:
            return f"{code} r{d} = *(s{bits} *)(r{s} {off:+d})"
        return f"BUG_ldx_{op:02x}"
    if cls == 0x00:
        if mode == 0x20:
            return f"{code} r0 = *(u{bits} *)skb[{imm}]"
        if mode == 0x40:
            return f"{code} r0 = *(u{bits} *)skb[r{s} + {imm}]"
        if op == 0x18:
            lo, hi = imm & 0xFFFFFFFF, imm >> 32
            if s == 1:
                val = f"map[id:{lo}]"
            elif s == 2:
                val = f"map[id:{lo}][0]+{hi}"
            elif s == 6:
                val = f"map[idx:{lo}]+{hi}"
            elif s == 4:
                val = f"subprog[{_s32(lo):+d}]"
            else:
                val = f"{imm:#x}"
            return f"{code} r{d} = {val}"
        return f"BUG_ld_{op:02x}"
    # JMP / JMP32
    jop = op & 0xF0
    if jop == 0x80:
        if s == 1:
            return f"{code} call pc{_xcall_name(insn, resolver)}"
        return f"{code} call {_xcall_name(insn, resolver)}#{imm}"
    if op == 0x05:
        return f"{code} goto pc{off:+d}"
    if op == 0x0D and v >= (6, 19):
        return f"{code} gotox r{d}"
    if op == 0xE5 and s == 0 and v >= (6, 9):
        return f"{code} may_goto pc{off:+d}"
    if op == 0x06 and v4:
        return f"{code} gotol pc{imm:+d}"
    if op == 0x95:
        return f"{code} exit"
    r = "w" if cls == 0x06 else "r"
    sym = _JMP_OPS.get(jop, {0x00: "jmp", 0x80: "call", 0x90: "exit"}.get(jop, "(null)"))
    if op & 0x08:
        return f"{code} if {r}{d} {sym} {r}{s} goto pc{off:+d}"
    return f"{code} if {r}{d} {sym} {imm & 0xFFFFFFFF:#x} goto pc{off:+d}"


def format_instruction(insn: Instruction, syntax: str = "llvm", *, alu32: bool = False,
                       call_resolver: Optional[CallResolver] = None,
                       version: Optional[tuple[int, int]] = None) -> str:
    """One instruction as text in the given style (no address prefix, no label annotation).

    ``alu32``, ``call_resolver`` and ``version`` are as for :func:`disassemble`.
    """
    if syntax == "llvm":
        return _symbol_suffix(insn, _llvm(insn, alu32, None))
    if syntax == "conformance":
        return _symbol_suffix(insn, _conformance(insn, None))
    if syntax == "xlated":
        return _xlated(insn, call_resolver, version or _LATEST)
    raise AssemblerError(f"unknown syntax {syntax!r} (expected 'llvm', 'conformance' or 'xlated')")


def _hexbytes(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def disassemble(
    program: bytes | bytearray | memoryview | Iterable[Instruction],
    style: str = "llvm",
    *,
    addresses: Optional[bool] = None,
    hexdump: bool = False,
    labels: bool = True,
    alu32: bool = False,
    call_resolver: Optional[CallResolver] = None,
    opcodes: bool = False,
    version: Optional[tuple[int, int]] = None,
) -> str:
    """Disassemble a program (instruction bytes or :class:`Instruction` objects) to text,
    one instruction per line, with a trailing newline.

    ``style`` is ``"llvm"``, ``"conformance"`` or ``"xlated"`` (see the module docstring).
    Options:

    * ``addresses``: prefix each line with its slot index (``"   0: "``); default on for
      ``xlated`` (bpftool's ``"% 4d: "``), off otherwise;
    * ``hexdump`` (llvm): print like ``llvm-objdump -d``: ``"{slot:>8}:\\t{bytes}\\t{text}"``;
    * ``labels`` (llvm/conformance): print ``name:`` lines for labelled instructions and use
      label names for jump targets (llvm: as a ``<name>`` annotation);
    * ``alu32`` (llvm): print ``w`` registers for narrow loads/stores and 32-bit atomics,
      like ``llvm-objdump --mcpu=v3``;
    * ``call_resolver`` (xlated): ``f(insn) -> name or None`` for calls that are not helper
      ids, as bpftool resolves kernel addresses through kallsyms (see :class:`KallsymsResolver`);
    * ``opcodes`` (xlated): add bpftool's ``opcodes`` hex line after each instruction;
    * ``version`` (xlated): emulate the disassembler (``kernel/bpf/disasm.c``, which bpftool
      embeds) of that Linux version, e.g. ``(6, 1)`` for bpftool v7.1: instructions newer than
      it print as that version does (``BUG_ldx_91``, ``w5 /= 2`` for ``sdiv``...). Default:
      the latest (Linux 6.18+).
    """
    if isinstance(program, (bytes, bytearray, memoryview)):
        insns = decode(program)
    else:
        insns = flatten(program)
    if style not in ("llvm", "conformance", "xlated"):
        raise AssemblerError(f"unknown style {style!r} (expected 'llvm', 'conformance' or 'xlated')")
    if addresses is None:
        addresses = style == "xlated"
    lbl = label_positions(insns) if labels and style != "xlated" else {}
    lines: list[str] = []
    pc = 0
    for insn in insns:
        if style == "xlated":
            text = _xlated(insn, call_resolver, version or _LATEST)
            lines.append(f"{pc: 4d}: {text}" if addresses else text)
            if opcodes:
                data = insn.encode() if insn.reference is None else b"\0" * 8 * insn.size
                line = "       " + _hexbytes(data[:8])
                if len(data) > 8:
                    line += " " + _hexbytes(data[8:])
                lines.append(line)
            pc += insn.size
            continue
        if insn.label is not None and lbl.get(pc) == insn.label:
            lines.append(f"{insn.label}:")
        target = None
        if lbl and insn.reference is None and insn.has_target and insn.opcode != 0x18:
            target = lbl.get(pc + 1 + insn.target_offset)
        if style == "llvm":
            text = _symbol_suffix(insn, _llvm(insn, alu32, target))
        else:
            text = _symbol_suffix(insn, _conformance(insn, target))
        if hexdump and style == "llvm":
            data = insn.encode() if insn.reference is None else b"\0" * 8 * insn.size
            lines.append(f"{pc:>8}:\t{_hexbytes(data)}\t{text}")
        elif addresses:
            lines.append(f"{pc:4d}: {text}")
        else:
            lines.append(text)
        pc += insn.size
    return "\n".join(lines) + "\n" if lines else ""


class KallsymsResolver:
    """Resolve call targets of kernel-translated (xlated) programs like bpftool does.

    In an xlated dump a helper or kfunc call's ``imm`` is the callee's address minus
    ``__bpf_call_base``; bpftool looks the address up in ``/proc/kallsyms``. For
    bpf-to-bpf calls of JITed programs pass the program's ``jited_ksyms`` (function
    addresses, from ``bpf_prog_info``) to get ``pc+N#bpf_prog_<tag>_<name>``.

    Use as ``disassemble(insns, "xlated", call_resolver=KallsymsResolver())``.
    """

    def __init__(self, path: str = "/proc/kallsyms", jited_ksyms: Iterable[int] = (),
                 symbols: Optional[dict[int, str]] = None, call_base: Optional[int] = None) -> None:
        self.jited_ksyms = list(jited_ksyms)
        self.symbols: dict[int, str] = {}
        self.call_base = 0
        if symbols is not None:
            self.symbols = dict(symbols)
            self.call_base = call_base or 0
            return
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    parts = line.split()
                    if len(parts) < 3:
                        continue
                    try:
                        addr = int(parts[0], 16)
                    except ValueError:
                        continue
                    if parts[2] == "__bpf_call_base":
                        self.call_base = addr
                        if not addr:  # kptr_restrict: addresses hidden
                            self.symbols = {}
                            return
                    if addr and addr not in self.symbols:
                        self.symbols[addr] = parts[2]
        except OSError:
            self.symbols = {}
        if call_base is not None:
            self.call_base = call_base

    def __call__(self, insn: Instruction) -> Optional[str]:
        address = (self.call_base + insn.imm) & 0xFFFFFFFFFFFFFFFF
        if insn.src == 1 and 0 <= (insn.imm & 0xFFFFFFFF) < len(self.jited_ksyms):
            address = self.jited_ksyms[insn.imm & 0xFFFFFFFF]
        sym = self.symbols.get(address)
        if insn.src == 1:
            if not self.jited_ksyms:
                return f"{insn.off:+d}"
            return f"{insn.off:+d}#{sym}" if sym else f"{insn.off:+d}#{address:#x}"
        return sym if sym else f"{address:#x}"
