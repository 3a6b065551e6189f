"""Map element operations on preallocated buffers: the hot path.

One :class:`MapOps` per open map owns attr structures and key/value buffers
allocated once, each attr pre-pointed at its buffers; an operation copies the
key in (``buf.raw = key``, the cheapest copy ctypes offers) and calls bpf(2)
with plain-int arguments and a prebuilt ``byref``.

Element ops go through ``PyDLL`` (the GIL stays held): they are short,
non-blocking syscalls, and skipping the GIL release/reacquire saves ~40 ns.
Measured here (bench/maps.py) this reaches ~0.55x libbpf's per-op rate; the
ctypes call itself is the floor (~240 ns over a raw syscall).
"""

from __future__ import annotations

import ctypes
import errno
from typing import Iterator

from ..errors import BPFError

from .attrs import MapBatchAttr, MapElemAttr
from .consts import Cmd
from .syscall import NR_BPF, _get_errno, _syscall, raise_for

_fast = ctypes.PyDLL(None, use_errno=True).syscall
_fast.restype = ctypes.c_long
_byref = ctypes.byref
_addressof = ctypes.addressof
_NR = NR_BPF
_SIZE = ctypes.sizeof(MapElemAttr)
_LOOKUP = int(Cmd.MAP_LOOKUP_ELEM)
_UPDATE = int(Cmd.MAP_UPDATE_ELEM)
_DELETE = int(Cmd.MAP_DELETE_ELEM)
_NEXT = int(Cmd.MAP_GET_NEXT_KEY)
_LOOKUP_DEL = int(Cmd.MAP_LOOKUP_AND_DELETE_ELEM)
_FREEZE = int(Cmd.MAP_FREEZE)
_ENOENT = errno.ENOENT


def _update_hint(err: int) -> str:
    if err == errno.EEXIST:
        return "key exists (BPF_NOEXIST)"
    if err == errno.ENOENT:
        return "key does not exist (BPF_EXIST)"
    if err == errno.E2BIG:
        return "map is full (max_entries reached)"
    return ""


