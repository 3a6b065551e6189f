"""The BTF name index and its on-disk cache: same answers as a linear scan, O(log n)
lookups without string-table scans, cheap and safe cache keys/validation."""

from __future__ import annotations

import os
import struct
from array import array

import pytest

from pybpf.btf import BTF, VMLINUX_PATH, Builder, Enum, EnumValue, Fwd, Int, Kind, Member, Ptr, Struct, Typedef
from pybpf.btf import cache as btf_cache
from pybpf.btf import core
from pybpf.btf.core_match import essential_name, essential_name_len

HAVE_VMLINUX = os.access(VMLINUX_PATH, os.R_OK)
needs_vmlinux = pytest.mark.skipif(not HAVE_VMLINUX, reason=f"{VMLINUX_PATH} not readable")


# ---------------------------------------------------------------------- references
def all_names(btf: BTF) -> list[bytes]:
    """Name bytes of every own type (b"" for anonymous or bad offsets), by local index."""
    out = []
    for i in range(len(btf)):
        pos = btf._tstart + 4 * btf._offs[i]
        (off,) = btf._lay.u32.unpack_from(btf.data, pos)
        out.append(btf._name_at(off) if off else b"")
    return out


def ref_ids_named(btf: BTF, nb: bytes) -> list[int]:
    return [btf.first_id + i for i, n in enumerate(all_names(btf)) if n == nb]


def old_flavored_cands(targ: BTF, ess: str) -> list[int]:
    """The previous candidate search (string-section scan for ``___`` + find_all), own ids."""
    names: set[str] = set()
    b: BTF | None = targ
    while b is not None:
        strs = b.data[b._sstart:b._sstart + b._slen]
        i = strs.find(b"___")
        while i >= 0:
            start = strs.rfind(b"\0", 0, i) + 1
            end = strs.find(b"\0", i)
            end = len(strs) if end < 0 else end
            name = strs[start:end].decode("utf-8", "surrogateescape")
            n = essential_name_len(name)
            if n != len(name) and name[:n] == ess:
                names.add(name)
            i = strs.find(b"___", end)
        b = b.base
    found = set()
    for nm in {ess, *names}:
        for t in targ.find_all(nm):
            if t.id is not None and t.id >= targ.first_id:
                found.add(t.id)
    return sorted(found)


def raw_btf(types: list[tuple[int, int]], strings: bytes) -> bytes:
    """A little-endian blob of INT types ``(name_off, size)`` and the given string section."""
    tsec = b"".join(struct.pack("<IIII", off, 1 << 24, size, size * 8) for off, size in types)
    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(tsec), len(tsec), len(strings)) + tsec + strings


def flavored_builder(base: BTF | None = None) -> Builder:
    i = Int("int", 4, signed=True)
    b = Builder(base=base)
    for t in (i, Struct("foo", 4, [Member("a", i, 0)]), Struct("foo___v1", 8, [Member("a", i, 0)]),
              Struct("foo___v2___x", 4, []), Struct("foo____bad", 4, []), Struct("foo___", 4, []),
              Struct("foox", 4, []), Fwd("foo___v1"), Typedef("foo___td", i), Struct("bar___foo", 4, []),
              Struct("fo___v1", 4, []), Enum("foo___e", 4, [EnumValue("foo___v3", 1)]), Struct("foo", 4, []),
              Int("long int", 4, signed=True), Struct("\xff\xfe", 4, []), Struct("a\xff", 4, [])):
        b.add(t)
    return b


FLAVORED = flavored_builder().build()


# ---------------------------------------------------------------------- name index
def test_index_sorted_complete_small() -> None:
    btf = FLAVORED
    names = all_names(btf)
    btf.find_all("foo")
    ids, offs = btf._sorted_names, btf._sorted_name_offs
    assert ids is not None and offs is not None and len(ids) == len(offs)
    assert sorted(ids) == [i for i, n in enumerate(names) if n]
    keys = [(btf._name_at(o), i) for i, o in zip(ids, offs)]
    assert keys == sorted(keys) and all(names[i] == n for n, i in keys)


