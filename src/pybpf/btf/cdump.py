"""BTF -> C header (``vmlinux.h``), like ``bpftool btf dump file ... format c``.

::

    from pybpf.btf import BTF
    from pybpf.btf.cdump import dump_c
    open("vmlinux.h", "w").write(dump_c(BTF.load_vmlinux()))

The algorithm is libbpf's ``btf_dump.c`` (rewritten, not translated line by
line, but with the same observable behaviour):

1. *Ordering*: a DFS over the type graph from each root emits named
   definitions in dependency order. A struct needs the full definitions of
   what it embeds by value ("strong" links) but only forward declarations of
   what it reaches through pointers ("weak" links), unless an anonymous type
   sits on the path (anonymous types are defined inline, so their
   dependencies become the parent's).
2. *Emission*: each queued type is written out; referencing a struct that is
   still being emitted produces a forward declaration, typedefs double as
   forward declarations, anonymous structs/unions/enums are inlined, and
   declarators (pointers, arrays, function prototypes, qualifiers) are
   assembled inside-out. Layout is reproduced with explicit padding
   (``long: 64;``), ``: 0`` alignment marks and ``__attribute__((packed))``;
   enums of unusual size get ``mode(byte)``/``mode(word)``; duplicate names
   get ``___N`` suffixes.

Declarations without inline anonymous definitions are rendered once per type
id and reused as ``prefix + name + suffix`` templates, which keeps the
output of ~130k vmlinux types fast in pure Python.
"""

from __future__ import annotations

import gc
from itertools import repeat
from operator import add, and_, itemgetter, mod, mul, rshift
from typing import TYPE_CHECKING, Iterable, Optional

from ..errors import BTFError
from .cdump_decl import DeclMixin
from .cdump_order import ORDERED as _ORDERED, SKIP_TOP as _SKIP_TOP, OrderMixin
from .cdump_extra import cache_path, cache_store, kfunc_prototypes, sorted_ids, want_cache
from .cdump_raw import (
    ARRAY as _ARRAY, CONST as _CONST, DATASEC as _DATASEC, DECL_TAG as _DECL_TAG, ENUM as _ENUM,
    ENUM64 as _ENUM64, FLOAT as _FLOAT, FUNC_PROTO as _FUNC_PROTO, FWD as _FWD, INT as _INT,
    PTR as _PTR, RESTRICT as _RESTRICT, STRUCT as _STRUCT, TYPE_TAG as _TYPE_TAG, TYPEDEF as _TYPEDEF,
    UNION as _UNION, VAR as _VAR, VOLATILE as _VOLATILE, Tables,
)

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF
    from .types import Type

__all__ = ["dump_c", "CDumper"]

_NOT_EMITTED, _EMITTING, _EMITTED = 0, 1, 2

_PEEL = frozenset({_PTR, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _ARRAY})
_SIZED = frozenset({_INT, _STRUCT, _UNION, _ENUM, _ENUM64, _DATASEC, _FLOAT})
_SIZE_FOLLOW = frozenset({_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _VAR, _DECL_TAG, _TYPE_TAG})
_ALIGN_FOLLOW = frozenset({_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG})
_TABS = ["\t" * i for i in range(64)]

_MISSING_BASE_TYPES = {
    "__Poly8_t": "unsigned char",
    "__Poly16_t": "unsigned short",
    "__Poly64_t": "unsigned long long",
    "__Poly128_t": "unsigned __int128",
}
_R8 = repeat(8)  # infinite iterators are safe to share: map() stops at the shortest input
_R24 = repeat(24)
_M24 = repeat(0xFFFFFF)
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_JOIN3 = "{}{}{}".format


def _tabs(lvl: int) -> str:
    return _TABS[lvl] if lvl < len(_TABS) else "\t" * lvl


