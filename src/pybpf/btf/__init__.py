"""BTF (BPF Type Format): parse, query and write.

A pure layer (no syscalls)::

    from pybpf.btf import BTF
    vmlinux = BTF.load_vmlinux()
    task = vmlinux.find("task_struct")
    off, typ = vmlinux.member_offset(task, "pid")

Modules: :mod:`.types` (type classes), :mod:`.spec` (the :class:`BTF`
container), :mod:`.writer` (:class:`Builder`), :mod:`.ext` (``.BTF.ext``),
:mod:`.layout` / :mod:`.cdecl` (size, alignment, offsets, C spelling),
:mod:`.cache` (on-disk index cache).
"""

from __future__ import annotations

from ..errors import BTFError
from .ext import (
    CORE_RELO_SIZE, FUNC_INFO_SIZE, LINE_INFO_SIZE, BTFExt, CoreRelo, CoreReloKind, FuncInfo, InfoBlob,
    LineInfo, core_relo_blob, func_info_blob, line_info_blob,
)
from .spec import BTF, VMLINUX_PATH
from .types import (
    VOID, Array, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func, FuncProto, Fwd, Int,
    IntEncoding, Kind, Linkage, Member, MemberNotFound, Param, Ptr, Restrict, Struct, Type, TypeNotFound,
    TypeTag, Typedef, Union, Var, VarSecinfo, Void, Volatile, type_refs,
)
from .writer import Builder, StringTable

#: Alias: cilium/ebpf calls the container a Spec.
Spec = BTF

__all__ = [
    "BTF", "Spec", "Builder", "StringTable", "VMLINUX_PATH", "BTFError", "TypeNotFound", "MemberNotFound",
    "Kind", "IntEncoding", "Linkage", "Type", "Void", "VOID", "Int", "Ptr", "Array", "Struct", "Union",
    "Member", "Enum", "Enum64", "EnumValue", "Fwd", "Typedef", "Volatile", "Const", "Restrict", "Func",
    "FuncProto", "Param", "Var", "Datasec", "VarSecinfo", "Float", "DeclTag", "TypeTag", "type_refs",
    "BTFExt", "FuncInfo", "LineInfo", "CoreRelo", "CoreReloKind", "InfoBlob",
    "func_info_blob", "line_info_blob", "core_relo_blob", "FUNC_INFO_SIZE", "LINE_INFO_SIZE", "CORE_RELO_SIZE",
]

# Typed values (map keys/values, global variables) and the C header dumper.
from .cdump import dump_c  # noqa: E402
from .values import DatasecView, codec_for, ctypes_type, format_value  # noqa: E402

__all__ += ["codec_for", "ctypes_type", "DatasecView", "format_value", "dump_c"]
