"""pybpf.btf.values: BTF-typed codecs for map keys/values."""

from __future__ import annotations

import ctypes
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.btf import (
    Array, Builder, Const, Enum, Enum64, EnumValue, Float, Int, Member, Ptr, Struct, Typedef, Union, Volatile,
)
from pybpf.btf.values import (
    ArrayCodec, BytesCodec, CodecError, EnumInt, StrCodec, StructValue, UnionValue, asdict, codec_for,
    ctypes_type, value_class,
)
from pybpf.errors import Error

U8 = Int("unsigned char", 1)
S8 = Int("signed char", 1, signed=True)
CHAR = Int("char", 1, signed=True)
U16 = Int("short unsigned int", 2)
S16 = Int("short int", 2, signed=True)
U32 = Int("unsigned int", 4)
S32 = Int("int", 4, signed=True)
U64 = Int("long long unsigned int", 8)
S64 = Int("long long int", 8, signed=True)
LONG = Int("long int", 8, signed=True)
BOOL = Int("_Bool", 1, bool=True)
I128 = Int("__int128", 16, signed=True)
U128 = Int("unsigned __int128", 16)


def build(*types):
    b = Builder()
    ids = [b.add(t) for t in types]
    btf = b.build()
    return (btf, *ids)


def codec(t):
    btf, tid = build(t)
    return codec_for(btf, tid)


# ---------------------------------------------------------------------- scalars
@pytest.mark.parametrize("t,fmt", [(U8, "B"), (S8, "b"), (U16, "H"), (S16, "h"), (U32, "I"), (S32, "i"),
                                   (U64, "Q"), (S64, "q")])
def test_int_roundtrip(t, fmt):
    c = codec(t)
    lo, hi = (0, (1 << (8 * t.size)) - 1) if not t.signed else (-(1 << (8 * t.size - 1)), (1 << (8 * t.size - 1)) - 1)
    for v in (lo, hi, 0, 1):
        raw = struct.pack("<" + fmt, v)
        assert c.encode(v) == raw
        assert c.decode(raw) == v
    with pytest.raises(CodecError, match="out of range"):
        c.encode(hi + 1)
    with pytest.raises(CodecError, match="out of range"):
        c.encode(lo - 1)
    with pytest.raises(CodecError, match="expected an int"):
        c.encode("x")
    with pytest.raises(CodecError, match="expected"):
        c.decode(b"\0" * (t.size + 1))


def test_bool_128_float_ptr():
    assert codec(BOOL).decode(b"\x01") is True
    assert codec(BOOL).encode(False) == b"\0"
    c = codec(I128)
    assert c.size == 16
    assert c.decode(c.encode(-(1 << 100))) == -(1 << 100)
    assert codec(U128).decode(b"\xff" * 16) == (1 << 128) - 1
    with pytest.raises(CodecError):
        codec(U128).encode(-1)
    assert codec(Float("double", 8)).decode(struct.pack("<d", 1.5)) == 1.5
    assert codec(Float("float", 4)).encode(2) == struct.pack("<f", 2.0)
    p = codec(Ptr(Struct("task_struct", 0)))
    assert p.size == 8 and p.decode(b"\x10" + b"\0" * 7) == 16
    assert "task_struct" in p.name


def test_bytes_passthrough():
    c = codec(U32)
    assert c.encode(b"\x01\x02\x03\x04") == b"\x01\x02\x03\x04"
    assert c.encode(bytearray(4)) == b"\0" * 4
    with pytest.raises(CodecError, match="4 raw bytes"):
        c.encode(b"\x01")


def test_modifiers_resolved():
    t = Typedef("u32_t", Const(Volatile(Typedef("__u32", U32))))
    c = codec(t)
    assert c.decode(b"\x05\0\0\0") == 5


# ---------------------------------------------------------------------- enums
COLOR = Enum("color", 4, [EnumValue("RED", 0), EnumValue("GREEN", 1), EnumValue("BLUE", 7)])


