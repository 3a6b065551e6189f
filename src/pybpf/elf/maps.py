"""Map definitions in BPF objects: BTF-defined ``.maps``, the legacy ``maps``
section, and the internal maps behind global data (``.data``, ``.rodata``,
``.bss``, their ``.*`` variants and ``.kconfig``).

Follows libbpf's ``parse_btf_map_def()``, ``bpf_object__init_user_btf_maps()``,
``bpf_object__init_internal_map()``, ``internal_map_name()`` and
``bpf_object__collect_map_relos()``.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import TYPE_CHECKING, Any

from .._sys.consts import MapFlags, MapType
from ..btf.types import Array, Datasec, FuncProto, Kind, Linkage, Ptr, Struct, Var
from ..errors import BTFError, ELFError
from ..spec import MapSpec
from .reader import STT, ElfObject, Section

if TYPE_CHECKING:
    from ..btf import BTF
    from .structops import StructOpsSpec

__all__ = ["ObjectMapSpec", "internal_map_name", "parse_btf_maps", "parse_legacy_maps", "internal_map_spec",
           "collect_map_relos", "LIBBPF_PIN_BY_NAME", "DataKind", "data_kind"]

LIBBPF_PIN_NONE = 0
LIBBPF_PIN_BY_NAME = 1
BPF_OBJ_NAME_LEN = 16
_MAP_IN_MAP = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)


@dataclasses.dataclass
class ObjectMapSpec(MapSpec):
    """A :class:`~pybpf.spec.MapSpec` read from an object file.

    ``section`` is the ELF section that defined it (``.maps``, ``maps``,
    ``.bss``...), ``sec_offset`` its offset there. ``init_slots`` maps array
    slots to the *names* of programs (prog arrays) or maps (maps-of-maps) that
    the object initialises statically; the loader fills them after creation.
    ``real_name`` is the ELF section name of an internal (global data) map.
    ``struct_ops`` describes a struct_ops variable (:mod:`pybpf.elf.structops`);
    ``autocreate=False`` (libbpf's ``bpf_map__set_autocreate``) skips creating the map.
    """

    section: str = ""
    sec_offset: int = 0
    init_slots: dict[int, str] = dataclasses.field(default_factory=dict)
    real_name: str = ""
    struct_ops: "StructOpsSpec | None" = None
    autocreate: bool = True

    def copy(self) -> "ObjectMapSpec":
        return dataclasses.replace(self, contents=list(self.contents), init_slots=dict(self.init_slots),
                                   struct_ops=self.struct_ops.copy() if self.struct_ops is not None else None)

    @property
    def internal(self) -> bool:
        """True for global-data maps (``.data``, ``.rodata``, ``.bss``, ``.kconfig``...)."""
        return bool(self.real_name)


def _map_type(v: int) -> "Any":
    try:
        return MapType(v)
    except ValueError:
        return v


# ---------------------------------------------------------------------- BTF-defined maps
@dataclasses.dataclass
class _Def:
    map_type: int = 0
    key_size: int = 0
    value_size: int = 0
    max_entries: int = 0
    map_flags: int = 0
    numa_node: int = 0
    key_type_id: int = 0
    value_type_id: int = 0
    pinning: int = 0
    map_extra: int = 0
    parts: set = dataclasses.field(default_factory=set)


def _field_int(btf: "BTF", map_name: str, mname: str, type_id: int) -> int:
    t = btf.resolve(type_id)
    if not isinstance(t, Ptr):
        raise ELFError(f"map {map_name!r}: attr {mname!r}: expected PTR, got {t.kind.name}")
    arr = btf[t.type_id or 0]
    if not isinstance(arr, Array):
        raise ELFError(f"map {map_name!r}: attr {mname!r}: expected ARRAY, got {arr.kind.name}")
    return int(arr.nelems)


def _set_size(d: _Def, attr: str, map_name: str, sz: int) -> None:
    cur = getattr(d, attr)
    if cur and cur != sz:
        raise ELFError(f"map {map_name!r}: conflicting {attr.replace('_', ' ')} {cur} != {sz}")
    setattr(d, attr, sz)


def _parse_def(btf: "BTF", map_name: str, st: Struct, d: _Def, inner: _Def | None, strict: bool = True) -> None:
    """libbpf's ``parse_btf_map_def()``; ``inner`` is None while parsing an inner definition."""
    is_inner = inner is None
    members = list(st.members)
    for i, m in enumerate(members):
        name = m.name
        tid = m.type_id or 0
        if name in ("type", "max_entries", "map_flags", "numa_node", "map_extra"):
            v = _field_int(btf, map_name, name, tid)
            setattr(d, {"type": "map_type"}.get(name, name), v)
            d.parts.add(name)
        elif name == "key_size" or name == "value_size":
            _set_size(d, name, map_name, _field_int(btf, map_name, name, tid))
            d.parts.add(name)
        elif name in ("key", "value"):
            t = btf[tid]
            if not isinstance(t, Ptr):
                raise ELFError(f"map {map_name!r}: {name} spec is not PTR: {t.kind.name}")
            try:
                sz = btf.sizeof(t.type_id or 0)
            except BTFError as e:
                raise ELFError(f"map {map_name!r}: can't determine {name} size for type [{t.type_id}]: {e}") from None
            _set_size(d, f"{name}_size", map_name, sz)
            setattr(d, f"{name}_type_id", t.type_id or 0)
            d.parts.update((f"{name}_size", f"{name}_type"))
        elif name == "values":
            is_mim = d.map_type in _MAP_IN_MAP
            is_pa = d.map_type == MapType.PROG_ARRAY
            desc = "map-in-map inner" if is_mim else "prog-array value"
            if is_inner:
                raise ELFError(f"map {map_name!r}: multi-level inner maps not supported")
            if i != len(members) - 1:
                raise ELFError(f"map {map_name!r}: 'values' member should be last")
            if not is_mim and not is_pa:
                raise ELFError(f"map {map_name!r}: 'values' needs a map-in-map or prog-array type")
            _set_size(d, "value_size", map_name, 4)
            t = btf[tid]
            if not isinstance(t, Array) or t.nelems:
                raise ELFError(f"map {map_name!r}: {desc} spec is not a zero-sized array")
            t = btf.resolve(t.type_id or 0)
            if not isinstance(t, Ptr):
                raise ELFError(f"map {map_name!r}: {desc} def is of unexpected kind {t.kind.name}")
            t = btf.resolve(t.type_id or 0)
            if is_pa:
                if not isinstance(t, FuncProto):
                    raise ELFError(f"map {map_name!r}: prog-array value def is of unexpected kind {t.kind.name}")
                continue
            if not isinstance(t, Struct):
                raise ELFError(f"map {map_name!r}: map-in-map inner def is of unexpected kind {t.kind.name}")
            assert inner is not None
            _parse_def(btf, f"{map_name}.inner", t, inner, None, strict)
            d.parts.add("inner")
        elif name == "pinning":
            if is_inner:
                raise ELFError(f"map {map_name!r}: inner def can't be pinned")
            v = _field_int(btf, map_name, name, tid)
            if v not in (LIBBPF_PIN_NONE, LIBBPF_PIN_BY_NAME):
                raise ELFError(f"map {map_name!r}: invalid pinning value {v}")
            d.pinning = v
            d.parts.add("pinning")
        elif strict:
            raise ELFError(f"map {map_name!r}: unknown field {name!r}")
    if d.map_type == 0:
        raise ELFError(f"map {map_name!r}: map type isn't specified")


def _spec_from_def(name: str, d: _Def, btf: "BTF", section: str, offset: int) -> ObjectMapSpec:
    flags = d.map_flags
    return ObjectMapSpec(
        type=_map_type(d.map_type), key_size=d.key_size, value_size=d.value_size, max_entries=d.max_entries,
        flags=flags, name=name, numa_node=d.numa_node if flags & MapFlags.NUMA_NODE else None, btf=btf,
        btf_key_type_id=d.key_type_id, btf_value_type_id=d.value_type_id, map_extra=d.map_extra,
        pinning=d.pinning, section=section, sec_offset=offset)


def parse_btf_maps(elf: ElfObject, btf: "BTF", sec: Section, strict: bool = True) -> list[ObjectMapSpec]:
    """Maps defined in the ``.maps`` section (by its DATASEC in ``btf``), in DATASEC order."""
    ds = next((t for t in btf.iter_types(Kind.DATASEC) if t.name == ".maps"), None)
    if ds is None:
        raise ELFError("DATASEC '.maps' not found in BTF")
    assert isinstance(ds, Datasec)
    out = []
    for idx, vi in enumerate(ds.vars):
        var = btf[vi.type_id or 0]
        name = var.name
        if not name:
            raise ELFError(f"map #{idx}: empty name")
        if vi.offset + vi.size > sec.size:
            raise ELFError(f"map {name!r} BTF data is corrupted (offset {vi.offset}+{vi.size} > {sec.size})")
        if not isinstance(var, Var):
            raise ELFError(f"map {name!r}: unexpected var kind {var.kind.name}")
        if var.linkage != Linkage.GLOBAL:
            raise ELFError(f"map {name!r}: unsupported map linkage {var.linkage}")
        st = btf.resolve(var.type_id or 0)
        if not isinstance(st, Struct):
            raise ELFError(f"map {name!r}: unexpected def kind {st.kind.name}")
        if st.size > vi.size:
            raise ELFError(f"map {name!r}: invalid def size")
        d, inner = _Def(), _Def()
        _parse_def(btf, name, st, d, inner, strict)
        spec = _spec_from_def(name, d, btf, ".maps", vi.offset)
        if "inner" in d.parts:
            spec.inner_map = _spec_from_def(f"{name}.inner", inner, btf, ".maps", vi.offset)
        out.append(spec)
    return out


# ---------------------------------------------------------------------- legacy maps section
_LEGACY_DEF = struct.Struct("<IIIII")


def parse_legacy_maps(elf: ElfObject, sec: Section) -> list[ObjectMapSpec]:
    """``struct bpf_map_def`` entries of the legacy ``maps`` section (libbpf < 1.0)."""
    syms = sorted((s for s in elf.symbols if s.shndx == sec.index and s.type != STT.SECTION and s.name),
                  key=lambda s: s.value)
    data = sec.data
    if not syms:
        return []
    if not data or len(data) % len(syms):
        raise ELFError(f"legacy 'maps' section: size {len(data)} is not a multiple of {len(syms)} definitions")
    def_sz = len(data) // len(syms)
    if def_sz < 4:
        raise ELFError(f"legacy 'maps' section: definition size {def_sz} too small")
    out = []
    for s in syms:
        if s.value + def_sz > len(data) or s.value % 4:
            raise ELFError(f"legacy map {s.name!r}: bad offset {s.value}")
        raw = data[s.value:s.value + def_sz]
        head = raw[:_LEGACY_DEF.size].ljust(_LEGACY_DEF.size, b"\0")
        if any(raw[_LEGACY_DEF.size:]):
            raise ELFError(f"legacy map {s.name!r}: unrecognized extra bytes in struct bpf_map_def "
                           f"(only type, key_size, value_size, max_entries, map_flags are supported)")
        t, ks, vs, me, fl = _LEGACY_DEF.unpack(head)
        out.append(ObjectMapSpec(type=_map_type(t), key_size=ks, value_size=vs, max_entries=me, flags=fl,
                                 name=s.name, section=sec.name, sec_offset=s.value))
    return out


# ---------------------------------------------------------------------- internal maps
class DataKind:
    DATA = "data"
    RODATA = "rodata"
    BSS = "bss"
    KCONFIG = "kconfig"


def data_kind(sec: Section) -> str | None:
    """Which global-data kind an ELF section holds (libbpf's SEC_DATA/SEC_RODATA/SEC_BSS)."""
    from .reader import SHT

    n = sec.name
    if sec.type == SHT.PROGBITS and not sec.executable:
        if n == ".data" or n.startswith(".data."):
            return DataKind.DATA
        if n == ".rodata" or n.startswith(".rodata."):
            return DataKind.RODATA
    if sec.type == SHT.NOBITS and (n == ".bss" or n.startswith(".bss.")):
        return DataKind.BSS
    return None


def internal_map_name(obj_name: str, real_name: str) -> str:
    """libbpf's ``internal_map_name()``: ``"<obj prefix><section>"`` within 15 characters."""
    sfx_len = min(max(7, len(real_name)), BPF_OBJ_NAME_LEN - 1)
    if "." in real_name[1:]:
        pfx_len = 0
    else:
        pfx_len = min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = (obj_name[:pfx_len] + real_name[:sfx_len])[:BPF_OBJ_NAME_LEN - 1]
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_." else "_" for c in name)


def _mmapable(btf: "BTF | None", value_type_id: int) -> bool:
    if btf is None or not value_type_id:
        return False
    t = btf[value_type_id]
    if not isinstance(t, Datasec):
        return False
    for v in t.vars:
        vt = btf[v.type_id or 0]
        if isinstance(vt, Var) and vt.linkage != Linkage.STATIC:
            return True
    return False


def internal_map_spec(obj_name: str, real_name: str, kind: str, data: bytes | bytearray, size: int,
                      btf: "BTF | None") -> ObjectMapSpec:
    """The ARRAY map (one element of ``size`` bytes) backing a global-data section."""
    flags = int(MapFlags.RDONLY_PROG) if kind in (DataKind.RODATA, DataKind.KCONFIG) else 0
    vid = 0
    if btf is not None:
        found = btf.find_all(real_name)
        vid = (found[0].id or 0) if found else 0  # .rodata.str1.1 has no DATASEC: fine
    if _mmapable(btf, vid or 0):
        flags |= MapFlags.MMAPABLE
    buf = bytearray(data) if kind != DataKind.BSS else bytearray(size)
    return ObjectMapSpec(
        type=MapType.ARRAY, key_size=4, value_size=size, max_entries=1, flags=flags,
        name=internal_map_name(obj_name, real_name), btf=btf if vid else None, btf_value_type_id=vid or 0,
        contents=[(0, buf)], freeze=kind in (DataKind.RODATA, DataKind.KCONFIG), section=real_name,
        real_name=real_name)


# ---------------------------------------------------------------------- .maps relocations
def collect_map_relos(elf: ElfObject, btf: "BTF", maps_sec: Section, maps: dict[str, ObjectMapSpec],
                      programs: dict[str, tuple[int, int]]) -> None:
    """Static initialisation of prog arrays / maps-of-maps from ``.rel.maps``.

    ``programs`` maps entry-point program names to (section index, byte offset).
    Fills ``ObjectMapSpec.init_slots``.
    """
    ds = next((t for t in btf.iter_types(Kind.DATASEC) if t.name == ".maps"), None)
    if ds is None:
        raise ELFError(".rel.maps without a '.maps' DATASEC")
    assert isinstance(ds, Datasec)
    btf_maps = [m for m in maps.values() if m.section == ".maps"]
    by_off = {m.sec_offset: m for m in btf_maps}
    vis = {v.offset: v for v in ds.vars}
    for i, rel in enumerate(elf.rels.get(maps_sec.index, [])):
        sym = elf.symbols[rel.sym]
        name = sym.name or "<?>"
        owner = None
        vi = None
        for off, m in by_off.items():
            v = vis.get(off)
            if v is not None and v.offset <= rel.offset and rel.offset + 8 <= v.offset + v.size:
                owner, vi = m, v
                break
        if owner is None or vi is None:
            raise ELFError(f".maps relo #{i}: cannot find map {name!r} at offset {rel.offset}")
        if owner.type in _MAP_IN_MAP:
            if sym.shndx != maps_sec.index:
                raise ELFError(f".maps relo #{i}: {name!r} isn't a BTF-defined map")
            if owner.type == MapType.HASH_OF_MAPS and owner.key_size != 4:
                raise ELFError(f".maps relo #{i}: hash-of-maps {owner.name!r} should have key size 4")
            if name not in maps:
                raise ELFError(f".maps relo #{i}: {name!r} isn't a valid map reference")
        elif owner.type == MapType.PROG_ARRAY:
            if name not in programs:
                raise ELFError(f".maps relo #{i}: {name!r} isn't a valid program reference")
            if programs[name] != (sym.shndx, sym.value):
                raise ELFError(f".maps relo #{i}: {name!r} isn't an entry-point program")
        else:
            raise ELFError(f".maps relo #{i}: map {owner.name!r} of type {owner.type!r} can't be initialised")
        var = btf[vi.type_id or 0]
        st = btf.resolve(var.type_id or 0)  # type: ignore[attr-defined]
        if not isinstance(st, Struct) or not st.members or st.members[-1].name != "values":
            raise ELFError(f".maps relo #{i}: map {owner.name!r} has no trailing 'values' member")
        moff = st.members[-1].bit_offset // 8
        rel_off = rel.offset - vi.offset
        if rel_off < moff or (rel_off - moff) % 8:
            raise ELFError(f".maps relo #{i}: bad offset {rel.offset} in map {owner.name!r}")
        owner.init_slots[(rel_off - moff) // 8] = name
