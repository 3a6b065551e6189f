"""Flat tables over a BTF blob for the C dumper (:mod:`.cdump`).

The dumper touches every type of vmlinux (~130k), so it works on flat
sequences indexed by type id instead of :class:`~pybpf.btf.types.Type`
objects: the type section as one sequence of 32-bit words ``w`` (a zero-copy
view of the blob when possible), and per id the word index of the record's
header, the kind, kind_flag, vlen, ``size_or_type`` word and name. Everything
is built with C-level iteration (``map``, ``bytes.translate``, slicing) over
the record offsets :class:`~pybpf.btf.spec.BTF` found while parsing. Split
BTF is flattened together with its base (ids and string offsets continue).
"""

from __future__ import annotations

import re
import struct
import sys
from array import array
from functools import lru_cache
from itertools import accumulate, compress, repeat
from operator import add, itemgetter, mul
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence, Union

from ..errors import BTFError

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = ["Tables", "Members", "kind_table", "gather"]

# BTF kind numbers (include/uapi/linux/btf.h), as plain ints for speed
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, \
    FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(1, 20)


def kind_table(kinds: "Iterable[int]") -> bytes:
    """A ``bytes.translate`` table mapping a kind to 1 if it is in ``kinds``, else 0
    (``t.kind.translate(table)`` is a per-id mask)."""
    ks = frozenset(kinds)
    return bytes(int(k in ks) for k in range(256))


# the top byte of a type's info word -> kind, kind_flag, "name is read"
_KIND_OF_TOP = bytes(b & 0x1F for b in range(256))
_KFLAG_OF_TOP = bytes(b >> 7 for b in range(256))
# kinds whose names the dumper reads (the others are anonymous in practice,
# or named but only needed for kfunc prototypes: Tables.name_of)
_NAMED_TOP = bytes(int(b & 0x1F in (INT, STRUCT, UNION, ENUM, FWD, TYPEDEF, FLOAT, DECL_TAG, TYPE_TAG, ENUM64))
                   for b in range(256))
_ONE = re.compile(b"\x01")
_LONG_NAMES = frozenset({"long", "long int", "int long", "unsigned long", "long unsigned", "unsigned long int",
                         "unsigned int long", "long unsigned int", "long int unsigned", "int unsigned long",
                         "int long unsigned"})

Words = Union[memoryview, array]


class Tables:
    """Per-id columns over ``btf`` and its bases.

    ``w`` holds every type record's words; ``hdr[id]`` is the index in ``w``
    of the record's 3-word header, so its kind-specific data starts at
    ``hdr[id] + 3``. ``kind`` and ``kflag`` are bytes; ``name`` is ``""`` for
    anonymous types and for the kinds whose names the dumper does not read
    (functions, variables, pointers...: see :meth:`name_of`).
    """

    __slots__ = ("n", "w", "hdr", "kind", "kflag", "vlen", "st", "name", "ptr_size", "_s", "_sb")

    def __init__(self, btf: "BTF") -> None:
        levels = []
        b: "BTF | None" = btf
        while b is not None:
            levels.append(b)
            b = b.base
        levels.reverse()
        w, hdr = _words(levels)
        self.w, self.hdr = w, hdr
        n = self.n = len(hdr)
        self._sb, self._s = _strings(levels)
        # header columns; id 0 (void) has an all-zero header
        body = hdr[1:]
        infos = array("I", [0])
        infos.extend(gather(w[1:], body))
        st = self.st = (0,) + gather(w[2:], body)
        raw = infos.tobytes()  # per info word: vlen (16 bits), unused byte, kind | kind_flag << 7
        if sys.byteorder == "little":
            top, self.vlen = raw[3::4], array("H", raw)[0::2]
        else:
            top, self.vlen = raw[0::4], array("H", raw)[1::2]
        kind = self.kind = top.translate(_KIND_OF_TOP)
        self.kflag = top.translate(_KFLAG_OF_TOP)
        # names: only of the types that have one
        ids = [m.start() for m in _ONE.finditer(top.translate(_NAMED_TOP), 1)]
        offs = list(gather(w, gather(hdr, ids)))
        ids = list(compress(ids, offs))
        offs = list(compress(offs, offs))
        names = [""] * n
        for i, s in zip(ids, self.strings(offs)):
            names[i] = s
        self.name: list[str] = names
        self.ptr_size = _ptr_size(kind, st, names)

    def ids(self, *kinds: int) -> list[int]:
        """The ids of the types of these kinds, in order."""
        if sum(map(self.kind.count, kinds)) * 8 > self.n:  # many: one pass over all ids is cheaper
            return list(compress(range(self.n), self.kind.translate(kind_table(kinds))))
        return [m.start() for m in _kinds_pattern(kinds).finditer(self.kind)]

    def string(self, off: int) -> str:
        """The string at global offset ``off``."""
        s = self._s
        try:
            if s is not None:
                return s[off:s.index("\0", off)]
            sb = self._sb
            return sb[off:sb.index(b"\0", off)].decode("utf-8", "surrogateescape")
        except ValueError:
            raise BTFError(f"BTF: string offset {off} out of range") from None

    def strings(self, offs: Sequence[int]) -> list[str]:
        """The strings at the global offsets ``offs`` (a sequence: it is read twice)."""
        s = self._s
        if s is not None:
            try:
                return list(map(s.__getitem__, map(slice, offs, map(s.index, repeat("\0"), offs))))
            except ValueError:
                pass  # an offset out of range: let string() report it
        return list(map(self.string, offs))

    def name_of(self, type_id: int) -> str:
        """The name of any type, functions and variables included."""
        return self.name[type_id] or (self.string(self.w[self.hdr[type_id]]) if type_id else "")


