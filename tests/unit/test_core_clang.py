"""CO-RE relocation of clang-compiled objects (tests/data/core/*.c) against the running
kernel's BTF (/sys/kernel/btf/vmlinux). Every relocation of every program is checked
against a value worked out independently from vmlinux BTF (member offsets, sizes,
bitfield containers, enum values)."""

from __future__ import annotations

import os
import re
import sys

import pytest

from pybpf.btf import BTF, VMLINUX_PATH, CoreReloKind as K, Kind
from pybpf.btf import core
from pybpf.btf.core import POISON_IMM, CoreCache, CoreResult, relocate

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "core"))
import coreobj  # noqa: E402

pytestmark = [
    pytest.mark.skipif(coreobj.CLANG is None, reason="clang-19 is not installed (needed to build tests/data/core)"),
    pytest.mark.skipif(not os.path.exists(VMLINUX_PATH), reason=f"{VMLINUX_PATH} missing (kernel without BTF)"),
]

M64 = (1 << 64) - 1
POISON = "poison"


@pytest.fixture(scope="session")
def objs(tmp_path_factory):
    out = coreobj.compile_all(str(tmp_path_factory.mktemp("core")))
    return {k: coreobj.load(v) for k, v in out.items()}


@pytest.fixture(scope="session")
def vm():
    return BTF.load_vmlinux()


def _path(spec: str) -> str:
    """'<byte_off> [5] struct task_struct.comm[3] (0:3:3 @ offset 15)' -> 'task_struct.comm[3]'."""
    s = spec.split("] ", 1)[1]
    s = s.split(" (", 1)[0].split(" = ", 1)[0]
    return s.split(" ", 1)[1]


def relocated(obj, name, vm, cache=None):
    """(original insns, relocated insns, results by (kind, path), log)."""
    prog = obj.progs[name]
    results: list[CoreResult] = []
    log: list[str] = []
    out = relocate(prog.insns, coreobj.relo_pairs(prog), obj.btf, [vm], log=log.append, prog_name=name,
                   results=results, cache=cache)
    by = {}
    for r in results:
        by.setdefault((K(r.kind), _path(r.local_spec)), []).append(r)
    return prog.insns, out, by, log


def _elem(insns, slot):
    pos = 0
    for i, ins in enumerate(insns):
        if pos == slot:
            return i
        pos += ins.size
    raise AssertionError(slot)


def check(name, obj, vm, expected):
    """Relocate program ``name``; every relocation must be in ``expected`` ({(kind, path): value})
    and its instruction must now hold that value (or be poisoned)."""
    orig, out, by, log = relocated(obj, name, vm)
    assert sorted(by) == sorted(expected), "relocations differ from the expectation table"
    # slot numbering is preserved (a poisoned lddw becomes two calls)
    assert sum(i.size for i in out) == sum(i.size for i in orig)
    for key, rs in by.items():
        want = expected[key]
        for r in rs:
            ins = out[_elem(out, r.insn_index)] if r.insn_index < sum(i.size for i in out) else None
            if want == POISON:
                assert r.poison, key
                assert ins.opcode == 0x85 and ins.imm == POISON_IMM, key
                if orig[_elem(orig, r.insn_index)].size == 2:
                    nxt = out[_elem(out, r.insn_index) + 1]
                    assert nxt.opcode == 0x85 and nxt.imm == POISON_IMM
                continue
            assert not r.poison and r.new_val == want & M64, (key, r.new_val, want)
            if ins.cls in (1, 2, 3):
                assert ins.off == want, key
            elif ins.size == 2:
                assert ins.imm == want & M64, key
            else:
                assert ins.imm & 0xFFFFFFFF == want & 0xFFFFFFFF, key
    assert all("\n" not in line for line in log)
    return orig, out, by


def off(vm, s, path):
    return vm.member_offset(s, path)[0]


def msize(vm, s, path):
    return vm.sizeof(vm.member_offset(s, path)[1])


