"""BCC's Python table classes over :class:`pybpf.Map`, with ctypes keys and leaves.

``b["counts"]`` returns one of these. ``Key``/``Leaf`` are ctypes types built
from the object's BTF (:func:`pybpf.btf.values.ctypes_type`), so
``for k, v in b["counts"].items(): k.value, v.value`` works as in BCC, and so
do struct keys (``k.pid``), ``print_log2_hist`` and per-CPU ``Leaf`` arrays.
Keys and leaves may be ctypes objects, ints (for integer types) or bytes.
"""

from __future__ import annotations

import ctypes as ct
import errno
import functools
import os
from collections.abc import MutableMapping
from typing import Any, Callable, Iterator, Optional

from .._sys.consts import Cmd, MapType
from .._sys.cpu import num_possible_cpus
from .._sys.mapops import batch_op
from ..errors import BPFError
from . import _hist

__all__ = ["Table", "TableBase", "HashTable", "LruHash", "Array", "ProgArray", "PerfEventArray", "PerCpuHash",
           "LruPerCpuHash", "PerCpuArray", "LpmTrie", "StackTrace", "CgroupArray", "DevMap", "CpuMap", "XskMap",
           "MapInMapArray", "MapInMapHash", "QueueStack", "RingBuf", "EventData"]

# PerfEventArray, RingBuf, QueueStack and EventData live in table_stream (imported at the end)

_CT_BASES = (ct._SimpleCData, ct.Structure, ct.Union, ct.Array)


def _is_ct(x: Any) -> bool:
    return isinstance(x, _CT_BASES)


def _to_bytes(obj: Any, ctype: Any, size: int, what: str) -> bytes:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
    elif _is_ct(obj):
        b = ct.string_at(ct.addressof(obj), ct.sizeof(obj))
    elif isinstance(obj, int) and ctype is not None:
        b = ct.string_at(ct.addressof(ctype(obj)), ct.sizeof(ctype))
    else:
        raise TypeError(f"{what} must be a ctypes object, bytes or an int, not {type(obj).__name__}")
    return _fit(b, size)


def _fit(b: bytes, size: int) -> bytes:
    """``b`` zero-padded or cut to ``size`` bytes: BCC copies ``sizeof(Key)``/``sizeof(Leaf)`` bytes
    from whatever ctypes object it is given (a 13-byte ``create_string_buffer`` into a ``char[12]``)."""
    if len(b) < size:
        return b + bytes(size - len(b))
    return b[:size]


def _from_bytes(ctype: Any, raw: bytes) -> Any:
    n = ct.sizeof(ctype)
    if len(raw) < n:
        raw = raw + bytes(n - len(raw))
    return ctype.from_buffer_copy(raw[:n])


def _real_fields(ctype: Any) -> list[str]:
    return [f[0] for f in getattr(ctype, "_fields_", []) if not f[0].startswith(("_pad_", "__pad"))]


