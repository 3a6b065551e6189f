"""``bpftool map dump`` formatting of BTF-typed data.

:func:`format_value` follows bpftool's ``btf_dumper.c`` rule for rule:

* integers print as numbers (unsigned unless ``BTF_INT_SIGNED``), ``_Bool``
  as true/false, ``BTF_INT_CHAR`` ints as one-character strings;
* bitfields, ints with a bit offset or odd bit count, and 128-bit ints print
  as hex: ``"0x1f"`` strings in JSON mode, bare ``0x1f`` in plain mode;
* ``char[n]`` arrays (element ``char`` or CHAR-encoded, typedefs not
  followed) print as a string when a NUL ends printable ASCII, otherwise,
  like all other arrays, as a list;
* enums print the enumerator name, or the (signed) number if none matches;
* pointers print as numbers in JSON mode, ``"0x..."``/``"(nil)"`` (``%p``) in
  plain mode (bpftool < 7.3 left them unquoted: ``quote_pointers=False``);
* structs/unions print ``{member: value}`` (anonymous members under ``""``);
  a VAR prints ``{name: value}``, a DATASEC ``{section: [vars]}``;
* floats and other kinds print bpftool's ``(unsupported-kind)`` marker.

JSON mode (``plain_text=False``, the default) is what ``bpftool -j map dump``
shows under ``"formatted"``; plain mode is the default ``bpftool map dump``
output for maps with BTF. :func:`dumps_bpftool` renders values with
bpftool's JSON writer layout, so ``dumps_bpftool([format_entry(...), ...])``
reproduces ``bpftool map dump`` text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..errors import BTFError
from .types import Kind, Type

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = ["format_value", "format_entry", "dumps_bpftool", "BpftoolObject", "Raw"]

_SKIP = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG, Kind.DECL_TAG})
_MODS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})


class Raw(str):
    """A token bpftool prints unquoted (plain-mode hex, ``(unknown)`` markers)."""

    __slots__ = ()


class BpftoolObject(dict):
    """A JSON object that remembers every member in order, duplicates included
    (bpftool prints each anonymous member as ``"": ...``); ``pairs`` holds them."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: "list[tuple[str, Any]]") -> None:
        super().__init__(pairs)
        self.pairs = pairs


