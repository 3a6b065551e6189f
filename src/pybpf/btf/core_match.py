"""CO-RE relocation internals: access specs and type matching.

A faithful Python rendering of the type-level half of libbpf's
``relo_core.c`` (``bpf_core_parse_spec``, ``bpf_core_spec_match``,
``bpf_core_types_are_compat``, ``bpf_core_types_match``,
``bpf_core_format_spec``); values are computed in :mod:`.core_calc`. The public
entry point is :func:`pybpf.btf.core.relocate`; neither module knows instructions.

Where libbpf returns ``-errno`` these functions raise :class:`CoreFail`
(``errno`` names the libbpf error, the message says what is wrong); the
caller adds the relocation context. Matching functions return ``0``/``1``
like their C counterparts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

from ..errors import BTFError
from ._format import MAX_RESOLVE_DEPTH
from .ext import CoreReloKind
from .types import MODIFIER_KINDS, Kind, Type

if TYPE_CHECKING:  # pragma: no cover
    from .spec import BTF

__all__ = [
    "CoreFail", "Accessor", "Spec", "SPEC_MAX_LEN",
    "essential_name_len", "essential_name", "kind_str", "relo_kind_str",
    "is_field_based", "is_type_based", "is_enumval_based",
    "parse_spec", "format_spec", "spec_match", "types_are_compat", "types_match",
    "resolve_size", "skip_mods", "get_type",
]

#: ``BPF_CORE_SPEC_MAX_LEN``: most accessors in an access string / matched spec.
SPEC_MAX_LEN = 64
_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF

_FIELD_KINDS = frozenset({0, 1, 2, 3, 4, 5})
_TYPE_KINDS = frozenset({6, 7, 8, 9, 12})
_ENUMVAL_KINDS = frozenset({10, 11})
_COMPOSITE = (Kind.STRUCT, Kind.UNION)
_ENUMS = (Kind.ENUM, Kind.ENUM64)

_RELO_KIND_STR = {
    CoreReloKind.FIELD_BYTE_OFFSET: "byte_off",
    CoreReloKind.FIELD_BYTE_SIZE: "byte_sz",
    CoreReloKind.FIELD_EXISTS: "field_exists",
    CoreReloKind.FIELD_SIGNED: "signed",
    CoreReloKind.FIELD_LSHIFT_U64: "lshift_u64",
    CoreReloKind.FIELD_RSHIFT_U64: "rshift_u64",
    CoreReloKind.TYPE_ID_LOCAL: "local_type_id",
    CoreReloKind.TYPE_ID_TARGET: "target_type_id",
    CoreReloKind.TYPE_EXISTS: "type_exists",
    CoreReloKind.TYPE_MATCHES: "type_matches",
    CoreReloKind.TYPE_SIZE: "type_size",
    CoreReloKind.ENUMVAL_EXISTS: "enumval_exists",
    CoreReloKind.ENUMVAL_VALUE: "enumval_value",
}


class CoreFail(Exception):
    """A libbpf-style failure (``errno`` is the symbolic errno libbpf would return)."""

    def __init__(self, errno: str, message: str) -> None:
        super().__init__(message)
        self.errno = errno
        self.message = message


def relo_kind_str(kind: int) -> str:
    """libbpf's short name of a relocation kind (``byte_off``, ``type_exists``...)."""
    return _RELO_KIND_STR.get(kind, "unknown")  # type: ignore[call-overload]


def is_field_based(kind: int) -> bool:
    return kind in _FIELD_KINDS


def is_type_based(kind: int) -> bool:
    return kind in _TYPE_KINDS


def is_enumval_based(kind: int) -> bool:
    return kind in _ENUMVAL_KINDS


def kind_str(t: Type) -> str:
    """libbpf's ``btf_kind_str``: ``struct``, ``func_proto``, ``void``..."""
    k = t.kind
    return "void" if k == Kind.UNKN else k.name.lower()


