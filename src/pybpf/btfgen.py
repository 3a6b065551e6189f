"""Minimal BTF for CO-RE (``bpftool gen min_core_btf``, the "BTFgen" algorithm).

Given a full kernel BTF (``INPUT``) and BPF objects, :func:`min_core_btf` keeps
only what the objects' CO-RE relocations resolve to:

* field relocations: the root type and, along the access path, each struct
  or union with only the members accessed (at their original offsets, size
  unchanged) and the members' types (pointers not followed);
* type relocations (``bpf_core_type_exists/size``, ``TYPE_ID_TARGET``): the
  type, composites without members, pointers followed;
* ``bpf_core_type_matches``: the type with all members, recursively, stopping
  behind pointers;
* enum value relocations: the whole enum.

Each relocation is resolved against ``INPUT`` with :mod:`pybpf.btf.core`
(same candidates and matching as the loader); the result is written with
:class:`pybpf.btf.Builder`, types in their ``INPUT`` order. Loading the objects
with the result as CO-RE target (``btf_targets=[...]``, ``prog load ...
kernel_btf FILE``) gives the same relocations as with the full BTF.
"""

from __future__ import annotations

from typing import Any, Iterable

from .btf import BTF, Builder
from .btf.core import CoreCache, resolve_relo
from .btf.core_match import Spec, parse_spec, spec_match
from .btf.ext import CoreReloKind
from .btf.types import (Array, Const, Enum, Enum64, EnumValue, Float, FuncProto, Fwd, Int, Kind, Member, Param, Ptr,
                        Restrict, Struct, Type, TypeTag, Typedef, Volatile)
from .btf.types import Union as BTFUnion
from .errors import Error

__all__ = ["BTFGen", "min_core_btf"]

K = CoreReloKind
_FIELD = (K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_EXISTS, K.FIELD_SIGNED, K.FIELD_LSHIFT_U64,
          K.FIELD_RSHIFT_U64)
_TYPE = (K.TYPE_ID_TARGET, K.TYPE_EXISTS, K.TYPE_SIZE)
_ENUMVAL = (K.ENUMVAL_EXISTS, K.ENUMVAL_VALUE)
_MODS = (Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG)
_LEAF = (Kind.UNKN, Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64)


