"""CO-RE relocation values: libbpf's ``bpf_core_calc_relo`` and helpers.

Given the local spec and the matched target spec (or None when no candidate
matched), compute the value the instruction must hold now (``orig_val``, from
the local BTF) and the value to patch in (``new_val``), or request poisoning.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .core_match import (
    CoreFail, Spec, get_type, is_enumval_based, is_field_based, is_type_based, relo_kind_str,
    resolve_size, s32, skip_mods,
)
from .ext import CoreReloKind
from .types import Kind

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = ["RelocValue", "calc_relo"]

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_ENUMS = (Kind.ENUM, Kind.ENUM64)
_LITTLE = sys.byteorder == "little"  # libbpf uses the host byte order for LSHIFT_U64


@dataclass
class RelocValue:
    """``struct bpf_core_relo_res``: what to check in and patch into the instruction."""

    #: Value the instruction must hold now (unless ``validate`` is False).
    orig_val: int = 0
    #: Value to patch in.
    new_val: int = 0
    #: Relocation failed in an allowed way: poison the instruction instead.
    poison: bool = False
    #: Whether ``orig_val`` is checked against the instruction.
    validate: bool = True
    #: Load/store size would have to change in a way that corrupts the value.
    fail_memsz_adjust: bool = False
    orig_sz: int = 0
    new_sz: int = 0
    orig_type_id: int = 0
    new_type_id: int = 0


class _Poison(Exception):
    """libbpf's -EUCLEAN: request instruction poisoning."""


def _elem_size(btf: "BTF", tid: int) -> int:
    t, eid = skip_mods(btf, tid)
    while t.kind == Kind.ARRAY:
        t, eid = skip_mods(btf, t.type_id)  # type: ignore[attr-defined]
    try:
        return resolve_size(btf, eid)
    except CoreFail as e:
        raise CoreFail("EINVAL", e.message) from None