def test_enum():
    c = codec(COLOR)
    v = c.decode(b"\x07\0\0\0")
    assert isinstance(v, EnumInt) and isinstance(v, int)
    assert v == 7 and str(v) == "BLUE" and repr(v) == "BLUE" and v.name == "BLUE" and f"{v}" == "BLUE"
    assert f"{v:d}" == "7"
    assert c.encode("GREEN") == b"\x01\0\0\0"
    assert c.encode(7) == c.encode(v) == b"\x07\0\0\0"
    unknown = c.decode(b"\x09\0\0\0")
    assert unknown == 9 and unknown.name is None and repr(unknown) == "color(9)" and str(unknown) == "9"
    with pytest.raises(CodecError, match="no enumerator 'PURPLE'.*RED, GREEN, BLUE"):
        c.encode("PURPLE")
    cls = type(v)
    assert cls.GREEN == 1 and cls["RED"] == 0 and "RED" in cls and len(cls) == 3
    assert [m.name for m in cls] == ["RED", "GREEN", "BLUE"]
    assert c.decode_many(b"\x00\0\0\0\x01\0\0\0") == [0, 1]


def test_enum_signed_and_64():
    e = Enum("neg", 4, [EnumValue("MINUS", -1), EnumValue("ONE", 1)], signed=True)
    c = codec(e)
    assert c.decode(b"\xff\xff\xff\xff").name == "MINUS"
    assert c.encode("MINUS") == b"\xff" * 4
    e64 = Enum64("big", 8, [EnumValue("HUGE", 1 << 40), EnumValue("SMALL", 3)])
    c = codec(e64)
    assert c.size == 8
    assert c.decode((1 << 40).to_bytes(8, "little")).name == "HUGE"
    assert c.encode("SMALL") == (3).to_bytes(8, "little")


# ---------------------------------------------------------------------- arrays
def test_char_array_is_str():
    c = codec(Array(CHAR, U32, 8))
    assert isinstance(c, StrCodec)
    assert c.decode(b"bash\0xyz") == "bash"
    assert c.decode(b"12345678") == "12345678"
    assert c.encode("bash") == b"bash\0\0\0\0"
    assert c.encode("12345678") == b"12345678"
    with pytest.raises(CodecError, match="longer than 8"):
        c.encode("123456789")
    assert c.decode(c.encode("h\xe9")) == "h\xe9"
    # undecodable bytes survive a round trip
    raw = b"\xff\xfe\0\0\0\0\0\0"
    assert c.encode(c.decode(raw)) == raw


def test_u8_array_is_bytes_and_others_are_lists():
    c = codec(Array(Typedef("__u8", U8), U32, 6))
    assert isinstance(c, BytesCodec)
    mac = b"\x00\x11\x22\x33\x44\x55"
    assert c.decode(mac) == mac
    assert c.encode(b"\x01") == b"\x01" + b"\0" * 5
    assert c.encode([1, 2, 3]) == b"\x01\x02\x03\0\0\0"
    with pytest.raises(CodecError):
        c.encode(b"\0" * 7)
    btf, tid = build(Array(U8, U32, 6))
    assert codec_for(btf, tid, byte_arrays="str").decode(b"eth0\0\0") == "eth0"
    assert codec_for(btf, tid).decode(b"eth0\0\0") == b"eth0\0\0"
    with pytest.raises(ValueError):
        codec_for(btf, tid, byte_arrays="list")
    c = codec(Array(U32, U32, 4))
    assert isinstance(c, ArrayCodec)
    raw = struct.pack("<4I", 1, 2, 3, 4)
    assert c.decode(raw) == [1, 2, 3, 4]
    assert c.encode([1, 2]) == struct.pack("<4I", 1, 2, 0, 0)
    assert c.encode((1, 2, 3, 4)) == raw
    with pytest.raises(CodecError, match="5 elements do not fit 4"):
        c.encode([0] * 5)
    with pytest.raises(CodecError, match=r"\[1\]"):
        c.encode([1, -1])
    c2 = codec(Array(Array(S16, U32, 2), U32, 3))
    assert c2.decode(struct.pack("<6h", 1, 2, 3, 4, 5, -6)) == [[1, 2], [3, 4], [5, -6]]
    assert c2.encode([[1, 2], [3]]) == struct.pack("<6h", 1, 2, 3, 0, 0, 0)
    ce = codec(Array(COLOR, U32, 2))
    assert [str(x) for x in ce.decode(struct.pack("<2I", 7, 0))] == ["BLUE", "RED"]
    assert ce.encode(["GREEN"]) == struct.pack("<2I", 1, 0)


