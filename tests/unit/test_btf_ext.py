"""pybpf.btf.BTFExt on hand-assembled .BTF.ext blobs."""

from __future__ import annotations

import struct
import sys

import pytest

from pybpf.btf import (
    BTF, BTFError, BTFExt, Builder, CoreRelo, CoreReloKind, Func, FuncInfo, FuncProto, Int, LineInfo, Member,
    Struct, core_relo_blob, func_info_blob, line_info_blob,
)

SEC = "kprobe/do_sys_open"
FILE = "/src/prog.c"
LINE = "\treturn ctx->x;"


def make_btf() -> tuple[BTF, dict[str, int]]:
    b = Builder()
    i = Int("int", 4, signed=True)
    main = Func("main_prog", FuncProto(i))
    sub = Func("helper", FuncProto(i))
    st = Struct("ctx", 8, [Member("x", i, 0), Member("y", i, 32)])
    ids = {"main": b.add(main), "sub": b.add(sub), "ctx": b.add(st)}
    offs = {s: b.add_string(s) for s in (SEC, FILE, LINE, "0:1", ".text")}
    btf = b.build()
    offs.update({f"id_{k}": v for k, v in ids.items()})
    return btf, offs


def raw_ext(o: dict[str, int], *, func_rec: int = 8, hdr_len: int = 32, order: str = "<") -> bytes:
    pad = b"\0" * (func_rec - 8)
    fi = struct.pack(order + "I", func_rec)
    fi += struct.pack(order + "II", o[SEC], 2)
    fi += struct.pack(order + "II", 0, o["id_main"]) + pad + struct.pack(order + "II", 80, o["id_sub"]) + pad
    li = struct.pack(order + "I", 16) + struct.pack(order + "II", o[SEC], 1)
    li += struct.pack(order + "IIII", 0, o[FILE], o[LINE], (42 << 10) | 7)
    cr = struct.pack(order + "I", 16) + struct.pack(order + "II", o[SEC], 1)
    cr += struct.pack(order + "IIII", 8, o["id_ctx"], o["0:1"], CoreReloKind.FIELD_BYTE_OFFSET)
    if hdr_len < 32:
        cr = b""
    hdr = struct.pack(order + "HBBIIIII", 0xEB9F, 1, 0, hdr_len, 0, len(fi), len(fi), len(li))
    if hdr_len >= 32:
        hdr += struct.pack(order + "II", len(fi) + len(li), len(cr))
    return hdr + fi + li + cr


def test_parse_synthetic() -> None:
    btf, o = make_btf()
    ext = BTFExt.from_bytes(raw_ext(o), btf)
    assert ext.sections == [SEC]
    fis = ext.func_info[SEC]
    assert fis == [FuncInfo(0, o["id_main"]), FuncInfo(80, o["id_sub"])]
    assert ext.func_type(fis[1]).name == "helper"
    (li,) = ext.line_info[SEC]
    assert (li.insn_off, li.file_name, li.line_text, li.line, li.col) == (0, FILE, LINE, 42, 7)
    (cr,) = ext.core_relos[SEC]
    assert (cr.insn_off, cr.type_id, cr.access_str, cr.kind) == (8, o["id_ctx"], "0:1", CoreReloKind.FIELD_BYTE_OFFSET)
    assert btf[cr.type_id].name == "ctx"
    assert "1 line_info" in repr(ext)
    assert ext.to_bytes() == raw_ext(o)


def test_core_relo_kinds() -> None:
    assert len(CoreReloKind) == 13
    assert CoreReloKind.FIELD_BYTE_OFFSET == 0 and CoreReloKind.TYPE_ID_LOCAL == 6
    assert CoreReloKind.ENUMVAL_VALUE == 11 and CoreReloKind.TYPE_MATCHES == 12


