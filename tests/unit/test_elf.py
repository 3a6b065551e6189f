"""pybpf.elf: SEC() table, map parsing, relocations, linking, BTF fixups (no root needed)."""

from __future__ import annotations

import os
import struct
import sys

import pytest

from pybpf import ELFError, MapType, ProgramType
from pybpf._sys.consts import AttachType, MapFlags, ProgFlags
from pybpf.asm.opcodes import PseudoCall, PseudoSrc
from pybpf.btf import BTF, Builder
from pybpf.btf.types import (
    Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func, FuncProto, Int, Kind, Linkage, Param, Ptr,
    Struct, Typedef, TypeTag, Union, Var, VarSecinfo,
)
from pybpf.elf import internal_map_name, object_name, parse_section
from pybpf.elf.btffix import BTFFeatures, sanitize
from pybpf.elf.externs import ExternKind, KcfgType

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))
import build  # noqa: E402

needs_clang = pytest.mark.skipif(build.clang() is None, reason=f"{build.CLANG} not installed")


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    return build.build_all(str(tmp_path_factory.mktemp("obj")))


def _open(objs, name, **kw):
    import pybpf.elf

    return pybpf.elf.open(objs[name], **kw)


# ---------------------------------------------------------------------- SEC() table
P, A = ProgramType, AttachType