class CDumper(OrderMixin, DeclMixin):
    """Incremental BTF-to-C converter (libbpf's ``struct btf_dump``).

    :meth:`dump_type` emits a type and everything it needs that was not
    emitted yet; :meth:`type_decl` renders a declaration; :meth:`text` is the
    output so far. Warnings about malformed BTF are collected in
    :attr:`warnings` (output continues, as libbpf does).
    """

    def __init__(self, btf: "BTF") -> None:
        self.btf = btf
        t = self.t = Tables(btf)
        n = t.n
        self.out: list[str] = []
        self.warnings: list[str] = []
        self._order = bytearray(n)
        self._emit = bytearray(n)
        self._order[0] = _ORDERED  # void is always defined
        self._emit[0] = _EMITTED
        self._fwd = bytearray(n)
        self._cached_names: list[Optional[str]] = [None] * n
        self._resolved = bytearray(n)
        self._referenced: "Optional[set[int]]" = None
        self._type_names: dict[str, int] = {}
        self._ident_names: dict[str, int] = {}
        self._align: list[int] = [-1] * n
        self._size: list[int] = [-2] * n
        self._decl_cache: dict[int, tuple[str, str]] = {}
        self._decl_cache_anon: dict[int, str] = {}
        self._anon_inline = False
        self._queue: list[int] = []
        self._top = 0  # the id-order loop's position: PASSED ids below it count as ordered
        self._protos: "Optional[tuple[list[int], list]]" = None

    # ------------------------------------------------------------------ public API
    def text(self) -> str:
        """Everything emitted so far."""
        return "".join(self.out)

    def dump_type(self, type_id: int) -> None:
        """Emit ``type_id`` and, first, every type its definition needs."""
        if not 0 <= type_id < self.t.n:
            raise BTFError(f"dump_c: no type id {type_id}")
        self._queue = []
        self._order_type(type_id, False)
        for q in self._queue:
            self._emit_type(q, 0)

    def dump_all(self, order: "Iterable[int] | None" = None) -> None:
        """Emit every type (in id order, or ``order``), the way bpftool does."""
        if order is None:
            self._order_all()
            return
        t = self.t
        kind, ostate = t.kind, self._order
        order_type, emit = self._order_type, self._emit_type
        for i in order:
            if ostate[i] == _ORDERED:
                continue  # ordered types emit nothing new at top level
            if kind[i] in _SKIP_TOP:
                ostate[i] = _ORDERED
                continue
            queue: list[int] = []
            self._queue = queue
            order_type(i, False)
            for q in queue:
                emit(q, 0)

    # ------------------------------------------------------------------ helpers
    def _warn(self, msg: str) -> None:
        self.warnings.append(msg)

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
        cache = self._align
        a = cache[type_id]
        if a >= 0:
            return a
        t = self.t
        kind = t.kind
        k = kind[type_id]
        if k in (_INT, _ENUM, _ENUM64, _FLOAT):
            a = min(t.ptr_size, t.st[type_id])
        elif k == _PTR:
            a = t.ptr_size
        elif k in _ALIGN_FOLLOW:
            a = self.align_of(t.st[type_id])
        elif k == _ARRAY:
            a = self.align_of(t.w[t.hdr[type_id] + 3])
        elif k == _STRUCT or k == _UNION:
            w, d, kf = t.w, t.hdr[type_id] + 3, t.kflag[type_id]
            best = 1
            a = 0
            for j in range(d, d + 3 * t.vlen[type_id], 3):
                ma = self.align_of(w[j + 1])
                if ma <= 0:
                    a = ma
                    break
                if ma > best:
                    best = ma
                off = w[j + 2]
                if (not kf or not off >> 24) and (off & 0xFFFFFF if kf else off) % (8 * ma):
                    a = 1
                    break
            else:
                a = 1 if t.st[type_id] % best else best
        else:
            a = 0
        cache[type_id] = a
        return a

    def _is_packed(self, type_id: int, mts: list, moffs: list, bits: "list[int] | None") -> bool:
        """``btf_is_struct_packed``: a member is misaligned or the size is not a
        multiple of the alignment. ``moffs`` are bit offsets without bitfield sizes."""
        aligns = list(map(self._align.__getitem__, mts))
        if -1 in aligns:
            aligns = list(map(self.align_of, mts))
        if bits is None and 0 not in aligns:
            if any(map(mod, moffs, map(mul, aligns, _R8))):
                return True
        else:
            for a, off, b in zip(aligns, moffs, bits or repeat(0)):
                if a and not b and off % (8 * a):
                    return True
        return self.t.st[type_id] % max(aligns) != 0

    # ------------------------------------------------------------------ names
    def _resolve_name(self, type_id: int, names: dict[str, int]) -> str:
        t = self.t
        orig = t.name[type_id]
        if not orig:
            return ""
        if self._resolved[type_id]:
            c = self._cached_names[type_id]
            return c if c is not None else orig
        self._resolved[type_id] = 1
        k = t.kind[type_id]
        if k == _FWD or (k == _ENUM and not t.vlen[type_id]):
            return orig
        dup = names.get(orig, 0) + 1
        names[orig] = dup
        if dup > 1:
            c = self._cached_names[type_id] = f"{orig}___{dup}"
            return c
        return orig

    def type_name(self, type_id: int) -> str:
        """The (deduplicated) struct/union/enum name of ``type_id``."""
        if self._resolved[type_id]:
            c = self._cached_names[type_id]
            return c if c is not None else self.t.name[type_id]
        return self._resolve_name(type_id, self._type_names)

    def ident_name(self, type_id: int) -> str:
        """The (deduplicated) typedef name of ``type_id``."""
        if self._resolved[type_id]:
            c = self._cached_names[type_id]
            return c if c is not None else self.t.name[type_id]
        return self._resolve_name(type_id, self._ident_names)

    # ------------------------------------------------------------------ emission
    def _peel(self, type_id: int) -> int:
        """Skip pointers, qualifiers and arrays: emitting them only emits their target."""
        t = self.t
        kind = t.kind
        k = kind[type_id]
        while k in _PEEL:
            type_id = t.w[t.hdr[type_id] + 3] if k == _ARRAY else t.st[type_id]
            k = kind[type_id]
        return type_id

    def _emit_type(self, type_id: int, cont_id: int) -> None:
        es = self._emit
        s = es[type_id]
        if s == _EMITTED:
            return
        t = self.t
        k = t.kind[type_id]
        p = self.out.append
        if s == _EMITTING:
            if self._fwd[type_id]:
                return
            if k == _STRUCT or k == _UNION:
                if type_id == cont_id:
                    return
                if not t.name[type_id]:
                    self._warn(f"anonymous struct/union loop, id [{type_id}]")
                    return
                p(f"{'struct' if k == _STRUCT else 'union'} {self.type_name(type_id)};\n\n")
                self._fwd[type_id] = 1
            elif k == _TYPEDEF:
                if t.name[type_id] != "__builtin_va_list":
                    self._typedef_def(type_id, 0)
                    p(";\n\n")
                self._fwd[type_id] = 1
            return
        if k == _STRUCT or k == _UNION:
            es[type_id] = _EMITTING
            named = bool(t.name[type_id])
            top = cont_id == 0
            if top or not named:
                new_cont = type_id if named else cont_id
                w, d, kind, st, hdr = t.w, t.hdr[type_id] + 3, t.kind, t.st, t.hdr
                emit = self._emit_type
                for mt in w[d + 1:d + 3 * t.vlen[type_id]:3]:
                    # pointers, qualifiers and arrays only forward to their target
                    mk = kind[mt]
                    while mk in _PEEL:
                        mt = w[hdr[mt] + 3] if mk == _ARRAY else st[mt]
                        mk = kind[mt]
                    if es[mt] != _EMITTED:
                        emit(mt, new_cont)
            elif not self._fwd[type_id] and type_id != cont_id:
                p(f"{'struct' if k == _STRUCT else 'union'} {self.type_name(type_id)};\n\n")
                self._fwd[type_id] = 1
            if top:
                self._struct_def(type_id, 0)
                p(";\n\n")
                es[type_id] = _EMITTED
            else:
                es[type_id] = _NOT_EMITTED
        elif k == _TYPEDEF:
            es[type_id] = _EMITTING
            x = self._peel(t.st[type_id])
            if es[x] != _EMITTED:
                self._emit_type(x, type_id)
            if not self._fwd[type_id] and t.name[type_id] != "__builtin_va_list":
                self._typedef_def(type_id, 0)
                p(";\n\n")
            es[type_id] = _EMITTED
        elif k in _PEEL:
            x = self._peel(type_id)
            if es[x] != _EMITTED:
                self._emit_type(x, cont_id)
        elif k == _ENUM or k == _ENUM64:
            if cont_id == 0:
                self._enum_def(type_id, 0)
                p(";\n\n")
            es[type_id] = _EMITTED
        elif k == _FWD:
            p(f"{'union' if t.kflag[type_id] else 'struct'} {self.type_name(type_id)};\n\n")
            es[type_id] = _EMITTED
        elif k == _FUNC_PROTO:
            w, d, peel = t.w, t.hdr[type_id] + 3, self._peel
            x = peel(t.st[type_id])
            if es[x] != _EMITTED:
                self._emit_type(x, cont_id)
            for x in w[d + 1:d + 2 * t.vlen[type_id]:2]:
                x = peel(x)
                if es[x] != _EMITTED:
                    self._emit_type(x, cont_id)
        elif k == _INT:
            alias = _MISSING_BASE_TYPES.get(self.type_name(type_id))
            if alias is not None:
                p(f"typedef {alias} {self.type_name(type_id)};\n\n")
            es[type_id] = _EMITTED

    def _bit_padding(self, cur: int, nxt: int, next_align: int, in_bitfield: bool, lvl: int) -> None:
        if cur >= nxt:
            return
        p = self.out.append
        ind = _tabs(lvl)
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
                p(f"\n{ind}{pad_type}: {new_off - cur if in_bitfield else 0};")
            cur = new_off
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                p(f"\n{ind}{pad_type}: {pad_bits};")
                cur += bits
                continue
            for pad_type, pad_bits in reversed(pads):
                if pad_bits < bits:
                    continue
                p(f"\n{ind}{pad_type}: {bits};")
                cur += bits
                break

    def _struct_def(self, type_id: int, lvl: int) -> None:
        t = self.t
        p = self.out.append
        is_struct = t.kind[type_id] == _STRUCT
        named = t.name[type_id]
        p(f"{'struct' if is_struct else 'union'}{' ' if named else ''}{self.type_name(type_id) if named else ''} {{")
        vlen, size = t.vlen[type_id], t.st[type_id]
        if not vlen:
            if is_struct and size:
                self._bit_padding(0, size * 8, self.align_of(type_id), False, lvl + 1)
            p(f"\n{_tabs(lvl)}}}" if size else "}")
            return
        w, d, kf = t.w, t.hdr[type_id] + 3, t.kflag[type_id]
        e = d + 3 * vlen
        mts = w[d + 1:e:3].tolist()
        moffs = w[d + 2:e:3].tolist()
        fnames = t.strings(w[d:e:3])
        bits: "list[int] | None" = None
        if kf:
            bits = list(map(rshift, moffs, _R24))
            if any(bits):
                moffs = list(map(and_, moffs, _M24))
            else:
                bits = None
        # member declarations, rendered in order (name resolution has side effects)
        tpls = list(map(self._decl_cache.get, mts))
        if None in tpls or "" in fnames:
            decls = []
            for mt, fname, tpl in zip(mts, fnames, tpls):
                if tpl is not None and fname:
                    decls.append(f"{tpl[0]}{fname}{tpl[1]}")
                else:
                    decls.append(self.type_decl(mt, fname, lvl + 1))
        else:
            decls = list(map(_JOIN3, map(_FIRST, tpls), fnames, map(_SECOND, tpls)))  # type: ignore[arg-type]
        sizes = list(map(self._size.__getitem__, mts))
        if -2 in sizes:
            sizes = list(map(self.size_of, mts))
        packed = is_struct and self._is_packed(type_id, mts, moffs, bits)
        ind = "\n" + _tabs(lvl + 1)
        if bits is None and -1 not in sizes and (
                not is_struct or (moffs[0] == 0 and moffs[1:] == list(map(add, moffs, map(mul, sizes, _R8)))[:-1])):
            # no bitfields, no holes: one line per member
            p("".join(map((ind + "{};").format, decls)))
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
        p(f"\n{_tabs(lvl)}}}")
        if packed:
            p(" __attribute__((packed))")

    def _enum_def(self, type_id: int, lvl: int) -> None:
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
        ind = "\n" + _tabs(lvl + 1)
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
        p(f"\n{_tabs(lvl)}}}")
        size = t.st[type_id]
        if size == 1:
            p(" __attribute__((mode(byte)))")
        elif size == 8 and t.ptr_size == 8 and (not is64 or all_lo):
            p(" __attribute__((mode(word)))")

    def _typedef_def(self, type_id: int, lvl: int) -> None:
        t = self.t
        name = self.ident_name(type_id)
        if t.st[type_id] == 0 and name == "__gnuc_va_list":
            self.out.append("typedef __builtin_va_list __gnuc_va_list")
            return
        self.out.append("typedef ")
        self._decl(t.st[type_id], name, lvl)


