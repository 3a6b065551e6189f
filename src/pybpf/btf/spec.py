"""The :class:`BTF` container: parsing, lazy decoding and name lookup.

Loading is one cheap pass over the type section that records where each
variable-length record starts (and its ``name_off``); types are decoded only
when asked for. Name lookups use the *name index*: the named types sorted by
name (ties by id), as two parallel ``array('I')`` (type index, string offset),
searched by bisection on the string bytes -- O(log n) per lookup, and prefix
ranges (``task_struct___*``) for CO-RE flavors. It is built on the first
lookup, or, for big blobs (vmlinux), together with the record offsets when the
blob is parsed, and then loaded from the on-disk cache (:mod:`pybpf.btf.cache`).
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
import threading
from array import array
from bisect import bisect_left, bisect_right
from itertools import accumulate, compress, repeat
from operator import add, itemgetter
from typing import Any, Callable, Iterator, Optional

from ..errors import BTFError, NotSupportedError
from . import _format as F
from . import cache as _cache
from .types import (
    VOID, Array, Const, DeclTag, Datasec, Enum, Enum64, EnumValue, Float, Func, FuncProto, Fwd, Int,
    Kind, Member, Param, Ptr, Restrict, Struct, Type, TypeNotFound, TypeTag, Typedef, Union, Var,
    VarSecinfo, Volatile,
)

__all__ = ["BTF", "VMLINUX_PATH", "kernel_btf_has_string", "kernel_btf_has_typedef"]

VMLINUX_PATH = "/sys/kernel/btf/vmlinux"

_STR_INDEX_AFTER = 8  # exact-string lookups (_str_offsets) done by scanning before a dict is built
_MIN_CACHE_SIZE = 256 * 1024  # blobs smaller than this are never disk-cached ("auto")

# Jump tables for the offset scan, in 4-byte words: invalid kinds jump far past
# the end so the scan stops and the slow diagnostic pass explains what is wrong.
_BAD = 1 << 40
# Indexed by the info word's top byte (kind in the low 5 bits, kind_flag in the top bit).
_EXTRA_W = [3 + F.EXTRA_SIZE[k] // 4 if 1 <= k < F.NR_KINDS else _BAD for k in (top & 31 for top in range(256))]
_VLEN_W = [F.VLEN_SIZE[k] // 4 if k < F.NR_KINDS else 0 for k in (top & 31 for top in range(256))]


class BTF:
    """A parsed BTF blob (base or split).

    Create with :meth:`from_bytes`, :meth:`load_vmlinux` or :meth:`load_module`.
    ``btf[type_id]`` returns a :class:`~pybpf.btf.types.Type` (id 0 is
    :data:`~pybpf.btf.types.VOID`; ids below :attr:`first_id` are looked up
    in :attr:`base`). ``len(btf)`` and iteration cover this blob's own types.
    """

    _loaded: dict[tuple[str, int], "BTF"] = {}
    _load_lock = threading.Lock()

    def __init__(self, data: bytes, base: "BTF | None" = None, *, cache: "bool | None" = False,
                 _key: Optional[str] = None) -> None:
        """Parse ``data``; prefer :meth:`from_bytes`. ``cache``: use the on-disk index cache
        (True), never (False) or only for big blobs (None). ``_key``: the cache key of
        ``data`` if already known (internal)."""
        if not isinstance(data, bytes):
            data = bytes(data)
        self._data = data
        self.base = base
        lay = F.detect_order(data)
        self._lay = lay
        if len(data) < F.HEADER_SIZE:
            raise BTFError(f"BTF: {len(data)} bytes is too short for the {F.HEADER_SIZE}-byte header")
        _magic, version, flags, hdr_len, toff, tlen, soff, slen = lay.header.unpack_from(data, 0)
        if version != F.VERSION:
            raise BTFError(f"BTF: unsupported version {version}")
        if flags:
            raise BTFError(f"BTF: unsupported header flags 0x{flags:x}")
        if hdr_len < F.HEADER_SIZE or hdr_len > len(data):
            raise BTFError(f"BTF: bad header length {hdr_len} (blob is {len(data)} bytes)")
        if any(data[F.HEADER_SIZE:hdr_len]):
            raise BTFError("BTF: unsupported non-zero header extension")
        self.byteorder: str = lay.order
        self.header_len = hdr_len
        tstart, sstart = hdr_len + toff, hdr_len + soff
        if tstart + tlen > len(data) or sstart + slen > len(data):
            raise BTFError(f"BTF: section out of bounds (types {toff}+{tlen}, strings {soff}+{slen}, "
                           f"{len(data) - hdr_len} bytes after header)")
        if toff % 4 or tlen % 4:
            raise BTFError(f"BTF: type section offset/length not 4-byte aligned ({toff}, {tlen})")
        if tlen and slen and tstart < sstart + slen and sstart < tstart + tlen:
            raise BTFError("BTF: type and string sections overlap")
        if slen:
            if data[sstart + slen - 1] != 0:
                raise BTFError("BTF: string section is not NUL-terminated")
            if base is None and data[sstart] != 0:
                raise BTFError("BTF: string section does not start with the empty string")
        self._tstart, self._tlen = tstart, tlen
        self._sstart, self._slen = sstart, slen
        self._str_base = base._str_end if base is not None else 0
        self._str_end = self._str_base + slen
        self._first_id = base.last_id + 1 if base is not None else 1

        self._sorted_names: Optional[array] = None  # name index: local type indices sorted by name
        self._sorted_name_offs: Optional[array] = None  # ... and their (global) name string offsets
        self._str_index: Optional[_NameIndex] = None  # the name index as one object, once available
        self._name_offs: Optional[array] = None
        idx = None
        if (cache or (cache is None and len(data) >= _MIN_CACHE_SIZE)) and _cache.enabled():
            if _key is None:
                _key = self._content_key()
            idx = _cache.load(_key, tlen, len(data), slen)
        else:
            _key = None
        if idx is None:
            self._offs, self._name_offs = self._scan()
            if _key is not None:
                self._build_name_index()
                assert self._sorted_names is not None and self._sorted_name_offs is not None
                _cache.store(_key, tlen, _cache.Index(self._offs, self._sorted_names, self._sorted_name_offs),
                             len(data), slen)
        else:
            self._offs = idx.offs
            self._set_name_index(idx.name_ids, idx.name_offs)
        self._cache_key = _key
        self._n = len(self._offs)
        if self._first_id + self._n - 1 > F.MAX_TYPE_ID:
            raise BTFError(f"BTF: too many types ({self._first_id + self._n - 1} > {F.MAX_TYPE_ID})")
        self._types: list[Optional[Type]] = [None] * self._n
        self._str_lookups = 0
        self._str_dict: Optional[dict[bytes, int]] = None
        self._str_dupes = False
        self._ptr_size: Optional[int] = None

    def _content_key(self) -> str:
        """Cache key of this blob; split BTF includes its base's (the name index sorts
        names that may live in the base's string section)."""
        key = _cache.key_for(self._data)
        if self.base is not None:
            key += "-" + (self.base._cache_key or self.base._content_key())
        return key

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_bytes(cls, data: "bytes | bytearray | memoryview", base: "BTF | None" = None,
                   *, cache: "bool | None" = False) -> "BTF":
        """Parse a BTF blob; ``base`` makes it split BTF (ids and string offsets continue
        after the base's). ``cache`` controls the on-disk index cache (None: big blobs only)."""
        return cls(bytes(data) if not isinstance(data, bytes) else data, base, cache=cache)

    @classmethod
    def load_vmlinux(cls, path: str = VMLINUX_PATH, *, cache: "bool | None" = None) -> "BTF":
        """The kernel's BTF, parsed once per process and path."""
        key = (path, 0)
        with cls._load_lock:
            btf = cls._loaded.get(key)
            if btf is None:
                btf = cls._loaded[key] = cls._load_kernel_btf(path, cache)
        return btf

    @classmethod
    def _load_kernel_btf(cls, path: str, cache: "bool | None") -> "BTF":
        if path != VMLINUX_PATH or cache is False or not _cache.enabled():
            return cls(_read(path, "vmlinux"), None, cache=cache)
        # The kernel's BTF can't change while it runs: reuse this boot's content key.
        data, st = _read(path, "vmlinux", stat=True)
        hint = _cache.hint_key(st) if cache or len(data) >= _MIN_CACHE_SIZE else None
        btf = cls(data, None, cache=cache, _key=hint)
        if hint is None and btf._cache_key is not None:
            _cache.store_hint(st, btf._cache_key)
        return btf

    @classmethod
    def load_module(cls, name: str, base: "BTF | None" = None, *, cache: "bool | None" = None) -> "BTF":
        """Split BTF of kernel module ``name`` from ``/sys/kernel/btf/<name>`` on top of
        ``base`` (default: :meth:`load_vmlinux`). Cached per process."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"bad module name {name!r}")
        if base is None:
            base = cls.load_vmlinux()
        path = os.path.join(os.path.dirname(VMLINUX_PATH), name)
        key = (path, id(base))
        with cls._load_lock:
            btf = cls._loaded.get(key)
            if btf is None or btf.base is not base:
                btf = cls._loaded[key] = cls(_read(path, name), base, cache=cache)
        return btf

    def to_bytes(self) -> bytes:
        """Re-encode this BTF (a parsed, unmodified blob encodes to identical bytes)."""
        from .writer import Builder
        b = Builder(base=self.base, byteorder=self.byteorder)
        b.add_btf(self)
        return b.to_bytes()

    # ------------------------------------------------------------------ scanning
    def _scan(self) -> tuple[array, array]:
        data, tstart, tlen = self._data, self._tstart, self._tlen
        offs, names = array("I"), array("I")
        oa, na = offs.append, names.append
        ex, vs = _EXTRA_W, _VLEN_W
        nwords = tlen // 4
        i = 0
        try:
            if self.byteorder == sys.byteorder and array("I").itemsize == 4:
                with memoryview(data) as mv, mv[tstart:tstart + tlen] as sub, sub.cast("I") as w:
                    while i < nwords:
                        oa(i)
                        na(w[i])
                        info = w[i + 1]
                        k = info >> 24
                        i += ex[k] + (info & 0xFFFF) * vs[k]
            else:
                unpack = self._lay.u32x2.unpack_from
                while i < nwords:
                    oa(i)
                    name_off, info = unpack(data, tstart + 4 * i)
                    na(name_off)
                    k = info >> 24
                    i += ex[k] + (info & 0xFFFF) * vs[k]
        except (IndexError, struct.error):
            i = -1
        if i != nwords:
            self._diagnose_scan()
        return offs, names

    def _diagnose_scan(self) -> None:
        """Slow checked walk, only to explain why the fast scan failed."""
        data, pos, end = self._data, self._tstart, self._tstart + self._tlen
        tid = self._first_id
        while pos < end:
            if pos + 12 > end:
                raise BTFError(f"BTF: type {tid} header truncated at offset {pos - self._tstart}")
            _n, info, _s = self._lay.u32x3.unpack_from(data, pos)
            k = (info >> 24) & 31
            if not 1 <= k < F.NR_KINDS:
                raise BTFError(f"BTF: type {tid} has unknown kind {k}")
            size = 12 + F.EXTRA_SIZE[k] + (info & 0xFFFF) * F.VLEN_SIZE[k]
            if pos + size > end:
                raise BTFError(f"BTF: type {tid} ({Kind(k).name}) truncated: needs {size} bytes, "
                               f"{end - pos} left in type section")
            pos += size
            tid += 1
        raise BTFError("BTF: inconsistent type section")  # pragma: no cover

    # ------------------------------------------------------------------ access
    @property
    def first_id(self) -> int:
        """Id of this blob's first type (1, or the base's last id + 1 for split BTF)."""
        return self._first_id

    @property
    def last_id(self) -> int:
        """Id of this blob's last type (``first_id - 1`` if it has none)."""
        return self._first_id + self._n - 1

    @property
    def data(self) -> bytes:
        """The raw blob."""
        return self._data

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Type]:
        for i in range(self._n):
            yield self[self._first_id + i]

    def __getitem__(self, type_id: int) -> Type:
        idx = type_id - self._first_id
        if idx >= 0:
            if idx < self._n:
                t = self._types[idx]
                if t is None:
                    t = self._types[idx] = self._decode(idx)
                return t
        elif type_id == 0:
            return VOID
        elif type_id > 0 and self.base is not None:
            return self.base[type_id]
        raise TypeNotFound(f"BTF has no type id {type_id} (ids {0 if self.base is None else 1}..{self.last_id})")

    def __repr__(self) -> str:
        split = f", split on {len(self.base)} base types" if self.base is not None else ""
        return f"<BTF {self._n} types (ids {self._first_id}..{self.last_id}){split}, {len(self._data)} bytes>"

    def kind_of(self, type_id: int) -> Kind:
        """The kind of ``type_id`` without decoding the type."""
        idx = type_id - self._first_id
        if 0 <= idx < self._n:
            info = self._lay.u32.unpack_from(self._data, self._tstart + 4 * self._offs[idx] + 4)[0]
            return Kind((info >> 24) & 31)
        if type_id == 0:
            return Kind.UNKN
        if 0 < type_id and self.base is not None:
            return self.base.kind_of(type_id)
        raise TypeNotFound(f"BTF has no type id {type_id}")

    def iter_types(self, kind: "Kind | int | str | type[Type] | None" = None,
                   include_base: bool = False) -> Iterator[Type]:
        """Types in id order, optionally of one kind and including the base's types."""
        if include_base and self.base is not None:
            yield from self.base.iter_types(kind, True)
        want = None if kind is None else Kind.coerce(kind)
        for i in range(self._n):
            tid = self._first_id + i
            if want is None or self.kind_of(tid) == want:
                yield self[tid]

    def string(self, offset: int) -> str:
        """The string at ``offset`` (global offset: split BTF continues after its base)."""
        if not offset:
            return ""
        rel = offset - self._str_base
        if rel < 0:
            if self.base is None:  # pragma: no cover - _str_base is 0 without base
                raise BTFError(f"BTF: bad string offset {offset}")
            return self.base.string(offset)
        if rel >= self._slen:
            raise BTFError(f"BTF: string offset {offset} out of range (string section ends at {self._str_end})")
        start = self._sstart + rel
        end = self._data.index(b"\0", start, self._sstart + self._slen)
        return self._data[start:end].decode("utf-8", "surrogateescape")

    # ------------------------------------------------------------------ decoding
    def _decode(self, idx: int) -> Type:
        data, lay = self._data, self._lay
        pos = self._tstart + 4 * self._offs[idx]
        name_off, info, st = lay.u32x3.unpack_from(data, pos)
        kind = (info >> 24) & 31
        dec = _DECODERS.get(kind)
        if dec is None:  # only reachable with a corrupt cache
            raise BTFError(f"BTF: type {self._first_id + idx} has unknown kind {kind}")
        try:
            t = dec(self, self.string(name_off), info & 0xFFFF, info >> 31, st, pos + 12)
        except struct.error as e:
            raise BTFError(f"BTF: type {self._first_id + idx} truncated ({e})") from None
        t.id = self._first_id + idx
        t._btf = self
        return t

    def _records(self, fmt: str, pos: int, count: int) -> Iterator[tuple[int, ...]]:
        size = struct.calcsize(fmt) * count
        if pos + size > self._tstart + self._tlen:
            raise BTFError("BTF: record list runs past the type section")
        return struct.iter_unpack(self._lay.prefix + fmt, self._data[pos:pos + size])

    # ------------------------------------------------------------------ names
    def _local_str_offsets(self, nb: bytes) -> list[int]:
        """Global offsets of the exact string ``nb`` in this blob's own string section."""
        if self._str_dict is None:
            self._str_lookups += 1
            if self._str_lookups > _STR_INDEX_AFTER:
                self._build_str_dict()
        if self._str_dict is not None and not self._str_dupes:
            o = self._str_dict.get(nb)
            return [] if o is None else [o + self._str_base]
        data, s, e = self._data, self._sstart, self._sstart + self._slen
        res = []
        if data.startswith(nb + b"\0", s):
            res.append(self._str_base)
        needle = b"\0" + nb + b"\0"
        i = data.find(needle, s, e)
        while i >= 0:
            res.append(i + 1 - s + self._str_base)
            i = data.find(needle, i + 1, e)
        return res

    def _build_str_dict(self) -> None:
        parts = self._data[self._sstart:self._sstart + self._slen].split(b"\0")
        offs = accumulate(map(add, map(len, parts), repeat(1)), initial=0)
        d = dict(zip(parts, offs))
        nonempty = len(parts) - parts.count(b"")
        self._str_dupes = len(d) - (1 if b"" in d else 0) != nonempty
        self._str_dict = d

    def _str_offsets(self, nb: bytes) -> list[int]:
        """Global offsets of every occurrence of the exact string ``nb`` (base first);
        for string-table reuse (:class:`~pybpf.btf.writer.StringTable`), not type lookups."""
        base = self.base._str_offsets(nb) if self.base is not None else []
        return base + self._local_str_offsets(nb)

    def _name_at(self, off: int) -> bytes:
        """The raw string at global offset ``off`` (b"" if out of range)."""
        rel = off - self._str_base
        if rel < 0:
            return self.base._name_at(off) if self.base is not None else b""
        if rel >= self._slen:
            return b""
        start = self._sstart + rel
        return self._data[start:self._data.index(b"\0", start, self._sstart + self._slen)]

    def _set_name_index(self, ids: array, offs: array) -> None:
        self._sorted_names, self._sorted_name_offs = ids, offs
        self._str_index = _NameIndex(ids, offs)

    def _build_name_index(self) -> None:
        """Sort the named types by name (then id); types whose name offset is out of
        range are left out (no lookup can find them)."""
        no = self._name_offs
        if no is None:  # loaded from the cache: already there
            return
        named = list(compress(range(len(no)), no))
        noffs = list(compress(no, no))
        names: Optional[list[bytes]] = None
        if self.base is None:
            # fast path, C loops only: one index() + slice per name; index() fails
            # (ValueError) for an offset past the NUL-terminated string section
            strs = self._data[self._sstart:self._sstart + self._slen]
            try:
                names = list(map(strs.__getitem__, map(slice, noffs, map(strs.index, repeat(b"\0"), noffs))))
            except ValueError:
                pass
        if names is None:
            lo, hi = self._str_base, self._str_end
            keep = [(lo <= o < hi) or (o < lo and self.base is not None) for o in noffs]
            if not all(keep):
                named = list(compress(named, keep))
                noffs = list(compress(noffs, keep))
            names = list(map(self._name_at, noffs))
        order = sorted(range(len(names)), key=names.__getitem__)
        if len(order) > 1:
            pick = itemgetter(*order)
            ids, offs = array("I", pick(named)), array("I", pick(noffs))
        else:
            ids, offs = array("I", named), array("I", noffs)
        self._set_name_index(ids, offs)
        self._name_offs = None  # only needed to build the index

    def _name_range(self, nb: bytes, prefix: bool = False) -> tuple[int, int]:
        """``[lo, hi)`` positions in the name index of the names equal to ``nb``
        (``prefix``: starting with ``nb``)."""
        if self._sorted_name_offs is None:
            self._build_name_index()
        so = self._sorted_name_offs
        assert so is not None
        key = self._name_at
        lo = bisect_left(so, nb, key=key)
        if not prefix:
            return lo, bisect_right(so, nb, lo, key=key)
        # the smallest string greater than every string starting with nb
        end = nb.rstrip(b"\xff")
        if not end:
            return lo, len(so)
        return lo, bisect_left(so, end[:-1] + bytes([end[-1] + 1]), lo, key=key)

    def _ids_named(self, nb: bytes) -> list[int]:
        """Ids of this blob's own types whose name is ``nb``, ascending."""
        lo, hi = self._name_range(nb)
        if lo == hi:
            return []
        assert self._sorted_names is not None
        f = self._first_id
        return [f + i for i in self._sorted_names[lo:hi]]

    def _names_with_prefix(self, prefix: bytes) -> list[tuple[int, bytes]]:
        """``(id, name)`` of this blob's own types whose name starts with ``prefix``,
        sorted by name, then id."""
        lo, hi = self._name_range(prefix, True)
        ids, offs = self._sorted_names, self._sorted_name_offs
        assert ids is not None and offs is not None
        f, name_at = self._first_id, self._name_at
        return [(f + ids[p], name_at(offs[p])) for p in range(lo, hi)]

    def find_all(self, name: str, kind: "Kind | int | str | type[Type] | None" = None) -> list[Type]:
        """All types called ``name`` (optionally of ``kind``), base types first, in id order."""
        res = self.base.find_all(name, kind) if self.base is not None else []
        if not name:
            return res
        want = None if kind is None else Kind.coerce(kind)
        for tid in self._ids_named(name.encode("utf-8", "surrogateescape")):
            if want is None or self.kind_of(tid) == want:
                res.append(self[tid])
        return res

    def find(self, name: str, kind: "Kind | int | str | type[Type] | None" = None) -> Type:
        """The first type called ``name`` (of ``kind`` if given; without ``kind`` a
        complete definition is preferred to a ``Fwd``). Raises :class:`TypeNotFound`."""
        found = self.find_all(name, kind)
        if not found:
            what = f"{Kind.coerce(kind).name.lower()} " if kind is not None else "type "
            raise TypeNotFound(f"BTF has no {what}{name!r}")
        if kind is None:
            for t in found:
                if t.kind != Kind.FWD:
                    return t
        return found[0]

    def types_by_name(self, name: str) -> list[Type]:
        """All types called ``name`` (any kind); empty list if none."""
        return self.find_all(name)

    # ------------------------------------------------------------------ helpers
    @property
    def pointer_size(self) -> int:
        """Pointer size in bytes: the size of ``long`` if the BTF has it, else 8."""
        if self._ptr_size is None:
            size = 8
            for nm in ("long", "long int", "long unsigned int", "unsigned long"):
                ts = self.find_all(nm, Kind.INT)
                if ts:
                    size = ts[0].size  # type: ignore[attr-defined]
                    break
            self._ptr_size = size if size in (4, 8) else 8
        return self._ptr_size

    def resolve(self, t: "Type | int | str") -> Type:
        """Skip typedef/const/volatile/restrict/type_tag. ``t``: a Type, an id, or a
        name (``"foo"``, ``"struct foo"``) as for :meth:`find`."""
        from .layout import resolve
        return resolve(self, t)

    def sizeof(self, t: "Type | int | str") -> int:
        """Size in bytes of a type (pointers: :attr:`pointer_size`)."""
        from .layout import sizeof
        return sizeof(self, t)

    def alignof(self, t: "Type | int | str") -> int:
        """Natural alignment in bytes (1 for packed structs)."""
        from .layout import alignof
        return alignof(self, t)

    def member_offset(self, struct: "Type | int | str", path: str) -> tuple[int, Type]:
        """``(byte_offset, member_type)`` of ``path`` (``"a.b[2].c"``) in ``struct``,
        descending into anonymous struct/union members."""
        from .layout import member_offset
        return member_offset(self, struct, path)

    def member_bit_offset(self, struct: "Type | int | str", path: str) -> tuple[int, Member]:
        """``(bit_offset, Member)`` of ``path`` in ``struct`` (for bitfields)."""
        from .layout import member_bit_offset
        return member_bit_offset(self, struct, path)

    def type_name(self, t: "Type | int", name: str = "") -> str:
        """C-ish spelling of a type (``struct foo *``, ``unsigned int[4]``), or a
        declaration of ``name`` with that type."""
        from .cdecl import type_name
        return type_name(self, t, name)