def test_exact_and_prefix_lookups_match_linear_scan() -> None:
    btf = FLAVORED
    names = all_names(btf)
    for nb in set(names) | {b"nope", b"fo", b"foo___v", b"\xff", b"a"}:
        if nb:
            assert btf._ids_named(nb) == ref_ids_named(btf, nb), nb
    for pfx in (b"foo", b"foo___", b"f", b"\xff", b"a\xff", b"zz", b"foo___v2___x", b"\xff\xfe\xff"):
        got = btf._names_with_prefix(pfx)
        want = sorted((n, btf.first_id + i) for i, n in enumerate(names) if n and n.startswith(pfx))
        assert [(n, t) for t, n in got] == want, pfx
    assert btf.find_all("foo", Kind.STRUCT)[0].size == 4 and len(btf.find_all("foo")) == 2
    assert btf.find("foo___v1").kind == Kind.STRUCT  # a definition is preferred to the Fwd
    assert btf.find_all("") == [] and btf.find_all("foo\0x") == []


def test_flavor_candidates_match_previous_algorithm() -> None:
    btf = FLAVORED
    for ess in ("foo", "foo___v2", "fo", "bar", "int", "foox", "nope", "foo_"):
        ids = core._own_ids_essentially_named(btf, ess)
        assert ids == old_flavored_cands(btf, ess), ess
        assert ids == [btf.first_id + i for i, n in enumerate(all_names(btf))
                       if n and essential_name(n.decode("utf-8", "surrogateescape")) == ess]
    local = Builder()
    local.add(Struct("foo___mine", 4, [Member("a", Int("int", 4, signed=True), 0)]))
    lb = local.build()
    cands = core.find_candidates(lb, lb.find("foo___mine").id, [btf])
    assert [c.type_id for c in cands] == [t.id for t in btf.iter_types(Kind.STRUCT)
                                          if essential_name(t.name) == "foo"]


def test_split_btf_names_in_base_strings() -> None:
    split = flavored_builder(base=FLAVORED)
    split.add(Struct("foo___mod", 4, []))
    sb = split.build()
    # the Builder reuses base strings: several split types are named through base offsets
    assert any(n and btf_off < sb._str_base for n, btf_off in
               ((n, sb._lay.u32.unpack_from(sb.data, sb._tstart + 4 * sb._offs[i])[0])
                for i, n in enumerate(all_names(sb))))
    for nb in set(all_names(sb)):
        if nb:
            assert sb._ids_named(nb) == ref_ids_named(sb, nb), nb
    assert [t.id for t in sb.find_all("foo")] == ref_ids_named(FLAVORED, b"foo") + ref_ids_named(sb, b"foo")
    for ess in ("foo", "foo___v2", "int"):
        assert core._own_ids_essentially_named(sb, ess) == old_flavored_cands(sb, ess)


def test_big_endian_blob() -> None:
    b = Builder(byteorder="big")
    b.add(Struct("task", 8, [Member("p", Ptr(Int("long int", 8, signed=True)), 0)]))
    btf = BTF.from_bytes(b.to_bytes())
    assert btf.byteorder == "big" and btf.find("task").size == 8 and btf.pointer_size == 8


def test_odd_name_offsets() -> None:
    # name offsets into the middle of a string (found, as libbpf's btf__find_by_name does),
    # duplicate strings, and an out-of-range offset (never found, no crash)
    strings = b"\0xfoo\0foo\0bar\0foo\0"
    btf = BTF.from_bytes(raw_btf([(2, 1), (6, 2), (10, 4), (14, 8), (500, 4), (3, 2)], strings))
    assert [t.id for t in btf.find_all("foo")] == [1, 2, 4]
    assert btf.find("oo").id == 6 and btf.find("bar").size == 4
    assert btf.find_all("xfoo") == []
    assert btf._str_offsets(b"foo") == [6, 14]  # exact string occurrences (writer's reuse)
    assert btf.pointer_size == 8


def test_pointer_size() -> None:
    assert FLAVORED.pointer_size == 4
    b = Builder()
    b.add(Int("char", 1))
    assert b.build().pointer_size == 8


# ---------------------------------------------------------------------- vmlinux
@pytest.fixture(scope="module")
def raw() -> bytes:
    if not HAVE_VMLINUX:
        pytest.skip(f"{VMLINUX_PATH} not readable")
    with open(VMLINUX_PATH, "rb") as f:
        return f.read()


