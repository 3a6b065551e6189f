"""Maps on the real kernel: every map type, the dict API, batch ops, pins, mmap."""

from __future__ import annotations

import ctypes
import errno
import os
import threading

import pytest

import pybpf
from pybpf import Map, MapFlags, MapType, UpdateFlags, features


def test_hash_dict_api():
    with Map.create(MapType.HASH, 4, 8, 16, name="t_hash") as m:
        assert repr(m).startswith("<Map t_hash HASH")
        m[1] = 100
        m[b"\x02\0\0\0"] = (200).to_bytes(8, "little")
        m.update(3, 300, UpdateFlags.NOEXIST)
        assert m[1] == (100).to_bytes(8, "little")
        assert m.get(9) is None and m.get(9, "x") == "x"
        assert 2 in m and 9 not in m
        assert sorted(int.from_bytes(k, "little") for k in m) == [1, 2, 3]
        assert len(m) == 3
        with pytest.raises(pybpf.BPFError) as ei:
            m.update(1, 5, UpdateFlags.NOEXIST)
        assert ei.value.errno == errno.EEXIST
        with pytest.raises(pybpf.BPFError):
            m.update(7, 5, UpdateFlags.EXIST)
        del m[2]
        with pytest.raises(KeyError):
            del m[2]
        with pytest.raises(KeyError):
            m[2]
        assert dict((int.from_bytes(k, "little"), int.from_bytes(v, "little")) for k, v in m.items()) == {1: 100, 3: 300}
        assert m.lookup_and_delete(1) == (100).to_bytes(8, "little")
        assert m.clear() == 1 and len(m) == 0


def test_keys_accept_ctypes_and_validate_size():
    class K(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint16), ("b", ctypes.c_uint16)]

    with Map.create(MapType.HASH, 4, 4, 4) as m:
        m[K(1, 2)] = ctypes.c_uint32(7)
        assert m[K(1, 2)] == (7).to_bytes(4, "little")
        with pytest.raises(ValueError):
            m[b"abc"] = 1
        with pytest.raises(ValueError):
            m[1] = 1 << 40
        with pytest.raises(TypeError):
            m[1.5] = 1


def test_map_full_hint():
    with Map.create(MapType.HASH, 4, 4, 2) as m:
        m[1] = 1
        m[2] = 2
        with pytest.raises(pybpf.BPFError, match="max_entries"):
            m[3] = 3


def test_array_and_len():
    with Map.create(MapType.ARRAY, 4, 4, 8) as m:
        assert len(m) == 8
        m[3] = 42
        assert m[3] == (42).to_bytes(4, "little")
        assert m[0] == bytes(4)
        assert m.clear() == 8
        assert m[3] == bytes(4)


@pytest.mark.parametrize("t", [MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH])
def test_percpu(t):
    n = pybpf.num_possible_cpus()
    with Map.create(t, 4, 4, 4) as m:
        m[0] = [i + 1 for i in range(n)]
        v = m[0]
        assert isinstance(v, list) and len(v) == n
        assert [int.from_bytes(x, "little") for x in v] == [i + 1 for i in range(n)]
        m[1] = 9  # a single value is written to every CPU
        assert all(int.from_bytes(x, "little") == 9 for x in m[1])
        with pytest.raises(ValueError):
            m[2] = [1] * (n + 1)


def test_lru_evicts():
    with Map.create(MapType.LRU_HASH, 4, 4, 8, flags=MapFlags.NO_COMMON_LRU) as m:
        for i in range(100):
            m[i] = i
        assert 0 < len(m) <= 8


def test_lpm_trie():
    with Map.create(MapType.LPM_TRIE, 8, 4, 16) as m:
        m[pybpf.lpm_key(8, bytes([10, 0, 0, 0]))] = 1
        m[pybpf.lpm_key(24, bytes([10, 1, 2, 0]))] = 2
        assert m[pybpf.lpm_key(32, bytes([10, 1, 2, 3]))] == (2).to_bytes(4, "little")
        assert m[pybpf.lpm_key(32, bytes([10, 9, 9, 9]))] == (1).to_bytes(4, "little")
        assert m.get(pybpf.lpm_key(32, bytes([11, 0, 0, 0]))) is None
        assert len(list(m.keys())) == 2