# ---------------------------------------------------------------------- entry point
def _root_ids(btf: "BTF", types: "Iterable[Type | int | str]") -> list[int]:
    from .layout import _get
    ids = []
    for x in types:
        t = _get(btf, x) if not isinstance(x, int) else None
        tid = x if isinstance(x, int) else t.id  # type: ignore[union-attr]
        if tid is None:
            raise BTFError(f"dump_c: {x!r} is not a type of this BTF")
        ids.append(tid)
    return ids


def dump_c(btf: "BTF", *, types: "Iterable[Type | int | str] | None" = None,
           header_guard: "str | None" = "__VMLINUX_H__", preserve_access_index: bool = True,
           kfuncs: bool = False, sort: bool = False, cache: "bool | None" = None) -> str:
    """C source declaring ``btf``'s types, like ``bpftool btf dump ... format c``.

    ``types``: only these roots (ids, names or Types) and what they need;
    default all types. ``header_guard``: include-guard macro (None: none).
    ``preserve_access_index``: wrap in bpftool's ``#pragma clang attribute
    push(preserve_access_index)`` block (disabled by ``-DBPF_NO_PRESERVE_ACCESS_INDEX``).
    ``kfuncs``: append ``extern ... __weak __ksym`` prototypes of kfuncs
    (newer bpftool's ``BPF_NO_KFUNC_PROTOTYPES`` section). ``sort``: newer
    bpftool's stable name-sorted order instead of id order.

    ``cache``: keep the result on disk (next to the BTF index cache, keyed by
    a hash of the BTF and the options) and reuse it: True, False, or None
    (default) for blobs of 256 KiB and more such as vmlinux.
    """
    roots = None if types is None else _root_ids(btf, types)
    opts = (roots, header_guard, preserve_access_index, kfuncs, sort)
    path = cache_path(btf, opts) if want_cache(btf, cache) else None
    if path is not None:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                return f.read()
        except OSError:
            pass
    # ~10^5 short-lived containers: generational GC passes would only slow this down
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        text = _dump(btf, roots, header_guard, preserve_access_index, kfuncs, sort)
    finally:
        if gc_was_on:
            gc.enable()
    if path is not None:
        cache_store(path, text)
    return text