class TableBase(MutableMapping):  # type: ignore[type-arg]
    """A BPF map as BCC's ``TableBase``: a MutableMapping of ctypes keys to ctypes leaves."""

    def __init__(self, bpf: Any, map: Any, keytype: Any, leaftype: Any, name: str = "") -> None:
        self.bpf = bpf
        self.map = map
        self.map_fd = map.fd
        self.map_id = map.id
        self.Key = keytype
        self.Leaf = leaftype
        self.ttype = int(map.type)
        self.flags = int(map.flags)
        self.max_entries = int(map.max_entries)
        self._name = name or map.name
        self._ops = map._ops  # raw element operations (the Map's codecs are bypassed)
        self._ksize = int(map.key_size)
        self._vsize = int(map._stride) * int(map.ncpus)
        self._cbs: dict[Any, Any] = {}

    def get_fd(self) -> int:
        return self.map_fd

    # ---------------------------------------------------------------- conversion
    def _kb(self, key: Any) -> bytes:
        return _to_bytes(key, self.Key, self._ksize, "key")

    def _vb(self, leaf: Any) -> bytes:
        return _to_bytes(leaf, self.Leaf, self._vsize, "leaf")

    def _key(self, raw: bytes) -> Any:
        return _from_bytes(self.Key, raw)

    def _leaf(self, raw: bytes) -> Any:
        return _from_bytes(self.Leaf, raw)

    # ---------------------------------------------------------------- mapping
    def __getitem__(self, key: Any) -> Any:
        raw = self._ops.lookup(self._kb(key))
        if raw is None:
            raise KeyError(key)
        return self._leaf(raw)

    def __setitem__(self, key: Any, leaf: Any) -> None:
        try:
            self._ops.update(self._kb(key), self._vb(leaf), 0)
        except BPFError as e:
            raise Exception(f"Could not update table: {os.strerror(e.errno or errno.EINVAL)}") from e

    def __delitem__(self, key: Any) -> None:
        if not self._ops.delete(self._kb(key)):
            raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        for raw in list(self._ops.iter_keys(max(self.max_entries, 1) * 4 + 16)):
            yield self._key(raw)

    def __len__(self) -> int:
        return sum(1 for _ in self._ops.iter_keys(max(self.max_entries, 1) * 4 + 16))

    def __contains__(self, key: Any) -> bool:
        return self._ops.lookup(self._kb(key)) is not None

    def iter(self) -> Iterator[Any]:
        return iter(self)

    def keys(self) -> Iterator[Any]:  # type: ignore[override]
        return iter(self)

    def itervalues(self) -> Iterator[Any]:
        for k in self:
            try:
                yield self[k]
            except KeyError:
                pass

    def iteritems(self) -> Iterator[tuple[Any, Any]]:
        for k in self:
            try:
                yield k, self[k]
            except KeyError:
                pass

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        return list(self.iteritems())

    def values(self) -> list[Any]:  # type: ignore[override]
        return list(self.itervalues())

    def clear(self) -> None:
        for k in list(self.keys()):
            try:
                del self[k]
            except KeyError:
                pass

    def zero(self) -> None:
        """Set every existing entry's leaf to zero."""
        for k in list(self.keys()):
            self[k] = self.Leaf()

    def next(self, key: Any) -> Any:
        raw = self._ops.next_key(None if key is None else self._kb(key))
        if raw is None:
            raise StopIteration()
        return self._key(raw)

    # ---------------------------------------------------------------- batches (5.6+)
    def _batch(self, delete: bool) -> Iterator[tuple[Any, Any]]:
        out = []
        for kraw, vraw, n in self.map.lookup_batch(delete=delete):
            for i in range(n):
                out.append((self._key(kraw[i * self._ksize:(i + 1) * self._ksize]),
                            self._leaf(vraw[i * self._vsize:(i + 1) * self._vsize])))
        yield from out

    def items_lookup_batch(self) -> Iterator[tuple[Any, Any]]:
        """Every (key, leaf), read with BPF_MAP_LOOKUP_BATCH."""
        return self._batch(False)

    def items_lookup_and_delete_batch(self) -> Iterator[tuple[Any, Any]]:
        """Every (key, leaf), read and removed with BPF_MAP_LOOKUP_AND_DELETE_BATCH."""
        return self._batch(True)

    def _array_bytes(self, arr: Any, size: int, what: str) -> tuple[bytes, int]:
        if not isinstance(arr, ct.Array):
            raise TypeError(f"{what} must be a ctypes array")
        n = len(arr)
        if n < 1 or n > self.max_entries:
            raise ValueError("Array's length is wrong")
        b = ct.string_at(ct.addressof(arr), ct.sizeof(arr))
        if len(b) != n * size:
            elem = len(b) // n  # elements of another size: each cut or zero-padded, as BCC does
            b = b"".join(_fit(b[i * elem:(i + 1) * elem], size) for i in range(n))
        return b, n

    def items_delete_batch(self, ct_keys: Any = None) -> None:
        """Delete the keys in the ctypes array ``ct_keys`` (BPF_MAP_DELETE_BATCH), or everything."""
        if ct_keys is None:
            for _ in self.items_lookup_and_delete_batch():
                pass
            return
        kb, n = self._array_bytes(ct_keys, self._ksize, "keys")
        self._write_batch(Cmd.MAP_DELETE_BATCH, kb, b"", n)

    def items_update_batch(self, ct_keys: Any, ct_values: Any) -> None:
        """Write the ctypes arrays ``ct_keys``/``ct_values`` (same length) with BPF_MAP_UPDATE_BATCH."""
        kb, n = self._array_bytes(ct_keys, self._ksize, "keys")
        vb, m = self._array_bytes(ct_values, self._vsize, "values")
        if n != m:
            raise ValueError("keys array length != values array length")
        self._write_batch(Cmd.MAP_UPDATE_BATCH, kb, vb, n)

    def _write_batch(self, cmd: int, kb: bytes, vb: bytes, n: int) -> None:
        kbuf = ct.create_string_buffer(kb, len(kb))
        vbuf = ct.create_string_buffer(vb, len(vb)) if vb else None
        try:
            batch_op(cmd, self.map_fd, ct.addressof(kbuf), ct.addressof(vbuf) if vbuf is not None else 0, n)
        except BPFError as e:
            name = "BPF_MAP_DELETE_BATCH" if cmd == Cmd.MAP_DELETE_BATCH else "BPF_MAP_UPDATE_BATCH"
            raise Exception(f"{name} has failed: {os.strerror(e.errno or errno.EINVAL)}") from e

    # ---------------------------------------------------------------- histograms
    def _hist_sections(self, index_max: int, bucket_fn: Optional[Callable[[Any], Any]],
                       bucket_sort_fn: Optional[Callable[[list[Any]], list[Any]]]) -> list[tuple[Any, list[int]]]:
        f1, f2 = _real_fields(self.Key)[:2]
        tmp: dict[Any, list[int]] = {}
        for k, v in self.items():
            bucket = getattr(k, f1)
            if bucket_fn:
                bucket = bucket_fn(bucket)
            vals = tmp.setdefault(bucket, [0] * index_max)
            slot = getattr(k, f2)
            if 0 <= slot < index_max:
                vals[slot] = _count(v)
        buckets = list(tmp)
        if bucket_sort_fn:
            buckets = bucket_sort_fn(buckets)
        return [(b, tmp[b]) for b in buckets]

    def _flat(self, index_max: int) -> list[int]:
        vals = [0] * index_max
        for k, v in self.items():
            i = k.value if hasattr(k, "value") else int.from_bytes(bytes(k), "little")
            if i >= index_max:
                raise IndexError(f"Index in histogram of {i} exceeds max of {index_max}.")
            vals[i] = _count(v)
        return vals

    def _struct_key(self) -> bool:
        return isinstance(self.Key(), ct.Structure)

    def print_log2_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                        section_print_fn: Optional[Callable[[Any], Any]] = None,
                        bucket_fn: Optional[Callable[[Any], Any]] = None, strip_leading_zero: Optional[bool] = None,
                        bucket_sort_fn: Optional[Callable[[list[Any]], list[Any]]] = None) -> None:
        """Print the table as a log2 histogram (keys are slots, or (bucket, slot) structs)."""
        if self._struct_key():
            secs = self._hist_sections(_hist.LOG2_INDEX_MAX, bucket_fn, bucket_sort_fn)
            _hist.print_sections(secs, _hist.log2_hist_lines, val_type, section_header, section_print_fn,
                                 strip_leading_zero, print)
        else:
            for ln in _hist.log2_hist_lines(self._flat(_hist.LOG2_INDEX_MAX), val_type, strip_leading_zero):
                print(ln)

    def print_linear_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                          section_print_fn: Optional[Callable[[Any], Any]] = None,
                          bucket_fn: Optional[Callable[[Any], Any]] = None, strip_leading_zero: Optional[bool] = None,
                          bucket_sort_fn: Optional[Callable[[list[Any]], list[Any]]] = None) -> None:
        """Print the table as a linear histogram (one row per integer key)."""
        if self._struct_key():
            secs = self._hist_sections(_hist.LINEAR_INDEX_MAX, bucket_fn, bucket_sort_fn)
            _hist.print_sections(secs, _hist.linear_hist_lines, val_type, section_header, section_print_fn,
                                 strip_leading_zero, print)
        else:
            for ln in _hist.linear_hist_lines(self._flat(_hist.LINEAR_INDEX_MAX), val_type, strip_leading_zero):
                print(ln)

    def print_json_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                        section_print_fn: Optional[Callable[[Any], Any]] = None,
                        bucket_fn: Optional[Callable[[Any], Any]] = None,
                        bucket_sort_fn: Optional[Callable[[list[Any]], list[Any]]] = None) -> None:
        """Print the log2 histogram as BCC's dict records."""
        if self._struct_key():
            for b, vals in self._hist_sections(_hist.LOG2_INDEX_MAX, bucket_fn, bucket_sort_fn):
                label = section_print_fn(b) if section_print_fn else b
                print(_hist.json_hist(vals, val_type, (section_header, label)))
        else:
            print(_hist.json_hist(self._flat(_hist.LOG2_INDEX_MAX), val_type))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} fd={self.map_fd}>"


