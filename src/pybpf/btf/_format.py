"""Wire-format constants of BTF (``include/uapi/linux/btf.h``).

Only numbers and :mod:`struct` layouts live here; the parser
(:mod:`pybpf.btf.spec`) and the writer (:mod:`pybpf.btf.writer`) share them.
"""

from __future__ import annotations

import struct
from typing import Final

from ..errors import BTFError

MAGIC: Final = 0xEB9F
VERSION: Final = 1
HEADER_SIZE: Final = 24

MAX_TYPE_ID: Final = 0x000FFFFF
MAX_NAME_OFFSET: Final = 0x00FFFFFF
MAX_VLEN: Final = 0xFFFF

#: Deepest chain of typedef/qualifier/array/pointer hops followed before a
#: type graph is declared cyclic (libbpf uses 32; we are a little more lenient).
MAX_RESOLVE_DEPTH: Final = 64

# Per-kind layout, indexed by kind number (0..19): bytes following the common
# 12-byte ``struct btf_type`` header, and the size of one ``vlen`` record.
EXTRA_SIZE: Final = (0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0)
VLEN_SIZE: Final = (0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12)
NR_KINDS: Final = 20

# ``bpf_line_info.line_col`` packing.
LINE_COL_BITS: Final = 10


class Layout:
    """Pre-compiled :class:`struct.Struct` objects for one byte order."""

    __slots__ = ("order", "prefix", "header", "u32", "u32x2", "u32x3", "i32", "u16")

    def __init__(self, order: str) -> None:
        self.order = order
        p = "<" if order == "little" else ">"
        self.prefix = p
        self.header = struct.Struct(p + "HBBIIIII")
        self.u32 = struct.Struct(p + "I")
        self.u32x2 = struct.Struct(p + "II")
        self.u32x3 = struct.Struct(p + "III")
        self.i32 = struct.Struct(p + "i")
        self.u16 = struct.Struct(p + "H")


LITTLE: Final = Layout("little")
BIG: Final = Layout("big")


def layout(order: str) -> Layout:
    """The :class:`Layout` for ``"little"`` or ``"big"``."""
    if order == "little":
        return LITTLE
    if order == "big":
        return BIG
    raise ValueError(f"byte order must be 'little' or 'big', not {order!r}")


def detect_order(data: bytes | memoryview, what: str = "BTF") -> Layout:
    """Byte order from the leading 16-bit magic; BTFError if it is neither."""
    if len(data) < 2:
        raise BTFError(f"{what}: {len(data)} bytes is too short for a header")
    b0, b1 = data[0], data[1]
    if (b0, b1) == (0x9F, 0xEB):
        return LITTLE
    if (b0, b1) == (0xEB, 0x9F):
        return BIG
    raise BTFError(f"{what}: bad magic 0x{b0:02x}{b1:02x} (want 0xeb9f)")
