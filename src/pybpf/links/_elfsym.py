"""ELF helpers for uprobes and USDT: find a binary, turn a symbol into a file offset.

Uprobes are placed by (inode, file offset), so a symbol's virtual address is
translated through the PT_LOAD segment that maps it:
``offset = st_value - p_vaddr + p_offset`` (as libbpf's ``elf_find_func_offset``).

* binaries: a path, a program on ``$PATH``, or a library name (``libc.so.6``,
  ``libc``) looked up in ``$LD_LIBRARY_PATH``, ``/etc/ld.so.cache`` and the
  usual library directories;
* symbols: ``.symtab`` then ``.dynsym``; versioned names ``malloc@GLIBC_2.2.5``
  / ``malloc@@GLIBC_2.2.5`` (an unversioned name matches the default version);
  a GLOBAL definition wins over WEAK aliases at another address;
* ``STT_GNU_IFUNC`` symbols are resolved to the implementation the dynamic
  loader picks on this machine: ``dlsym`` on the copy *already mapped* in
  this process (``RTLD_NOLOAD``: the library is never loaded, so its
  constructors never run here), located through ``/proc/self/maps``; when the
  library is not mapped (or that fails) the resolver itself is probed, with a
  warning.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import functools
import os
import struct
import sys
import warnings
from typing import Any, Iterator

from ..errors import ELFError, Error, NotFoundError

__all__ = ["SymbolNotFoundError", "BinaryNotFoundError", "ElfSymbol", "resolve_binary", "resolve_symbol", "vaddr_to_offset",
           "split_symbol_version", "ld_so_cache", "symbol_offset", "match_symbols"]

STT_FUNC = 2
STT_GNU_IFUNC = 10
_COMMON_LIB_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                    "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/local/lib")


class SymbolNotFoundError(Error, LookupError):
    """A symbol is not defined in a binary (names both)."""

    def __init__(self, symbol: str, binary: str, detail: str = "") -> None:
        self.symbol = symbol
        self.binary = binary
        super().__init__(f"symbol {symbol!r} not found in {binary}" + (f": {detail}" if detail else ""))


class BinaryNotFoundError(NotFoundError, FileNotFoundError):
    """A binary or library to probe does not exist or cannot be found; ``binary`` is the name given.

    A :class:`~pybpf.errors.NotFoundError` (errno ENOENT) and, for existing
    callers, a :class:`FileNotFoundError`.
    """

    def __init__(self, binary: str, message: str) -> None:
        self.binary = binary
        self.command = "resolve binary"
        self.hint = message
        OSError.__init__(self, errno.ENOENT, message)


@dataclasses.dataclass(frozen=True)
class ElfSymbol:
    """A resolved function symbol: ``offset`` is what the uprobe PMU wants."""

    name: str
    version: str
    default_version: bool
    vaddr: int
    offset: int
    size: int
    type: int
    bind: str
    binary: str


# ------------------------------------------------------------------- binaries
def _elf_machine(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            h = f.read(20)
    except OSError:
        return None
    if len(h) < 20 or h[:4] != b"\x7fELF":
        return None
    return struct.unpack_from("<H" if h[5] == 1 else ">H", h, 18)[0]


@functools.lru_cache(maxsize=1)
def _our_machine() -> int | None:
    return _elf_machine(os.path.realpath(sys.executable)) or _elf_machine("/proc/self/exe")


def ld_so_cache(path: str = "/etc/ld.so.cache") -> list[tuple[str, str]]:
    """(soname, path) pairs of glibc's ld.so.cache (new "glibc-ld.so.cache1.1" format)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    magic = b"glibc-ld.so.cache1.1"
    base = data.find(magic)
    if base < 0:
        return []
    (nlibs,) = struct.unpack_from("<I", data, base + 20)
    out = []
    ent = base + 48
    for i in range(nlibs):
        off = ent + 24 * i
        if off + 24 > len(data):
            break
        _flags, key, value = struct.unpack_from("<iII", data, off)

        def s(o: int) -> str:
            o += base
            end = data.find(b"\0", o)
            return data[o:end].decode(errors="replace") if 0 <= o < len(data) and end > 0 else ""
        out.append((s(key), s(value)))
    return out


def _is_lib_name(name: str) -> bool:
    return name.endswith(".so") or ".so." in name or name.startswith("lib")