def _count(v: Any) -> int:
    if hasattr(v, "value"):
        return int(v.value)
    if isinstance(v, ct.Array):
        return int(sum(v))
    return int(v)


class HashTable(TableBase):
    pass


class LruHash(HashTable):
    pass


class ArrayBase(TableBase):
    def _normalize_key(self, key: Any) -> Any:
        if isinstance(key, int):
            if key < 0:
                key = len(self) + key
            key = self.Key(key)
        if not isinstance(key, ct._SimpleCData):
            raise IndexError("Array index must be an integer type")
        if key.value >= len(self) or key.value < 0:
            raise IndexError("Array index out of range")
        return key

    def __len__(self) -> int:
        return self.max_entries

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._normalize_key(key))

    def __setitem__(self, key: Any, leaf: Any) -> None:
        super().__setitem__(self._normalize_key(key), leaf)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(self._normalize_key(key))

    def clearitem(self, key: Any) -> None:
        key = self._normalize_key(key)
        self._ops.update(self._kb(key), bytes(self._vsize), 0)

    def __iter__(self) -> Iterator[Any]:
        for i in range(self.max_entries):
            yield self.Key(i)


class Array(ArrayBase):
    def __delitem__(self, key: Any) -> None:  # array elements cannot be deleted: zero them
        self.clearitem(key)

    def clear(self) -> None:
        for i in range(self.max_entries):
            self.clearitem(i)


