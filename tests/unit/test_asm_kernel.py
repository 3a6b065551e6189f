"""Checks against the running kernel and bpftool: program tag and xlated dump.

Needs root, a BPF-capable kernel and bpftool; skipped otherwise. Self-contained
(raw bpf(2) through ctypes) so that it tests only pybpf.asm.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import shutil
import struct
import subprocess

import pytest

from pybpf.asm import KallsymsResolver, disassemble, encode, program_tag

from test_asm_disasm import _kernel_program

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(platform.system() != "Linux" or os.geteuid() != 0, reason="needs root on Linux"),
]

_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine())


def _bpf(cmd: int, attr: bytes) -> tuple[int, bytes]:
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ret = libc.syscall(_SYS_BPF, cmd, buf, len(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret, buf.raw


def _load(insns: bytes) -> int:
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = struct.pack("<IIQQ", 1, len(insns) // 8, ctypes.addressof(code), ctypes.addressof(lic))
    fd, _ = _bpf(5, attr.ljust(160, b"\0"))  # BPF_PROG_LOAD, socket filter
    return fd


def _info(fd: int, fields: dict[int, tuple[str, int]] | None = None) -> bytes:
    info = bytearray(256)
    for off, (fmt, value) in (fields or {}).items():
        struct.pack_into(fmt, info, off, value)
    buf = ctypes.create_string_buffer(bytes(info), 256)
    _bpf(15, struct.pack("<IIQ", fd, 256, ctypes.addressof(buf)))  # BPF_OBJ_GET_INFO_BY_FD
    return buf.raw


def _skip_if_kernel_lacks(exc: OSError) -> None:
    """Skip when a feature probe confirms the kernel lacks what this module needs (bpf(2), array
    maps, socket filters); any other failure is a bug in the assembled program, and fails."""
    if exc.errno not in (errno.EPERM, errno.ENOSYS):
        return
    from pybpf import MapType, ProgramType, features

    if not features.has_map_type(MapType.ARRAY):
        pytest.skip(f"map type ARRAY not supported by this kernel (bpf(2): {exc})")
    if not features.has_program_type(ProgramType.SOCKET_FILTER):
        pytest.skip(f"program type SOCKET_FILTER not supported by this kernel (bpf(2): {exc})")


@pytest.fixture(scope="module")
def loaded() -> tuple[int, int, int]:
    if _SYS_BPF is None:
        pytest.skip(f"bpf(2) syscall number unknown for {platform.machine()} in this test")
    try:
        mfd, _ = _bpf(0, struct.pack("<IIIII", 2, 4, 8, 1, 0).ljust(72, b"\0"))  # array map
    except OSError as exc:
        _skip_if_kernel_lacks(exc)
        raise
    try:
        fd = _load(encode(_kernel_program(mfd)))
    except OSError as exc:
        os.close(mfd)
        _skip_if_kernel_lacks(exc)
        raise
    info = _info(fd)
    yield fd, mfd, struct.unpack_from("<I", info, 4)[0]
    os.close(fd)
    os.close(mfd)


def test_tag_matches_kernel(loaded: tuple[int, int, int]) -> None:
    fd, mfd, _ = loaded
    assert _info(fd)[8:16].hex() == program_tag(_kernel_program(mfd))


@pytest.mark.skipif(shutil.which("bpftool") is None, reason="needs bpftool")
def test_xlated_matches_bpftool(loaded: tuple[int, int, int]) -> None:
    fd, _, prog_id = loaded
    info = _info(fd)
    xlen = struct.unpack_from("<I", info, 20)[0]
    nks = struct.unpack_from("<I", info, 104)[0]
    xbuf = ctypes.create_string_buffer(xlen)
    ks = (ctypes.c_uint64 * max(nks, 1))()
    _info(fd, {20: ("<I", xlen), 32: ("<Q", ctypes.addressof(xbuf)),
               104: ("<I", nks), 112: ("<Q", ctypes.addressof(ks))})
    resolver = KallsymsResolver(jited_ksyms=list(ks)[:nks])
    for opcodes in (False, True):
        args = ["bpftool", "prog", "dump", "xlated", "id", str(prog_id)] + (["opcodes"] if opcodes else [])
        theirs = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        # bpftool embeds the kernel's disassembler of its own version: try the latest and 6.1 (bpftool v7.1)
        ours = {disassemble(xbuf.raw, "xlated", call_resolver=resolver, opcodes=opcodes, version=v)
                for v in (None, (6, 1))}
        assert theirs in ours
