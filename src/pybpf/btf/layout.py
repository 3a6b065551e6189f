"""Type layout queries: resolve, sizeof, alignof, member offsets.

These are the functions behind :meth:`BTF.resolve`, :meth:`BTF.sizeof`,
:meth:`BTF.alignof` and :meth:`BTF.member_offset`. All walks are bounded
(:data:`~pybpf.btf._format.MAX_RESOLVE_DEPTH` hops, a node budget for
branching walks) so cyclic or hostile BTF raises :class:`BTFError` instead of
recursing forever.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import BTFError
from ._format import MAX_RESOLVE_DEPTH
from .types import MODIFIER_KINDS, Kind, Member, MemberNotFound, Type, TypeNotFound

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = ["resolve", "sizeof", "alignof", "member_offset", "member_bit_offset", "find_composite"]

_SIZED = frozenset({Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.STRUCT, Kind.UNION, Kind.FLOAT, Kind.DATASEC})
_COMPOSITE = (Kind.STRUCT, Kind.UNION)
_BUDGET = 200_000


class _Budget:
    __slots__ = ("left",)

    def __init__(self, n: int = _BUDGET) -> None:
        self.left = n

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise BTFError("BTF: type graph too large or cyclic")


def _get(btf: "BTF", t: "Type | int | str") -> Type:
    if isinstance(t, str):
        name = t.strip()
        for prefix in ("struct ", "union ", "enum "):
            if name.startswith(prefix):
                kind = Kind.STRUCT if prefix == "struct " else Kind.UNION if prefix == "union " else Kind.ENUM
                found = btf.find_all(name[len(prefix):].strip(), kind)
                if kind == Kind.ENUM:
                    found += btf.find_all(name[len(prefix):].strip(), Kind.ENUM64)
                if not found:
                    raise TypeNotFound(f"BTF has no {name!r}")
                return found[0]
        return btf.find(name)
    return btf[t] if isinstance(t, int) else t


def resolve(btf: "BTF", t: "Type | int | str") -> Type:
    """Follow typedef/const/volatile/restrict/type_tag to the underlying type."""
    t = _get(btf, t)
    for _ in range(MAX_RESOLVE_DEPTH):
        if t.kind not in MODIFIER_KINDS:
            return t
        t = t.type  # type: ignore[attr-defined]
    raise BTFError(f"BTF: modifier chain too long or cyclic at {t!r}")


def sizeof(btf: "BTF", t: "Type | int | str") -> int:
    """Size in bytes; BTFError for types without a size (func, fwd, void)."""
    t = _get(btf, t)
    n = 1
    for _ in range(MAX_RESOLVE_DEPTH):
        k = t.kind
        if k in _SIZED:
            return n * t.size  # type: ignore[attr-defined]
        if k == Kind.PTR:
            return n * btf.pointer_size
        if k == Kind.ARRAY:
            n *= t.nelems  # type: ignore[attr-defined]
            t = t.type  # type: ignore[attr-defined]
        elif k in MODIFIER_KINDS or k == Kind.VAR:
            t = t.type  # type: ignore[attr-defined]
        else:
            raise BTFError(f"BTF: {k.name.lower()} {t.name or '(anon)'} has no size")
    raise BTFError(f"BTF: type chain too long or cyclic at {t!r}")


def alignof(btf: "BTF", t: "Type | int | str") -> int:
    """Alignment in bytes, computed like libbpf's ``btf__align_of``: scalars
    align to ``min(size, pointer size)``, structs to their most aligned member,
    or 1 when a member offset or the size shows the struct is packed."""
    return _alignof(btf, _get(btf, t), _Budget(), 0)


def _alignof(btf: "BTF", t: Type, budget: _Budget, depth: int) -> int:
    budget.spend()
    if depth > MAX_RESOLVE_DEPTH:
        raise BTFError("BTF: type nesting too deep or cyclic")
    t = resolve(btf, t)
    k = t.kind
    if k in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FLOAT):
        return max(1, min(t.size, btf.pointer_size))  # type: ignore[attr-defined]
    if k == Kind.PTR:
        return btf.pointer_size
    if k == Kind.ARRAY or k == Kind.VAR:
        return _alignof(btf, t.type, budget, depth + 1)  # type: ignore[attr-defined]
    if k in _COMPOSITE:
        best = 1
        for m in t.members:  # type: ignore[attr-defined]
            a = _alignof(btf, m.type, budget, depth + 1)
            best = max(best, a)
            if not m.bitfield_size and m.bit_offset % (8 * a):
                return 1
        return 1 if t.size % best else best  # type: ignore[attr-defined]
    raise BTFError(f"BTF: {k.name.lower()} {t.name or '(anon)'} has no alignment")


_TOKEN = re.compile(r"\s*(?:(\.)?\s*([^.\[\]\s]+)|\[\s*(\d+)\s*\])")


def _parse_path(path: str) -> list["str | int"]:
    toks: list[str | int] = []
    pos = 0
    path = path.strip()
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None or m.end() == pos or (m.group(2) and toks and not m.group(1)):
            raise ValueError(f"bad member path {path!r} at offset {pos}")
        if m.group(2):
            toks.append(m.group(2))
        else:
            toks.append(int(m.group(3)))
        pos = m.end()
    if not toks:
        raise ValueError("empty member path")
    return toks


def find_composite(btf: "BTF", what: "Type | int | str") -> Type:
    """A struct/union given as a Type, an id, or a name (``"foo"``,
    ``"struct foo"``, ``"union foo"``, or a typedef name)."""
    if isinstance(what, str):
        name, kinds = what.strip(), (Kind.STRUCT, Kind.UNION, Kind.TYPEDEF)
        for prefix, kind in (("struct ", Kind.STRUCT), ("union ", Kind.UNION)):
            if name.startswith(prefix):
                name, kinds = name[len(prefix):].strip(), (kind,)
        for cand in btf.find_all(name):
            if cand.kind in kinds:
                r = resolve(btf, cand)
                if r.kind in _COMPOSITE:
                    return r
        raise TypeNotFound(f"BTF has no struct/union {what!r}")
    t = resolve(btf, _get(btf, what))
    if t.kind not in _COMPOSITE:
        raise BTFError(f"BTF: {t!r} is not a struct or union")
    return t


def _find_member(btf: "BTF", comp: Type, name: str, budget: _Budget, depth: int
                 ) -> "tuple[int, Member] | None":
    """(bit offset relative to ``comp``, member) of ``name``, searching anonymous members too."""
    if depth > MAX_RESOLVE_DEPTH:
        raise BTFError("BTF: anonymous member nesting too deep or cyclic")
    members = comp.members  # type: ignore[attr-defined]
    for m in members:
        budget.spend()
        if m.name == name:
            return m.bit_offset, m
    for m in members:
        if not m.name:
            inner = resolve(btf, m.type)
            if inner.kind in _COMPOSITE:
                hit = _find_member(btf, inner, name, budget, depth + 1)
                if hit is not None:
                    return m.bit_offset + hit[0], hit[1]
    return None


def _walk(btf: "BTF", struct: "Type | int | str", path: str) -> "tuple[int, Type, Member | None]":
    """(bit offset, type, last member or None if the path ends in a subscript)."""
    toks = _parse_path(path)
    if not isinstance(toks[0], str):
        raise ValueError(f"member path {path!r} must start with a member name")
    cur: Type = find_composite(btf, struct)
    bits, member, budget = 0, None, _Budget()
    for tok in toks:
        r = resolve(btf, cur)
        if isinstance(tok, str):
            if r.kind not in _COMPOSITE:
                raise MemberNotFound(f"{path!r}: cannot look up {tok!r} in non-struct {btf.type_name(r)!r}")
            hit = _find_member(btf, r, tok, budget, 0)
            if hit is None:
                raise MemberNotFound(f"{btf.type_name(r)} has no member {tok!r} (path {path!r})")
            bits += hit[0]
            member = hit[1]
            cur = member.type
        else:
            if r.kind != Kind.ARRAY:
                raise MemberNotFound(f"{path!r}: cannot index non-array {btf.type_name(r)!r}")
            cur = r.type  # type: ignore[attr-defined]
            bits += tok * sizeof(btf, cur) * 8
            member = None
    return bits, cur, member


def member_bit_offset(btf: "BTF", struct: "Type | int | str", path: str) -> tuple[int, Member]:
    """``(bit_offset, Member)`` of ``path`` (``"a.b[2].c"``) inside ``struct``.

    Array subscripts step over whole elements; the path must end at a member.
    """
    bits, _t, member = _walk(btf, struct, path)
    if member is None:
        raise ValueError(f"member path {path!r} must end with a member name")
    return bits, member


def member_offset(btf: "BTF", struct: "Type | int | str", path: str) -> tuple[int, Type]:
    """``(byte_offset, type)`` of ``path`` inside ``struct`` (the path may end in a
    subscript, giving the element). For a bitfield the offset is that of the
    byte holding its first bit; see :func:`member_bit_offset`."""
    bits, t, _m = _walk(btf, struct, path)
    return bits // 8, t