class _Dumper:
    def __init__(self, btf: "BTF", plain: bool, quote_pointers: bool = True) -> None:
        self.btf = btf
        self.plain = plain
        self.quote_pointers = quote_pointers
        self.little = btf.byteorder == "little"

    def _u(self, data: bytes, off: int, n: int) -> int:
        return int.from_bytes(data[off:off + n], self.btf.byteorder)  # type: ignore[arg-type]

    def _s(self, data: bytes, off: int, n: int) -> int:
        return int.from_bytes(data[off:off + n], self.btf.byteorder, signed=True)  # type: ignore[arg-type]

    def hexnum(self, v: int) -> Any:
        s = f"0x{v:x}"
        return Raw(s) if self.plain else s

    def bitfield(self, nbits: int, bit_off: int, data: bytes, off: int) -> Any:
        nbytes = (bit_off + nbits + 7) // 8
        chunk = bytes(data[off:off + nbytes]).ljust(nbytes, b"\0")
        if self.little:
            v = int.from_bytes(chunk, "little") >> bit_off
        else:
            v = int.from_bytes(chunk, "big") >> (nbytes * 8 - bit_off - nbits)
        return self.hexnum(v & ((1 << nbits) - 1))

    def do(self, t: Type, bit_off: int, data: bytes, off: int) -> Any:
        k = t.kind
        if k == Kind.INT:
            return self.integer(t, bit_off, data, off)
        if k in (Kind.STRUCT, Kind.UNION):
            pairs = []
            for m in t.members:  # type: ignore[attr-defined]
                bo = m.bit_offset
                moff = off + bo // 8
                if m.bitfield_size:
                    pairs.append((m.name, self.bitfield(m.bitfield_size, bo % 8, data, moff)))
                else:
                    pairs.append((m.name, self.do(m.type, bo % 8, data, moff)))
            return BpftoolObject(pairs)
        if k == Kind.ARRAY:
            return self.array(t, data, off)
        if k == Kind.ENUM:
            size = t.size  # type: ignore[attr-defined]
            if size not in (1, 2, 4, 8):
                raise BTFError(f"bpftool format: enum {t.name} has unsupported size {size}")
            v = self._s(data, off, size)
            for e in t.values:  # type: ignore[attr-defined]
                ev = e.value & 0xFFFFFFFF
                if ev >= 1 << 31:
                    ev -= 1 << 32
                if v == ev:
                    return e.name
            return v
        if k == Kind.ENUM64:
            v = self._u(data, off, 8)
            for e in t.values:  # type: ignore[attr-defined]
                if e.value & 0xFFFFFFFFFFFFFFFF == v:
                    return e.name
            return v - (1 << 64) if v >= 1 << 63 else v  # jsonw_int(): int64_t
        if k == Kind.PTR:
            v = self._u(data, off, self.btf.pointer_size)
            if self.plain:
                p = f"0x{v:x}" if v else "(nil)"
                return p if self.quote_pointers else Raw(p)
            return v
        if k == Kind.UNKN:
            return Raw("(unknown)")
        if k == Kind.FWD:
            return Raw("(fwd-kind-invalid)")
        if k in _SKIP:
            r = t
            while r.kind in _SKIP:
                r = r.type  # type: ignore[attr-defined]
            return self.do(r, bit_off, data, off)
        if k == Kind.VAR:
            return BpftoolObject([(t.name, self.do(t.type, bit_off, data, off))])  # type: ignore[attr-defined]
        if k == Kind.DATASEC:
            return BpftoolObject([(t.name, [self.do(vs.type, 0, data, off + vs.offset)  # type: ignore[attr-defined]
                                            for vs in t.vars])])  # type: ignore[attr-defined]
        return Raw("(unsupported-kind)")

    def integer(self, t: Any, bit_off: int, data: bytes, off: int) -> Any:
        nbits, ioff = t.bits, t.offset
        if bit_off or ioff or nbits % 8:
            total = bit_off + ioff
            return self.bitfield(nbits, total % 8, data, off + total // 8)
        if nbits == 128:
            return self.hexnum(self._u(data, off, 16))
        enc = int(t.encoding)
        if enc in (0, 1):
            if nbits not in (8, 16, 32, 64):
                return self.bitfield(nbits, 0, data, off)
            return (self._s if enc else self._u)(data, off, nbits // 8)
        if enc == 2:  # CHAR
            c = data[off]
            if 0x20 <= c < 0x7F:
                return chr(c)
            return Raw(f"0x{c:x}") if self.plain else chr(c)
        if enc == 4:  # BOOL
            return data[off] != 0
        raise BTFError(f"bpftool format: int {t.name} has invalid encoding {enc}")

    def array(self, t: Any, data: bytes, off: int) -> Any:
        n = t.nelems
        elem = t.type
        e = elem
        while e.kind in _MODS:
            e = e.type
        if n and e.kind == Kind.INT and e.size == 1 and (int(e.encoding) == 2 or e.name == "char"):
            for i in range(n):
                c = data[off + i] if off + i < len(data) else 0
                if c == 0:
                    return bytes(data[off:off + i]).decode("latin-1")
                if c <= 0x1F or c >= 0x7F:
                    break
        esize = self.btf.sizeof(elem)
        return [self.do(elem, 0, data, off + i * esize) for i in range(n)]


def format_value(btf: "BTF", t: "Type | int | str", raw: "bytes | bytearray | memoryview",
                 *, plain_text: bool = False, quote_pointers: bool = True) -> Any:
    """``raw`` formatted as ``bpftool map dump`` formats a value of type ``t``
    (JSON mode by default; ``plain_text=True`` for the plain-output quirks:
    pointers as ``"0x..."``, hex bitfields unquoted as :class:`Raw`;
    ``quote_pointers=False`` prints plain-mode pointers bare like bpftool < 7.3)."""
    from .values import _lookup
    typ = _lookup(btf, t)
    data = bytes(raw)
    size = btf.sizeof(typ) if typ.kind not in (Kind.DATASEC, Kind.UNKN, Kind.FWD) else len(data)
    if len(data) < size:
        raise BTFError(f"bpftool format: {btf.type_name(typ)} needs {size} bytes, got {len(data)}")
    return _Dumper(btf, plain_text, quote_pointers).do(typ, 0, data, 0)


def format_entry(btf: "BTF", key_type: "Type | int | str | None", value_type: "Type | int | str",
                 key: "bytes | None", value: "bytes | None" = None, *,
                 percpu_values: "Iterable[bytes] | None" = None, plain_text: bool = False,
                 quote_pointers: bool = True) -> BpftoolObject:
    """One ``bpftool map dump`` element: ``{"key": ..., "value": ...}``, or
    ``{"key": ..., "values": [{"cpu": i, "value": ...}]}`` for per-CPU maps.
    ``key_type`` None/0 leaves out the key (as bpftool does without a key type)."""
    kw = {"plain_text": plain_text, "quote_pointers": quote_pointers}
    pairs: list[tuple[str, Any]] = []
    if key_type not in (None, 0):
        pairs.append(("key", format_value(btf, key_type, key or b"", **kw)))  # type: ignore[arg-type]
    if percpu_values is None:
        pairs.append(("value", format_value(btf, value_type, value or b"", **kw)))
    else:
        pairs.append(("values", [BpftoolObject([("cpu", i), ("value", format_value(btf, value_type, v, **kw))])
                                 for i, v in enumerate(percpu_values)]))
    return BpftoolObject(pairs)


# ---------------------------------------------------------------------- bpftool's json_writer
_ESC = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "\b": "\\b", "\\": "\\\\", '"': '\\"'}


def _quote(s: str) -> str:
    return '"' + "".join(_ESC.get(c, c) for c in s) + '"'


class _Writer:
    """A port of bpftool's json_writer.c (pretty mode): same separators,
    indentation (4 spaces) and its habit of keeping array elements on one line."""

    def __init__(self, pretty: bool) -> None:
        self.out: list[str] = []
        self.depth = 0
        self.sep = ""
        self.pretty = pretty

    def eol(self) -> None:
        if self.pretty:
            self.out.append("\n" + "    " * self.depth)

    def eor(self) -> None:
        if self.sep:
            self.out.append(self.sep)
        self.sep = ","

    def begin(self, c: str) -> None:
        self.eor()
        self.out.append(c)
        self.depth += 1
        self.sep = ""

    def end(self, c: str) -> None:
        self.depth -= 1
        if self.sep:
            self.eol()
        self.out.append(c)
        self.sep = ","

    def name(self, n: str) -> None:
        self.eor()
        self.eol()
        self.sep = ""
        self.out.append(_quote(n) + (": " if self.pretty else ":"))

    def value(self, v: Any) -> None:
        if isinstance(v, dict):
            self.begin("{")
            for k, x in (v.pairs if isinstance(v, BpftoolObject) else v.items()):
                self.name(str(k))
                self.value(x)
            self.end("}")
        elif isinstance(v, (list, tuple)):
            self.begin("[")
            for x in v:
                self.value(x)
            self.end("]")
        else:
            self.eor()
            if isinstance(v, Raw):
                self.out.append(str(v))
            elif isinstance(v, bool):
                self.out.append("true" if v else "false")
            elif v is None:
                self.out.append("null")
            elif isinstance(v, int):
                self.out.append(int.__repr__(v))
            elif isinstance(v, float):
                self.out.append(f"{v:g}")
            else:
                self.out.append(_quote(str(v)))


def dumps_bpftool(obj: Any, *, pretty: bool = True) -> str:
    """``obj`` written the way bpftool's JSON writer writes it. For a list of
    :func:`format_entry` results, ``dumps_bpftool(entries) + "\\n"`` is the
    text ``bpftool map dump`` prints for a map with BTF."""
    w = _Writer(pretty)
    w.value(obj)
    return "".join(w.out)
