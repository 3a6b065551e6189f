"""pybpf.btf Builder: every kind, wire format details, split BTF, byte order."""

from __future__ import annotations

import struct

import pytest

from pybpf.btf import (
    BTF, VOID, Array, BTFError, Builder, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func, FuncProto,
    Fwd, Int, IntEncoding, Kind, Linkage, Member, Param, Ptr, Restrict, Struct, TypeTag, Typedef, Union, Var,
    VarSecinfo, Volatile,
)


def every_kind() -> Builder:
    """A Builder holding at least one type of every kind."""
    i = Int("int", 4, signed=True)
    u8 = Int("unsigned char", 1, char=True)
    node = Struct("node", 24)
    node.members += [Member("next", Ptr(node), 0), Member("val", i, 64), Member("flags", i, 96, 3),
                     Member("bytes", Array(u8, i, 4), 128)]
    u = Union("u", 8, [Member("a", i, 0), Member("p", Const(Volatile(Restrict(Ptr(u8)))), 0)])
    proto = FuncProto(i, [Param("n", Ptr(node)), Param("", VOID)])
    fn = Func("walk", proto, Linkage.GLOBAL)
    var = Var("counter", i, Linkage.GLOBAL)
    b = Builder()
    for t in (Typedef("node_t", node), u,
              Enum("e", 4, [EnumValue("NEG", -1), EnumValue("SEVEN", 7)], signed=True),
              Enum("ue", 4, [EnumValue("BIG", 0xFFFFFFFF)]),
              Enum64("e64", 8, [EnumValue("HUGE", 1 << 40), EnumValue("MAX", (1 << 64) - 1)]),
              Enum64("se64", 8, [EnumValue("MIN", -(1 << 63))], signed=True),
              Fwd("later_s"), Fwd("later_u", is_union=True), fn,
              Datasec(".data", 4, [VarSecinfo(var, 0, 4)]),
              Float("double", 8), DeclTag("kfunc", fn), DeclTag("arg0", fn, 0),
              Ptr(TypeTag("user", u8)), TypeTag("attr", i, attribute=True),
              Int("_Bool", 1, bool=True), Int("bf", 4, bits=5, offset=3)):
        b.add(t)
    return b


def test_every_kind_roundtrip() -> None:
    b = every_kind()
    data = b.to_bytes()
    btf = BTF.from_bytes(data)
    assert {t.kind for t in btf} == set(Kind) - {Kind.UNKN}
    assert btf.to_bytes() == data
    assert Builder().to_bytes() == BTF.from_bytes(Builder().to_bytes()).to_bytes()

    node = btf.find("node")
    assert isinstance(node, Struct) and node.kind_flag
    assert [m.name for m in node.members] == ["next", "val", "flags", "bytes"]
    assert node.member("next").type.type is node
    assert node.member("flags").bitfield_size == 3 and node.member("flags").bit_offset == 96
    assert btf.type_name(node.member("bytes").type) == "unsigned char[4]"
    assert btf.type_name(btf.find("u").member("p").type).startswith("unsigned char *")
    assert btf.find("e").values == [EnumValue("NEG", -1), EnumValue("SEVEN", 7)]
    assert btf.find("e").signed and not btf.find("ue").signed
    assert btf.find("ue").value("BIG") == 0xFFFFFFFF
    assert btf.find("e64").value("MAX") == (1 << 64) - 1
    assert btf.find("se64").value("MIN") == -(1 << 63)
    assert btf.find("later_u").is_union and not btf.find("later_s").is_union
    fn = btf.find("walk", Kind.FUNC)
    assert fn.linkage == Linkage.GLOBAL and fn.proto.variadic
    assert btf.type_name(fn) == "int walk(struct node *, ...)"
    ds = btf.find(".data")
    assert ds.vars[0].type.name == "counter" and ds.vars[0].type.linkage == Linkage.GLOBAL
    tags = btf.find_all("arg0") + btf.find_all("kfunc")
    assert sorted(t.component_idx for t in tags) == [-1, 0]
    assert all(t.type is fn for t in tags)
    assert btf.find("attr", Kind.TYPE_TAG).attribute and not btf.find("user").attribute
    assert btf.find("_Bool").bool and btf.find("unsigned char").char and btf.find("int").signed
    assert btf.find("int").encoding == IntEncoding.SIGNED
    bf = btf.find("bf")
    assert (bf.bits, bf.offset, bf.size) == (5, 3, 4)
    assert btf.find("double").size == 8
    assert btf.sizeof("node_t") == 24 and btf.alignof("node") == 8
    assert btf.member_offset("node_t", "bytes[3]")[0] == 19


