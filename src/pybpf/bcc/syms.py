"""Address <-> symbol resolution for BCC's ``ksym``/``ksymname``/``sym``.

Kernel symbols come from ``/proc/kallsyms`` (addresses need root: they read
as 0 otherwise); user symbols from the ELF ``.symtab``/``.dynsym`` of the
file mapped at the address in ``/proc/<pid>/maps``.  Results are bytes, as
in BCC (``b"do_sys_openat2"``, ``b"[unknown]"``).
"""

from __future__ import annotations

import bisect
import os
import threading
from typing import Optional

__all__ = ["KernelSymbols", "UserSymbols", "kernel_symbols", "user_symbols", "format_symbol"]

_lock = threading.Lock()


class KernelSymbols:
    """Sorted ``/proc/kallsyms`` text symbols: :meth:`resolve` and :meth:`address`."""

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        syms: list[tuple[int, str, str]] = []
        self.by_name: dict[str, int] = {}
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                addr, kind, name = int(parts[0], 16), parts[1], parts[2]
                mod = parts[3].strip("[]") if len(parts) > 3 else "kernel"
                self.by_name.setdefault(name, addr)
                if kind in "tTwW" and addr:
                    syms.append((addr, name, mod))
        syms.sort()
        self.addrs = [s[0] for s in syms]
        self.syms = syms

    def resolve(self, addr: int) -> tuple[Optional[str], int, Optional[str]]:
        """(name, offset, module) of the function containing ``addr``; (None, addr, None) if none."""
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return None, addr, None
        a, name, mod = self.syms[i]
        return name, addr - a, mod

    def address(self, name: str) -> int:
        """The address of ``name``, or -1."""
        return self.by_name.get(name, -1) or -1


class _ElfSyms:
    def __init__(self, path: str) -> None:
        from elftools.elf.elffile import ELFFile

        self.path = path
        self.loads: list[tuple[int, int, int]] = []  # (p_offset, p_filesz, p_vaddr)
        funcs: dict[int, tuple[int, str]] = {}
        with open(path, "rb") as f:
            elf = ELFFile(f)
            self.pie = elf.header["e_type"] == "ET_DYN"
            for seg in elf.iter_segments():
                if seg["p_type"] == "PT_LOAD":
                    self.loads.append((seg["p_offset"], seg["p_filesz"], seg["p_vaddr"]))
            for secname in (".symtab", ".dynsym"):
                sec = elf.get_section_by_name(secname)
                if sec is None:
                    continue
                for s in sec.iter_symbols():  # type: ignore[attr-defined]
                    if s["st_info"]["type"] in ("STT_FUNC", "STT_GNU_IFUNC") and s["st_value"] and s.name:
                        funcs.setdefault(s["st_value"], (s["st_size"], s.name))
        items = sorted(funcs.items())
        self.starts = [a for a, _ in items]
        self.funcs = [(a, sz, n) for a, (sz, n) in items]

    def vaddr(self, file_off: int) -> Optional[int]:
        for off, sz, va in self.loads:
            if off <= file_off < off + sz:
                return file_off - off + va
        return None

    def resolve(self, vaddr: int) -> tuple[Optional[str], int]:
        i = bisect.bisect_right(self.starts, vaddr) - 1
        if i < 0:
            return None, vaddr
        a, sz, name = self.funcs[i]
        if sz and vaddr >= a + sz:
            return None, vaddr
        return name, vaddr - a


class UserSymbols:
    """Symbols of one process, from its memory map and the mapped ELF files."""

    _elf_cache: dict[str, Optional[_ElfSyms]] = {}

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.maps: list[tuple[int, int, int, str]] = []
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) < 6 or "x" not in parts[1]:
                        continue
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    path = parts[5].strip()
                    if path.startswith("/"):
                        self.maps.append((lo, hi, int(parts[2], 16), path))
        except OSError:
            pass

    @classmethod
    def _elf(cls, path: str) -> Optional[_ElfSyms]:
        with _lock:
            if path in cls._elf_cache:
                return cls._elf_cache[path]
        try:
            e: Optional[_ElfSyms] = _ElfSyms(path)
        except Exception:  # not an ELF file, unreadable, deleted...
            e = None
        with _lock:
            cls._elf_cache[path] = e
        return e

    def resolve(self, addr: int) -> tuple[Optional[str], int, Optional[str]]:
        for lo, hi, off, path in self.maps:
            if lo <= addr < hi:
                e = self._elf(path)
                if e is None:
                    return None, addr - lo + off, path
                va = e.vaddr(addr - lo + off)
                if va is None:
                    return None, addr, path
                name, delta = e.resolve(va)
                return name, (delta if name else va), path
        return None, addr, None


_ksyms: list[KernelSymbols] = []
_usyms: dict[int, UserSymbols] = {}


def kernel_symbols() -> KernelSymbols:
    with _lock:
        if not _ksyms:
            _ksyms.append(KernelSymbols())
        return _ksyms[0]


def user_symbols(pid: int) -> UserSymbols:
    with _lock:
        u = _usyms.get(pid)
    if u is None:
        u = UserSymbols(pid)
        with _lock:
            _usyms[pid] = u
    return u


def format_symbol(name: Optional[str], offset: int, module: Optional[str], show_module: bool,
                  show_offset: bool) -> bytes:
    """BCC's formatting: ``name[+0xoff][ [module]]``, ``[unknown]`` for unresolved addresses."""
    out = (name or "[unknown]").encode()
    if show_offset and name is not None:
        out += b"+0x%x" % offset
    if show_module and module is not None:
        out += b" [%s]" % os.path.basename(module).encode()
    return out