class MapOps:
    """Element operations for one map fd with buffers allocated once.

    ``key_size``/``value_size`` are the sizes user space exchanges with the kernel
    (for per-CPU maps ``value_size`` is already ``round_up(v, 8) * ncpus``).
    Callers pass keys/values of exactly those sizes (bytes). Not thread-safe:
    use one MapOps per thread.
    """

    __slots__ = ("fd", "key_size", "value_size", "_kbuf", "_vbuf", "_nkbuf", "_a_kv", "_a_next", "_a_del",
                 "_a_nokey", "_a_upd", "_p_kv", "_p_next", "_p_del", "_p_nokey", "_p_upd", "_upd_flags",
                 "get", "put")

    def __init__(self, fd: int, key_size: int, value_size: int) -> None:
        self.fd = fd
        self.key_size = key_size
        self.value_size = value_size
        self._kbuf = ctypes.create_string_buffer(max(key_size, 1))
        self._nkbuf = ctypes.create_string_buffer(max(key_size, 1))
        self._vbuf = ctypes.create_string_buffer(max(value_size, 1))
        k, nk, v = _addressof(self._kbuf), _addressof(self._nkbuf), _addressof(self._vbuf)
        # One attr per operation shape, pointed at the buffers once. Fields past what a
        # command uses must stay zero (the kernel's CHECK_ATTR).
        self._a_kv = MapElemAttr(map_fd=fd, key=k, value=v)
        self._a_upd = MapElemAttr(map_fd=fd, key=k, value=v)
        self._a_next = MapElemAttr(map_fd=fd, key=k, value=nk)
        self._a_del = MapElemAttr(map_fd=fd, key=k)
        self._a_nokey = MapElemAttr(map_fd=fd, key=0, value=v)
        self._p_kv = _byref(self._a_kv)
        self._p_upd = _byref(self._a_upd)
        self._p_next = _byref(self._a_next)
        self._p_del = _byref(self._a_del)
        self._p_nokey = _byref(self._a_nokey)
        self._upd_flags = 0
        self.get, self.put = self._fast_paths()

    def _fast_paths(self):  # type: ignore[no-untyped-def]
        """Closures for the two hottest calls (lookup/update without flags): every name they
        touch is a fast local/cell, not a global or attribute lookup."""
        kbuf, vbuf, p_kv, p_upd, a_upd = self._kbuf, self._vbuf, self._p_kv, self._p_upd, self._a_upd
        fast, nr, lookup_cmd, update_cmd, size, get_errno, enoent = _fast, _NR, _LOOKUP, _UPDATE, _SIZE, \
            _get_errno, _ENOENT

        def get(key: bytes) -> bytes | None:
            """MAP_LOOKUP_ELEM of an exactly-sized key: value bytes or None."""
            kbuf.raw = key
            if fast(nr, lookup_cmd, p_kv, size) < 0:
                err = get_errno()
                if err == enoent:
                    return None
                raise_for(Cmd.MAP_LOOKUP_ELEM, err)
            return vbuf.raw

        def put(key: bytes, value: bytes) -> None:
            """MAP_UPDATE_ELEM (BPF_ANY) of an exactly-sized key and value."""
            kbuf.raw = key
            vbuf.raw = value
            if self._upd_flags:
                a_upd.flags = self._upd_flags = 0
            if fast(nr, update_cmd, p_upd, size) < 0:
                err = get_errno()
                raise_for(Cmd.MAP_UPDATE_ELEM, err, _update_hint(err))

        return get, put

    def lookup(self, key: bytes | None, flags: int = 0) -> bytes | None:
        """MAP_LOOKUP_ELEM: value bytes, or None if absent (key None: queue/stack peek)."""
        if key is None:
            p = self._p_nokey
            self._a_nokey.flags = flags
        else:
            self._kbuf.raw = key
            p = self._p_kv
            if flags:
                self._a_kv.flags = flags
        if _fast(_NR, _LOOKUP, p, _SIZE) < 0:
            err = _get_errno()
            if flags and key is not None:
                self._a_kv.flags = 0
            if err == _ENOENT:
                return None
            raise_for(Cmd.MAP_LOOKUP_ELEM, err)
        if flags and key is not None:
            self._a_kv.flags = 0
        return self._vbuf.raw

    def update(self, key: bytes | None, value: bytes, flags: int = 0) -> None:
        """MAP_UPDATE_ELEM with BPF_ANY/NOEXIST/EXIST/F_LOCK flags (key None: push)."""
        self._vbuf.raw = value
        if key is None:
            a = self._a_nokey
            a.flags = flags
            p = self._p_nokey
        else:
            self._kbuf.raw = key
            if flags != self._upd_flags:
                self._a_upd.flags = self._upd_flags = flags
            p = self._p_upd
        if _fast(_NR, _UPDATE, p, _SIZE) < 0:
            err = _get_errno()
            raise_for(Cmd.MAP_UPDATE_ELEM, err, _update_hint(err))

    def delete(self, key: bytes) -> bool:
        """MAP_DELETE_ELEM; False if the key was absent."""
        self._kbuf.raw = key
        if _fast(_NR, _DELETE, self._p_del, _SIZE) < 0:
            err = _get_errno()
            if err == _ENOENT:
                return False
            raise_for(Cmd.MAP_DELETE_ELEM, err)
        return True

    def next_key(self, key: bytes | None) -> bytes | None:
        """MAP_GET_NEXT_KEY: the key after ``key`` (the first key for None); None at the end."""
        a = self._a_next
        if key is None:
            a.key = 0
        else:
            self._kbuf.raw = key
        ret = _fast(_NR, _NEXT, self._p_next, _SIZE)
        if key is None:
            a.key = _addressof(self._kbuf)
        if ret < 0:
            err = _get_errno()
            if err == _ENOENT:
                return None
            raise_for(Cmd.MAP_GET_NEXT_KEY, err)
        return self._nkbuf.raw[: self.key_size]

    def iter_keys(self, limit: int) -> Iterator[bytes]:
        """Walk every key with private buffers (safe to use the map inside the loop).

        The next key is written over the current one in place: the kernel copies
        the key in before it writes the next. ``limit`` bounds the walk (a hash
        map whose current key is deleted restarts from the first key).
        """
        if self.key_size == 0:
            return
        buf = ctypes.create_string_buffer(self.key_size)
        a = MapElemAttr(map_fd=self.fd, key=0, value=_addressof(buf))
        p = _byref(a)
        while limit > 0:
            limit -= 1
            if _fast(_NR, _NEXT, p, _SIZE) < 0:
                err = _get_errno()
                if err == _ENOENT:
                    return
                raise_for(Cmd.MAP_GET_NEXT_KEY, err)
            a.key = a.value
            yield buf.raw

    def lookup_and_delete(self, key: bytes | None, flags: int = 0) -> bytes | None:
        """MAP_LOOKUP_AND_DELETE_ELEM (queue/stack pop with key=None); None if empty/absent."""
        if key is None:
            a, p = self._a_nokey, self._p_nokey
        else:
            self._kbuf.raw = key
            a, p = self._a_kv, self._p_kv
        a.flags = flags
        ret = _fast(_NR, _LOOKUP_DEL, p, _SIZE)
        a.flags = 0
        if ret < 0:
            err = _get_errno()
            if err == _ENOENT:
                return None
            raise_for(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, err)
        return self._vbuf.raw

    def bloom_peek(self, value: bytes) -> bool:
        """Bloom filter membership test: lookup with the value as input (5.16+)."""
        self._vbuf.raw = value
        self._a_nokey.flags = 0
        if _fast(_NR, _LOOKUP, self._p_nokey, _SIZE) < 0:
            err = _get_errno()
            if err == _ENOENT:
                return False
            raise_for(Cmd.MAP_LOOKUP_ELEM, err)
        return True

    def freeze(self) -> None:
        """MAP_FREEZE: no more writes from user space."""
        a = MapElemAttr(map_fd=self.fd)
        if _fast(_NR, _FREEZE, _byref(a), _SIZE) < 0:
            raise_for(Cmd.MAP_FREEZE, _get_errno())


