"""Typed attribute access to global-data sections (``obj.bss.counter``).

:func:`datasec_view` returns ``pybpf.btf.values.DatasecView`` when that module
is available and otherwise a small built-in view: every VAR of the DATASEC is
an attribute; integers, enums, bools, floats and pointers read as Python
numbers, ``char`` arrays as ``bytes``, other arrays as lists, structs/unions as
nested views. Assignment writes through to the underlying buffer (a
``bytearray`` before load, the map's mmap afterwards).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Iterator

from ..btf.types import Array, Datasec, Enum, Enum64, Float, Int, IntEncoding, Ptr, Type, Var
from ..btf.types import Struct as _Struct
from ..btf import types as _bt

_Composite: tuple[type, ...] = (_Struct, _bt.Union)  # type: ignore[assignment]
from ..errors import Error

if TYPE_CHECKING:
    from ..btf import BTF

__all__ = ["datasec_view", "decode_value", "encode_value", "SectionView"]


def _resolve(btf: "BTF", t: Type) -> Type:
    return btf.resolve(t)


def decode_value(btf: "BTF", t: Type, buf: Any, off: int) -> Any:
    """The Python value of type ``t`` stored at ``buf[off:]``."""
    t = _resolve(btf, t)
    if isinstance(t, Int):
        size = t.size
        raw = bytes(buf[off:off + size])
        if t.encoding & IntEncoding.BOOL:
            return raw != bytes(size)
        v = int.from_bytes(raw, "little", signed=bool(t.encoding & IntEncoding.SIGNED))
        if t.bits != size * 8 or t.offset:
            v = (v >> t.offset) & ((1 << t.bits) - 1)
        return v
    if isinstance(t, (Enum, Enum64)):
        return int.from_bytes(bytes(buf[off:off + t.size]), "little", signed=t.signed)
    if isinstance(t, Ptr):
        return int.from_bytes(bytes(buf[off:off + 8]), "little")
    if isinstance(t, Float):
        fmt = {4: "<f", 8: "<d"}.get(t.size)
        return struct.unpack_from(fmt, bytes(buf[off:off + t.size]))[0] if fmt else bytes(buf[off:off + t.size])
    if isinstance(t, Array):
        et = _resolve(btf, t.type)
        if isinstance(et, Int) and et.size == 1 and not et.encoding & IntEncoding.BOOL:
            return bytes(buf[off:off + t.nelems])
        es = btf.sizeof(et)
        return [decode_value(btf, et, buf, off + i * es) for i in range(t.nelems)]
    if isinstance(t, _Composite):
        return StructView(btf, t, buf, off)  # type: ignore[arg-type]
    raise Error(f"cannot decode a value of BTF kind {t.kind.name}")


def encode_value(btf: "BTF", t: Type, buf: Any, off: int, value: Any) -> None:
    """Store ``value`` as type ``t`` at ``buf[off:]``."""
    t = _resolve(btf, t)
    size = btf.sizeof(t)
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        if len(b) > size:
            raise ValueError(f"{len(b)} bytes do not fit in {size}")
        buf[off:off + size] = b.ljust(size, b"\0")
        return
    if isinstance(t, Int):
        if t.bits != size * 8 or t.offset:
            raise Error("writing bitfield-typed integers is not supported")
        signed = bool(t.encoding & IntEncoding.SIGNED)
        buf[off:off + size] = int(value).to_bytes(size, "little", signed=signed and int(value) < 0)
    elif isinstance(t, (Enum, Enum64, Ptr)):
        v = int(value)
        buf[off:off + size] = v.to_bytes(size, "little", signed=v < 0)
    elif isinstance(t, Float):
        buf[off:off + size] = struct.pack({4: "<f", 8: "<d"}[size], float(value))
    elif isinstance(t, Array) and isinstance(value, str):
        encode_value(btf, t, buf, off, value.encode())
    elif isinstance(t, Array) and isinstance(value, (list, tuple)):
        et = _resolve(btf, t.type)
        es = btf.sizeof(et)
        if len(value) > t.nelems:
            raise ValueError(f"{len(value)} elements do not fit in {t.nelems}")
        for i, v in enumerate(value):
            encode_value(btf, et, buf, off + i * es, v)
    elif isinstance(t, _Composite) and isinstance(value, dict):
        view = StructView(btf, t, buf, off)  # type: ignore[arg-type]
        for k, v in value.items():
            setattr(view, k, v)
    else:
        raise TypeError(f"cannot store {type(value).__name__} in BTF {t.kind.name}")


class _View:
    _fields: dict[str, tuple[int, Type]]

    def __init__(self, btf: "BTF", buf: Any, base: int, fields: dict[str, tuple[int, Type]]) -> None:
        object.__setattr__(self, "_btf", btf)
        object.__setattr__(self, "_buf", buf)
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_fields", fields)

    _bits: dict[str, tuple[int, int]] = {}

    def __getattr__(self, name: str) -> Any:
        f = self._fields.get(name)
        if f is None:
            raise AttributeError(f"no variable/member {name!r} (have: {', '.join(self._fields) or 'none'})")
        bits = self._bits.get(name)
        if bits is not None:
            return self._get_bits(f[1], *bits)
        return decode_value(self._btf, f[1], self._buf, self._base + f[0])  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        f = self._fields.get(name)
        if f is None:
            raise AttributeError(f"no variable/member {name!r}")
        bits = self._bits.get(name)
        if bits is not None:
            self._set_bits(*bits, int(value))
            return
        encode_value(self._btf, f[1], self._buf, self._base + f[0], value)  # type: ignore[attr-defined]

    def _span(self, bit_off: int, nbits: int) -> tuple[int, int, int]:
        start = self._base + bit_off // 8  # type: ignore[attr-defined]
        shift = bit_off % 8
        return start, (shift + nbits + 7) // 8, shift

    def _get_bits(self, t: Type, bit_off: int, nbits: int) -> int:
        start, n, shift = self._span(bit_off, nbits)
        v = (int.from_bytes(bytes(self._buf[start:start + n]), "little") >> shift) & ((1 << nbits) - 1)  # type: ignore[attr-defined]
        rt = _resolve(self._btf, t)  # type: ignore[attr-defined]
        signed = (isinstance(rt, Int) and bool(rt.encoding & IntEncoding.SIGNED)) or \
            (isinstance(rt, (Enum, Enum64)) and rt.signed)
        if signed and v >> (nbits - 1):
            v -= 1 << nbits
        return v

    def _set_bits(self, bit_off: int, nbits: int, value: int) -> None:
        start, n, shift = self._span(bit_off, nbits)
        buf = self._buf  # type: ignore[attr-defined]
        cur = int.from_bytes(bytes(buf[start:start + n]), "little")
        mask = ((1 << nbits) - 1) << shift
        cur = (cur & ~mask) | ((value << shift) & mask)
        buf[start:start + n] = cur.to_bytes(n, "little")

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self.__setattr__(name, value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __dir__(self) -> list[str]:
        return list(self._fields)

    def to_dict(self) -> dict[str, Any]:
        """Every field decoded (nested views become dicts)."""
        out = {}
        for k in self._fields:
            v = getattr(self, k)
            out[k] = v.to_dict() if isinstance(v, _View) else v
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.to_dict()!r}>"


class StructView(_View):
    """A struct/union value inside a section buffer."""

    def __init__(self, btf: "BTF", t: "_Struct | _bt.Union", buf: Any, off: int) -> None:
        fields = {m.name: (m.bit_offset // 8, m.type) for m in t.members if m.name}
        super().__init__(btf, buf, off, fields)
        object.__setattr__(self, "_bits", {m.name: (m.bit_offset, m.bitfield_size)
                                           for m in t.members if m.name and m.bitfield_size})


class SectionView(_View):
    """The VARs of a DATASEC over a buffer."""

    def __init__(self, btf: "BTF", datasec: Datasec, buf: Any) -> None:
        fields = {}
        for v in datasec.vars:
            var = v.type
            if isinstance(var, Var) and var.name:
                fields[var.name] = (v.offset, var.type)
        super().__init__(btf, buf, 0, fields)


def datasec_view(btf: "BTF", datasec: Datasec, buf: Any) -> Any:
    """A typed view over ``buf`` laid out as ``datasec``."""
    try:
        from ..btf.values import DatasecView  # type: ignore[import-not-found,attr-defined]
    except ImportError:
        return SectionView(btf, datasec, buf)
    return DatasecView(btf, datasec, buf)
