"""Definitions for the C dumper: struct/union/enum bodies and typedefs, with the
layout helpers they need (``btf__resolve_size``, ``btf__align_of``, packing).

Layout is reproduced as libbpf's ``btf_dump_emit_struct_def`` does: explicit
padding (``long: 64;``), ``: 0`` alignment marks and
``__attribute__((packed))``; enums of unusual size get ``mode(byte)`` /
``mode(word)``; enumerator names that repeat get ``___N`` suffixes. The
common struct (no bitfields, no holes, member declarations already rendered
once) is written with one ``str.join``.
"""

from __future__ import annotations

from itertools import repeat
from operator import add, and_, mod, mul, rshift
from typing import TYPE_CHECKING, Optional, Sequence

from .cdump_raw import (
    ARRAY as _ARRAY, CONST as _CONST, DATASEC as _DATASEC, DECL_TAG as _DECL_TAG, ENUM as _ENUM,
    ENUM64 as _ENUM64, FLOAT as _FLOAT, FWD as _FWD, INT as _INT, PTR as _PTR, RESTRICT as _RESTRICT,
    STRUCT as _STRUCT, TYPE_TAG as _TYPE_TAG, TYPEDEF as _TYPEDEF, UNION as _UNION, VAR as _VAR,
    VOLATILE as _VOLATILE,
)

if TYPE_CHECKING:  # pragma: no cover
    from .cdump_raw import Members, Tables

__all__ = ["BodyMixin"]

_SIZED = frozenset({_INT, _STRUCT, _UNION, _ENUM, _ENUM64, _DATASEC, _FLOAT})
_SIZE_FOLLOW = frozenset({_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _VAR, _DECL_TAG, _TYPE_TAG})
_ALIGN_FOLLOW = frozenset({_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG})
_R8 = repeat(8)  # infinite iterators are safe to share: map() stops at the shortest input
_R24 = repeat(24)
_M24 = repeat(0xFFFFFF)



def _split_bitfields(moffs: list) -> "tuple[list, list[int] | None]":
    """kind_flag member offsets -> (bit offsets, bitfield sizes), sizes None if there are none."""
    bits = list(map(rshift, moffs, _R24))
    if any(bits):
        return list(map(and_, moffs, _M24)), bits
    return moffs, None

class _Indents(dict[int, str]):
    """``_NL[lvl]``: a newline and ``lvl`` tabs."""

    def __missing__(self, lvl: int) -> str:
        s = self[lvl] = "\n" + "\t" * lvl
        return s


_NL = _Indents()