def bitfield(vm, s, path):
    """(byte_off, byte_sz, lshift, rshift) of a kernel bitfield: the smallest naturally
    aligned container, at least as big as the member's type, holding all its bits."""
    bit, m = vm.member_bit_offset(s, path)
    assert m.bitfield_size
    size = vm.sizeof(m.type)
    while True:
        start = bit // 8 // size * size
        if bit + m.bitfield_size <= (start + size) * 8:
            break
        size *= 2
    end = bit + m.bitfield_size - start * 8
    return start, size, 64 - end, 64 - m.bitfield_size


def has_member(vm, s, path):
    try:
        vm.member_offset(s, path)
        return True
    except Exception:
        return False


# ---------------------------------------------------------------------- fields
def test_probe_read_offsets(objs, vm):
    o = objs["core_fields"]
    check("probe_read", o, vm, {
        (K.FIELD_BYTE_OFFSET, "task_struct.pid"): off(vm, "task_struct", "pid"),
        (K.FIELD_BYTE_OFFSET, "task_struct.tgid"): off(vm, "task_struct", "tgid"),
        (K.FIELD_BYTE_OFFSET, "task_struct.comm[3]"): off(vm, "task_struct", "comm") + 3,
        (K.FIELD_BYTE_OFFSET, "task_struct.se.vruntime"): off(vm, "task_struct", "se.vruntime"),
    })


def test_field_info(objs, vm):
    o = objs["core_fields"]
    check("field_info", o, vm, {
        (K.FIELD_BYTE_OFFSET, "task_struct.pid"): off(vm, "task_struct", "pid"),
        (K.FIELD_BYTE_SIZE, "task_struct.pid"): 4,
        (K.FIELD_EXISTS, "task_struct.pid"): 1,
        (K.FIELD_SIGNED, "task_struct.pid"): 1,
        (K.FIELD_SIGNED, "task_struct.flags"): 0,
        (K.FIELD_BYTE_OFFSET, "task_struct.comm"): off(vm, "task_struct", "comm"),
        (K.FIELD_BYTE_SIZE, "task_struct.comm"): msize(vm, "task_struct", "comm"),
        (K.FIELD_BYTE_OFFSET, "task_struct.comm[5]"): off(vm, "task_struct", "comm[5]"),
        (K.FIELD_BYTE_SIZE, "task_struct.comm[5]"): 1,
        (K.FIELD_BYTE_OFFSET, "task_struct.se.vruntime"): off(vm, "task_struct", "se.vruntime"),
        (K.FIELD_BYTE_OFFSET, "sk_buff.prev"): off(vm, "sk_buff", "prev"),  # through anonymous members
        (K.FIELD_BYTE_OFFSET, "sk_buff.len"): off(vm, "sk_buff", "len"),
        (K.FIELD_BYTE_SIZE, "task_struct.real_parent"): 8,
        (K.FIELD_LSHIFT_U64, "task_struct.pid"): 32,
        (K.FIELD_RSHIFT_U64, "task_struct.pid"): 32,
    })


