"""``extern`` symbols of a BPF object: ``__kconfig`` values and ``__ksym`` kernel symbols.

:func:`collect_externs` follows libbpf's ``bpf_object__collect_externs()``:
it classifies every undefined global symbol by the DATASEC its BTF VAR/FUNC
sits in (``.kconfig`` or ``.ksyms``), lays out the ``.kconfig`` map (externs
sorted by alignment, size, name) and rewrites the BTF so the kernel accepts it
(extern VARs become allocated ``int`` VARs, extern FUNCs global FUNCs behind a
``dummy_ksym`` VAR). Values are resolved at load time by the kernel layer.
"""

from __future__ import annotations

import dataclasses
from enum import Enum as _PyEnum

from ..btf.types import (
    Array, Datasec, Enum, Enum64, Func, FuncProto, Int, IntEncoding, Kind, Linkage, Param, Type, Var,
    VarSecinfo,
)
from ..errors import BTFError, ELFError
from .btffix import BTFPatcher
from .reader import ElfObject

__all__ = ["ExternSpec", "ExternKind", "KcfgType", "collect_externs"]


class ExternKind(str, _PyEnum):
    KCONFIG = "kconfig"
    KSYM = "ksym"


class KcfgType(str, _PyEnum):
    CHAR = "char"
    BOOL = "bool"
    INT = "int"
    TRISTATE = "tristate"
    CHAR_ARR = "char_arr"


@dataclasses.dataclass
class ExternSpec:
    """One ``extern``.

    kconfig externs: ``kcfg_type``, ``size``, ``align``, ``offset`` (into the
    ``.kconfig`` map) and ``signed``. ksym externs: ``type_id`` is the local BTF
    type (0 for an untyped ``extern const void x __ksym``, resolved through
    /proc/kallsyms), ``is_func`` marks kfuncs.
    """

    name: str
    kind: ExternKind
    btf_id: int
    weak: bool
    sym_index: int
    kcfg_type: KcfgType | None = None
    size: int = 0
    align: int = 0
    offset: int = 0
    signed: bool = False
    type_id: int = 0
    is_func: bool = False


def _skip_mods(p: BTFPatcher, tid: int) -> int:
    for _ in range(64):
        t = p[tid]
        if t.kind in (Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG):
            tid = t.type_id or 0  # type: ignore[attr-defined]
        else:
            return tid
    raise BTFError("BTF: modifier chain too long")


def _kcfg_type(p: BTFPatcher, tid: int) -> tuple[KcfgType | None, bool]:
    t = p[_skip_mods(p, tid)]
    if isinstance(t, Int):
        if t.encoding & IntEncoding.BOOL:
            return (KcfgType.BOOL if t.size == 1 else None), False
        signed = bool(t.encoding & IntEncoding.SIGNED)
        if t.size == 1:
            return KcfgType.CHAR, signed
        if t.size < 1 or t.size > 8 or t.size & (t.size - 1):
            return None, signed
        return KcfgType.INT, signed
    if isinstance(t, (Enum, Enum64)):
        if t.name == "libbpf_tristate" and (isinstance(t, Enum64) or t.size == 4):
            return KcfgType.TRISTATE, False
        return None, False
    if isinstance(t, Array):
        if not t.nelems or _kcfg_type(p, t.type_id or 0)[0] != KcfgType.CHAR:
            return None, False
        return KcfgType.CHAR_ARR, False
    return None, False


def _find_extern_btf(p: BTFPatcher, name: str) -> int:
    for tid in sorted(p.ids_named(name)):
        t = p[tid]
        if not isinstance(t, (Var, Func)) or t.name != name:
            continue
        if isinstance(t, Var) and t.linkage != Linkage.EXTERN:
            raise ELFError(f"extern {name!r}: BTF VAR is not extern")
        if isinstance(t, Func) and t.linkage != Linkage.EXTERN:
            raise ELFError(f"extern {name!r}: BTF FUNC is not extern")
        return tid
    raise ELFError(f"failed to find BTF for extern {name!r}")


def _find_sec(p: BTFPatcher, type_id: int) -> tuple[int, Datasec]:
    for tid in p.ids_of_kind(Kind.DATASEC):
        t = p[tid]
        if isinstance(t, Datasec) and any(v.type_id == type_id for v in t.vars):
            return tid, t
    raise ELFError(f"failed to find BTF DATASEC of extern [{type_id}]")


def _int32_id(p: BTFPatcher) -> int:
    for tid in p.ids_of_kind(Kind.INT):
        t = p[tid]
        if isinstance(t, Int) and t.bits == 32:
            return tid
    return 0


