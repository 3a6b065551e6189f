"""Closing maps and objects: nothing reaches the kernel through a closed map's old fd number,
views of global data end with their object, a failing close still releases everything,
failed pins are rolled back, and the loader's reuse paths release what they opened."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import sys
import uuid

import pytest

import pybpf
from pybpf import Map, MapFlags, MapType, features
from pybpf.elf import MissingSectionError
from pybpf.errors import BPFError, ClosedError, Error

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))
import build  # noqa: E402

PAGE = mmap.PAGESIZE
XDP_PASS = 2


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    d = tmp_path_factory.mktemp("close")
    return {n: build.build(f"{n}.c", str(d / f"{n}.bpf.o")) for n in ("hello", "globals", "pinned", "subprogs")}


@pytest.fixture
def bpffs_dir():
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    d = f"/sys/fs/bpf/pybpf_close_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    os.mkdir(d)
    yield d
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)


# ------------------------------------------------------------------ closed maps
def _every_operation(m: Map, path: str) -> dict:
    return {
        "setitem": lambda: m.__setitem__(1, 5), "getitem": lambda: m[1], "get": lambda: m.get(1),
        "lookup": lambda: m.lookup(1), "update": lambda: m.update(1, 5), "update_flags": lambda: m.update(1, 5, 2),
        "delitem": lambda: m.__delitem__(1), "delete": lambda: m.delete(1), "contains": lambda: 1 in m,
        "keys": lambda: list(m.keys()), "iter": lambda: list(m), "items": lambda: list(m.items()),
        "values": lambda: list(m.values()), "len": lambda: len(m), "clear": m.clear, "freeze": m.freeze,
        "next_key": lambda: m.next_key(), "lookup_and_delete": lambda: m.lookup_and_delete(1),
        "push": lambda: m.push(5), "pop": m.pop, "peek": m.peek, "dump_raw": m.dump_raw,
        "items_batch": m.items_batch, "update_batch": lambda: m.update_batch([1], [5]),
        "delete_batch": lambda: m.delete_batch([1]), "info": m.info, "mmap": m.mmap, "fd": lambda: m.fd,
        "fileno": m.fileno, "id": lambda: m.id,
        "pin": lambda: m.pin(path),
    }


@pytest.mark.parametrize("mtype", [MapType.ARRAY, MapType.HASH])
def test_closed_map_never_writes_into_the_map_reusing_its_fd(mtype, bpffs_dir):
    a = Map.create(mtype, 4, 4, 4, name="closed_a", flags=MapFlags.MMAPABLE if mtype == MapType.ARRAY else 0)
    n = a.fd
    assert a.id > 0  # cached: must not outlive the close either
    a.close()
    with Map.create(mtype, 4, 4, 4, name="reuser_b") as b:
        assert b.fd == n  # the lowest free fd: a's old number now names b
        b[1] = 7
        for what, op in _every_operation(a, os.path.join(bpffs_dir, "a")).items():
            with pytest.raises(ClosedError, match="map 'closed_a' is closed"):
                op()
            assert b[1] == (7).to_bytes(4, "little"), what  # b untouched
        assert list(b.keys()) == [(i).to_bytes(4, "little") for i in range(4)] if mtype == MapType.ARRAY \
            else [(1).to_bytes(4, "little")]
        assert os.listdir(bpffs_dir) == []
        a.close()  # idempotent


def test_map_closed_during_a_walk_stops_the_walk():
    a = Map.create(MapType.HASH, 4, 4, 8, name="walked")
    for k in range(4):
        a[k] = k
    keys, batches = a.keys(), a.lookup_batch(chunk=1)
    next(keys)
    next(batches)
    n = a.fd
    a.close()
    with Map.create(MapType.HASH, 4, 4, 8) as b:
        assert b.fd == n
        b[9] = 9
        with pytest.raises(ClosedError):
            next(keys)
        with pytest.raises(ClosedError):
            next(batches)


def test_invalid_map_name_is_a_clear_error():
    with pytest.raises(Error, match=r"invalid map name 'my-prog'.*'my_prog'"):
        Map.create(MapType.ARRAY, 4, 4, 1, name="my-prog")
    with Map.create(MapType.ARRAY, 4, 4, 1, name="a_rather_long_map_name") as m:  # cut to 15, as before
        assert m.info().name == "a_rather_long_m"


# ------------------------------------------------------------------------ mmap
def test_arena_mmap_is_max_entries_pages():
    if not features.has_map_type(MapType.ARENA):
        pytest.skip("map type ARENA not supported by this kernel (needs Linux 6.9+ and a JIT with arena support)")
    with Map.create(MapType.ARENA, 0, 0, 4, name="arena") as m:
        mv = m.mmap()
        assert mv.nbytes == 4 * PAGE and not mv.readonly
        mv[0:4] = b"abcd"
        mv[3 * PAGE:3 * PAGE + 4] = b"wxyz"  # the last page is mapped too
        assert bytes(m.mmap()[0:4]) == b"abcd" and bytes(mv[3 * PAGE:3 * PAGE + 4]) == b"wxyz"


def test_mmap_of_a_frozen_or_read_only_map_is_read_only():
    with Map.create(MapType.ARRAY, 4, 8, 4, flags=MapFlags.MMAPABLE) as m:
        m[1] = 1234
        m.freeze()
        mv = m.mmap()
        assert mv.readonly and int.from_bytes(mv[8:16], "little") == 1234
    with Map.create(MapType.ARRAY, 4, 8, 4, flags=MapFlags.MMAPABLE | MapFlags.RDONLY_PROG) as m:
        assert m.mmap().readonly  # the kernel refuses writable mappings of these (EACCES)


@pytest.mark.parametrize("flag,err", [(MapFlags.RDONLY, errno.EINVAL), (MapFlags.WRONLY, errno.EACCES)])
def test_mmap_failure_of_the_read_only_retry_is_typed(flag, err):
    """An fd without write access fails the writable mapping (EACCES) and then the read-only
    one (the kernel needs a shared mapping: EINVAL), a write-only fd both: BPFErrors naming the map."""
    with Map.create(MapType.ARRAY, 4, 8, 4, flags=MapFlags.MMAPABLE | flag, name="restricted") as m:
        with pytest.raises(BPFError, match=rf"mmap: .*'restricted'.*{flag.name}") as e:
            m.mmap()
        assert e.value.errno == err


def test_map_close_releases_its_mmap_views():
    m = Map.create(MapType.ARRAY, 4, 8, 4, flags=MapFlags.MMAPABLE)
    mv = m.mmap()
    mv[0:8] = bytes(range(8))
    m.close()  # unmaps: the map is freed (the leak check would see it otherwise)
    with pytest.raises(ValueError, match="released"):
        mv[0]


def test_map_close_with_exported_buffers_says_so_and_can_be_retried():
    m = Map.create(MapType.ARRAY, 4, 8, 4, flags=MapFlags.MMAPABLE, name="exported")
    held = ctypes.c_uint64.from_buffer(m.mmap())
    with pytest.raises(Error, match="'exported': its memory stays mapped.*call close\\(\\) again"):
        m.close()
    assert m.closed
    with pytest.raises(ClosedError):
        m.mmap()
    del held
    m.close()  # unmaps now


# ---------------------------------------------------------------------- objects
def test_views_end_with_their_object(objs):
    obj = pybpf.load(objs["hello"])
    bss, rodata = obj.bss, obj.rodata
    raw = bss.raw("counter")
    assert obj.programs["hello"].test_run(data=bytes(64)).retval == XDP_PASS
    assert bss.counter == 1
    obj.close()  # unmaps .bss and .rodata: both maps are freed (the leak check would see them otherwise)
    for use in (lambda: bss.counter, lambda: setattr(bss, "counter", 5), lambda: bss["counter"], bss.to_dict,
                lambda: bss.raw("counter"), lambda: bss.update(counter=1), lambda: bss.readonly,
                lambda: rodata.to_dict(), lambda: obj.bss, lambda: obj.section(".bss")):
        with pytest.raises(ClosedError):
            use()
    with pytest.raises(ValueError):
        raw[0]
    assert "closed" in repr(bss)


def test_missing_section_is_an_attribute_error(objs):
    with pybpf.load(objs["hello"]) as obj:
        assert hasattr(obj, "bss") and not hasattr(obj, "data") and not hasattr(obj, "kconfig")
        with pytest.raises(MissingSectionError, match=r"no global data section '\.data' \(it has: \.bss, \.rodata\)"):
            obj.data
        with pytest.raises(pybpf.Error):
            obj.section(".data.nope")
        with pytest.raises(KeyError):  # what it raised before
            obj.section(".data.nope")


def test_object_close_releases_everything_when_one_map_fails(objs):
    obj = pybpf.load(objs["globals"])
    held = ctypes.c_uint64.from_buffer(obj.maps[".data"].mmap())  # keeps .data mapped
    others = [m for k, m in obj.maps.items() if k != ".data"]
    with pytest.raises(Error, match="its memory stays mapped"):
        obj.close()
    assert obj.closed and all(m.closed for m in obj.maps.values())
    assert all(p.closed for p in obj.programs.values()) and obj.btf_fd.closed
    assert others
    obj.close()  # already closed: nothing more to do
    del held
    obj.maps[".data"].close()  # the retry unmaps it


def test_pin_maps_rolls_back_when_a_pin_fails(objs, bpffs_dir):
    with pybpf.load(objs["globals"]) as obj:
        names = [m.name.replace(".", "_") for m in obj.maps.values()]  # bpffs refuses dots, as in libbpf
        assert names[-1] == "globals_bss"
        with Map.create(MapType.ARRAY, 4, 4, 1) as squatter:
            squatter.pin(os.path.join(bpffs_dir, names[-1]))  # the last pin fails with EEXIST
            with pytest.raises(BPFError) as e:
                obj.pin_maps(bpffs_dir)
            assert e.value.errno == errno.EEXIST
            assert os.listdir(bpffs_dir) == [names[-1]]  # only the squatter's pin is left
            assert all(m.pinned_path is None for m in obj.maps.values())
            squatter.unpin()
        obj.pin_maps(bpffs_dir)
        assert sorted(os.listdir(bpffs_dir)) == sorted(names)


def test_pin_programs_rolls_back_when_a_pin_fails(objs, bpffs_dir):
    with pybpf.load(objs["subprogs"]) as obj, Map.create(MapType.ARRAY, 4, 4, 1) as squatter:
        progs = list(obj.programs)
        assert len(progs) == 3
        squatter.pin(os.path.join(bpffs_dir, progs[-1]))
        with pytest.raises(BPFError) as e:
            obj.pin_programs(bpffs_dir)
        assert e.value.errno == errno.EEXIST and os.listdir(bpffs_dir) == [progs[-1]]
        squatter.unpin()
        obj.pin_programs(bpffs_dir)
        assert sorted(os.listdir(bpffs_dir)) == sorted(progs)


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _bogus_codec(spec: pybpf.ObjectSpec) -> None:
    """Make the loader's codec step for pinned_stats fail (after the map is adopted)."""
    spec.maps["pinned_stats"].btf_value_type_id = 0x7FFFFFF  # no such type


