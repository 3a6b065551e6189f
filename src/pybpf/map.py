"""BPF maps: create, open, and use them like dicts (``pybpf.Map``).

Minimum kernel 3.18 for maps in general; each :class:`MapType` has its own
minimum (e.g. ring buffers 5.8, bloom filters 5.16, user ring buffers 6.1).
"""

from __future__ import annotations

import ctypes
import errno
import mmap as _mmap
import os
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn

from ._sys import cmds
from ._sys.attrs import MapCreateAttr
from ._sys.consts import Cmd, MapFlags, MapType, UpdateFlags
from ._sys.cpu import num_possible_cpus
from ._sys.mapops import BatchUnsupported, MapOps, batch_op, batch_walk
from ._sys.objname import check_obj_name
from ._sys.syscall import FD, bpf_raw, raise_for
from .errors import BPFError, ClosedError, Error, NotSupportedError
from ._kobj import KernelObject
from .spec import MapSpec

if TYPE_CHECKING:
    from .introspect import MapInfo

__all__ = ["Map", "MapSpec", "MapType", "MapFlags", "UpdateFlags", "lpm_key"]

PERCPU_TYPES = frozenset(
    {MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE}
)
_KEYLESS = frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER, MapType.RINGBUF, MapType.USER_RINGBUF,
                      MapType.ARENA})
_FD_VALUE_TYPES = frozenset(
    {MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.PERF_EVENT_ARRAY,
     MapType.CGROUP_ARRAY, MapType.SOCKMAP, MapType.SOCKHASH, MapType.REUSEPORT_SOCKARRAY}
)
_STORAGE_TYPES = frozenset(
    {MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE, MapType.CGRP_STORAGE}
)
_ARRAY_TYPES = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
                          MapType.ARRAY_OF_MAPS, MapType.CGROUP_ARRAY})
_ENOTSUPP = 524  # kernel-internal ENOTSUPP leaks to user space for unsupported batch ops

# Minimum kernel per map type, for NotSupportedError messages.
MAP_TYPE_MIN_KERNEL: dict[MapType, str] = {
    MapType.HASH: "3.19", MapType.ARRAY: "3.19", MapType.PROG_ARRAY: "4.2", MapType.PERF_EVENT_ARRAY: "4.3",
    MapType.PERCPU_HASH: "4.6", MapType.PERCPU_ARRAY: "4.6", MapType.STACK_TRACE: "4.6",
    MapType.CGROUP_ARRAY: "4.8", MapType.LRU_HASH: "4.10", MapType.LRU_PERCPU_HASH: "4.10",
    MapType.LPM_TRIE: "4.11", MapType.ARRAY_OF_MAPS: "4.12", MapType.HASH_OF_MAPS: "4.12",
    MapType.DEVMAP: "4.14", MapType.SOCKMAP: "4.14", MapType.CPUMAP: "4.15", MapType.XSKMAP: "4.18",
    MapType.SOCKHASH: "4.18", MapType.CGROUP_STORAGE: "4.19", MapType.REUSEPORT_SOCKARRAY: "4.19",
    MapType.PERCPU_CGROUP_STORAGE: "4.20", MapType.QUEUE: "4.20", MapType.STACK: "4.20",
    MapType.SK_STORAGE: "5.2", MapType.DEVMAP_HASH: "5.4", MapType.STRUCT_OPS: "5.6", MapType.RINGBUF: "5.8",
    MapType.INODE_STORAGE: "5.10", MapType.TASK_STORAGE: "5.11", MapType.BLOOM_FILTER: "5.16",
    MapType.USER_RINGBUF: "6.1", MapType.CGRP_STORAGE: "6.2", MapType.ARENA: "6.9",
}


def lpm_key(prefixlen: int, data: bytes) -> bytes:
    """An LPM trie key: 32-bit host-order prefix length followed by the address bytes."""
    return prefixlen.to_bytes(4, "little") + bytes(data)


def _round8(n: int) -> int:
    return (n + 7) & ~7


def _to_bytes(obj: Any, size: int, what: str) -> bytes:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
    elif isinstance(obj, bool):
        b = int(obj).to_bytes(size, "little")
    elif isinstance(obj, int):
        try:
            b = obj.to_bytes(size, "little", signed=obj < 0)
        except OverflowError:
            raise ValueError(f"{what} {obj} does not fit in {size} bytes") from None
    elif isinstance(obj, (ctypes.Structure, ctypes.Union, ctypes.Array, ctypes._SimpleCData)):  # type: ignore[attr-defined]
        b = bytes(obj)  # type: ignore[arg-type]
    elif hasattr(obj, "fileno") and hasattr(obj, "fd") and size == 4:
        b = int(obj.fd).to_bytes(4, "little")
    elif hasattr(obj, "__bytes__"):
        b = bytes(obj)
    else:
        raise TypeError(f"{what} must be bytes, int or a ctypes object, not {type(obj).__name__}")
    if len(b) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(b)}")
    return b


