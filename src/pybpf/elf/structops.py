"""struct_ops maps in BPF objects: ``SEC(".struct_ops")`` / ``SEC(".struct_ops.link")`` variables.

Each variable of a ``.struct_ops`` section (``struct tcp_congestion_ops pyca = {...}``)
becomes a ``BPF_MAP_TYPE_STRUCT_OPS`` :class:`~pybpf.elf.maps.ObjectMapSpec` named after
the variable (key size 4, one entry; ``BPF_F_LINK`` for ``.struct_ops.link``; a leading
``?`` on the section name turns ``autocreate`` off). Its :class:`StructOpsSpec` keeps the
object's struct type, the variable's initial bytes and, from the section's relocations,
which program every function-pointer member points to. Each bound program's ``attach_to``
becomes ``"<struct>:<member>"`` and its ``expected_attach_type`` the member's index (the
loader replaces both by the kernel's type id and member index).

Follows libbpf's ``init_struct_ops_maps()`` and ``bpf_object__collect_st_ops_relos()``.
Pure: no kernel access. Kernel support: struct_ops maps 5.6, ``BPF_F_LINK`` ones 6.4.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .._sys.consts import MapFlags, MapType, ProgramType
from ..btf.types import Datasec, FuncProto, Kind, Ptr, Struct, Var
from ..errors import ELFError
from .maps import ObjectMapSpec
from .reader import SHN_LORESERVE, ElfObject, Section

if TYPE_CHECKING:
    from ..btf import BTF
    from .objspec import ObjectProgramSpec

__all__ = ["StructOpsSpec", "STRUCT_OPS_SEC", "STRUCT_OPS_LINK_SEC", "is_struct_ops_section",
           "parse_struct_ops_maps", "collect_struct_ops_relos", "bind_struct_ops_programs", "func_ptr_proto"]

STRUCT_OPS_SEC = ".struct_ops"
STRUCT_OPS_LINK_SEC = ".struct_ops.link"
_SECTIONS = frozenset({STRUCT_OPS_SEC, STRUCT_OPS_LINK_SEC, "?" + STRUCT_OPS_SEC, "?" + STRUCT_OPS_LINK_SEC})


def is_struct_ops_section(name: str) -> bool:
    """``.struct_ops``, ``.struct_ops.link``, or either with libbpf's leading ``?`` (not created by default)."""
    return name in _SECTIONS


def func_ptr_proto(btf: "BTF", type_id: int) -> FuncProto | None:
    """The FUNC_PROTO a member of type ``type_id`` points to, or None if it is no function pointer
    (libbpf's ``resolve_func_ptr()``: modifiers and typedefs skipped on both levels)."""
    t = btf.resolve(type_id)
    if not isinstance(t, Ptr):
        return None
    target = btf.resolve(t.type_id or 0)
    return target if isinstance(target, FuncProto) else None


@dataclasses.dataclass
class StructOpsSpec:
    """What a struct_ops variable holds, in the object's own layout.

    ``type_name``/``type_id``: the struct in the object's BTF (``btf``); ``data``: the
    variable's initial bytes (function-pointer members are zero); ``programs``: member
    name -> program name for the function pointers. Edit before loading: ``view`` gives
    typed access to ``data`` (``ms.struct_ops.view.name = b"myca"``), ``programs`` can
    be rebound (``ms.struct_ops.programs["init"] = "other_prog"``) or emptied.
    """

    type_name: str
    type_id: int
    data: bytearray = dataclasses.field(repr=False)
    programs: dict[str, str] = dataclasses.field(default_factory=dict)
    btf: Any = dataclasses.field(default=None, repr=False, compare=False)

    def copy(self) -> "StructOpsSpec":
        return dataclasses.replace(self, data=bytearray(self.data), programs=dict(self.programs))

    @property
    def struct(self) -> Struct:
        """The struct's BTF type."""
        t = self.btf[self.type_id]
        assert isinstance(t, Struct)
        return t

    @property
    def view(self) -> Any:
        """A typed, writable view of ``data`` (members as attributes)."""
        from .dataview import StructView

        return StructView(self.btf, self.struct, self.data, 0)

    def member_index(self, name: str) -> int:
        """Index of member ``name`` in the object's struct."""
        for i, m in enumerate(self.struct.members):
            if m.name == name:
                return i
        raise KeyError(f"struct {self.type_name} has no member {name!r}")


