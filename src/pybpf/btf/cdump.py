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

The work is split by job: :mod:`.cdump_raw` reads the BTF into flat per-id
tables, :mod:`.cdump_order` orders, this module emits (names, forward
declarations, the walk over what a definition needs), :mod:`.cdump_body`
writes definitions and :mod:`.cdump_decl` declarations; :mod:`.cdump_extra`
has bpftool's sorted order, kfunc prototypes and the output cache.

vmlinux has ~130k types, so everything that touches all of them is done with
C-level iteration (``map``, ``itemgetter``, ``bytes.translate``, slicing),
declarations without inline anonymous definitions are rendered once per type
id and reused as ``prefix + name + suffix`` templates, and the id-order loop
only visits ids whose dependencies are not all earlier in id order.
"""

from __future__ import annotations

import gc
from itertools import chain
from typing import TYPE_CHECKING, Iterable, Optional

from ..errors import BTFError
from .cdump_body import BodyMixin
from .cdump_decl import DeclMixin
from .cdump_order import ORDERED as _ORDERED, SKIP_TOP as _SKIP_TOP, OrderMixin
from .cdump_extra import cache_path, cache_store, kfunc_prototypes, sorted_ids, want_cache
from .cdump_raw import (
    ARRAY as _ARRAY, CONST as _CONST, ENUM as _ENUM, ENUM64 as _ENUM64, FUNC_PROTO as _FUNC_PROTO, FWD as _FWD,
    INT as _INT, PTR as _PTR, RESTRICT as _RESTRICT, STRUCT as _STRUCT, TYPE_TAG as _TYPE_TAG, TYPEDEF as _TYPEDEF,
    UNION as _UNION, VOLATILE as _VOLATILE, Members, Tables,
)

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF
    from .types import Type

__all__ = ["dump_c", "CDumper"]

_NOT_EMITTED, _EMITTING, _EMITTED = 0, 1, 2

_PEEL = frozenset({_PTR, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _ARRAY})
_MISSING_BASE_TYPES = {
    "__Poly8_t": "unsigned char",
    "__Poly16_t": "unsigned short",
    "__Poly64_t": "unsigned long long",
    "__Poly128_t": "unsigned __int128",
}


class CDumper(OrderMixin, BodyMixin, DeclMixin):
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
        self._members = Members(t)
        self._cached_names: list[Optional[str]] = [None] * n
        self._resolved = bytearray(n)
        self._referenced: "Optional[set[int]]" = None
        self._type_names: dict[str, int] = {}
        self._ident_names: dict[str, int] = {}
        self._align: list[int] = [-1] * n
        self._size: list[int] = [-2] * n
        self._packed = bytearray(n)  # per struct/union, set with its alignment (cdump_body)
        self._pre: list[Optional[str]] = [None] * n  # declaration templates: prefix + name + suffix
        self._suf: list[Optional[str]] = [None] * n
        self._decl_cache_anon: dict[int, str] = {}
        self._form = bytearray(n)  # declaration forms and bodies (cdump_decl)
        self._body: list[Optional[str]] = [None] * n
        self._mods: list[Optional[str]] = [None] * n
        self._composed = bytearray(n)
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

    # ------------------------------------------------------------------ names
    def _resolve_name(self, type_id: int, names: dict[str, int]) -> str:
        """``btf_dump_resolve_name``: the name, with ``___N`` if an earlier type of the
        namespace ``names`` took it (resolved once, when first needed)."""
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
        """``btf_dump_emit_type``: write ``type_id`` (a top-level definition if
        ``cont_id`` is 0, else as needed inside ``cont_id``'s definition), after
        what it needs; named structs still being written get forward declarations."""
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
                w, kind, st, hdr = t.w, t.kind, t.st, t.hdr
                m = self._members
                first = m.start[type_id]
                emit = self._emit_type
                for mt in m.types[first:first + t.vlen[type_id]]:
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
            w, d, kind, st, hdr = t.w, t.hdr[type_id] + 3, t.kind, t.st, t.hdr
            done = True
            for x in w[d - 1:d + 2 * t.vlen[type_id]:2]:  # return type, then parameter types
                xk = kind[x]
                while xk in _PEEL:
                    x = w[hdr[x] + 3] if xk == _ARRAY else st[x]
                    xk = kind[x]
                if es[x] != _EMITTED:
                    self._emit_type(x, cont_id)
                    done = done and es[x] == _EMITTED
            if done:  # every later visit would find nothing to do
                es[type_id] = _EMITTED
        elif k == _INT:
            alias = _MISSING_BASE_TYPES.get(self.type_name(type_id))
            if alias is not None:
                p(f"typedef {alias} {self.type_name(type_id)};\n\n")
            es[type_id] = _EMITTED

# ---------------------------------------------------------------------- entry point
def _root_ids(btf: "BTF", types: "Iterable[Type | int | str]") -> list[int]:
    """Type ids of ``types`` (ids, names or Types of ``btf``)."""
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
    """The header text: guards and pragmas around the dumped types."""
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
    tail: list[str] = []
    if kfuncs and roots is None:
        tail.append(kfunc_prototypes(d))
    if preserve_access_index:
        tail.append("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n")
    if header_guard:
        tail.append(f"#endif /* {header_guard} */\n")
    return "".join(chain(head, d.out, tail))  # one copy of the ~3 MB text