def _create_fd(spec: MapSpec, inner_fd: int, btf_fd: int) -> FD:
    name = check_obj_name(spec.name, "map")
    attr = MapCreateAttr(
        map_type=int(spec.type),
        key_size=spec.key_size,
        value_size=spec.value_size,
        max_entries=spec.max_entries,
        map_flags=int(spec.flags) | (MapFlags.NUMA_NODE if spec.numa_node is not None else 0),
        inner_map_fd=inner_fd,
        numa_node=spec.numa_node or 0,
        map_name=name,
        map_ifindex=spec.ifindex,
        btf_fd=btf_fd,
        btf_key_type_id=spec.btf_key_type_id,
        btf_value_type_id=spec.btf_value_type_id,
        btf_vmlinux_value_type_id=spec.btf_vmlinux_value_type_id,
        value_type_btf_obj_fd=spec.value_type_btf_obj_fd,
        map_extra=spec.map_extra,
    )
    ret = bpf_raw(Cmd.MAP_CREATE, ctypes.addressof(attr), ctypes.sizeof(attr))
    if ret == -errno.EINVAL and name:
        # Kernels < 4.15 reject map names; retry without (as libbpf does).
        attr.map_name = b""
        ret = bpf_raw(Cmd.MAP_CREATE, ctypes.addressof(attr), ctypes.sizeof(attr))
        if ret >= 0:
            return FD(ret)
        attr.map_name = name
        ret = -errno.EINVAL
    if ret < 0:
        err = -ret
        if err == errno.EPERM:
            from ._sys.syscall import bump_memlock_rlimit_once

            if bump_memlock_rlimit_once():
                return _create_fd(spec, inner_fd, btf_fd)
        if err == errno.EINVAL:
            _explain_einval(spec)
        raise_for(Cmd.MAP_CREATE, err, _create_hint(spec, err))
    return FD(ret)


def _explain_einval(spec: MapSpec) -> None:
    try:
        t = MapType(spec.type)
    except ValueError:
        raise NotSupportedError(f"map type {int(spec.type)}", "unknown to pybpf and rejected by the kernel") from None
    from . import features

    if not features.has_map_type(t):
        raise NotSupportedError(
            f"map type {t.name}", f"needs Linux {MAP_TYPE_MIN_KERNEL.get(t, '?')}+ (probe failed)"
        ) from None


def _create_hint(spec: MapSpec, err: int) -> str:
    t = spec.type
    if err == errno.EINVAL:
        if t in _STORAGE_TYPES:
            return "storage maps need BPF_F_NO_PREALLOC, max_entries=0, a 4-byte key and BTF key/value types"
        if t == MapType.LPM_TRIE:
            return "LPM tries need BPF_F_NO_PREALLOC and a key of 4-byte prefixlen + data"
        if t in (MapType.RINGBUF, MapType.USER_RINGBUF):
            return "ring buffers need key/value size 0 and a power-of-2 page multiple as max_entries"
        return (f"invalid attributes for {MapType(t).name if t in MapType._value2member_map_ else t}: "
                f"key_size={spec.key_size} value_size={spec.value_size} max_entries={spec.max_entries} "
                f"flags={int(spec.flags):#x}")
    if err == errno.ENOMEM:
        return "not enough memory for max_entries (or memlock limit on kernels < 5.11)"
    return ""


class _ClosedOps:
    """Stands in for a closed map's :class:`MapOps`: every operation raises :class:`ClosedError`.

    A closed map must never reach the kernel with its old fd number: the number may
    already belong to another map (or any other file) opened since.
    """

    __slots__ = ("_msg",)

    def __init__(self, msg: str) -> None:
        self._msg = msg

    def __getattr__(self, name: str) -> NoReturn:
        raise ClosedError(self._msg)


def _closed_op(msg: str) -> Callable[..., NoReturn]:
    def closed(*_args: Any) -> NoReturn:
        raise ClosedError(msg)
    return closed


