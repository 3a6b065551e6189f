"""Typed values: raw map keys/values and global variables <-> Python objects, from BTF.

::

    from pybpf.btf import BTF
    from pybpf.btf.values import codec_for, DatasecView, ctypes_type, format_value

    c = codec_for(btf, "struct event")      # or a type id / Type
    ev = c.decode(raw)                      # event(pid=1, comm='bash', ...)
    ev.pid, ev.comm, ev.to_dict()
    raw = c.encode({"pid": 1})              # missing fields are zero
    c.encode(ev._replace(pid=2))

Mapping of C types to Python:

=====================================  ===========================================
integers (1/2/4/8/16 bytes), char       ``int``  (``_Bool``: ``bool``)
enums                                   :class:`EnumInt` subclass (an ``int`` whose
                                        str/repr is the enumerator name); encode
                                        from names or ints
``char[n]``                             ``str`` up to the first NUL (UTF-8 with
                                        surrogate escapes); encode NUL-pads
``unsigned char[n]``, ``__u8[n]``...    ``bytes`` (exact; encode zero-pads)
other arrays                            ``list`` (encode zero-pads short lists)
structs                                 :class:`StructValue` subclass: immutable,
                                        attribute access, anonymous members
                                        flattened, ``to_dict()``, ``_replace()``
unions                                  :class:`UnionValue` subclass (keeps bytes)
pointers                                ``int`` address
float/double                            ``float``
typedef/const/volatile/type tags        resolved
=====================================  ===========================================

Struct decoders are generated code over one ``struct.Struct`` (see
:mod:`.values_struct`); :meth:`Codec.decode_many` decodes packed arrays of
values (map batch ops, array maps) with ``iter_unpack``.

Also here: :func:`ctypes_type` (ctypes classes laid out exactly as BTF says),
:class:`DatasecView` (``.bss``/``.data``/``.rodata`` variables as attributes
over a buffer) and :func:`format_value` (what ``bpftool map dump`` prints).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Optional

from ..errors import BTFError
from .types import Kind, Type
from .values_scalar import (
    BigIntCodec, BitIntCodec, BoolCodec, BytesCodec, Codec, CodecError, EnumCodec, EnumInt, FloatCodec,
    IntCodec, PtrCodec, RawCodec, ReadOnlyError, StrCodec, enum_class,
)
from .values_struct import ArrayCodec, Field, StructCodec, StructValue, UnionCodec, UnionValue, asdict

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = [
    "codec_for", "value_class", "Codec", "CodecError", "ReadOnlyError", "IntCodec", "BoolCodec", "BigIntCodec",
    "BitIntCodec", "EnumCodec", "EnumInt", "FloatCodec", "PtrCodec", "StrCodec", "BytesCodec", "RawCodec",
    "ArrayCodec", "StructCodec", "UnionCodec", "StructValue", "UnionValue", "Field", "asdict", "enum_class",
    "ctypes_type", "DatasecView", "format_value", "format_entry", "dumps_bpftool", "BpftoolObject", "Raw",
]

_MODS = frozenset({Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG})
_QUALS = frozenset({Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG})
_MAX_DEPTH = 64

#: BTF -> {byte_arrays as str: {type id: codec}}
_cache: "weakref.WeakKeyDictionary[Any, dict[bool, dict[int, Codec]]]" = weakref.WeakKeyDictionary()


def _lookup(btf: "BTF", t: "Type | int | str") -> Type:
    if isinstance(t, Type):
        return t
    if isinstance(t, int):
        return btf[t]
    from .layout import _get
    return _get(btf, t)


def codec_for(btf: "BTF", t: "Type | int | str", *, byte_arrays: str = "bytes") -> Codec:
    """The :class:`Codec` for type ``t`` (a Type, an id, or a name such as
    ``"struct event"``/``"u32"``) of ``btf``. Codecs of types parsed from
    ``btf`` are cached per BTF.

    ``byte_arrays``: how arrays of ``unsigned char``/``signed char``/``__u8``
    decode: ``"bytes"`` (default, exact) or ``"str"`` (like ``char[]``: text
    up to the first NUL). Arrays of plain ``char`` are always ``str``.
    """
    if byte_arrays not in ("bytes", "str"):
        raise ValueError(f"byte_arrays must be 'bytes' or 'str', not {byte_arrays!r}")
    typ = _lookup(btf, t)
    return _Build(btf, byte_arrays == "str").codec(typ, "", 0)


def value_class(btf: "BTF", t: "Type | int | str") -> type:
    """The value class (:class:`StructValue`/:class:`UnionValue` subclass or
    :class:`EnumInt` subclass) of a struct, union or enum type."""
    c = codec_for(btf, t)
    cls = getattr(c, "cls", None)
    if cls is None:
        raise BTFError(f"{c.name} has no value class (not a struct, union or enum)")
    return cls  # type: ignore[no-any-return]


def _char_kind(btf: "BTF", elem: Type) -> Optional[str]:
    """'str' for char elements, 'bytes' for other 1-byte ints, None otherwise."""
    e = elem
    for _ in range(_MAX_DEPTH):
        if e.kind not in _MODS:
            break
        e = e.type  # type: ignore[attr-defined]
    if e.kind != Kind.INT or e.size != 1 or e.bool:  # type: ignore[attr-defined]
        return None
    if e.char or e.name == "char":  # type: ignore[attr-defined]
        return "str"
    return "bytes"


class _Build:
    def __init__(self, btf: "BTF", byte_strings: bool = False) -> None:
        self.btf = btf
        self.order = btf.byteorder
        self.byte_strings = byte_strings
        try:
            per_btf = _cache.setdefault(btf, {})
        except TypeError:  # pragma: no cover - not weakref-able
            per_btf = {}
        self.cache: dict[int, Codec] = per_btf.setdefault(byte_strings, {})  # type: ignore[assignment]
        self.memo: dict[int, Codec] = {}

    def _owned(self, t: Type) -> bool:
        b: "BTF | None" = self.btf
        while b is not None:
            if t._btf is b:
                return True
            b = b.base
        return False

    def codec(self, t: Type, alias: str, depth: int) -> Codec:
        if depth > _MAX_DEPTH:
            raise BTFError(f"BTF: type nesting too deep or cyclic at {t!r}")
        owned = t.id is not None and self._owned(t)
        if owned:
            c = self.cache.get(t.id)  # type: ignore[arg-type]
            if c is not None:
                return c
        else:
            c = self.memo.get(id(t))
            if c is not None:
                return c
        c = self._make(t, alias, depth)
        if owned:
            self.cache[t.id] = c  # type: ignore[index]
        else:
            self.memo[id(t)] = c
        return c

    def _name(self, t: Type) -> str:
        try:
            return self.btf.type_name(t)
        except BTFError:  # pragma: no cover - defensive
            return t.name or t.kind.name.lower()

    def _make(self, t: Type, alias: str, depth: int) -> Codec:
        k = t.kind
        o = self.order
        if k in _MODS:
            alias = alias or (t.name if k == Kind.TYPEDEF else "")
            return self.codec(t.type, alias, depth + 1)  # type: ignore[attr-defined]
        if k == Kind.VAR:
            return self.codec(t.type, alias, depth + 1)  # type: ignore[attr-defined]
        if k == Kind.INT:
            size, bits, off = t.size, t.bits, t.offset  # type: ignore[attr-defined]
            name = t.name
            if bits != size * 8 or off:
                return BitIntCodec(size, bits, off, t.signed, name, None, t, o)  # type: ignore[attr-defined]
            if t.bool and size == 1:  # type: ignore[attr-defined]
                return BoolCodec(name, t, o)
            if size in (1, 2, 4, 8):
                return IntCodec(size, t.signed, name, t, o)  # type: ignore[attr-defined]
            return BigIntCodec(size, t.signed, name, t, o)  # type: ignore[attr-defined]
        if k == Kind.PTR:
            return PtrCodec(self.btf.pointer_size, self._name(t), t, o)
        if k in (Kind.ENUM, Kind.ENUM64):
            name = t.name or alias
            cls = enum_class(name, [(v.name, v.value) for v in t.values])  # type: ignore[attr-defined]
            return EnumCodec(t.size, t.signed or any(v.value < 0 for v in t.values),  # type: ignore[attr-defined]
                             cls, f"enum {name}" if name else "enum", t, o)
        if k == Kind.FLOAT:
            if t.size in (2, 4, 8):  # type: ignore[attr-defined]
                return FloatCodec(t.size, t.name, t, o)  # type: ignore[attr-defined]
            return RawCodec(t.size, t.name, t, o)  # type: ignore[attr-defined]
        if k == Kind.ARRAY:
            n = t.nelems  # type: ignore[attr-defined]
            elem = t.type  # type: ignore[attr-defined]
            ck = _char_kind(self.btf, elem)
            if ck == "str":
                return StrCodec(n, self._name(t), t, o)
            if ck == "bytes":
                if self.byte_strings:
                    return StrCodec(n, self._name(t), t, o)
                return BytesCodec(n, self._name(t), t, o)
            ec = self.codec(elem, "", depth + 1)
            return ArrayCodec(ec, n, f"{ec.name}[{n}]", t, o)
        if k in (Kind.STRUCT, Kind.UNION):
            return self._composite(t, alias, depth)
        if k == Kind.DATASEC:
            fields = []
            end = 0
            for vs in t.vars:  # type: ignore[attr-defined]
                v = vs.type
                if v.kind != Kind.VAR:
                    continue
                fields.append(Field(v.name, self.codec(v.type, "", depth + 1), vs.offset * 8))
                end = max(end, vs.offset + vs.size)
            size = t.size or end  # type: ignore[attr-defined]
            return StructCodec(size, t.name.lstrip(".") or "datasec", fields, t, o)
        if k == Kind.FWD:
            raise CodecError(f"{self._name(t)} is an incomplete (forward-declared) type")
        raise CodecError(f"{self._name(t) if k != Kind.UNKN else 'void'} has no value representation")

    def _composite(self, t: Type, alias: str, depth: int) -> Codec:
        is_union = t.kind == Kind.UNION
        name = t.name or alias or ("anon_union" if is_union else "anon_struct")
        fields: list[Field] = []
        for m in t.members:  # type: ignore[attr-defined]
            mt = m.type
            r = mt
            for _ in range(_MAX_DEPTH):
                if r.kind not in _MODS:
                    break
                r = r.type
            rk = r.kind
            scalar = rk in (Kind.INT, Kind.ENUM, Kind.ENUM64)
            bits = m.bitfield_size
            boff = m.bit_offset
            if not bits and rk == Kind.INT and (r.bits != r.size * 8 or r.offset):
                bits, boff = r.bits, boff + r.offset
            elif not bits and scalar and boff % 8:
                bits = r.size * 8
            if bits:
                if not scalar:
                    raise CodecError(f"{name}.{m.name}: bitfield of non-integer type {self._name(mt)}")
                c = self.codec(r, "", depth + 1)
                if isinstance(c, BitIntCodec):
                    c = IntCodec(8, c.signed, c.name, r, self.order)
                fields.append(Field(m.name, c, boff, bits, signed=bool(getattr(c, "signed", False))))
                continue
            anon = not m.name and rk in (Kind.STRUCT, Kind.UNION)
            if not m.name and not anon:
                continue  # unnamed padding
            c = self.codec(mt, "", depth + 1)
            fields.append(Field(m.name, c, boff, anon=anon))
        cls = UnionCodec if is_union else StructCodec
        return cls(t.size, name, fields, t, self.order)  # type: ignore[attr-defined]


# re-exports (these modules import codec_for lazily, so there is no cycle)
from .values_ctypes import ctypes_type  # noqa: E402
from .values_format import BpftoolObject, Raw, dumps_bpftool, format_entry, format_value  # noqa: E402
from .values_view import DatasecView  # noqa: E402
