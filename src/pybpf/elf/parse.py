"""ELF object -> :class:`~pybpf.elf.objspec.ObjectSpec` (libbpf's ``bpf_object__open``).

Order of work, as in libbpf: collect sections (license, version, maps, BTF,
programs, global data), collect externs and rewrite their BTF, fix DATASECs
up, build map specs (BTF-defined, legacy, global data, ``.kconfig``), find
programs and match their ``SEC()``, record relocations, then link every entry
program with the subprograms it calls.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

from ..asm.insn import Instruction, decode
from ..btf.ext import BTFExt, func_info_blob, line_info_blob
from ..btf.spec import BTF
from ..errors import AssemblerError, BTFError, ELFError
from .btffix import BTFPatcher, fixup_datasecs, mark_static
from .externs import ExternKind, collect_externs
from .linker import Func, RelocContext, attach_core_relos, encode_slots, find_functions, link, record_relocs, \
    relocate_data
from .maps import DataKind, ObjectMapSpec, collect_map_relos, data_kind, internal_map_spec, parse_btf_maps, \
    parse_legacy_maps
from .objspec import ObjectProgramSpec, ObjectSpec
from .reader import SHT, ElfObject
from .sections import parse_section
from .structops import bind_struct_ops_programs, collect_struct_ops_relos, is_struct_ops_section, \
    parse_struct_ops_maps

__all__ = ["parse_object", "object_name"]

log = logging.getLogger("pybpf.loader")
Log = Callable[[str], None]


def object_name(path: str) -> str:
    """libbpf's object name: the file's basename up to its first ``.``."""
    base = os.path.basename(path)
    return base.split(".", 1)[0][:15]


def _license(data: bytes) -> str:
    return data[:63].split(b"\0", 1)[0].decode("utf-8", "replace")


def parse_object(data: bytes, name: str = "", path: str = "", *, strict_maps: bool = True,
                 log_fn: Log | None = None) -> ObjectSpec:
    """Parse the bytes of a clang-built BPF object into an :class:`ObjectSpec`."""
    try:
        return _parse(data, name, path, strict_maps, log_fn)
    except (BTFError, ELFError):
        raise
    except AssemblerError as e:
        raise ELFError(f"malformed instructions: {e}") from None
    except RecursionError:
        raise ELFError("malformed object: type graph too deep") from None


def _parse(data: bytes, name: str, path: str, strict_maps: bool, log_fn: Log | None) -> ObjectSpec:
    def dbg(msg: str) -> None:
        log.debug(msg)
        if log_fn is not None:
            log_fn(msg)

    elf = ElfObject(data)
    license_ = ""
    kern_version = 0
    btf_sec = ext_sec = maps_sec = legacy_sec = None
    st_ops_secs = []
    text_idx = 0
    for sec in elf.sections[1:]:
        n = sec.name
        if n == "license":
            license_ = _license(sec.data)
        elif n == "version":
            if sec.size != 4:
                raise ELFError(f"invalid 'version' section of {sec.size} bytes")
            kern_version = int.from_bytes(sec.data, "little" if elf.byteorder == "little" else "big")
        elif n == "maps":
            legacy_sec = sec
        elif n == ".maps":
            maps_sec = sec
        elif n == ".BTF":
            if sec.type != SHT.PROGBITS:
                raise ELFError(".BTF is not PROGBITS")
            btf_sec = sec
        elif n == ".BTF.ext":
            if sec.type != SHT.PROGBITS:
                raise ELFError(".BTF.ext is not PROGBITS")
            ext_sec = sec
        elif n == ".text" and sec.executable:
            text_idx = sec.index
        elif is_struct_ops_section(n) and sec.type == SHT.PROGBITS:
            st_ops_secs.append(sec)
    dbg(f"elf: license {license_!r}, kernel version {kern_version:#x}")

    raw_btf = BTF.from_bytes(btf_sec.data) if btf_sec is not None else None
    patcher = BTFPatcher(raw_btf) if raw_btf is not None else None
    externs = collect_externs(elf, patcher)
    for e in externs.values():
        dbg(f"extern ({e.kind.value}) {e.name!r}: " + (f"offset {e.offset}, size {e.size}"
                                                      if e.kind == ExternKind.KCONFIG else f"type [{e.type_id}]"))
    funcs = find_functions(elf, text_idx)
    if patcher is not None:
        fixup_datasecs(patcher, elf)
        mark_static(patcher, [f.name for f in funcs if f.is_subprog and f.hidden])
    btf = patcher.build() if patcher is not None else None
    ext = BTFExt.from_bytes(ext_sec.data, btf) if ext_sec is not None and btf is not None else None

    obj_name = name or (object_name(path) if path else "")
    maps: dict[str, ObjectMapSpec] = {}
    if maps_sec is not None:
        if btf is None:
            raise ELFError("'.maps' section needs BTF, but the object has no .BTF section")
        for m in parse_btf_maps(elf, btf, maps_sec, strict_maps):
            maps[m.name] = m
    if legacy_sec is not None:
        for m in parse_legacy_maps(elf, legacy_sec):
            if m.name in maps:
                raise ELFError(f"map {m.name!r} defined twice")
            maps[m.name] = m
    data_keys: dict[int, str] = {}
    for sec in elf.sections[1:]:
        kind = data_kind(sec)
        if kind is None or not sec.size:
            continue
        m = internal_map_spec(obj_name, sec.name, kind, sec.data if kind != DataKind.BSS else b"", sec.size, btf)
        maps[sec.name] = m
        data_keys[sec.index] = sec.name
    kconfig = {e.name: e.offset for e in externs.values() if e.kind == ExternKind.KCONFIG}
    if kconfig:
        last = max((e for e in externs.values() if e.kind == ExternKind.KCONFIG), key=lambda e: e.offset)
        size = last.offset + last.size
        maps[".kconfig"] = internal_map_spec(obj_name, ".kconfig", DataKind.KCONFIG, bytes(size), size, btf)
    for sec in st_ops_secs:
        for m in parse_struct_ops_maps(btf, sec):
            if m.name in maps:
                raise ELFError(f"map {m.name!r} defined twice")
            maps[m.name] = m
    for m in maps.values():
        dbg(f"map {m.name!r}: type {m.type!r}, key {m.key_size}, value {m.value_size}, "
            f"max_entries {m.max_entries}, flags {int(m.flags):#x}" + (f" (from {m.section})" if m.section else ""))

    # ---------------------------------------------------------------- programs
    sec_infos = {}
    for f in funcs:
        if not f.is_subprog and f.sec_name not in sec_infos:
            sec_infos[f.sec_name] = parse_section(f.sec_name)
    map_sections = frozenset(s.index for s in (maps_sec, legacy_sec) if s is not None)
    by_loc = {(m.section, m.sec_offset): k for k, m in maps.items() if not m.internal}

    def map_at(shndx: int, off: int) -> str | None:
        return by_loc.get((elf.sections[shndx].name, off))

    ctx = RelocContext(elf, text_idx, map_at, data_keys.get, map_sections,
                       {e.sym_index: e.name for e in externs.values()})
    for sec_idx, rels in elf.rels.items():
        sec = elf.section(sec_idx)
        if sec.executable and sec.type == SHT.PROGBITS:
            record_relocs(ctx, funcs, sec, rels)
    if ext is not None:
        attach_core_relos(funcs, ext, {s.name: s.index for s in elf.sections if s.executable})
    if maps_sec is not None and maps_sec.index in elf.rels:
        assert btf is not None
        entry = {f.name: (f.sec_idx, f.sec_off * 8) for f in funcs if not f.is_subprog}
        collect_map_relos(elf, btf, maps_sec, maps, entry)
        for m in maps.values():
            for slot, target in sorted(m.init_slots.items()):
                dbg(f"map {m.name!r}: slot [{slot}] points to {target!r}")

    if st_ops_secs:
        entries = {(f.sec_idx, f.sec_off * 8): (f.name, sec_infos[f.sec_name].prog_type)
                   for f in funcs if not f.is_subprog}
        for sec in st_ops_secs:
            collect_struct_ops_relos(elf, sec, maps, entries)
        for m in maps.values():
            for member, target in (m.struct_ops.programs.items() if m.struct_ops is not None else ()):
                dbg(f"map {m.name!r}: struct_ops member {member!r} points to {target!r}")

    programs: dict[str, ObjectProgramSpec] = {}
    for f in funcs:
        if f.is_subprog:
            continue
        programs[f.name] = _program(f, funcs, text_idx, ext, sec_infos[f.sec_name], kconfig, license_,
                                    kern_version, btf, dbg)
    bind_struct_ops_programs(maps, programs)
    return ObjectSpec(obj_name, btf=btf, btf_ext=ext, license=license_, kern_version=kern_version, maps=maps,
                      programs=programs, externs=externs, path=path)


def _program(f: Func, funcs: list[Func], text_idx: int, ext: BTFExt | None, info, kconfig: dict[str, int],
             license_: str, kern_version: int, btf: BTF | None, dbg: Log) -> ObjectProgramSpec:
    linked = link(f, funcs, text_idx, ext)
    for sub in linked.subprogs:
        dbg(f"prog {f.name!r}: appended subprogram {sub!r}")
    syms = relocate_data(linked, kconfig, ".kconfig", f.name)
    for i, s in sorted(syms.items()):
        dbg(f"prog {f.name!r}: insn #{i} references {s!r}")
    insns = decode(encode_slots(linked.slots))
    if syms:
        slot = 0
        out: list[Instruction] = []
        for ins in insns:
            sym = syms.get(slot)
            if sym is not None:
                ins = ins.copy()
                ins.symbol = sym
            out.append(ins)
            slot += ins.size
        insns = out
    fi = func_info_blob(linked.func_info) if linked.func_info else None
    li = line_info_blob(linked.line_info) if linked.line_info else None
    return ObjectProgramSpec(
        type=info.prog_type, instructions=insns, license=license_, name=f.name,
        expected_attach_type=info.expected_attach_type, attach_to=info.attach_to, section=f.sec_name,
        kernel_version=kern_version, flags=info.prog_flags, btf=btf,
        func_info=fi.data if fi else b"", func_info_rec_size=fi.rec_size if fi else 0,
        line_info=li.data if li else b"", line_info_rec_size=li.rec_size if li else 0,
        autoload=info.autoload, sec_def=info.sec_def, core_relos=linked.core, subprograms=linked.subprogs)