def batch_op(
    cmd: int,
    fd: int,
    keys_addr: int,
    values_addr: int,
    count: int,
    in_batch: int = 0,
    out_batch: int = 0,
    elem_flags: int = 0,
) -> tuple[int, bool]:
    """One MAP_*_BATCH call. Returns (processed count, done) where done means ENOENT (end).

    Raises BPFError for other errors (EINVAL/ENOTSUPP on kernels or map types
    without batch support are mapped by the caller to a per-element fallback).
    Runs without the GIL: a batch can take milliseconds.
    """
    attr = MapBatchAttr(
        in_batch=in_batch,
        out_batch=out_batch,
        keys=keys_addr,
        values=values_addr,
        count=count,
        map_fd=fd,
        elem_flags=elem_flags,
    )
    ret = _syscall(_NR, cmd, _byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        err = _get_errno()
        if err == _ENOENT:
            return int(attr.count), True
        raise_for(cmd, err)
    return int(attr.count), False


class BatchUnsupported(Exception):
    """The first batch call failed (no batch op for this map/kernel); ``error`` says why."""

    def __init__(self, error: BPFError) -> None:
        super().__init__(str(error))
        self.error = error


def batch_walk(fd: int, key_size: int, value_size: int, chunk: int, *,
               delete: bool = False) -> Iterator[tuple[bytes, bytes, int]]:
    """Walk a map with BPF_MAP_LOOKUP[_AND_DELETE]_BATCH (5.6+).

    Yields ``(keys, values, count)`` chunks as contiguous byte strings; the chunk
    doubles when a hash bucket does not fit (ENOSPC). Raises
    :class:`BatchUnsupported` if the very first call fails for another reason.
    """
    ks, vs = key_size, value_size
    kbuf = ctypes.create_string_buffer(ks * chunk)
    vbuf = ctypes.create_string_buffer(vs * chunk)
    inb = ctypes.create_string_buffer(max(ks, 8))
    outb = ctypes.create_string_buffer(max(ks, 8))
    cmd = Cmd.MAP_LOOKUP_AND_DELETE_BATCH if delete else Cmd.MAP_LOOKUP_BATCH
    first = True
    while True:
        try:
            n, done = batch_op(cmd, fd, _addressof(kbuf), _addressof(vbuf), chunk,
                               0 if first else _addressof(inb), _addressof(outb))
        except BPFError as e:
            if e.errno == errno.ENOSPC and chunk < (1 << 22):
                chunk *= 2
                kbuf = ctypes.create_string_buffer(ks * chunk)
                vbuf = ctypes.create_string_buffer(vs * chunk)
                continue
            if first:
                raise BatchUnsupported(e) from e
            raise
        if n:
            yield kbuf.raw[: n * ks], vbuf.raw[: n * vs], n
        if done:
            return
        ctypes.memmove(inb, outb, max(ks, 8))
        first = False
