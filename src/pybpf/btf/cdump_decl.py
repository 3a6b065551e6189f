"""Declarations for the C dumper: ``btf_dump_emit_type_decl`` and friends.

A declaration is assembled from the chain of types between a name and its
terminal type (int, struct, typedef, ...): pointers, qualifiers, arrays and
function prototypes wrap the name inside-out (``int (*fns[4])(void)``).
Rendered declarations that contain no inline anonymous definition are
cached per type id as ``(prefix, suffix)`` around the declared name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

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
_QUAL_WORD = {_VOLATILE: "volatile", _CONST: "const", _RESTRICT: "restrict"}
# declaration forms (DeclMixin._simple), 0 if not known yet: none of the simple ones, a named
# type (possibly qualified), pointer last, qualifier after a pointer last
_F_NONE, _F_TERM, _F_PTR, _F_QUAL = 1, 2, 3, 4
_MAX_DEPTH = 64


class DeclMixin:
    """Declaration rendering for :class:`~pybpf.btf.cdump.CDumper`."""

    t: "Tables"
    out: list[str]
    _pre: "list[Optional[str]]"
    _suf: "list[Optional[str]]"
    _decl_cache_anon: dict[int, str]
    _form: bytearray
    _body: "list[Optional[str]]"
    _mods: "list[Optional[str]]"
    _composed: bytearray
    _anon_inline: bool

    if TYPE_CHECKING:  # provided by the other mixins / CDumper
        def _warn(self, msg: str) -> None: ...
        def type_name(self, type_id: int) -> str: ...
        def ident_name(self, type_id: int) -> str: ...
        def _struct_def(self, type_id: int, lvl: int) -> None: ...
        def _enum_def(self, type_id: int, lvl: int) -> None: ...

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
            pre = self._pre[type_id]
            if pre is None:
                c = self._compose(type_id, lvl, 0)
                if c is not None:
                    self.out.append(f"{c[0]}{fname}{c[1]}")
                    return
            else:
                self.out.append(f"{pre}{fname}{self._suf[type_id]}")
                return
        else:
            hit2 = self._decl_cache_anon.get(type_id)
            if hit2 is not None:
                self.out.append(hit2)
                return
            if self._simple(type_id, 0) != _F_NONE:
                body = self._decl_cache_anon[type_id] = self._body[type_id]  # type: ignore[assignment]
                self.out.append(body)  # type: ignore[arg-type]
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
                self._pre[type_id] = pre
                self._suf[type_id] = post
            self.out.append(f"{pre}{fname}{post}")
        else:
            if not anon:
                self._decl_cache_anon[type_id] = text
            self.out.append(text)

    # Declarations are built from the terminal type outwards. Most chains are
    # "simple": pointers and qualifiers over a named type, rendered as a body
    # (``const char *``) that the name follows. _simple() records each type's
    # body and form; _compose() derives templates from the target's, so a
    # declaration costs a few string operations instead of a chain walk
    # (_decl_uncached, which handles everything else, gives the same text).
    def _simple(self, type_id: int, depth: int) -> int:
        """The form of ``type_id``'s declaration (_F_*), recording its body."""
        f = self._form[type_id]
        if f:
            return f
        t = self.t
        k = t.kind[type_id]
        f = _F_NONE
        body = ""
        if type_id == 0:
            body, f = "void", _F_TERM
        elif k == _PTR or k in _QUAL_WORD:
            x = t.st[type_id]
            fx = self._simple(x, depth + 1) if depth < _MAX_DEPTH else _F_NONE
            if fx == _F_NONE:
                pass
            elif k == _PTR:
                body, f = self._body[x] + ("*" if fx == _F_PTR else " *"), _F_PTR  # type: ignore[operator]
            elif fx == _F_TERM:  # qualifiers directly above the named type go first: "const volatile int"
                mods = self._mods[x]
                body = f"{mods}{_QUAL_WORD[k]} {self._body[x][len(mods):]}"  # type: ignore[index, arg-type]
                self._mods[type_id] = f"{mods}{_QUAL_WORD[k]} "
                f = _F_TERM
            else:
                body, f = f"{self._body[x]} {_QUAL_WORD[k]}", _F_QUAL
        elif k == _INT or k == _FLOAT:
            body, f = t.name[type_id], _F_TERM
        elif k == _TYPEDEF:
            body, f = self.ident_name(type_id), _F_TERM
        elif t.name[type_id]:
            if k == _STRUCT:
                body, f = "struct " + self.type_name(type_id), _F_TERM
            elif k == _UNION:
                body, f = "union " + self.type_name(type_id), _F_TERM
            elif k == _ENUM or k == _ENUM64:
                body, f = "enum " + self.type_name(type_id), _F_TERM
            elif k == _FWD:
                body, f = ("union " if t.kflag[type_id] else "struct ") + self.type_name(type_id), _F_TERM
        if f == _F_TERM and self._mods[type_id] is None:
            self._mods[type_id] = ""
        self._body[type_id] = body
        self._form[type_id] = f
        return f

    def _compose(self, type_id: int, lvl: int, depth: int) -> "Optional[tuple[str, str]]":
        """``(prefix, suffix)`` of ``type_id``'s declaration, cached unless it defines
        an anonymous type inline; None if _decl_uncached must render it (then
        nothing was rendered here, and the names resolved so far are the ones
        that it resolves first)."""
        t = self.t
        f = self._simple(type_id, 0)
        if f != _F_NONE:
            pre, suf = (self._body[type_id] if f == _F_PTR else f"{self._body[type_id]} "), ""
        else:
            k = t.kind[type_id]
            if k == _ARRAY and depth < _MAX_DEPTH:
                d = t.hdr[type_id] + 3
                x = t.w[d]
                if self._pre[x] is None:
                    c = self._compose(x, lvl, depth + 1)
                    if c is None:
                        return None
                    pre, suf = c
                elif self._composed[x]:
                    pre, suf = self._pre[x], self._suf[x]  # type: ignore[assignment]
                else:
                    return None
                suf = f"[{t.w[d + 2]}]{suf}"
                if self._pre[x] is None:
                    return pre, suf  # x has an anonymous type inline: so has this
            elif k == _PTR and t.kind[t.st[type_id]] == _FUNC_PROTO:
                proto = t.st[type_id]
                ret = t.st[proto]
                if self._simple(ret, 0) == _F_NONE:
                    return None
                saved_anon = self._anon_inline
                self._anon_inline = False
                params = self._params(proto, lvl)
                anon = self._anon_inline
                self._anon_inline = saved_anon or anon
                pre, suf = f"{self._body[ret]} (*", f")({params})"
                if anon:
                    return pre, suf
            else:
                return None
        self._pre[type_id] = pre
        self._suf[type_id] = suf
        self._composed[type_id] = 1
        return pre, suf

    def _params(self, proto: int, lvl: int) -> str:
        """A prototype's parameter list, as _chain renders it."""
        t = self.t
        w, d, vlen = t.w, t.hdr[proto] + 3, t.vlen[proto]
        if vlen == 0 or (vlen == 1 and w[d + 1] == 0):
            return "void"
        parts = []
        for j in range(d, d + 2 * vlen, 2):
            ptype = w[j + 1]
            if ptype == 0 and j == d + 2 * vlen - 2:
                parts.append("...")
                break
            parts.append(self.type_decl(ptype, t.string(w[j]), lvl))
        return ", ".join(parts)

    def _decl_uncached(self, type_id: int, fname: str, lvl: int) -> None:
        """Render the declaration by walking ``type_id``'s chain to its named type."""
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
        """Qualifiers directly above a named type, which C writes before it."""
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
        """Qualifiers on arrays and functions, which C cannot express."""
        kind = self.t.kind
        while decls and decls[-1] and kind[decls[-1]] in _MOD_KINDS:
            decls.pop()

    def _chain(self, decls: list[int], fname: str, lvl: int) -> None:
        """``btf_dump_emit_type_chain``: the declaration, from the named type (last in
        ``decls``) outwards."""
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
