"""``bpftool prog dump jited`` listings: per-function native code with symbols and source lines.

Disassembly goes through capstone (:mod:`pybpf.jit_disasm`). Without it the
``opcodes`` form still works: the image is listed as raw bytes, 16 per line.
"""

from __future__ import annotations

from typing import Any

from .jit_disasm import CAPSTONE_HINT, available, disassemble
from .prog_dump import DumpInfo, func_proto, linfo_json, linfo_plain

__all__ = ["jited_plain", "jited_json", "functions"]


def functions(info: DumpInfo) -> list[tuple[str, str, int, bytes, int]]:
    """(proto, symbol, index, code, address) of each JITed function; one unnamed entry
    when the kernel reports no function lengths."""
    code = info.jited
    if not info.jited_func_lens:
        return [("", "", 0, code, 0)]
    syms: dict[int, str] = {}
    if info.jited_ksyms:
        from .asm import KallsymsResolver

        syms = KallsymsResolver().symbols
    out = []
    pos = 0
    for i, n in enumerate(info.jited_func_lens):
        if info.jited_ksyms and i < len(info.jited_ksyms):
            addr = info.jited_ksyms[i]
            sym = syms.get(addr) or f"0x{addr:016x}"
        else:
            addr, sym = 0, "unknown"
        proto = ""
        if info.btf is not None and i < len(info.func_info):
            proto = func_proto(info.btf, info.func_info[i][1])
        out.append((proto, sym, i, code[pos:pos + n], addr))
        pos += n
    return out


def _linfo_at(info: DumpInfo) -> dict[int, int]:
    """JITed address -> index into line_info (first record for each address)."""
    at: dict[int, int] = {}
    for k, addr in enumerate(info.jited_line_info):
        at.setdefault(addr, k)
    return at


def _insns(code: bytes, addr: int) -> list[tuple[int, bytes, str, list[str]]]:
    if not available():
        return [(o, code[o:o + 16], "", []) for o in range(0, len(code), 16)]
    out = []
    for ins in disassemble(code, addr):
        ops = [t for t in _split_ops(ins.op_str) if t]
        out.append((ins.offset, ins.data, ins.text, [ins.mnemonic] + ops))
    return out


def _split_ops(s: str) -> list[str]:
    for c in ",()":
        s = s.replace(c, " ")
    return s.split()


def jited_plain(info: DumpInfo, opcodes: bool = False, linum: bool = False) -> str:
    if not opcodes and not available():
        from .errors import Error

        raise Error(CAPSTONE_HINT)
    lines = _linfo_at(info) if info.line_info and info.btf is not None else {}
    out: list[str] = []
    funcs = functions(info)
    for proto, sym, _i, code, addr in funcs:
        if sym:
            if proto:
                out.append(proto + ":\n")
            out.append(sym + ":\n")
        for off, data, text, _parts in _insns(code, addr):
            k = lines.get(addr + off) if addr else None
            if k is not None:
                out.append(linfo_plain(info.btf, info.line_info[k], linum))
            if text:
                out.append(f"{off:4x}:\t{text}")
                if opcodes:
                    out.append("\n\t" + "".join(f"{b:02x} " for b in data))
            else:
                out.append(f"{off:4x}:\t" + " ".join(f"{b:02x}" for b in data))
            out.append("\n")
        if sym:
            out.append("\n")
    return "".join(out)


def jited_json(info: DumpInfo, opcodes: bool = False, linum: bool = False) -> Any:
    if not available():
        from .errors import Error

        raise Error(CAPSTONE_HINT)
    lines = _linfo_at(info) if info.line_info and info.btf is not None else {}
    funcs = functions(info)
    result: list[Any] = []
    for proto, sym, _i, code, addr in funcs:
        insns = []
        for off, data, _text, parts in _insns(code, addr):
            o: dict[str, Any] = {}
            k = lines.get(addr + off) if addr else None
            if k is not None:
                linfo_json(info.btf, o, info.line_info[k], linum)
            o["pc"] = f"0x{off:x}"
            o["operation"] = parts[0]
            o["operands"] = parts[1:] or [None]
            if opcodes:
                o["opcodes"] = [f"0x{b:02x}" for b in data]
            insns.append(o)
        if not sym:
            return insns
        f: dict[str, Any] = {}
        if proto:
            f["proto"] = proto
        f["name"] = sym
        f["insns"] = insns
        result.append(f)
    return result
