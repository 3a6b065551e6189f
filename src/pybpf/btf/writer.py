"""Encoding BTF: the :class:`Builder`.

A Builder collects types, assigns them ids in the order they are added,
interns their names into a deduplicated string table and produces a blob the
kernel accepts (magic 0xeB9F, version 1, flags 0, 24-byte header, type
section then string section, string 0 empty).

Types can be hand-built (referencing other :class:`Type` objects, which are
added transitively) or taken from a parsed :class:`BTF` (their integer
references are followed into that BTF and copied too, except references into
the Builder's ``base``, which keep their ids). :meth:`Builder.add_btf` copies
a whole BTF keeping ids and the original string table, so a parsed blob
re-encodes to identical bytes.
"""

from __future__ import annotations

import struct
from itertools import accumulate, repeat
from operator import add
from typing import TYPE_CHECKING, Any, Iterable, Optional

from ..errors import BTFError
from . import _format as F
from .types import (
    Array, Datasec, DeclTag, Func, FuncProto, Fwd, Int, Kind, Ref, Type, TypeTag, Var, Void, _Composite,
    _EnumBase, _RefType, type_refs,
)

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = ["Builder", "StringTable"]


class StringTable:
    """A deduplicated BTF string table. Offsets are global: a split table
    starts at ``start`` (the base's string section length)."""

    def __init__(self, start: int = 0, base: "BTF | None" = None, seed: bytes | None = None) -> None:
        self.start = start
        self.base = base
        self._offs: dict[bytes, int] = {}
        if seed is not None:
            self._buf = bytearray(seed)
            parts = bytes(seed).split(b"\0")
            offs = list(accumulate(map(add, map(len, parts), repeat(1)), initial=start))
            # first occurrence wins
            self._offs = dict(zip(reversed(parts), reversed(offs[:len(parts)])))
            self._offs.pop(b"", None)
        else:
            self._buf = bytearray(b"" if base is not None else b"\0")

    def add(self, s: str) -> int:
        """The offset of ``s``, appending it if it is new (base strings are reused)."""
        if not s:
            return 0
        b = s.encode("utf-8", "surrogateescape")
        off = self._offs.get(b)
        if off is not None:
            return off
        if b"\0" in b:
            raise BTFError(f"BTF: string {s!r} contains NUL")
        if self.base is not None:
            found = self.base._str_offsets(b)
            if found:
                self._offs[b] = found[0]
                return found[0]
        off = self.start + len(self._buf)
        if off > F.MAX_NAME_OFFSET:
            raise BTFError("BTF: string section too large")
        self._buf += b + b"\0"
        self._offs[b] = off
        return off

    def to_bytes(self) -> bytes:
        """The string section."""
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)