# ---------------------------------------------------------------------- structs
TASK = Struct("task_info", 32, [
    Member("pid", U32, 0), Member("uid", U32, 32), Member("comm", Array(CHAR, U32, 16), 64),
    Member("ts", U64, 192),
])


def test_struct_basics():
    btf, tid = build(TASK)
    c = codec_for(btf, tid)
    assert codec_for(btf, "struct task_info") is c  # cached
    raw = struct.pack("<II16sQ", 1, 1000, b"bash", 99)
    v = c.decode(raw)
    assert isinstance(v, StructValue)
    assert (v.pid, v.uid, v.comm, v.ts) == (1, 1000, "bash", 99)
    assert repr(v) == "task_info(pid=1, uid=1000, comm='bash', ts=99)"
    assert v.to_dict() == {"pid": 1, "uid": 1000, "comm": "bash", "ts": 99}
    assert v == {"pid": 1, "uid": 1000, "comm": "bash", "ts": 99}
    assert v == c.decode(raw) and v != c.decode(raw[:-1] + b"\1") and hash(v) == hash(c.decode(raw))
    pid, uid, comm, ts = v  # tuple unpacking
    assert c.encode(v) == raw == bytes(v)
    assert c.encode({"pid": 1, "uid": 1000, "comm": "bash", "ts": 99}) == raw
    assert c.encode({"pid": 1}) == struct.pack("<II16sQ", 1, 0, b"", 0)
    assert c.encode((1, 1000, "bash", 99)) == raw
    assert c.encode(None) == bytes(32)
    v2 = v._replace(pid=2)
    assert v2.pid == 2 and v.pid == 1 and v2.comm == "bash"
    cls = value_class(btf, tid)
    assert cls(pid=5).pid == 5 and cls(pid=5).comm == "" and cls(5, 6).uid == 6
    with pytest.raises(CodecError, match="no field 'nope'.*pid, uid, comm, ts"):
        c.encode({"nope": 1})
    with pytest.raises(CodecError, match=r"task_info\.pid: .*out of range"):
        c.encode({"pid": -1})
    with pytest.raises(CodecError, match=r"task_info\.comm"):
        c.encode({"comm": "x" * 17})
    with pytest.raises(CodecError, match="expected 32 bytes, got 31"):
        c.decode(raw[:-1])
    with pytest.raises(AttributeError):
        v.pid = 3  # immutable


def test_struct_object_with_attributes_and_padding():
    t = Struct("padded", 16, [Member("a", U8, 0), Member("b", U64, 64)])
    c = codec(t)
    raw = c.encode({"a": 1, "b": 2})
    assert raw == b"\x01" + b"\0" * 7 + struct.pack("<Q", 2)  # padding stays zero

    class Obj:
        a = 3
        b = 4
    assert c.decode(c.encode(Obj())).to_dict() == {"a": 3, "b": 4}
    # padding bytes in the input are ignored when decoding
    assert c.decode(b"\x01" + b"\xff" * 7 + struct.pack("<Q", 2)).to_dict() == {"a": 1, "b": 2}


def test_nested_and_anonymous_members():
    inner = Struct("point", 8, [Member("x", S32, 0), Member("y", S32, 32)])
    anon_u = Union("", 8, [Member("addr", U64, 0), Member("words", Array(U32, U32, 2), 0)])
    anon_s = Struct("", 4, [Member("flags", U16, 0), Member("kind", COLOR if False else U16, 16)])
    outer = Struct("shape", 28, [
        Member("origin", inner, 0), Member("", anon_u, 64), Member("", anon_s, 128),
        Member("pts", Array(inner, U32, 1), 160),
    ])
    c = codec(outer)
    v = c.decode(c.encode({"origin": {"x": -1, "y": 2}, "addr": 0x1_0000_0002, "flags": 5, "kind": 6,
                           "pts": [{"x": 7}]}))
    assert v.origin.x == -1 and v.origin.y == 2
    assert v.addr == 0x1_0000_0002 and v.words == [2, 1]  # union members overlap
    assert v.flags == 5 and v.kind == 6
    assert v.pts[0].x == 7
    assert v.to_dict() == {"origin": {"x": -1, "y": 2}, "addr": 0x1_0000_0002, "words": [2, 1], "flags": 5,
                           "kind": 6, "pts": [{"x": 7, "y": 0}]}
    assert "addr=4294967298" in repr(v) and "flags=5" in repr(v)
    assert c.encode(v) == c.encode(v.to_dict())
    assert v._replace(flags=9).flags == 9
    assert hash(v) == hash(c.decode(c.encode(v)))


