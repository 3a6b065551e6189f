"""ctypes classes generated from BTF (:func:`ctypes_type`).

The generated Structure/Union reproduces BTF's layout exactly: members are
placed at their BTF offsets with explicit padding fields (``_pad_<n>``),
bitfields are grouped into storage units that start where the bits live, and
``_pack_ = 1`` is used when natural alignment cannot reproduce the offsets
(packed structs, or structs the compiler over-aligned). Every class is
checked against BTF after creation (size and member offsets).

Pointers become pointer-sized unsigned ints (as in BCC): kernel addresses
cannot be dereferenced from user space anyway. Anonymous struct/union members
are listed in ``_anonymous_`` so their members read directly, as in C.
"""

from __future__ import annotations

import ctypes
import sys
import weakref
from typing import TYPE_CHECKING, Any

from ..errors import BTFError
from .types import Kind, Type

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = ["ctypes_type"]

_MODS = frozenset({Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG, Kind.VAR})
_SINT = {1: ctypes.c_int8, 2: ctypes.c_int16, 4: ctypes.c_int32, 8: ctypes.c_int64}
_UINT = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}
_cache: "weakref.WeakKeyDictionary[Any, dict[int, Any]]" = weakref.WeakKeyDictionary()


class _Retry(Exception):
    """Natural alignment cannot reproduce the layout; rebuild packed."""


def ctypes_type(btf: "BTF", t: "Type | int | str") -> Any:
    """A ctypes type with the size and layout BTF gives ``t`` (a Type, an id or
    a name such as ``"struct sk_buff"``). Struct/union classes are cached per
    BTF; ``ctypes.sizeof(result) == btf.sizeof(t)``."""
    from .values import _lookup
    if btf.byteorder != sys.byteorder:
        raise BTFError(f"ctypes_type: {btf.byteorder}-endian BTF on a {sys.byteorder}-endian host")
    try:
        cache = _cache.setdefault(btf, {})
    except TypeError:  # pragma: no cover
        cache = {}
    return _CT(btf, cache).get(_lookup(btf, t), "", 0)


_SIGNED_CT = frozenset(_SINT.values()) | {ctypes.c_char}
_INT_CT = _SIGNED_CT | frozenset(_UINT.values()) | {ctypes.c_bool}


def _as_bits(members: list) -> list:
    """Last resort: plain integer members become full-width bitfields, so a bitfield
    storage unit may span them (C lets units overlap earlier members, ctypes does not)."""
    out = []
    for n, ct, off, bits, anon in members:
        if not bits and ct in _INT_CT and off % 8 == 0:
            out.append((n, _SINT if ct in _SIGNED_CT else _UINT, off, ctypes.sizeof(ct) * 8, anon))
        else:
            out.append((n, ct, off, bits, anon))
    return out


def _align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