@pytest.mark.parametrize("sec, ptype, atype, target, flags", [
    ("socket", P.SOCKET_FILTER, 0, "", 0),
    ("kprobe/do_sys_open", P.KPROBE, 0, "do_sys_open", 0),
    ("kretprobe/do_sys_open", P.KPROBE, 0, "do_sys_open", 0),
    ("ksyscall/openat", P.KPROBE, 0, "openat", 0),
    ("kretsyscall/openat", P.KPROBE, 0, "openat", 0),
    ("uprobe/usr/bin/bash:readline", P.KPROBE, 0, "usr/bin/bash:readline", 0),
    ("uprobe.s/lib:f", P.KPROBE, 0, "lib:f", ProgFlags.SLEEPABLE),
    ("uretprobe.s/lib:f", P.KPROBE, 0, "lib:f", ProgFlags.SLEEPABLE),
    ("uprobe.multi/lib:f*", P.KPROBE, A.TRACE_UPROBE_MULTI, "lib:f*", 0),
    ("kprobe.multi/vfs_*", P.KPROBE, A.TRACE_KPROBE_MULTI, "vfs_*", 0),
    ("usdt/lib:prov:name", P.KPROBE, 0, "lib:prov:name", 0),
    ("tracepoint/syscalls/sys_enter_open", P.TRACEPOINT, 0, "syscalls/sys_enter_open", 0),
    ("tp/sched/sched_switch", P.TRACEPOINT, 0, "sched/sched_switch", 0),
    ("raw_tracepoint/sys_enter", P.RAW_TRACEPOINT, 0, "sys_enter", 0),
    ("raw_tp/sys_enter", P.RAW_TRACEPOINT, 0, "sys_enter", 0),
    ("raw_tp.w/bpf_test_finish", P.RAW_TRACEPOINT_WRITABLE, 0, "bpf_test_finish", 0),
    ("raw_tracepoint.w/x", P.RAW_TRACEPOINT_WRITABLE, 0, "x", 0),
    ("tp_btf/sched_switch", P.TRACING, A.TRACE_RAW_TP, "sched_switch", 0),
    ("fentry/do_unlinkat", P.TRACING, A.TRACE_FENTRY, "do_unlinkat", 0),
    ("fentry.s/do_unlinkat", P.TRACING, A.TRACE_FENTRY, "do_unlinkat", ProgFlags.SLEEPABLE),
    ("fexit/do_unlinkat", P.TRACING, A.TRACE_FEXIT, "do_unlinkat", 0),
    ("fmod_ret/f", P.TRACING, A.MODIFY_RETURN, "f", 0),
    ("fmod_ret.s/f", P.TRACING, A.MODIFY_RETURN, "f", ProgFlags.SLEEPABLE),
    ("freplace/handler", P.EXT, 0, "handler", 0),
    ("lsm/file_open", P.LSM, A.LSM_MAC, "file_open", 0),
    ("lsm.s/file_open", P.LSM, A.LSM_MAC, "file_open", ProgFlags.SLEEPABLE),
    ("lsm_cgroup/socket_bind", P.LSM, A.LSM_CGROUP, "socket_bind", 0),
    ("iter/task", P.TRACING, A.TRACE_ITER, "task", 0),
    ("iter.s/task", P.TRACING, A.TRACE_ITER, "task", ProgFlags.SLEEPABLE),
    ("perf_event", P.PERF_EVENT, 0, "", 0),
    ("syscall", P.SYSCALL, 0, "", ProgFlags.SLEEPABLE),
    ("struct_ops/dctcp_init", P.STRUCT_OPS, 0, "dctcp_init", 0),
    ("struct_ops.s/x", P.STRUCT_OPS, 0, "x", ProgFlags.SLEEPABLE),
    ("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, "", 0),
    ("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, "migrate", 0),
    ("xdp", P.XDP, A.XDP, "", 0),
    ("xdp.frags", P.XDP, A.XDP, "", ProgFlags.XDP_HAS_FRAGS),
    ("xdp/devmap", P.XDP, A.XDP_DEVMAP, "devmap", 0),
    ("xdp/cpumap", P.XDP, A.XDP_CPUMAP, "cpumap", 0),
    ("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, "devmap", ProgFlags.XDP_HAS_FRAGS),
    ("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, "cpumap", ProgFlags.XDP_HAS_FRAGS),
    ("tc", P.SCHED_CLS, 0, "", 0),
    ("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS, "ingress", 0),
    ("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, "egress", 0),
    ("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, "ingress", 0),
    ("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, "egress", 0),
    ("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY, "primary", 0),
    ("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, "peer", 0),
    ("classifier", P.SCHED_CLS, 0, "", 0),
    ("action", P.SCHED_ACT, 0, "", 0),
    ("lwt_in", P.LWT_IN, 0, "", 0),
    ("lwt_out", P.LWT_OUT, 0, "", 0),
    ("lwt_xmit", P.LWT_XMIT, 0, "", 0),
    ("lwt_seg6local", P.LWT_SEG6LOCAL, 0, "", 0),
    ("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, "", 0),
    ("sk_skb", P.SK_SKB, 0, "", 0),
    ("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, "stream_parser", 0),
    ("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, "stream_verdict", 0),
    ("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, "verdict", 0),
    ("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, "", 0),
    ("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, "", 0),
    ("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, "", 0),
    ("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, "", 0),
    ("netfilter", P.NETFILTER, A.NETFILTER, "", 0),
    ("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, "ingress", 0),
    ("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, "egress", 0),
    ("cgroup/skb", P.CGROUP_SKB, 0, "skb", 0),
    ("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, "sock", 0),
    ("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, "sock_create", 0),
    ("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, "sock_release", 0),
    ("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, "post_bind4", 0),
    ("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, "post_bind6", 0),
    ("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, "bind4", 0),
    ("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, "bind6", 0),
    ("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, "connect4", 0),
    ("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, "connect6", 0),
    ("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, "connect_unix", 0),
    ("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, "sendmsg4", 0),
    ("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, "sendmsg6", 0),
    ("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, "sendmsg_unix", 0),
    ("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, "recvmsg4", 0),
    ("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, "recvmsg6", 0),
    ("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, "recvmsg_unix", 0),
    ("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, "getpeername4", 0),
    ("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, "getpeername6", 0),
    ("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, "getpeername_unix", 0),
    ("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, "getsockname4", 0),
    ("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, "getsockname6", 0),
    ("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, "getsockname_unix", 0),
    ("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, "sysctl", 0),
    ("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, "getsockopt", 0),
    ("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, "setsockopt", 0),
    ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, "dev", 0),
])
def test_section_table(sec, ptype, atype, target, flags):
    info = parse_section(sec)
    assert info.prog_type == ptype
    assert int(info.expected_attach_type) == int(atype)
    assert info.attach_to == target
    assert info.prog_flags == int(flags)
    assert info.autoload


def test_section_autoload_prefix():
    info = parse_section("?kprobe/x")
    assert not info.autoload and info.prog_type == P.KPROBE and info.section == "kprobe/x"


@pytest.mark.parametrize("bad, hint", [("kprob/x", "kprobe"), ("xdpfoo", "xdp"), ("socketx", "socket"),
                                       ("tc/foo", None), ("kprobefoo", "kprobe"), ("", None), ("fentry", None)])
def test_unknown_section(bad, hint):
    if bad == "fentry":  # "fentry+" accepts a bare name: target set later
        assert parse_section(bad).attach_to == ""
        return
    with pytest.raises(ELFError) as ei:
        parse_section(bad)
    msg = str(ei.value)
    assert repr(bad) in msg
    assert (hint in msg) if hint else ("valid prefixes" in msg or "did you mean" in msg)


def test_internal_map_name():
    assert internal_map_name("my_object_name", ".rodata") == "my_objec.rodata"
    assert internal_map_name("my_object_name", ".bss") == "my_objec.bss"
    assert internal_map_name("my_object_name", ".kconfig") == "my_obje.kconfig"
    assert internal_map_name("hello", ".data") == "hello.data"
    assert internal_map_name("obj", ".rodata.abracadabra") == ".rodata.abracad"
    assert internal_map_name("obj", ".data.custom") == ".data.custom"
    assert internal_map_name("a-b", ".bss") == "a_b.bss"
    assert object_name("/x/y/my.prog.bpf.o") == "my"


# ---------------------------------------------------------------------- objects
def test_hello(objs):
    s = _open(objs, "hello")
    assert s.name == "hello" and s.license == "Dual BSD/GPL" and s.kern_version == 0
    p = s.programs["hello"]
    assert p.type == P.XDP and p.expected_attach_type == A.XDP and p.section == "xdp"
    bss, ro = s.maps[".bss"], s.maps[".rodata"]
    assert bss.name == "hello.bss" and s.maps["hello.bss"] is bss and "hello.bss" in s.maps
    assert (bss.type, bss.key_size, bss.value_size, bss.max_entries) == (MapType.ARRAY, 4, 4, 1)
    assert bss.flags & MapFlags.MMAPABLE and not bss.freeze
    assert ro.flags & MapFlags.RDONLY_PROG and ro.freeze and not ro.flags & MapFlags.MMAPABLE
    assert bytes(ro.contents[0][1]) == b"Hello World %d\0"
    assert s.btf[bss.btf_value_type_id].name == ".bss"
    loads = [(i.src, i.symbol, i.imm >> 32) for i in p.instructions if i.symbol]
    assert loads == [(PseudoSrc.MAP_VALUE, ".bss", 0), (PseudoSrc.MAP_VALUE, ".rodata", 0)]
    assert s.bss.counter == 0
    assert p.func_info_rec_size == 8 and p.line_info_rec_size == 16
    assert struct.unpack_from("<I", p.func_info)[0] == 0  # instruction index of the function start


def test_open_bytes_and_name(objs):
    import pybpf.elf

    with open(objs["hello"], "rb") as f:
        data = f.read()
    assert pybpf.elf.open(data).maps[".bss"].name == ".bss"
    assert pybpf.elf.open(data, name="xyz").maps[".bss"].name == "xyz.bss"


def test_subprogram_order(objs):
    s = _open(objs, "subprogs")
    assert set(s.programs) == {"first", "second", "third"}  # .text functions are not programs
    assert s.programs["first"].subprograms == ["middle", "leaf", "bump", "global_add"]
    assert s.programs["second"].subprograms == ["global_add", "bump", "hidden_mul", "leaf", "middle"]
    assert s.programs["third"].subprograms == ["leaf"]
    for p in s.programs.values():
        insns = p.instructions
        calls = [(pos, i) for pos, i in _slots(insns) if i.is_local_call]
        starts = set(struct.unpack_from(f"<{len(p.func_info) // 4}I", p.func_info)[0::2])
        assert len(starts) == len(p.subprograms) + 1
        for pos, i in calls:  # every local call lands on a function start
            assert pos + i.imm + 1 in starts
        lines = struct.unpack_from(f"<{len(p.line_info) // 4}I", p.line_info)[0::4]
        assert list(lines) == sorted(lines) and max(lines) < sum(i.size for i in insns)
    # map references inside appended subprograms are symbolic too
    assert any(i.symbol == "counters" and i.src == PseudoSrc.MAP_FD for i in s.programs["first"].instructions)


def test_hidden_global_is_static_in_btf(objs):
    s = _open(objs, "subprogs")
    funcs = {t.name: t.linkage for t in s.btf.iter_types(Kind.FUNC)}
    assert funcs["hidden_mul"] == Linkage.STATIC
    assert funcs["global_add"] == Linkage.GLOBAL


def _slots(insns):
    pos = 0
    for i in insns:
        yield pos, i
        pos += i.size


def test_missing_section_is_an_attribute_error(objs):
    """``hasattr(spec, "data")`` is False for an object without .data (no exception escapes)."""
    from pybpf import Error
    from pybpf.elf import MissingSectionError

    s = _open(objs, "hello")
    assert hasattr(s, "bss") and hasattr(s, "rodata") and not hasattr(s, "data")
    with pytest.raises(MissingSectionError, match=r"'hello' has no global data section '\.data' \(it has: "
                                                  r"\.bss, \.rodata\)") as e:
        s.section_buffer(".data")
    assert isinstance(e.value, Error) and isinstance(e.value, KeyError) and e.value.section == ".data"
    with pytest.raises(MissingSectionError):
        s.section(".data.nope")


def test_globals_and_views(objs):
    s = _open(objs, "globals")
    assert [k for k in s.maps] == [".rodata", ".data", ".data.custom", ".rodata.custom", ".bss"]
    assert s.maps[".data.custom"].name == ".data.custom"
    assert s.maps[".rodata"].name == "globals.rodata"
    assert s.rodata.target_pid == 0 and s.rodata.verbose == 1
    s.rodata.target_pid = 42
    buf = s.section_buffer(".rodata")
    off = s.variables["target_pid"].offset
    assert struct.unpack_from("<I", buf, off)[0] == 42
    assert s.variables["target_pid"].value == 42 and s.variables["target_pid"].readonly
    assert s.data.data_counter == 7
    assert s.section(".data.custom").custom_data == 42
    pair = s.data.pair_data
    assert (pair.a, pair.b, pair.flag, pair.kind) == (1, 2, 1, 5)
    assert set(s.variables) >= {"target_pid", "verbose", "greeting", "data_counter", "packets", "bytes_seen",
                                "custom_data", "custom_ro", "pair_data"}
    c = s.copy()
    c.rodata.target_pid = 7
    assert s.rodata.target_pid == 42


def test_tail_call_static_init(objs):
    s = _open(objs, "tailcall")
    jt = s.maps["jump_table"]
    assert jt.type == MapType.PROG_ARRAY and jt.value_size == 4 and jt.max_entries == 4
    assert jt.init_slots == {0: "step_a", 2: "step_b"}


def test_map_in_map(objs):
    s = _open(objs, "mapinmap")
    outer, oh = s.maps["outer"], s.maps["outer_hash"]
    assert outer.type == MapType.ARRAY_OF_MAPS and outer.init_slots == {0: "inner_a", 1: "inner_b"}
    assert outer.inner_map.type == MapType.ARRAY and outer.inner_map.value_size == 8
    assert outer.inner_map.name == "outer.inner"
    assert oh.type == MapType.HASH_OF_MAPS and oh.inner_map.type == MapType.HASH
    assert (oh.inner_map.key_size, oh.inner_map.value_size, oh.inner_map.max_entries) == (4, 4, 16)
    assert not oh.init_slots


def test_pinning_and_btf_ids(objs):
    s = _open(objs, "pinned")
    m = s.maps["pinned_stats"]
    assert m.pinning == 1 and m.key_size == 4 and m.value_size == 16
    assert s.btf[m.btf_value_type_id].name == "stats"


def test_legacy_maps(objs):
    s = _open(objs, "legacy")
    c, h = s.maps["legacy_counts"], s.maps["legacy_hash"]
    assert (c.type, c.key_size, c.value_size, c.max_entries) == (MapType.ARRAY, 4, 8, 2)
    assert (h.type, h.max_entries) == (MapType.HASH, 16)
    syms = {i.symbol for i in s.programs["legacy"].instructions if i.symbol}
    assert syms == {"legacy_counts", "legacy_hash"}


def test_externs_layout(objs):
    s = _open(objs, "externs")
    e = s.externs
    kc = {n: x for n, x in e.items() if x.kind == ExternKind.KCONFIG}
    ks = {n: x for n, x in e.items() if x.kind == ExternKind.KSYM}
    assert set(ks) == {"bpf_prog_put", "pybpf_no_such_var", "bpf_rcu_read_lock", "bpf_rcu_read_unlock"}
    assert ks["bpf_rcu_read_lock"].is_func and not ks["bpf_prog_put"].type_id and ks["pybpf_no_such_var"].weak
    # libbpf order: alignment descending, size ascending, then name
    order = sorted(kc.values(), key=lambda x: x.offset)
    assert [x.name for x in order] == ["CONFIG_BPF_JIT", "CONFIG_HZ", "CONFIG_PYBPF_DOES_NOT_EXIST",
                                       "LINUX_KERNEL_VERSION", "CONFIG_BPF_SYSCALL", "LINUX_HAS_BPF_COOKIE"]
    assert kc["CONFIG_BPF_JIT"].kcfg_type == KcfgType.TRISTATE and kc["CONFIG_BPF_SYSCALL"].kcfg_type == KcfgType.BOOL
    m = s.maps[".kconfig"]
    assert m.value_size == 18 and m.freeze and m.flags & MapFlags.RDONLY_PROG and m.name == "externs.kconfig"
    ds = next(t for t in s.btf.iter_types(Kind.DATASEC) if t.name == ".kconfig")
    assert ds.size == 18 and all(s.btf[v.type_id].linkage == Linkage.GLOBAL for v in ds.vars)
    ksyms = next(t for t in s.btf.iter_types(Kind.DATASEC) if t.name == ".ksyms")
    assert [v.offset for v in ksyms.vars] == [0, 4, 8, 12]
    assert s.btf.find("dummy_ksym").kind == Kind.VAR
    insns = s.programs["externs"].instructions
    kfuncs = [i for i in insns if i.is_call and i.src == PseudoCall.KFUNC_CALL]
    assert [i.symbol for i in kfuncs] == ["bpf_rcu_read_lock", "bpf_rcu_read_unlock"]
    kcfg_loads = {i.imm >> 32 for i in insns if i.symbol == ".kconfig"}
    assert kcfg_loads <= {x.offset for x in kc.values()}


def test_core_relos_rebased(objs):
    s = _open(objs, "core")
    p = s.programs["skb_info"]
    assert p.type == P.TRACING and p.attach_to == "kfree_skb"
    n = sum(i.size for i in p.instructions)
    assert p.core_relos and all(0 <= slot < n for slot, _ in p.core_relos)
    kinds = {int(r.kind) for _, r in s.programs["skb_info"].core_relos + s.programs["task_info"].core_relos}
    assert {0, 2, 4, 5, 8, 10, 11} <= kinds


def test_kinds_object(objs):
    s = _open(objs, "kinds")
    got = {n: (p.type, p.expected_attach_type) for n, p in s.programs.items()}
    assert got["k_syscall"] == (P.SYSCALL, 0) and s.programs["k_syscall"].flags == ProgFlags.SLEEPABLE
    assert got["k_connect4"] == (P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT)
    assert got["k_iter"] == (P.TRACING, A.TRACE_ITER)
    assert s.programs["k_uprobe"].attach_to == "usr/bin/true:main"
    for k in build.kinds():
        one = _open(objs, f"kind_{k.lower()}")
        assert len(one.programs) == 1


def test_strict_maps_unknown_field(objs, tmp_path):
    src = tmp_path / "m.c"
    src.write_text('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                   'struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int);'
                   ' __type(value, int); __uint(bogus, 3); } m SEC(".maps");\n'
                   'SEC("socket") int p(void *c) { int k = 0; return bpf_map_lookup_elem(&m, &k) != 0; }\n'
                   'char LICENSE[] SEC("license") = "GPL";\n')
    import subprocess

    import pybpf.elf

    subprocess.run([build.clang(), *build.flags(), str(src), "-o", str(tmp_path / "m.o")], check=True)
    with pytest.raises(ELFError, match="unknown field 'bogus'"):
        pybpf.elf.open(str(tmp_path / "m.o"))
    assert pybpf.elf.open(str(tmp_path / "m.o"), strict_maps=False).maps["m"].max_entries == 1


def test_unknown_section_in_object(objs, tmp_path):
    import subprocess

    import pybpf.elf

    src = tmp_path / "u.c"
    src.write_text('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                   'SEC("kprobe_typo/x") int p(void *c) { return 0; }\nchar LICENSE[] SEC("license") = "GPL";\n')
    subprocess.run([build.clang(), *build.flags(), str(src), "-o", str(tmp_path / "u.o")], check=True)
    with pytest.raises(ELFError, match="kprobe_typo"):
        pybpf.elf.open(str(tmp_path / "u.o"))


@pytest.mark.parametrize("data, match", [
    (b"", "not an ELF"), (b"\x7fELF" + bytes(60), "64-bit"), (b"hello world" * 10, "not an ELF"),
])
def test_not_elf(data, match):
    import pybpf.elf

    with pytest.raises(ELFError, match=match):
        pybpf.elf.open(data)


def test_not_bpf_elf():
    import pybpf.elf

    with open(sys.executable, "rb") as f:
        data = f.read(1 << 20)
    with pytest.raises(ELFError):
        pybpf.elf.open(data)


# ---------------------------------------------------------------------- BTF sanitizer
def _every_kind() -> BTF:
    b = Builder()
    i = Int("int", 4, signed=True)
    proto = FuncProto(i, [Param("a", i)])
    var = Var("x", i, Linkage.GLOBAL)
    b.add_all([
        i, Func("f", proto, Linkage.GLOBAL), Datasec(".data.x", 4, [VarSecinfo(var, 0, 4)]),
        Float("double", 8), DeclTag("tag", var, -1), Ptr(TypeTag("user", i)),
        Enum("se", 4, [EnumValue("neg", -1)], signed=True), Enum64("big", 8, [EnumValue("a", 1 << 40),
                                                                              EnumValue("b", 2)]),
    ])
    return b.build()


def test_sanitize_noop_when_supported():
    btf = _every_kind()
    assert sanitize(btf, BTFFeatures()) is btf


def test_sanitize_everything_off():
    btf = _every_kind()
    out = sanitize(btf, BTFFeatures(func=False, global_func=False, datasec=False, float=False, decl_tag=False,
                                    type_tag=False, enum64=False))
    assert len(out) == len(btf) + 1  # enum64_placeholder appended
    for tid in range(1, btf.last_id + 1):
        old, new = btf[tid], out[tid]
        if isinstance(old, Var):
            assert isinstance(new, Int) and new.size == 1 and new.bits == 8
        elif isinstance(old, DeclTag):
            assert isinstance(new, Int) and new.name == "tag"
        elif isinstance(old, Datasec):
            assert isinstance(new, Struct) and new.name == "_data_x" and new.size == 4
            assert [(m.name, m.bit_offset) for m in new.members] == [("x", 0)]
        elif isinstance(old, FuncProto):
            assert isinstance(new, Enum) and new.size == 4 and [v.name for v in new.values] == ["a"]
        elif isinstance(old, Func):
            assert isinstance(new, Typedef) and new.name == "f"
        elif isinstance(old, Float):
            assert isinstance(new, Struct) and new.name == "" and new.size == 8 and not new.members
        elif isinstance(old, TypeTag):
            assert isinstance(new, Const) and new.name == ""
        elif isinstance(old, Enum):
            assert isinstance(new, Enum) and not new.signed
        elif isinstance(old, Enum64):
            assert isinstance(new, Union) and new.size == 8
            ph = out[out.last_id]
            assert ph.name == "enum64_placeholder" and all(m.type_id == out.last_id for m in new.members)
        else:
            assert type(old) is type(new)


def test_sanitize_global_func_only():
    btf = _every_kind()
    out = sanitize(btf, BTFFeatures(global_func=False))
    f = next(t for t in out.iter_types(Kind.FUNC))
    assert f.linkage == Linkage.STATIC and len(out) == len(btf)
    assert out.find("big").kind == Kind.ENUM64  # untouched


# ---------------------------------------------------------------------- linking (synthetic)
def test_link_order_matches_libbpf_example():
    """libbpf's bpf_object__relocate_calls() comment: mainA -> subA -> subB, mainB -> subC -> subB."""
    from pybpf.elf.linker import Func, Reloc, RelocKind, link

    CALL = (0x85, 0x10, 0, -1)
    EXIT = (0x95, 0, 0, 0)

    def call_to(cur_off: int, target_off: int):  # relocation-free call inside .text
        return (0x85, 0x10, 0, target_off - cur_off - 1)

    text = 1
    # .text layout: subA @0 (2 insns), subB @2 (1 insn), subC @3 (2 insns)
    sub_a = Func("subA", text, ".text", 0, [call_to(0, 2), EXIT], True)
    sub_b = Func("subB", text, ".text", 2, [EXIT], True)
    sub_c = Func("subC", text, ".text", 3, [call_to(3, 2), EXIT], True)
    main_a = Func("mainA", 2, "xdp", 0, [CALL, EXIT], False, relos=[Reloc(RelocKind.CALL, 0, "subA", 0)])
    main_b = Func("mainB", 3, "tc", 0, [CALL, EXIT], False, relos=[Reloc(RelocKind.CALL, 0, "subC", 24)])
    funcs = [sub_a, sub_b, sub_c, main_a, main_b]
    la = link(main_a, funcs, text, None)
    lb = link(main_b, funcs, text, None)
    assert la.subprogs == ["subA", "subB"] and lb.subprogs == ["subC", "subB"]
    # mainA | subA | subB: call at 0 -> 2, subA's call at 2 -> 4
    assert [s[3] for s in la.slots] == [1, 0, 1, 0, 0]
    assert [s[3] for s in lb.slots] == [1, 0, 1, 0, 0]
    # the original functions are untouched (each entry program relocates its own copy)
    assert sub_a.slots[0] == call_to(0, 2)


def test_link_missing_subprogram():
    from pybpf.elf.linker import Func, Reloc, RelocKind, link

    main = Func("m", 2, "xdp", 0, [(0x85, 0x10, 0, -1), (0x95, 0, 0, 0)], False,
                relos=[Reloc(RelocKind.CALL, 0, "gone", 800)])
    with pytest.raises(ELFError, match="no .text function"):
        link(main, [main], 1, None)
