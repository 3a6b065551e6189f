"""The on-disk compile cache.

Layout under :func:`compile_dir` (``$PYBPF_CACHE_DIR/compile``, else
``$XDG_CACHE_HOME/pybpf/compile``, else ``~/.cache/pybpf/compile``)::

    obj/<key>.entry          one compiled object + what it depended on
    vmlinux/<btf>-<gen>/vmlinux.h   generated headers (see :mod:`.vmlinux`)
    toolchains.json          memoized compiler probes
    btfhash.json             memoized kernel BTF hash for this boot

An entry is ``MAGIC | u32 meta_len | u64 obj_len | blake2b-256(meta+obj) |
meta (JSON) | object``. ``meta`` lists the headers the compile read (path,
size, mtime, content hash) so that editing an included header invalidates the
entry; the key itself covers the source, flags, compiler, target and our
own headers. Every write is atomic (temp file + rename); an entry that fails
any check is treated as a miss and removed. ``PYBPF_COMPILE_CACHE=0``
disables the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from typing import Any, Optional

__all__ = ["compile_dir", "enabled", "atomic_write", "Entry", "load", "save", "prune", "file_digest"]

_MAGIC = b"PYBPFCC\x01"
_HDR = struct.Struct("<8sIQ32s")
KEEP_ENTRIES = 512


def compile_dir() -> str:
    """``$PYBPF_CACHE_DIR/compile``, else ``$XDG_CACHE_HOME/pybpf/compile``, else ``~/.cache/pybpf/compile``."""
    d = os.environ.get("PYBPF_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "pybpf")
    return os.path.join(d, "compile")


def enabled() -> bool:
    """False when ``PYBPF_COMPILE_CACHE`` is ``0``/``no``/``off``/``false``."""
    return os.environ.get("PYBPF_COMPILE_CACHE", "1").lower() not in ("0", "no", "off", "false")


def atomic_write(path: str, data: bytes) -> bool:
    """Write ``data`` to ``path`` via a temp file and rename; False (and no file) on error."""
    d = os.path.dirname(path)
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


def file_digest(path: str) -> Optional[str]:
    """BLAKE2b-160 hex digest of a file's content, None if unreadable."""
    h = hashlib.blake2b(digest_size=20)
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


class Entry:
    """A cached object: ``obj`` bytes and ``meta`` (deps, vmlinux token, warnings text)."""

    __slots__ = ("obj", "meta")

    def __init__(self, obj: bytes, meta: dict[str, Any]) -> None:
        self.obj = obj
        self.meta = meta


def _entry_path(key: str) -> str:
    return os.path.join(compile_dir(), "obj", f"{key}.entry")


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def load(key: str) -> Optional[Entry]:
    """The entry stored for ``key``, or None (missing, unreadable or corrupt: then removed)."""
    path = _entry_path(key)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    try:
        magic, mlen, olen, digest = _HDR.unpack_from(raw)
        body = raw[_HDR.size:]
        if magic != _MAGIC or len(body) != mlen + olen or hashlib.blake2b(body, digest_size=32).digest() != digest:
            raise ValueError("corrupt entry")
        meta = json.loads(body[:mlen])
        if not isinstance(meta, dict):
            raise ValueError("corrupt entry")
    except (struct.error, ValueError, UnicodeDecodeError):
        _discard(path)
        return None
    try:
        os.utime(path)  # LRU: pruning drops the least recently used
    except OSError:
        pass
    return Entry(body[mlen:], meta)


def save(key: str, entry: Entry) -> None:
    """Store ``entry`` for ``key`` atomically (errors ignored), then prune old entries."""
    meta = json.dumps(entry.meta, sort_keys=True).encode()
    body = meta + entry.obj
    hdr = _HDR.pack(_MAGIC, len(meta), len(entry.obj), hashlib.blake2b(body, digest_size=32).digest())
    if atomic_write(_entry_path(key), hdr + body):
        prune()


def prune(keep: int = KEEP_ENTRIES) -> None:
    """Remove all but the ``keep`` most recently used entries."""
    d = os.path.join(compile_dir(), "obj")
    try:
        entries = [e for e in os.scandir(d) if e.name.endswith(".entry")]
        if len(entries) <= keep:
            return
        entries.sort(key=lambda e: e.stat().st_mtime_ns, reverse=True)
        for e in entries[keep:]:
            _discard(e.path)
    except OSError:
        pass