class Members:
    """The members of all structs and unions as flat lists: those of type ``id``
    are at ``[start[id]:start[id] + vlen[id]]`` in ``types`` (type ids),
    ``offs`` (raw offset words: bit offset, bitfield size in the top 8 bits if
    the kind_flag is set) and ``names``."""

    __slots__ = ("start", "types", "offs", "names")

    def __init__(self, t: Tables) -> None:
        ids = t.ids(STRUCT, UNION)
        vlens = gather(t.vlen, ids)
        self.start = dict(zip(ids, accumulate(vlens, initial=0)))
        # the member records, copied out of the type section as one block of (name, type, offset) words
        starts = list(map(add, map(mul, gather(t.hdr, ids), repeat(4)), repeat(12)))
        ends = map(add, starts, map(mul, vlens, repeat(12)))
        with memoryview(t.w) as mv, mv.cast("B") as wb:
            words = memoryview(b"".join(gather(wb, list(map(slice, starts, ends))))).cast("I")
        self.types = words[1::3].tolist()
        self.offs = words[2::3].tolist()
        offs = words[0::3].tolist()
        uniq = list(dict.fromkeys(offs))  # member names repeat a lot: decode each once
        self.names = list(map(dict(zip(uniq, t.strings(uniq))).__getitem__, offs))


@lru_cache(maxsize=None)
def _kinds_pattern(kinds: "tuple[int, ...]") -> "re.Pattern[bytes]":
    return re.compile(b"[" + b"".join(re.escape(bytes((k,))) for k in kinds) + b"]")


def gather(seq: "Sequence[Any]", idx: "Sequence[Any]") -> "tuple[Any, ...]":
    """``tuple(seq[i] for i in idx)``, in C (``idx`` may hold slices)."""
    if len(idx) > 1:
        return itemgetter(*idx)(seq)
    return tuple(map(seq.__getitem__, idx))


def _words(levels: "list[BTF]") -> "tuple[Words, list[int]]":
    """The type sections' words (a view of the blob for one native-order level)
    and each type's header word index (id 0: 0)."""
    hdr = [0]
    if len(levels) == 1 and levels[0].byteorder == sys.byteorder:
        lv = levels[0]
        hdr += lv._offs
        return memoryview(lv.data)[lv._tstart:lv._tstart + lv._tlen].cast("I"), hdr
    w = array("I")
    for lv in levels:
        a = array("I", lv.data[lv._tstart:lv._tstart + lv._tlen])
        if lv.byteorder != sys.byteorder:
            a.byteswap()
        hdr += map(add, lv._offs, repeat(len(w)))
        w += a
    return w, hdr


def _strings(levels: "list[BTF]") -> "tuple[bytes, Optional[str]]":
    """The string sections, one after the other (global offsets index them), and the
    same decoded if all ASCII (the usual case: then offsets index the str too)."""
    if len(levels) == 1:
        lv = levels[0]
        with memoryview(lv.data) as mv:
            try:
                return b"", str(mv[lv._sstart:lv._sstart + lv._slen], "ascii")
            except UnicodeDecodeError:
                pass
    sb = b"".join(lv.data[lv._sstart:lv._sstart + lv._slen] for lv in levels)
    return sb, (sb.decode("ascii") if sb.isascii() else None)


def _ptr_size(kind: bytes, st: list[int], name: list[str]) -> int:
    """Size of ``long``, as libbpf's ``determine_ptr_size``; the host's if there is none."""
    i = kind.find(INT)
    while i >= 0:
        if st[i] in (4, 8) and name[i] in _LONG_NAMES:
            return st[i]
        i = kind.find(INT, i + 1)
    return struct.calcsize("P")
