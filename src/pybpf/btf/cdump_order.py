"""Ordering for the C dumper: libbpf's ``btf_dump_order_type``.

A DFS over the type graph from each root queues named definitions in
dependency order: a struct needs the full definitions of what it embeds by
value ("strong" links) but only forward declarations of what it reaches
through pointers ("weak" links), unless an anonymous type sits on the path.

bpftool orders every type id in turn. Most ids need nothing at that point:
their dependencies come earlier in id order, so they were ordered already.
:meth:`OrderMixin._mark_passed` finds those ids in bulk (C-level iteration
over ~130k vmlinux types) and marks them ``PASSED``: the id-order loop skips
them, and a DFS that reaches one below the loop's position treats it as
ordered, exactly as if the loop had visited it.
"""

from __future__ import annotations

from itertools import chain, compress, repeat
from operator import add, itemgetter, lt, mul
from typing import TYPE_CHECKING, Optional

from ..errors import BTFError
from .cdump_raw import (
    ARRAY as _ARRAY, CONST as _CONST, DATASEC as _DATASEC, DECL_TAG as _DECL_TAG, ENUM as _ENUM,
    ENUM64 as _ENUM64, FLOAT as _FLOAT, FUNC as _FUNC, FUNC_PROTO as _FUNC_PROTO, FWD as _FWD, INT as _INT,
    PTR as _PTR, RESTRICT as _RESTRICT, STRUCT as _STRUCT, TYPE_TAG as _TYPE_TAG, TYPEDEF as _TYPEDEF,
    UNION as _UNION, VAR as _VAR, VOLATILE as _VOLATILE, gather, kind_table,
)

if TYPE_CHECKING:  # pragma: no cover
    from .cdump_raw import Members, Tables

__all__ = ["OrderMixin", "NOT_ORDERED", "ORDERING", "ORDERED", "PASSED", "SKIP_TOP"]

NOT_ORDERED, ORDERING, ORDERED, PASSED = 0, 1, 2, 3

_MOD_KINDS = frozenset({_VOLATILE, _CONST, _RESTRICT, _TYPE_TAG})
# kinds that never emit anything at top level
SKIP_TOP = frozenset({_INT, _FLOAT, _FUNC, _VAR, _DATASEC, _DECL_TAG})
_PASSED_KINDS = bytes(PASSED if k in SKIP_TOP else NOT_ORDERED for k in range(256))
_TYPE_REFS = kind_table({_PTR, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _FUNC, _VAR, _DECL_TAG, _TYPE_TAG})
_PARAMS = itemgetter(slice(1, None))


