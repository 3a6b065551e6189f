"""``bpftool btf dump ... format raw``: every BTF type as one record, text or JSON.

Works straight on the wire format of a :class:`pybpf.btf.BTF` blob (its
``data``; split BTF resolves names and ids through ``base``), so listing all
of vmlinux does not decode a Python object per type. Text lines are
bpftool's, e.g. ``[1] INT 'long unsigned int' size=8 bits_offset=0 nr_bits=64
encoding=(none)``, members on tab-indented lines below their type.
"""

from __future__ import annotations

import struct
import sys
from typing import Any, Iterable, Iterator

__all__ = ["RawBTF", "raw_text", "raw_json", "KIND_NAMES", "btf_from_elf"]

KIND_NAMES = ["UNKNOWN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE", "CONST",
              "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64"]
_EXTRA = [0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0]
_VLEN = [0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12]
_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_VAR_LINK = {0: "static", 1: "global", 2: "extern"}
_FUNC_LINK = {0: "static", 1: "global", 2: "extern"}


class RawBTF:
    """Record offsets and string access over one BTF blob (and its base for split BTF)."""

    def __init__(self, data: bytes, base: "RawBTF | None" = None) -> None:
        self.data, self.base = data, base
        order = "<" if data[:2] == b"\x9f\xeb" else ">"
        self.o = order
        hdr_len, toff, tlen, soff, slen = struct.unpack_from(order + "IIIII", data, 4)
        self.tstart: int = hdr_len + toff
        self.tend: int = hdr_len + toff + tlen
        self.sstart: int = hdr_len + soff
        self.slen: int = slen
        self.str_base: int = base.str_base + base.slen if base is not None else 0
        self.first_id: int = base.first_id + len(base.offs) if base is not None else 1
        self.offs: list[int] = self._scan()
        self._names: dict[int, str] = {}
        self.u32 = struct.Struct(order + "I").unpack_from
        self.u32x3 = struct.Struct(order + "III").unpack_from
        self.i32 = struct.Struct(order + "i").unpack_from

    @classmethod
    def from_btf(cls, btf: Any) -> "RawBTF":
        """From a parsed :class:`pybpf.btf.BTF` (its raw ``data`` and ``base`` chain)."""
        base = cls.from_btf(btf.base) if getattr(btf, "base", None) is not None else None
        return cls(bytes(btf.data), base)

    def _scan(self) -> list[int]:
        data, o = self.data, self.o
        unpack = struct.Struct(o + "I").unpack_from
        offs: list[int] = []
        app = offs.append
        pos, end = self.tstart, self.tend
        extra, vlen = _EXTRA, _VLEN
        while pos < end:
            app(pos)
            info = unpack(data, pos + 4)[0]
            k = (info >> 24) & 0x1F
            pos += 12 + (extra[k] if k < 20 else 0) + (info & 0xFFFF) * (vlen[k] if k < 20 else 0)
        return offs

    @property
    def last_id(self) -> int:
        return self.first_id + len(self.offs) - 1

    def name(self, off: int) -> str:
        """bpftool's btf_str(): ``(anon)`` for offset 0."""
        if not off:
            return "(anon)"
        s = self._names.get(off)
        if s is None:
            if off < self.str_base and self.base is not None:
                s = self.base.name(off)
            else:
                rel = off - self.str_base
                if rel >= self.slen:
                    s = "(invalid)"
                else:
                    a = self.sstart + rel
                    s = self.data[a:self.data.index(b"\0", a)].decode("utf-8", "surrogateescape")
            self._names[off] = s
        return s

    def header(self, tid: int) -> "tuple[int, int, int] | None":
        """(name_off, info, size_or_type) of any id (base ids included)."""
        if tid < self.first_id:
            return self.base.header(tid) if self.base is not None else None
        idx = tid - self.first_id
        if idx >= len(self.offs):
            return None
        return self.u32x3(self.data, self.offs[idx])

    # ------------------------------------------------------------------ records
    def record(self, tid: int, as_json: bool) -> Any:
        if tid < self.first_id:
            if self.base is not None and tid > 0:
                return self.base.record(tid, as_json)
            return {"id": 0, "kind": "UNKNOWN", "name": "(anon)"} if as_json else "[0] UNKNOWN '(anon)'\n"
        idx = tid - self.first_id
        pos = self.offs[idx]
        name_off, info, st = self.u32x3(self.data, pos)
        k = (info >> 24) & 0x1F
        vlen, kflag = info & 0xFFFF, info >> 31
        kn = KIND_NAMES[k] if k < 20 else "UNKNOWN"
        nm = self.name(name_off)
        p = pos + 12
        data, u32, u32x3 = self.data, self.u32, self.u32x3
        if as_json:
            o: dict[str, Any] = {"id": tid, "kind": kn, "name": nm}
        else:
            head = f"[{tid}] {kn} '{nm}'"
        if k == 1:
            v = u32(data, p)[0]
            enc, off, bits = _ENC.get((v >> 24) & 0x0F, "UNKN"), (v >> 16) & 0xFF, v & 0xFF
            if as_json:
                o.update(size=st, bits_offset=off, nr_bits=bits, encoding=enc)
                return o
            return f"{head} size={st} bits_offset={off} nr_bits={bits} encoding={enc}\n"
        if k in (2, 8, 9, 10, 11, 18):
            if as_json:
                o["type_id"] = st
                return o
            return f"{head} type_id={st}\n"
        if k == 3:
            t, it, n = u32x3(data, p)
            if as_json:
                o.update(type_id=t, index_type_id=it, nr_elems=n)
                return o
            return f"{head} type_id={t} index_type_id={it} nr_elems={n}\n"
        if k in (4, 5):
            ms = [u32x3(data, p + 12 * i) for i in range(vlen)]
            if as_json:
                mem = []
                for mn, mt, mo in ms:
                    d: dict[str, Any] = {"name": self.name(mn), "type_id": mt,
                                         "bits_offset": mo & 0xFFFFFF if kflag else mo}
                    if kflag and mo >> 24:
                        d["bitfield_size"] = mo >> 24
                    mem.append(d)
                o.update(size=st, vlen=vlen, members=mem)
                return o
            parts = [f"{head} size={st} vlen={vlen}"]
            name = self.name
            for mn, mt, mo in ms:
                if kflag:
                    bs = mo >> 24
                    parts.append(f"\n\t'{name(mn)}' type_id={mt} bits_offset={mo & 0xFFFFFF}"
                                 + (f" bitfield_size={bs}" if bs else ""))
                else:
                    parts.append(f"\n\t'{name(mn)}' type_id={mt} bits_offset={mo}")
            parts.append("\n")
            return "".join(parts)
        if k in (6, 19):
            enc = "SIGNED" if kflag else "UNSIGNED"
            vals = []
            for i in range(vlen):
                if k == 6:
                    n_off, val = struct.unpack_from(self.o + ("Ii" if kflag or as_json else "II"), data, p + 8 * i)
                    if as_json and not kflag and val < 0:
                        val += 1 << 64  # bpftool's jsonw_uint_field() of the s32 member sign-extends
                else:
                    n_off, lo, hi = u32x3(data, p + 12 * i)
                    val = (hi << 32) | lo
                    if kflag and val >= 1 << 63:
                        val -= 1 << 64
                vals.append((self.name(n_off), val))
            if as_json:
                o.update(encoding=enc, size=st, vlen=vlen, values=[{"name": a, "val": b} for a, b in vals])
                return o
            suffix = ("LL" if kflag else "ULL") if k == 19 else ""
            return f"{head} encoding={enc} size={st} vlen={vlen}" + "".join(
                f"\n\t'{a}' val={b}{suffix}" for a, b in vals) + "\n"
        if k == 7:
            fk = "union" if kflag else "struct"
            if as_json:
                o["fwd_kind"] = fk
                return o
            return f"{head} fwd_kind={fk}\n"
        if k == 12:
            lk = _FUNC_LINK.get(vlen, "(unknown)")
            if as_json:
                o.update(type_id=st, linkage=lk)
                return o
            return f"{head} type_id={st} linkage={lk}\n"
        if k == 13:
            ps = [struct.unpack_from(self.o + "II", data, p + 8 * i) for i in range(vlen)]
            if as_json:
                o.update(ret_type_id=st, vlen=vlen, params=[{"name": self.name(a), "type_id": b} for a, b in ps])
                return o
            return f"{head} ret_type_id={st} vlen={vlen}" + "".join(
                f"\n\t'{self.name(a)}' type_id={b}" for a, b in ps) + "\n"
        if k == 14:
            lk = _VAR_LINK.get(u32(data, p)[0], "(unknown)")
            if as_json:
                o.update(type_id=st, linkage=lk)
                return o
            return f"{head} type_id={st}, linkage={lk}\n"
        if k == 15:
            vs = [u32x3(data, p + 12 * i) for i in range(vlen)]
            if as_json:
                o.update(size=st, vlen=vlen, vars=[{"type_id": a, "offset": b, "size": c} for a, b, c in vs])
                return o
            parts = [f"{head} size={st} vlen={vlen}"]
            for a, b, c in vs:
                parts.append(f"\n\ttype_id={a} offset={b} size={c}")
                if a <= self.last_id:
                    h = self.header(a)
                    if h is not None:
                        vk = (h[1] >> 24) & 0x1F
                        parts.append(f" ({KIND_NAMES[vk] if vk < 20 else 'UNKNOWN'} '{self.name(h[0])}')")
            parts.append("\n")
            return "".join(parts)
        if k == 16:
            if as_json:
                o["size"] = st
                return o
            return f"{head} size={st}\n"
        if k == 17:
            ci = self.i32(data, p)[0]
            if as_json:
                o.update(type_id=st, component_idx=ci)
                return o
            return f"{head} type_id={st} component_idx={ci}\n"
        return o if as_json else head + "\n"

    def ids(self) -> range:
        """This blob's own type ids (bpftool dumps a split BTF without its base)."""
        return range(self.first_id, self.first_id + len(self.offs))


