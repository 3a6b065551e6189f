"""A plain, validated model of a BPF ELF relocatable object, read with pyelftools.

Everything pyelftools can raise on hostile input is turned into
:class:`pybpf.errors.ELFError` here, once; later stages work on plain Python
objects (:class:`Section`, :class:`Symbol`, :class:`Rel`) and bound-check what
they use. Only sections the loader needs have their bytes read (debug sections
are never touched), and every size is checked against the file before
pyelftools sees it, so a corrupt header cannot make the reader allocate or
loop without bound.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import struct
import sys
from typing import Any, Iterator

from ..errors import ELFError

__all__ = ["ElfObject", "Section", "Symbol", "Rel", "SHT", "STT", "STB", "STV", "SHN_UNDEF", "SHN_LORESERVE",
           "SHF_EXECINSTR", "SHF_COMPRESSED", "EM_BPF", "R_BPF"]

EM_BPF = 247
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHF_COMPRESSED = 0x800
_MAX_SECTIONS = 1 << 16
#: Largest SHT_NOBITS (``.bss``) section accepted: its zeroed contents are materialized.
MAX_NOBITS_SIZE = 64 << 20


class SHT:
    """Section types used by the loader."""

    NULL = 0
    PROGBITS = 1
    SYMTAB = 2
    STRTAB = 3
    RELA = 4
    NOBITS = 8
    REL = 9
    LLVM_ADDRSIG = 0x6FFF4C03


class STT:
    NOTYPE = 0
    OBJECT = 1
    FUNC = 2
    SECTION = 3
    FILE = 4


class STB:
    LOCAL = 0
    GLOBAL = 1
    WEAK = 2


class STV:
    DEFAULT = 0
    INTERNAL = 1
    HIDDEN = 2
    PROTECTED = 3


class R_BPF:
    """BPF relocation types (llvm/BinaryFormat/ELFRelocs/BPF.def)."""

    NONE = 0
    R_64_64 = 1
    R_64_ABS64 = 2
    R_64_ABS32 = 3
    R_64_NODYLD32 = 4
    R_64_32 = 10


@dataclasses.dataclass
class Section:
    """One section header plus (lazily) its bytes."""

    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int
    _file: "ElfObject | None" = dataclasses.field(default=None, repr=False, compare=False)
    _data: bytes | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def data(self) -> bytes:
        """The section's bytes (zeros for SHT_NOBITS)."""
        if self._data is None:
            if self.type == SHT.NOBITS:
                self._data = bytes(self.size)
            else:
                if self.flags & SHF_COMPRESSED:
                    raise ELFError(f"section {self.name!r} is compressed; pybpf does not decompress sections")
                assert self._file is not None
                self._data = self._file._raw[self.offset:self.offset + self.size]
        return self._data

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)


@dataclasses.dataclass(frozen=True)
class Symbol:
    """One ``Elf64_Sym``: ``type``/``bind``/``visibility`` are the raw STT/STB/STV numbers."""

    index: int
    name: str
    value: int
    size: int
    type: int
    bind: int
    visibility: int
    shndx: int

    @property
    def is_extern(self) -> bool:
        """NOTYPE, GLOBAL or WEAK, undefined: a C ``extern`` (libbpf's sym_is_extern)."""
        return self.shndx == SHN_UNDEF and self.bind in (STB.GLOBAL, STB.WEAK) and self.type == STT.NOTYPE


@dataclasses.dataclass(frozen=True)
class Rel:
    """One ``Elf64_Rel``: a relocation at byte ``offset`` against symbol ``sym``."""

    offset: int
    sym: int
    type: int


def _names(enum: Any) -> dict:
    return {k: v for k, v in enum.items() if isinstance(v, int)}