def resolve_binary(name: str) -> str:
    """The absolute path of a binary or shared library given as a path or a bare name."""
    if not name:
        raise Error("empty binary name")
    if "/" in name:
        p = os.path.abspath(name)
        if not os.path.isfile(p):
            raise BinaryNotFoundError(name, f"binary {name!r} does not exist ({p} is not a file)")
        return p
    if _is_lib_name(name):
        cands = [name] if (name.endswith(".so") or ".so." in name) else [name + ".so", name]
        dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
        for d in dirs:
            for c in cands:
                p = os.path.join(d, c)
                if os.path.isfile(p):
                    return os.path.abspath(p)
        want = _our_machine()
        cache = ld_so_cache()
        for c in cands:
            for soname, path in cache:
                if (soname == c or soname.startswith(c + ".")) and os.path.isfile(path) \
                        and (want is None or _elf_machine(path) == want):
                    return path
        for d in _COMMON_LIB_DIRS:
            for c in cands:
                p = os.path.join(d, c)
                if os.path.isfile(p) and (want is None or _elf_machine(p) == want):
                    return p
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return os.path.abspath(p)
    raise BinaryNotFoundError(name, f"cannot find binary or library {name!r} (searched LD_LIBRARY_PATH, "
                              f"ld.so.cache, {', '.join(_COMMON_LIB_DIRS[:4])}, ... and PATH); give its path")


# -------------------------------------------------------------------- symbols
def split_symbol_version(symbol: str) -> tuple[str, str | None, bool]:
    """``"malloc@@GLIBC_2.2.5"`` → ("malloc", "GLIBC_2.2.5", True); ``"f"`` → ("f", None, False)."""
    if "@@" in symbol:
        n, v = symbol.split("@@", 1)
        return n, v, True
    if "@" in symbol:
        n, v = symbol.split("@", 1)
        return n, v, False
    return symbol, None, False


def _open_elf(path: str) -> Any:
    from elftools.common.exceptions import ELFError as _PyElfError
    from elftools.elf.elffile import ELFFile

    f = open(path, "rb")
    try:
        return ELFFile(f)
    except _PyElfError as e:
        f.close()
        raise ELFError(f"{path}: not a valid ELF file ({e})") from None


def vaddr_to_offset(elf: Any, vaddr: int) -> int:
    """File offset of virtual address ``vaddr`` via the PT_LOAD segment that maps it."""
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_LOAD" and seg["p_vaddr"] <= vaddr < seg["p_vaddr"] + max(seg["p_memsz"], 1):
            return int(vaddr - seg["p_vaddr"] + seg["p_offset"])
    raise ELFError(f"address 0x{vaddr:x} is not in any PT_LOAD segment")


def _version_names(elf: Any) -> dict[int, str]:
    names: dict[int, str] = {}
    vd = elf.get_section_by_name(".gnu.version_d")
    if vd is not None:
        for v, aux in vd.iter_versions():
            a = next(iter(aux), None)
            if a is not None:
                names[int(v["vd_ndx"])] = a.name
    return names


def _iter_funcs(elf: Any) -> Iterator[tuple[str, Any, str, bool, str]]:
    """(name, sym, version, is_default, table) for defined function symbols, .symtab first."""
    vnames = _version_names(elf)
    for table in (".symtab", ".dynsym"):
        sec = elf.get_section_by_name(table)
        if sec is None or not hasattr(sec, "iter_symbols"):
            continue
        versym = elf.get_section_by_name(".gnu.version") if table == ".dynsym" else None
        for i, sym in enumerate(sec.iter_symbols()):
            st_type = sym["st_info"]["type"]
            t = STT_FUNC if st_type == "STT_FUNC" else STT_GNU_IFUNC if st_type in ("STT_LOOS", "STT_GNU_IFUNC") \
                else None
            if t is None or sym["st_shndx"] == "SHN_UNDEF" or not sym.name:
                continue
            name, ver, default = sym.name, "", True
            if "@" in name:  # .symtab spells versions out (foo@@V / foo@V)
                name, v, default = split_symbol_version(name)
                ver = v or ""
            elif versym is not None:
                ndx = int(versym.get_symbol(i)["ndx"]) if not isinstance(versym.get_symbol(i)["ndx"], str) else 1
                ver = vnames.get(ndx & 0x7FFF, "") if (ndx & 0x7FFF) > 1 else ""
                default = not (ndx & 0x8000)
            yield name, sym, ver, default, table