def essential_name_len(name: str) -> int:
    """Length of ``name`` before its last ``X___Y`` flavor separator (libbpf's
    ``bpf_core_essential_name_len``): ``task_struct___old`` -> 11."""
    n = len(name)
    if "___" not in name:
        return n
    i = name.rfind("___", 0, n - 1)
    while i > 0:
        # the separator starts one char before the underscores: X___Y
        if name[i - 1] != "_" and name[i + 3] != "_":
            return i
        i = name.rfind("___", 0, i + 2)
    return n


def essential_name(name: str) -> str:
    """``name`` without its flavor suffix."""
    return name[:essential_name_len(name)]


def _names_essentially_equal(a: str, b: str) -> bool:
    la, lb = essential_name_len(a), essential_name_len(b)
    return la == lb and a[:la] == b[:lb]


# ---------------------------------------------------------------------- BTF helpers
def get_type(btf: "BTF", tid: int) -> Type:
    try:
        return btf[tid]
    except (BTFError, IndexError) as e:
        raise CoreFail("EINVAL", f"invalid type id {tid}: {e}") from None


def skip_mods(btf: "BTF", tid: int) -> tuple[Type, int]:
    """``skip_mods_and_typedefs``: the type and id after typedef/const/volatile/restrict/type_tag."""
    t = get_type(btf, tid)
    for _ in range(MAX_RESOLVE_DEPTH):
        if t.kind not in MODIFIER_KINDS:
            return t, tid
        tid = t.type_id  # type: ignore[attr-defined]
        t = get_type(btf, tid)
    raise CoreFail("EINVAL", f"modifier chain too long or cyclic at type id {tid}")


def resolve_size(btf: "BTF", tid: int) -> int:
    """``btf__resolve_size``: size in bytes (arrays multiply, pointers are pointer-sized)."""
    nelems = 1
    t = get_type(btf, tid)
    for _ in range(MAX_RESOLVE_DEPTH):
        k = t.kind
        if k in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC, Kind.FLOAT):
            size = t.size  # type: ignore[attr-defined]
            break
        if k == Kind.PTR:
            size = btf.pointer_size
            break
        if k in MODIFIER_KINDS or k in (Kind.VAR, Kind.DECL_TAG):
            tid = t.type_id  # type: ignore[attr-defined]
        elif k == Kind.ARRAY:
            n = t.nelems  # type: ignore[attr-defined]
            if nelems and n > _M32 // nelems:
                raise CoreFail("E2BIG", f"array type id {tid} is too big")
            nelems *= n
            tid = t.type_id  # type: ignore[attr-defined]
        else:
            raise CoreFail("EINVAL", f"{kind_str(t)} [{tid}] has no size")
        t = get_type(btf, tid)
    else:
        raise CoreFail("EINVAL", f"type chain too long resolving the size of type id {tid}")
    if nelems and size > _M32 // nelems:
        raise CoreFail("E2BIG", f"type id {tid} is too big")
    return nelems * size


def _kind_core_compat(a: Type, b: Type) -> bool:
    ka, kb = a.kind, b.kind
    return ka == kb or (ka in _ENUMS and kb in _ENUMS)


# ---------------------------------------------------------------------- specs
@dataclass
class Accessor:
    """One high-level step of a spec: a named field (``name`` set: ``type_id`` is the
    struct/union, ``idx`` the member index) or an array index (``name`` None:
    ``type_id`` is the element type)."""

    type_id: int
    idx: int
    name: Optional[str] = None


@dataclass
class Spec:
    """``struct bpf_core_spec``: a parsed (local) or matched (target) access spec."""

    btf: "BTF"
    root_type_id: int
    relo_kind: int
    spec: list[Accessor] = field(default_factory=list)
    raw_spec: list[int] = field(default_factory=list)
    bit_offset: int = 0

    def __str__(self) -> str:
        return format_spec(self)


def _is_flex_arr(btf: "BTF", acc: Optional[Accessor], arr: Type) -> bool:
    """A zero-length array that is the last member of the enclosing struct."""
    if acc is None or not acc.name or arr.nelems > 0:  # type: ignore[attr-defined]
        return False
    t = get_type(btf, acc.type_id)
    return acc.idx == len(t.members) - 1  # type: ignore[attr-defined]


