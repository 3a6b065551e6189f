"""Specs: deterministic, editable descriptions of maps and programs (no kernel access).

A spec is what the object loader reads out of an ELF file and what
``Map.create`` / ``Program.load`` build from their arguments; the kernel layers
(:mod:`pybpf.maps`, :mod:`pybpf.programs`) turn specs into kernel objects.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._sys.consts import AttachType, MapType, ProgramType


@dataclasses.dataclass
class MapSpec:
    """Everything needed to create one map.

    ``inner_map`` is the template for map-in-map types; ``btf`` (a
    :class:`pybpf.btf.BTF` or raw bytes) with ``btf_key_type_id`` /
    ``btf_value_type_id`` gives the kernel the key/value types; ``contents``
    are (key, value) pairs written right after creation. STRUCT_OPS maps name
    the kernel's ``struct bpf_struct_ops_<type>`` in ``btf_vmlinux_value_type_id``
    (5.6+), with ``value_type_btf_obj_fd`` the fd of the module BTF holding it
    and ``MapFlags.VTYPE_BTF_OBJ_FD`` in ``flags`` for module types (6.9+).
    """

    type: MapType
    key_size: int = 0
    value_size: int = 0
    max_entries: int = 0
    flags: int = 0
    name: str = ""
    numa_node: int | None = None
    inner_map: "MapSpec | Any | None" = None
    btf: Any = None
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    btf_vmlinux_value_type_id: int = 0
    value_type_btf_obj_fd: int = 0
    map_extra: int = 0
    ifindex: int = 0
    pinning: int = 0
    contents: list[tuple[Any, Any]] = dataclasses.field(default_factory=list)
    freeze: bool = False
    key_type: Any = None
    value_type: Any = None

    def copy(self) -> "MapSpec":
        """A deep-enough copy that can be edited without touching the original."""
        return dataclasses.replace(self, contents=list(self.contents))


@dataclasses.dataclass
class ProgramSpec:
    """Everything needed to load one program."""

    type: ProgramType
    instructions: Any = None
    license: str = "GPL"
    name: str = ""
    expected_attach_type: AttachType | int = 0
    attach_btf_id: int = 0
    attach_btf_obj_fd: int = 0
    attach_prog_fd: int = 0
    attach_to: str = ""
    section: str = ""
    kernel_version: int = 0
    flags: int = 0
    ifindex: int = 0
    btf: Any = None
    func_info: bytes = b""
    func_info_rec_size: int = 0
    line_info: bytes = b""
    line_info_rec_size: int = 0
    autoload: bool = True

    def copy(self) -> "ProgramSpec":
        return dataclasses.replace(self)