class BodyMixin:
    """Type definitions for :class:`~pybpf.btf.cdump.CDumper`."""

    t: "Tables"
    out: list[str]
    _size: list[int]
    _align: list[int]
    _packed: bytearray
    _members: "Members"
    _pre: "list[Optional[str]]"
    _suf: "list[Optional[str]]"
    _ident_names: dict[str, int]

    if TYPE_CHECKING:  # provided by the other mixins / CDumper
        def type_name(self, type_id: int) -> str: ...
        def ident_name(self, type_id: int) -> str: ...
        def type_decl(self, type_id: int, name: str = "", lvl: int = 0) -> str: ...
        def _decl(self, type_id: int, fname: str, lvl: int) -> None: ...
        def _compose(self, type_id: int, lvl: int, depth: int) -> "Optional[tuple[str, str]]": ...

    # ------------------------------------------------------------------ layout
    def size_of(self, type_id: int) -> int:
        """``btf__resolve_size``: size in bytes, -1 if it has none."""
        cache = self._size
        s = cache[type_id]
        if s != -2:
            return s
        t = self.t
        kind, st, w, hdr = t.kind, t.st, t.w, t.hdr
        n, cur, size = 1, type_id, -1
        for _ in range(32):
            k = kind[cur]
            if cur == 0 or k == _FWD:
                break
            if k in _SIZED:
                size = st[cur]
                break
            if k == _PTR:
                size = t.ptr_size
                break
            if k in _SIZE_FOLLOW:
                cur = st[cur]
            elif k == _ARRAY:
                d = hdr[cur]
                n *= w[d + 5]
                cur = w[d + 3]
            else:
                break
        res = -1 if size < 0 else n * size
        cache[type_id] = res
        return res

    def align_of(self, type_id: int) -> int:
        """``btf__align_of``: natural alignment (1 for packed structs, 0 if none)."""
        a = self._align[type_id]
        if a >= 0:
            return a
        t = self.t
        k = t.kind[type_id]
        if k in (_INT, _ENUM, _ENUM64, _FLOAT):
            a = min(t.ptr_size, t.st[type_id])
        elif k == _PTR:
            a = t.ptr_size
        elif k in _ALIGN_FOLLOW:
            a = self.align_of(t.st[type_id])
        elif k == _ARRAY:
            a = self.align_of(t.w[t.hdr[type_id] + 3])
        elif k == _STRUCT or k == _UNION:
            a = self._composite_layout(type_id)
        else:
            a = 0
        self._align[type_id] = a
        return a

    def _composite_layout(self, type_id: int, mts: "Optional[list[int]]" = None, moffs: "Sequence[int]" = (),
                          bits: "Optional[list[int]]" = None) -> int:
        """A struct's or union's alignment (``btf__align_of``); also records in
        ``_packed`` whether it is packed (``btf_is_struct_packed``). ``mts``,
        ``moffs``, ``bits``: its members' types, bit offsets and bitfield sizes,
        if the caller has them."""
        t = self.t
        vlen, size = t.vlen[type_id], t.st[type_id]
        if not vlen:
            self._packed[type_id] = 0
            return 1
        if mts is None:
            m = self._members
            s = m.start[type_id]
            mts = m.types[s:s + vlen]
            moffs = m.offs[s:s + vlen]
            if t.kflag[type_id]:
                moffs, bits = _split_bitfields(moffs)
        aligns = list(map(self._align.__getitem__, mts))
        if -1 in aligns:
            align_of = self.align_of
            aligns = [a if a >= 0 else align_of(mt) for a, mt in zip(aligns, mts)]
        if 0 not in aligns:
            # a misaligned non-bitfield member makes the struct packed (and its alignment 1)
            mis = any(map(mod, moffs, map(mul, aligns, _R8)) if bits is None else
                      (off % (8 * a) for a, off, b in zip(aligns, moffs, bits) if not b))
            best = max(aligns)
            packed = mis or size % best != 0
            self._packed[type_id] = packed
            return 1 if packed else best
        # some member has no alignment: libbpf's member loop, literally
        align = best = packed_best = 1
        done = packed = False
        for a, off, b in zip(aligns, moffs, bits or repeat(0)):
            mis = bool(a) and not b and off % (8 * a) != 0
            if not done:
                if a <= 0:
                    align, done = a, True
                elif mis:
                    align, done = 1, True
                else:
                    best = max(best, a)
            packed = packed or mis
            packed_best = max(packed_best, a)
        self._packed[type_id] = packed or size % packed_best != 0
        return align if done else (1 if size % best else best)

    # ------------------------------------------------------------------ definitions
    def _struct_def(self, type_id: int, lvl: int) -> None:
        """A struct or union definition (``btf_dump_emit_struct_def``), without the ``;``."""
        t = self.t
        p = self.out.append
        is_struct = t.kind[type_id] == _STRUCT
        kw = "struct" if is_struct else "union"
        p(f"{kw} {self.type_name(type_id)} {{" if t.name[type_id] else f"{kw} {{")
        vlen, size = t.vlen[type_id], t.st[type_id]
        if not vlen:
            if is_struct and size:
                self._bit_padding(0, size * 8, self.align_of(type_id), False, lvl + 1)
            p(f"{_NL[lvl]}}}" if size else "}")
            return
        m = self._members
        s = m.start[type_id]
        e = s + vlen
        mts = m.types[s:e]
        moffs = m.offs[s:e]
        fnames = m.names[s:e]
        bits: "list[int] | None" = None
        if t.kflag[type_id]:
            moffs, bits = _split_bitfields(moffs)
        # member declarations, rendered in order (name resolution has side effects)
        pres = list(map(self._pre.__getitem__, mts))
        if None in pres or "" in fnames:
            decls = []
            suf, compose = self._suf, self._compose
            for mt, fname, pre in zip(mts, fnames, pres):
                if fname:
                    if pre is not None:
                        decls.append(f"{pre}{fname}{suf[mt]}")
                        continue
                    c = compose(mt, lvl + 1, 0)
                    if c is not None:
                        decls.append(f"{c[0]}{fname}{c[1]}")
                        continue
                decls.append(self.type_decl(mt, fname, lvl + 1))
        else:
            decls = list(map(add, map(add, pres, fnames), map(self._suf.__getitem__, mts)))  # type: ignore[arg-type]
        sizes = list(map(self._size.__getitem__, mts))
        if -2 in sizes:
            sizes = list(map(self.size_of, mts))
        if self._align[type_id] < 0:
            self._align[type_id] = self._composite_layout(type_id, mts, moffs, bits)
        packed = is_struct and self._packed[type_id]
        ind = _NL[lvl + 1]
        if bits is None and -1 not in sizes and (
                not is_struct or (moffs[0] == 0 and moffs[1:] == list(map(add, moffs, map(mul, sizes, _R8)))[:-1])):
            # no bitfields, no holes: one line per member
            p(ind)
            p((";" + ind).join(decls))
            p(";")
            off = moffs[-1] + sizes[-1] * 8
        else:
            align_of, pad, lvl1 = self.align_of, self._bit_padding, lvl + 1
            off = 0
            prev_bf = False
            for decl, moff, m_sz, sz, mt in zip(decls, moffs, bits if bits is not None else repeat(0), sizes, mts):
                if off < moff:
                    pad(off, moff, 1 if packed else align_of(mt), prev_bf and m_sz != 0, lvl1)
                if m_sz:
                    p(f"{ind}{decl}: {m_sz};")
                    off = moff + m_sz
                    prev_bf = True
                else:
                    p(f"{ind}{decl};")
                    off = moff + (sz * 8 if sz > 0 else 0)
                    prev_bf = False
        if is_struct and off < size * 8:
            self._bit_padding(off, size * 8, self.align_of(type_id), False, lvl + 1)
        p(f"{_NL[lvl]}}}")
        if packed:
            p(" __attribute__((packed))")

    def _bit_padding(self, cur: int, nxt: int, next_align: int, in_bitfield: bool, lvl: int) -> None:
        """Padding members from bit ``cur`` to ``nxt`` (``btf_dump_emit_bit_padding``)."""
        if cur >= nxt:
            return
        p = self.out.append
        ind = _NL[lvl]
        long_bits = self.t.ptr_size * 8
        pads = (("long", long_bits), ("int", 32), ("short", 16), ("char", 8))
        new_off = pad_bits = 0
        pad_type = ""
        for pad_type, pad_bits in pads:
            new_off = (cur + pad_bits - 1) // pad_bits * pad_bits
            if new_off <= nxt:
                break
        if cur < new_off <= nxt:
            na = next_align * 8
            if in_bitfield or (new_off == nxt and (cur + na - 1) // na * na != new_off) or \
                    (new_off != nxt and nxt - new_off <= new_off - cur):
                p(f"{ind}{pad_type}: {new_off - cur if in_bitfield else 0};")
            cur = new_off
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                p(f"{ind}{pad_type}: {pad_bits};")
                cur += bits
                continue
            for pad_type, pad_bits in reversed(pads):
                if pad_bits < bits:
                    continue
                p(f"{ind}{pad_type}: {bits};")
                cur += bits
                break

    def _enum_def(self, type_id: int, lvl: int) -> None:
        """An enum definition (``btf_dump_emit_enum_def``), without the ``;``."""
        t = self.t
        p = self.out.append
        named = t.name[type_id]
        p(f"enum {self.type_name(type_id)}" if named else "enum")
        vlen = t.vlen[type_id]
        if not vlen:
            return
        p(" {")
        w, d = t.w, t.hdr[type_id] + 3
        signed = t.kflag[type_id]
        ind = _NL[lvl + 1]
        idents = self._ident_names
        is64 = t.kind[type_id] == _ENUM64
        step = 3 if is64 else 2
        all_lo = True
        for j in range(d, d + step * vlen, step):
            name = t.string(w[j])
            dup = idents.get(name, 0) + 1
            idents[name] = dup
            if dup > 1:
                name = f"{name}___{dup}"
            if is64:
                v = w[j + 1] | (w[j + 2] << 32)
                if w[j + 2]:
                    all_lo = False
                if signed and v >= 1 << 63:
                    v -= 1 << 64
                p(f"{ind}{name} = {v}{'LL' if signed else 'ULL'},")
            else:
                v = w[j + 1]
                if signed and v >= 1 << 31:
                    v -= 1 << 32
                p(f"{ind}{name} = {v},")
        p(f"{_NL[lvl]}}}")
        size = t.st[type_id]
        if size == 1:
            p(" __attribute__((mode(byte)))")
        elif size == 8 and t.ptr_size == 8 and (not is64 or all_lo):
            p(" __attribute__((mode(word)))")

    def _typedef_def(self, type_id: int, lvl: int) -> None:
        """A typedef (``btf_dump_emit_typedef_def``), without the ``;``."""
        t = self.t
        name = self.ident_name(type_id)
        if t.st[type_id] == 0 and name == "__gnuc_va_list":
            self.out.append("typedef __builtin_va_list __gnuc_va_list")
            return
        self.out.append("typedef ")
        self._decl(t.st[type_id], name, lvl)