def raw_text(raw: RawBTF, ids: Iterable[int] | None = None, out: Any = None, chunk: int = 4096) -> None:
    """Write the text listing of ``ids`` (default: all of the blob's types) to ``out`` (stdout)."""
    out = out or sys.stdout
    rec = raw.record
    buf: list[str] = []
    for tid in (raw.ids() if ids is None else ids):
        buf.append(rec(tid, False))
        if len(buf) >= chunk:
            out.write("".join(buf))
            buf.clear()
    out.write("".join(buf))


def raw_json(raw: RawBTF, ids: Iterable[int] | None = None) -> dict[str, Any]:
    """``{"types": [...]}`` as ``bpftool -j btf dump`` prints it."""
    return {"types": [raw.record(t, True) for t in (raw.ids() if ids is None else ids)]}


def iter_records(raw: RawBTF) -> Iterator[str]:
    for tid in raw.ids():
        yield raw.record(tid, False)


def btf_from_elf(data: bytes) -> "bytes | None":
    """The ``.BTF`` section of an ELF object (32/64-bit, either byte order), or None."""
    if data[:4] != b"\x7fELF" or len(data) < 64:
        return None
    is64, o = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(o + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(o + "HHH", data, 0x3A)
        fmt, name_at, off_at = o + "IIQQQQ", 0, (4, 5)
    else:
        shoff, = struct.unpack_from(o + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(o + "HHH", data, 0x2E)
        fmt, name_at, off_at = o + "IIIIII", 0, (4, 5)
    secs = [struct.unpack_from(fmt, data, shoff + i * shentsize) for i in range(shnum)]
    if shstrndx >= len(secs):
        return None
    stroff = secs[shstrndx][off_at[0]]
    for sec in secs:
        start = stroff + sec[name_at]
        if data[start:data.index(b"\0", start)] == b".BTF":
            a, n = sec[off_at[0]], sec[off_at[1]]
            return data[a:a + n]
    return None
