"""Declarations for the C dumper: ``btf_dump_emit_type_decl`` and friends.

A declaration is assembled from the chain of types between a name and its
terminal type (int, struct, typedef, ...): pointers, qualifiers, arrays and
function prototypes wrap the name inside-out (``int (*fns[4])(void)``).
Rendered declarations that contain no inline anonymous definition are
cached per type id as ``(prefix, suffix)`` around the declared name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cdump_raw import (
    ARRAY as _ARRAY, CONST as _CONST, ENUM as _ENUM, ENUM64 as _ENUM64, FLOAT as _FLOAT, FUNC_PROTO as _FUNC_PROTO,
    FWD as _FWD, INT as _INT, PTR as _PTR, RESTRICT as _RESTRICT, STRUCT as _STRUCT, TYPE_TAG as _TYPE_TAG,
    TYPEDEF as _TYPEDEF, UNION as _UNION, VOLATILE as _VOLATILE,
)

if TYPE_CHECKING:  # pragma: no cover
    from .cdump_raw import Tables

__all__ = ["DeclMixin"]

_MOD_KINDS = frozenset({_VOLATILE, _CONST, _RESTRICT, _TYPE_TAG})
_CHAIN_NEXT = frozenset({_PTR, _VOLATILE, _CONST, _RESTRICT, _FUNC_PROTO, _TYPE_TAG})
_CHAIN_END = frozenset({_INT, _ENUM, _ENUM64, _FWD, _STRUCT, _UNION, _TYPEDEF, _FLOAT})
_MARK = "\x00"


class DeclMixin:
    """Declaration rendering for :class:`~pybpf.btf.cdump.CDumper`."""

    t: "Tables"
    out: list[str]
    _decl_cache: dict[int, tuple[str, str]]
    _decl_cache_anon: dict[int, str]
    _anon_inline: bool

    def _warn(self, msg: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def type_name(self, type_id: int) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def ident_name(self, type_id: int) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _struct_def(self, type_id: int, lvl: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _enum_def(self, type_id: int, lvl: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def type_decl(self, type_id: int, name: str = "", lvl: int = 0) -> str:
        """A C declaration of ``name`` with type ``type_id`` (``int (*name)(void)``)."""
        saved, self.out = self.out, []
        try:
            self._decl(type_id, name, lvl)
            return "".join(self.out)
        finally:
            self.out = saved

    def _decl(self, type_id: int, fname: str, lvl: int) -> None:
        """``btf_dump_emit_type_decl`` with a per-type template cache."""
        if fname:
            hit = self._decl_cache.get(type_id)
            if hit is not None:
                self.out.append(f"{hit[0]}{fname}{hit[1]}")
                return
        else:
            hit2 = self._decl_cache_anon.get(type_id)
            if hit2 is not None:
                self.out.append(hit2)
                return
        saved_out, saved_anon = self.out, self._anon_inline
        self.out = []
        self._anon_inline = False
        try:
            self._decl_uncached(type_id, _MARK if fname else "", lvl)
            text = "".join(self.out)
            anon = self._anon_inline
        finally:
            self.out = saved_out
            self._anon_inline = saved_anon or self._anon_inline
        if fname:
            pre, _, post = text.partition(_MARK)
            if not anon:
                self._decl_cache[type_id] = (pre, post)
            self.out.append(f"{pre}{fname}{post}")
        else:
            if not anon:
                self._decl_cache_anon[type_id] = text
            self.out.append(text)

    def _decl_uncached(self, type_id: int, fname: str, lvl: int) -> None:
        t = self.t
        kind, st, w, hdr = t.kind, t.st, t.w, t.hdr
        stack: list[int] = []
        cur = type_id
        for _ in range(10000):
            stack.append(cur)
            if cur == 0:
                break
            k = kind[cur]
            if k in _CHAIN_NEXT:
                cur = st[cur]
            elif k == _ARRAY:
                cur = w[hdr[cur] + 3]
            else:
                if k not in _CHAIN_END:
                    self._warn(f"unexpected type in decl chain, kind {k}, id [{cur}]")
                break
        self._chain(stack, fname, lvl)

    def _emit_mods(self, decls: list[int]) -> None:
        kind = self.t.kind
        p = self.out.append
        while decls:
            k = kind[decls[-1]] if decls[-1] else 0
            if k == _VOLATILE:
                p("volatile ")
            elif k == _CONST:
                p("const ")
            elif k == _RESTRICT:
                p("restrict ")
            else:
                return
            decls.pop()

    def _drop_mods(self, decls: list[int]) -> None:
        kind = self.t.kind
        while decls and decls[-1] and kind[decls[-1]] in _MOD_KINDS:
            decls.pop()

    def _chain(self, decls: list[int], fname: str, lvl: int) -> None:
        t = self.t
        kind, w, hdr = t.kind, t.w, t.hdr
        p = self.out.append
        last_was_ptr = True
        while decls:
            tid = decls.pop()
            if tid == 0:
                self._emit_mods(decls)
                p("void")
                last_was_ptr = False
                continue
            k = kind[tid]
            if k == _INT or k == _FLOAT:
                self._emit_mods(decls)
                p(t.name[tid])
            elif k == _STRUCT or k == _UNION:
                self._emit_mods(decls)
                if not t.name[tid]:
                    self._anon_inline = True
                    self._struct_def(tid, lvl)
                else:
                    p(f"{'struct' if k == _STRUCT else 'union'} {self.type_name(tid)}")
            elif k == _ENUM or k == _ENUM64:
                self._emit_mods(decls)
                if not t.name[tid]:
                    self._anon_inline = True
                    self._enum_def(tid, lvl)
                else:
                    p(f"enum {self.type_name(tid)}")
            elif k == _FWD:
                self._emit_mods(decls)
                p(f"{'union' if t.kflag[tid] else 'struct'} {self.type_name(tid)}")
            elif k == _TYPEDEF:
                self._emit_mods(decls)
                p(self.ident_name(tid))
            elif k == _PTR:
                p("*" if last_was_ptr else " *")
            elif k == _VOLATILE:
                p(" volatile")
            elif k == _CONST:
                p(" const")
            elif k == _RESTRICT:
                p(" restrict")
            elif k == _TYPE_TAG:
                self._emit_mods(decls)
                if t.kflag[tid]:
                    p(f" __attribute__(({t.name[tid]}))")
                else:
                    p(f' __attribute__((btf_type_tag("{t.name[tid]}")))')
            elif k == _ARRAY:
                nelems = w[hdr[tid] + 5]
                self._drop_mods(decls)
                if not decls:
                    if fname and not last_was_ptr:
                        p(" ")
                    p(f"{fname}[{nelems}]")
                    return
                multidim = decls[-1] != 0 and kind[decls[-1]] == _ARRAY
                if fname and not last_was_ptr:
                    p(" ")
                if not multidim:
                    p("(")
                self._chain(decls, fname, lvl)
                if not multidim:
                    p(")")
                p(f"[{nelems}]")
                return
            elif k == _FUNC_PROTO:
                self._drop_mods(decls)
                if decls:
                    p(" (")
                    self._chain(decls, fname, lvl)
                    p(")")
                else:
                    if fname and not last_was_ptr:
                        p(" ")
                    p(fname)
                p("(")
                vlen = t.vlen[tid]
                d = hdr[tid] + 3
                if vlen == 0 or (vlen == 1 and w[d + 1] == 0):
                    p("void)")
                    return
                for i in range(vlen):
                    if i:
                        p(", ")
                    ptype = w[d + 2 * i + 1]
                    if i == vlen - 1 and ptype == 0:
                        p("...")
                        break
                    pname = t.string(w[d + 2 * i])
                    self._decl(ptype, pname, lvl)
                p(")")
                return
            else:
                self._warn(f"unexpected type in decl chain, kind {k}, id [{tid}]")
                return
            last_was_ptr = k == _PTR
        if fname and not last_was_ptr:
            p(" ")
        p(fname)
