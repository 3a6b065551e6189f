"""The :class:`Instruction` model and the binary encoding of eBPF programs.

An eBPF instruction is 8 bytes, little-endian::

    u8 opcode | u8 dst:4, src:4 | s16 off | s32 imm

except the wide 64-bit immediate load (``lddw``, opcode ``0x18``), which takes
two 8-byte slots: the second has opcode 0 and holds the high 32 bits of the
immediate. An :class:`Instruction` always stands for a whole instruction, so
an ``lddw`` is *one* :class:`Instruction` whose ``imm`` is the full 64-bit
value and whose :attr:`~Instruction.size` is 2 (slots). Jump offsets are
counted in slots.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable, Iterator, Sequence, Union

from pybpf.errors import AssemblerError

from .opcodes import LDDW

__all__ = [
    "Instruction",
    "Instructions",
    "Label",
    "encode",
    "decode",
    "resolve",
    "flatten",
    "slot_count",
    "label_positions",
]

_SLOT = struct.Struct("<BBhi")
_WIDE = struct.Struct("<BBhIBBhI")
_MAP_LOAD_SRCS = frozenset((1, 2, 5, 6))
_BRANCH_OPS = frozenset((0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0))


def _norm_off(off: int) -> int:
    off = int(off)
    if -0x8000 <= off <= 0x7FFF:
        return off
    if 0x8000 <= off <= 0xFFFF:
        return off - 0x10000
    raise AssemblerError(f"offset {off} does not fit in 16 bits")


def _norm_imm(imm: int, wide: bool) -> int:
    imm = int(imm)
    if wide:
        if -(1 << 63) <= imm < (1 << 64):
            return imm & 0xFFFFFFFFFFFFFFFF
        raise AssemblerError(f"immediate {imm:#x} does not fit in 64 bits")
    if -0x80000000 <= imm <= 0x7FFFFFFF:
        return imm
    if 0x80000000 <= imm <= 0xFFFFFFFF:
        return imm - 0x100000000
    raise AssemblerError(f"immediate {imm:#x} does not fit in 32 bits")


class Instruction:
    """One eBPF instruction.

    ``opcode``, ``dst``, ``src``, ``off`` and ``imm`` are the encoded fields.
    They are normalized on construction: ``off`` to a signed 16-bit value,
    ``imm`` to a signed 32-bit value, except for ``lddw`` (opcode ``0x18``)
    where ``imm`` is the full 64-bit immediate as an *unsigned* value (so
    ``ld_imm64(R0, -1).imm == 0xffffffffffffffff``).

    Symbolic fields, not encoded:

    * ``label``: a label defined at this instruction (a jump target name);
    * ``reference``: the label a jump, ``gotol``, local call or ``ld_func``
      refers to; :func:`resolve` turns it into an offset and clears it;
    * ``symbol``: a name for a loader to patch into the instruction, e.g. the
      map an ``lddw`` loads (see :func:`~pybpf.asm.dsl.ld_map_by_name`).

    Instructions compare equal when all eight fields are equal.
    """

    __slots__ = ("opcode", "dst", "src", "off", "imm", "label", "reference", "symbol")
    __match_args__ = ("opcode", "dst", "src", "off", "imm")

    opcode: int
    dst: int
    src: int
    off: int
    imm: int
    label: str | None
    reference: str | None
    symbol: str | None

    def __init__(
        self,
        opcode: int,
        dst: int = 0,
        src: int = 0,
        off: int = 0,
        imm: int = 0,
        *,
        label: str | None = None,
        reference: str | None = None,
        symbol: str | None = None,
    ) -> None:
        opcode = int(opcode)
        if not 0 <= opcode <= 0xFF:
            raise AssemblerError(f"opcode {opcode:#x} does not fit in 8 bits")
        dst = int(dst)
        src = int(src)
        if not 0 <= dst <= 15:
            raise AssemblerError(f"dst register {dst} out of range (0-15)")
        if not 0 <= src <= 15:
            raise AssemblerError(f"src register {src} out of range (0-15)")
        self.opcode = opcode
        self.dst = dst
        self.src = src
        self.off = _norm_off(off)
        self.imm = _norm_imm(imm, opcode == LDDW)
        self.label = label
        self.reference = reference
        self.symbol = symbol

    @classmethod
    def _make(cls, opcode: int, dst: int, src: int, off: int, imm: int) -> "Instruction":
        """Build without validation (fields must already be normalized)."""
        self = object.__new__(cls)
        self.opcode = opcode
        self.dst = dst
        self.src = src
        self.off = off
        self.imm = imm
        self.label = None
        self.reference = None
        self.symbol = None
        return self

    # -- copying -----------------------------------------------------------
    def replace(self, **changes: Any) -> "Instruction":
        """A copy with some fields changed (validated like the constructor)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"unknown Instruction field(s): {', '.join(sorted(unknown))}")
        fields.update(changes)
        return Instruction(**fields)

    def copy(self) -> "Instruction":
        """A shallow copy."""
        new = Instruction._make(self.opcode, self.dst, self.src, self.off, self.imm)
        new.label, new.reference, new.symbol = self.label, self.reference, self.symbol
        return new

    # -- classification ----------------------------------------------------
    @property
    def cls(self) -> int:
        """The instruction class (``opcode & 7``), see :class:`~pybpf.asm.opcodes.Class`."""
        return self.opcode & 0x07

    @property
    def size(self) -> int:
        """Number of 8-byte slots: 2 for ``lddw``, otherwise 1."""
        return 2 if self.opcode == LDDW else 1

    @property
    def is_wide(self) -> bool:
        """True for the two-slot 64-bit immediate load (``lddw``)."""
        return self.opcode == LDDW

    is_lddw = is_wide

    @property
    def is_jump(self) -> bool:
        """True for branches: ``goto``/``gotol``/``may_goto``/``gotox`` and conditional jumps
        (JMP and JMP32 classes, but not ``call`` or ``exit``)."""
        cls = self.opcode & 0x07
        return (cls == 0x05 or cls == 0x06) and (self.opcode & 0xF0) in _BRANCH_OPS

    @property
    def is_conditional_jump(self) -> bool:
        """True for ``if ... goto`` jumps (JMP/JMP32 with a comparison op)."""
        op = self.opcode & 0xF0
        return self.is_jump and op not in (0x00, 0xE0)

    @property
    def is_call(self) -> bool:
        """True for any call: helper, bpf-to-bpf, kfunc, or ``callx``."""
        return self.opcode in (0x85, 0x8D)

    @property
    def is_helper_call(self) -> bool:
        """True for a helper call (``call`` with src 0)."""
        return self.opcode == 0x85 and self.src == 0

    @property
    def is_local_call(self) -> bool:
        """True for a bpf-to-bpf call (``call`` with src ``BPF_PSEUDO_CALL``)."""
        return self.opcode == 0x85 and self.src == 1

    is_pseudo_call = is_local_call

    @property
    def is_kfunc_call(self) -> bool:
        """True for a kfunc call (``call`` with src ``BPF_PSEUDO_KFUNC_CALL``)."""
        return self.opcode == 0x85 and self.src == 2

    @property
    def is_exit(self) -> bool:
        """True for ``exit``."""
        return self.opcode == 0x95

    @property
    def is_map_load(self) -> bool:
        """True for an ``lddw`` loading a map (src MAP_FD, MAP_VALUE, MAP_IDX or MAP_IDX_VALUE)."""
        return self.opcode == LDDW and self.src in _MAP_LOAD_SRCS

    @property
    def is_pseudo_func(self) -> bool:
        """True for an ``lddw`` loading a subprogram address (src ``BPF_PSEUDO_FUNC``)."""
        return self.opcode == LDDW and self.src == 4

    @property
    def uses_imm_offset(self) -> bool:
        """True when the relative target of this instruction lives in ``imm``
        (``gotol``, local call, ``ld_func``) rather than in ``off``."""
        return self.opcode == 0x06 or (self.opcode == 0x85 and self.src == 1) or (
            self.opcode == LDDW and self.src == 4)

    @property
    def has_target(self) -> bool:
        """True when the instruction has a pc-relative target (branches except ``gotox``,
        local calls, ``ld_func``)."""
        return (self.is_jump and self.opcode != 0x0D) or self.uses_imm_offset

    @property
    def target_offset(self) -> int:
        """The pc-relative offset (in slots, from the next slot) of a branch, local call
        or ``ld_func``; :class:`~pybpf.errors.AssemblerError` for other instructions."""
        if self.uses_imm_offset:
            imm = self.imm
            if self.opcode == LDDW:
                imm = imm & 0xFFFFFFFF
                imm = imm - (1 << 32) if imm >= (1 << 31) else imm
            return imm
        if self.has_target:
            return self.off
        raise AssemblerError(f"{self!r} has no jump target")

    # -- encoding ----------------------------------------------------------
    def encode(self) -> bytes:
        """The instruction's bytes (8, or 16 for ``lddw``)."""
        if self.reference is not None:
            raise AssemblerError(f"unresolved reference {self.reference!r} in {self!r}")
        try:
            if self.opcode == LDDW:
                imm = self.imm & 0xFFFFFFFFFFFFFFFF
                return _WIDE.pack(LDDW, self.dst | (self.src << 4), self.off, imm & 0xFFFFFFFF,
                                  0, 0, 0, imm >> 32)
            return _SLOT.pack(self.opcode, self.dst | (self.src << 4), self.off, self.imm)
        except (struct.error, TypeError) as exc:
            raise AssemblerError(f"cannot encode {self!r}: {exc}") from None

    def text(self, syntax: str = "llvm") -> str:
        """This instruction as assembler text (``"llvm"``, ``"conformance"`` or ``"xlated"``)."""
        from .disasm import format_instruction

        return format_instruction(self, syntax)

    # -- dunder ------------------------------------------------------------
    def _key(self) -> tuple[Any, ...]:
        return (self.opcode, self.dst, self.src, self.off, self.imm, self.label, self.reference,
                self.symbol)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instruction):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass(eq=True)

    def __repr__(self) -> str:
        try:
            text = self.text("llvm")
        except Exception:  # pragma: no cover - never let repr fail
            text = "?"
        extra = ""
        if self.label is not None:
            extra += f" label={self.label!r}"
        if self.reference is not None:
            extra += f" reference={self.reference!r}"
        if self.symbol is not None:
            extra += f" symbol={self.symbol!r}"
        return (f"<Instruction {text!r} opcode={self.opcode:#04x} dst={self.dst} src={self.src} "
                f"off={self.off} imm={self.imm:#x}{extra}>")

    def __str__(self) -> str:
        return self.text("llvm")