def test_reuse_maps_failing_codec_closes_the_adopted_map(objs):
    """reuse_maps adopts a dup of the map's fd: if a later step fails, the dup is closed with
    everything else (checked while the failure's traceback still references the map)."""
    spec = pybpf.open(objs["pinned"])
    ms = spec.maps["pinned_stats"]
    _bogus_codec(spec)
    with Map.create(ms.type, ms.key_size, ms.value_size, ms.max_entries) as mine:
        before = _fds()
        with pytest.raises(pybpf.BTFError, match="no type id") as e:
            spec.load(reuse_maps={"pinned_stats": mine})
        assert _fds() <= before, e.value


def test_reuse_pinned_failing_codec_closes_the_reused_map(objs, bpffs_dir):
    spec = pybpf.open(objs["pinned"])
    ms = spec.maps["pinned_stats"]  # LIBBPF_PIN_BY_NAME
    with Map.create(ms.type, ms.key_size, ms.value_size, ms.max_entries, flags=int(ms.flags)) as pinned:
        pinned.pin(os.path.join(bpffs_dir, ms.name))
        _bogus_codec(spec)
        before = _fds()
        with pytest.raises(pybpf.BTFError, match="no type id") as e:
            spec.load(pin_root=bpffs_dir)
        assert _fds() <= before, e.value
        pinned.unpin()


