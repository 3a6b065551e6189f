"""Reading BPF ELF objects (pure: no kernel access, deterministic).

``pybpf.elf.open(path_or_bytes)`` returns an :class:`ObjectSpec` describing
the object the way libbpf's ``bpf_object__open`` sees it: programs typed by
their ``SEC()`` names and linked with their subprograms, maps (BTF-defined,
legacy, global data, ``.kconfig``), externs, BTF and CO-RE relocations.
Malformed input raises :class:`pybpf.ELFError` or :class:`pybpf.BTFError`.
"""

from __future__ import annotations

import builtins
import os
from typing import Callable, Union

from ..errors import ELFError
from .externs import ExternKind, ExternSpec, KcfgType
from .maps import ObjectMapSpec, internal_map_name
from .objspec import MapDict, MissingSectionError, ObjectProgramSpec, ObjectSpec, Variable
from .parse import object_name, parse_object
from .sections import SECTION_DEFS, SecDef, SecFlags, SectionInfo, find_sec_def, parse_section

__all__ = [
    "open", "ObjectSpec", "ObjectProgramSpec", "ObjectMapSpec", "Variable", "MapDict", "MissingSectionError",
    "ExternSpec",
    "ExternKind", "KcfgType", "SECTION_DEFS", "SecDef", "SecFlags", "SectionInfo", "find_sec_def",
    "parse_section", "internal_map_name", "object_name",
]

_builtin_open = builtins.open
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


def open(source: Source, *, name: str = "", strict_maps: bool = True,  # noqa: A001 - mirrors pybpf.open
         log: Callable[[str], None] | None = None) -> ObjectSpec:
    """Parse a BPF object file (a path, or its bytes) into an :class:`ObjectSpec`.

    ``name`` overrides the object name (default: the file's basename up to the
    first dot; empty for bytes), which prefixes global-data map names as in
    libbpf (``"hello.bss"``). ``strict_maps=False`` ignores unknown fields in
    BTF map definitions. ``log`` receives debug messages.
    """
    path = ""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = os.fspath(source)
        try:
            with _builtin_open(path, "rb") as f:
                data = f.read()
        except IsADirectoryError:
            raise ELFError(f"{path} is a directory, not an object file") from None
    return parse_object(data, name, path, strict_maps=strict_maps, log_fn=log)
