"""C-ish spelling of BTF types: ``struct foo *``, ``unsigned int[4]``,
``int (*)(void *, long)``, ``char *const``.

Used by :meth:`BTF.type_name` and error messages. Type tags are left out
(they are not part of C declarator syntax); the full C dumper lives elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BTFError
from .types import Kind, Type

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = ["type_name"]

_QUALS = {Kind.CONST: "const", Kind.VOLATILE: "volatile", Kind.RESTRICT: "restrict"}
_SKIP = frozenset({Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG})
_BUDGET = 10_000
_MAX_DEPTH = 64


class _State:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = _BUDGET

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise BTFError("BTF: type too complex or cyclic to name")


def type_name(btf: "BTF | None", t: "Type | int", name: str = "") -> str:
    """The C spelling of ``t``; with ``name``, a declaration of ``name``."""
    if isinstance(t, int):
        if btf is None:
            raise BTFError("type_name: an id needs a BTF")
        t = btf[t]
    return _decl(t, name, [], _State(), 0).strip()


def base_name(t: Type) -> str:
    """The type-specifier part: ``struct foo``, ``enum bar``, ``__u32``, ``void``."""
    k = t.kind
    if k in (Kind.STRUCT, Kind.UNION):
        kw = "struct" if k == Kind.STRUCT else "union"
        return f"{kw} {t.name}" if t.name else f"{kw} {{...}}"
    if k in (Kind.ENUM, Kind.ENUM64):
        return f"enum {t.name}" if t.name else "enum {...}"
    if k == Kind.FWD:
        return f"{'union' if t.is_union else 'struct'} {t.name}"  # type: ignore[attr-defined]
    if k == Kind.UNKN:
        return "void"
    return t.name or f"<anon {k.name.lower()}>"


def _join(base: str, inner: str) -> str:
    if not inner:
        return base
    if inner[0] == "[":
        return base + inner
    return f"{base} {inner}"


def _wrap(inner: str) -> str:
    return f"({inner})" if inner.startswith("*") else inner


def _decl(t: Type, inner: str, quals: list[str], st: _State, depth: int) -> str:
    st.spend()
    if depth > _MAX_DEPTH:
        raise BTFError("BTF: type chain too long or cyclic to name")
    k = t.kind
    if k in _SKIP:
        target = t.type  # type: ignore[attr-defined]
        if k == Kind.TYPE_TAG:
            return _decl(target, inner, quals, st, depth + 1)
        q = _QUALS[k]
        under = target
        for _ in range(_MAX_DEPTH):
            if under.kind not in _SKIP:
                break
            under = under.type  # type: ignore[attr-defined]
        if under.kind == Kind.PTR:
            return _decl(target, f"{q} {inner}" if inner else q, quals, st, depth + 1)
        return _decl(target, inner, quals + [q], st, depth + 1)
    if k == Kind.PTR:
        return _decl(t.type, "*" + inner, quals, st, depth + 1)  # type: ignore[attr-defined]
    if k == Kind.ARRAY:
        return _decl(t.type, f"{_wrap(inner)}[{t.nelems}]", quals, st, depth + 1)  # type: ignore[attr-defined]
    if k == Kind.FUNC_PROTO:
        params = []
        for p in t.params:  # type: ignore[attr-defined]
            if not p.name and p.type_id == 0:
                params.append("...")
            else:
                params.append(_decl(p.type, "", [], st, depth + 1).strip())
        plist = ", ".join(params) if params else "void"
        return _decl(t.return_type, f"{_wrap(inner)}({plist})", quals, st, depth + 1)  # type: ignore[attr-defined]
    if k == Kind.FUNC:
        return _decl(t.proto, inner or t.name, quals, st, depth + 1)  # type: ignore[attr-defined]
    if k == Kind.VAR:
        return _decl(t.type, inner or t.name, quals, st, depth + 1)  # type: ignore[attr-defined]
    if k == Kind.DATASEC:
        return _join(f"SEC({t.name!r})", inner)
    if k == Kind.DECL_TAG:
        return _decl(t.type, inner, quals, st, depth + 1)  # type: ignore[attr-defined]
    base = base_name(t)
    if quals:
        base = " ".join(quals) + " " + base
    return _join(base, inner)
