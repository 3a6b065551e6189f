"""Names from a small BTF blob, without importing :mod:`pybpf.btf`.

``prog list`` completes names the kernel truncated to 15 characters from the
program's BTF (its ``func_info`` points at a FUNC type), and looks for
``bpf_metadata_*`` variables in a ``.rodata`` map's DATASEC before it formats
them. Program BTF is small, so a linear walk of the type section is enough,
and the CLI's start-up stays free of the full BTF package.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterator

# bytes after the 12-byte header per kind, and per vlen item (include/uapi/linux/btf.h)
_EXTRA = (0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0)
_VLEN = (0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12)
_VAR, _DATASEC = 14, 15


class _Blob:
    __slots__ = ("data", "order", "strs", "strs_end", "types", "types_end")

    def __init__(self, data: bytes) -> None:
        if len(data) < 24:
            raise ValueError("short BTF")
        magic = struct.unpack_from("<H", data)[0]
        self.order = "<" if magic == 0xEB9F else ">" if magic == 0x9FEB else ""
        if not self.order:
            raise ValueError("bad BTF magic")
        hdr_len, toff, tlen, soff, slen = struct.unpack_from(self.order + "5I", data, 4)
        self.data = data
        self.types, self.types_end = hdr_len + toff, hdr_len + toff + tlen
        self.strs, self.strs_end = hdr_len + soff, hdr_len + soff + slen
        if self.types_end > len(data) or self.strs_end > len(data):
            raise ValueError("truncated BTF")

    def name(self, off: int) -> "str | None":
        start = self.strs + off
        stop = self.data.find(b"\0", start, self.strs_end)
        return self.data[start:stop].decode("utf-8", "replace") if off and stop >= 0 else None

    def records(self) -> "Iterator[tuple[int, int, int, int, int]]":
        """(type id, kind, vlen, name offset, position) of every type."""
        pos, tid = self.types, 1
        while pos + 12 <= self.types_end:
            name_off, info = struct.unpack_from(self.order + "2I", self.data, pos)
            kind, vlen = (info >> 24) & 31, info & 0xFFFF
            if kind >= len(_EXTRA):
                raise ValueError("unknown BTF kind")
            yield tid, kind, vlen, name_off, pos
            pos += 12 + _EXTRA[kind] + vlen * _VLEN[kind]
            tid += 1


def btf_type_name(data: bytes, type_id: int) -> "str | None":
    """The name of ``type_id`` in the standalone BTF ``data`` (None if absent or malformed)."""
    try:
        blob = _Blob(data)
        for tid, _kind, _vlen, name_off, _pos in blob.records():
            if tid == type_id:
                return blob.name(name_off)
    except (ValueError, struct.error):
        pass
    return None


def datasec_var_names(data: bytes, sec_id: int) -> "list[str]":
    """Names of the variables in DATASEC ``sec_id`` (empty if it is not one, or on malformed BTF)."""
    try:
        blob = _Blob(data)
        recs = {tid: (kind, vlen, name_off, pos) for tid, kind, vlen, name_off, pos in blob.records()}
        kind, vlen, _n, pos = recs.get(sec_id, (0, 0, 0, 0))
        if kind != _DATASEC:
            return []
        out = []
        for i in range(vlen):
            var_id = struct.unpack_from(blob.order + "I", data, pos + 12 + 12 * i)[0]
            rec = recs.get(var_id)
            if rec is not None and rec[0] == _VAR:
                out.append(blob.name(rec[2]) or "")
        return out
    except (ValueError, struct.error):
        return []