_kernel_raw: dict[str, tuple[bytes, Any, int, int, bytes]] = {}


def _kernel_btf_raw(path: str) -> "tuple[bytes, Any, int, int, bytes] | None":
    """(blob, layout, type section start, end, NUL + string section) of a kernel BTF file."""
    raw = _kernel_raw.get(path)
    if raw is None:
        try:
            data = _read(path, "vmlinux")
            lay = F.detect_order(data)
            _m, _v, _f, hdr_len, toff, tlen, soff, slen = lay.header.unpack_from(data, 0)
        except (BTFError, OSError, NotSupportedError):
            return None
        raw = _kernel_raw[path] = (data, lay, hdr_len + toff, hdr_len + toff + tlen,
                                   b"\0" + bytes(data[hdr_len + soff:hdr_len + soff + slen]))
    return raw


def kernel_btf_has_string(name: str, path: str = VMLINUX_PATH) -> bool:
    """True if the kernel BTF's string section holds exactly ``name``.

    A cheap pre-check (the string section is searched; no type is scanned or indexed)
    before :meth:`BTF.load_vmlinux` answers "is there a type or member called X": most
    names a user program defines are not in the kernel's BTF at all. Unreadable BTF: False.
    """
    raw = _kernel_btf_raw(path)
    return raw is not None and b"\0" + name.encode() + b"\0" in raw[4]