def _parse_access_str(s: str) -> list[int]:
    if not s or s[0] == ":":
        raise CoreFail("EINVAL", f"invalid access string {s!r}")
    out: list[int] = []
    for part in s.split(":"):
        try:
            v = int(part)
        except ValueError:
            raise CoreFail("EINVAL", f"invalid access string {s!r}") from None
        if v < 0 or v > 0x7FFFFFFF:
            raise CoreFail("EINVAL", f"invalid access string {s!r}")
        if len(out) == SPEC_MAX_LEN:
            raise CoreFail("E2BIG", f"access string {s!r} has more than {SPEC_MAX_LEN} accessors")
        out.append(v)
    return out


def parse_spec(btf: "BTF", type_id: int, access_str: str, kind: int) -> Spec:
    """``bpf_core_parse_spec``: turn a relocation's access string into a spec."""
    if not access_str or access_str[0] == ":":
        raise CoreFail("EINVAL", f"invalid access string {access_str!r}")
    spec = Spec(btf, type_id, kind)
    if is_type_based(kind):
        if access_str != "0":
            raise CoreFail("EINVAL", f"type-based relocation with access string {access_str!r} (must be '0')")
        return spec
    raw = spec.raw_spec = _parse_access_str(access_str)
    t, tid = skip_mods(btf, type_id)
    idx = raw[0]
    acc = Accessor(tid, idx)
    spec.spec.append(acc)
    if is_enumval_based(kind):
        if t.kind not in _ENUMS or len(raw) > 1 or idx >= len(t.values):  # type: ignore[attr-defined]
            raise CoreFail("EINVAL", f"access string {access_str!r} does not name an enumerator of "
                                     f"{kind_str(t)} [{tid}]")
        acc.name = t.values[idx].name  # type: ignore[attr-defined]
        return spec
    if not is_field_based(kind):
        raise CoreFail("EINVAL", f"unknown relocation kind {kind}")
    bit_offset = idx * resolve_size(btf, tid) * 8
    for i in range(1, len(raw)):
        t, tid = skip_mods(btf, tid)
        idx = raw[i]
        k = t.kind
        if k in _COMPOSITE:
            members = t.members  # type: ignore[attr-defined]
            if idx >= len(members):
                raise CoreFail("EINVAL", f"access string {access_str!r}: member #{idx} of {kind_str(t)} "
                                         f"[{tid}] does not exist")
            m = members[idx]
            bit_offset += m.bit_offset
            if m.name:
                spec.spec.append(Accessor(tid, idx, m.name))
            tid = m.type_id
        elif k == Kind.ARRAY:
            et, eid = skip_mods(btf, t.type_id)  # type: ignore[attr-defined]
            flex = _is_flex_arr(btf, spec.spec[-1], t)
            if not flex and idx >= t.nelems:  # type: ignore[attr-defined]
                raise CoreFail("EINVAL", f"access string {access_str!r}: index {idx} out of bounds of "
                                         f"array [{tid}] ({t.nelems} elements)")  # type: ignore[attr-defined]
            spec.spec.append(Accessor(eid, idx))
            bit_offset += idx * resolve_size(btf, eid) * 8
            tid = eid
        else:
            raise CoreFail("EINVAL", f"access string {access_str!r} (at idx {i}) captures type [{tid}] of "
                                     f"unexpected kind {kind_str(t)}")
    spec.bit_offset = bit_offset & _M32
    return spec


