"""Malformed BTF / .BTF.ext: only BTFError, one-line messages, no hangs."""

from __future__ import annotations

import struct
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.btf import (
    BTF, VOID, Array, BTFError, BTFExt, Builder, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func,
    FuncProto, Fwd, Int, Linkage, Member, Param, Ptr, Restrict, Struct, Type, TypeTag, Typedef, Union, Var,
    VarSecinfo, Volatile, type_refs,
)


def sample_builder(base: BTF | None = None) -> Builder:
    i = Int("int", 4, signed=True)
    c = Int("char", 1, char=True)
    node = Struct("node", 24)
    node.members += [Member("next", Ptr(node), 0), Member("val", i, 64), Member("bf", i, 96, 3),
                     Member("name", Array(c, i, 4), 128), Member("", Union("", 4, [Member("anon", i, 0)]), 160)]
    fn = Func("walk", FuncProto(i, [Param("n", Ptr(node)), Param("", VOID)]), Linkage.GLOBAL)
    v = Var("counter", i, Linkage.GLOBAL)
    b = Builder(base=base)
    for t in (Typedef("node_t", node), Const(Volatile(Restrict(Ptr(c)))),
              Enum("e", 4, [EnumValue("A", -1)], signed=True), Enum64("e64", 8, [EnumValue("B", 1 << 40)]),
              Fwd("fwd"), fn, Datasec(".data", 4, [VarSecinfo(v, 0, 4)]), Float("double", 8),
              DeclTag("tag", fn, 0), Ptr(TypeTag("user", c))):
        b.add(t)
    return b


BASE_BLOB = sample_builder().to_bytes()
BASE = BTF.from_bytes(BASE_BLOB)
def _split_blob() -> bytes:
    b = Builder(base=BASE)
    b.add(Struct("mine", 8, [Member("n", Ptr(BASE.find("node")), 0), Member("x", BASE.find("int"), 0)]))
    return b.to_bytes()


SPLIT_BLOB = _split_blob()


def exercise(data: bytes, base: BTF | None = None) -> None:
    """Parse and touch everything; must raise nothing but BTFError."""
    try:
        btf = BTF.from_bytes(data, base)
    except BTFError as e:
        assert "\n" not in str(e)
        return
    for tid in range(btf.first_id, btf.last_id + 1):
        try:
            t = btf[tid]
            repr(t)
            btf.type_name(t)
            for holder, ref in type_refs(t):
                r = ref if isinstance(ref, Type) else (holder[ref] if holder is not None else None)
                repr(r)
            if t.name:
                btf.find_all(t.name)
                btf.find(t.name, t.kind)
            try:
                btf.sizeof(t)
            except BTFError:
                pass
            try:
                btf.alignof(t)
            except BTFError:
                pass
            members = getattr(t, "members", None)
            if members:
                for m in members[:4]:
                    if m.name.isidentifier():  # paths are C identifiers; other names are the user's problem
                        btf.member_offset(t, m.name)
        except BTFError as e:
            assert "\n" not in str(e)
    try:
        btf.to_bytes()
    except BTFError:
        pass


#: Python-level calls (functions and builtins) one exercise() may make: the "no hangs"
#: bound, counted instead of timed. The unmutated base blob takes ~5,000; 5,000 mutations
#: of each blob took at most ~14,000 (most fail to parse within a few dozen). The layout
#: and cdecl walkers also have their own depth/node budgets; this bounds all of exercise(),
#: so a runaway pass anywhere (quadratic, exponential, unbounded) fails deterministically.
CALL_BUDGET = 1_000_000


class _OverBudget(BaseException):
    """Raised from the profile hook; a BaseException so no ``except Exception`` in pybpf eats it."""


def bounded_exercise(data: bytes, base: BTF | None = None) -> int:
    """exercise(), counting Python calls; fails once it makes more than CALL_BUDGET."""
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call" or event == "c_call":
            calls += 1
            if calls > CALL_BUDGET:
                sys.setprofile(None)
                raise _OverBudget

    old = sys.getprofile()
    sys.setprofile(count)
    try:
        exercise(data, base)
    except _OverBudget:
        pytest.fail(f"exercise() made more than {CALL_BUDGET} calls on a {len(data)}-byte blob")
    finally:
        sys.setprofile(old)
    return calls


def test_call_budget_counts_work() -> None:
    assert 0 < bounded_exercise(BASE_BLOB) < CALL_BUDGET // 10
    assert 0 < bounded_exercise(SPLIT_BLOB, BASE) < CALL_BUDGET // 10


@st.composite
def mutations(draw, blob: bytes) -> bytes:
    data = bytearray(blob)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "u32", "truncate", "insert", "delete"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "u32":
            pos &= ~3
            val = draw(st.sampled_from([0, 1, 2, 3, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                                        0xFFFFFFFF, len(data), 0x13000001, 0x04000005, 0x8D000002,
                                        0x03000000, 0x0C000000]) | st.integers(0, 2**32 - 1))
            data[pos:pos + 4] = struct.pack("<I", val)
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos:pos + draw(st.integers(1, 16))]
    return bytes(data)


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutations(BASE_BLOB))
def test_fuzz_base(data: bytes) -> None:
    bounded_exercise(data)


@FUZZ
@given(mutations(SPLIT_BLOB))
def test_fuzz_split(data: bytes) -> None:
    bounded_exercise(data, BASE)


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_garbage(data: bytes) -> None:
    bounded_exercise(data)
    bounded_exercise(b"\x9f\xeb\x01\x00" + data)