def kernel_btf_has_typedef(name: str, path: str = VMLINUX_PATH) -> bool:
    """True if the kernel BTF has a typedef called ``name``, without parsing the BTF.

    Looks for the name's string offset followed by a TYPEDEF info word (kind 8, no
    vlen, no kind_flag) at 4-byte-aligned places of the type section: every typedef
    record matches, and a match elsewhere would need the exact string offset followed
    by that exact word in another record's data.
    """
    raw = _kernel_btf_raw(path)
    if raw is None:
        return False
    data, lay, tstart, tend, sec = raw
    needle_s = b"\0" + name.encode() + b"\0"
    info = lay.u32.pack(int(Kind.TYPEDEF) << 24)
    i = sec.find(needle_s)
    while i >= 0:
        pat = lay.u32.pack(i) + info  # sec[i] is the NUL before the name: the name's offset is i
        j = data.find(pat, tstart, tend)
        while j >= 0:
            if (j - tstart) % 4 == 0:
                return True
            j = data.find(pat, j + 1, tend)
        i = sec.find(needle_s, i + 1)
    return False


class _NameIndex:
    """The name index of one blob: local type indices and their string offsets, sorted
    by name (see :meth:`BTF._name_range`)."""

    __slots__ = ("ids", "name_offs")

    def __init__(self, ids: array, name_offs: array) -> None:
        self.ids, self.name_offs = ids, name_offs

    def __len__(self) -> int:
        return len(self.ids)