@pytest.mark.parametrize("t,order", [(MapType.QUEUE, [1, 2, 3]), (MapType.STACK, [3, 2, 1])])
def test_queue_stack(t, order):
    with Map.create(t, 0, 4, 4) as m:
        for i in (1, 2, 3):
            m.push(i)
        assert int.from_bytes(m.peek(), "little") == order[0]
        assert [int.from_bytes(m.pop(), "little") for _ in range(3)] == order
        assert m.pop() is None and m.peek() is None
        m.push(5)
        assert m.clear() == 1


def test_bloom_filter():
    with Map.create(MapType.BLOOM_FILTER, 0, 4, 100, map_extra=3) as m:
        for i in range(10):
            m.push(i)
        assert all(m.peek(i) for i in range(10))
        assert sum(m.peek(i) for i in range(1000, 1100)) < 20


def test_map_in_map_and_prog_array():
    with Map.create(MapType.ARRAY, 4, 4, 1) as inner, \
            Map.create(MapType.ARRAY_OF_MAPS, 4, 4, 2, inner_map=inner) as outer, \
            Map.create(MapType.HASH_OF_MAPS, 4, 4, 2,
                       inner_map=pybpf.MapSpec(MapType.ARRAY, 4, 4, 1)) as houter:
        outer[0] = inner
        assert int.from_bytes(outer[0], "little") == inner.id
        houter[7] = inner
        assert int.from_bytes(houter[7], "little") == inner.id
        del houter[7]
    with Map.create(MapType.PROG_ARRAY, 4, 4, 4) as pa:
        assert pa.get(0) is None


def test_map_in_map_needs_inner():
    with pytest.raises(pybpf.Error, match="inner_map"):
        Map.create(MapType.ARRAY_OF_MAPS, 4, 4, 1)


SIMPLE_CREATE = [
    (MapType.PERF_EVENT_ARRAY, {}),
    (MapType.STACK_TRACE, {"max_entries": 16}),
    (MapType.CGROUP_ARRAY, {"max_entries": 4}),
    (MapType.DEVMAP, {"max_entries": 4}),
    (MapType.DEVMAP_HASH, {"max_entries": 4}),
    (MapType.CPUMAP, {"max_entries": 2}),
    (MapType.XSKMAP, {"max_entries": 4}),
    (MapType.SOCKMAP, {"max_entries": 4}),
    (MapType.SOCKHASH, {"max_entries": 4}),
    (MapType.REUSEPORT_SOCKARRAY, {"max_entries": 4}),
    (MapType.CGROUP_STORAGE, {"key_size": 16, "value_size": 8}),
    (MapType.PERCPU_CGROUP_STORAGE, {"key_size": 16, "value_size": 8}),
    (MapType.SK_STORAGE, {"value_size": 8}),
    (MapType.INODE_STORAGE, {"value_size": 8}),
    (MapType.TASK_STORAGE, {"value_size": 8}),
    (MapType.CGRP_STORAGE, {"value_size": 8}),
    (MapType.RINGBUF, {"max_entries": 4096}),
    (MapType.USER_RINGBUF, {"max_entries": 4096}),
    (MapType.ARENA, {"max_entries": 1}),
]


@pytest.mark.parametrize("t,kw", SIMPLE_CREATE, ids=[t.name for t, _ in SIMPLE_CREATE])
def test_create_every_type(t, kw):
    if not features.has_map_type(t):
        pytest.skip(features.unsupported_reason(t))
    with Map.create(t, name=f"t_{t.name.lower()}"[:15], **kw) as m:
        info = m.info()
        assert info.type == t
        assert info.name == f"t_{t.name.lower()}"[:15]
        assert info.id == m.id


def test_struct_ops_map_from_vmlinux_btf():
    from pybpf.btf import BTF

    vm = BTF.load_vmlinux()
    st = vm.find("bpf_struct_ops_tcp_congestion_ops")
    with Map.create(MapType.STRUCT_OPS, 4, vm.sizeof(st), 1, btf_vmlinux_value_type_id=st.id, name="t_stops") as m:
        assert m.info().btf_vmlinux_value_type_id == st.id


def test_ringbuf_rounds_size():
    with Map.create(MapType.RINGBUF, max_entries=5000) as m:
        assert m.max_entries == 8192