def format_spec(spec: Spec) -> str:
    """``bpf_core_format_spec``: ``<byte_off> [2] struct task_struct.pid (0:68 @ offset 2416)``."""
    try:
        t = spec.btf[spec.root_type_id]
    except (BTFError, IndexError):
        return f"<{relo_kind_str(spec.relo_kind)}> [{spec.root_type_id}] <invalid>"
    out = [f"<{relo_kind_str(spec.relo_kind)}> [{spec.root_type_id}] {kind_str(t)} {t.name or '<anon>'}"]
    kind = spec.relo_kind
    if is_type_based(kind):
        return out[0]
    if is_enumval_based(kind):
        try:
            et, _ = skip_mods(spec.btf, spec.root_type_id)
        except CoreFail:
            return out[0]
        # like libbpf, an unmatched candidate (empty raw spec) shows enumerator #0
        i = spec.raw_spec[0] if spec.raw_spec else 0
        if et.kind in _ENUMS and i < len(et.values):  # type: ignore[attr-defined]
            e = et.values[i]  # type: ignore[attr-defined]
            if et.kind == Kind.ENUM:
                v = s32(e.value) if et.signed else e.value & _M32  # type: ignore[attr-defined]
            else:
                v = e.value if et.signed else e.value & _M64  # type: ignore[attr-defined]
            out.append(f"::{e.name} = {v}")
        return "".join(out)
    if is_field_based(kind):
        for i, acc in enumerate(spec.spec):
            if acc.name:
                out.append(f".{acc.name}")
            elif i > 0 or acc.idx > 0:
                out.append(f"[{acc.idx}]")
        out.append(" (" + ":".join(map(str, spec.raw_spec)))
        bo = spec.bit_offset
        out.append(f" @ offset {bo // 8}.{bo % 8})" if bo % 8 else f" @ offset {bo // 8})")
    return "".join(out)


def s32(v: int) -> int:
    """``v`` as a signed 32-bit value."""
    v &= _M32
    return v - (1 << 32) if v & 0x80000000 else v


# ---------------------------------------------------------------------- compatibility
def types_are_compat(lbtf: "BTF", lid: int, tbtf: "BTF", tid: int, level: int = 32,
                     warn: Optional[Callable[[str], None]] = None) -> int:
    """``bpf_core_types_are_compat`` (type-based relocations; root names already matched)."""
    if not _kind_core_compat(get_type(lbtf, lid), get_type(tbtf, tid)):
        return 0
    depth = 32
    while True:
        depth -= 1
        if depth < 0:
            raise CoreFail("EINVAL", "type compatibility check recursed too deep")
        lt, lid = skip_mods(lbtf, lid)
        tt, tid = skip_mods(tbtf, tid)
        if not _kind_core_compat(lt, tt):
            return 0
        k = lt.kind
        if k in (Kind.UNKN, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FWD, Kind.ENUM64):
            return 1
        if k == Kind.INT:
            return int(lt.offset == 0 and tt.offset == 0)  # type: ignore[attr-defined]
        if k in (Kind.PTR, Kind.ARRAY):
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        if k == Kind.FUNC_PROTO:
            lps, tps = lt.params, tt.params  # type: ignore[attr-defined]
            if len(lps) != len(tps):
                return 0
            for lp, tp in zip(lps, tps):
                if level <= 0:
                    raise CoreFail("EINVAL", "type compatibility check recursed too deep")
                _, a = skip_mods(lbtf, lp.type_id)
                _, b = skip_mods(tbtf, tp.type_id)
                r = types_are_compat(lbtf, a, tbtf, b, level - 1, warn)
                if r <= 0:
                    return r
            _, lid = skip_mods(lbtf, lt.type_id)  # type: ignore[attr-defined]
            _, tid = skip_mods(tbtf, tt.type_id)  # type: ignore[attr-defined]
            continue
        if warn is not None:
            warn(f"unexpected kind {kind_str(lt)} relocated, local [{lid}], target [{tid}]")
        return 0


def _fields_are_compat(lbtf: "BTF", lid: int, tbtf: "BTF", tid: int) -> int:
    """``bpf_core_fields_are_compat``: may a local field be relocated to this target field?"""
    for _ in range(MAX_RESOLVE_DEPTH):
        lt, lid = skip_mods(lbtf, lid)
        tt, tid = skip_mods(tbtf, tid)
        if lt.kind in _COMPOSITE and tt.kind in _COMPOSITE:
            return 1
        if not _kind_core_compat(lt, tt):
            return 0
        k = lt.kind
        if k in (Kind.PTR, Kind.FLOAT):
            return 1
        if k in (Kind.FWD, Kind.ENUM, Kind.ENUM64):
            ll, tl = essential_name_len(lt.name), essential_name_len(tt.name)
            return int(ll == 0 or tl == 0 or (ll == tl and lt.name[:ll] == tt.name[:tl]))
        if k == Kind.INT:
            return int(lt.offset == 0 and tt.offset == 0)  # type: ignore[attr-defined]
        if k == Kind.ARRAY:
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        return 0
    raise CoreFail("EINVAL", "field compatibility check recursed too deep")