class ProgArray(ArrayBase):
    def __setitem__(self, key: Any, leaf: Any) -> None:
        fd = getattr(leaf, "fd", None)
        if isinstance(fd, int):
            leaf = self.Leaf(fd)
        super().__setitem__(key, leaf)


class CgroupArray(ArrayBase):
    def __setitem__(self, key: Any, leaf: Any) -> None:
        if isinstance(leaf, str):
            fd = os.open(leaf, os.O_RDONLY | os.O_CLOEXEC)
            try:
                super().__setitem__(key, self.Leaf(fd))
            finally:
                os.close(fd)
        else:
            super().__setitem__(key, leaf)


class DevMap(ArrayBase):
    pass


class CpuMap(ArrayBase):
    pass


class XskMap(ArrayBase):
    pass


class MapInMapArray(ArrayBase):
    pass


class MapInMapHash(HashTable):
    pass


class LpmTrie(TableBase):
    def __len__(self) -> int:
        raise NotImplementedError


class _PerCpu:
    """Mixin: ``Leaf`` is an array of the C leaf per possible CPU (``sLeaf`` is the C leaf)."""

    sLeaf: Any
    total_cpu: int
    reducer: Optional[Callable[[Any, Any], Any]]

    def _setup_percpu(self: Any, reducer: Optional[Callable[[Any, Any], Any]]) -> None:
        self.reducer = reducer
        self.sLeaf = self.Leaf
        self.total_cpu = num_possible_cpus()
        self._stride = int(self.map._stride)
        self.Leaf = self.sLeaf * self.total_cpu

    def _leaf(self: Any, raw: bytes) -> Any:
        arr = self.Leaf()
        n = ct.sizeof(self.sLeaf)
        for i in range(self.total_cpu):
            arr[i] = _from_bytes(self.sLeaf, raw[i * self._stride:i * self._stride + n])
        return arr

    def _vb(self: Any, leaf: Any) -> bytes:
        if isinstance(leaf, (bytes, bytearray)) and len(leaf) == self._vsize:
            return bytes(leaf)
        n = ct.sizeof(self.sLeaf)
        if isinstance(leaf, ct.Array) and len(leaf) == self.total_cpu:
            parts = [_to_bytes(x, self.sLeaf, n, "leaf") for x in leaf]
        else:
            parts = [_to_bytes(leaf, self.sLeaf, n, "leaf")] * self.total_cpu
        pad = bytes(self._stride - n)
        return b"".join(p + pad for p in parts)

    def getvalue(self: Any, key: Any) -> Any:
        return TableBase.__getitem__(self, key)

    def __getitem__(self: Any, key: Any) -> Any:
        v = self.getvalue(key)
        return functools.reduce(self.reducer, v) if self.reducer else v

    def sum(self: Any, key: Any) -> Any:
        if isinstance(self.sLeaf(), ct.Structure):
            raise IndexError("Leaf must be an integer type for default sum functions")
        return self.sLeaf(sum(_as_int(x) for x in self.getvalue(key)))

    def max(self: Any, key: Any) -> Any:
        if isinstance(self.sLeaf(), ct.Structure):
            raise IndexError("Leaf must be an integer type for default max functions")
        return self.sLeaf(max(_as_int(x) for x in self.getvalue(key)))

    def average(self: Any, key: Any) -> float:
        return self.sum(key).value / self.total_cpu


