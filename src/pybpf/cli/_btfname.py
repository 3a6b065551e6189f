"""The name of one type in a small BTF blob, without importing :mod:`pybpf.btf`.

``prog list`` completes names the kernel truncated to 15 characters from the
program's BTF (its ``func_info`` points at a FUNC type). Program BTF is small,
so a linear walk of the type section is enough, and the CLI's start-up stays
free of the full BTF package.
"""

from __future__ import annotations

import struct

# bytes after the 12-byte header per kind, and per vlen item (include/uapi/linux/btf.h)
_EXTRA = (0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0)
_VLEN = (0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12)


def btf_type_name(data: bytes, type_id: int) -> "str | None":
    """The name of ``type_id`` in the standalone BTF ``data`` (None if absent or malformed)."""
    if len(data) < 24 or type_id < 1:
        return None
    magic = struct.unpack_from("<H", data)[0]
    order = "<" if magic == 0xEB9F else ">" if magic == 0x9FEB else None
    if order is None:
        return None
    hdr_len, toff, tlen, soff, slen = struct.unpack_from(order + "5I", data, 4)
    pos, end = hdr_len + toff, hdr_len + toff + tlen
    if end > len(data):
        return None
    tid = 1
    while pos + 12 <= end:
        name_off, info = struct.unpack_from(order + "2I", data, pos)
        kind, vlen = (info >> 24) & 31, info & 0xFFFF
        if kind >= len(_EXTRA):
            return None
        if tid == type_id:
            start = hdr_len + soff + name_off
            stop = data.find(b"\0", start, hdr_len + soff + slen)
            if not name_off or stop < 0:
                return None
            return data[start:stop].decode("utf-8", "replace")
        pos += 12 + _EXTRA[kind] + vlen * _VLEN[kind]
        tid += 1
    return None

