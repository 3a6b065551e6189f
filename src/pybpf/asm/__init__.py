"""The eBPF instruction set (RFC 9669, ISA v4) in pure Python.

* :class:`Instruction`, :func:`encode`, :func:`decode`, :func:`resolve` — the model and
  the binary format (:mod:`pybpf.asm.insn`);
* the DSL (:mod:`pybpf.asm.dsl`): ``mov(R0, 0)``, ``ldx(W, R2, R1, 0)``, ``jeq(R1, 0, "out")``,
  ``call("map_lookup_elem")``, :class:`Builder`;
* :func:`assemble` — text to instructions (llvm, bpftool xlated, bpf_conformance syntax);
* :func:`disassemble` — instructions to text (``"llvm"``, ``"conformance"``, ``"xlated"``);
* :func:`program_tag` — the kernel's program tag;
* :class:`HelperID` / :func:`helper_name` — the helper function list;
* :mod:`pybpf.asm.opcodes` — opcode constants.
"""

from __future__ import annotations

from . import opcodes
from .disasm import CallResolver, KallsymsResolver, disassemble, format_instruction, is_canonical
from .dsl import (
    Builder, add, add32, addr_space_cast, and32, and_, arsh, arsh32, atomic_add, atomic_and,
    atomic_fetch_add, atomic_fetch_and, atomic_fetch_or, atomic_fetch_xor, atomic_or, atomic_xor,
    be, bswap, call, call_kfunc, call_local, callx, cmpxchg, div, div32, exit_, gotol, gotox, ja,
    ja32, jeq, jeq32, jge, jge32, jgt, jgt32, jle, jle32, jlt, jlt32, jne, jne32, jset, jset32,
    jsge, jsge32, jsgt, jsgt32, jsle, jsle32, jslt, jslt32, label, ld_abs, ld_btf_id, ld_func,
    ld_imm64, ld_ind, ld_map_by_name, ld_map_fd, ld_map_idx, ld_map_idx_value, ld_map_value,
    ldsx, ldx, ldxsx, le, load_acquire, lsh, lsh32, may_goto, mod, mod32, mov, mov32, movsx,
    movsx32, mul, mul32, neg, neg32, or32, or_, ret, rsh, rsh32, sdiv, sdiv32, smod, smod32, st,
    store_release, stx, sub, sub32, to_be, to_le, xchg, xor, xor32,
)
from .helpers import HELPER_NAMES, HelperID, helper_id, helper_name
from .insn import Instruction, Instructions, Label, decode, encode, flatten, resolve, slot_count
from .opcodes import (
    B, DW, FP, H, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, W, AluOp, AtomicOp, Class, JmpOp,
    Mode, PseudoCall, PseudoSrc, Register, Size, SizeCode, Source,
)
from .tag import program_tag, tag_algorithm_for_kernel
from .text import assemble

__all__ = [
    # model and encoding
    "Instruction", "Instructions", "Label", "encode", "decode", "resolve", "flatten",
    "slot_count",
    # text
    "assemble", "disassemble", "format_instruction", "is_canonical", "KallsymsResolver",
    "CallResolver",
    # tag, helpers
    "program_tag", "tag_algorithm_for_kernel", "HelperID", "helper_name", "helper_id",
    "HELPER_NAMES",
    # opcodes
    "opcodes", "Class", "SizeCode", "Size", "Mode", "Source", "AluOp", "JmpOp", "AtomicOp",
    "PseudoSrc", "PseudoCall", "Register",
    "R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "FP", "B", "H", "W", "DW",
    # DSL
    "Builder", "label", "mov", "mov32", "add", "add32", "sub", "sub32", "mul", "mul32", "div",
    "div32", "or_", "or32", "and_", "and32", "lsh", "lsh32", "rsh", "rsh32", "mod", "mod32",
    "xor", "xor32", "arsh", "arsh32", "sdiv", "sdiv32", "smod", "smod32", "neg", "neg32",
    "movsx", "movsx32", "bswap", "le", "be", "to_le", "to_be", "addr_space_cast", "ldx",
    "ldxsx", "ldsx", "stx", "st", "atomic_add", "atomic_or", "atomic_and", "atomic_xor",
    "atomic_fetch_add", "atomic_fetch_or", "atomic_fetch_and", "atomic_fetch_xor", "xchg",
    "cmpxchg", "load_acquire", "store_release", "ld_imm64", "ld_map_fd", "ld_map_value",
    "ld_map_by_name", "ld_map_idx", "ld_map_idx_value", "ld_btf_id", "ld_func", "ld_abs",
    "ld_ind", "ja", "ja32", "gotol", "may_goto", "gotox", "jeq", "jne", "jgt", "jge", "jlt",
    "jle", "jset", "jsgt", "jsge", "jslt", "jsle", "jeq32", "jne32", "jgt32", "jge32", "jlt32",
    "jle32", "jset32", "jsgt32", "jsge32", "jslt32", "jsle32", "call", "call_local",
    "call_kfunc", "callx", "exit_", "ret",
]
