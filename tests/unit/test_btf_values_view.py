"""pybpf.btf.values: DatasecView, ctypes_type against kernel BTF, bpftool formatting."""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import random
import struct

import pytest

from pybpf.btf import (
    Array, Builder, Datasec, Enum, Enum64, EnumValue, Float, Int, Kind, Linkage, Member, Ptr, Struct, Typedef,
    Union, Var, VarSecinfo,
)
from pybpf.btf.values import (
    CodecError, DatasecView, ReadOnlyError, codec_for, ctypes_type, dumps_bpftool, format_entry, format_value,
)
from pybpf.errors import Error

VMLINUX = "/sys/kernel/btf/vmlinux"
needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX), reason="no kernel BTF")

U8 = Int("unsigned char", 1)
CHAR = Int("char", 1, signed=True)
U16 = Int("short unsigned int", 2)
U32 = Int("unsigned int", 4)
S32 = Int("int", 4, signed=True)
U64 = Int("long long unsigned int", 8)
S64 = Int("long long int", 8, signed=True)
LONG = Int("long int", 8, signed=True)
BOOL = Int("_Bool", 1, bool=True)


def _bss():
    cfg = Struct("config", 8, [Member("verbose", BOOL, 0), Member("level", U32, 32)])
    vs = [
        Var("counter", U64, Linkage.GLOBAL), Var("name", Array(CHAR, U32, 8), Linkage.GLOBAL),
        Var("cfg", cfg, Linkage.GLOBAL), Var("hidden", S32, Linkage.STATIC),
    ]
    sec = Datasec(".bss", 32, [VarSecinfo(vs[0], 0, 8), VarSecinfo(vs[1], 8, 8), VarSecinfo(vs[2], 16, 8),
                               VarSecinfo(vs[3], 24, 4)])
    b = Builder()
    sid = b.add(sec)
    b.add(LONG)
    return b.build(), sid


# ---------------------------------------------------------------------- DatasecView
def test_datasec_view_release_ends_access_and_frees_the_buffer():
    """The owner (Object.close) releases a view before unmapping its memory: afterwards every
    access is a ClosedError, and nothing of the view pins the mmap any more."""
    from pybpf.errors import ClosedError

    btf, sid = _bss()
    mm = mmap.mmap(-1, mmap.PAGESIZE)
    outer = memoryview(mm)
    view = DatasecView(btf, sid, outer[:32])
    view.counter = 7
    raw = view.raw("counter")
    assert bytes(raw) == struct.pack("<Q", 7)
    view._dsv_release()  # noqa: SLF001 - the owner's hook
    view._dsv_release()  # noqa: SLF001 - idempotent
    for use in (lambda: view.counter, lambda: setattr(view, "counter", 1), lambda: view["counter"],
                view.to_dict, lambda: view.raw("counter"), lambda: view.update(counter=1), lambda: view.readonly):
        with pytest.raises(ClosedError, match=r"section \.bss is closed"):
            use()
    with pytest.raises(ValueError):
        raw[0]  # released with the view
    assert "closed" in repr(view) and "counter" in view and len(view) == 4  # names stay known
    outer.release()
    mm.close()  # no BufferError: the view holds nothing exported from the mapping


def test_datasec_view_bytearray():
    btf, sid = _bss()
    buf = bytearray(32)
    view = DatasecView(btf, sid, buf)
    assert view.counter == 0 and view.name == "" and view.cfg.level == 0
    view.counter = 5
    view.name = "hello"
    view.cfg = {"verbose": True, "level": 3}
    assert buf[:8] == struct.pack("<Q", 5) and buf[8:16] == b"hello\0\0\0"
    assert view.counter == 5 and view.name == "hello" and view.cfg.verbose is True
    assert view["counter"] == 5
    view["hidden"] = -2
    assert view.hidden == -2
    assert dir(view) == ["cfg", "counter", "hidden", "name"]
    assert list(view) == ["counter", "name", "cfg", "hidden"] and "cfg" in view and len(view) == 4
    assert view.to_dict() == {"counter": 5, "name": "hello", "cfg": {"verbose": True, "level": 3}, "hidden": -2}
    view.update(counter=7, name="x")
    assert (view.counter, view.name) == (7, "x")
    assert bytes(view.raw("counter")) == struct.pack("<Q", 7)
    with pytest.raises(AttributeError, match="no variable 'nope'.*counter, name, cfg, hidden"):
        view.nope
    with pytest.raises(AttributeError, match="no variable"):
        view.nope = 1
    with pytest.raises(KeyError):
        view["nope"]
    with pytest.raises(CodecError):
        view.name = "far too long"
    assert "counter=7" in repr(view)
    assert set(DatasecView(btf, ".bss", buf, static_vars=False)) == {"counter", "name", "cfg"}