def _calc_field(kind: int, spec: Optional[Spec]) -> tuple[int, int, int, bool]:
    """``bpf_core_calc_field_relo``: (value, field size, field type id, validate)."""
    if kind == CoreReloKind.FIELD_EXISTS:
        return (1 if spec is not None else 0), 0, 0, True
    if spec is None:
        raise _Poison()
    btf = spec.btf
    acc = spec.spec[-1]
    if not acc.name:
        if kind == CoreReloKind.FIELD_BYTE_OFFSET:
            return spec.bit_offset // 8, _elem_size(btf, acc.type_id), acc.type_id, True
        if kind == CoreReloKind.FIELD_BYTE_SIZE:
            return resolve_size(btf, acc.type_id), 0, 0, True
        raise CoreFail("EINVAL", f"<{relo_kind_str(kind)}> relocation can't be applied to array access")
    t = get_type(btf, acc.type_id)
    m = t.members[acc.idx]  # type: ignore[attr-defined]
    mt, field_type_id = skip_mods(btf, m.type_id)
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = getattr(mt, "size", 0)
        if byte_sz <= 0:
            raise CoreFail("EINVAL", f"bitfield {m.name!r} has a type of no size")
        byte_off = bit_off // 8 // byte_sz * byte_sz
        # smallest load size that covers the bitfield
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise CoreFail("E2BIG", f"bitfield {m.name!r} can't be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        try:
            byte_sz = resolve_size(btf, field_type_id)
        except CoreFail as e:
            raise CoreFail("EINVAL", e.message) from None
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    # bitfield relocations are ambiguous: compilers may pick other load sizes
    validate = not bitfield
    field_sz = type_id = 0
    if kind == CoreReloKind.FIELD_BYTE_OFFSET:
        val = byte_off
        if not bitfield:
            field_sz, type_id = _elem_size(btf, field_type_id), field_type_id
    elif kind == CoreReloKind.FIELD_BYTE_SIZE:
        val = byte_sz
    elif kind == CoreReloKind.FIELD_SIGNED:
        val = int((mt.kind in _ENUMS and bool(mt.signed))  # type: ignore[attr-defined]
                  or (mt.kind == Kind.INT and bool(mt.encoding & 1)))  # type: ignore[attr-defined]
        validate = True
    elif kind == CoreReloKind.FIELD_LSHIFT_U64:
        if _LITTLE:
            val = (64 - (bit_off + bit_sz - byte_off * 8)) & _M32
        else:
            val = ((8 - byte_sz) * 8 + (bit_off - byte_off * 8)) & _M32
    elif kind == CoreReloKind.FIELD_RSHIFT_U64:
        val = (64 - bit_sz) & _M32
        validate = True
    else:
        raise CoreFail("EOPNOTSUPP", f"unrecognized CO-RE relocation {relo_kind_str(kind)} ({kind})")
    return val, field_sz, type_id, validate


def _calc_type(kind: int, spec: Optional[Spec]) -> int:
    """``bpf_core_calc_type_relo`` (missing target type: 0)."""
    if spec is None:
        return 0
    if kind == CoreReloKind.TYPE_ID_TARGET:
        return spec.root_type_id
    if kind in (CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES):
        return 1
    if kind == CoreReloKind.TYPE_SIZE:
        try:
            return resolve_size(spec.btf, spec.root_type_id)
        except CoreFail as e:
            raise CoreFail("EINVAL", e.message) from None
    raise CoreFail("EOPNOTSUPP", f"unrecognized CO-RE relocation {relo_kind_str(kind)} ({kind})")


def _calc_enumval(kind: int, spec: Optional[Spec]) -> int:
    """``bpf_core_calc_enumval_relo``; like libbpf, a 32-bit enumerator is
    sign-extended to 64 bits (``struct btf_enum.val`` is ``__s32``)."""
    if kind == CoreReloKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if kind != CoreReloKind.ENUMVAL_VALUE:
        raise CoreFail("EOPNOTSUPP", f"unrecognized CO-RE relocation {relo_kind_str(kind)} ({kind})")
    if spec is None:
        raise _Poison()
    t = get_type(spec.btf, spec.spec[0].type_id)
    v = t.values[spec.spec[0].idx].value  # type: ignore[attr-defined]
    if t.kind == Kind.ENUM:
        return s32(v) & _M64
    return v & _M64


def calc_relo(kind: int, local: Spec, targ: Optional[Spec]) -> RelocValue:
    """``bpf_core_calc_relo``: original and new values for one candidate (``targ``
    None: no candidate matched)."""
    res = RelocValue()
    try:
        if is_field_based(kind):
            res.orig_val, res.orig_sz, res.orig_type_id, res.validate = _calc_field(kind, local)
            res.new_val, res.new_sz, res.new_type_id, _ = _calc_field(kind, targ)
            if res.orig_sz != res.new_sz:
                assert targ is not None
                ot = get_type(local.btf, res.orig_type_id)
                nt = get_type(targ.btf, res.new_type_id)
                # Resizing a load is safe for pointers and unsigned integers (zero extension)
                if ot.kind == Kind.PTR and nt.kind == Kind.PTR:
                    pass
                elif (ot.kind == Kind.INT and nt.kind == Kind.INT
                      and int(ot.encoding) != 1 and int(nt.encoding) != 1):  # type: ignore[attr-defined]
                    pass
                else:
                    res.fail_memsz_adjust = True
        elif is_type_based(kind):
            res.orig_val = _calc_type(kind, local)
            res.validate = kind != CoreReloKind.TYPE_ID_TARGET  # ids change during linking
            res.new_val = _calc_type(kind, targ)
        elif is_enumval_based(kind):
            res.orig_val = _calc_enumval(kind, local)
            res.new_val = _calc_enumval(kind, targ)
        else:
            raise CoreFail("EOPNOTSUPP", f"unrecognized CO-RE relocation {relo_kind_str(kind)} ({kind})")
    except _Poison:
        res.poison = True
    return res
