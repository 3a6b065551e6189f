"""Programs of a BPF object: relocation records and bpf-to-bpf linking.

Mirrors libbpf's ``bpf_program__record_reloc()``, ``bpf_object__reloc_code()``
(used subprograms are appended to each entry program, depth first, in the
order their first call is met — the order decides the kernel-visible
bytecode), ``adjust_prog_btf_ext_info()`` (func/line info re-based to
instruction indexes) and ``bpf_object__relocate_data()``.

Everything works on 8-byte *slots* (an ``lddw`` is two); the result of
:func:`link` is a slot list where map, global-data and extern references are
marked with symbolic names, to be turned into fds/BTF ids by the loader.
"""

from __future__ import annotations

import dataclasses
import struct
from enum import Enum
from typing import Callable, Iterable

from ..asm.opcodes import PseudoCall, PseudoSrc
from ..btf.ext import BTFExt, CoreRelo, FuncInfo, LineInfo
from ..errors import ELFError
from .reader import SHN_LORESERVE, STB, STT, STV, ElfObject, Rel, Section, Symbol

__all__ = ["RelocKind", "Reloc", "Func", "LinkedProgram", "find_functions", "record_relocs", "link",
           "LDDW", "CALL"]

LDDW = 0x18
CALL = 0x85
_SLOT = struct.Struct("<BBhi")
Slot = tuple[int, int, int, int]  # opcode, regs (dst | src << 4), off, imm


class RelocKind(str, Enum):
    MAP = "map"  # lddw of a map (PSEUDO_MAP_FD)
    DATA = "data"  # lddw of global data (PSEUDO_MAP_VALUE)
    EXTERN_VAR = "extern_var"
    EXTERN_FUNC = "extern_func"  # kfunc call
    CALL = "call"  # bpf-to-bpf call
    SUBPROG_ADDR = "subprog_addr"  # lddw of a subprogram's address (PSEUDO_FUNC)


@dataclasses.dataclass
class Reloc:
    """A relocation of slot ``insn`` (program-relative): ``target`` names the map key
    or extern; ``sym_off`` is the symbol's byte offset (data, calls)."""

    kind: RelocKind
    insn: int
    target: str = ""
    sym_off: int = 0


@dataclasses.dataclass
class Func:
    """A function of the object: an entry-point program or a ``.text`` subprogram."""

    name: str
    sec_idx: int
    sec_name: str
    sec_off: int  # in slots
    slots: list[Slot]
    is_subprog: bool
    hidden: bool = False
    relos: list[Reloc] = dataclasses.field(default_factory=list)
    core: list[tuple[int, CoreRelo]] = dataclasses.field(default_factory=list)

    @property
    def cnt(self) -> int:
        return len(self.slots)

    def contains(self, sec_idx: int, insn: int) -> bool:
        return sec_idx == self.sec_idx and self.sec_off <= insn < self.sec_off + self.cnt


@dataclasses.dataclass
class LinkedProgram:
    """An entry program with its subprograms appended and every reference recorded."""

    slots: list[Slot]
    relos: list[Reloc]
    func_info: list[FuncInfo]
    line_info: list[LineInfo]
    core: list[tuple[int, CoreRelo]]
    subprogs: list[str]


def _slots(data: bytes) -> list[Slot]:
    return list(_SLOT.iter_unpack(data))


