"""``.BTF.ext``: per-section func_info, line_info and CO-RE relocations.

Layout (``tools/lib/bpf/libbpf_internal.h``)::

    struct btf_ext_header { u16 magic; u8 version, flags; u32 hdr_len;
                            u32 func_info_off, func_info_len, line_info_off, line_info_len;
                            u32 core_relo_off, core_relo_len; /* if hdr_len >= 32 */ };
    info section := u32 rec_size, then { u32 sec_name_off; u32 num_info; records } ...

String offsets refer to the companion ``.BTF`` string table. In the ELF file
``insn_off`` is a *byte* offset into the section; ``bpf_attr`` wants
instruction indexes (bytes / 8) — :func:`func_info_blob` and friends write
``insn_off`` verbatim, so convert before calling them.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Callable, Iterable, NamedTuple, Optional

from ..errors import BTFError
from . import _format as F

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF
    from .types import Type

__all__ = ["BTFExt", "FuncInfo", "LineInfo", "CoreRelo", "CoreReloKind", "InfoBlob",
           "func_info_blob", "line_info_blob", "core_relo_blob",
           "FUNC_INFO_SIZE", "LINE_INFO_SIZE", "CORE_RELO_SIZE"]

FUNC_INFO_SIZE = 8   # struct bpf_func_info
LINE_INFO_SIZE = 16  # struct bpf_line_info
CORE_RELO_SIZE = 16  # struct bpf_core_relo
_EXT_HDR_MIN = 24
_EXT_HDR_CORE = 32


class CoreReloKind(IntEnum):
    """``enum bpf_core_relo_kind``."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12


@dataclass(frozen=True)
class FuncInfo:
    """``struct bpf_func_info``: the function (a ``Func`` type id) starting at ``insn_off``."""

    __slots__ = ("insn_off", "type_id")
    insn_off: int
    type_id: int


@dataclass(frozen=True)
class LineInfo:
    """``struct bpf_line_info`` with its strings resolved."""

    __slots__ = ("insn_off", "file_name", "line_text", "line", "col", "file_name_off", "line_off")
    insn_off: int
    file_name: str
    line_text: str
    line: int
    col: int
    file_name_off: int
    line_off: int

    @property
    def line_col(self) -> int:
        """The packed ``line << 10 | col`` field."""
        return (self.line << F.LINE_COL_BITS) | (self.col & ((1 << F.LINE_COL_BITS) - 1))


@dataclass(frozen=True)
class CoreRelo:
    """``struct bpf_core_relo``: relocate the instruction at ``insn_off``."""

    __slots__ = ("insn_off", "type_id", "access_str", "kind", "access_str_off")
    insn_off: int
    type_id: int
    access_str: str
    kind: "CoreReloKind | int"
    access_str_off: int


class InfoBlob(NamedTuple):
    """Records as ``bpf_attr`` takes them: ``*_rec_size``, ``*_cnt`` and the array."""

    rec_size: int
    count: int
    data: bytes


def _kind(v: int) -> "CoreReloKind | int":
    try:
        return CoreReloKind(v)
    except ValueError:
        return v