def _match_member(lbtf: "BTF", local_acc: Accessor, tbtf: "BTF", targ_id: int,
                  spec: Spec) -> tuple[int, int]:
    """``bpf_core_match_member``: find the local named field in the target struct
    (through anonymous members), extending ``spec``. (found, next target type id)."""
    tt, targ_id = skip_mods(tbtf, targ_id)
    if tt.kind not in _COMPOSITE:
        return 0, 0
    local_m = get_type(lbtf, local_acc.type_id).members[local_acc.idx]  # type: ignore[attr-defined]
    local_name = local_m.name
    raw = spec.raw_spec
    for i, m in enumerate(tt.members):  # type: ignore[attr-defined]
        if len(raw) == SPEC_MAX_LEN:
            raise CoreFail("E2BIG", "struct/union/array nesting too deep")
        if m.name and m.name != local_name:
            continue  # what the speculative push/pop below amounts to for another named member
        bit_offset = m.bit_offset
        spec.bit_offset += bit_offset
        spec.raw_spec.append(i)
        if not m.name:
            found, nxt = _match_member(lbtf, local_acc, tbtf, m.type_id, spec)
            if found:
                return found, nxt
        elif m.name == local_name:
            spec.spec.append(Accessor(targ_id, i, m.name))
            found = _fields_are_compat(lbtf, local_m.type_id, tbtf, m.type_id)
            if not found:
                spec.spec.pop()
            return found, m.type_id
        spec.bit_offset -= bit_offset
        spec.raw_spec.pop()
    return 0, 0


def spec_match(local: Spec, tbtf: "BTF", targ_id: int, targ: Spec,
               warn: Optional[Callable[[str], None]] = None) -> int:
    """``bpf_core_spec_match``: match ``local`` against candidate ``targ_id``, filling
    ``targ`` (a fresh Spec for that candidate). 1 on match, 0 if not."""
    kind = local.relo_kind
    if is_type_based(kind):
        if kind == CoreReloKind.TYPE_MATCHES:
            return types_match(local.btf, local.root_type_id, tbtf, targ_id, warn=warn)
        return types_are_compat(local.btf, local.root_type_id, tbtf, targ_id, warn=warn)
    if is_enumval_based(kind):
        tt, targ_id = skip_mods(tbtf, targ_id)
        if tt.kind not in _ENUMS:
            return 0
        lname = local.spec[0].name or ""
        ll = essential_name_len(lname)
        for i, e in enumerate(tt.values):  # type: ignore[attr-defined]
            if essential_name_len(e.name) == ll and e.name[:ll] == lname[:ll]:
                targ.spec.append(Accessor(targ_id, i, e.name))
                targ.raw_spec.append(i)
                return 1
        return 0
    if not is_field_based(kind):
        raise CoreFail("EINVAL", f"unknown relocation kind {kind}")
    lbtf = local.btf
    for i, lacc in enumerate(local.spec):
        tt, targ_id = skip_mods(tbtf, targ_id)
        if lacc.name:
            matched, targ_id = _match_member(lbtf, lacc, tbtf, targ_id, targ)
            if matched <= 0:
                return matched
        else:
            if i > 0:
                if tt.kind != Kind.ARRAY:
                    return 0
                flex = _is_flex_arr(tbtf, targ.spec[i - 1], tt)
                if not flex and lacc.idx >= tt.nelems:  # type: ignore[attr-defined]
                    return 0
                _, targ_id = skip_mods(tbtf, tt.type_id)  # type: ignore[attr-defined]
            if len(targ.raw_spec) == SPEC_MAX_LEN:
                raise CoreFail("E2BIG", "struct/union/array nesting too deep")
            targ.spec.append(Accessor(targ_id, lacc.idx))
            targ.raw_spec.append(lacc.idx)
            targ.bit_offset = (targ.bit_offset + lacc.idx * resolve_size(tbtf, targ_id) * 8) & _M32
    targ.bit_offset &= _M32
    return 1