def find_functions(elf: ElfObject, text_idx: int) -> list[Func]:
    """Every FUNC symbol of every executable section, sorted by (section, offset)."""
    out: list[Func] = []
    for sec in elf.sections:
        if not sec.executable or not sec.size or sec.type != 1:
            continue
        data = sec.data
        nfuncs = len(out)
        for sym in elf.symbols:
            if sym.shndx != sec.index or sym.type != STT.FUNC:
                continue
            if sym.value % 8 or sym.size % 8 or not sym.size:
                raise ELFError(f"section {sec.name!r}: corrupted program {sym.name!r} "
                               f"(offset {sym.value}, size {sym.size})")
            if sym.value + sym.size > len(data):
                raise ELFError(f"section {sec.name!r}: program {sym.name!r} crosses the section boundary")
            if sec.index != text_idx and sym.bind == STB.LOCAL:
                raise ELFError(f"section {sec.name!r}: program {sym.name!r} is static; "
                               "entry programs must be global functions")
            hidden = sym.bind != STB.LOCAL and sym.visibility in (STV.HIDDEN, STV.INTERNAL)
            out.append(Func(sym.name, sec.index, sec.name, sym.value // 8,
                            _slots(data[sym.value:sym.value + sym.size]), sec.index == text_idx, hidden))
        if len(out) == nfuncs:
            # Old clang output (one program per section, no STT_FUNC symbol): libbpf 1.x silently
            # finds no program there; say so rather than drop the code.
            raise ELFError(f"section {sec.name!r}: {sec.size // 8} instructions but no STT_FUNC symbol; "
                           "programs without function symbols (old clang output, one program per "
                           "section) are not supported: rebuild with a current clang")
    out.sort(key=lambda f: (f.sec_idx, f.sec_off))
    for a, b in zip(out, out[1:]):
        if a.sec_idx == b.sec_idx and a.sec_off + a.cnt > b.sec_off:
            raise ELFError(f"section {a.sec_name!r}: functions {a.name!r} and {b.name!r} overlap")
    return out


def find_func(funcs: list[Func], sec_idx: int, insn: int) -> Func | None:
    for f in funcs:
        if f.contains(sec_idx, insn):
            return f
    return None


@dataclasses.dataclass
class RelocContext:
    """What :func:`record_relocs` needs to classify a relocation's symbol."""

    elf: ElfObject
    text_idx: int
    map_at: Callable[[int, int], "str | None"]  # (section index, offset) -> map key (.maps / legacy maps)
    data_map: Callable[[int], "str | None"]  # section index -> internal map key
    maps_sections: frozenset[int]
    extern_by_sym: dict[int, str]


def _record(ctx: RelocContext, f: Func, insn: int, rel: Rel, sym: Symbol, sym_name: str) -> Reloc:
    code, regs, _off, imm = f.slots[insn]
    is_call = code == CALL
    if not is_call and code != LDDW:
        raise ELFError(f"prog {f.name!r}: invalid relo against {sym_name!r} for insn #{insn} (code {code:#x})")
    if sym.is_extern:
        ext = ctx.extern_by_sym.get(sym.index)
        if ext is None:
            raise ELFError(f"prog {f.name!r}: extern relo failed to find extern for {sym_name!r}")
        return Reloc(RelocKind.EXTERN_FUNC if is_call else RelocKind.EXTERN_VAR, insn, ext)
    if is_call:
        if regs >> 4 != PseudoCall.CALL:
            raise ELFError(f"prog {f.name!r}: incorrect bpf_call opcode at insn #{insn}")
        if not sym.shndx or sym.shndx != ctx.text_idx:
            raise ELFError(f"prog {f.name!r}: bad call relo against {sym_name!r} outside .text")
        if sym.value % 8:
            raise ELFError(f"prog {f.name!r}: bad call relo against {sym_name!r} at offset {sym.value}")
        return Reloc(RelocKind.CALL, insn, sym_name, sym.value)
    if not sym.shndx or sym.shndx >= SHN_LORESERVE:
        raise ELFError(f"prog {f.name!r}: invalid relo against {sym_name!r} in special section "
                       f"{sym.shndx:#x}; forgot to initialize a global variable?")
    if sym.shndx == ctx.text_idx and ((sym.bind == STB.LOCAL and sym.type == STT.SECTION)
                                      or (sym.bind == STB.GLOBAL and sym.type == STT.FUNC)):
        if sym.value % 8 or imm % 8:
            raise ELFError(f"prog {f.name!r}: bad subprog addr relo against {sym_name!r}")
        return Reloc(RelocKind.SUBPROG_ADDR, insn, sym_name, sym.value)
    dm = ctx.data_map(sym.shndx)
    sec_name = ctx.elf.sections[sym.shndx].name
    if dm is None:
        if sym.shndx not in ctx.maps_sections:
            raise ELFError(f"prog {f.name!r}: bad map relo against {sym_name!r} in section {sec_name!r}")
        m = ctx.map_at(sym.shndx, sym.value)
        if m is None:
            raise ELFError(f"prog {f.name!r}: map relo failed to find map for section {sec_name!r}, "
                           f"offset {sym.value}")
        return Reloc(RelocKind.MAP, insn, m)
    return Reloc(RelocKind.DATA, insn, dm, sym.value)