class Builder:
    """Builds a BTF blob from :class:`Type` objects.

    ``base``: build split BTF on top of it (ids start after its last id,
    strings it already has are referenced there). ``byteorder``: ``"little"``
    (default) or ``"big"``.
    """

    def __init__(self, base: "BTF | None" = None, *, byteorder: str = "little") -> None:
        self.base = base
        self._lay = F.layout(byteorder)
        self._first_id = base.last_id + 1 if base is not None else 1
        self._types: list[Type] = []
        self._memo: dict[int, int] = {}  # id(Type) -> assigned id
        self._whole: Optional["BTF"] = None
        self._base_chain: set[int] = set()
        b = base
        while b is not None:
            self._base_chain.add(id(b))
            b = b.base
        self.strings = StringTable(base._str_end if base is not None else 0, base)

    def __len__(self) -> int:
        return len(self._types)

    @property
    def first_id(self) -> int:
        """Id the first added type gets."""
        return self._first_id

    # ------------------------------------------------------------------ adding
    def add_string(self, s: str) -> int:
        """Intern ``s``; its (global) string offset."""
        return self.strings.add(s)

    def add(self, t: Type) -> int:
        """Add ``t`` and every type it references (transitively); its id.

        Adding the same object twice returns the same id. Types of the base
        BTF are not copied. Integer references in hand-built types are kept
        verbatim (they must be ids in this Builder or its base).
        """
        if isinstance(t, Void):
            return 0
        tid = self._lookup(t)
        if tid is not None:
            return tid
        tid = self._register(t)
        work = [t]
        while work:
            cur = work.pop()
            for holder, ref in type_refs(cur):
                if isinstance(ref, Type):
                    obj = ref
                elif ref == 0 or holder is None or self._keeps(holder, ref):
                    continue
                else:
                    obj = holder[ref]
                if isinstance(obj, Void) or self._lookup(obj) is not None:
                    continue
                self._register(obj)
                work.append(obj)
        return tid

    def add_all(self, types: Iterable[Type]) -> list[int]:
        """:meth:`add` each type; their ids."""
        return [self.add(t) for t in types]

    def add_btf(self, btf: "BTF") -> None:
        """Copy all of ``btf``'s own types keeping their ids and string table.

        The Builder must be empty and share ``btf``'s base.
        """
        if self._types or self._whole is not None:
            raise BTFError("Builder.add_btf needs an empty Builder")
        if btf.base is not self.base:
            raise BTFError("Builder.add_btf: the BTF's base must be the Builder's base")
        self._whole = btf
        seed = btf._data[btf._sstart:btf._sstart + btf._slen]
        self.strings = StringTable(self.strings.start, self.base, seed)
        self._types.extend(btf)

    def id_of(self, t: Type) -> int:
        """The id ``t`` has (or will have) in this Builder; KeyError if not added."""
        tid = self._lookup(t)
        if tid is None:
            raise KeyError(f"{t!r} was not added")
        return tid

    def _register(self, t: Type) -> int:
        tid = self._first_id + len(self._types)
        if tid > F.MAX_TYPE_ID:
            raise BTFError("BTF: too many types")
        self._types.append(t)
        self._memo[id(t)] = tid
        return tid

    def _in_base(self, btf: Any) -> bool:
        return btf is not None and id(btf) in self._base_chain

    def _lookup(self, t: Type) -> Optional[int]:
        tid = self._memo.get(id(t))
        if tid is not None:
            return tid
        if t.id is not None and t._btf is not None:
            if self._in_base(t._btf) or t._btf is self._whole:
                return t.id
        return None

    def _keeps(self, holder: Any, ref: int) -> bool:
        """True if integer ``ref`` owned by ``holder`` keeps its value here."""
        if holder is self._whole:
            return True
        if self.base is not None and ref <= self.base.last_id:
            b = holder
            while b is not None:
                if id(b) in self._base_chain:
                    return True
                b = b.base
        return False

    def _rid(self, holder: Any, ref: Ref) -> int:
        if isinstance(ref, Type):
            if isinstance(ref, Void):
                return 0
            tid = self._lookup(ref)
            if tid is None:
                raise BTFError(f"BTF: {ref!r} is referenced but was not added to the Builder")
            return tid
        if ref == 0 or holder is None or self._keeps(holder, ref):
            return ref
        obj = holder[ref]
        return 0 if isinstance(obj, Void) else self._rid(None, obj)

    # ------------------------------------------------------------------ encoding
    def to_bytes(self) -> bytes:
        """The encoded BTF blob."""
        chunks = [self._encode(t) for t in self._types]
        types = b"".join(chunks)
        strs = self.strings.to_bytes()
        hdr = self._lay.header.pack(F.MAGIC, F.VERSION, 0, F.HEADER_SIZE, 0, len(types), len(types), len(strs))
        return hdr + types + strs

    def build(self) -> "BTF":
        """Encode and parse back into a :class:`BTF` (split on ``base`` if any)."""
        from .spec import BTF
        return BTF.from_bytes(self.to_bytes(), self.base)

    def _encode(self, t: Type) -> bytes:
        try:
            return self._encode1(t)
        except (struct.error, OverflowError, TypeError, ValueError) as e:
            raise BTFError(f"BTF: cannot encode {t!r}: {e}") from None

    def _encode1(self, t: Type) -> bytes:
        lay = self._lay
        k = t.kind
        name = self.strings.add(t.name)

        def hdr(vlen: int, kflag: bool | int, size_or_type: int) -> bytes:
            if vlen > F.MAX_VLEN:
                raise BTFError(f"BTF: {t!r} has {vlen} entries (max {F.MAX_VLEN})")
            return lay.u32x3.pack(name, (1 << 31 if kflag else 0) | (k << 24) | vlen, size_or_type)

        if isinstance(t, Int):
            if not (0 <= t.bits <= 255 and 0 <= t.offset <= 255 and 0 <= int(t.encoding) <= 15):
                raise BTFError(f"BTF: {t!r}: bits/offset/encoding out of range")
            return hdr(0, 0, t.size) + lay.u32.pack((int(t.encoding) << 24) | (t.offset << 16) | t.bits)
        if isinstance(t, _RefType):
            return hdr(0, t.attribute if isinstance(t, TypeTag) else 0, self._rid(t._btf, t._type))
        if isinstance(t, Array):
            return hdr(0, 0, 0) + lay.u32x3.pack(self._rid(t._btf, t._type), self._rid(t._btf, t._index_type),
                                                 t.nelems)
        if isinstance(t, _Composite):
            kflag = bool(t.kind_flag) or any(m.bitfield_size for m in t.members)
            out = [hdr(len(t.members), kflag, t.size)]
            for m in t.members:
                off = m.bit_offset
                if kflag:
                    if not (0 <= off <= 0xFFFFFF and 0 <= m.bitfield_size <= 0xFF):
                        raise BTFError(f"BTF: {m!r}: offset/bitfield size out of range")
                    off |= m.bitfield_size << 24
                out.append(lay.u32x3.pack(self.strings.add(m.name), self._rid(m._btf, m._type), off))
            return b"".join(out)
        if isinstance(t, _EnumBase):
            out = [hdr(len(t.values), t.signed, t.size)]
            if k == Kind.ENUM:
                for v in t.values:
                    if not -(1 << 31) <= v.value < 1 << 32:
                        raise BTFError(f"BTF: {v!r} does not fit 32 bits")
                    out.append(lay.u32x2.pack(self.strings.add(v.name), v.value & 0xFFFFFFFF))
            else:
                for v in t.values:
                    if not -(1 << 63) <= v.value < 1 << 64:
                        raise BTFError(f"BTF: {v!r} does not fit 64 bits")
                    u = v.value & 0xFFFFFFFFFFFFFFFF
                    out.append(lay.u32x3.pack(self.strings.add(v.name), u & 0xFFFFFFFF, u >> 32))
            return b"".join(out)
        if isinstance(t, Fwd):
            return hdr(0, t.is_union, 0)
        if isinstance(t, Func):
            return hdr(int(t.linkage), 0, self._rid(t._btf, t._type))
        if isinstance(t, FuncProto):
            out = [hdr(len(t.params), 0, self._rid(t._btf, t._type))]
            for p in t.params:
                out.append(lay.u32x2.pack(self.strings.add(p.name), self._rid(p._btf, p._type)))
            return b"".join(out)
        if isinstance(t, Var):
            return hdr(0, 0, self._rid(t._btf, t._type)) + lay.u32.pack(int(t.linkage))
        if isinstance(t, Datasec):
            out = [hdr(len(t.vars), 0, t.size)]
            for v in t.vars:
                out.append(lay.u32x3.pack(self._rid(v._btf, v._type), v.offset, v.size))
            return b"".join(out)
        if k == Kind.FLOAT:
            return hdr(0, 0, t.size)  # type: ignore[attr-defined]
        if isinstance(t, DeclTag):
            return hdr(0, t.attribute, self._rid(t._btf, t._type)) + lay.i32.pack(t.component_idx)
        raise BTFError(f"BTF: cannot encode {t!r}")