class OrderMixin:
    """Ordering for :class:`~pybpf.btf.cdump.CDumper`."""

    t: "Tables"
    _order: bytearray
    _queue: list[int]
    _top: int
    _referenced: "Optional[set[int]]"
    _protos: "Optional[tuple[list[int], list]]"
    _members: "Members"

    if TYPE_CHECKING:  # provided by CDumper
        def _emit_type(self, type_id: int, cont_id: int) -> None: ...

    def _order_all(self) -> None:
        """Order (and emit) every type in id order, the way bpftool does."""
        ostate = self._order
        self._mark_passed()
        if self._referenced is None:
            self._referenced = self._referenced_anon()
        self._protos = None  # only the two above need them: free ~5 MB before the emission
        find = ostate.find
        order, emit = self._order_type, self._emit_type
        queue = self._queue = []
        i = find(NOT_ORDERED, 1)
        while i > 0:
            self._top = i  # ids below count as ordered (see _mark_passed)
            order(i, False)
            if queue:
                for q in queue:
                    emit(q, 0)
                queue.clear()
            i = find(NOT_ORDERED, i + 1)
        self._top = self.t.n

    def _mark_passed(self) -> None:
        """Mark ``PASSED`` the ids whose turn in the id-order loop would only mark them
        ordered: kinds that emit nothing at top level, pointers and qualifiers whose
        target comes earlier, and prototypes whose return and parameter types do."""
        t = self.t
        kind, st, n = t.kind, t.st, t.n
        ostate = self._order
        if ostate.count(NOT_ORDERED) != n - 1:
            return  # not a fresh dumper: the loop visits every id (the marks only save time)
        ostate[:] = kind.translate(_PASSED_KINDS)
        ostate[0] = ORDERED  # void is always defined
        ids = t.ids(_PTR, *_MOD_KINDS)
        if ids:  # pointers and qualifiers
            for i in compress(ids, map(lt, gather(st, ids), ids)):
                ostate[i] = PASSED
        pids, comps = self._proto_types()
        for i in compress(pids, map(lt, map(max, comps), pids)):
            ostate[i] = PASSED

    def _proto_types(self) -> "tuple[list[int], list]":
        """Ids of the function prototypes, and each one's ``[return, *params]`` type ids."""
        if self._protos is None:
            t = self.t
            pids = t.ids(_FUNC_PROTO)
            starts = list(map(add, gather(t.hdr, pids), repeat(2)))  # return type, then (name, type) pairs
            ends = map(add, starts, map(add, map(mul, gather(t.vlen, pids), repeat(2)), repeat(1)))
            self._protos = pids, list(gather(t.w, list(map(slice, starts, ends, repeat(2)))))
        return self._protos

    def _is_referenced(self, type_id: int) -> bool:
        """Whether some type refers to ``type_id``, an anonymous enum or forward declaration."""
        ref = self._referenced
        if ref is None:
            ref = self._referenced = self._referenced_anon()
        return type_id in ref

    def _referenced_anon(self) -> "set[int]":
        """The anonymous enums and forward declarations some type refers to (libbpf's
        ``btf_dump_mark_referenced``, only for the ids that it matters for)."""
        t = self.t
        w, kind, vlen, hdr, st, name = t.w, t.kind, t.vlen, t.hdr, t.st, t.name
        anon = {i for i in t.ids(_ENUM, _ENUM64, _FWD) if not name[i]}
        if not anon:
            return anon
        refs = anon.intersection(compress(st, kind.translate(_TYPE_REFS)))
        arr = gather(hdr, t.ids(_ARRAY))
        refs.update(anon.intersection(gather(w, list(map(add, arr, repeat(3))))))  # element
        refs.update(anon.intersection(gather(w, list(map(add, arr, repeat(4))))))  # index
        refs.update(anon.intersection(self._members.types))
        for i in t.ids(_DATASEC):
            d = hdr[i] + 3
            refs.update(anon.intersection(w[d:d + 3 * vlen[i]:3]))
        comps = self._proto_types()[1]
        if not anon.isdisjoint(chain.from_iterable(comps)):
            # parameters count, return types do not (as in libbpf)
            refs.update(anon.intersection(chain.from_iterable(map(_PARAMS, comps))))
        return refs

    def _order_type(self, type_id: int, through_ptr: bool) -> int:
        """Queue what ``type_id`` needs, then itself; 1 if it ends up fully defined
        ("strong"), 0 if only reachable through a pointer ("weak")."""
        ostate = self._order
        s = ostate[type_id]
        if s:
            if s == ORDERED:
                return 1
            if s == PASSED:
                if type_id < self._top:
                    ostate[type_id] = ORDERED
                    return 1
            else:
                t = self.t
                k = t.kind[type_id]
                if (k == _STRUCT or k == _UNION) and through_ptr and t.name[type_id]:
                    return 0
                raise BTFError(f"dump_c: unsatisfiable type cycle, id [{type_id}]")
        t = self.t
        k = t.kind[type_id]
        if k == _PTR:
            x = t.st[type_id]
            r = 1 if ostate[x] == ORDERED else self._order_type(x, True)
            ostate[type_id] = ORDERED
            return r
        if k == _STRUCT or k == _UNION:
            named = bool(t.name[type_id])
            if through_ptr and named:
                return 0
            ostate[type_id] = ORDERING
            m = self._members
            s = m.start[type_id]
            order = self._order_type
            for mt in m.types[s:s + t.vlen[type_id]]:
                if ostate[mt] != ORDERED:
                    order(mt, False)
            if named:
                self._queue.append(type_id)
            ostate[type_id] = ORDERED
            return 1
        if k == _TYPEDEF:
            x = t.st[type_id]
            strong = 1 if ostate[x] == ORDERED else self._order_type(x, through_ptr)
            if through_ptr and not strong:
                return 0
            self._queue.append(type_id)
            ostate[type_id] = ORDERED
            return 1
        if k in _MOD_KINDS:
            x = t.st[type_id]
            return 1 if ostate[x] == ORDERED else self._order_type(x, through_ptr)
        if k == _ARRAY:
            x = t.w[t.hdr[type_id] + 3]
            r = 1 if ostate[x] == ORDERED else self._order_type(x, False)
            if ostate[x] == ORDERED:
                ostate[type_id] = ORDERED  # every later visit would return 1 with no effect
            return r
        if k == _ENUM or k == _ENUM64 or k == _FWD:
            if t.name[type_id] or not self._is_referenced(type_id):
                self._queue.append(type_id)
            ostate[type_id] = ORDERED
            return 1
        if k == _FUNC_PROTO:
            r = t.st[type_id]
            strong = ostate[r] == ORDERED or self._order_type(r, through_ptr) > 0
            d = t.hdr[type_id] + 3
            for x in t.w[d + 1:d + 2 * t.vlen[type_id]:2]:
                if ostate[x] == ORDERED or self._order_type(x, through_ptr) > 0:
                    strong = True
            return int(strong)
        if k in SKIP_TOP:
            # not passed by the id-order loop yet (or no such loop): weak, as in libbpf
            ostate[type_id] = ORDERED
            return 0
        if type_id == 0:
            return 0
        raise BTFError(f"dump_c: unexpected kind {k} at id [{type_id}]")