class BTFExt:
    """Parsed ``.BTF.ext``: dicts keyed by ELF section name (e.g. ``"kprobe/foo"``)."""

    def __init__(self, func_info: Optional[dict[str, list[FuncInfo]]] = None,
                 line_info: Optional[dict[str, list[LineInfo]]] = None,
                 core_relos: Optional[dict[str, list[CoreRelo]]] = None,
                 btf: "BTF | None" = None) -> None:
        self.func_info: dict[str, list[FuncInfo]] = func_info or {}
        self.line_info: dict[str, list[LineInfo]] = line_info or {}
        self.core_relos: dict[str, list[CoreRelo]] = core_relos or {}
        self.btf = btf
        self.func_info_rec_size = FUNC_INFO_SIZE
        self.line_info_rec_size = LINE_INFO_SIZE
        self.core_relo_rec_size = CORE_RELO_SIZE
        self._sec_name_offs: dict[str, int] = {}

    def __repr__(self) -> str:
        n = lambda d: sum(map(len, d.values()))  # noqa: E731
        return (f"<BTFExt {n(self.func_info)} func_info, {n(self.line_info)} line_info, "
                f"{n(self.core_relos)} core_relos in {len(self.sections)} sections>")

    @property
    def sections(self) -> list[str]:
        """Every section name with any record."""
        seen: dict[str, None] = {}
        for d in (self.func_info, self.line_info, self.core_relos):
            seen.update(dict.fromkeys(d))
        return list(seen)

    def func_type(self, info: FuncInfo) -> "Type":
        """The ``Func`` type of a func_info record."""
        if self.btf is None:
            raise BTFError("BTFExt has no BTF to resolve types")
        return self.btf[info.type_id]

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_bytes(cls, data: "bytes | bytearray | memoryview", btf: "BTF") -> "BTFExt":
        """Parse ``.BTF.ext`` bytes whose strings live in ``btf``."""
        data = bytes(data)
        lay = F.detect_order(data, "BTF.ext")
        if len(data) < 8:
            raise BTFError(f"BTF.ext: {len(data)} bytes is too short for a header")
        _m, version, flags, hdr_len = struct.unpack_from(lay.prefix + "HBBI", data, 0)
        if version != F.VERSION:
            raise BTFError(f"BTF.ext: unsupported version {version}")
        if flags:
            raise BTFError(f"BTF.ext: unsupported flags 0x{flags:x}")
        if hdr_len < _EXT_HDR_MIN or hdr_len > len(data):
            raise BTFError(f"BTF.ext: bad header length {hdr_len} ({len(data)} bytes)")
        fo, fl, lo, ll = struct.unpack_from(lay.prefix + "IIII", data, 8)
        co = cl = 0
        if hdr_len >= _EXT_HDR_CORE:
            co, cl = struct.unpack_from(lay.prefix + "II", data, 24)
        ext = cls(btf=btf)
        string = btf.string

        def sec(name: str, off: int, length: int, min_rec: int, fmt: str, make: Callable) -> int:
            start = hdr_len + off
            end = start + length
            if end > len(data):
                raise BTFError(f"BTF.ext: {name} section ({off}+{length}) past end of data")
            if not length:
                return min_rec
            if length < 4:
                raise BTFError(f"BTF.ext: {name} section too short")
            (rec_size,) = lay.u32.unpack_from(data, start)
            if rec_size < min_rec or rec_size % 4:
                raise BTFError(f"BTF.ext: {name} record size {rec_size} invalid (min {min_rec})")
            rec = struct.Struct(lay.prefix + fmt)
            pos = start + 4
            while pos < end:
                if pos + 8 > end:
                    raise BTFError(f"BTF.ext: {name} section header truncated")
                name_off, num = lay.u32x2.unpack_from(data, pos)
                pos += 8
                if not num:
                    raise BTFError(f"BTF.ext: {name} section entry with no records")
                if pos + num * rec_size > end:
                    raise BTFError(f"BTF.ext: {name}: {num} records of {rec_size} bytes overrun the section")
                sname = string(name_off)
                ext._sec_name_offs.setdefault(sname, name_off)
                out = make(sname)
                for i in range(num):
                    out.append(rec.unpack_from(data, pos + i * rec_size))
                pos += num * rec_size
            return rec_size

        raw_f: dict[str, list] = {}
        raw_l: dict[str, list] = {}
        raw_c: dict[str, list] = {}
        ext.func_info_rec_size = sec("func_info", fo, fl, FUNC_INFO_SIZE, "II",
                                     lambda s: raw_f.setdefault(s, []))
        ext.line_info_rec_size = sec("line_info", lo, ll, LINE_INFO_SIZE, "IIII",
                                     lambda s: raw_l.setdefault(s, []))
        if hdr_len >= _EXT_HDR_CORE:
            ext.core_relo_rec_size = sec("core_relo", co, cl, CORE_RELO_SIZE, "IIII",
                                         lambda s: raw_c.setdefault(s, []))
        for s, recs in raw_f.items():
            ext.func_info[s] = [FuncInfo(a, b) for a, b in recs]
        mask = (1 << F.LINE_COL_BITS) - 1
        for s, recs in raw_l.items():
            ext.line_info[s] = [LineInfo(io, string(fn), string(lt), lc >> F.LINE_COL_BITS, lc & mask, fn, lt)
                                for io, fn, lt, lc in recs]
        for s, recs in raw_c.items():
            ext.core_relos[s] = [CoreRelo(io, tid, string(ao), _kind(k), ao) for io, tid, ao, k in recs]
        return ext

    # ------------------------------------------------------------------ writing
    def to_bytes(self, strings: Optional[Callable[[str], int]] = None, byteorder: str = "little") -> bytes:
        """Encode as a ``.BTF.ext`` section (header length 32, minimal record sizes).

        ``strings`` maps a string to its offset in the target BTF (e.g.
        ``Builder.add_string``); without it, offsets recorded at parse time are reused.
        """
        lay = F.layout(byteorder)

        def soff(s: str, raw: int) -> int:
            if strings is not None:
                return strings(s)
            if raw or not s:
                return raw
            raise BTFError(f"BTF.ext: no string offset for {s!r}; pass strings=")

        def secname(s: str) -> int:
            return soff(s, self._sec_name_offs.get(s, 0))

        def section(d: dict, rec_size: int, enc: Callable) -> bytes:
            if not d:
                return b""
            out = [lay.u32.pack(rec_size)]
            for s, recs in d.items():
                if recs:
                    out.append(lay.u32x2.pack(secname(s), len(recs)))
                    out.extend(enc(r) for r in recs)
            return b"".join(out)

        try:
            fi = section(self.func_info, FUNC_INFO_SIZE, lambda r: lay.u32x2.pack(r.insn_off, r.type_id))
            li = section(self.line_info, LINE_INFO_SIZE, lambda r: struct.pack(
                lay.prefix + "IIII", r.insn_off, soff(r.file_name, r.file_name_off),
                soff(r.line_text, r.line_off), r.line_col))
            cr = section(self.core_relos, CORE_RELO_SIZE, lambda r: struct.pack(
                lay.prefix + "IIII", r.insn_off, r.type_id, soff(r.access_str, r.access_str_off), int(r.kind)))
        except struct.error as e:
            raise BTFError(f"BTF.ext: cannot encode: {e}") from None
        hdr = struct.pack(lay.prefix + "HBBIIIIIII", F.MAGIC, F.VERSION, 0, _EXT_HDR_CORE,
                          0, len(fi), len(fi), len(li), len(fi) + len(li), len(cr))
        return hdr + fi + li + cr


