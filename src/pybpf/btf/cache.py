"""On-disk cache of the BTF offset/name index.

Parsing needs the position of every type record (records are variable
length) and, for lookups, the named types sorted by name. For vmlinux (~126k
types) computing both takes a few tens of milliseconds; loading them takes a
fraction of one. They are kept under ``$XDG_CACHE_HOME/pybpf/`` (default
``~/.cache/pybpf/``), one file per BTF blob. Every failure (unwritable
directory, corrupt or truncated file, foreign byte order) silently falls back
to recomputing. Set ``PYBPF_BTF_CACHE=0`` to disable the cache, or
``PYBPF_CACHE_DIR`` to move it.

File layout (native byte order, ``array('I')`` items)::

    header   _HDR: magic, byte-order tag, blob length, type/string section
             lengths, number of types, number of named types, CRC-32 of payload
    payload  offs[ntypes]       word offset of each type record in the type section
             name_ids[nnamed]   local index of each named type, sorted by (name, index)
             name_offs[nnamed]  the (global) string offset of each of those names

Loading is one ``read`` and three ``array.frombytes`` (memcpy): no per-entry
Python objects are created until a lookup bisects the sorted names.

**Keys and validation.** A blob's key is its length plus the CRC-32 of its
bytes (:func:`key_for`, ~0.15 ms/MB): any accidental change (a different
kernel build, a truncated read) changes it except with probability 2**-32.
CRC-32 is not collision resistant: someone who makes a process parse a blob
crafted to collide with vmlinux, with the cache enabled for it, could plant a
wrong index for vmlinux. Only the cache's owner can write the directory, the
default for :meth:`BTF.from_bytes` is no cache, and the kernel's own BTF is
read from sysfs, so this is accepted for the 5x cheaper key (BLAKE2b of vmlinux
takes ~4 ms). A loaded index must also match the blob's lengths and the CRC-32
of its own payload (guards against bit rot and torn files; ~0.2 ms).

For ``/sys/kernel/btf/vmlinux``, which cannot change while the kernel runs,
even the CRC is skipped after the first load of each boot: a small hint file
records the content key next to the file's identity (boot id, device, inode,
size, mtime); when all of them still match, the recorded key is used (see
:func:`hint_key`). A different file at that path (another boot, a bind mount)
fails the identity check and is hashed.
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
import zlib
from array import array
from typing import NamedTuple, Optional

__all__ = ["Index", "cache_dir", "key_for", "load", "store", "enabled", "hint_key", "store_hint"]

_MAGIC = b"PYBPFBTFIDX\x02"
# magic, byteorder tag, blob_len, type_len, str_len, ntypes, nnamed, payload crc32
_HDR = struct.Struct("<12s4sQIIIII")
_KEEP = 8  # newest index files kept
_HINT = "btf-vmlinux.hint"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


class Index(NamedTuple):
    """What a BTF scan produces (all ``array('I')``).

    ``offs``: one entry per local type, the word offset of its record in the type
    section. ``name_ids``/``name_offs``: the named local types sorted by name (ties
    by index), as local indices and as their global string offsets.
    """

    offs: array
    name_ids: array
    name_offs: array


def enabled() -> bool:
    """False when ``PYBPF_BTF_CACHE`` is ``0``/``no``/``off``."""
    return os.environ.get("PYBPF_BTF_CACHE", "1").lower() not in ("0", "no", "off", "false")


def cache_dir() -> str:
    """``$PYBPF_CACHE_DIR``, else ``$XDG_CACHE_HOME/pybpf``, else ``~/.cache/pybpf``."""
    d = os.environ.get("PYBPF_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pybpf")


def key_for(data: bytes) -> str:
    """Cache key of a BTF blob: its length and CRC-32 (see the module docstring)."""
    return f"{len(data):x}-{zlib.crc32(data):08x}"


def _path(key: str) -> str:
    return os.path.join(cache_dir(), f"btf-{key}.idx")


def _tag() -> bytes:
    return (b"L" if sys.byteorder == "little" else b"B") + bytes([array("I").itemsize]) + b"\0\0"


def load(key: str, type_len: int, blob_len: Optional[int] = None, str_len: Optional[int] = None
         ) -> Optional[Index]:
    """The cached index for ``key``, or None (missing, corrupt, disabled, or made for a
    blob whose type section length -- or, if given, total/string section length -- differs)."""
    if not enabled():
        return None
    try:
        with open(_path(key), "rb") as f:
            blob = f.read()
        magic, tag, blen, tlen, slen, n, nn, crc = _HDR.unpack_from(blob, 0)
        if magic != _MAGIC or tag != _tag() or tlen != type_len:
            return None
        if (blob_len is not None and blen != blob_len) or (str_len is not None and slen != str_len):
            return None
        isz = array("I").itemsize
        if len(blob) != _HDR.size + (n + 2 * nn) * isz or nn > n:
            return None
        payload = memoryview(blob)[_HDR.size:]
        if zlib.crc32(payload) != crc:
            return None
        arrs = []
        pos = 0
        for cnt in (n, nn, nn):
            a = array("I")
            a.frombytes(payload[pos:pos + cnt * isz])
            pos += cnt * isz
            arrs.append(a)
        offs = arrs[0]
        if n and (offs[0] != 0 or offs[-1] * 4 + 12 > type_len):
            return None
        return Index(offs, arrs[1], arrs[2])
    except (OSError, ValueError, struct.error, MemoryError):
        return None


def store(key: str, type_len: int, index: Index, blob_len: int = 0, str_len: int = 0) -> None:
    """Write ``index`` (of a blob of ``blob_len`` bytes whose type and string sections are
    ``type_len`` and ``str_len`` bytes) for ``key`` atomically; errors are ignored."""
    if not enabled():
        return
    try:
        if len(index.name_ids) != len(index.name_offs):
            raise ValueError("name_ids and name_offs differ in length")
        parts = [a.tobytes() for a in index]
        crc = 0
        for p in parts:
            crc = zlib.crc32(p, crc)
        hdr = _HDR.pack(_MAGIC, _tag(), blob_len, type_len, str_len, len(index.offs), len(index.name_ids), crc)
        _write(_path(key), [hdr, *parts])
        _prune(cache_dir())
    except (OSError, ValueError, OverflowError, struct.error):
        pass


def _write(path: str, parts: list[bytes]) -> None:
    """Atomically replace ``path`` with the concatenation of ``parts``."""
    d = os.path.dirname(path)
    os.makedirs(d, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".btf-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines(parts)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _prune(d: str) -> None:
    try:
        entries = [e for e in os.scandir(d) if e.name.startswith("btf-") and e.name.endswith(".idx")]
        if len(entries) <= _KEEP:
            return
        entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
        for e in entries[_KEEP:]:
            os.unlink(e.path)
    except OSError:
        pass


# ---------------------------------------------------------------------- vmlinux hint
def _identity(st: os.stat_result) -> Optional[str]:
    """Identity of the kernel's BTF file for this boot, or None if the boot id is unknown."""
    try:
        with open(_BOOT_ID, "rb") as f:
            boot = f.read().strip().decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    if not boot or any(c.isspace() for c in boot):
        return None
    return f"{boot} {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns}"


def hint_key(st: os.stat_result) -> Optional[str]:
    """The content key recorded for the kernel's BTF file (``st``: its ``fstat``) in this
    boot, or None. Only for files that cannot change while the kernel runs
    (``/sys/kernel/btf/vmlinux``)."""
    if not enabled():
        return None
    try:
        ident = _identity(st)
        if ident is None:
            return None
        with open(os.path.join(cache_dir(), _HINT), "rb") as f:
            rec = f.read(512).decode("ascii")
        ident_s, sep, key = rec.rpartition(" ")
        if not sep or ident_s != ident or not key or key != os.path.basename(key) or not key.isprintable():
            return None
        return key
    except (OSError, ValueError):
        return None


def store_hint(st: os.stat_result, key: str) -> None:
    """Record ``key`` as the content key of the kernel's BTF file ``st`` for this boot."""
    if not enabled():
        return
    try:
        ident = _identity(st)
        if ident is not None:
            _write(os.path.join(cache_dir(), _HINT), [f"{ident} {key}".encode("ascii")])
    except (OSError, ValueError):
        pass