def test_bigger_records_and_short_header() -> None:
    btf, o = make_btf()
    ext = BTFExt.from_bytes(raw_ext(o, func_rec=12), btf)
    assert ext.func_info_rec_size == 12
    assert [f.insn_off for f in ext.func_info[SEC]] == [0, 80]
    old = BTFExt.from_bytes(raw_ext(o, hdr_len=24), btf)
    assert old.core_relos == {} and len(old.line_info[SEC]) == 1


def test_big_endian_ext() -> None:
    btf, o = make_btf()
    ext = BTFExt.from_bytes(raw_ext(o, order=">"), btf)
    assert ext.line_info[SEC][0].line == 42
    assert ext.to_bytes(byteorder="big") == raw_ext(o, order=">")


def test_roundtrip_with_new_string_table() -> None:
    btf, o = make_btf()
    ext = BTFExt.from_bytes(raw_ext(o), btf)
    b = Builder()
    b.add_btf(btf)
    data = ext.to_bytes(strings=b.add_string)
    again = BTFExt.from_bytes(data, b.build())
    assert again.line_info == ext.line_info and again.core_relos == ext.core_relos


def test_kernel_blobs() -> None:
    btf, o = make_btf()
    ext = BTFExt.from_bytes(raw_ext(o), btf)
    fis = [FuncInfo(f.insn_off // 8, f.type_id) for f in ext.func_info[SEC]]
    blob = func_info_blob(fis)
    assert (blob.rec_size, blob.count) == (8, 2)
    p = "<" if sys.byteorder == "little" else ">"
    assert blob.data == struct.pack(p + "IIII", 0, o["id_main"], 10, o["id_sub"])
    lblob = line_info_blob(ext.line_info[SEC])
    assert (lblob.rec_size, lblob.count) == (16, 1)
    assert struct.unpack(p + "IIII", lblob.data) == (0, o[FILE], o[LINE], (42 << 10) | 7)
    cblob = core_relo_blob(ext.core_relos[SEC])
    assert struct.unpack(p + "IIII", cblob.data) == (8, o["id_ctx"], o["0:1"], 0)
    assert func_info_blob([]).data == b""
    with pytest.raises(BTFError):
        func_info_blob([FuncInfo(-1, 0)])


def test_build_from_records() -> None:
    btf, o = make_btf()
    ext = BTFExt(func_info={".text": [FuncInfo(0, o["id_main"])]},
                 line_info={".text": [LineInfo(0, FILE, LINE, 3, 1, 0, 0)]},
                 core_relos={".text": [CoreRelo(0, o["id_ctx"], "0:1", CoreReloKind.FIELD_EXISTS, 0)]}, btf=btf)
    b = Builder()
    b.add_btf(btf)
    data = ext.to_bytes(strings=b.add_string)
    parsed = BTFExt.from_bytes(data, b.build())
    assert parsed.core_relos[".text"][0].kind == CoreReloKind.FIELD_EXISTS
    assert parsed.line_info[".text"][0].line_text == LINE
    with pytest.raises(BTFError):
        ext.to_bytes()  # no recorded offsets and no string table


@pytest.mark.parametrize("mutate, msg", [
    (lambda d: d[:6], "too short"),
    (lambda d: b"\x00\x00" + d[2:], "magic"),
    (lambda d: d[:2] + b"\x02" + d[3:], "version"),
    (lambda d: d[:4] + struct.pack("<I", 16) + d[8:], "header length"),
    (lambda d: d[:40], "past end"),
    (lambda d: d[:32] + struct.pack("<I", 4) + d[36:], "record size"),
    (lambda d: d[:40] + struct.pack("<I", 0) + d[44:], "no records"),
    (lambda d: d[:40] + struct.pack("<I", 1000) + d[44:], "overrun"),
    (lambda d: d[:36] + struct.pack("<I", 99999) + d[40:], "string offset"),
])
def test_malformed(mutate, msg: str) -> None:
    btf, o = make_btf()
    with pytest.raises(BTFError, match=msg):
        BTFExt.from_bytes(mutate(raw_ext(o)), btf)
