"""eBPF opcode constants (RFC 9669 "BPF Instruction Set Architecture", ISA v4).

An instruction's 8-bit opcode is split into fields that depend on its class::

    ALU/ALU64/JMP/JMP32:   op (4 bits) | source (1 bit) | class (3 bits)
    LD/LDX/ST/STX:         mode (3 bits) | size (2 bits) | class (3 bits)

The enums below give those fields (already shifted into place, as in
``linux/bpf.h``), so ``Class.ALU64 | AluOp.ADD | Source.X`` is the opcode of
``r1 += r2``. Flat ``BPF_*`` aliases mirror the kernel's macro names for code
ported from C.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "Class",
    "SizeCode",
    "Size",
    "Mode",
    "Source",
    "AluOp",
    "JmpOp",
    "AtomicOp",
    "PseudoSrc",
    "PseudoCall",
    "Register",
    "R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "FP",
    "B", "H", "W", "DW",
    "size_code",
    "size_bytes",
    "LDDW",
    "MAX_HELPER_ID",
]


class Class(IntEnum):
    """Instruction class: the low 3 bits of the opcode."""

    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class SizeCode(IntEnum):
    """The size field of load/store opcodes (bits 3-4), as encoded."""

    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


class Size(IntEnum):
    """Access width in bytes, as accepted by the DSL (``B, H, W, DW``).

    These are *byte counts* (1, 2, 4, 8), not opcode bits, so plain ints
    1/2/4/8 are interchangeable with them; :func:`size_code` converts to the
    encoded :class:`SizeCode`.
    """

    B = 1
    H = 2
    W = 4
    DW = 8


class Mode(IntEnum):
    """The mode field of load/store opcodes (bits 5-7)."""

    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class Source(IntEnum):
    """The source bit of ALU/JMP opcodes (bit 3).

    For ``END`` (byte swap) instructions the same bit selects the target
    byte order: ``TO_LE`` (= K) or ``TO_BE`` (= X).
    """

    K = 0x00
    X = 0x08
    TO_LE = 0x00
    TO_BE = 0x08


class AluOp(IntEnum):
    """ALU operation codes (bits 4-7 of ALU/ALU64 opcodes)."""

    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


class JmpOp(IntEnum):
    """Jump operation codes (bits 4-7 of JMP/JMP32 opcodes)."""

    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0
    JCOND = 0xE0  # may_goto (src=0), Linux 6.9+


class AtomicOp(IntEnum):
    """The ``imm`` of an ``STX | ATOMIC`` instruction."""

    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH = 0x01
    FETCH_ADD = 0x01
    FETCH_OR = 0x41
    FETCH_AND = 0x51
    FETCH_XOR = 0xA1
    XCHG = 0xE1
    CMPXCHG = 0xF1
    LOAD_ACQ = 0x100  # Linux 6.15+
    STORE_REL = 0x110  # Linux 6.15+


class PseudoSrc(IntEnum):
    """``src`` values of a 64-bit immediate load (``lddw``)."""

    NONE = 0
    MAP_FD = 1
    MAP_VALUE = 2
    BTF_ID = 3
    FUNC = 4
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


class PseudoCall(IntEnum):
    """``src`` values of a ``call`` instruction."""

    HELPER = 0
    CALL = 1
    KFUNC_CALL = 2


class Register(IntEnum):
    """The eleven eBPF registers; ``FP`` (= ``R10``) is the read-only frame pointer."""

    R0 = 0
    R1 = 1
    R2 = 2
    R3 = 3
    R4 = 4
    R5 = 5
    R6 = 6
    R7 = 7
    R8 = 8
    R9 = 9
    R10 = 10
    FP = 10

    def __str__(self) -> str:
        return f"r{int(self)}"


R0, R1, R2, R3, R4, R5 = Register.R0, Register.R1, Register.R2, Register.R3, Register.R4, Register.R5
R6, R7, R8, R9, R10 = Register.R6, Register.R7, Register.R8, Register.R9, Register.R10
FP = Register.R10

#: Access widths for the DSL (byte counts).
B, H, W, DW = Size.B, Size.H, Size.W, Size.DW

#: The opcode of the wide 64-bit immediate load (``BPF_LD | BPF_IMM | BPF_DW``).
LDDW = 0x18

#: The highest helper id in the (frozen) helper list.
MAX_HELPER_ID = 211

_BYTES_TO_CODE = {1: SizeCode.B, 2: SizeCode.H, 4: SizeCode.W, 8: SizeCode.DW}
_CODE_TO_BYTES = {SizeCode.B: 1, SizeCode.H: 2, SizeCode.W: 4, SizeCode.DW: 8}
_SIZE_NAMES = {
    "b": 1, "u8": 1, "8": 1, "byte": 1,
    "h": 2, "u16": 2, "16": 2, "half": 2,
    "w": 4, "u32": 4, "32": 4, "word": 4,
    "dw": 8, "u64": 8, "64": 8, "dword": 8,
}


def size_code(size: int | str) -> SizeCode:
    """Convert an access width (1/2/4/8, a :class:`Size`, or a name such as
    ``"u32"``/``"dw"``) to the encoded size field.

    A :class:`SizeCode` is passed through unchanged.
    """
    from pybpf.errors import AssemblerError

    if isinstance(size, SizeCode):
        return size
    if isinstance(size, str):
        n = _SIZE_NAMES.get(size.strip().lower())
        if n is None:
            raise AssemblerError(f"unknown access size {size!r}")
        return _BYTES_TO_CODE[n]
    code = _BYTES_TO_CODE.get(int(size))
    if code is None:
        raise AssemblerError(f"access size must be 1, 2, 4 or 8 bytes, not {size!r}")
    return code


def size_bytes(code: int) -> int:
    """The width in bytes encoded by the size field of ``code`` (an opcode or size code)."""
    return _CODE_TO_BYTES[SizeCode(code & 0x18)]


# Flat aliases with the kernel's macro names.
BPF_LD, BPF_LDX, BPF_ST, BPF_STX = 0x00, 0x01, 0x02, 0x03
BPF_ALU, BPF_JMP, BPF_JMP32, BPF_ALU64 = 0x04, 0x05, 0x06, 0x07
BPF_W, BPF_H, BPF_B, BPF_DW = 0x00, 0x08, 0x10, 0x18
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_MEMSX, BPF_ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xC0
BPF_K, BPF_X, BPF_TO_LE, BPF_TO_BE = 0x00, 0x08, 0x00, 0x08
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70)
BPF_NEG, BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH, BPF_END = 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70)
BPF_CALL, BPF_EXIT, BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE, BPF_JCOND = (
    0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0)
BPF_FETCH, BPF_XCHG, BPF_CMPXCHG, BPF_LOAD_ACQ, BPF_STORE_REL = 0x01, 0xE1, 0xF1, 0x100, 0x110
BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_BTF_ID, BPF_PSEUDO_FUNC = 1, 2, 3, 4
BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE = 5, 6
BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL = 1, 2
BPF_MAY_GOTO = 0
BPF_ADDR_SPACE_CAST = 1

__all__ += [name for name in list(globals()) if name.startswith("BPF_")]