@functools.lru_cache(maxsize=1)
def _enum_tables() -> tuple[dict, dict, dict, dict, dict]:
    """pyelftools' name -> number tables (section types, symbol type/bind/visibility/shndx), built once."""
    from elftools.elf.enums import (
        ENUM_SH_TYPE_BASE, ENUM_ST_INFO_BIND, ENUM_ST_INFO_TYPE, ENUM_ST_SHNDX, ENUM_ST_VISIBILITY,
    )

    return (_names(ENUM_SH_TYPE_BASE), _names(ENUM_ST_INFO_TYPE), _names(ENUM_ST_INFO_BIND),
            _names(ENUM_ST_VISIBILITY), _names(ENUM_ST_SHNDX))


class ElfObject:
    """A parsed BPF relocatable object.

    ``sections`` is indexed by section number (entry 0 is the null section),
    ``symbols`` by symbol index, ``rels[target_section_index]`` lists the
    relocations that apply to that section (allocated sections only: those of
    DWARF, ``.BTF`` and ``.BTF.ext`` are checked but not read).
    """

    def __init__(self, data: bytes) -> None:
        self._raw = bytes(data)
        self.sections: list[Section] = []
        self.symbols: list[Symbol] = []
        self.symtab_index = 0
        self.rels: dict[int, list[Rel]] = {}
        self.byteorder = "little"
        self._precheck()
        try:
            self._parse()
        except ELFError:
            raise
        except RecursionError:
            raise ELFError("malformed ELF: structure too deeply nested") from None
        except Exception as e:  # pyelftools/construct raise many unrelated types on corrupt input
            raise ELFError(f"malformed ELF: {type(e).__name__}: {e}") from None

    # ------------------------------------------------------------------ checks
    def _precheck(self) -> None:
        raw = self._raw
        if len(raw) < 64 or raw[:4] != b"\x7fELF":
            raise ELFError("not an ELF file (bad magic or too short)")
        if raw[4] != 2:
            raise ELFError("not a 64-bit ELF file (BPF objects are ELFCLASS64)")
        if raw[5] not in (1, 2):
            raise ELFError(f"bad ELF data encoding {raw[5]}")
        self.byteorder = "little" if raw[5] == 1 else "big"
        if self.byteorder != sys.byteorder:
            raise ELFError(f"object is {self.byteorder}-endian but this host is {sys.byteorder}-endian")
        p = "<" if self.byteorder == "little" else ">"
        e_type, e_machine = struct.unpack_from(p + "HH", raw, 16)
        if e_machine != EM_BPF:
            raise ELFError(f"not a BPF object (e_machine {e_machine}, expected EM_BPF={EM_BPF})")
        if e_type != 1:
            raise ELFError(f"not a relocatable object (e_type {e_type}); compile with clang -target bpf -c")
        shoff, = struct.unpack_from(p + "Q", raw, 40)
        shentsize, shnum, shstrndx = struct.unpack_from(p + "HHH", raw, 58)
        if shnum == 0 and shoff:
            # Extended numbering: the real count lives in section 0's sh_size.
            if shoff + 64 > len(raw):
                raise ELFError("section header table past end of file")
            shnum = struct.unpack_from(p + "Q", raw, shoff + 32)[0]
        if shentsize != 64 and shnum:
            raise ELFError(f"bad section header size {shentsize}")
        if shnum > _MAX_SECTIONS or shoff + shnum * 64 > len(raw):
            raise ELFError(f"section header table ({shnum} entries at {shoff}) past end of file")
        if shnum and shstrndx >= shnum and shstrndx != 0xFFFF:
            raise ELFError(f"section name table index {shstrndx} out of range")
        for i in range(shnum):
            base = shoff + i * 64
            sh_type, = struct.unpack_from(p + "I", raw, base + 4)
            off, size = struct.unpack_from(p + "QQ", raw, base + 24)
            if sh_type != SHT.NOBITS and i and off + size > len(raw):
                raise ELFError(f"section #{i} ({off}+{size}) extends past end of file ({len(raw)} bytes)")
            if sh_type == SHT.NOBITS and size > MAX_NOBITS_SIZE:
                raise ELFError(f"section #{i}: {size} bytes of zero-initialized data is more than pybpf accepts "
                               f"({MAX_NOBITS_SIZE} bytes)")

    # ------------------------------------------------------------------ parse
    def _parse(self) -> None:
        from elftools.elf.elffile import ELFFile

        sht, stt, stb, stv, shn = _enum_tables()

        def num(v: object, table: dict, what: str) -> int:
            if isinstance(v, int):
                return v
            if isinstance(v, str) and v in table:
                return int(table[v])
            if isinstance(v, str) and v.startswith(("SHT_", "STT_", "STB_", "STV_")):
                return -1  # processor/OS-specific value pyelftools named: irrelevant to BPF
            raise ELFError(f"unexpected {what} {v!r}")

        elf = ELFFile(io.BytesIO(self._raw))
        n = elf.num_sections()
        for i in range(n):
            hdr = elf._get_section_header(i)
            name = elf._get_section_name(hdr) if i else ""
            sec = Section(i, name, num(hdr["sh_type"], sht, "section type"), int(hdr["sh_flags"]),
                          int(hdr["sh_offset"]), int(hdr["sh_size"]), int(hdr["sh_link"]), int(hdr["sh_info"]),
                          int(hdr["sh_entsize"]), self)
            self.sections.append(sec)
        symtabs = [s for s in self.sections if s.type == SHT.SYMTAB]
        if len(symtabs) > 1:
            raise ELFError("multiple symbol tables")
        if not symtabs:
            raise ELFError("no symbol table (stripped object?)")
        st = symtabs[0]
        self.symtab_index = st.index
        if st.entsize != 24 or st.size % 24:
            raise ELFError(f"bad symbol table entry size {st.entsize}")
        if not 0 < st.link < n or self.sections[st.link].type != SHT.STRTAB:
            raise ELFError("symbol string table missing or invalid")
        stsec = elf.get_section(st.index)
        for idx, s in enumerate(stsec.iter_symbols()):  # type: ignore[attr-defined]
            info, other = s["st_info"], s["st_other"]
            shndx = s["st_shndx"]
            self.symbols.append(Symbol(
                idx, s.name, int(s["st_value"]), int(s["st_size"]), num(info["type"], stt, "symbol type"),
                num(info["bind"], stb, "symbol binding"), num(other["visibility"], stv, "symbol visibility"),
                num(shndx, shn, "symbol section") if not isinstance(shndx, int) else shndx))
        for sec in self.sections:
            if sec.type == SHT.RELA:
                raise ELFError(f"section {sec.name!r}: RELA relocations are not used by BPF objects")
            if sec.type != SHT.REL:
                continue
            if sec.entsize != 16 or sec.size % 16:
                raise ELFError(f"relocation section {sec.name!r}: bad entry size {sec.entsize}")
            if not 0 < sec.info < n:
                raise ELFError(f"relocation section {sec.name!r} targets invalid section #{sec.info}")
            if not self.sections[sec.info].flags & SHF_ALLOC:
                continue  # DWARF, .BTF, .BTF.ext: no loader applies these (libbpf skips them too)
            self.rels.setdefault(sec.info, []).extend(self._iter_rels(sec))

    def _iter_rels(self, sec: Section) -> Iterator[Rel]:
        p = "<" if self.byteorder == "little" else ">"
        data = sec.data
        for off, info in struct.iter_unpack(p + "QQ", data):
            sym = info >> 32
            if sym >= len(self.symbols):
                raise ELFError(f"relocation section {sec.name!r}: symbol #{sym} out of range")
            yield Rel(off, sym, info & 0xFFFFFFFF)

    # ------------------------------------------------------------------ queries
    def section_by_name(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section(self, index: int) -> Section:
        if not 0 <= index < len(self.sections):
            raise ELFError(f"section index {index} out of range")
        return self.sections[index]

    def symbol_name(self, sym: Symbol) -> str:
        """The symbol's name, or its section's name for unnamed section symbols (static functions)."""
        if sym.type == STT.SECTION and not sym.name and 0 < sym.shndx < len(self.sections):
            return self.sections[sym.shndx].name
        return sym.name