def test_empty_struct_and_memoryview_input():
    c = codec(Struct("empty", 0, []))
    assert c.size == 0 and c.decode(b"") == c.zero() and repr(c.decode(b"")) == "empty()"
    assert c.encode({}) == b""
    btf, tid = build(TASK)
    c = codec_for(btf, tid)
    raw = struct.pack("<II16sQ", 1, 2, b"sh", 3)
    assert c.decode(memoryview(raw)) == c.decode(bytearray(raw)) == c.decode(raw)


def test_member_names_shadowing_methods():
    t = Struct("odd", 12, [Member("count", U32, 0), Member("index", U32, 32), Member("to_dict", U32, 64)])
    c = codec(t)
    v = c.decode(struct.pack("<3I", 1, 2, 3))
    assert (v.count, v.index, v.to_dict) == (1, 2, 3)
    assert asdict(v) == {"count": 1, "index": 2, "to_dict": 3}


def test_union():
    u = Union("val", 8, [Member("u64", U64, 0), Member("bytes", Array(U8, U32, 8), 0),
                         Member("lo", U32, 0)])
    btf, tid = build(u)
    c = codec_for(btf, tid)
    v = c.decode(struct.pack("<Q", 0x0102030405060708))
    assert isinstance(v, UnionValue)
    assert v.u64 == 0x0102030405060708 and v.lo == 0x05060708 and v.bytes == bytes([8, 7, 6, 5, 4, 3, 2, 1])
    assert c.encode(v) == struct.pack("<Q", 0x0102030405060708)
    assert c.encode({"lo": 5}) == struct.pack("<Q", 5)
    w = v._replace(lo=0)
    assert w.u64 == 0x0102030400000000 and v.lo == 0x05060708
    assert v == c.decode(bytes(v)) and len({v, c.decode(bytes(v))}) == 1
    cls = value_class(btf, tid)
    assert cls(lo=1).u64 == 1
    with pytest.raises(CodecError, match="no member 'x'"):
        c.encode({"x": 1})
    assert "u64=72623859790382856" in repr(v)


# ---------------------------------------------------------------------- bitfields
BF = Struct("bf", 16, [
    Member("a", U32, 0, 3), Member("b", S32, 3, 5), Member("c", COLOR, 8, 4), Member("d", BOOL, 12, 1),
    Member("e", U64, 13, 40), Member("x", U16, 64), Member("f", S64, 80, 33),
])


def test_bitfields_roundtrip_and_errors():
    c = codec(BF)
    v = c.decode(c.encode(dict(a=5, b=-3, c="GREEN", d=True, e=(1 << 40) - 1, x=7, f=-(1 << 32))))
    assert (v.a, v.b, str(v.c), v.d, v.e, v.x, v.f) == (5, -3, "GREEN", True, (1 << 40) - 1, 7, -(1 << 32))
    with pytest.raises(CodecError, match=r"bf\.a: 8 does not fit a 3-bit unsigned bitfield"):
        c.encode({"a": 8})
    with pytest.raises(CodecError, match=r"bf\.b"):
        c.encode({"b": 16})


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=16, max_size=16))
def test_bitfields_match_ctypes(raw):
    btf, tid = build(BF)
    c = codec_for(btf, tid)
    ct = ctypes_type(btf, tid)
    assert ctypes.sizeof(ct) == 16
    obj = ct.from_buffer_copy(raw)
    v = c.decode(raw)
    for name in ("a", "b", "c", "e", "x", "f"):
        assert int(getattr(v, name)) == getattr(obj, name), name
    assert v.d == bool(obj.d)
    # re-encoding keeps every bit that belongs to a member
    again = c.decode(c.encode(v))
    assert again == v


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 7), st.integers(-16, 15), st.integers(0, 15), st.integers(0, (1 << 40) - 1),
       st.integers(-(1 << 32), (1 << 32) - 1))