def resolve_symbol(binary: str, symbol: str, *, resolve_ifunc: bool = True) -> ElfSymbol:
    """Find function ``symbol`` (optionally ``name@VER`` / ``name@@VER``) in ``binary``.

    Raises :class:`SymbolNotFoundError` naming both, or :class:`Error` when
    the name is ambiguous (several GLOBAL definitions at different addresses).
    """
    path = resolve_binary(binary)
    name, want_ver, want_default = split_symbol_version(symbol)
    elf = _open_elf(path)
    try:
        best: tuple[Any, str, bool] | None = None
        for n, sym, ver, default, _table in _iter_funcs(elf):
            if n != name:
                continue
            if want_ver is not None:
                if ver != want_ver or (want_default and not default):
                    continue
            elif ver and not default:
                continue  # unversioned request: only default (@@) or unversioned definitions
            if best is None:
                best = (sym, ver, default)
                continue
            if best[0]["st_value"] == sym["st_value"]:
                continue
            if best[0]["st_info"]["bind"] == "STB_WEAK" and sym["st_info"]["bind"] == "STB_GLOBAL":
                best = (sym, ver, default)
            elif sym["st_info"]["bind"] == "STB_GLOBAL" and best[0]["st_info"]["bind"] == "STB_GLOBAL":
                raise Error(f"symbol {symbol!r} is ambiguous in {path}: defined at 0x{best[0]['st_value']:x} and "
                            f"0x{sym['st_value']:x}")
        if best is None:
            raise SymbolNotFoundError(symbol, path, "no such function in .symtab/.dynsym" if
                                      elf.get_section_by_name(".symtab") is not None else
                                      "no such function in .dynsym (binary is stripped)")
        sym, ver, default = best
        st_type = STT_GNU_IFUNC if sym["st_info"]["type"] in ("STT_LOOS", "STT_GNU_IFUNC") else STT_FUNC
        vaddr = int(sym["st_value"])
        off = vaddr_to_offset(elf, vaddr)
        if st_type == STT_GNU_IFUNC and resolve_ifunc:
            impl = _resolve_ifunc(path, name, ver if not default else None)
            if impl is not None:
                off = impl
            else:
                warnings.warn(f"{symbol} in {path} is an IFUNC and {os.path.basename(path)} is not loaded in this "
                              "process (pybpf does not load it: its constructors would run here); probing the "
                              "IFUNC resolver instead, which runs once per process at binding time, not per call",
                              RuntimeWarning, stacklevel=3)
        return ElfSymbol(name=name, version=ver, default_version=default, vaddr=vaddr, offset=off,
                         size=int(sym["st_size"]), type=st_type, bind=str(sym["st_info"]["bind"]), binary=path)
    finally:
        elf.stream.close()


def symbol_offset(binary: str, symbol: str) -> int:
    """``resolve_symbol(binary, symbol).offset`` with ``symbol`` optionally ``name+0x10``."""
    base, plus, extra = symbol.partition("+")
    return resolve_symbol(binary, base).offset + (int(extra, 0) if plus else 0)


RTLD_NOLOAD = getattr(os, "RTLD_NOLOAD", 4)


def _resolve_ifunc(path: str, name: str, hidden_ver: str | None) -> int | None:
    """File offset of the implementation glibc's resolver picks for IFUNC ``name`` in ``path``.

    Only a copy of ``path`` already mapped into this process is asked
    (``dlopen(RTLD_NOLOAD)`` never loads a library, so none of its code runs
    here); None when it is not mapped, or the answer is not inside it.
    """
    if hidden_ver is not None:
        return None
    try:
        lib = ctypes.CDLL(path, mode=os.RTLD_NOW | RTLD_NOLOAD)
        addr = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    if not addr:
        return None
    real = os.path.realpath(path)
    st = os.stat(real)
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(maxsplit=5)
                if len(parts) < 6:
                    continue
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if lo <= addr < hi:
                    dev_ino = int(parts[4])
                    if dev_ino != st.st_ino and os.path.realpath(parts[5].strip()) != real:
                        return None  # implementation lives in another object
                    return addr - lo + int(parts[2], 16)
    except OSError:
        return None
    return None


def match_symbols(binary: str, pattern: str) -> list[str]:
    """Names of the function symbols of ``binary`` matching glob ``pattern`` (for uprobe.multi sections)."""
    import fnmatch

    path = resolve_binary(binary)
    elf = _open_elf(path)
    try:
        return sorted({n for n, *_ in _iter_funcs(elf) if fnmatch.fnmatchcase(n, pattern)})
    finally:
        elf.stream.close()