def record_relocs(ctx: RelocContext, funcs: list[Func], sec: Section, rels: Iterable[Rel]) -> None:
    """libbpf's ``bpf_object__collect_prog_relos()`` for one executable section."""
    elf = ctx.elf
    for i, rel in enumerate(rels):
        sym = elf.symbols[rel.sym]
        if sym.shndx >= len(elf.sections) and sym.shndx < SHN_LORESERVE:
            raise ELFError(f"section {sec.name!r}: relo #{i}: symbol #{rel.sym} points to invalid "
                           f"section #{sym.shndx}")
        if rel.offset % 8 or rel.offset >= sec.size:
            raise ELFError(f"section {sec.name!r}: relo #{i}: invalid offset {rel.offset:#x}")
        insn = rel.offset // 8
        f = find_func(funcs, sec.index, insn)
        if f is None:
            continue  # e.g. an overridden weak function
        insn -= f.sec_off
        if f.slots[insn][0] == LDDW and insn + 1 >= f.cnt:
            raise ELFError(f"prog {f.name!r}: truncated lddw at insn #{insn}")
        f.relos.append(_record(ctx, f, insn, rel, sym, elf.symbol_name(sym) or "<?>"))
    for f in funcs:
        f.relos.sort(key=lambda r: r.insn)


def attach_core_relos(funcs: list[Func], ext: BTFExt, sec_index: dict[str, int]) -> None:
    """Distribute ``.BTF.ext`` CO-RE records to the functions that contain them."""
    for sec_name, recs in ext.core_relos.items():
        idx = sec_index.get(sec_name)
        if idx is None:
            continue
        for r in recs:
            if r.insn_off % 8:
                raise ELFError(f"CO-RE relocation in {sec_name!r} at unaligned offset {r.insn_off}")
            insn = r.insn_off // 8
            f = find_func(funcs, idx, insn)
            if f is None:
                continue
            f.core.append((insn - f.sec_off, r))


# ---------------------------------------------------------------------- linking
def _is_subprog_call(s: Slot) -> bool:
    return s[0] == CALL and s[1] == (PseudoCall.CALL << 4) and s[2] == 0


def _is_pseudo_func(s: Slot) -> bool:
    return s[0] == LDDW and (s[1] >> 4) == PseudoSrc.FUNC


def _ext_records(f: Func, recs: list, off_adj: int) -> list:
    lo, hi = f.sec_off, f.sec_off + f.cnt
    out = []
    for r in recs:
        i = r.insn_off // 8
        if lo <= i < hi:
            out.append(dataclasses.replace(r, insn_off=i - lo + off_adj))
    return out