def _as_int(x: Any) -> int:
    return int(x.value) if hasattr(x, "value") else int(x)


class PerCpuHash(_PerCpu, HashTable):
    def __init__(self, *args: Any, reducer: Optional[Callable[[Any, Any], Any]] = None, **kw: Any) -> None:
        HashTable.__init__(self, *args, **kw)
        self._setup_percpu(reducer)


class LruPerCpuHash(PerCpuHash):
    pass


class PerCpuArray(_PerCpu, ArrayBase):
    def __init__(self, *args: Any, reducer: Optional[Callable[[Any, Any], Any]] = None, **kw: Any) -> None:
        ArrayBase.__init__(self, *args, **kw)
        self._setup_percpu(reducer)

    def __getitem__(self, key: Any) -> Any:
        return _PerCpu.__getitem__(self, self._normalize_key(key))

    def getvalue(self, key: Any) -> Any:
        return TableBase.__getitem__(self, self._normalize_key(key))

    def __delitem__(self, key: Any) -> None:
        self.clearitem(key)


class StackTrace(TableBase):
    MAX_DEPTH = 127
    BPF_F_STACK_BUILD_ID = 1 << 5
    BPF_STACK_BUILD_ID_EMPTY = 0
    BPF_STACK_BUILD_ID_VALID = 1
    BPF_STACK_BUILD_ID_IP = 2

    def walk(self, stack_id: int, resolve: Optional[Callable[[int], Any]] = None) -> Iterator[Any]:
        """The addresses of stack ``stack_id`` (innermost first), through ``resolve`` if given."""
        leaf = self[self.Key(stack_id)]
        if self.flags & self.BPF_F_STACK_BUILD_ID:
            for ent in leaf.trace:
                if ent.status in (self.BPF_STACK_BUILD_ID_IP, self.BPF_STACK_BUILD_ID_EMPTY):
                    return
                yield resolve(ent) if resolve else ent
            return
        for addr in leaf.ip:
            if addr == 0:
                return
            yield resolve(addr) if resolve else addr


from .table_stream import EventData, PerfEventArray, QueueStack, RingBuf  # noqa: E402

_CLASSES: dict[int, type] = {
    MapType.HASH: HashTable, MapType.ARRAY: Array, MapType.PROG_ARRAY: ProgArray,
    MapType.PERF_EVENT_ARRAY: PerfEventArray, MapType.PERCPU_HASH: PerCpuHash, MapType.PERCPU_ARRAY: PerCpuArray,
    MapType.LPM_TRIE: LpmTrie, MapType.STACK_TRACE: StackTrace, MapType.LRU_HASH: LruHash,
    MapType.LRU_PERCPU_HASH: LruPerCpuHash, MapType.CGROUP_ARRAY: CgroupArray, MapType.DEVMAP: DevMap,
    MapType.CPUMAP: CpuMap, MapType.XSKMAP: XskMap, MapType.ARRAY_OF_MAPS: MapInMapArray,
    MapType.HASH_OF_MAPS: MapInMapHash, MapType.RINGBUF: RingBuf,
}


def Table(bpf: Any, map: Any, keytype: Any, leaftype: Any, name: str = "",
          reducer: Optional[Callable[[Any, Any], Any]] = None) -> Any:
    """The table class for ``map``'s type (BCC's ``Table`` factory)."""
    t = int(map.type)
    if t in (MapType.QUEUE, MapType.STACK):
        return QueueStack(bpf, map, leaftype, name)
    cls = _CLASSES.get(t)
    if cls is None:
        cls = HashTable if t not in (MapType.DEVMAP_HASH, MapType.SOCKHASH) else HashTable
    if cls in (PerCpuHash, PerCpuArray, LruPerCpuHash):
        return cls(bpf, map, keytype, leaftype, name, reducer=reducer)
    return cls(bpf, map, keytype, leaftype, name)