def collect_externs(elf: ElfObject, p: BTFPatcher | None) -> dict[str, ExternSpec]:
    """All externs, in libbpf's order (kconfig by alignment/size/name, then ksyms by name)."""
    syms = [s for s in elf.symbols if s.is_extern and s.name]
    if not syms:
        return {}
    if p is None:
        raise ELFError(f"extern {syms[0].name!r} needs BTF, but the object has no .BTF section")
    dummy_id = _add_dummy_ksym_var(p)
    exts: list[ExternSpec] = []
    kcfg_sec = ksym_sec = 0
    for s in syms:
        tid = _find_extern_btf(p, s.name)
        t = p[tid]
        sec_id, sec = _find_sec(p, tid)
        e = ExternSpec(t.name, ExternKind.KCONFIG, tid, s.bind == 2, s.index)
        if sec.name == ".kconfig":
            if isinstance(t, Func):
                raise ELFError(f"extern function {t.name!r} is unsupported under .kconfig")
            kcfg_sec = sec_id
            vt = t.type_id or 0  # type: ignore[attr-defined]
            try:
                e.size = p.btf.sizeof(vt)
                e.align = p.btf.alignof(vt)
            except BTFError as err:
                raise ELFError(f"extern (kcfg) {t.name!r}: {err}") from None
            if e.size <= 0 or e.align <= 0:
                raise ELFError(f"extern (kcfg) {t.name!r}: bad size/alignment")
            e.kcfg_type, e.signed = _kcfg_type(p, vt)
            if e.kcfg_type is None:
                raise ELFError(f"extern (kcfg) {t.name!r}: type is unsupported")
        elif sec.name == ".ksyms":
            ksym_sec = sec_id
            e.kind = ExternKind.KSYM
            e.is_func = isinstance(t, Func)
            e.type_id = _skip_mods(p, t.type_id or 0)  # type: ignore[attr-defined]
        else:
            raise ELFError(f"unrecognized extern section {sec.name!r} (extern {t.name!r})")
        exts.append(e)

    def key(e: ExternSpec) -> tuple:
        if e.kind == ExternKind.KCONFIG:
            return (0, -e.align, e.size, e.name)
        return (1, 0, 0, e.name)

    exts.sort(key=key)
    by_name = {e.name: e for e in exts}
    if ksym_sec:
        _rewrite_ksyms(p, ksym_sec, by_name, dummy_id)
    if kcfg_sec:
        off = 0
        for e in exts:
            if e.kind == ExternKind.KCONFIG:
                e.offset = (off + e.align - 1) // e.align * e.align
                off = e.offset + e.size
        ksec = p[kcfg_sec]
        assert isinstance(ksec, Datasec)
        vs = []
        for v in ksec.vars:
            t = p[v.type_id or 0]
            e2 = by_name.get(t.name)
            if e2 is None:
                raise ELFError(f"failed to find extern definition for BTF var {t.name!r}")
            p.put(v.type_id or 0, Var(t.name, t.type_id or 0, Linkage.GLOBAL))  # type: ignore[attr-defined]
            vs.append(VarSecinfo(v.type_id or 0, e2.offset, v.size))
        p.put(kcfg_sec, Datasec(ksec.name, off, vs))
    return by_name


def _add_dummy_ksym_var(p: BTFPatcher) -> int:
    for tid in p.ids_of_kind(Kind.DATASEC):
        t = p[tid]
        if isinstance(t, Datasec) and t.name == ".ksyms":
            if any(isinstance(p[v.type_id or 0], Func) for v in t.vars):
                return p.add(Var("dummy_ksym", _int32_id(p), Linkage.GLOBAL))
            return 0
    return 0


def _rewrite_ksyms(p: BTFPatcher, sec_id: int, by_name: dict[str, ExternSpec], dummy_id: int) -> None:
    sec = p[sec_id]
    assert isinstance(sec, Datasec)
    int_id = _int32_id(p)
    vs = []
    off = 0
    for v in sec.vars:
        vt: Type = p[v.type_id or 0]
        if vt.name not in by_name:
            raise ELFError(f"failed to find extern definition for BTF {vt.kind.name} {vt.name!r}")
        if isinstance(vt, Func):
            proto = p[vt.proto_id or 0]
            if isinstance(proto, FuncProto) and any(pp.type_id and not pp.name for pp in proto.params):
                params = [Param(pp.name or ("dummy_ksym" if pp.type_id else ""), pp.type_id or 0)
                          for pp in proto.params]
                p.put(vt.proto_id or 0, FuncProto(proto.return_type_id or 0, params))
            p.put(v.type_id or 0, Func(vt.name, vt.proto_id or 0, Linkage.GLOBAL))
            vs.append(VarSecinfo(dummy_id, off, 4))
        else:
            p.put(v.type_id or 0, Var(vt.name, int_id, Linkage.GLOBAL))
            vs.append(VarSecinfo(v.type_id or 0, off, 4))
        off += 4
    p.put(sec_id, Datasec(sec.name, off, vs))
