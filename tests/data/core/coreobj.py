"""Test helper: compile the CO-RE C sources and split a BPF ELF object into programs."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from elftools.elf.elffile import ELFFile

from pybpf.asm import decode
from pybpf.btf import BTF, BTFExt, CoreRelo

HERE = os.path.dirname(os.path.abspath(__file__))
CLANG = shutil.which("clang-19") or ("/usr/bin/clang-19" if os.path.exists("/usr/bin/clang-19") else None)
SOURCES = ("core_fields.c", "core_types.c")
#: Objects libbpf itself refuses (for the differential test only).
FAILING_SOURCES = ("core_quirk.c",)


@dataclass
class Prog:
    name: str
    section: str
    insns: list
    relos: list  # [(slot within the program, CoreRelo, index within the section)]


@dataclass
class Obj:
    path: str
    btf: BTF
    ext: BTFExt
    progs: dict = field(default_factory=dict)


def compile_all(outdir: str, sources=SOURCES) -> dict[str, str]:
    """Compile ``sources`` into ``outdir``; {source stem: object path}."""
    out = {}
    for src in sources:
        obj = os.path.join(outdir, src.replace(".c", ".o"))
        subprocess.run([CLANG, "-target", "bpf", "-O2", "-g", "-I", HERE, "-c", os.path.join(HERE, src),
                        "-o", obj], check=True, capture_output=True)
        out[src[:-2]] = obj
    return out


def load(path: str) -> Obj:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        btf = BTF.from_bytes(elf.get_section_by_name(".BTF").data())
        ext = BTFExt.from_bytes(elf.get_section_by_name(".BTF.ext").data(), btf)
        obj = Obj(path, btf, ext)
        symtab = elf.get_section_by_name(".symtab")
        for idx, sec in enumerate(elf.iter_sections()):
            if not sec["sh_flags"] & 0x4 or sec["sh_type"] != "SHT_PROGBITS" or not sec.data_size:
                continue
            data = sec.data()
            relos = ext.core_relos.get(sec.name, [])
            for sym in symtab.iter_symbols():
                if sym["st_info"]["type"] != "STT_FUNC" or sym["st_shndx"] != idx:
                    continue
                start, size = sym["st_value"] // 8, sym["st_size"] // 8
                mine = [(r.insn_off // 8 - start, r, i) for i, r in enumerate(relos)
                        if start <= r.insn_off // 8 < start + size]
                insns = decode(data[start * 8:(start + size) * 8])
                obj.progs[sym.name] = Prog(sym.name, sec.name, insns, mine)
    return obj


def relo_pairs(prog: Prog) -> list[tuple[int, CoreRelo]]:
    return [(slot, r) for slot, r, _ in prog.relos]