def link(main: Func, funcs: list[Func], text_idx: int, ext: BTFExt | None) -> LinkedProgram:
    """Append every subprogram ``main`` uses (libbpf's ``bpf_object__relocate_calls()``)."""
    slots = list(main.slots)
    relos = [dataclasses.replace(r) for r in main.relos]
    core = list(main.core)
    placed: dict[int, int] = {}  # id(subprog) -> slot offset in main
    order: list[str] = []
    finfo: list[FuncInfo] | None = None
    linfo: list[LineInfo] | None = None

    def ext_info(f: Func, off: int) -> None:
        nonlocal finfo, linfo
        if ext is None:
            return
        for attr in ("func_info", "line_info"):
            cur = finfo if attr == "func_info" else linfo
            if f is not main and not cur:
                continue  # main program had none: skip all (as libbpf does)
            recs = _ext_records(f, getattr(ext, attr).get(f.sec_name, []), off)
            if not recs and f is not main:
                raise ELFError(f"prog {main.name!r}: missing .BTF.ext {attr.replace('_', ' ')} "
                               f"for subprogram {f.name!r}")
            if attr == "func_info":
                finfo = (finfo or []) + recs
            else:
                linfo = (linfo or []) + recs

    def reloc_code(f: Func, f_off: int, depth: int) -> None:
        if depth > 256:
            raise ELFError(f"prog {main.name!r}: subprogram call chain too deep")
        ext_info(f, f_off)
        f_relos = {r.insn: r for r in f.relos}
        for i in range(f.cnt):
            s = slots[f_off + i]
            r = f_relos.get(i)
            if r is not None and r.kind == RelocKind.SUBPROG_ADDR and s[0] == LDDW:
                s = (s[0], (s[1] & 0x0F) | (PseudoSrc.FUNC << 4), s[2], s[3])
                slots[f_off + i] = s
            if not _is_subprog_call(s) and not _is_pseudo_func(s):
                continue
            if r is not None and r.kind == RelocKind.EXTERN_FUNC:
                continue
            if r is not None and r.kind not in (RelocKind.CALL, RelocKind.SUBPROG_ADDR):
                raise ELFError(f"prog {f.name!r}: unexpected relo for insn #{i}, type {r.kind.value}")
            if r is not None:
                target = (r.sym_off // 8 + s[3] + 1) if r.kind == RelocKind.CALL else (r.sym_off + s[3]) // 8
            elif _is_pseudo_func(s):
                raise ELFError(f"prog {f.name!r}: missing subprog addr relo for insn #{i}")
            else:
                target = f.sec_off + i + s[3] + 1
            sub = find_func(funcs, text_idx, target)
            if sub is None:
                raise ELFError(f"prog {f.name!r}: call at insn #{i} to {target} but no .text function is there")
            if id(sub) not in placed:
                off = len(slots)
                placed[id(sub)] = off
                order.append(sub.name)
                slots.extend(sub.slots)
                relos.extend(dataclasses.replace(x, insn=x.insn + off) for x in sub.relos)
                core.extend((j + off, c) for j, c in sub.core)
                reloc_code(sub, off, depth + 1)
            s = slots[f_off + i]
            rel_off = placed[id(sub)] - (f_off + i) - 1
            slots[f_off + i] = (s[0], s[1], s[2], rel_off)

    reloc_code(main, 0, 0)
    return LinkedProgram(slots, relos, finfo or [], linfo or [], core, order)


def relocate_data(prog: LinkedProgram, kconfig_offsets: dict[str, int], kconfig_key: str,
                  name: str) -> dict[int, str]:
    """Rewrite map/data/extern references into their symbolic form.

    Returns slot index -> symbol: a map key for map and global-data loads
    (``lddw`` with src MAP_FD, or MAP_VALUE with the value offset in the
    upper immediate), an extern name for ksyms and kfunc calls.
    """
    slots = prog.slots
    syms: dict[int, str] = {}
    for r in prog.relos:
        i = r.insn
        if not 0 <= i < len(slots):
            raise ELFError(f"prog {name!r}: relocation at insn #{i} out of range")
        code, regs, off, imm = slots[i]
        wide = code == LDDW
        if wide and i + 1 >= len(slots):
            raise ELFError(f"prog {name!r}: truncated lddw at insn #{i}")
        if r.kind == RelocKind.MAP:
            slots[i] = (code, (regs & 0x0F) | (PseudoSrc.MAP_FD << 4), off, 0)
            syms[i] = r.target
        elif r.kind == RelocKind.DATA:
            n = slots[i + 1]
            slots[i + 1] = (n[0], n[1], n[2], _s32(imm + r.sym_off))
            slots[i] = (code, (regs & 0x0F) | (PseudoSrc.MAP_VALUE << 4), off, 0)
            syms[i] = r.target
        elif r.kind == RelocKind.EXTERN_VAR:
            if not wide:
                raise ELFError(f"prog {name!r}: extern {r.target!r} referenced by a non-lddw insn #{i}")
            if r.target in kconfig_offsets:
                n = slots[i + 1]
                slots[i + 1] = (n[0], n[1], n[2], kconfig_offsets[r.target])
                slots[i] = (code, (regs & 0x0F) | (PseudoSrc.MAP_VALUE << 4), off, 0)
                syms[i] = kconfig_key
            else:
                syms[i] = r.target
        elif r.kind == RelocKind.EXTERN_FUNC:
            slots[i] = (code, (regs & 0x0F) | (PseudoCall.KFUNC_CALL << 4), 0, 0)
            syms[i] = r.target
        elif r.kind == RelocKind.SUBPROG_ADDR and (regs >> 4) != PseudoSrc.FUNC:
            raise ELFError(f"prog {name!r}: bad subprog address insn #{i}")
    return syms


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def encode_slots(slots: list[Slot]) -> bytes:
    try:
        return b"".join(_SLOT.pack(*s) for s in slots)
    except struct.error as e:
        raise ELFError(f"cannot encode instructions: {e}") from None