def test_bitfields(objs, vm):
    o = objs["core_fields"]
    io = bitfield(vm, "task_struct", "in_iowait")
    rf = bitfield(vm, "task_struct", "sched_reset_on_fork")
    pt = bitfield(vm, "sk_buff", "pkt_type")
    _, by = check("bitfields", o, vm, {
        (K.FIELD_BYTE_OFFSET, "task_struct.in_iowait"): io[0],
        (K.FIELD_BYTE_SIZE, "task_struct.in_iowait"): io[1],
        (K.FIELD_LSHIFT_U64, "task_struct.in_iowait"): io[2],
        (K.FIELD_RSHIFT_U64, "task_struct.in_iowait"): io[3],
        (K.FIELD_SIGNED, "task_struct.in_iowait"): 0,
        (K.FIELD_BYTE_OFFSET, "task_struct.sched_reset_on_fork"): rf[0],
        (K.FIELD_LSHIFT_U64, "task_struct.sched_reset_on_fork"): rf[2],
        (K.FIELD_BYTE_OFFSET, "sk_buff.pkt_type"): pt[0],
        (K.FIELD_BYTE_SIZE, "sk_buff.pkt_type"): pt[1],
        (K.FIELD_LSHIFT_U64, "sk_buff.pkt_type"): pt[2],
        (K.FIELD_RSHIFT_U64, "sk_buff.pkt_type"): pt[3],
        (K.FIELD_EXISTS, "task_struct.in_execve"): 1,
    })[1:]
    # clang's local bitfield values are not what libbpf computes: not validated
    assert not by[(K.FIELD_BYTE_SIZE, "task_struct.in_iowait")][0].validate
    # BPF_CORE_READ_BITFIELD: load byte_sz bytes at byte_off (little endian), then
    # (v << lshift) >> rshift gives the field back, whatever the neighbouring bits hold
    if sys.byteorder == "little":
        for s, path, (start, size, lsh, rsh) in (("sk_buff", "pkt_type", pt), ("task_struct", "in_iowait", io)):
            bit, m = vm.member_bit_offset(s, path)
            want = (1 << m.bitfield_size) - 2
            noise = (1 << (8 * size)) - 1
            field = ((1 << m.bitfield_size) - 1) << (bit - start * 8)
            v = (noise & ~field) | (want << (bit - start * 8))
            assert ((v << lsh) & M64) >> rsh == want, path


def test_flavors_and_missing_fields(objs, vm):
    o = objs["core_fields"]
    comm_n = vm.resolve(vm.member_offset("task_struct", "comm")[1]).nelems
    c20 = 1 if comm_n > 20 else 0
    orig, out, _ = check("flavors", o, vm, {
        (K.FIELD_BYTE_OFFSET, "task_struct___flav.pid"): off(vm, "task_struct", "pid"),
        (K.FIELD_EXISTS, "task_struct___flav.no_such_field_in_any_kernel"): 0,
        (K.FIELD_EXISTS, "task_struct___flav.comm[20]"): c20,
        (K.FIELD_EXISTS, "task_struct___flav.comm[2]"): 1,
        (K.FIELD_BYTE_OFFSET, "task_struct___flav.no_such_field_in_any_kernel"): POISON,
        (K.FIELD_BYTE_SIZE, "task_struct___flav.no_such_field_in_any_kernel"): POISON,
        (K.FIELD_BYTE_OFFSET, "task_struct___flav.comm[20]"): off(vm, "task_struct", "comm") + 20 if c20 else POISON,
    })
    assert len(out) == len(orig)  # only ALU instructions poisoned: one call each


def test_direct_loads_and_size_adjustment(objs, vm):
    o = objs["core_fields"]
    flags_sz = msize(vm, "task_struct", "flags")
    orig, out, by = check("direct", o, vm, {
        (K.FIELD_BYTE_OFFSET, "task_struct.pid"): off(vm, "task_struct", "pid"),
        (K.FIELD_BYTE_OFFSET, "task_struct.flags"): off(vm, "task_struct", "flags"),
        (K.FIELD_BYTE_OFFSET, "task_struct.comm[1]"): off(vm, "task_struct", "comm") + 1,
        (K.FIELD_BYTE_OFFSET, "task_struct.se.vruntime"): off(vm, "task_struct", "se.vruntime"),
        (K.FIELD_BYTE_OFFSET, "task_struct___flav.flags"): off(vm, "task_struct", "flags"),
        (K.FIELD_EXISTS, "task_struct___flav.no_such_field_in_any_kernel"): 0,
        (K.FIELD_BYTE_OFFSET, "task_struct___flav.tgid"): POISON,  # long long vs int: can't resize
    })
    r = by[(K.FIELD_BYTE_OFFSET, "task_struct___flav.flags")][0]
    i = _elem(out, r.insn_index)
    assert orig[i].opcode == 0x79 and (r.orig_sz, r.new_sz) == (8, flags_sz)  # u64 load -> u32 load
    assert out[i].opcode == {4: 0x61, 8: 0x79}[flags_sz] and out[i].dst == orig[i].dst
    r = by[(K.FIELD_BYTE_OFFSET, "task_struct___flav.tgid")][0]
    assert r.fail_memsz_adjust


