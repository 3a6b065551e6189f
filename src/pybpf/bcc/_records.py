"""Kernel structs a BCC program defines itself, next to vmlinux.h's.

BCC tools re-declare kernel-private structs with the members they need
(``struct mount { struct hlist_node mnt_hash; struct mount *mnt_parent; ... }``,
``struct mnt_namespace``, ``struct slab``); BCC compiles without the kernel's
definition, pybpf with vmlinux.h, which has them all. Two cases:

* the definition names only members the kernel's struct has (those inside ``#if``
  sections aside): it is dropped — the definition becomes ``struct X;`` and
  vmlinux.h's, whose CO-RE-relocated layout is the true one, is used
  (:meth:`pybpf.bcc.rewriter._Rewriter.records_pass`);
* it names members the kernel's lacks (a layout of its own): the source's
  ``struct X`` is renamed ``struct __bcc_user_X`` throughout (:func:`rename_user_records`),
  so the program keeps the layout it describes; kernel-pointer reads through it are
  still rewritten (:mod:`pybpf.bcc._deref` treats it as the kernel struct it stands for).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Collection, Iterator, Optional

from . import _clex as cl

__all__ = ["vmlinux_members", "record_definitions", "member_names", "rename_user_records", "USER_PREFIX",
           "MembersOf"]

USER_PREFIX = "__bcc_user_"

#: ``members_of(tag)``: the member names of the kernel's ``struct tag``/``union tag``, None if it has none.
MembersOf = Callable[[str], Optional[Collection[str]]]

_KEYWORDS = frozenset({"struct", "union", "enum", "const", "volatile", "unsigned", "signed", "int", "char",
                       "short", "long", "void", "float", "double", "_Bool", "bool", "__attribute__",
                       "aligned", "packed"})
_MEMBER = re.compile(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*(?=[;,:])")


def record_members(btf: Any, name: str) -> "Optional[dict[str, Any]]":
    """Named members of ``struct name`` (or union) in ``btf``, through anonymous members,
    mapped to their types (the first one of a name wins); None if there is no such record."""
    from ..btf.types import Kind

    found = btf.find_all(name, Kind.STRUCT) or btf.find_all(name, Kind.UNION)
    if not found:
        return None
    out: dict[str, Any] = {}

    def walk(t: Any, depth: int) -> None:
        t = t.resolve() if hasattr(t, "resolve") else t
        for m in getattr(t, "members", ()):
            if m.name:
                out.setdefault(m.name, m.type)
            elif depth < 8:
                walk(m.type, depth + 1)
    walk(found[0], 0)
    return out


@functools.lru_cache(maxsize=None)
def vmlinux_members(name: str) -> Optional[frozenset[str]]:
    """Member names of the kernel's ``struct name`` (or union), through anonymous members;
    None if the kernel's BTF has no such struct."""
    try:
        from ..btf import BTF
        from ..btf.spec import kernel_btf_has_string

        if not kernel_btf_has_string(name):
            return None  # the usual case for a program's own structs: no BTF parse needed
        members = record_members(BTF.load_vmlinux(), name)
    except Exception:  # no kernel BTF: no kernel structs
        return None
    return None if members is None else frozenset(members)


def record_definitions(ms: str) -> Iterator[tuple[str, int, int]]:
    """(tag, ``{`` offset, ``}`` offset) of each file-scope ``struct tag { ... };`` (or union)
    in masked text ``ms`` — a plain definition: no typedef, no declarator after it."""
    for open_, close in cl.top_level_braces(ms):
        hs = max(ms.rfind(";", 0, open_), ms.rfind("}", 0, open_)) + 1
        mt = re.search(r"(?<![\w])(?:struct|union)\s+([A-Za-z_]\w*)\s*$", ms[hs:open_])
        if mt is None or re.search(r"\btypedef\b", ms[hs:hs + mt.start()]):
            continue
        if ms[close + 1:].lstrip().startswith(";"):
            yield mt.group(1), open_, close


def member_names(ms: str, open_: int, close: int, conds: cl.Conditionals) -> set[str]:
    """The member names a definition's body ``ms[open_ + 1:close]`` declares outside ``#if``
    sections of its own (those may be for other kernel versions)."""
    here = conds.path(open_)
    out = set()
    for mt in _MEMBER.finditer(ms, open_ + 1, close):
        name = mt.group(1)
        if name not in _KEYWORDS and conds.path(mt.start()) == here:
            out.add(name)
    return out


def rename_user_records(source: str, members_of: MembersOf) -> tuple[str, dict[str, str]]:
    """``source`` with the kernel structs it defines with members the kernel's lacks renamed
    ``__bcc_user_<tag>`` everywhere; and {new tag: kernel tag}."""
    m = cl.mask(source)
    spans = cl.directive_spans(m)
    ms = cl.blank_spans(m, spans)
    conds = cl.Conditionals(m, spans)
    own = set()
    for tag, open_, close in record_definitions(ms):
        kernel = members_of(tag)
        if kernel is not None and not member_names(ms, open_, close, conds) <= set(kernel):
            own.add(tag)
    if not own:
        return source, {}
    names = "|".join(sorted((re.escape(t) for t in own), key=len, reverse=True))
    out, pos = [], 0
    for mt in re.finditer(rf"\b(struct|union)(\s+)({names})\b", m):
        out.append(source[pos:mt.start(3)])
        out.append(USER_PREFIX + mt.group(3))
        pos = mt.end(3)
    out.append(source[pos:])
    return "".join(out), {USER_PREFIX + t: t for t in own}
