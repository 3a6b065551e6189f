"""Tracepoint context structs from tracefs ``events/<category>/<event>/format``.

BCC's ``TRACEPOINT_PROBE(cat, event)`` hands the program ``args``, a pointer to
``struct tracepoint__<cat>__<event>`` whose layout is the event's record as
described by its format file.  :func:`tracepoint_struct` writes that struct:

* every field at the offset the format gives (explicit ``__pad_<offset>``
  arrays fill holes; ``__attribute__((packed))`` only when natural alignment
  cannot reproduce the offsets);
* the ``common_*`` header fields keep their names (``args->common_pid``);
* ``__data_loc`` fields become ``int data_loc_<name>`` as in BCC (the low 16
  bits are the offset of the data from ``args``, the high 16 its length);
* integers are typed by size and signedness (``s32``, ``u64``...), so kernel
  typedefs that are not in vmlinux.h cannot break the build; pointers keep
  their declared type; array lengths come from the field size, which also
  resolves symbolic dimensions such as ``char comm[TASK_COMM_LEN]``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional

__all__ = ["TpField", "parse_format", "tracepoint_struct", "read_format", "struct_name"]

_FIELD = re.compile(r"^\s*field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                    r"(?:\s*signed:(?P<signed>-?\d+);)?")
_CHARS = {"char", "signed char", "unsigned char", "const char"}
_SCALAR_SIZES = {
    "char": 1, "signed char": 1, "unsigned char": 1, "bool": 1, "_Bool": 1, "u8": 1, "s8": 1, "__u8": 1,
    "__s8": 1, "uint8_t": 1, "int8_t": 1, "short": 2, "unsigned short": 2, "u16": 2, "s16": 2, "__u16": 2,
    "__s16": 2, "uint16_t": 2, "int16_t": 2, "__be16": 2, "__le16": 2, "int": 4, "unsigned int": 4,
    "unsigned": 4, "u32": 4, "s32": 4, "__u32": 4, "__s32": 4, "uint32_t": 4, "int32_t": 4, "__be32": 4,
    "__le32": 4, "long": 8, "unsigned long": 8, "long long": 8, "unsigned long long": 8, "u64": 8, "s64": 8,
    "__u64": 8, "__s64": 8, "uint64_t": 8, "int64_t": 8, "size_t": 8,
}


@dataclasses.dataclass(frozen=True)
class TpField:
    """One ``field:`` line: the C declaration split into type and name."""

    type: str
    name: str
    offset: int
    size: int
    signed: bool
    array: bool = False
    data_loc: bool = False

    @property
    def pointer(self) -> bool:
        return "*" in self.type


def parse_format(text: str) -> list[TpField]:
    """The fields of a tracefs ``format`` file, in order."""
    out = []
    for line in text.splitlines():
        m = _FIELD.match(line)
        if m is None:
            continue
        decl = m.group("decl").strip()
        off, size = int(m.group("off")), int(m.group("size"))
        signed = m.group("signed") == "1"
        data_loc = decl.startswith("__data_loc") or decl.startswith("__rel_loc")
        arr = re.search(r"\[[^\]]*\]\s*$", decl)
        array = False
        if arr is not None:
            decl = decl[:arr.start()].rstrip()
            array = not data_loc
        if data_loc:
            decl = re.sub(r"\[\s*\]", "", decl)
        m2 = re.match(r"^(?P<type>.*?[\s*])(?P<name>[A-Za-z_]\w*)$", decl)
        if m2 is None:
            continue
        ftype = " ".join(m2.group("type").split())
        out.append(TpField(ftype, m2.group("name"), off, size, signed, array, data_loc))
    return out


def _int_type(size: int, signed: bool) -> str:
    return {1: "s8", 2: "s16", 4: "s32", 8: "s64"}[size] if signed else {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[size]


def _pointer_type(t: str) -> str:
    t = re.sub(r"\b(__user|__rcu|__percpu|__kernel|__force|__iomem)\b", "", t)
    return " ".join(t.split())


def _member(f: TpField) -> tuple[str, int]:
    """(declaration, alignment) for one field."""
    if f.data_loc:
        return f"int data_loc_{f.name};", 4
    if f.pointer and not f.array:
        return f"{_pointer_type(f.type)} {f.name};", 8
    base = " ".join(w for w in f.type.split() if w not in ("const", "volatile"))
    if f.array:
        if base in _CHARS or base == "char":
            return f"char {f.name}[{f.size}];", 1
        el = _SCALAR_SIZES.get(base)
        if "*" in base:
            el = 8
            return f"u64 {f.name}[{max(1, f.size // 8)}];", 8
        if el and f.size % el == 0:
            return f"{_int_type(el, f.signed)} {f.name}[{f.size // el}];", el
        return f"u8 {f.name}[{f.size}];", 1
    if f.size in (1, 2, 4, 8):
        return f"{_int_type(f.size, f.signed)} {f.name};", f.size
    return f"u8 {f.name}[{f.size}];", 1


def struct_name(category: str, event: str) -> str:
    return f"tracepoint__{category}__{event}"


def tracepoint_struct(category: str, event: str, fmt: str) -> str:
    """C definition of ``struct tracepoint__<category>__<event>`` for the format text ``fmt``."""
    fields = parse_format(fmt)
    if not fields:
        raise ValueError(f"tracepoint {category}:{event}: no fields in its format description")
    lines: list[str] = []
    pos = 0
    packed = False
    for f in sorted(fields, key=lambda x: x.offset):
        if f.offset < pos:
            continue  # overlapping (should not happen): keep the first
        if f.offset > pos:
            lines.append(f"char __pad_{pos}[{f.offset - pos}];")
            pos = f.offset
        decl, align = _member(f)
        if pos % align:
            packed = True
        lines.append(decl)
        pos += f.size
    attr = " __attribute__((packed))" if packed else ""
    body = "".join(f"\t{ln}\n" for ln in lines)
    return f"struct {struct_name(category, event)} {{\n{body}}}{attr};\n"


def read_format(category: str, event: str, tracefs: Optional[str] = None) -> str:
    """The text of ``<tracefs>/events/<category>/<event>/format``; FileNotFoundError naming the event."""
    if tracefs is None:
        from .._sys.fs import find_tracefs

        tracefs = find_tracefs()
    path = os.path.join(tracefs, "events", category, event, "format")
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"tracepoint {category}:{event} does not exist (no {path}); "
                                f"see {tracefs}/available_events") from None