@needs_vmlinux
def test_vmlinux_index_matches_linear_scan(raw: bytes) -> None:
    btf = BTF.from_bytes(raw, cache=False)
    names = all_names(btf)
    by_name: dict[bytes, list[int]] = {}
    for i, n in enumerate(names):
        if n:
            by_name.setdefault(n, []).append(btf.first_id + i)
    assert btf._sorted_names is None  # built on the first lookup
    btf.find("int")
    assert len(btf._sorted_names) == sum(map(len, by_name.values()))
    for nb, ids in by_name.items():
        assert btf._ids_named(nb) == ids, nb
    for nb in (b"no_such_type_xyz", b"", b"\xff", b"task_struct___x", b"a" * 300):
        assert btf._ids_named(nb) == by_name.get(nb, [])
    for ess in ("task_struct", "cred", "mm_struct", "pid_type", "d_drop", "fput", "sk_buff"):
        assert core._own_ids_essentially_named(btf, ess) == old_flavored_cands(btf, ess), ess


@needs_vmlinux
def test_vmlinux_lookups_do_not_scan_strings(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    btf = BTF.from_bytes(raw, cache=False)

    def no_scan(self: BTF, nb: bytes) -> list[int]:
        raise AssertionError("string table scanned")

    monkeypatch.setattr(BTF, "_local_str_offsets", no_scan)
    btf.find("task_struct")  # builds the index
    assert btf._sorted_names is not None
    n_named = len(btf._sorted_names)
    names = [t.name for t in btf.iter_types(Kind.STRUCT) if t.name][:2000]

    def no_rebuild(self: BTF) -> None:
        raise AssertionError("name index rebuilt")

    # every lookup is two bisections of the name index: O(log n) name reads, not a scan
    reads = 0
    real_name_at = BTF._name_at

    def counting_name_at(self: BTF, off: int) -> bytes:
        nonlocal reads
        reads += 1
        return real_name_at(self, off)

    monkeypatch.setattr(BTF, "_build_name_index", no_rebuild)
    monkeypatch.setattr(BTF, "_name_at", counting_name_at)
    per_lookup = 2 * (n_named.bit_length() + 1)  # bisect_left + bisect_right
    for n in names:
        before = reads
        assert btf.find_all(n, Kind.STRUCT)
        assert 0 < reads - before <= per_lookup, (n, reads - before, per_lookup)
    assert btf.pointer_size == struct.calcsize("P")
    assert btf._str_dict is None


# ---------------------------------------------------------------------- cache
@pytest.fixture
def cdir(tmp_path, monkeypatch: pytest.MonkeyPatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(d))
    monkeypatch.delenv("PYBPF_BTF_CACHE", raising=False)
    return d


def test_key_for_is_content_safe() -> None:
    data = FLAVORED.data
    k = btf_cache.key_for(data)
    assert k == btf_cache.key_for(bytes(data))
    for pos in (0, len(data) // 2, len(data) - 1):
        mod = bytearray(data)
        mod[pos] ^= 1
        assert btf_cache.key_for(bytes(mod)) != k
    assert btf_cache.key_for(data + b"\0") != k


def test_cache_roundtrip_and_validation(cdir) -> None:
    data = FLAVORED.data
    cold = BTF.from_bytes(data, cache=True)
    key = btf_cache.key_for(data)
    f = cdir / f"btf-{key}.idx"
    assert f.exists()
    warm = BTF.from_bytes(data, cache=True)
    assert warm._name_offs is None  # index loaded, no scan
    assert warm._offs == cold._offs and warm._sorted_names == cold._sorted_names
    assert warm._sorted_name_offs == cold._sorted_name_offs
    assert [t.id for t in warm.find_all("foo")] == [t.id for t in cold.find_all("foo")]
    tl, sl, n = cold._tlen, cold._slen, len(data)
    assert btf_cache.load(key, tl, n, sl) is not None
    assert btf_cache.load(key, tl + 4, n, sl) is None
    assert btf_cache.load(key, tl, n + 1, sl) is None
    assert btf_cache.load(key, tl, n, sl + 1) is None
    good = f.read_bytes()
    for pos in range(btf_cache._HDR.size, len(good)):  # any payload byte flipped: rejected
        bad = bytearray(good)
        bad[pos] ^= 0x10
        f.write_bytes(bytes(bad))
        assert btf_cache.load(key, tl, n, sl) is None, pos
    for cut in (0, 10, btf_cache._HDR.size, len(good) - 1):
        f.write_bytes(good[:cut])
        assert btf_cache.load(key, tl, n, sl) is None
        assert BTF.from_bytes(data, cache=True).find("foo___v1").size == 8  # recomputed
    f.write_bytes(b"PYBPFBTFIDX\x01" + good[12:])  # previous format
    assert btf_cache.load(key, tl, n, sl) is None


def test_cache_store_failure_is_silent(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path / "file" / "sub"))
    assert BTF.from_bytes(FLAVORED.data, cache=True).find("foo").name == "foo"
    btf_cache.store("k", 0, btf_cache.Index(array("I"), array("I", [1]), array("I")))  # mismatched: ignored


def test_split_cache_key_includes_base(cdir) -> None:
    split = flavored_builder(base=FLAVORED).to_bytes()
    a = BTF.from_bytes(split, FLAVORED, cache=True)
    assert a._cache_key is not None and a._cache_key != btf_cache.key_for(split)
    assert a._cache_key.startswith(btf_cache.key_for(split) + "-")
    b = BTF.from_bytes(split, FLAVORED, cache=True)
    assert b._name_offs is None and b._sorted_names == a._sorted_names
    assert [t.id for t in b.find_all("foo")] == [t.id for t in a.find_all("foo")]


# ---------------------------------------------------------------------- vmlinux hint
@pytest.fixture
def boot(tmp_path, monkeypatch: pytest.MonkeyPatch):
    p = tmp_path / "boot_id"
    p.write_text("1b4e28ba-2fa1-11d2-883f-0016d3cca427\n")
    monkeypatch.setattr(btf_cache, "_BOOT_ID", str(p))
    return p


def test_hint_roundtrip(cdir, boot, tmp_path) -> None:
    f1, f2 = tmp_path / "a", tmp_path / "b"
    f1.write_bytes(b"x" * 10)
    f2.write_bytes(b"y" * 10)
    st1, st2 = os.stat(f1), os.stat(f2)
    assert btf_cache.hint_key(st1) is None
    btf_cache.store_hint(st1, "a-1")
    assert btf_cache.hint_key(st1) == "a-1"
    assert btf_cache.hint_key(st2) is None  # another file (inode)
    boot.write_text("another-boot\n")
    assert btf_cache.hint_key(st1) is None
    btf_cache.store_hint(st1, "../../etc/x")
    assert btf_cache.hint_key(st1) is None  # not a plain file name
    (cdir / btf_cache._HINT).write_bytes(b"\xff garbage")
    assert btf_cache.hint_key(st1) is None
    boot.write_text("")
    assert btf_cache.hint_key(st1) is None


@needs_vmlinux
def test_load_vmlinux_skips_hashing_with_hint(cdir, boot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BTF, "_loaded", {})
    calls = []
    real_key_for = btf_cache.key_for

    def counting_key_for(data: bytes) -> str:
        calls.append(len(data))
        return real_key_for(data)

    monkeypatch.setattr(btf_cache, "key_for", counting_key_for)
    cold = BTF.load_vmlinux()
    assert len(calls) == 1 and (cdir / btf_cache._HINT).exists()
    key = cold._cache_key
    BTF._loaded.clear()
    warm = BTF.load_vmlinux()
    assert warm is not cold and len(calls) == 1 and warm._cache_key == key
    assert warm._name_offs is None and warm.find("task_struct").size == cold.find("task_struct").size
    boot.write_text("rebooted\n")  # new boot: hashed again, same content key, index reused
    BTF._loaded.clear()
    again = BTF.load_vmlinux()
    assert len(calls) == 2 and again._cache_key == key and again._name_offs is None
    # disabled cache: no hint, no index
    monkeypatch.setenv("PYBPF_BTF_CACHE", "0")
    BTF._loaded.clear()
    nocache = BTF.load_vmlinux()
    assert len(calls) == 2 and nocache._cache_key is None and nocache.find("cred").kind == Kind.STRUCT


# ---------------------------------------------------------------------- reading
@needs_vmlinux
def test_read_vmlinux_same_bytes(raw: bytes) -> None:
    from pybpf.btf import spec

    assert spec._read(VMLINUX_PATH, "vmlinux") == raw  # through mmap where the kernel allows it
    data, st = spec._read(VMLINUX_PATH, "vmlinux", stat=True)
    assert data == raw and st.st_size == len(raw)


def test_mmap_copy_falls_back(tmp_path) -> None:
    from pybpf.btf import spec

    f = tmp_path / "x"
    f.write_bytes(b"abc")
    with open(f, "rb") as fh:
        assert spec._mmap_copy(fh.fileno(), 0) is None
        assert spec._mmap_copy(fh.fileno(), 3) == b"abc"
    r, w = os.pipe()
    try:
        assert spec._mmap_copy(r, 10) is None  # not mappable: the caller reads instead
    finally:
        os.close(r)
        os.close(w)