def _ext_blob() -> bytes:
    o = {s: BASE.find(s).id for s in ("walk", "node")}
    sec = 1  # any valid string offset: "node_t"... use the name of type 1
    rec = struct.pack("<I", 8) + struct.pack("<II", sec, 1) + struct.pack("<II", 0, o["walk"])
    li = struct.pack("<I", 16) + struct.pack("<II", sec, 1) + struct.pack("<IIII", 0, sec, sec, 5 << 10)
    cr = struct.pack("<I", 16) + struct.pack("<II", sec, 1) + struct.pack("<IIII", 0, o["node"], sec, 0)
    hdr = struct.pack("<HBBIIIIIII", 0xEB9F, 1, 0, 32, 0, len(rec), len(rec), len(li), len(rec) + len(li), len(cr))
    return hdr + rec + li + cr


EXT_BLOB = _ext_blob()


def test_ext_blob_valid() -> None:
    ext = BTFExt.from_bytes(EXT_BLOB, BASE)
    assert ext.to_bytes() == EXT_BLOB


@FUZZ
@given(mutations(EXT_BLOB))
def test_fuzz_ext(data: bytes) -> None:
    try:
        ext = BTFExt.from_bytes(data, BASE)
    except BTFError as e:
        assert "\n" not in str(e)
        return
    try:
        ext.to_bytes()
    except BTFError:
        pass


def good_header(**kw: int) -> bytes:
    f = dict(magic=0xEB9F, version=1, flags=0, hdr_len=24, type_off=0, type_len=0, str_off=0, str_len=1)
    f.update(kw)
    return struct.pack("<HBBIIIII", *f.values())


@pytest.mark.parametrize("blob, msg", [
    (b"", "too short"),
    (b"\x9f\xeb\x01", "too short"),
    (b"\x12\x34" + bytes(30), "bad magic"),
    (good_header(version=2) + b"\0", "version"),
    (good_header(flags=1) + b"\0", "flags"),
    (good_header(hdr_len=8) + b"\0", "header length"),
    (good_header(hdr_len=1000) + b"\0", "header length"),
    (good_header(hdr_len=28) + b"\1\0\0\0\0", "header extension"),
    (good_header(str_len=100) + b"\0", "out of bounds"),
    (good_header(type_len=12, str_off=12) + b"\0" * 8 + b"\0", "out of bounds"),
    (good_header(type_off=2, type_len=12, str_off=14) + bytes(14) + b"\0", "aligned"),
    (good_header(type_len=12, str_off=4) + bytes(16), "overlap"),
    (good_header(str_len=2) + b"\0a", "NUL-terminated"),
    (good_header(str_len=2) + b"a\0", "empty string"),
    (good_header(type_len=12, str_off=12) + struct.pack("<III", 0, 0, 0) + b"\0", "unknown kind 0"),
    (good_header(type_len=12, str_off=12) + struct.pack("<III", 0, 25 << 24, 0) + b"\0", "unknown kind 25"),
    (good_header(type_len=12, str_off=12) + struct.pack("<III", 0, 1 << 24, 4) + b"\0", "truncated"),
    (good_header(type_len=16, str_off=16) + struct.pack("<IIII", 0, (4 << 24) | 1, 4, 0) + b"\0", "truncated"),
    (good_header(type_len=8, str_off=8) + struct.pack("<II", 0, 2 << 24) + b"\0", "truncated"),
])
def test_malformed_headers(blob: bytes, msg: str) -> None:
    with pytest.raises(BTFError, match=msg) as ei:
        BTF.from_bytes(blob)
    assert "\n" not in str(ei.value)


def test_bad_references_raise_btf_error() -> None:
    # PTR -> id 77 (absent), name offset past the string table
    blob = good_header(type_len=24, str_off=24, str_len=3) + struct.pack("<III", 0, 2 << 24, 77) \
        + struct.pack("<III", 50, 1 << 24, 4) + struct.pack("<I", 32) + b"\0a\0"
    blob = good_header(type_len=28, str_off=28, str_len=3) + blob[24:]
    btf = BTF.from_bytes(blob)
    with pytest.raises(BTFError, match="no type id 77"):
        btf[1].type
    with pytest.raises(BTFError, match="string offset"):
        btf[2]
    with pytest.raises(BTFError):
        btf.type_name(1)


def test_cycles_raise_btf_error() -> None:
    # typedef 1 -> typedef 2 -> typedef 1; ptr 3 -> ptr 3; array 4 of array 4; struct 5 containing itself
    types = struct.pack("<III", 1, 8 << 24, 2) + struct.pack("<III", 1, 8 << 24, 1) \
        + struct.pack("<III", 0, 2 << 24, 3) + struct.pack("<III", 0, 3 << 24, 0) + struct.pack("<III", 4, 4, 2) \
        + struct.pack("<III", 1, (4 << 24) | 2, 8) + struct.pack("<III", 1, 5, 0) + struct.pack("<III", 1, 5, 32)
    strs = b"\0t\0"
    blob = good_header(type_len=len(types), str_off=len(types), str_len=len(strs)) + types + strs
    btf = BTF.from_bytes(blob)
    for tid in range(1, 6):
        for fn in (btf.resolve, btf.sizeof, btf.alignof, btf.type_name):
            try:
                fn(tid)
            except BTFError:
                pass
    with pytest.raises(BTFError):
        btf.resolve(1)
    with pytest.raises(BTFError):
        btf.type_name(3)
    with pytest.raises(BTFError):
        btf.sizeof(4)
    with pytest.raises(BTFError):
        btf.alignof(5)
    assert btf.member_offset(5, "t.t.t") == (0, btf[5])  # self-containing, but a finite walk