#: A program: a list of instructions.
Instructions = list[Instruction]


class Label:
    """A label marker for instruction lists built from DSL functions.

    ``[mov(R0, 0), Label("out"), exit_()]``: the label is attached to the
    next instruction by :func:`flatten` / :func:`resolve` / :func:`encode`.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise AssemblerError(f"invalid label name {name!r}")
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Label) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Label({self.name!r})"


ProgramItem = Union[Instruction, Label, Iterable[Any]]


def _walk(items: Iterable[Any]) -> Iterator[Instruction | Label]:
    for item in items:
        if isinstance(item, (Instruction, Label)):
            yield item
        elif isinstance(item, (bytes, bytearray, memoryview, str)):
            raise AssemblerError(f"expected instructions, got {type(item).__name__}")
        elif isinstance(item, Iterable):
            yield from _walk(item)
        else:
            raise AssemblerError(f"expected an Instruction or Label, got {item!r}")


def flatten(items: Iterable[Any]) -> list[Instruction]:
    """Flatten nested lists of instructions and :class:`Label` markers into a flat
    instruction list, attaching each label to the instruction that follows it.

    Instructions that gain a label are copied; the input is never modified.
    A second label for an instruction that already has one raises
    :class:`~pybpf.errors.AssemblerError` (use one name per position).
    """
    if isinstance(items, list) and all(type(i) is Instruction for i in items):
        return list(items)
    out: list[Instruction] = []
    pending: str | None = None
    for item in _walk(items):
        if isinstance(item, Label):
            if pending is not None:
                raise AssemblerError(f"labels {pending!r} and {item.name!r} mark the same instruction")
            pending = item.name
            continue
        if pending is not None:
            if item.label is not None and item.label != pending:
                raise AssemblerError(
                    f"labels {pending!r} and {item.label!r} mark the same instruction")
            item = item.copy()
            item.label = pending
            pending = None
        out.append(item)
    if pending is not None:
        raise AssemblerError(f"label {pending!r} is not followed by an instruction")
    return out


def slot_count(insns: Iterable[Instruction]) -> int:
    """Total number of 8-byte slots of ``insns``."""
    return sum(2 if i.opcode == LDDW else 1 for i in insns)


def encode(insns: Iterable[Any]) -> bytes:
    """Encode instructions to bytes (little-endian, 8 bytes per slot).

    ``insns`` may contain :class:`Label` markers and nested lists (see :func:`flatten`).
    Unresolved ``reference`` fields raise :class:`~pybpf.errors.AssemblerError`;
    call :func:`resolve` first.
    """
    parts: list[bytes] = []
    append = parts.append
    for insn in flatten(insns):
        append(insn.encode())
    return b"".join(parts)


def decode(data: bytes | bytearray | memoryview) -> list[Instruction]:
    """Decode little-endian instruction bytes into :class:`Instruction` objects.

    ``lddw`` slot pairs are joined into one instruction. Raises
    :class:`~pybpf.errors.AssemblerError` if the length is not a multiple of 8,
    an ``lddw`` is truncated, or its second slot is not a valid continuation
    (opcode, registers and offset must be zero).
    """
    mv = memoryview(data).cast("B")
    n = len(mv)
    if n % 8:
        raise AssemblerError(f"instruction bytes length {n} is not a multiple of 8")
    slots = list(_SLOT.iter_unpack(mv))
    out: list[Instruction] = []
    append = out.append
    make = Instruction._make
    i = 0
    count = len(slots)
    while i < count:
        code, regs, off, imm = slots[i]
        if code == LDDW:
            if i + 1 >= count:
                raise AssemblerError(f"truncated lddw at slot {i}: missing second half")
            code2, regs2, off2, imm2 = slots[i + 1]
            if code2 or regs2 or off2:
                raise AssemblerError(
                    f"malformed lddw at slot {i}: second half has opcode {code2:#04x}, "
                    f"regs {regs2:#04x}, off {off2} (all must be 0)")
            append(make(code, regs & 0x0F, regs >> 4, off,
                        (imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32)))
            i += 2
        else:
            append(make(code, regs & 0x0F, regs >> 4, off, imm))
            i += 1
    return out


def resolve(insns: Iterable[Any], *, strict: bool = True) -> list[Instruction]:
    """Resolve symbolic ``reference`` fields to pc-relative offsets.

    Labels come from the instructions' ``label`` fields and from :class:`Label`
    markers. Offsets are counted in slots from the slot after the referring
    instruction (an ``lddw`` counts 2):

    * ``goto``, conditional jumps, ``may_goto``: ``off`` (16 bits);
    * ``gotol`` (``ja32``), bpf-to-bpf ``call`` (src 1), ``ld_func`` (lddw src 4): ``imm``.

    Returns a new list; instructions that were resolved are copies with
    ``reference`` cleared (labels are kept). With ``strict=False`` references
    to unknown labels are left in place instead of raising
    :class:`~pybpf.errors.AssemblerError`.
    """
    flat = flatten(insns)
    labels: dict[str, int] = {}
    positions: list[int] = []
    pc = 0
    for insn in flat:
        positions.append(pc)
        if insn.label is not None:
            if insn.label in labels:
                raise AssemblerError(f"duplicate label {insn.label!r}")
            labels[insn.label] = pc
        pc += 2 if insn.opcode == LDDW else 1
    if all(insn.reference is None for insn in flat):
        return flat
    out: list[Instruction] = []
    for insn, pos in zip(flat, positions):
        ref = insn.reference
        if ref is None:
            out.append(insn)
            continue
        target = labels.get(ref)
        if target is None:
            if strict:
                raise AssemblerError(f"undefined label {ref!r}")
            out.append(insn)
            continue
        rel = target - (pos + 1)
        new = insn.copy()
        new.reference = None
        if insn.uses_imm_offset:
            if not -0x80000000 <= rel <= 0x7FFFFFFF:
                raise AssemblerError(f"target {ref!r} out of range ({rel})")
            if insn.opcode == LDDW:
                new.imm = (insn.imm & 0xFFFFFFFF00000000) | (rel & 0xFFFFFFFF)
            else:
                new.imm = rel
        elif insn.is_jump and insn.opcode != 0x0D:
            if not -0x8000 <= rel <= 0x7FFF:
                raise AssemblerError(
                    f"jump to {ref!r} out of 16-bit range ({rel}); use ja32/gotol")
            new.off = rel
        else:
            raise AssemblerError(f"instruction {insn!r} cannot refer to a label")
        out.append(new)
    return out


def label_positions(insns: Sequence[Instruction]) -> dict[int, str]:
    """Map slot index -> label name for the labelled instructions of ``insns``."""
    out: dict[int, str] = {}
    pc = 0
    for insn in insns:
        if insn.label is not None and pc not in out:
            out[pc] = insn.label
        pc += 2 if insn.opcode == LDDW else 1
    return out
