"""Python skeletons in the kernel: generate, import, load, run programs, typed globals and maps, attach."""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import sys

import pytest

import pybpf
from pybpf import skeleton

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))
import build  # noqa: E402

XDP_PASS = 2
TC_ACT_OK, TC_ACT_SHOT = 0, 2


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    d = tmp_path_factory.mktemp("objs")
    return {n: build.build(f"{n}.c", str(d / f"{n}.bpf.o")) for n in ("hello", "globals", "pinned", "core")}


@pytest.fixture(scope="module")
def skel(objs, tmp_path_factory):
    """Generated skeleton modules, imported from files (as a user would)."""
    d = tmp_path_factory.mktemp("skels")
    mods = {}
    for name, path in objs.items():
        out = d / f"{name}_skel.py"
        out.write_text(skeleton.main_gen_skeleton(path))
        spec = importlib.util.spec_from_file_location(f"{name}_skel", str(out))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods[name] = mod
    return mods


def test_hello_load_run_read_global(skel):
    Hello = skel["hello"].Hello
    with Hello.load() as s:
        assert isinstance(s, Hello) and isinstance(s.obj, pybpf.Object)
        assert isinstance(s.progs.hello, pybpf.Program) and isinstance(s.maps.bss, pybpf.Map)
        assert s.bss.counter == 0
        for _ in range(3):
            assert s.progs.hello.test_run(data=bytes(64)).retval == XDP_PASS
        assert s.bss.counter == 3  # the live .bss map, through the typed property
        s.bss.counter = 40
        s.progs.hello.test_run(data=bytes(64))
        assert s.bss.counter == 41
        assert s.maps.bss.name == "hello.bss"
        fmt = s.rodata._view["hello.____fmt"]  # noqa: SLF001 - static: not a property, still in the view
        assert (fmt.encode() if isinstance(fmt, str) else bytes(fmt).rstrip(b"\0")) == b"Hello World %d"
        assert s.attach() == {}  # XDP is not auto-attached (needs an interface)
    assert s.closed and s.obj.closed
    with pytest.raises(pybpf.Error, match="closed"):
        s.bss.counter


def test_globals_rodata_before_load(skel):
    mod = skel["globals"]
    spec = mod.Globals.open()
    spec.rodata.target_pid = 42
    spec.rodata.verbose = 0
    with spec.load() as s:
        assert isinstance(s, mod.Globals)
        ctx = struct.pack("<IIII", 0, 0, 42, 0)  # __sk_buff: len, pkt_type, mark, queue_mapping
        assert s.progs.count.test_run(data=bytes(64), ctx=ctx, ctx_out_size=0).retval == TC_ACT_SHOT
        ctx = struct.pack("<IIII", 0, 0, 1, 0)
        assert s.progs.count.test_run(data=bytes(64), ctx=ctx, ctx_out_size=0).retval == TC_ACT_OK
        assert (s.bss.packets, s.bss.bytes_seen) == (2, 128)
        assert s.rodata.target_pid == 42
        with pytest.raises((TypeError, pybpf.Error)):
            s.rodata.target_pid = 1  # frozen after load
        assert s.data.data_counter == 7 + 2 * (3 + 42 + 9)
        assert s.data_custom.custom_data == 42
        assert s.data.pair_data.a == 1 + 5


def test_pinned_typed_map(skel):
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    root = f"/sys/fs/bpf/pybpf_skel_{os.getpid()}"
    os.makedirs(root, exist_ok=True)
    try:
        _pinned(skel["pinned"], root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _pinned(mod, root):
    with mod.Pinned.load(pin_root=root) as s:
        m = s.maps.pinned_stats
        assert os.path.exists(f"{root}/pinned_stats")
        m[7] = {"packets": 3, "last_len": 99}
        v = m[7]
        assert (v.packets, v.last_len) == (3, 99)
        # the generated ctypes value type round-trips through the raw bytes
        V = mod.Pinned.types.pinned_stats_value
        m[8] = bytes(V(packets=11, last_len=12))
        raw = m._ops.lookup((8).to_bytes(4, "little"))  # noqa: SLF001
        assert V.from_buffer_copy(raw).packets == 11
        s.progs.account.test_run(data=bytes(64))
        assert len(list(m.keys())) == 3  # 7, 8 and the packet's protocol


def test_core_attach_and_struct_global(skel):
    mod = skel["core"]
    with mod.Core.load() as s:
        links = s.attach()
        assert set(links) == {"task_info", "skb_info"}
        os.getppid()  # a syscall of this thread: raw_tp/sys_enter runs before it returns
        ev = s.bss.last_event
        assert ev.pid > 0 and ev.ppid >= 0 and ev.comm
        assert s.bss.field_ok == 2  # bpf_core_field_exists + bpf_core_type_exists
        s.detach()
        assert s.links == {}
        assert s.attach() is s.links and len(s.links) == 2  # re-attach works; close() releases them
