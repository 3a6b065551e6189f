"""The kernel's program tag (``bpftool prog show`` ``tag``), computed offline.

The kernel computes the tag in ``bpf_prog_calc_tag()`` (kernel/bpf/core.c), called
first thing in the verifier's ``resolve_pseudo_ldimm64()`` (renamed
``check_and_resolve_insns()`` in recent kernels), i.e. over the instructions *exactly
as loaded by user space*, before any verifier rewrite (map fd -> map pointer, helper
inlining, ...). The only normalization: for every ``lddw`` whose ``src`` is
``BPF_PSEUDO_MAP_FD`` or ``BPF_PSEUDO_MAP_VALUE`` (not MAP_IDX/MAP_IDX_VALUE, which
are stable) the ``imm`` of both halves is zeroed, because fds are unstable.

The digest is SHA-1 up to Linux 6.17 and SHA-256 from Linux 6.18 (introduced with
signed BPF programs); the tag is the first 8 bytes of it, as 16 hex digits.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any, Iterable

from pybpf.errors import AssemblerError

from .insn import encode

__all__ = ["program_tag", "tag_algorithm_for_kernel"]

_SLOT = struct.Struct("<BBhi")


def tag_algorithm_for_kernel(release: str | None = None) -> str:
    """``"sha256"`` for Linux >= 6.18, else ``"sha1"`` (default: the running kernel)."""
    from .._sys.kver import kernel_version, parse_release

    v = kernel_version() if release is None else parse_release(release)
    if not v or v == (0, 0, 0):
        return "sha256"
    return "sha256" if v[:2] >= (6, 18) else "sha1"


def _normalized(data: bytes) -> bytes:
    if len(data) % 8:
        raise AssemblerError(f"instruction bytes length {len(data)} is not a multiple of 8")
    out = bytearray(data)
    was_ld_map = False
    for i, (code, regs, off, _imm) in enumerate(_SLOT.iter_unpack(data)):
        src = regs >> 4
        if not was_ld_map and code == 0x18 and src in (1, 2):
            was_ld_map = True
            out[i * 8 + 4:i * 8 + 8] = b"\0\0\0\0"
        elif was_ld_map and code == 0 and regs == 0 and off == 0:
            was_ld_map = False
            out[i * 8 + 4:i * 8 + 8] = b"\0\0\0\0"
        else:
            was_ld_map = False
    return bytes(out)


def program_tag(program: bytes | bytearray | memoryview | Iterable[Any],
                algorithm: str = "auto") -> str:
    """The kernel's 8-byte program tag as 16 lowercase hex digits.

    ``program`` is instruction bytes or instructions (references must be resolved).
    ``algorithm`` is ``"sha1"`` (Linux <= 6.17), ``"sha256"`` (Linux >= 6.18) or
    ``"auto"``: the one the running kernel uses (:func:`pybpf._sys.kver.kernel_version`).
    """
    if isinstance(program, (bytes, bytearray, memoryview)):
        data = bytes(program)
    else:
        data = encode(program)
    if algorithm == "auto":
        algorithm = tag_algorithm_for_kernel()
    if algorithm not in ("sha1", "sha256"):
        raise AssemblerError(f"unknown tag algorithm {algorithm!r} (expected 'sha1' or 'sha256')")
    return hashlib.new(algorithm, _normalized(data)).digest()[:8].hex()
