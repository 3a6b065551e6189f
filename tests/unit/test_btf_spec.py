"""pybpf.btf against the running kernel's vmlinux BTF (no root needed: the file is world readable)."""

from __future__ import annotations

import os

import pytest

from pybpf.btf import (
    BTF, VMLINUX_PATH, Array, BTFError, Builder, Int, Kind, MemberNotFound, Ptr, Struct, Typedef, TypeNotFound,
    Union,
)
from pybpf.btf import cache as btf_cache

pytestmark = pytest.mark.skipif(not os.access(VMLINUX_PATH, os.R_OK), reason=f"{VMLINUX_PATH} not readable")


@pytest.fixture(scope="module")
def raw() -> bytes:
    with open(VMLINUX_PATH, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def vmlinux(raw: bytes) -> BTF:
    return BTF.from_bytes(raw, cache=False)


def test_header_and_counts(vmlinux: BTF, raw: bytes) -> None:
    assert len(vmlinux) > 1000
    assert vmlinux.first_id == 1 and vmlinux.last_id == len(vmlinux)
    assert vmlinux.byteorder == "little"
    assert vmlinux.data is raw
    assert vmlinux[0].kind == Kind.UNKN
    with pytest.raises(TypeNotFound):
        vmlinux[len(vmlinux) + 1]
    with pytest.raises(KeyError):  # TypeNotFound is a KeyError too
        vmlinux[-1]


def test_lazy_decoding(raw: bytes) -> None:
    btf = BTF.from_bytes(raw, cache=False)
    assert all(t is None for t in btf._types[:1000])
    ts = btf.find("task_struct")
    decoded = sum(t is not None for t in btf._types)
    assert decoded < 10, decoded
    assert btf[ts.id] is ts  # cached


def test_find_well_known(vmlinux: BTF) -> None:
    ts = vmlinux.find("task_struct")
    assert isinstance(ts, Struct) and ts.kind == Kind.STRUCT and ts.name == "task_struct"
    assert ts.size > 1000
    assert repr(ts).startswith(f"Struct(name='task_struct', size={ts.size}, ")
    pid = ts.member("pid")
    assert pid.type.name == "pid_t" and pid.type_id == pid.type.id
    assert vmlinux.resolve(pid.type).name == "int"
    attr = vmlinux.find("bpf_attr")
    assert isinstance(attr, Union)
    assert vmlinux.find("bpf_attr", Kind.UNION) is attr
    assert vmlinux.find("bpf_attr", "union") is attr
    assert vmlinux.find("bpf_attr", Union) is attr
    assert vmlinux.find_all("bpf_attr", Kind.STRUCT) == []
    with pytest.raises(TypeNotFound):
        vmlinux.find("bpf_attr", Kind.STRUCT)
    with pytest.raises(KeyError):
        vmlinux.find("no_such_type_hopefully_xyz")
    assert vmlinux.types_by_name("no_such_type_hopefully_xyz") == []
    assert [t.name for t in vmlinux.types_by_name("task_struct")] == ["task_struct"]
    u32 = vmlinux.find("__u32")
    assert isinstance(u32, Typedef) and vmlinux.sizeof(u32) == 4


def test_many_lookups_switch_to_index(vmlinux: BTF) -> None:
    names = ["int", "char", "long int", "__u8", "__u16", "__u32", "__u64", "task_struct", "sk_buff",
             "bpf_prog", "bpf_map", "file", "inode", "dentry"]
    for n in names:
        assert vmlinux.find(n).name == n
    assert vmlinux._str_index is not None
    for n in names:
        assert vmlinux.find(n).name == n


def test_member_offsets_uapi(vmlinux: BTF) -> None:
    # struct bpf_prog_info / bpf_map_info are UAPI: fixed layout.
    expect = {"type": 0, "id": 4, "tag": 8, "jited_prog_len": 16, "xlated_prog_len": 20,
              "jited_prog_insns": 24, "xlated_prog_insns": 32, "load_time": 40, "created_by_uid": 48,
              "nr_map_ids": 52, "map_ids": 56, "name": 64, "ifindex": 80}
    for name, off in expect.items():
        assert vmlinux.member_offset("bpf_prog_info", name)[0] == off, name
    info = vmlinux.find("bpf_prog_info")
    off, typ = vmlinux.member_offset(info, "name")
    assert off == 64 and isinstance(typ, Array) and typ.nelems == 16
    assert vmlinux.member_offset("bpf_map_info", "max_entries")[0] == 16
    assert vmlinux.member_offset("union bpf_attr", "map_flags")[0] == 16
    # nested through an anonymous struct of the union
    assert vmlinux.member_offset("bpf_attr", "link_create.target_fd")[0] == 4
    assert vmlinux.member_offset("bpf_prog_info", "name[3]")[0] == 67
    off, elem = vmlinux.member_offset(info.id, "tag[1]")
    assert off == 9 and elem.name == "__u8" and vmlinux.sizeof(elem) == 1


def test_member_offset_anonymous_and_errors(vmlinux: BTF) -> None:
    # sk_buff's 'len' and 'tstamp' live in anonymous members on modern kernels
    off, t = vmlinux.member_offset("sk_buff", "len")
    assert vmlinux.sizeof(t) == 4 and 0 < off < vmlinux.sizeof("sk_buff")
    bits, m = vmlinux.member_bit_offset("sk_buff", "pkt_type")
    assert m.bitfield_size == 3 and bits // 8 == vmlinux.member_offset("sk_buff", "pkt_type")[0]
    with pytest.raises(MemberNotFound):
        vmlinux.member_offset("task_struct", "no_such_member")
    with pytest.raises(MemberNotFound):
        vmlinux.member_offset("task_struct", "pid.x")
    with pytest.raises(TypeNotFound):
        vmlinux.member_offset("struct bpf_attr", "map_type")
    with pytest.raises(ValueError):
        vmlinux.member_offset("task_struct", "pid..x")


def test_sizeof_alignof(vmlinux: BTF) -> None:
    assert vmlinux.pointer_size == 8
    assert vmlinux.sizeof("bpf_attr") == vmlinux.sizeof("union bpf_attr") >= 120
    ts = vmlinux.find("task_struct")
    assert vmlinux.sizeof(ts) == ts.size
    assert vmlinux.alignof(ts) in (8, 16, 32, 64)
    assert vmlinux.alignof(vmlinux.find("__u16")) == 2
    comm = ts.member("comm").type
    assert vmlinux.sizeof(comm) == 16 and vmlinux.alignof(comm) == 1
    with pytest.raises(BTFError):
        vmlinux.sizeof(vmlinux.find("vfs_read", Kind.FUNC))


def test_type_names(vmlinux: BTF) -> None:
    tn = vmlinux.type_name
    ts = vmlinux.find("task_struct")
    assert tn(ts) == "struct task_struct"
    assert tn(ts.member("comm").type) == "char[16]"
    assert tn(vmlinux.find("__u32")) == "__u32"
    assert tn(vmlinux.find("bpf_attr")) == "union bpf_attr"
    assert tn(vmlinux.find("bpf_prog_info"), "info") == "struct bpf_prog_info info"
    parent = ts.member("real_parent").type
    assert tn(parent) == "struct task_struct *"
    init = vmlinux.find("initcall_t") if vmlinux.find_all("initcall_t") else None
    if init is not None:
        assert tn(init.type) == "int (*)(void)"
    f = vmlinux.find("vfs_read", Kind.FUNC)
    assert tn(f).startswith("ssize_t vfs_read(struct file *, char *, size_t, loff_t *")
    # every type in vmlinux has a name and a repr
    for t in vmlinux:
        assert isinstance(tn(t), str)
        repr(t)


def test_iter_types(vmlinux: BTF) -> None:
    structs = list(vmlinux.iter_types(Kind.STRUCT))
    assert structs and all(isinstance(s, Struct) for s in structs)
    assert vmlinux.kind_of(structs[0].id) == Kind.STRUCT
    ints = list(vmlinux.iter_types(Int))
    assert any(i.name == "int" and i.signed and i.size == 4 for i in ints)  # type: ignore[attr-defined]
    assert any(i.name == "_Bool" and i.bool for i in ints)  # type: ignore[attr-defined]
    assert any(i.name == "char" and i.size == 1 for i in ints)


def test_roundtrip_vmlinux_identical(vmlinux: BTF, raw: bytes) -> None:
    assert vmlinux.to_bytes() == raw
    again = BTF.from_bytes(vmlinux.to_bytes())
    assert again.to_bytes() == raw


def test_copy_closure_from_vmlinux(vmlinux: BTF) -> None:
    b = Builder()
    b.add(vmlinux.find("bpf_prog_info"))
    small = b.build()
    assert len(small) < 50
    assert small.member_offset("bpf_prog_info", "ifindex")[0] == 80
    assert small.type_name(small.find("bpf_prog_info").member("map_ids").type) == "__u64"


def test_split_btf_on_vmlinux(vmlinux: BTF) -> None:
    b = Builder(base=vmlinux)
    ts = vmlinux.find("task_struct")
    st = Struct("pybpf_test_mod_state", 16, [])
    from pybpf.btf import Member
    st.members += [Member("task", Ptr(ts), 0), Member("pid", vmlinux.find("pid_t"), 64),
                   Member("next", Ptr(st), 0)]
    sid = b.add(st)
    assert sid == vmlinux.last_id + 1
    data = b.to_bytes()
    split = BTF.from_bytes(data, base=vmlinux)
    assert split.first_id == vmlinux.last_id + 1
    mine = split.find("pybpf_test_mod_state")
    assert mine.id == sid and split[sid] is mine
    assert mine.member("task").type.type is ts  # base types resolve through the base
    assert split.find("task_struct") is ts
    assert split.member_offset(mine, "pid")[0] == 8
    assert split.to_bytes() == data
    # strings the base has are referenced in the base: only the new struct name is local
    strs = data[24 + split._tlen:]
    assert strs == b"pybpf_test_mod_state\0"


def test_module_btf_if_present(vmlinux: BTF) -> None:
    d = os.path.dirname(VMLINUX_PATH)
    mods = sorted(n for n in os.listdir(d) if n != "vmlinux")
    if not mods:
        pytest.skip("kernel has no module BTF: CONFIG_DEBUG_INFO_BTF_MODULES is not set (or no modules loaded)")
    with open(os.path.join(d, mods[0]), "rb") as f:
        data = f.read()
    m = BTF.from_bytes(data, base=vmlinux)
    assert m.first_id == vmlinux.last_id + 1
    for t in m:
        m.type_name(t)
    assert m.to_bytes() == data


def test_load_vmlinux_cached_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBPF_BTF_CACHE", "0")
    a = BTF.load_vmlinux()
    assert BTF.load_vmlinux() is a
    assert a.find("task_struct").name == "task_struct"


def test_disk_cache(raw: bytes, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("PYBPF_BTF_CACHE", raising=False)
    cold = BTF.from_bytes(raw, cache=True)
    files = list((tmp_path / "c").iterdir())
    assert len(files) == 1 and files[0].name.startswith("btf-")
    # warm: the record offsets and the name index come from the file -- neither the
    # type-section scan nor the index sort runs, nothing is stored again, no type is decoded
    loads = []
    real_load = btf_cache.load

    def spy_load(*a, **kw):
        idx = real_load(*a, **kw)
        loads.append(idx)
        return idx

    def expensive(*a, **kw):
        raise AssertionError("warm load recomputed what the cache holds")

    with monkeypatch.context() as m:
        m.setattr(btf_cache, "load", spy_load)
        m.setattr(BTF, "_scan", expensive)
        m.setattr(BTF, "_build_name_index", expensive)
        m.setattr(btf_cache, "store", expensive)
        warm = BTF.from_bytes(raw, cache=True)
        assert len(loads) == 1 and loads[0] is not None
        assert warm._name_offs is None and warm._types.count(None) == len(warm)
        assert warm.find("task_struct").size == cold.find("task_struct").size
    assert warm._offs == cold._offs and warm._sorted_names == cold._sorted_names
    assert warm._sorted_name_offs == cold._sorted_name_offs
    # corrupt cache: silently recomputed
    blob = bytearray(files[0].read_bytes())
    blob[-100] ^= 0xFF
    files[0].write_bytes(bytes(blob))
    again = BTF.from_bytes(raw, cache=True)
    assert again.find("task_struct").size == cold.find("task_struct").size
    # truncated cache
    files[0].write_bytes(bytes(blob[:50]))
    assert BTF.from_bytes(raw, cache=True).find("bpf_attr").kind == Kind.UNION
    assert btf_cache.load("0" * 40, 0) is None


def test_unwritable_cache_dir(raw: bytes, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "notadir"
    f.write_text("x")
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(f / "sub"))
    btf = BTF.from_bytes(raw, cache=True)
    assert btf.find("task_struct").name == "task_struct"


def test_cache_dir_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYBPF_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/y")
    assert btf_cache.cache_dir() == "/x/y/pybpf"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert btf_cache.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "pybpf")


def test_kernel_btf_has_string():
    from pybpf.btf.spec import kernel_btf_has_string

    assert kernel_btf_has_string("task_struct") and kernel_btf_has_string("pid")
    assert not kernel_btf_has_string("no_such_identifier_zz") and not kernel_btf_has_string("task_struc")
    assert not kernel_btf_has_string("x", path="/nonexistent/btf")


def test_kernel_btf_has_typedef_matches_the_index():
    from pybpf.btf.spec import kernel_btf_has_typedef
    from pybpf.btf.types import Kind

    btf = BTF.load_vmlinux()
    typedefs = sorted({t.name for t in btf.iter_types(Kind.TYPEDEF)})
    for name in typedefs[::max(1, len(typedefs) // 150)] + ["u32", "pid_t", "atomic_t"]:
        assert kernel_btf_has_typedef(name), name
    for name in ("task_struct", "pid", "comm", "output", "no_such_identifier_zz"):
        assert kernel_btf_has_typedef(name) == bool(btf.find_all(name, Kind.TYPEDEF)), name