def parse_struct_ops_maps(btf: "BTF | None", sec: Section) -> list[ObjectMapSpec]:
    """One STRUCT_OPS map spec per variable of struct_ops section ``sec``, in DATASEC order."""
    if btf is None:
        raise ELFError(f"section {sec.name!r} needs BTF, but the object has no .BTF section")
    name = sec.name
    autocreate = not name.startswith("?")
    base = name.lstrip("?")
    ds = next((t for t in btf.find_all(name, Kind.DATASEC) if isinstance(t, Datasec)), None)
    if ds is None:
        raise ELFError(f"struct_ops: DATASEC {name!r} not found in BTF (compile with -g)")
    data = sec.data
    out = []
    for vi in ds.vars:
        var = btf[vi.type_id or 0]
        if not isinstance(var, Var):
            raise ELFError(f"struct_ops: DATASEC {name!r} member [{vi.type_id}] is not a variable")
        st = btf.resolve(var.type_id or 0)
        if not st.name:
            raise ELFError(f"struct_ops variable {var.name!r}: anonymous struct types are not supported")
        if not isinstance(st, Struct):
            raise ELFError(f"struct_ops variable {var.name!r}: {st.name} is not a struct")
        if vi.offset + st.size > len(data):
            raise ELFError(f"struct_ops variable {var.name!r} is beyond the end of section {name!r}")
        ops = StructOpsSpec(st.name, int(st.id or 0), bytearray(data[vi.offset:vi.offset + st.size]), btf=btf)
        out.append(ObjectMapSpec(
            type=MapType.STRUCT_OPS, key_size=4, value_size=st.size, max_entries=1,
            flags=int(MapFlags.LINK) if base == STRUCT_OPS_LINK_SEC else 0, name=var.name, btf=btf,
            section=name, sec_offset=vi.offset, struct_ops=ops, autocreate=autocreate))
    return out


def collect_struct_ops_relos(elf: ElfObject, sec: Section, maps: dict[str, ObjectMapSpec],
                             entries: dict[tuple[int, int], tuple[str, Any]]) -> None:
    """Bind function-pointer members to programs from the relocations of struct_ops section ``sec``.

    ``entries``: (section index, byte offset) of every entry program -> (name, program type).
    Fills :attr:`StructOpsSpec.programs` and zeroes the pointer bytes in ``data``.
    """
    owned = [m for m in maps.values() if m.struct_ops is not None and m.section == sec.name]
    for i, rel in enumerate(elf.rels.get(sec.index, [])):
        sym = elf.symbols[rel.sym]
        sname = sym.name or "<?>"
        owner = next((m for m in owned if m.sec_offset <= rel.offset < m.sec_offset + m.value_size), None)
        if owner is None:
            raise ELFError(f"struct_ops relo #{i} in {sec.name!r}: no struct_ops variable at offset {rel.offset}")
        ops = owner.struct_ops
        assert ops is not None
        moff = rel.offset - owner.sec_offset
        if sym.shndx == 0 or sym.shndx >= SHN_LORESERVE:
            raise ELFError(f"struct_ops {owner.name!r}: relocation at offset {rel.offset} refers to {sname!r}, "
                           "which is not a function of this object")
        addend = int.from_bytes(sec.data[rel.offset:rel.offset + 8], elf.byteorder)  # type: ignore[arg-type]
        target = sym.value + addend
        if target % 8:
            raise ELFError(f"struct_ops {owner.name!r}: invalid target program offset {target}")
        member = next((m for m in ops.struct.members if m.bit_offset == moff * 8), None)
        if member is None:
            raise ELFError(f"struct_ops {owner.name!r}: no member of struct {ops.type_name} at offset {moff}")
        if func_ptr_proto(ops.btf, member.type_id or 0) is None:
            raise ELFError(f"struct_ops {owner.name!r}: member {member.name!r} is not a function pointer")
        found = entries.get((sym.shndx, target))
        if found is None:
            raise ELFError(f"struct_ops {owner.name!r}: member {member.name!r} points to {sname!r}, which is not "
                           "an entry program")
        prog, ptype = found
        if ptype != ProgramType.STRUCT_OPS:
            raise ELFError(f"struct_ops {owner.name!r}: member {member.name!r}: program {prog!r} is not a "
                           "struct_ops program (use SEC(\"struct_ops\") or SEC(\"struct_ops.s\"))")
        ops.programs[member.name] = prog
        ops.data[moff:moff + 8] = bytes(8)


def bind_struct_ops_programs(maps: dict[str, ObjectMapSpec], programs: dict[str, "ObjectProgramSpec"]) -> None:
    """Give every program a struct_ops variable points to the attach target ``"<struct>:<member>"``
    and the member's index as ``expected_attach_type`` (the first variable referring to it wins)."""
    done: set[str] = set()
    for m in maps.values():
        ops = m.struct_ops
        if ops is None:
            continue
        for member, name in ops.programs.items():
            p = programs.get(name)
            if p is None or name in done:
                continue
            p.attach_to = f"{ops.type_name}:{member}"
            p.expected_attach_type = ops.member_index(member)
            done.add(name)