def test_bitfields_encode_matches_ctypes(a, b, cc, e, f):
    btf, tid = build(BF)
    c = codec_for(btf, tid)
    ct = ctypes_type(btf, tid)
    obj = ct(a=a, b=b, c=cc, e=e, f=f)
    assert c.encode({"a": a, "b": b, "c": cc, "e": e, "f": f}) == bytes(obj)


# ---------------------------------------------------------------------- fast paths
def test_simple_struct_decodes_in_one_unpack(monkeypatch):
    # what makes decoding cheap: a struct of plain scalars decodes with one generated
    # struct.unpack straight into its value tuple (no per-field codec calls), and
    # decode_many is one iter_unpack over the buffer (no per-value decode call)
    t = Struct("event", 16, [Member("pid", U32, 0), Member("uid", U32, 32), Member("ts", U64, 64)])
    c = codec(t)
    assert c._simple
    raws = [struct.pack("<IIQ", i, i * 2, i * 3) for i in range(100_000)]

    def slow_path(*a, **kw):
        raise AssertionError("per-field / per-value decode called")

    with monkeypatch.context() as m:
        for f in c.fields:
            m.setattr(type(f.codec), "decode", slow_path)
            m.setattr(type(f.codec), "decode_many", slow_path)
        vals = [c.decode(r) for r in raws]
        m.setattr(type(c), "decode", slow_path)
        many = c.decode_many(b"".join(raws))
    assert vals[12345].ts == 12345 * 3 and vals[12345].uid == 12345 * 2
    assert type(vals[0]) is c.cls and tuple(vals[99_999]) == (99_999, 99_999 * 2, 99_999 * 3)
    assert many == vals


# ---------------------------------------------------------------------- hypothesis: random layouts
_SCALARS = [U8, S8, U16, S16, U32, S32, U64, S64, BOOL]


@st.composite
def _structs(draw):
    members, off = [], 0
    for i in range(draw(st.integers(1, 8))):
        t = draw(st.sampled_from(_SCALARS + ["arr", "bits"]))
        if t == "arr":
            t = Array(draw(st.sampled_from([U8, U16, U32, CHAR])), U32, draw(st.integers(1, 5)))
        elif t == "bits":
            nbits = draw(st.integers(1, 31))
            members.append(Member(f"m{i}", U32 if draw(st.booleans()) else S32, off * 8, nbits))
            off += (nbits + 7) // 8
            continue
        esize = t.type.size if isinstance(t, Array) else t.size
        size = esize * (t.nelems if isinstance(t, Array) else 1)
        off = (off + esize - 1) // esize * esize
        members.append(Member(f"m{i}", t, off * 8))
        off += size
    return Struct("rnd", (off + 7) // 8 * 8, members)


@settings(max_examples=150, deadline=None)
@given(_structs(), st.data())
def test_random_struct_roundtrip(t, data):
    btf, tid = build(t)
    c = codec_for(btf, tid)
    assert c.size == t.size
    raw = data.draw(st.binary(min_size=c.size, max_size=c.size))
    v = c.decode(raw)
    assert c.decode(c.encode(v)) == v
    assert c.decode(c.encode(v.to_dict())) == v
    assert c.decode_many(raw * 3) == [v, v, v]
    ct = ctypes_type(btf, tid)
    assert ctypes.sizeof(ct) == c.size
    obj = ct.from_buffer_copy(raw)
    for m in t.members:
        got = getattr(v, m.name)
        want = getattr(obj, m.name)
        if isinstance(got, str):
            assert want.split(b"\0")[0] == got.encode("utf-8", "surrogateescape").split(b"\0")[0]
        elif isinstance(got, bytes):
            assert bytes(want) == got
        elif isinstance(got, list):
            assert list(want) == got
        elif isinstance(got, bool):
            assert got == bool(want)
        else:
            assert int(got) == int(want), m.name


def test_codec_errors_are_pybpf_errors():
    assert issubclass(CodecError, Error) and issubclass(CodecError, ValueError)
    with pytest.raises(CodecError, match="incomplete"):
        from pybpf.btf import Fwd
        codec(Ptr(Fwd("x")).type)