class _CT:
    def __init__(self, btf: "BTF", cache: dict) -> None:
        self.btf = btf
        self.cache = cache
        self.memo: dict[int, Any] = {}

    def get(self, t: Type, alias: str, depth: int) -> Any:
        if depth > 64:
            raise BTFError(f"BTF: type nesting too deep or cyclic at {t!r}")
        owned = t.id is not None and t._btf is not None
        key: int = t.id if owned else id(t)  # type: ignore[assignment]
        store = self.cache if owned else self.memo
        hit = store.get(key)
        if hit is not None:
            return hit
        ct = self._make(t, alias, depth)
        store[key] = ct
        return ct

    def _make(self, t: Type, alias: str, depth: int) -> Any:
        k = t.kind
        if k in _MODS:
            alias = alias or (t.name if k == Kind.TYPEDEF else "")
            return self.get(t.type, alias, depth + 1)  # type: ignore[attr-defined]
        if k == Kind.INT:
            size = t.size  # type: ignore[attr-defined]
            if t.bool and size == 1:  # type: ignore[attr-defined]
                return ctypes.c_bool
            if size == 1 and t.name == "char":
                return ctypes.c_char
            if size in _SINT:
                return (_SINT if t.signed else _UINT)[size]  # type: ignore[attr-defined]
            if size == 16:
                return ctypes.c_uint64 * 2
            return ctypes.c_uint8 * size
        if k == Kind.PTR:
            return _UINT[self.btf.pointer_size]
        if k in (Kind.ENUM, Kind.ENUM64):
            signed = t.signed or any(v.value < 0 for v in t.values)  # type: ignore[attr-defined]
            return (_SINT if signed else _UINT).get(t.size, ctypes.c_uint8 * t.size)  # type: ignore[attr-defined]
        if k == Kind.FLOAT:
            size = t.size  # type: ignore[attr-defined]
            for ct in (ctypes.c_float, ctypes.c_double, ctypes.c_longdouble):
                if ctypes.sizeof(ct) == size:
                    return ct
            return ctypes.c_uint8 * size
        if k == Kind.ARRAY:
            return self.get(t.type, "", depth + 1) * t.nelems  # type: ignore[attr-defined]
        if k in (Kind.STRUCT, Kind.UNION, Kind.DATASEC):
            name = t.name.lstrip(".") if k == Kind.DATASEC else (t.name or alias)
            name = name or ("anon_union" if k == Kind.UNION else "anon_struct")
            members = self._members(t, depth)
            size = t.size  # type: ignore[attr-defined]
            if k == Kind.DATASEC and not size:
                size = max((off // 8 + ctypes.sizeof(ct) for _n, ct, off, _b, _a in members), default=0)
            for mode in range(3):
                try:
                    return self._build(name, k == Kind.UNION, size, _as_bits(members) if mode == 2 else members,
                                       mode > 0)
                except _Retry:
                    continue
            if k != Kind.UNION:
                try:
                    return self._overlay(name, size, members)
                except _Retry:
                    pass
            raise BTFError(f"ctypes_type: cannot reproduce the layout of {self.btf.type_name(t)}")
        if k == Kind.FWD:
            raise BTFError(f"ctypes_type: {self.btf.type_name(t)} is incomplete (forward declaration)")
        raise BTFError(f"ctypes_type: {self.btf.type_name(t) if k else 'void'} has no ctypes equivalent")

    def _members(self, t: Type, depth: int) -> list[tuple[str, Any, int, int, bool]]:
        """(name, ctype, bit offset, bitfield bits or 0, anonymous)."""
        out = []
        if t.kind == Kind.DATASEC:
            for vs in t.vars:  # type: ignore[attr-defined]
                v = vs.type
                if v.kind == Kind.VAR:
                    out.append((v.name, self.get(v.type, "", depth + 1), vs.offset * 8, 0, False))
            out.sort(key=lambda m: m[2])
            return out
        for m in t.members:  # type: ignore[attr-defined]
            r = self.btf.resolve(m.type)
            bits, off = m.bitfield_size, m.bit_offset
            if not bits and r.kind == Kind.INT and (r.bits != r.size * 8 or r.offset):  # type: ignore[attr-defined]
                bits, off = r.bits, off + r.offset  # type: ignore[attr-defined]
            if bits:
                signed = bool(getattr(r, "signed", False)) and not getattr(r, "bool", False)
                out.append((m.name, _SINT if signed else _UINT, off, bits, False))
                continue
            ct = self.get(m.type, "", depth + 1)
            anon = not m.name and r.kind in (Kind.STRUCT, Kind.UNION)
            out.append((m.name, ct, off, 0, anon))
        return out

    def _build(self, name: str, is_union: bool, size: int, members: list, packed: bool) -> Any:
        fields: list[tuple] = []
        anon: list[str] = []
        cnt = 0
        cur = 0  # bytes laid out so far (struct)
        max_align = 1
        checks: list[tuple[str, int, int, int]] = []  # (name, byte offset, bit offset in unit, bits)

        def filler(ct: Any, bits: int = 0) -> None:
            nonlocal cnt
            cnt += 1
            fields.append((f"_pad_{cnt}", ct, bits) if bits else (f"_pad_{cnt}", ct))

        def pad(nbytes: int) -> None:
            nonlocal cur
            if nbytes > 0:
                filler(ctypes.c_uint8 * nbytes)
                cur += nbytes

        def fname(n: str) -> str:
            nonlocal cnt
            if n:
                return n
            cnt += 1
            return f"_anon_{cnt}"

        i = 0
        while i < len(members):
            n, ct, off, bits, is_anon = members[i]
            if bits:
                j = i
                while j < len(members) and members[j][3]:
                    j += 1
                run = members[i:j]
                if is_union:
                    for bn, kinds, boff, bb, _a in run:
                        unit = 1
                        while unit * 8 < boff + bb:
                            unit *= 2
                        if unit > 8:
                            raise _Retry()
                        filler(ctypes.c_uint8 * 0)  # ends any open bitfield unit
                        if boff:
                            filler(_UINT[unit], boff)
                        nm = fname(bn)
                        fields.append((nm, kinds[unit], bb))
                        checks.append((nm, 0, boff, bb))
                        max_align = max(max_align, 1 if packed else unit)
                    i = j
                    continue
                limit = members[j][2] // 8 if j < len(members) else size
                k = 0
                while k < len(run):
                    first = run[k][2]
                    best = None
                    for unit in (1, 2, 4, 8):
                        start = first // 8 if packed else first // 8 // unit * unit
                        if start < cur or start + unit > limit:
                            continue
                        e = k
                        while e < len(run) and run[e][2] + run[e][3] <= (start + unit) * 8:
                            e += 1
                        if e > k and (best is None or e > best[2]):
                            best = (unit, start, e)
                    if best is None:
                        raise _Retry()
                    unit, start, e = best
                    pad(start - cur)
                    filler(ctypes.c_uint8 * 0)  # ends any open bitfield unit
                    bitpos = start * 8
                    for bn, kinds, boff, bb, _a in run[k:e]:
                        if boff > bitpos:
                            filler(_UINT[unit], boff - bitpos)
                        nm = fname(bn)
                        fields.append((nm, kinds[unit], bb))
                        checks.append((nm, start, boff - start * 8, bb))
                        bitpos = boff + bb
                    cur = start + unit
                    max_align = max(max_align, 1 if packed else unit)
                    k = e
                i = j
                continue
            a = 1 if packed else ctypes.alignment(ct)
            byte = off // 8
            if off % 8 or (is_union and byte):
                raise _Retry()
            nm = fname(n)
            if is_anon:
                anon.append(nm)
            if not is_union:
                if byte < cur:
                    raise BTFError(f"ctypes_type: {name}.{n} overlaps the previous member")
                if byte % a:
                    raise _Retry()
                pad(byte - cur)
                cur = byte + ctypes.sizeof(ct)
            fields.append((nm, ct))
            checks.append((nm, byte, -1, 0))
            max_align = max(max_align, a)
            i += 1
        if is_union:
            if size % max_align:
                raise _Retry()
            filler(ctypes.c_uint8 * size)
        else:
            if size < cur:
                raise BTFError(f"ctypes_type: {name} members end past its size")
            if _align_up(cur, max_align) != size:
                if size % max_align:
                    raise _Retry()
                pad(size - cur)
        ns: dict[str, Any] = {}
        if packed:
            ns["_pack_"] = 1
        if anon:
            ns["_anonymous_"] = tuple(anon)
        cls: Any = type(name, (ctypes.Union if is_union else ctypes.Structure,), ns)
        try:
            cls._fields_ = fields
        except (TypeError, ValueError, AttributeError):
            raise _Retry() from None
        if ctypes.sizeof(cls) != size:
            raise _Retry()
        for nm, byte, bitoff, bb in checks:
            desc = cls.__dict__.get(nm)
            if desc is None:
                continue
            if desc.offset != byte:
                raise _Retry()
            if bb and (desc.size >> 16 != bb or desc.size & 0xFFFF != bitoff):
                raise _Retry()
        return cls

    def _overlay(self, name: str, size: int, members: list) -> Any:
        """Any layout, as a union of overlays: one packed struct with the plain
        members and, per bitfield, a packed struct holding padding and one
        storage unit (C lets bitfield units overlap other members; ctypes
        Structures cannot)."""
        plain = [m for m in members if not m[3]]
        parts = [("_base", self._build(f"{name}_base", False, size, plain, True))]
        for idx, (bn, kinds, boff, bb, _a) in enumerate(m for m in members if m[3]):
            unit = 1
            while unit < 8 and (boff % 8 + bb + 7) // 8 > unit:
                unit *= 2
            start = min(boff // 8, max(0, size - unit))
            if start * 8 + unit * 8 < boff + bb or (boff + bb + 7) // 8 > size:
                raise _Retry()
            fields: list[tuple] = []
            if start:
                fields.append(("_pad_0", ctypes.c_uint8 * start))
            fields.append(("_pad_1", ctypes.c_uint8 * 0))
            if boff - start * 8:
                fields.append(("_pad_2", _UINT[unit], boff - start * 8))
            fields.append((bn or f"_anon_bits_{idx}", kinds[unit], bb))
            ov: Any = type(f"{name}_bits{idx}", (ctypes.Structure,), {"_pack_": 1})
            ov._fields_ = fields
            parts.append((f"_bits{idx}", ov))
        cls: Any = type(name, (ctypes.Union,), {"_pack_": 1, "_anonymous_": tuple(p[0] for p in parts)})
        cls._fields_ = parts
        if ctypes.sizeof(cls) != size:
            raise _Retry()
        return cls