class Map(KernelObject):
    """An open BPF map.

    Dict-like: ``m[key]``, ``m.get(key)``, ``m[key] = value``, ``del m[key]``,
    ``key in m``, ``for k in m``, ``m.items()``. Keys and values accept bytes,
    ints (sized to the map) and ctypes objects; lookups return bytes (a list of
    bytes per possible CPU for per-CPU maps) unless the map carries a codec
    (``key_type``/``value_type`` set by the object loader from BTF).

    Close with :meth:`close` or use as a context manager.
    """

    def __init__(self, fd: FD, type: MapType | int, key_size: int, value_size: int, max_entries: int,
                 flags: int = 0, name: str = "", *, spec: MapSpec | None = None) -> None:
        self._fd = fd
        try:
            self.type: MapType | int = MapType(type)
        except ValueError:
            self.type = type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.name = name
        self.spec = spec
        self.percpu = self.type in PERCPU_TYPES
        self.ncpus = num_possible_cpus() if self.percpu else 1
        self._stride = _round8(value_size) if self.percpu else value_size
        self._ops = MapOps(fd.fd, key_size, self._stride * self.ncpus)
        self._get, self._put = self._ops.get, self._ops.put
        self._kmax = 1 << (8 * key_size)
        self._vmax = 1 << (8 * value_size)
        self._id: int | None = None
        self._mmap: _mmap.mmap | None = None
        self._mviews: list[weakref.ReferenceType[memoryview]] = []  # handed out by mmap(), released by close()
        self._key_type: Any = None
        self._value_type: Any = None
        self._plain = not self.percpu
        self.key_type = spec.key_type if spec is not None else None
        self.value_type = spec.value_type if spec is not None else None
        self._inner: Map | None = None

    # ----------------------------------------------------------------- creation
    @classmethod
    def create(cls, type: MapType | int, key_size: int = 0, value_size: int = 0, max_entries: int = 0, *,
               name: str = "", flags: int = 0, numa_node: int | None = None, inner_map: "Map | MapSpec | None" = None,
               btf: Any = None, btf_key_type_id: int = 0, btf_value_type_id: int = 0,
               btf_vmlinux_value_type_id: int = 0, map_extra: int = 0, ifindex: int = 0) -> "Map":
        """Create a map (BPF_MAP_CREATE). Minimum kernel 3.18; see ``MAP_TYPE_MIN_KERNEL``."""
        spec = MapSpec(type=MapType(type) if type in MapType._value2member_map_ else type,  # type: ignore[arg-type]
                       key_size=key_size, value_size=value_size, max_entries=max_entries, flags=flags, name=name,
                       numa_node=numa_node, inner_map=inner_map, btf=btf, btf_key_type_id=btf_key_type_id,
                       btf_value_type_id=btf_value_type_id, btf_vmlinux_value_type_id=btf_vmlinux_value_type_id,
                       map_extra=map_extra, ifindex=ifindex)
        return cls.from_spec(spec)

    @classmethod
    def from_spec(cls, spec: MapSpec) -> "Map":
        """Create a map from a :class:`MapSpec` and write its ``contents``."""
        spec = _fill_defaults(spec)
        inner: Map | None = None
        inner_fd = 0
        owned_btf: FD | None = None
        try:
            if spec.type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
                if spec.inner_map is None:
                    raise Error(f"{MapType(spec.type).name} needs inner_map (a Map or MapSpec as template)")
                if isinstance(spec.inner_map, Map):
                    inner_fd = spec.inner_map.fd
                else:
                    inner = Map.from_spec(spec.inner_map)
                    inner_fd = inner.fd
            btf_fd = 0
            if spec.btf is None and spec.type in _STORAGE_TYPES:
                spec.btf, spec.btf_key_type_id, spec.btf_value_type_id = _storage_btf(spec.value_size)
            if spec.btf is None and spec.type == MapType.STRUCT_OPS:
                # The kernel insists on a valid program BTF fd next to the vmlinux value type.
                spec.btf = _storage_btf(4)[0]
            if spec.btf is not None:
                btf_fd, owned_btf = btf_fd_for(spec.btf)
            fd = _create_fd(spec, inner_fd, btf_fd)
        finally:
            if inner is not None:
                inner.close()
            if owned_btf is not None:
                owned_btf.close()  # the map holds its own reference to the BTF
        m = cls(fd, spec.type, spec.key_size, spec.value_size, spec.max_entries, int(spec.flags), spec.name, spec=spec)
        try:
            for k, v in spec.contents:
                m.update(k, v)
            if spec.freeze:
                m.freeze()
        except BaseException:
            m.close()
            raise
        return m

    @classmethod
    def from_fd(cls, fd: FD | int) -> "Map":
        """Wrap an fd (takes ownership of an :class:`FD`; dups a raw int)."""
        owned = fd if isinstance(fd, FD) else FD(os.dup(fd))
        try:
            info = cmds.map_info(owned.fd)
        except BaseException:
            owned.close()
            raise
        m = cls(owned, info.type, info.key_size, info.value_size, info.max_entries, info.map_flags,
                info.name.decode(errors="replace"))
        m._id = int(info.id)
        return m

    # ------------------------------------------------------------------- basics
    def info(self) -> "MapInfo":
        """The kernel's view of this map (struct bpf_map_info)."""
        from .introspect import MapInfo

        return MapInfo.from_fd(self.fd)

    _KIND = "map"

    def close(self) -> None:
        """Release the fd (the kernel frees the map when nothing else holds it).

        Every later operation raises :class:`~pybpf.errors.ClosedError`. Memoryviews from
        :meth:`mmap` are released and the memory unmapped; if buffers exported from them
        are still alive (slices, ctypes or numpy objects over the memory), the fd is
        closed anyway and :class:`~pybpf.errors.Error` says so: drop them and call
        ``close()`` again to unmap.
        """
        if not isinstance(self._ops, _ClosedOps):
            msg = str(self._closed_error())
            self._ops = _ClosedOps(msg)  # type: ignore[assignment]
            self._get = self._put = _closed_op(msg)  # type: ignore[assignment]
        try:
            self._unmap()
        finally:
            self._fd.close()

    def _unmap(self) -> None:
        mm = self._mmap
        if mm is None:
            return
        from .btf.values_view import release_views

        self._mviews = release_views(self._mviews)  # views something still holds buffers of stay
        try:
            mm.close()
        except BufferError:
            raise Error(f"map {self.name or '?'!r}: its memory stays mapped: buffers from Map.mmap() are still "
                        "in use (memoryview slices, ctypes or numpy objects); drop them and call close() "
                        "again") from None
        self._mmap = None

    def __repr__(self) -> str:
        t = self.type.name if isinstance(self.type, MapType) else str(self.type)
        state = "closed" if self.closed else f"fd={self._fd.fd}"
        return (f"<Map {self.name or '?'} {t} key={self.key_size} value={self.value_size} "
                f"max_entries={self.max_entries} {state}>")

    def freeze(self) -> None:
        """Make the map read-only for user space (BPF_MAP_FREEZE). Minimum kernel 5.2."""
        self._ops.freeze()

    # ------------------------------------------------------------------ codecs
    def _key(self, key: Any) -> bytes:
        if type(key) is bytes and len(key) == self.key_size:
            return key
        if type(key) is int and 0 <= key < self._kmax and self._key_type is None:
            return key.to_bytes(self.key_size, "little")
        if self.key_type is not None and not isinstance(key, (bytes, bytearray, memoryview)):
            return self.key_type.encode(key)
        return _to_bytes(key, self.key_size, "key")

    def _value(self, value: Any) -> bytes:
        if self._plain:
            if type(value) is bytes and len(value) == self.value_size:
                return value
            if type(value) is int and 0 <= value < self._vmax:
                return value.to_bytes(self.value_size, "little")
        if self.percpu:
            if isinstance(value, (list, tuple)):
                if len(value) != self.ncpus:
                    raise ValueError(f"per-CPU value needs {self.ncpus} entries (possible CPUs), got {len(value)}")
                parts = value
            else:
                parts = [value] * self.ncpus
            pad = b"\0" * (self._stride - self.value_size)
            return b"".join(self._one_value(v) + pad for v in parts)
        return self._one_value(value)

    def _one_value(self, value: Any) -> bytes:
        if self.value_type is not None and not isinstance(value, (bytes, bytearray, memoryview)):
            return self.value_type.encode(value)
        if self.type in _FD_VALUE_TYPES and hasattr(value, "fd") and not isinstance(value, int):
            return int(value.fd).to_bytes(4, "little")
        return _to_bytes(value, self.value_size, "value")

    def _decode_key(self, raw: bytes) -> Any:
        return self.key_type.decode(raw) if self.key_type is not None else raw

    def _decode_value(self, raw: bytes) -> Any:
        if self.percpu:
            s, n = self._stride, self.value_size
            vals = [raw[i * s:i * s + n] for i in range(self.ncpus)]
            if self.value_type is not None:
                return [self.value_type.decode(v) for v in vals]
            return vals
        return self.value_type.decode(raw) if self.value_type is not None else raw

    @property
    def key_type(self) -> Any:
        """Codec for keys (``encode``/``decode``), set from BTF by the object loader; None: raw bytes."""
        return self._key_type

    @key_type.setter
    def key_type(self, codec: Any) -> None:
        self._key_type = codec
        self._plain = codec is None and self._value_type is None and not self.percpu

    @property
    def value_type(self) -> Any:
        """Codec for values; None: raw bytes (a list of bytes per CPU for per-CPU maps)."""
        return self._value_type

    @value_type.setter
    def value_type(self, codec: Any) -> None:
        self._value_type = codec
        self._plain = self._key_type is None and codec is None and not self.percpu

    # -------------------------------------------------------------- dict API
    # The hot methods inline the "already exact bytes" test to skip a call per op.
    def lookup(self, key: Any, flags: int = 0) -> Any:
        """The value for ``key`` or None (BPF_MAP_LOOKUP_ELEM; flags may be BPF_F_LOCK)."""
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._key(key)
        raw = self._get(key) if not flags else self._ops.lookup(key, flags)
        if raw is None or self._plain:
            return raw
        return self._decode_value(raw)

    def get(self, key: Any, default: Any = None) -> Any:
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._key(key)
        raw = self._get(key)
        if raw is None:
            return default
        return raw if self._plain else self._decode_value(raw)

    def __getitem__(self, key: Any) -> Any:
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._key(key)
        raw = self._get(key)
        if raw is None:
            raise KeyError(key)
        return raw if self._plain else self._decode_value(raw)

    def update(self, key: Any, value: Any, flags: int = UpdateFlags.ANY) -> None:
        """BPF_MAP_UPDATE_ELEM with BPF_ANY (default), BPF_NOEXIST, BPF_EXIST or BPF_F_LOCK."""
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._key(key)
        if not self._plain or type(value) is not bytes or len(value) != self.value_size:
            value = self._value(value)
        if flags:
            self._ops.update(key, value, int(flags))
        else:
            self._put(key, value)

    def __setitem__(self, key: Any, value: Any) -> None:
        if type(key) is not bytes or len(key) != self.key_size:
            key = self._key(key)
        if not self._plain or type(value) is not bytes or len(value) != self.value_size:
            value = self._value(value)
        self._put(key, value)

    @property
    def id(self) -> int:
        """The kernel's id of this map (:class:`~pybpf.errors.ClosedError` once closed)."""
        self._check_open()
        return KernelObject.id.fget(self)  # type: ignore[attr-defined,no-any-return]

    def _check_open(self) -> None:
        if self._fd.closed:
            raise self._closed_error()

    def delete(self, key: Any) -> bool:
        """Delete ``key``; False if it was not there."""
        return self._ops.delete(self._key(key))

    def __delitem__(self, key: Any) -> None:
        if not self._ops.delete(self._key(key)):
            raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        return self._ops.lookup(self._key(key)) is not None

    def lookup_and_delete(self, key: Any = None, flags: int = 0) -> Any:
        """Atomically read and remove ``key`` (BPF_MAP_LOOKUP_AND_DELETE_ELEM; hash maps 5.14+)."""
        k = None if key is None else self._key(key)
        raw = self._ops.lookup_and_delete(k, flags)
        return None if raw is None else self._decode_value(raw)

    def next_key(self, key: Any = None) -> Any:
        """The key after ``key`` (the first key for None); None at the end."""
        raw = self._ops.next_key(None if key is None else self._key(key))
        return None if raw is None else self._decode_key(raw)

    def _raw_keys(self) -> Iterator[bytes]:
        if self.type in _KEYLESS:
            raise Error(f"{MapType(self.type).name} maps have no keys to iterate")
        # Bound the walk: a hash map whose keys are deleted concurrently restarts from the
        # first key (as libbpf/cilium observe), which could otherwise loop forever.
        return self._while_open(self._ops.iter_keys(max(self.max_entries, 1) * 4 + 16))

    def _while_open(self, it: Iterator[Any]) -> Iterator[Any]:
        """``it``, resumed only while this map is open: a walk holds the raw fd number,
        which a map closed during the walk may have passed on to another object."""
        fd = self._fd
        while True:
            if fd.closed:
                raise self._closed_error()
            try:
                item = next(it)
            except StopIteration:
                return
            yield item

    def keys(self) -> Iterator[Any]:
        """Iterate keys (BPF_MAP_GET_NEXT_KEY walk)."""
        dk = self._decode_key
        for k in self._raw_keys():
            yield dk(k)

    __iter__ = keys

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Iterate (key, value); keys deleted between the walk and the lookup are skipped."""
        lookup = self._get
        if self._plain:
            for k in self._raw_keys():
                v = lookup(k)
                if v is not None:
                    yield k, v
            return
        dk, dv = self._decode_key, self._decode_value
        for k in self._raw_keys():
            v = lookup(k)
            if v is not None:
                yield dk(k), dv(v)

    def values(self) -> Iterator[Any]:
        for _k, v in self.items():
            yield v

    def __len__(self) -> int:
        self._check_open()
        if self.type in _ARRAY_TYPES:
            return self.max_entries
        n = 0
        for _ in self._raw_keys():
            n += 1
        return n

    def __bool__(self) -> bool:
        return True

    def clear(self) -> int:
        """Delete every key (arrays: zero every element). Returns the number of entries touched."""
        if self.type in _ARRAY_TYPES:
            if self.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
                zero = b"\0" * (self._stride * self.ncpus)
                for i in range(self.max_entries):
                    self._ops.update(i.to_bytes(4, "little"), zero, 0)
            else:
                for i in range(self.max_entries):
                    self._ops.delete(i.to_bytes(4, "little"))
            return self.max_entries
        if self.type in (MapType.QUEUE, MapType.STACK):
            n = 0
            while self._ops.lookup_and_delete(None) is not None:
                n += 1
            return n
        n = 0
        while True:
            k = self._ops.next_key(None)
            if k is None:
                return n
            self._ops.delete(k)
            n += 1

    # --------------------------------------------------- queue / stack / bloom
    def push(self, value: Any, flags: int = 0) -> None:
        """Queue/stack push, bloom filter add (BPF_EXIST on queues overwrites the oldest)."""
        self._ops.update(None, self._value(value), flags)  # type: ignore[arg-type]

    def pop(self) -> Any:
        """Queue/stack pop; None when empty."""
        raw = self._ops.lookup_and_delete(None)
        return None if raw is None else self._decode_value(raw)

    def peek(self, value: Any = None) -> Any:
        """Queue/stack: the next value without removing it (None when empty).

        Bloom filter: ``peek(value)`` returns True if ``value`` may be in the set.
        """
        if self.type == MapType.BLOOM_FILTER:
            if value is None:
                raise ValueError("bloom filter peek needs the value to test")
            return self._ops.bloom_peek(self._value(value))
        raw = self._ops.lookup(None)  # type: ignore[arg-type]
        return None if raw is None else self._decode_value(raw)

    # ------------------------------------------------------------------ batch
    def _batch_supported(self, err: BPFError) -> bool:
        return err.errno not in (errno.EINVAL, _ENOTSUPP, errno.EOPNOTSUPP)

    def lookup_batch(self, chunk: int = 0, *, delete: bool = False) -> Iterator[tuple[bytes, bytes, int]]:
        """Raw batch walk (BPF_MAP_LOOKUP[_AND_DELETE]_BATCH, kernel 5.6+).

        Yields ``(keys, values, count)``: two contiguous byte strings holding
        ``count`` keys and values. Falls back to per-element ops on kernels or
        map types without batch support.
        """
        ks, vs = self.key_size, self._stride * self.ncpus
        if chunk <= 0:
            chunk = max(1, min(self.max_entries or 1, 65536))
        if self.type in (MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH,
                         MapType.HASH_OF_MAPS):
            chunk = max(chunk, 64)  # a hash bucket can hold more than a tiny chunk (ENOSPC)
        try:
            yield from self._while_open(batch_walk(self.fd, ks, vs, chunk, delete=delete))
        except BatchUnsupported as e:
            if self._batch_supported(e.error):
                raise e.error from None
            yield from self._lookup_batch_fallback(chunk, delete)

    def _lookup_batch_fallback(self, chunk: int, delete: bool) -> Iterator[tuple[bytes, bytes, int]]:
        keys: list[bytes] = []
        vals: list[bytes] = []
        for k in list(self._raw_keys()):
            v = self._ops.lookup_and_delete(k) if delete else self._ops.lookup(k)
            if v is None:
                continue
            keys.append(k)
            vals.append(v)
            if len(keys) == chunk:
                yield b"".join(keys), b"".join(vals), len(keys)
                keys, vals = [], []
        if keys:
            yield b"".join(keys), b"".join(vals), len(keys)

    def items_batch(self, chunk: int = 0, *, delete: bool = False) -> list[tuple[Any, Any]]:
        """All (key, value) pairs read with batch ops (decoded like :meth:`items`)."""
        ks, vs = self.key_size, self._stride * self.ncpus
        out: list[tuple[Any, Any]] = []
        plain = self._plain
        dk, dv = self._decode_key, self._decode_value
        for kraw, vraw, n in self.lookup_batch(chunk, delete=delete):
            keys = [kraw[i:i + ks] for i in range(0, n * ks, ks)]
            vals = [vraw[i:i + vs] for i in range(0, n * vs, vs)]
            if plain:
                out.extend(zip(keys, vals))
            else:
                out.extend(zip(map(dk, keys), map(dv, vals)))
        return out

    def dump_raw(self, chunk: int = 0) -> tuple[bytes, bytes, int]:
        """Every key and value as two contiguous byte strings (the fastest dump)."""
        parts = list(self.lookup_batch(chunk))
        if len(parts) == 1:
            return parts[0]
        return b"".join(p[0] for p in parts), b"".join(p[1] for p in parts), sum(p[2] for p in parts)

    def update_batch(self, keys: list[Any], values: list[Any], flags: int = 0, elem_flags: int = 0) -> int:
        """BPF_MAP_UPDATE_BATCH (5.6+), per-element fallback. Returns the count written."""
        if len(keys) != len(values):
            raise ValueError("keys and values differ in length")
        kb = b"".join(self._key(k) for k in keys)
        vb = b"".join(self._value(v) for v in values)
        return self._write_batch(Cmd.MAP_UPDATE_BATCH, kb, vb, len(keys), elem_flags or flags)

    def delete_batch(self, keys: list[Any]) -> int:
        """BPF_MAP_DELETE_BATCH (5.6+), per-element fallback. Returns the count deleted."""
        kb = b"".join(self._key(k) for k in keys)
        return self._write_batch(Cmd.MAP_DELETE_BATCH, kb, b"", len(keys), 0)

    def _write_batch(self, cmd: int, kb: bytes, vb: bytes, count: int, elem_flags: int) -> int:
        if count == 0:
            return 0
        kbuf = ctypes.create_string_buffer(kb, len(kb))
        vbuf = ctypes.create_string_buffer(vb, len(vb)) if vb else None
        try:
            n, _ = batch_op(cmd, self.fd, ctypes.addressof(kbuf), ctypes.addressof(vbuf) if vbuf else 0, count,
                            elem_flags=elem_flags)
            return n
        except BPFError as e:
            if self._batch_supported(e):
                raise
        ks, vs = self.key_size, self._stride * self.ncpus
        done = 0
        for i in range(count):
            k = kb[i * ks:(i + 1) * ks]
            if cmd == Cmd.MAP_DELETE_BATCH:
                if self._ops.delete(k):
                    done += 1
            else:
                self._ops.update(k, vb[i * vs:(i + 1) * vs], elem_flags)
                done += 1
        return done

    # ------------------------------------------------------------------- mmap
    def mmap(self) -> memoryview:
        """The map's memory as a memoryview: writable, or read-only when the kernel refuses a
        writable mapping (a frozen map, ``BPF_F_RDONLY_PROG``, an fd opened ``BPF_F_RDONLY``).

        BPF_F_MMAPABLE arrays (5.5+): ``round_up(value_size, 8) * max_entries`` bytes
        rounded up to pages; arenas (6.9+): ``max_entries`` pages. :meth:`close` releases
        the views handed out here (using one afterwards raises ValueError).
        """
        self._check_open()
        if self._mmap is None:
            if not (self.flags & MapFlags.MMAPABLE):
                raise Error(f"map {self.name or '?'!r} was not created with BPF_F_MMAPABLE; it cannot be mmap()ed")
            page = _mmap.PAGESIZE
            if self.type == MapType.ARENA:
                size = self.max_entries * page  # max_entries counts pages; value_size is 0
            else:
                size = _round8(self.value_size) * self.max_entries
                size = (size + page - 1) // page * page
            fd = self.fd
            try:
                self._mmap = _mmap.mmap(fd, size, _mmap.MAP_SHARED, _mmap.PROT_READ | _mmap.PROT_WRITE)
            except OSError as e:
                # EPERM: frozen; EACCES: BPF_F_RDONLY_PROG, or an fd without write access
                # (BPF_F_RDONLY): user space may still read it.
                if e.errno not in (errno.EPERM, errno.EACCES):
                    raise BPFError(e.errno or errno.EINVAL, "mmap", _mmap_hint(self, size)) from None
                try:
                    self._mmap = _mmap.mmap(fd, size, _mmap.MAP_SHARED, _mmap.PROT_READ)
                except OSError as e2:
                    raise BPFError(e2.errno or errno.EINVAL, "mmap", _mmap_hint(self, size)) from None
        self._mviews = [r for r in self._mviews if r() is not None]
        mv = memoryview(self._mmap)
        self._mviews.append(weakref.ref(mv))
        return mv


def _mmap_hint(m: Map, size: int) -> str:
    t = m.type.name if isinstance(m.type, MapType) else str(m.type)
    why = ""
    if m.flags & MapFlags.RDONLY:
        why = "; a BPF_F_RDONLY fd cannot make the shared mapping the kernel requires"
    elif m.flags & MapFlags.WRONLY:
        why = "; a BPF_F_WRONLY fd cannot be mapped"
    return f"mapping {size} bytes of map {m.name or '?'!r} ({t}){why}"


def _fill_defaults(spec: MapSpec) -> MapSpec:
    """Fill sizes the kernel dictates for special map types, as libbpf does."""
    spec = spec.copy()
    t = spec.type
    if t == MapType.PERF_EVENT_ARRAY:
        spec.key_size = spec.key_size or 4
        spec.value_size = spec.value_size or 4
        if not spec.max_entries:
            spec.max_entries = num_possible_cpus()
    elif t in (MapType.RINGBUF, MapType.USER_RINGBUF):
        if not spec.max_entries:
            spec.max_entries = 256 * 1024
        page = _mmap.PAGESIZE
        n = max(spec.max_entries, page)
        p = 1
        while p < n:
            p <<= 1
        spec.max_entries = p
    elif t in (MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.CGROUP_ARRAY,
               MapType.SOCKMAP, MapType.SOCKHASH, MapType.XSKMAP, MapType.DEVMAP, MapType.DEVMAP_HASH,
               MapType.CPUMAP, MapType.REUSEPORT_SOCKARRAY):
        spec.key_size = spec.key_size or 4
        spec.value_size = spec.value_size or 4
    elif t in _STORAGE_TYPES:
        spec.key_size = spec.key_size or 4
        spec.flags = int(spec.flags) | MapFlags.NO_PREALLOC
    elif t == MapType.LPM_TRIE:
        spec.flags = int(spec.flags) | MapFlags.NO_PREALLOC
    elif t == MapType.STACK_TRACE:
        spec.key_size = spec.key_size or 4
        spec.value_size = spec.value_size or 127 * 8
    elif t == MapType.ARENA:
        spec.flags = int(spec.flags) | MapFlags.MMAPABLE
    return spec


def btf_fd_for(btf: Any) -> tuple[int, FD | None]:
    """(fd number, owned FD or None) for ``btf``.

    An int fd, an :class:`FD` or an object with ``.fd`` (a loaded BTF handle) is
    borrowed; bytes or a :class:`pybpf.btf.BTF` are loaded (BPF_BTF_LOAD) and the
    new FD is returned for the caller to close.
    """
    if isinstance(btf, int):
        return btf, None
    if isinstance(btf, FD):
        return btf.fd, None
    if isinstance(btf, (bytes, bytearray, memoryview)):
        data = bytes(btf)
    elif hasattr(btf, "to_bytes"):
        data = btf.to_bytes()
    elif hasattr(btf, "fd"):
        return int(btf.fd), None
    else:
        raise TypeError(f"btf must be bytes, a BTF, or an fd, not {type(btf).__name__}")
    fd, _log = cmds.btf_load(data)
    return fd.fd, fd


def _storage_btf(value_size: int) -> tuple[bytes, int, int]:
    """Minimal BTF for local-storage maps: key ``int`` (id 1), value ``unsigned char[value_size]`` (id 3)."""
    import struct

    strings = b"\0int\0unsigned char\0"
    types = b"".join([
        struct.pack("<IIII", 1, 1 << 24, 4, (1 << 24) | 32),  # [1] INT 'int' size 4 signed
        struct.pack("<IIII", 5, 1 << 24, 1, 8),  # [2] INT 'unsigned char' size 1
        struct.pack("<III", 0, 3 << 24, 0) + struct.pack("<III", 2, 1, value_size),  # [3] ARRAY
    ])
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + types + strings, 1, 3