# ---------------------------------------------------------------------- types and enums
def test_types(objs, vm):
    o = objs["core_types"]
    local_ts = o.btf.find("task_struct", Kind.STRUCT).id
    check("types", o, vm, {
        (K.TYPE_EXISTS, "task_struct"): 1,
        (K.TYPE_EXISTS, "no_such_struct_in_any_kernel"): 0,
        (K.TYPE_SIZE, "task_struct"): vm.sizeof("struct task_struct"),
        (K.TYPE_SIZE, "no_such_struct_in_any_kernel"): 0,
        (K.TYPE_ID_LOCAL, "task_struct"): local_ts,
        (K.TYPE_ID_TARGET, "task_struct"): vm.find("task_struct", Kind.STRUCT).id,
        (K.TYPE_EXISTS, "pid_t"): 1,
        (K.TYPE_SIZE, "pid_t"): vm.sizeof("pid_t"),
        (K.TYPE_MATCHES, "pid_t"): 1,
        (K.TYPE_MATCHES, "pid_t___wrong"): 0,     # long vs int
        (K.TYPE_EXISTS, "pid_t___wrong"): 1,      # ... but compatible enough to exist
        (K.TYPE_MATCHES, "list_head"): 1,
        (K.TYPE_MATCHES, "list_head___bad"): 0,
        (K.TYPE_MATCHES, "no_such_struct_in_any_kernel"): 0,
        (K.TYPE_MATCHES, "bpf_map_type"): 0,      # local enum has an enumerator the kernel lacks
        (K.TYPE_SIZE, "bpf_attr___empty"): vm.sizeof("union bpf_attr"),
        (K.TYPE_ID_TARGET, "no_such_struct_in_any_kernel"): 0,
        (K.TYPE_MATCHES, "task_struct"): 1,
    })


def _enumval(vm, enum, name):
    for t in vm.find_all(enum):
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            v = t.value(name)
            if t.kind == Kind.ENUM:  # libbpf sign-extends 32-bit enumerators
                v = v - (1 << 32) if v & 0x80000000 else v
            return v & M64
    raise KeyError(enum)


def test_enums(objs, vm):
    o = objs["core_types"]
    orig, out, _ = check("enums", o, vm, {
        (K.ENUMVAL_EXISTS, "bpf_map_type::BPF_MAP_TYPE_HASH"): 1,
        (K.ENUMVAL_VALUE, "bpf_map_type::BPF_MAP_TYPE_HASH"): _enumval(vm, "bpf_map_type", "BPF_MAP_TYPE_HASH"),
        (K.ENUMVAL_VALUE, "bpf_map_type::BPF_MAP_TYPE_ARRAY"): _enumval(vm, "bpf_map_type", "BPF_MAP_TYPE_ARRAY"),
        (K.ENUMVAL_EXISTS, "bpf_map_type::BPF_MAP_TYPE_NO_SUCH_VALUE"): 0,
        (K.ENUMVAL_EXISTS, "bpf_map_type___new::BPF_MAP_TYPE_RINGBUF___new"): 1,
        (K.ENUMVAL_VALUE, "bpf_map_type___new::BPF_MAP_TYPE_RINGBUF___new"):
            _enumval(vm, "bpf_map_type", "BPF_MAP_TYPE_RINGBUF"),
        (K.ENUMVAL_EXISTS, "no_such_enum_in_any_kernel::NO_SUCH_ENUMERATOR"): 0,
        (K.ENUMVAL_VALUE, "perf_callchain_context::PERF_CONTEXT_KERNEL"):
            _enumval(vm, "perf_callchain_context", "PERF_CONTEXT_KERNEL"),
        (K.ENUMVAL_EXISTS, "perf_callchain_context::PERF_CONTEXT_NO_SUCH"): 0,
        (K.ENUMVAL_VALUE, "bpf_map_type::BPF_MAP_TYPE_NO_SUCH_VALUE"): POISON,
        (K.ENUMVAL_VALUE, "perf_callchain_context::PERF_CONTEXT_NO_SUCH"): POISON,
        (K.ENUMVAL_VALUE, "no_such_enum_in_any_kernel::NO_SUCH_ENUMERATOR"): POISON,
    })
    assert len(out) == len(orig) + 3  # three poisoned lddw: two calls each