def test_datasec_view_readonly_and_mmap():
    btf, sid = _bss()
    ro = DatasecView(btf, sid, bytes(32))
    assert ro.readonly and ro.counter == 0
    with pytest.raises(ReadOnlyError, match="read-only") as ei:
        ro.counter = 1
    assert isinstance(ei.value, Error)
    with pytest.raises(ReadOnlyError):
        ro.update(counter=1)
    with mmap.mmap(-1, 4096) as m:
        mv = memoryview(m)
        view = DatasecView(btf, sid, mv)
        view.counter = 0xDEADBEEF
        assert m[:8] == struct.pack("<Q", 0xDEADBEEF)
        assert view.counter == 0xDEADBEEF
        del view
        mv.release()
    with pytest.raises(Exception, match="DATASEC"):
        DatasecView(btf, btf.find("config"), bytearray(8))


def test_datasec_codec():
    btf, sid = _bss()
    c = codec_for(btf, sid)
    v = c.decode(struct.pack("<Q8sIIi4x", 1, b"ab", 1, 2, -1))
    assert v.counter == 1 and v.name == "ab" and v.cfg.level == 2 and v.hidden == -1


# ---------------------------------------------------------------------- ctypes_type vs kernel BTF
@needs_vmlinux
def test_ctypes_vmlinux_sizes_and_offsets():
    from pybpf.btf import BTF
    btf = BTF.load_vmlinux()
    names = [("sk_buff", Kind.STRUCT), ("bpf_attr", Kind.UNION), ("iphdr", Kind.STRUCT), ("ethhdr", Kind.STRUCT),
             ("task_struct", Kind.STRUCT), ("tcphdr", Kind.STRUCT), ("bpf_prog_info", Kind.STRUCT)]
    types = [btf.find(n, k) for n, k in names]
    comps = [t for t in btf.iter_types(Kind.STRUCT)] + [t for t in btf.iter_types(Kind.UNION)]
    types += random.Random(1234).sample(comps, 300)
    for t in types:
        ct = ctypes_type(btf, t)
        assert ctypes.sizeof(ct) == t.size, btf.type_name(t)
        for m in t.members:
            if m.name and not m.bitfield_size and m.name in ct.__dict__:
                assert ct.__dict__[m.name].offset * 8 == m.bit_offset, (btf.type_name(t), m.name)
    iph = ctypes_type(btf, "struct iphdr")
    raw = bytes.fromhex("4500003c1c4640004006b1e6c0a80001c0a800c7")
    h = iph.from_buffer_copy(raw)
    assert (h.version, h.ihl, h.ttl, h.protocol) == (4, 5, 64, 6)
    assert codec_for(btf, "struct iphdr").decode(raw).ihl == 5


@needs_vmlinux
def test_codec_vmlinux_types():
    from pybpf.btf import BTF
    btf = BTF.load_vmlinux()
    for name in ("struct sk_buff", "union bpf_attr", "struct task_struct", "struct bpf_prog_info",
                 "struct iphdr", "struct ethhdr"):
        c = codec_for(btf, name)
        assert c.size == btf.sizeof(name)
        z = c.decode(bytes(c.size))
        assert c.encode(z) == bytes(c.size)
    eth = codec_for(btf, "struct ethhdr").decode(b"\x00\x11\x22\x33\x44\x55" * 2 + b"\x08\x00")
    assert eth.h_dest == b"\x00\x11\x22\x33\x44\x55" and eth.h_proto == 8
    # random bytes through a sample of every struct/union: decode -> encode -> decode is stable
    rng = random.Random(99)
    comps = list(btf.iter_types(Kind.STRUCT)) + list(btf.iter_types(Kind.UNION))
    for t in rng.sample(comps, 600):
        c = codec_for(btf, t)
        raw = memoryview(bytes(rng.randrange(256) for _ in range(min(c.size, 4096))).ljust(c.size, b"\0"))
        v = c.decode(raw)
        assert c.decode(c.encode(v)) == v, btf.type_name(t)