# ---------------------------------------------------------------------- types_match
def _names_match(lname: str, tname: str) -> bool:
    if not tname:
        return not lname
    return _names_essentially_equal(lname, tname)


def _enums_match(lt: Type, tt: Type) -> int:
    if lt.size != tt.size:  # type: ignore[attr-defined]
        return 0
    lvals, tvals = lt.values, tt.values  # type: ignore[attr-defined]
    if len(lvals) > len(tvals):
        return 0
    for lv in lvals:
        if not any(_names_match(lv.name, tv.name) for tv in tvals):
            return 0
    return 1


def _composites_match(lbtf: "BTF", lt: Type, tbtf: "BTF", tt: Type, behind_ptr: bool, level: int,
                      warn: Optional[Callable[[str], None]]) -> int:
    lms, tms = lt.members, tt.members  # type: ignore[attr-defined]
    if len(lms) > len(tms):
        return 0
    for lm in lms:
        matched = False
        for tm in tms:
            if not _names_match(lm.name, tm.name):
                continue
            if types_match(lbtf, lm.type_id, tbtf, tm.type_id, behind_ptr, level - 1, warn) > 0:
                matched = True
                break
        if not matched:
            return 0
    return 1


def types_match(lbtf: "BTF", lid: int, tbtf: "BTF", tid: int, behind_ptr: bool = False, level: int = 32,
                warn: Optional[Callable[[str], None]] = None) -> int:
    """``bpf_core_types_match`` (``TYPE_MATCHES``): a stricter structural match
    than :func:`types_are_compat` (sizes, signedness, member names, enumerator names)."""
    if level <= 0:
        raise CoreFail("EINVAL", "type match recursed too deep")
    depth = 32
    while True:
        depth -= 1
        if depth < 0:
            raise CoreFail("EINVAL", "type match recursed too deep")
        lt, lid = skip_mods(lbtf, lid)
        tt, tid = skip_mods(tbtf, tid)
        if not _names_match(lt.name, tt.name):
            return 0
        lk, tk = lt.kind, tt.kind
        if lk == Kind.UNKN:
            return int(lk == tk)
        if lk == Kind.FWD:
            lf = lt.is_union  # type: ignore[attr-defined]
            if behind_ptr:
                if lk == tk:
                    return int(lf == tt.is_union)  # type: ignore[attr-defined]
                return int((tk == Kind.STRUCT and not lf) or (tk == Kind.UNION and lf))
            if lk != tk:
                return 0
            return int(lf == tt.is_union)  # type: ignore[attr-defined]
        if lk in _ENUMS:
            if tk not in _ENUMS:
                return 0
            return _enums_match(lt, tt)
        if lk in _COMPOSITE:
            if behind_ptr:
                if lk == tk:
                    return 1
                if tk != Kind.FWD:
                    return 0
                return int((lk == Kind.UNION) == tt.is_union)  # type: ignore[attr-defined]
            if lk != tk:
                return 0
            return _composites_match(lbtf, lt, tbtf, tt, behind_ptr, level, warn)
        if lk == Kind.INT:
            if lk != tk:
                return 0
            return int(lt.size == tt.size and lt.signed == tt.signed)  # type: ignore[attr-defined]
        if lk == Kind.PTR:
            if lk != tk:
                return 0
            behind_ptr = True
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        if lk == Kind.ARRAY:
            if lk != tk or lt.nelems != tt.nelems:  # type: ignore[attr-defined]
                return 0
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        if lk == Kind.FUNC_PROTO:
            if lk != tk:
                return 0
            lps, tps = lt.params, tt.params  # type: ignore[attr-defined]
            if len(lps) != len(tps):
                return 0
            for lp, tp in zip(lps, tps):
                r = types_match(lbtf, lp.type_id, tbtf, tp.type_id, behind_ptr, level - 1, warn)
                if r <= 0:
                    return r
            lid, tid = lt.type_id, tt.type_id  # type: ignore[attr-defined]
            continue
        if warn is not None:
            warn(f"unexpected kind {kind_str(lt)} relocated, local [{lid}], target [{tid}]")
        return 0