def _read(path: str, what: str, stat: bool = False) -> "Any":
    """The bytes of ``path`` (``stat``: and the ``fstat`` of the file read)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno()) if stat or path == VMLINUX_PATH else None
            data = _mmap_copy(f.fileno(), st.st_size) if path == VMLINUX_PATH and st is not None else None
            if data is None:
                data = f.read()
            return (data, st) if stat else data
    except FileNotFoundError:
        if path.startswith(os.path.dirname(VMLINUX_PATH) + "/"):
            if what == "vmlinux":
                raise NotSupportedError("kernel BTF", f"{path} is missing (needs CONFIG_DEBUG_INFO_BTF=y)") from None
            raise NotSupportedError("module BTF", f"{path} is missing (module not loaded, or built "
                                                  "without CONFIG_DEBUG_INFO_BTF_MODULES)") from None
        raise


def _mmap_copy(fd: int, size: int) -> Optional[bytes]:
    """The first ``size`` bytes of ``fd`` through a private read-only mapping, or None.

    The kernel's BTF can be mmapped since Linux 6.16 (read-only, private); one copy
    from the mapping is ~3x faster than ``read()``, which sysfs serves a page per call.
    """
    if size <= 0:
        return None
    try:
        with mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ) as m:
            return m[:]
    except (OSError, ValueError, OverflowError, AttributeError):
        return None


# ---------------------------------------------------------------------- decoders
# Each decoder gets (btf, name, vlen, kind_flag, size_or_type, pos_after_header).
Decoder = Callable[[BTF, str, int, int, int, int], Type]


def _d_int(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
    (v,) = b._lay.u32.unpack_from(b._data, pos)
    return Int(name, st, encoding=(v >> 24) & 0xF, bits=v & 0xFF, offset=(v >> 16) & 0xFF)


def _d_array(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
    et, it, n = b._lay.u32x3.unpack_from(b._data, pos)
    t = Array(et, it, n)
    t.name = name
    return t


def _d_composite(cls: type) -> Decoder:
    def dec(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
        members = []
        string = b.string
        for n, ty, off in b._records("III", pos, vlen):
            m = Member(string(n), ty, off & 0xFFFFFF, off >> 24) if kf else Member(string(n), ty, off, 0)
            m._btf = b
            members.append(m)
        return cls(name, st, members, kind_flag=bool(kf))
    return dec


def _d_enum(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
    fmt = "Ii" if kf else "II"
    return Enum(name, st, [EnumValue(b.string(n), v) for n, v in b._records(fmt, pos, vlen)], bool(kf))


def _d_enum64(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
    vals = []
    for n, lo, hi in b._records("III", pos, vlen):
        v = (hi << 32) | lo
        if kf and v >= 1 << 63:
            v -= 1 << 64
        vals.append(EnumValue(b.string(n), v))
    return Enum64(name, st, vals, bool(kf))


def _d_ref(cls: type) -> Decoder:
    def dec(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
        t = cls.__new__(cls)
        Type.__init__(t, name)
        t._type = st
        if cls is TypeTag:
            t.attribute = bool(kf)
        return t  # type: ignore[no-any-return]
    return dec


def _d_func_proto(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
    params = []
    for n, ty in b._records("II", pos, vlen):
        p = Param(b.string(n), ty)
        p._btf = b
        params.append(p)
    t = FuncProto(st, params)
    t.name = name
    return t


def _d_var(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
    (linkage,) = b._lay.u32.unpack_from(b._data, pos)
    return Var(name, st, linkage)


def _d_datasec(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
    vs = []
    for ty, off, size in b._records("III", pos, vlen):
        v = VarSecinfo(ty, off, size)
        v._btf = b
        vs.append(v)
    return Datasec(name, st, vs)


def _d_decl_tag(b: BTF, name: str, vlen: int, kf: int, st: int, pos: int) -> Type:
    (idx,) = b._lay.i32.unpack_from(b._data, pos)
    return DeclTag(name, st, idx, bool(kf))


_DECODERS: dict[int, Decoder] = {
    Kind.INT: _d_int,
    Kind.PTR: _d_ref(Ptr),
    Kind.ARRAY: _d_array,
    Kind.STRUCT: _d_composite(Struct),
    Kind.UNION: _d_composite(Union),
    Kind.ENUM: _d_enum,
    Kind.FWD: lambda b, name, vlen, kf, st, pos: Fwd(name, bool(kf)),
    Kind.TYPEDEF: _d_ref(Typedef),
    Kind.VOLATILE: _d_ref(Volatile),
    Kind.CONST: _d_ref(Const),
    Kind.RESTRICT: _d_ref(Restrict),
    Kind.FUNC: lambda b, name, vlen, kf, st, pos: Func(name, st, vlen),
    Kind.FUNC_PROTO: _d_func_proto,
    Kind.VAR: _d_var,
    Kind.DATASEC: _d_datasec,
    Kind.FLOAT: lambda b, name, vlen, kf, st, pos: Float(name, st),
    Kind.DECL_TAG: _d_decl_tag,
    Kind.TYPE_TAG: _d_ref(TypeTag),
    Kind.ENUM64: _d_enum64,
}