def test_wire_format_exact() -> None:
    b = Builder()
    i = Int("int", 4, signed=True)
    assert b.add(Ptr(i)) == 1
    assert b.add(i) == 2
    data = b.to_bytes()
    magic, ver, flags, hdr_len, toff, tlen, soff, slen = struct.unpack_from("<HBBIIIII", data)
    assert (magic, ver, flags, hdr_len, toff) == (0xEB9F, 1, 0, 24, 0)
    assert (tlen, soff) == (12 + 16, 12 + 16) and data[24 + soff:] == b"\0int\0"
    ptr = struct.unpack_from("<III", data, 24)
    assert ptr == (0, Kind.PTR << 24, 2)
    assert struct.unpack_from("<IIII", data, 36) == (1, Kind.INT << 24, 4, (1 << 24) | 32)


def test_strings_deduplicated() -> None:
    b = Builder()
    i = Int("int", 4)
    b.add(Struct("s", 8, [Member("int", i, 0), Member("x", i, 32)]))
    b.add(Typedef("x", i))
    data = b.to_bytes()
    assert b.strings.to_bytes() == b"\0s\0int\0x\0" and data.endswith(b"\0s\0int\0x\0")


def test_kind_flag_preserved_without_bitfields() -> None:
    i = Int("int", 4)
    b = Builder()
    b.add(Struct("kf", 4, [Member("a", i, 0)], kind_flag=True))
    b.add(Struct("nokf", 4, [Member("a", i, 0)]))
    btf = b.build()
    assert btf.find("kf").kind_flag and not btf.find("nokf").kind_flag
    assert btf.to_bytes() == b.to_bytes()


def test_big_endian_roundtrip() -> None:
    le = BTF.from_bytes(every_kind().to_bytes())
    bb = Builder(byteorder="big")
    for t in le:
        bb.add(t)
    data = bb.to_bytes()
    assert data[:2] == b"\xeb\x9f"
    be = BTF.from_bytes(data)
    assert be.byteorder == "big"
    assert be.to_bytes() == data
    assert [repr(t) for t in be] == [repr(t) for t in le]
    assert be.find("e64").value("HUGE") == 1 << 40


def test_same_object_added_once_and_ids() -> None:
    b = Builder()
    i = Int("int", 4)
    assert b.add(i) == b.add(i) == b.id_of(i) == 1
    assert b.add(VOID) == 0
    assert b.add_all([Ptr(i), Const(i)]) == [2, 3]
    with pytest.raises(KeyError):
        b.id_of(Int("other", 4))


@pytest.mark.parametrize("t", [
    Struct("big", 4, [Member(f"m{k}", 0, 0) for k in range(0x10000)]),
    Struct("bf", 4, [Member("a", 0, 1 << 24, 1)]),
    Enum("e", 4, [EnumValue("x", 1 << 32)]),
    Enum64("e", 8, [EnumValue("x", 1 << 64)]),
    Int("i", 4, bits=300),
    Int("bad\0name", 4),
    Array(0, 0, -1),
])
def test_unencodable(t) -> None:
    b = Builder()
    b.add(t)
    with pytest.raises(BTFError):
        b.to_bytes()


def test_split_builder_ids_and_strings() -> None:
    base_b = Builder()
    i = Int("int", 4, signed=True)
    base_b.add(i)
    base_b.add(Struct("shared", 4, [Member("v", i, 0)]))
    base = base_b.build()
    sb = Builder(base=base)
    s = Struct("mine", 8, [Member("v", base.find("int"), 0), Member("p", Ptr(base.find("shared")), 0)])
    assert sb.add(s) == base.last_id + 1
    data = sb.to_bytes()
    split = BTF.from_bytes(data, base=base)
    assert split.find("mine").member("v").type is base.find("int")
    assert split.find("shared") is base.find("shared")
    assert data[24 + split._tlen:] == b"mine\0p\0"  # "v" and "int" come from the base
    assert split.to_bytes() == data
    # a split BTF on a split BTF
    sb2 = Builder(base=split)
    sb2.add(Typedef("mine_t", split.find("mine")))
    top = sb2.build()
    assert top.first_id == split.last_id + 1
    assert top.resolve("mine_t") is split.find("mine")
    assert len(top.find_all("int")) == 1


def test_add_btf_requires_empty_builder() -> None:
    btf = every_kind().build()
    b = Builder()
    b.add(Int("x", 4))
    with pytest.raises(BTFError):
        b.add_btf(btf)