# ---------------------------------------------------------------------- bpftool formatting
def _fmt_btf():
    e = Enum("state", 4, [EnumValue("IDLE", 0), EnumValue("BUSY", 1), EnumValue("NEG", -1 & 0xFFFFFFFF)])
    e64 = Enum64("big", 8, [EnumValue("HUGE", 1 << 40)])
    inner = Union("", 4, [Member("i", S32, 0), Member("u", U32, 0)])
    val = Struct("value", 64, [
        Member("message", Array(CHAR, U32, 12), 0),
        Member("raw", Array(CHAR, U32, 4), 96),
        Member("st", e, 128), Member("flags", U32, 160, 3), Member("more", U32, 163, 5),
        Member("ptr", Ptr(U32), 192), Member("ok", BOOL, 256), Member("neg", S64, 320),
        Member("", inner, 384), Member("b", e64, 448),
    ])
    b = Builder()
    vid = b.add(val)
    kid = b.add(U32)
    b.add(LONG)
    return b.build(), kid, vid


def _raw_value(st=1, neg=-5, ptr=0xFFFF888001, big=1 << 40):
    return (b"Hi user 501!" + b"ab\x01\0" + struct.pack("<I", st) + bytes([0b1010_1101, 0, 0, 0])
            + struct.pack("<Q", ptr) + b"\x01" + b"\0" * 7 + struct.pack("<q", neg) + struct.pack("<i", -2)
            + b"\0" * 4 + struct.pack("<Q", big))


def test_format_value_json_mode():
    btf, kid, vid = _fmt_btf()
    raw = _raw_value()
    # message has no NUL inside its 12 bytes -> not a string; raw has a non-printable -> list
    v = format_value(btf, vid, raw)
    assert v["message"] == [ord(c) for c in "Hi user 501!"]  # signed char elements: numbers
    assert v["raw"] == [97, 98, 1, 0]
    assert v["st"] == "BUSY"
    assert v["flags"] == "0x5" and v["more"] == "0x15"
    assert v["ptr"] == 0xFFFF888001
    assert v["ok"] is True and v["neg"] == -5
    assert v[""] == {"i": -2, "u": 4294967294}
    assert v["b"] == "HUGE"
    json.dumps(v)
    raw2 = b"Hi user 501\0" + raw[12:]
    assert format_value(btf, vid, raw2)["message"] == "Hi user 501"
    assert format_value(btf, vid, _raw_value(st=7))["st"] == 7
    assert format_value(btf, vid, _raw_value(st=0xFFFFFFFF))["st"] == "NEG"
    assert format_value(btf, vid, _raw_value(big=(1 << 64) - 1))["b"] == -1  # jsonw_int() of a u64
    assert format_value(btf, kid, struct.pack("<I", 501)) == 501


def test_format_value_plain_mode_and_writer():
    btf, kid, vid = _fmt_btf()
    raw = b"Hi user 501\0" + _raw_value(ptr=0)[12:]
    e = format_entry(btf, kid, vid, struct.pack("<I", 501), raw, plain_text=True)
    text = dumps_bpftool([e]) + "\n"
    assert text.startswith('[{\n        "key": 501,\n        "value": {\n            "message": "Hi user 501",\n')
    assert '"raw": [97,98,1,0\n            ],' in text
    assert '"flags": 0x5,' in text and '"ptr": "(nil)",' in text
    old = dumps_bpftool([format_entry(btf, kid, vid, struct.pack("<I", 501), raw, plain_text=True,
                                      quote_pointers=False)])
    assert '"ptr": (nil),' in old  # bpftool < 7.3
    assert text.endswith('            "b": "HUGE"\n        }\n    }\n]\n')
    percpu = format_entry(btf, kid, kid, struct.pack("<I", 1), percpu_values=[struct.pack("<I", 5)] * 2)
    assert percpu == {"key": 1, "values": [{"cpu": 0, "value": 5}, {"cpu": 1, "value": 5}]}
    assert dumps_bpftool(percpu).count('"cpu"') == 2