# ---------------------------------------------------------------------- log, cache, speed
def test_log_lines(objs, vm):
    o = objs["core_fields"]
    _, _, _, log = relocated(o, "direct", vm)
    pid = off(vm, "task_struct", "pid")
    assert "prog 'direct': relo #0: <byte_off> [5] struct task_struct.pid (0:1 @ offset 4)" in log
    assert f"prog 'direct': relo #0: patched insn #1 (LDX/ST/STX) off 4 -> {pid}" in log
    assert any(re.fullmatch(r"prog 'direct': relo #4: patched insn #15 \(LDX/ST/STX\) mem_sz 8 -> \d", x) for x in log)
    assert "prog 'direct': relo #6: substituting insn #19 w/ invalid insn" in log


def test_shared_cache_finds_candidates_once(objs, vm):
    o = objs["core_fields"]
    cache = CoreCache()
    logs = []
    for name in ("probe_read", "field_info", "direct"):
        logs += relocated(o, name, vm, cache=cache)[3]
    assert sum(x.startswith("CO-RE relocating [5] struct task_struct:") for x in logs) == 1


def test_relocation_uses_name_index(objs, vm, monkeypatch):
    # what keeps relocation cheap: one candidate search per local type, each a few
    # bisections of vmlinux's name index -- no string-table scan, no walk over its types
    o = objs["core_fields"]
    prog = o.progs["field_info"]   # 15 relocations, 13 on task_struct
    pairs = coreobj.relo_pairs(prog)
    want = relocate(prog.insns, pairs, o.btf, [vm])  # warm: vmlinux name index
    assert vm._sorted_names is not None
    n_named = len(vm._sorted_names)

    def forbid(what):
        def check(self, *a, **kw):
            if self is vm:
                raise AssertionError(f"vmlinux: {what}")
            return real[what](self, *a, **kw)
        return check

    real = {m: getattr(BTF, m) for m in ("_local_str_offsets", "_build_name_index", "__iter__", "iter_types")}
    for m in real:
        monkeypatch.setattr(BTF, m, forbid(m))
    searches, reads, hits = [], 0, 0
    real_find, real_name_at, real_prefix = core.find_candidates, BTF._name_at, BTF._names_with_prefix

    def counting_find(local, type_id, targets, log=None):
        searches.append(type_id)
        return real_find(local, type_id, targets, log)

    def counting_name_at(self, off):
        nonlocal reads
        reads += self is vm
        return real_name_at(self, off)

    def counting_prefix(self, prefix):
        nonlocal hits
        got = real_prefix(self, prefix)
        hits += len(got) if self is vm else 0
        return got

    monkeypatch.setattr(core, "find_candidates", counting_find)
    monkeypatch.setattr(BTF, "_name_at", counting_name_at)
    monkeypatch.setattr(BTF, "_names_with_prefix", counting_prefix)
    assert relocate(prog.insns, pairs, o.btf, [vm]) == want
    local_types = {r.type_id for _, r in pairs if r.kind != K.TYPE_ID_LOCAL}
    assert sorted(searches) == sorted(local_types)  # once per local type, not per relocation
    # per search: an exact range and a prefix range, two bisections each, plus one read per prefix hit
    assert 0 < reads <= len(searches) * 4 * n_named.bit_length() + hits, (reads, len(searches), hits)