# ----------------------------------------------------------------- module BTF
def test_module_btf_failure_closes_the_fds_collected_so_far():
    """One module's BTF failing must not leave the fds of the modules before it open.

    This kernel may have no module BTF, so the test treats BTF objects it loads itself as
    modules (only the classification is replaced: every fd is a real kernel BTF fd)."""
    from pybpf._sys import cmds
    from pybpf.map import _storage_btf
    from pybpf.object_btf import KernelBTFs

    fds = [cmds.btf_load(_storage_btf(4)[0])[0] for _ in range(3)]
    try:
        ids = {int(cmds.btf_info(fd.fd)[0].id) for fd in fds}
        seen: list[int] = []

        class OneBrokenModule(KernelBTFs):
            def _module_btf(self, fd):
                bid = int(cmds.btf_info(fd.fd)[0].id)
                if bid not in ids:
                    return None
                seen.append(bid)
                if len(seen) == 2:
                    raise pybpf.BTFError(f"module BTF [{bid}] is malformed")
                return f"mod{bid}", None

        before = _fds()
        with pytest.raises(pybpf.BTFError, match="is malformed") as e:
            OneBrokenModule().modules()
        assert len(seen) == 2 and _fds() <= before, e.value
    finally:
        for fd in fds:
            fd.close()
