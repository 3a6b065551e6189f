"""Disassemble JIT-compiled BPF programs (x86-64, arm64) with capstone, when installed.

capstone is an optional dependency (``pip install capstone``); nothing else in
pybpf needs it. Output follows what bpftool prints with its LLVM disassembler:
AT&T syntax on x86-64, one instruction per line as ``"%4x:\\t<mnemonic>\\t<operands>"``.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from .errors import Error, NotSupportedError

__all__ = ["JitInsn", "disassemble", "available", "CAPSTONE_HINT"]

CAPSTONE_HINT = "jited disassembly needs capstone: pip install capstone"


class JitInsn(NamedTuple):
    """One native instruction: offset in the image, its bytes and its text."""

    offset: int
    data: bytes
    mnemonic: str
    op_str: str

    @property
    def text(self) -> str:
        return f"{self.mnemonic}\t{self.op_str}" if self.op_str else self.mnemonic


_engines: dict[str, Any] = {}


def available() -> bool:
    """True when capstone can be imported."""
    try:
        import capstone  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


def _engine(arch: str) -> Any:
    eng = _engines.get(arch)
    if eng is not None:
        return eng
    try:
        import capstone as cs  # type: ignore[import-untyped]
    except ImportError:
        raise Error(CAPSTONE_HINT) from None
    if arch in ("x86_64", "amd64"):
        eng = cs.Cs(cs.CS_ARCH_X86, cs.CS_MODE_64)
        eng.syntax = cs.CS_OPT_SYNTAX_ATT
    elif arch in ("aarch64", "arm64"):
        a = getattr(cs, "CS_ARCH_ARM64", None)
        if a is None:
            a = cs.CS_ARCH_AARCH64  # capstone 6
        eng = cs.Cs(a, cs.CS_MODE_ARM)
    elif arch in ("riscv64",) and hasattr(cs, "CS_ARCH_RISCV"):
        eng = cs.Cs(cs.CS_ARCH_RISCV, cs.CS_MODE_RISCV64 | getattr(cs, "CS_MODE_RISCVC", 0))
    elif arch in ("s390x",) and hasattr(cs, "CS_ARCH_SYSZ"):
        eng = cs.Cs(cs.CS_ARCH_SYSZ, cs.CS_MODE_BIG_ENDIAN)
    else:
        raise NotSupportedError(f"jited disassembly for {arch}", "pybpf knows x86-64 and arm64")
    eng.skipdata = True
    _engines[arch] = eng
    return eng


def disassemble(code: bytes, address: int = 0, arch: str | None = None) -> list[JitInsn]:
    """Decode ``code`` (loaded at ``address``) into instructions; undecodable bytes come
    out as ``.byte`` entries so the listing always covers the whole image."""
    eng = _engine(arch or os.uname().machine)
    out: list[JitInsn] = []
    for ins in eng.disasm(bytes(code), address):
        out.append(JitInsn(int(ins.address) - address, bytes(ins.bytes), ins.mnemonic, ins.op_str))
    return out
