"""On-disk cache of the BTF offset/name index.

Parsing needs the byte offset of every type record (records are variable
length) and, for lookups, the type ids sorted by name. For vmlinux (~126k
types) both are cheap to compute but cheaper still to load, so they are kept
under ``$XDG_CACHE_HOME/pybpf/`` (default ``~/.cache/pybpf/``), keyed by a
BLAKE2b hash of the BTF bytes. Every failure (unwritable directory, corrupt
or truncated file, foreign byte order) silently falls back to recomputing.
Set ``PYBPF_BTF_CACHE=0`` to disable the cache, or ``PYBPF_CACHE_DIR`` to move it.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
import tempfile
from array import array
from typing import NamedTuple, Optional

__all__ = ["Index", "cache_dir", "key_for", "load", "store", "enabled"]

_MAGIC = b"PYBPFBTFIDX\x01"
_HDR = struct.Struct("<12s4sIII32s")  # magic, byteorder tag, type_len, ntypes, has_names, digest
_KEEP = 8  # newest index files kept


class Index(NamedTuple):
    """What a BTF scan produces (all ``array('I')``, one entry per local type)."""

    offs: array
    name_offs: array
    sorted_names: Optional[array]
    name_order: Optional[array]


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
    """Cache key of a BTF blob."""
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def _path(key: str) -> str:
    return os.path.join(cache_dir(), f"btf-{key}.idx")


def _tag() -> bytes:
    return (b"L" if sys.byteorder == "little" else b"B") + bytes([array("I").itemsize]) + b"\0\0"


def load(key: str, type_len: int) -> Optional[Index]:
    """The cached index for ``key``, or None (missing, corrupt, disabled)."""
    if not enabled():
        return None
    try:
        with open(_path(key), "rb") as f:
            blob = f.read()
        magic, tag, tlen, n, has_names, digest = _HDR.unpack_from(blob, 0)
        if magic != _MAGIC or tag != _tag() or tlen != type_len:
            return None
        payload = memoryview(blob)[_HDR.size:]
        if hashlib.blake2b(payload, digest_size=32).digest() != digest:
            return None
        isz = array("I").itemsize
        narr = 4 if has_names else 2
        if len(payload) != narr * n * isz:
            return None
        arrs = []
        for k in range(narr):
            a = array("I")
            a.frombytes(payload[k * n * isz:(k + 1) * n * isz])
            arrs.append(a)
        offs = arrs[0]
        if n and (offs[0] != 0 or offs[-1] * 4 + 12 > type_len):
            return None
        if has_names:
            return Index(arrs[0], arrs[1], arrs[2], arrs[3])
        return Index(arrs[0], arrs[1], None, None)
    except (OSError, ValueError, struct.error, MemoryError):
        return None


def store(key: str, type_len: int, index: Index) -> None:
    """Write ``index`` (of a blob whose type section is ``type_len`` bytes) for ``key``
    atomically; errors are ignored."""
    if not enabled():
        return
    try:
        d = cache_dir()
        os.makedirs(d, mode=0o700, exist_ok=True)
        arrs = [index.offs, index.name_offs]
        if index.sorted_names is not None and index.name_order is not None:
            arrs += [index.sorted_names, index.name_order]
        payload = b"".join(a.tobytes() for a in arrs)
        hdr = _HDR.pack(_MAGIC, _tag(), type_len, len(index.offs), len(arrs) == 4,
                        hashlib.blake2b(payload, digest_size=32).digest())
        fd, tmp = tempfile.mkstemp(prefix=".btf-", suffix=".tmp", dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(hdr)
                f.write(payload)
            os.replace(tmp, _path(key))
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _prune(d)
    except (OSError, ValueError, OverflowError):
        pass


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
