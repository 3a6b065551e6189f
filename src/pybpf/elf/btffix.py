"""Rewrite an object's BTF the way libbpf does before handing it to the kernel.

* :func:`fixup_datasecs` — libbpf's ``btf_fixup_datasec()``: clang leaves
  DATASEC sizes and VAR offsets zero; fill them from the ELF section sizes and
  symbols, turn hidden globals into static VARs, sort VARs by offset.
* :func:`mark_static` — global subprograms with hidden visibility get a static
  FUNC (more permissive verification), as in ``bpf_object__sanitize_and_load_btf()``.
* :func:`sanitize` — libbpf's ``bpf_object__sanitize_btf()``: replace kinds the
  running kernel does not understand (VAR/DATASEC, FUNC/FUNC_PROTO, global
  FUNC linkage, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 and signed ENUM) with
  equivalents older kernels accept. Pure: the feature set is an argument.

Type ids never change: types are replaced in place and new ones appended.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

from ..btf.spec import BTF
from ..btf import types as bt
from ..btf.types import (
    Const, Datasec, Enum, Enum64, EnumValue, Float, Func, FuncProto, Int, Kind, Linkage, Member,
    Struct, Type, Typedef, TypeTag, Var, VarSecinfo,
)
from ..btf.writer import Builder
from ..errors import BTFError, ELFError
from .reader import STB, STT, STV, ElfObject

__all__ = ["BTFPatcher", "fixup_datasecs", "mark_static", "sanitize", "BTFFeatures"]


class BTFPatcher:
    """Edits a parsed BTF by id: :meth:`put` replaces a type, :meth:`add` appends one.

    Replacement types are hand-built and reference other types by integer id.
    :meth:`build` re-encodes (the original string table is kept, so string
    offsets in ``.BTF.ext`` stay valid) and parses the result.
    """

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        self._new: dict[int, Type] = {}
        self._extra: list[Type] = []

    def __getitem__(self, type_id: int) -> Type:
        t = self._new.get(type_id)
        if t is not None:
            return t
        extra = type_id - self.btf.last_id - 1
        if 0 <= extra < len(self._extra):
            return self._extra[extra]
        return self.btf[type_id]

    @property
    def last_id(self) -> int:
        return self.btf.last_id + len(self._extra)

    def ids(self) -> range:
        return range(self.btf.first_id, self.last_id + 1)

    def ids_of_kind(self, kind: Kind) -> list[int]:
        """Ids of the types of ``kind`` (the original's by kind index, then appended ones)."""
        out = [t.id or 0 for t in self.btf.iter_types(kind)]
        out.extend(self.btf.last_id + 1 + i for i, t in enumerate(self._extra) if t.kind == kind)
        return out

    def ids_named(self, name: str) -> list[int]:
        """Ids of the types called ``name`` (original and appended)."""
        out = [t.id or 0 for t in self.btf.find_all(name)]
        out.extend(self.btf.last_id + 1 + i for i, t in enumerate(self._extra) if t.name == name)
        return out

    def put(self, type_id: int, t: Type) -> None:
        if not self.btf.first_id <= type_id <= self.last_id:
            raise BTFError(f"cannot replace type id {type_id}")
        extra = type_id - self.btf.last_id - 1
        if extra >= 0:
            self._extra[extra] = t
        else:
            self._new[type_id] = t

    def add(self, t: Type) -> int:
        self._extra.append(t)
        return self.last_id

    @property
    def changed(self) -> bool:
        return bool(self._new or self._extra)

    def to_bytes(self) -> bytes:
        if not self.changed:
            return self.btf.data
        b = Builder(base=self.btf.base, byteorder=self.btf.byteorder)
        b.add_btf(self.btf)
        types = b._types  # noqa: SLF001 - id-preserving in-place replacement
        first = self.btf.first_id
        for tid, t in self._new.items():
            types[tid - first] = t
        for t in self._extra:
            b._register(t)  # noqa: SLF001 - append with the next id, references kept verbatim
        return b.to_bytes()

    def build(self) -> BTF:
        return BTF.from_bytes(self.to_bytes(), self.btf.base)


# ---------------------------------------------------------------------- copies
def copy_datasec(t: Datasec, size: int | None = None, vars: Iterable[VarSecinfo] | None = None) -> Datasec:
    vs = [VarSecinfo(v.type_id or 0, v.offset, v.size) for v in (t.vars if vars is None else vars)]
    return Datasec(t.name, t.size if size is None else size, vs)


def copy_members(t: "Struct | bt.Union") -> list[Member]:
    return [Member(m.name, m.type_id or 0, m.bit_offset, m.bitfield_size) for m in t.members]


# ---------------------------------------------------------------------- open-time fixups
def _find_var_sym(elf: ElfObject, name: str):  # type: ignore[no-untyped-def]
    for s in elf.symbols:
        if s.type == STT.OBJECT and s.bind in (STB.GLOBAL, STB.WEAK) and s.name == name:
            return s
    return None


def fixup_datasecs(p: BTFPatcher, elf: ElfObject) -> None:
    """libbpf's ``bpf_object_fixup_btf()`` over every DATASEC."""
    for tid in p.ids_of_kind(Kind.DATASEC):
        t = p[tid]
        if not isinstance(t, Datasec):
            continue
        name = t.name
        if not name:
            raise ELFError(f"BTF: DATASEC [{tid}] has no name")
        vars_ = [VarSecinfo(v.type_id or 0, v.offset, v.size) for v in t.vars]
        size = t.size
        if name not in (".kconfig", ".ksyms"):
            fix_offsets = False
            if size == 0:
                sec = elf.section_by_name(name)
                if sec is None or not sec.size:
                    raise ELFError(f"BTF: DATASEC {name!r}: no ELF section to take its size from")
                size, fix_offsets = sec.size, True
            for i, vs in enumerate(vars_):
                var = p[vs.type_id or 0]
                if not isinstance(var, Var):
                    raise ELFError(f"BTF: DATASEC {name!r}: member #{i} is not a VAR")
                if var.linkage in (Linkage.STATIC, Linkage.EXTERN):
                    continue
                sym = _find_var_sym(elf, var.name)
                if sym is None:
                    raise ELFError(f"BTF: DATASEC {name!r}: no ELF symbol for VAR {var.name!r}")
                if fix_offsets:
                    vs.offset = sym.value
                if sym.visibility in (STV.HIDDEN, STV.INTERNAL):
                    p.put(vs.type_id or 0, Var(var.name, var.type_id or 0, Linkage.STATIC))
        vars_.sort(key=lambda v: v.offset)
        new = Datasec(name, size, vars_)
        if size != t.size or [(v.type_id, v.offset, v.size) for v in vars_] != \
                [(v.type_id, v.offset, v.size) for v in t.vars]:
            p.put(tid, new)


def mark_static(p: BTFPatcher, names: Iterable[str]) -> None:
    """Make the global FUNCs called ``names`` static (hidden-visibility subprograms)."""
    want = set(names)
    if not want:
        return
    for tid in sorted(i for n in want for i in p.ids_named(n)):
        t = p[tid]
        if isinstance(t, Func) and t.linkage == Linkage.GLOBAL and t.name in want:
            p.put(tid, Func(t.name, t.proto_id or 0, Linkage.STATIC))
            want.discard(t.name)


# ---------------------------------------------------------------------- sanitizer
@dataclasses.dataclass(frozen=True)
class BTFFeatures:
    """Which BTF kinds the target kernel accepts (libbpf's FEAT_BTF_* probes)."""

    func: bool = True
    global_func: bool = True
    datasec: bool = True
    float: bool = True
    decl_tag: bool = True
    type_tag: bool = True
    enum64: bool = True

    @property
    def complete(self) -> bool:
        return all(dataclasses.astuple(self))


def sanitize(btf: BTF, feats: BTFFeatures) -> BTF:
    """A copy of ``btf`` that a kernel with ``feats`` accepts (``btf`` itself if nothing to do).

    Same transforms as libbpf's ``bpf_object__sanitize_btf()``.
    """
    if feats.complete:
        return btf
    p = BTFPatcher(btf)
    placeholder = 0
    for tid in range(btf.first_id, btf.last_id + 1):
        t = btf[tid]
        k = t.kind
        if (not feats.datasec and k == Kind.VAR) or (not feats.decl_tag and k == Kind.DECL_TAG):
            p.put(tid, Int(t.name, 1, bits=8))
        elif not feats.datasec and isinstance(t, Datasec):
            members = []
            for v in t.vars:
                vt = btf[v.type_id or 0]
                members.append(Member(vt.name, v.type_id or 0, v.offset * 8))
            p.put(tid, Struct(t.name.replace(".", "_"), t.size, members, kind_flag=False))
        elif not feats.func and isinstance(t, FuncProto):
            vals = [EnumValue(pp.name, pp.type_id or 0) for pp in t.params]
            p.put(tid, Enum(t.name, 4, vals))
        elif not feats.func and isinstance(t, Func):
            p.put(tid, Typedef(t.name, t.proto_id or 0))
        elif not feats.global_func and isinstance(t, Func):
            p.put(tid, Func(t.name, t.proto_id or 0, Linkage.STATIC))
        elif not feats.float and isinstance(t, Float):
            p.put(tid, Struct("", t.size, [], kind_flag=False))
        elif not feats.type_tag and isinstance(t, TypeTag):
            p.put(tid, Const(t.type_id or 0))
        elif not feats.enum64 and isinstance(t, Enum) and t.signed:
            p.put(tid, Enum(t.name, t.size, list(t.values), False))
        elif not feats.enum64 and isinstance(t, Enum64):
            if not placeholder:
                placeholder = p.add(Int("enum64_placeholder", 1))
            p.put(tid, bt.Union(t.name, t.size, [Member(v.name, placeholder, 0) for v in t.values],  # type: ignore[operator]
                                kind_flag=False))
    return p.build()