class BTFGen:
    """Marks the types and members of ``src`` that relocations use; :meth:`build` writes them."""

    def __init__(self, src: BTF) -> None:
        self.src = src
        self.types: set[int] = set()
        self.members: dict[int, set[int]] = {}

    # ----------------------------------------------------------------- marking
    def _unsupported(self, t: Type, tid: int) -> Error:
        return Error(f"unsupported kind: {t.kind.name} ({tid})")

    def mark_type(self, tid: int, follow_ptrs: bool) -> None:
        """btfgen_mark_type()."""
        if tid == 0:
            return
        t = self.src[tid]
        self.types.add(tid)
        k = t.kind
        if k in _LEAF or k in (Kind.STRUCT, Kind.UNION):
            return
        if k == Kind.PTR:
            if follow_ptrs:
                self.mark_type(t.type_id or 0, follow_ptrs)  # type: ignore[attr-defined]
        elif k in (Kind.CONST, Kind.RESTRICT, Kind.VOLATILE, Kind.TYPEDEF):
            self.mark_type(t.type_id or 0, follow_ptrs)  # type: ignore[attr-defined]
        elif k == Kind.ARRAY:
            self.mark_type(t.type_id or 0, follow_ptrs)  # type: ignore[attr-defined]
            self.mark_type(t.index_type_id or 0, follow_ptrs)  # type: ignore[attr-defined]
        elif k == Kind.FUNC_PROTO:
            self.mark_type(t.return_type_id or 0, follow_ptrs)  # type: ignore[attr-defined]
            for p in t.params:  # type: ignore[attr-defined]
                self.mark_type(p.type_id or 0, follow_ptrs)
        else:
            raise self._unsupported(t, tid)

    def mark_member(self, tid: int, idx: int) -> None:
        self.members.setdefault(tid, set()).add(idx)

    def mark_type_match(self, tid: int, behind_ptr: bool) -> None:
        """btfgen_mark_type_match(): members too, but nothing behind a pointer."""
        if tid == 0:
            return
        t = self.src[tid]
        self.types.add(tid)
        k = t.kind
        if k in _LEAF:
            return
        if k in (Kind.STRUCT, Kind.UNION):
            if behind_ptr:
                return
            for i, m in enumerate(t.members):  # type: ignore[attr-defined]
                self.mark_member(tid, i)
                self.mark_type_match(m.type_id or 0, False)
        elif k in (Kind.CONST, Kind.FWD, Kind.RESTRICT, Kind.TYPEDEF, Kind.VOLATILE):
            self.mark_type_match(getattr(t, "type_id", 0) or 0, behind_ptr)
        elif k == Kind.PTR:
            self.mark_type_match(t.type_id or 0, True)  # type: ignore[attr-defined]
        elif k == Kind.ARRAY:
            self.mark_type_match(t.type_id or 0, False)  # type: ignore[attr-defined]
            self.mark_type_match(t.index_type_id or 0, False)  # type: ignore[attr-defined]
        elif k == Kind.FUNC_PROTO:
            self.mark_type_match(t.return_type_id or 0, False)  # type: ignore[attr-defined]
            for p in t.params:  # type: ignore[attr-defined]
                self.mark_type_match(p.type_id or 0, False)
        else:
            raise self._unsupported(t, tid)

    def record_field(self, spec: Spec) -> None:
        """btfgen_record_field_relo(): the members along the access path."""
        tid = spec.root_type_id
        t = self.src[tid]
        self.mark_type(tid, False)
        for i in range(1, len(spec.raw_spec)):
            while t.kind in _MODS or t.kind == Kind.TYPEDEF:
                tid = t.type_id or 0  # type: ignore[attr-defined]
                t = self.src[tid]
            if t.kind in (Kind.STRUCT, Kind.UNION):
                idx = spec.raw_spec[i]
                self.mark_member(tid, idx)
                tid = t.members[idx].type_id or 0  # type: ignore[attr-defined]
                t = self.src[tid]
                self.mark_type(tid, False)
            elif t.kind == Kind.ARRAY:
                tid = t.type_id or 0  # type: ignore[attr-defined]
                t = self.src[tid]
            else:
                raise self._unsupported(t, tid)

    def record(self, spec: Spec) -> None:
        kind = spec.relo_kind
        if kind in _FIELD:
            self.record_field(spec)
        elif kind in _TYPE:
            self.mark_type(spec.root_type_id, True)
        elif kind == K.TYPE_MATCHES:
            self.mark_type_match(spec.root_type_id, False)
        elif kind in _ENUMVAL:
            self.mark_type(spec.root_type_id, False)
        elif kind != K.TYPE_ID_LOCAL:
            raise Error(f"unknown CO-RE relocation kind {kind}")

    # ----------------------------------------------------------------- objects
    def add_object(self, local: BTF, relos: Iterable[Any], log: Any = None) -> int:
        """Record the relocations ``relos`` (CoreRelo records of ``local``); how many were recorded."""
        cache = CoreCache()
        n = 0
        for i, relo in enumerate(relos):
            if relo.kind == K.TYPE_ID_LOCAL:
                continue
            res = resolve_relo(relo, local, [self.src], relo_index=i, cache=cache, log=log)
            if res.target is None:
                continue  # nothing matched: nothing to keep
            lspec = parse_spec(local, relo.type_id, relo.access_str, relo.kind)
            tspec = Spec(self.src, res.target.type_id, relo.kind)
            if not spec_match(lspec, self.src, res.target.type_id, tspec):
                raise Error(f"relocation #{i} of [{relo.type_id}]: candidate no longer matches")
            self.record(tspec)
            n += 1
        return n

    # ----------------------------------------------------------------- output
    def build(self) -> bytes:
        """The minimized BTF blob (marked types in ``src`` order, ids renumbered, other refs -> void)."""
        order = sorted(self.types)
        ids = {old: new for new, old in enumerate(order, 1)}
        b = Builder()
        for old in order:
            b.add(self._copy(self.src[old], ids, self.members.get(old, set())))
        return b.to_bytes()

    @staticmethod
    def _copy(t: Any, ids: dict[int, int], members: set[int]) -> Type:
        r = lambda tid: ids.get(tid or 0, 0)  # noqa: E731 - unmarked types become void
        k = t.kind
        if k in (Kind.STRUCT, Kind.UNION):
            cls: Any = Struct if k == Kind.STRUCT else BTFUnion
            return cls(t.name, t.size, [Member(m.name, r(m.type_id), m.bit_offset, m.bitfield_size)
                                        for i, m in enumerate(t.members) if i in members])
        if k == Kind.INT:
            return Int(t.name, t.size, bits=t.bits, offset=t.offset, encoding=int(t.encoding))
        if k == Kind.FLOAT:
            return Float(t.name, t.size)
        if k in (Kind.ENUM, Kind.ENUM64):
            cls2: Any = Enum if k == Kind.ENUM else Enum64
            return cls2(t.name, t.size, [EnumValue(v.name, v.value) for v in t.values], signed=t.signed)
        if k == Kind.PTR:
            return Ptr(r(t.type_id))
        if k == Kind.TYPEDEF:
            return Typedef(t.name, r(t.type_id))
        if k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
            return {Kind.CONST: Const, Kind.VOLATILE: Volatile, Kind.RESTRICT: Restrict}[k](r(t.type_id))
        if k == Kind.TYPE_TAG:
            return TypeTag(t.name, r(t.type_id), t.attribute)
        if k == Kind.ARRAY:
            return Array(r(t.type_id), r(t.index_type_id), t.nelems)
        if k == Kind.FUNC_PROTO:
            return FuncProto(r(t.return_type_id), [Param(p.name, r(p.type_id)) for p in t.params])
        if k == Kind.FWD:
            return Fwd(t.name, t.is_union)
        raise Error(f"unsupported kind: {k.name} ({t.id})")


def min_core_btf(src: "BTF | str", objects: Iterable[Any], log: Any = None) -> bytes:
    """The minimal BTF (raw bytes) of ``src`` (a BTF or a path: raw BTF or an ELF with .BTF) that the
    CO-RE relocations of ``objects`` (paths or bytes of BPF objects) need."""
    from . import elf
    from .btf.spec import BTF as _BTF

    if not isinstance(src, _BTF):
        with open(src, "rb") as f:
            data = f.read()
        if data[:4] == b"\x7fELF":
            b = elf.open(data).btf
            if b is None:
                raise Error(f"{src}: no .BTF section")
            src = b
        else:
            src = _BTF.from_bytes(data)
    gen = BTFGen(src)
    for obj in objects:
        spec = elf.open(obj)
        where = obj if isinstance(obj, str) else "<bytes>"
        if spec.btf is None or spec.btf_ext is None:
            raise Error(f"failed to parse BPF object '{where}': section .BTF.ext not found")
        for sec, relos in spec.btf_ext.core_relos.items():
            gen.add_object(spec.btf, relos, log)
    return gen.build()
