"""Flat tables over a BTF blob for the C dumper (:mod:`.cdump`).

The dumper touches every type of vmlinux (~130k), so it works on plain lists
indexed by type id instead of :class:`~pybpf.btf.types.Type` objects: the
type section as one list of 32-bit words, and per id the kind, name, vlen,
kind_flag, ``size_or_type`` word and the word index of the kind-specific
data. Split BTF is flattened together with its base (ids continue).
"""

from __future__ import annotations

import struct
import sys
from array import array
from itertools import accumulate, repeat
from operator import add, and_, rshift, sub
from typing import TYPE_CHECKING, Callable, Optional

from ..errors import BTFError
from . import _format as F

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = ["Tables"]

# BTF kind numbers (include/uapi/linux/btf.h), as plain ints for speed
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, \
    FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(1, 20)

_EXTRA_W = [e // 4 for e in F.EXTRA_SIZE]
_VLEN_W = [v // 4 for v in F.VLEN_SIZE]


class Tables:
    """Per-id lists over ``btf`` and its bases. ``w`` holds every type record's
    words; ``data[id]`` is the index in ``w`` of the record's data after the
    12-byte header."""

    __slots__ = ("n", "w", "kind", "name", "vlen", "kflag", "st", "data", "ptr_size", "strs_get", "_strs", "_raw_strs")

    def __init__(self, btf: "BTF") -> None:
        chain = []
        b: "BTF | None" = btf
        while b is not None:
            chain.append(b)
            b = b.base
        chain.reverse()
        w: list[int] = []
        data: list[int] = [0]
        strs: dict[int, str] = {}
        raw_strs: list[tuple[int, bytes]] = []
        str_base = 0
        for level in chain:
            lay = F.detect_order(level.data)
            _m, _v, _f, hdr_len, toff, tlen, soff, slen = lay.header.unpack_from(level.data, 0)
            tstart, sstart = hdr_len + toff, hdr_len + soff
            words = _words(level.data, tstart, tlen, level.byteorder)
            offs = getattr(level, "_offs", None)
            if offs is None or len(offs) != len(level):
                offs = _scan(words)
            data.extend(map(add, offs, repeat(len(w) + 3)))
            if w:
                w.extend(words)
            else:
                w = words
            sec = level.data[sstart:sstart + slen]
            strs.update(_strings(sec, str_base))
            raw_strs.append((str_base, sec))
            str_base += slen
        self.w = w
        self.data = data
        self.n = len(data)
        self._strs = strs
        self.strs_get: Callable[[int], Optional[str]] = strs.get
        self._raw_strs = raw_strs
        wget = w.__getitem__
        infos = list(map(wget, map(sub, data, repeat(2))))
        infos[0] = 0
        self.kind = list(map(and_, map(rshift, infos, repeat(24)), repeat(31)))
        self.vlen = list(map(and_, infos, repeat(0xFFFF)))
        self.kflag = list(map(rshift, infos, repeat(31)))
        st = list(map(wget, map(sub, data, repeat(1))))
        st[0] = 0
        self.st = st
        name_offs = list(map(wget, map(sub, data, repeat(3))))
        name_offs[0] = 0
        names: list = list(map(strs.get, name_offs))
        if None in names:
            for i, nm in enumerate(names):
                if nm is None:
                    names[i] = self.string(name_offs[i])
        self.name: list[str] = names
        self.ptr_size = self._ptr_size()

    def string(self, off: int) -> str:
        """The string at global offset ``off``."""
        s = self._strs.get(off)
        if s is not None:
            return s
        for base, sec in reversed(self._raw_strs):
            if off >= base:
                rel = off - base
                if rel >= len(sec):
                    break
                end = sec.find(b"\0", rel)
                s = sec[rel:end if end >= 0 else len(sec)].decode("utf-8", "surrogateescape")
                self._strs[off] = s
                return s
        raise BTFError(f"BTF: string offset {off} out of range")

    def _ptr_size(self) -> int:
        aliases = {"long", "long int", "int long", "unsigned long", "long unsigned", "unsigned long int",
                   "unsigned int long", "long unsigned int", "long int unsigned", "int unsigned long",
                   "int long unsigned"}
        kind, st, name = self.kind, self.st, self.name
        for i in range(1, self.n):
            if kind[i] == 1 and st[i] in (4, 8) and name[i] in aliases:
                return st[i]
        return struct.calcsize("P")


def _words(data: bytes, start: int, length: int, order: str) -> list[int]:
    if length % 4:
        raise BTFError("BTF: type section length is not a multiple of 4")
    if order == sys.byteorder:
        with memoryview(data) as mv, mv[start:start + length] as sub, sub.cast("I") as ws:
            return ws.tolist()
    a = array("I", data[start:start + length])
    a.byteswap()
    return a.tolist()


def _scan(words: list[int]) -> list[int]:
    offs = []
    i, n = 0, len(words)
    ex, vs = _EXTRA_W, _VLEN_W
    while i < n:
        offs.append(i)
        info = words[i + 1]
        k = (info >> 24) & 31
        if not 1 <= k < F.NR_KINDS:
            raise BTFError(f"BTF: unknown kind {k}")
        i += 3 + ex[k] + (info & 0xFFFF) * vs[k]
    if i != n:
        raise BTFError("BTF: truncated type section")
    return offs


def _strings(sec: bytes, base: int) -> dict[int, str]:
    if sec.isascii():
        parts: list = sec.decode("ascii").split("\0")
    else:
        parts = [p.decode("utf-8", "surrogateescape") for p in sec.split(b"\0")]
        # offsets must be counted in bytes
        lens = [len(p) for p in sec.split(b"\0")]
        offs = accumulate(map(add, lens, repeat(1)), initial=base)
        return dict(zip(offs, parts))
    offs = accumulate(map(add, map(len, parts), repeat(1)), initial=base)
    return dict(zip(offs, parts))