def _dump(btf: "BTF", roots: "list[int] | None", header_guard: "str | None", preserve_access_index: bool,
          kfuncs: bool, sort: bool) -> str:
    d = CDumper(btf)
    head: list[str] = []
    if header_guard:
        head.append(f"#ifndef {header_guard}\n#define {header_guard}\n\n")
    if preserve_access_index:
        head.append("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute push "
                    "(__attribute__((preserve_access_index)), apply_to = record)\n#endif\n\n")
    if kfuncs:
        head.append('#ifndef __ksym\n#define __ksym __attribute__((section(".ksyms")))\n#endif\n\n'
                    "#ifndef __weak\n#define __weak __attribute__((weak))\n#endif\n\n"
                    "#ifndef __bpf_fastcall\n#if __has_attribute(bpf_fastcall)\n"
                    "#define __bpf_fastcall __attribute__((bpf_fastcall))\n#else\n"
                    "#define __bpf_fastcall\n#endif\n#endif\n\n")
    if roots is not None:
        for tid in roots:
            d.dump_type(tid)
    else:
        d.dump_all(sorted_ids(d) if sort else None)
    body = d.text()
    tail: list[str] = []
    if kfuncs and roots is None:
        tail.append(kfunc_prototypes(d))
    if preserve_access_index:
        tail.append("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n")
    if header_guard:
        tail.append(f"#endif /* {header_guard} */\n")
    return "".join(head) + body + "".join(tail)