# ---------------------------------------------------------------------- bpf_attr blobs
def func_info_blob(records: Iterable[FuncInfo], byteorder: str = sys.byteorder) -> InfoBlob:
    """``func_info`` for ``BPF_PROG_LOAD`` (``insn_off`` must be instruction indexes)."""
    p = "<" if byteorder == "little" else ">"
    try:
        data = b"".join(struct.pack(p + "II", r.insn_off, r.type_id) for r in records)
    except struct.error as e:
        raise BTFError(f"func_info: {e}") from None
    return InfoBlob(FUNC_INFO_SIZE, len(data) // FUNC_INFO_SIZE, data)


def line_info_blob(records: Iterable[LineInfo], strings: Optional[Callable[[str], int]] = None,
                   byteorder: str = sys.byteorder) -> InfoBlob:
    """``line_info`` for ``BPF_PROG_LOAD``. String offsets are the parsed ones unless
    ``strings`` maps strings to offsets in the BTF being loaded."""
    p = "<" if byteorder == "little" else ">"
    out = []
    try:
        for r in records:
            fn = strings(r.file_name) if strings else r.file_name_off
            ln = strings(r.line_text) if strings else r.line_off
            out.append(struct.pack(p + "IIII", r.insn_off, fn, ln, r.line_col))
    except struct.error as e:
        raise BTFError(f"line_info: {e}") from None
    return InfoBlob(LINE_INFO_SIZE, len(out), b"".join(out))


def core_relo_blob(records: Iterable[CoreRelo], strings: Optional[Callable[[str], int]] = None,
                   byteorder: str = sys.byteorder) -> InfoBlob:
    """``core_relos`` for ``BPF_PROG_LOAD`` (kernel-side CO-RE)."""
    p = "<" if byteorder == "little" else ">"
    out = []
    try:
        for r in records:
            ao = strings(r.access_str) if strings else r.access_str_off
            out.append(struct.pack(p + "IIII", r.insn_off, r.type_id, ao, int(r.kind)))
    except struct.error as e:
        raise BTFError(f"core_relo: {e}") from None
    return InfoBlob(CORE_RELO_SIZE, len(out), b"".join(out))
