"""The object loader in the kernel: globals, tail calls, maps of maps, pinning, externs,
CO-RE results, failure cleanup."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

import pybpf
from pybpf._sys import cmds
from pybpf.introspect import ids

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))
import build  # noqa: E402

XDP_PASS, XDP_DROP = 2, 1


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    return build.build_all(str(tmp_path_factory.mktemp("objs")))


def _kernel_ids() -> dict[str, set[int]]:
    return {k: ids(k) for k in ("prog", "map", "btf", "link")}


def _assert_nothing_new(before: dict[str, set[int]]) -> None:
    """No prog/map/btf/link created since ``before`` survives (frees are deferred: poll)."""
    import gc
    import time

    gc.collect()
    deadline = time.monotonic() + 5
    while True:
        new = {k: sorted(v - before[k]) for k, v in _kernel_ids().items() if v - before[k]}
        if not new or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not new, f"left behind after a failed load: {new}"


def test_hello_counter(objs):
    with pybpf.load(objs["hello"]) as obj:
        assert isinstance(obj, pybpf.Object)
        assert obj.bss.counter == 0
        for _ in range(3):
            assert obj.programs["hello"].test_run(data=bytes(64)).retval == XDP_PASS
        assert obj.bss.counter == 3
        assert obj.maps[".bss"].name == "hello.bss"
        assert obj.rodata.to_dict()["hello.____fmt"].rstrip(b"\0") == b"Hello World %d"
        obj.bss.counter = 10
        obj.programs["hello"].test_run(data=bytes(64))
        assert obj.bss.counter == 11
    assert obj.closed


def test_open_then_load_spec_reusable(objs):
    spec = pybpf.open(objs["hello"])
    assert isinstance(spec, pybpf.ObjectSpec)
    with spec.load() as a, spec.load() as b:
        a.programs["hello"].test_run(data=bytes(64))
        assert (a.bss.counter, b.bss.counter) == (1, 0)
        assert a.maps[".bss"].id != b.maps[".bss"].id


def _skb_ctx(mark: int) -> bytes:
    return struct.pack("<IIII", 0, 0, mark, 0)  # __sk_buff: len, pkt_type, mark, queue_mapping


def test_rodata_set_before_load(objs):
    spec = pybpf.open(objs["globals"])
    spec.rodata.target_pid = 42
    spec.rodata.verbose = 0
    with spec.load() as obj:
        p = obj.programs["count"]
        assert p.test_run(data=bytes(64), ctx=_skb_ctx(42), ctx_out_size=0).retval == 2  # TC_ACT_SHOT
        assert p.test_run(data=bytes(64), ctx=_skb_ctx(1), ctx_out_size=0).retval == 0
        assert obj.bss.packets == 2 and obj.bss.bytes_seen == 128
        assert obj.rodata.target_pid == 42
        with pytest.raises((TypeError, pybpf.Error)):
            obj.rodata.target_pid = 1
        assert obj.data.data_counter == 7 + 2 * (3 + 42 + 9)
        assert obj.section(".data.custom").custom_data == 42
        assert obj.data.pair_data.a == 1 + 5  # the TC_ACT_SHOT run returned before updating it
        info = obj.maps[".rodata"].info()
        assert info.flags & pybpf.MapFlags.RDONLY_PROG


def test_rodata_constant_prunes_code(objs):
    spec = pybpf.open(objs["globals"])
    spec.rodata.verbose = 0
    with spec.load() as quiet, pybpf.load(objs["globals"]) as loud:
        def helper_calls(p):
            return sum(1 for i in p.xlated() if i.is_helper_call)

        assert helper_calls(quiet.programs["count"]) < helper_calls(loud.programs["count"])


def test_tail_calls_static_init(objs):
    with pybpf.load(objs["tailcall"]) as obj:
        r = obj.programs["entry"].test_run(data=bytes(64))
        assert r.retval == XDP_PASS  # rx_queue_index 0 -> slot 0 -> step_a
        assert obj.bss.hits == [1, 0, 1]
        jt = obj.maps["jump_table"]
        assert jt.get(0) is not None and jt.get(2) is not None and jt.get(1) is None


def test_autoload_off(objs):
    spec = pybpf.open(objs["tailcall"])
    spec.programs["step_b"].autoload = False
    with spec.load() as obj:
        assert set(obj.programs) == {"step_a", "entry"}
        assert obj.maps["jump_table"].get(2) is None


def test_map_in_map_static_init(objs):
    with pybpf.load(objs["mapinmap"]) as obj:
        outer = obj.maps["outer"]
        ids_ = [int.from_bytes(outer[i], "little") if isinstance(outer[i], bytes) else outer[i] for i in (0, 1)]
        assert ids_ == [obj.maps["inner_a"].id, obj.maps["inner_b"].id]
        assert obj.programs["lookup"].test_run(data=bytes(64)).retval == 1


def test_spec_edit_max_entries(objs):
    spec = pybpf.open(objs["subprogs"])
    spec.maps["counters"].max_entries = 16
    with spec.load() as obj:
        assert obj.maps["counters"].max_entries == 16
        assert obj.maps["counters"].info().max_entries == 16


def test_subprograms_run(objs):
    with pybpf.load(objs["subprogs"]) as obj:
        r = obj.programs["first"].test_run(data=bytes(64))
        skb_len = 64 - 14  # socket filters see the packet after the Ethernet header
        assert r.retval == (skb_len * 3 + 1 + 1) + (1 + 2 + 2)
        counters = obj.maps["counters"]
        vals = [counters[i] for i in range(4)]
        vals = [v if isinstance(v, int) else int.from_bytes(v, "little") for v in vals]
        assert vals == [0, 1, 1, 0]


def test_legacy_maps(objs):
    with pybpf.load(objs["legacy"]) as obj:
        obj.programs["legacy"].test_run(data=bytes(64))
        assert int.from_bytes(obj.maps["legacy_counts"][0], "little") == 1
        assert len(list(obj.maps["legacy_hash"].keys())) == 1


def test_pinned_map_reused(objs):
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    root = f"/sys/fs/bpf/pybpf_pin_{os.getpid()}"
    os.makedirs(root, exist_ok=True)
    try:
        with pybpf.load(objs["pinned"], pin_root=root) as a:
            assert os.path.exists(f"{root}/pinned_stats")
            a.programs["account"].test_run(data=bytes(64))
            with pybpf.load(objs["pinned"], pin_root=root) as b:
                assert b.maps["pinned_stats"].id == a.maps["pinned_stats"].id
        spec = pybpf.open(objs["pinned"])
        spec.maps["pinned_stats"].max_entries = 64
        before = _kernel_ids()
        with pytest.raises(pybpf.Error, match="parameter mismatch"):
            spec.load(pin_root=root)
        _assert_nothing_new(before)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_externs_resolved(objs):
    from pybpf.object_externs import kernel_version_code

    with pybpf.load(objs["externs"]) as obj:
        kc = obj.kconfig
        assert kc.LINUX_KERNEL_VERSION == kernel_version_code()
        assert kc.CONFIG_BPF_SYSCALL is True or kc.CONFIG_BPF_SYSCALL == 1
        assert kc.CONFIG_PYBPF_DOES_NOT_EXIST == 0
        assert kc.LINUX_HAS_BPF_COOKIE in (True, 1)
        obj.programs["externs"].test_run(ctx=bytes(16), repeat=0, ctx_out_size=0)
        bss = obj.bss
        assert bss.seen_version == kernel_version_code()
        assert bss.seen_syscall == 1 and bss.seen_missing == 0
        addr = None
        with open("/proc/kallsyms") as f:
            for line in f:
                p = line.split()
                if p[2] == "bpf_prog_put":
                    addr = int(p[0], 16)
                    break
        assert bss.prog_put_addr == addr
        assert bss.active == 0  # weak typed ksym missing from the kernel -> NULL


def test_kconfig_override(objs):
    with pybpf.load(objs["externs"], kconfig="CONFIG_HZ=1234\nCONFIG_PYBPF_DOES_NOT_EXIST=5\n") as obj:
        assert obj.kconfig.CONFIG_HZ == 1234
        assert obj.kconfig.CONFIG_PYBPF_DOES_NOT_EXIST == 5


def test_core_reads_current_task(objs):
    try:
        obj = pybpf.load(objs["core"])
    except pybpf.NotSupportedError as e:
        pytest.skip(str(e))
    with obj:
        obj.programs["task_info"].test_run(ctx=bytes(16), repeat=0, ctx_out_size=0)
        ev = obj.bss.last_event
        assert ev.pid == os.getpid()
        assert ev.ppid == os.getppid()
        with open("/proc/self/comm", "rb") as f:
            comm = ev.comm if isinstance(ev.comm, bytes) else ev.comm.encode()
            assert comm.rstrip(b"\0") == f.read().strip()[:15]
        assert obj.bss.field_ok == 2


def test_log_callback(objs):
    lines: list[str] = []
    with pybpf.load(objs["subprogs"], log=lines.append):
        pass
    text = "\n".join(lines)
    assert "appended subprogram 'middle'" in text
    assert "map 'counters' -> fd" in text
    assert "btf: loaded" in text


def test_verifier_error_releases_everything(objs):
    from pybpf.asm import Instruction

    spec = pybpf.open(objs["globals"])
    p = spec.programs["count"]
    p.instructions = [Instruction(0xB7, 0, 0, 0, 0), Instruction(0x79, 0, 10, 8, 0), Instruction(0x95)]
    before = _kernel_ids()
    with pytest.raises(pybpf.VerifierError) as ei:
        spec.load()
    assert "count" in str(ei.value)
    _assert_nothing_new(before)


def test_map_error_releases_everything(objs):
    spec = pybpf.open(objs["mapinmap"])
    spec.maps["outer_hash"].max_entries = 0
    before = _kernel_ids()
    with pytest.raises(pybpf.BPFError):
        spec.load()
    _assert_nothing_new(before)


@pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool not installed")
def test_bpftool_sees_typed_maps(objs):
    with pybpf.load(objs["subprogs"]) as obj:
        mid = obj.maps["counters"].id
        r = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(mid)], capture_output=True, text=True,
                           check=True)
        dump = json.loads(r.stdout)
        assert dump and "formatted" in dump[0]
        info = obj.maps["counters"].info()
        assert info.btf_key_type_id and info.btf_value_type_id


def test_kind_objects_load(objs):
    for k in build.kinds():
        try:
            with pybpf.load(objs[f"kind_{k.lower()}"]) as obj:
                assert len(obj.programs) == 1
        except pybpf.NotSupportedError as e:
            if e.feature.startswith("CO-RE"):
                continue
            raise


def test_program_btf_and_func_info(objs):
    with pybpf.load(objs["subprogs"]) as obj:
        info = cmds.prog_info(obj.programs["second"].fd)
        assert info.btf_id and info.nr_func_info == 6 and info.nr_line_info > 0
        assert info.btf_id == cmds.btf_info(obj.btf_fd.fd)[0].id



def test_load_with_sanitized_btf(objs, monkeypatch):
    """Pretend the kernel knows no modern BTF kind: the sanitized BTF must still load."""
    import pybpf.object
    import pybpf.object_btf
    from pybpf.elf.btffix import BTFFeatures

    old = BTFFeatures(func=False, global_func=False, datasec=False, float=False, decl_tag=False, type_tag=False,
                      enum64=False)
    monkeypatch.setattr(pybpf.object_btf, "btf_features", lambda: old)
    monkeypatch.setattr(pybpf.object, "btf_features", lambda: old)
    lines: list[str] = []
    with pybpf.load(objs["globals"], log=lines.append) as obj:
        assert any("sanitized" in ln for ln in lines)
        assert obj.btf_fd is not None
        info = cmds.prog_info(obj.programs["count"].fd)
        assert info.nr_func_info == 0  # no BTF_KIND_FUNC support -> no func_info, as libbpf
        btf = pybpf.btf.BTF.from_bytes(cmds.btf_data(obj.btf_fd.fd))
        assert not list(btf.iter_types("datasec")) and not list(btf.iter_types("func"))
        obj.programs["count"].test_run(data=bytes(64), ctx=_skb_ctx(0), ctx_out_size=0)
        assert obj.bss.packets == 1