def test_batch_ops():
    with Map.create(MapType.HASH, 4, 8, 5000) as m:
        keys = list(range(3000))
        assert m.update_batch(keys, [k * 2 for k in keys]) == 3000
        got = m.items_batch(chunk=256)
        assert len(got) == 3000
        assert {int.from_bytes(k, "little"): int.from_bytes(v, "little") for k, v in got} == {k: 2 * k for k in keys}
        kraw, vraw, n = m.dump_raw()
        assert n == 3000 and len(kraw) == 3000 * 4 and len(vraw) == 3000 * 8
        assert m.delete_batch(keys[:1000]) == 1000
        assert len(m) == 2000
        popped = m.items_batch(delete=True)
        assert len(popped) == 2000 and len(m) == 0


def test_batch_percpu_and_array():
    n = pybpf.num_possible_cpus()
    with Map.create(MapType.PERCPU_ARRAY, 4, 4, 10) as m:
        m[3] = list(range(n))
        got = dict(m.items_batch())
        assert len(got) == 10
        assert [int.from_bytes(x, "little") for x in got[(3).to_bytes(4, "little")]] == list(range(n))


def test_batch_fallback_for_types_without_batch():
    # LPM tries have no batch ops: the per-element fallback must kick in.
    with Map.create(MapType.LPM_TRIE, 8, 4, 16) as m:
        m[pybpf.lpm_key(8, bytes([10, 0, 0, 0]))] = 1
        assert len(m.items_batch()) == 1
        assert m.update_batch([pybpf.lpm_key(16, bytes([10, 1, 0, 0]))], [2]) == 1
        assert len(m.items_batch()) == 2


def test_iteration_survives_concurrent_deletion():
    with Map.create(MapType.HASH, 4, 4, 4096) as m:
        for i in range(4096):
            m[i] = i
        stop = threading.Event()
        deleter = Map.from_id(m.id)

        def delete_all():
            for i in range(4096):
                deleter.delete(i)
            stop.set()

        t = threading.Thread(target=delete_all)
        t.start()
        seen = sum(1 for _ in m.items())
        t.join()
        deleter.close()
        assert 0 <= seen <= 4 * 4096
        assert len(m) == 0


def test_freeze():
    with Map.create(MapType.ARRAY, 4, 4, 1) as m:
        m[0] = 1
        m.freeze()
        assert m.info().frozen
        with pytest.raises(pybpf.BPFError) as ei:
            m[0] = 2
        assert ei.value.errno == errno.EPERM


def test_mmapable_array():
    with Map.create(MapType.ARRAY, 4, 8, 4, flags=MapFlags.MMAPABLE) as m:
        mv = m.mmap()
        mv[8:16] = (1234).to_bytes(8, "little")
        assert int.from_bytes(m[1], "little") == 1234
        m[2] = 99
        assert int.from_bytes(mv[16:24], "little") == 99
        mv.release()
    with Map.create(MapType.ARRAY, 4, 8, 4) as m, pytest.raises(pybpf.Error, match="MMAPABLE"):
        m.mmap()


def test_pin_from_pin_from_id(tmp_path):
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    path = f"/sys/fs/bpf/pybpf_test_{os.getpid()}"
    with Map.create(MapType.HASH, 4, 4, 4, name="pinned") as m:
        m[1] = 2
        m.pin(path)
        try:
            with Map.from_pin(path) as m2:
                assert m2.id == m.id and m2[1] == m[1]
                assert m2.type == MapType.HASH and m2.key_size == 4 and m2.name == "pinned"
            with Map.from_id(m.id) as m3:
                assert m3[1] == (2).to_bytes(4, "little")
        finally:
            Map.unpin(path)
    assert not os.path.exists(path)


def test_pin_outside_bpffs_is_clear(tmp_path):
    with Map.create(MapType.HASH, 4, 4, 4) as m, pytest.raises(pybpf.Error, match="not on a BPF filesystem"):
        m.pin(str(tmp_path / "x"))


def test_from_id_missing():
    with pytest.raises(pybpf.NotFoundError, match="no map with id"):
        Map.from_id(0x7FFFFFF0)


def test_bad_create_is_typed_and_leaks_nothing():
    with pytest.raises(pybpf.BPFError, match="MAP_CREATE"):
        Map.create(MapType.HASH, 0, 4, 4)
    with pytest.raises(pybpf.NotSupportedError):
        Map.create(200, 4, 4, 4)


def test_numa_node_and_flags():
    with Map.create(MapType.HASH, 4, 4, 4, numa_node=0, flags=MapFlags.NO_PREALLOC) as m:
        assert m.info().flags & MapFlags.NUMA_NODE
