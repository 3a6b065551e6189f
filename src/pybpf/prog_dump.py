"""What ``bpftool prog dump`` prints: xlated (plain, JSON, Graphviz CFG) and jited listings.

:func:`fetch` reads everything a dump needs from the kernel in one
BPF_OBJ_GET_INFO_BY_FD round (instructions, JIT symbols and function lengths,
func_info/line_info, the program's BTF). :class:`Dumper` renders it exactly
as bpftool does: function prototypes from BTF (``int prog(struct xdp_md * ctx):``),
source lines (``; return XDP_PASS;``, with ``linum`` the
``[file:... line_num:N line_col:M]`` suffix), ``opcodes`` hex lines, and the
control-flow graph of ``visual`` (bpftool's cfg.c, quirks included).
JIT listings need capstone (see :mod:`pybpf.jit_disasm`).
"""

from __future__ import annotations

import ctypes
import dataclasses
import struct
from typing import Any, Optional

from ._sys import cmds
from ._sys.info import ProgInfo

__all__ = ["DumpInfo", "fetch", "func_proto", "Dumper", "linfo_plain", "linfo_json"]


@dataclasses.dataclass
class DumpInfo:
    """One program's code and debug info, as the kernel reports it."""

    xlated: bytes = b""
    jited: bytes = b""
    jited_ksyms: list[int] = dataclasses.field(default_factory=list)
    jited_func_lens: list[int] = dataclasses.field(default_factory=list)
    func_info: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (insn_off, type_id)
    line_info: list[tuple[int, int, int, int]] = dataclasses.field(default_factory=list)  # off, file, line, col
    jited_line_info: list[int] = dataclasses.field(default_factory=list)
    btf: Any = None
    xlated_len: int = 0
    jited_len: int = 0


def fetch(fd: int, jited: bool = False) -> DumpInfo:
    """Everything ``prog dump {xlated|jited}`` shows for the program behind ``fd``."""
    i = cmds.prog_info(fd)
    d = DumpInfo(xlated_len=int(i.xlated_prog_len), jited_len=int(i.jited_prog_len))
    n_code = int(i.jited_prog_len if jited else i.xlated_prog_len)
    nks, nfl = int(i.nr_jited_ksyms), int(i.nr_jited_func_lens)
    nfi, fsz = int(i.nr_func_info), int(i.func_info_rec_size)
    nli, lsz = int(i.nr_line_info), int(i.line_info_rec_size)
    nji, jsz = int(i.nr_jited_line_info), int(i.jited_line_info_rec_size)
    code = ctypes.create_string_buffer(max(n_code, 1))
    ks = (ctypes.c_uint64 * max(nks, 1))()
    fl = (ctypes.c_uint32 * max(nfl, 1))()
    fi = ctypes.create_string_buffer(max(nfi * fsz, 1))
    li = ctypes.create_string_buffer(max(nli * lsz, 1))
    ji = ctypes.create_string_buffer(max(nji * jsz, 1))
    h = ProgInfo(nr_jited_ksyms=nks, jited_ksyms=ctypes.addressof(ks), nr_jited_func_lens=nfl,
                 jited_func_lens=ctypes.addressof(fl), nr_func_info=nfi, func_info_rec_size=fsz,
                 func_info=ctypes.addressof(fi), nr_line_info=nli, line_info_rec_size=lsz,
                 line_info=ctypes.addressof(li), nr_jited_line_info=nji, jited_line_info_rec_size=jsz,
                 jited_line_info=ctypes.addressof(ji))
    if jited:
        h.jited_prog_len, h.jited_prog_insns = n_code, ctypes.addressof(code)
    else:
        h.xlated_prog_len, h.xlated_prog_insns = n_code, ctypes.addressof(code)
    cmds.obj_info(fd, h)
    if jited:
        d.jited = code.raw[:min(n_code, int(h.jited_prog_len))]
    else:
        d.xlated = code.raw[:min(n_code, int(h.xlated_prog_len))]
    d.jited_ksyms = list(ks[:min(nks, int(h.nr_jited_ksyms))])
    d.jited_func_lens = list(fl[:min(nfl, int(h.nr_jited_func_lens))])
    if fsz >= 8:
        d.func_info = [struct.unpack_from("<II", fi.raw, k * fsz) for k in range(int(h.nr_func_info))]
    if lsz >= 16:
        d.line_info = [struct.unpack_from("<IIII", li.raw, k * lsz) for k in range(int(h.nr_line_info))]
    if jsz >= 8:
        d.jited_line_info = [struct.unpack_from("<Q", ji.raw, k * jsz)[0] for k in range(int(h.nr_jited_line_info))]
    if int(i.btf_id):
        from .btf import BTF

        with cmds.fd_by_id("btf", int(i.btf_id)) as bfd:
            d.btf = BTF.from_bytes(cmds.btf_data(bfd.fd))
    return d


# ------------------------------------------------------------------ btf_dumper_type_only
def func_proto(btf: Any, type_id: int) -> str:
    """bpftool's btf_dumper_type_only(): ``int name(struct xdp_md * ctx)`` for a FUNC."""
    try:
        return "".join(_type_only(btf, type_id, []))
    except Exception:  # noqa: BLE001 - bpftool prints nothing when it cannot
        return ""


def _type_only(btf: Any, tid: int, out: list[str]) -> list[str]:
    from .btf.types import Kind

    if not tid:
        out.append("void ")
        return out
    t = btf[tid]
    k = t.kind
    if k in (Kind.INT, Kind.TYPEDEF, Kind.FLOAT):
        out.append(f"{t.name} ")
    elif k == Kind.STRUCT:
        out.append(f"struct {t.name} ")
    elif k == Kind.UNION:
        out.append(f"union {t.name} ")
    elif k in (Kind.ENUM, Kind.ENUM64):
        out.append(f"enum {t.name} ")
    elif k == Kind.ARRAY:
        _type_only(btf, t.type_id, out)
        out.append(f"[{t.nelems}]")
    elif k == Kind.PTR:
        _type_only(btf, t.type_id, out)
        out.append("* ")
    elif k == Kind.FWD:
        out.append(f"{'union' if t.is_union else 'struct'} {t.name} ")
    elif k in (Kind.VOLATILE, Kind.CONST, Kind.RESTRICT):
        out.append({Kind.VOLATILE: "volatile ", Kind.CONST: "const ", Kind.RESTRICT: "restrict "}[k])
        _type_only(btf, t.type_id, out)
    elif k == Kind.FUNC_PROTO:
        _func(btf, t, None, out)
    elif k == Kind.FUNC:
        _func(btf, btf[t.proto_id], t, out)
    elif k == Kind.VAR:
        if int(t.linkage) == 0:
            out.append("static ")
        _type_only(btf, t.type_id, out)
        out.append(f" {t.name}")
    elif k == Kind.DATASEC:
        out.append(f'section ("{t.name}") ')
    else:
        raise ValueError("unprintable type")
    return out


def _func(btf: Any, proto: Any, func: Any, out: list[str]) -> None:
    _type_only(btf, proto.return_type_id or 0, out)
    out.append(f"{func.name}(" if func is not None else "(")
    for n, p in enumerate(proto.params):
        if n:
            out.append(", ")
        if p.type_id:
            _type_only(btf, p.type_id, out)
            if p.name:
                out.append(p.name)
            elif out and out[-1].endswith(" "):
                out[-1] = out[-1][:-1]
        else:
            out.append("...")
    out.append(")")


# ------------------------------------------------------------------------- line info
def btf_str(btf: Any, off: int) -> Optional[str]:
    try:
        return str(btf.string(off)) if btf is not None else None
    except Exception:  # noqa: BLE001 - a bad offset prints nothing, as in bpftool
        return None


def linfo_plain(btf: Any, rec: tuple[int, int, int, int], linum: bool, prefix: str = "; ") -> str:
    """bpftool's btf_dump_linfo_plain(): ``; <source line>`` (+ ``[file:F line_num:N line_col:C]``)."""
    line = btf_str(btf, rec[2])
    if line is None:
        return ""
    line = line.lstrip()
    if linum:
        f = btf_str(btf, rec[1]) or ""
        return f"{prefix}{line} [file:{f} line_num:{rec[3] >> 10} line_col:{rec[3] & 0x3FF}]\n"
    return f"{prefix}{line}\n"


def linfo_json(btf: Any, obj: dict[str, Any], rec: tuple[int, int, int, int], linum: bool) -> None:
    """bpftool's btf_dump_linfo_json(): ``src`` (+ ``file``, ``line_num``, ``line_col``)."""
    line = btf_str(btf, rec[2])
    if line is not None:
        obj["src"] = line.lstrip()
    if linum:
        f = btf_str(btf, rec[1])
        if f is not None:
            obj["file"] = f
        if rec[3] >> 10:
            obj["line_num"] = rec[3] >> 10
        if rec[3] & 0x3FF:
            obj["line_col"] = rec[3] & 0x3FF


# ------------------------------------------------------------------------------ dumper
class Dumper:
    """Renders a :class:`DumpInfo` like bpftool's xlated_dumper.c / jit_disasm.c."""

    def __init__(self, info: DumpInfo, resolver: Any = None) -> None:
        from . import asm

        self.d = info
        self.btf = info.btf
        self.resolver = resolver
        self.insns = asm.decode(info.xlated) if info.xlated else []
        self._fmt = asm.format_instruction
        self.pos: list[int] = []
        p = 0
        for ins in self.insns:
            self.pos.append(p)
            p += ins.size

    # -- helpers
    def _text(self, ins: Any) -> str:
        return self._fmt(ins, "xlated", call_resolver=self.resolver)

    def _raw(self, idx: int) -> bytes:
        return self.d.xlated[idx * 8:(idx + 1) * 8]

    def _lfind(self, off: int, skip: int) -> Optional[tuple[int, int, int, int]]:
        """libbpf's bpf_prog_linfo__lfind()."""
        li = self.d.line_info
        if skip >= len(li) or off < li[skip][0]:
            return None
        j = skip
        while j < len(li) and li[j][0] <= off:
            j += 1
        cand = li[j - 1]
        return cand if cand[0] == off else None

    def _str(self, off: int) -> Optional[str]:
        return btf_str(self.btf, off)

    def _linfo_plain(self, rec: tuple[int, int, int, int], linum: bool, prefix: str = "; ") -> str:
        return linfo_plain(self.btf, rec, linum, prefix)

    def _linfo_json(self, obj: dict[str, Any], rec: tuple[int, int, int, int], linum: bool) -> None:
        linfo_json(self.btf, obj, rec, linum)

    # -- xlated
    def xlated_plain(self, opcodes: bool = False, linum: bool = False) -> str:
        out: list[str] = []
        recs = self.d.func_info if self.btf is not None else []
        r, skip = 0, 0
        for ins, idx in zip(self.insns, self.pos):
            if r < len(recs) and recs[r][0] == idx:
                sig = func_proto(self.btf, recs[r][1])
                if sig:
                    out.append(sig + ":\n")
                r += 1
            if self.d.line_info:
                rec = self._lfind(idx, skip)
                if rec is not None:
                    out.append(self._linfo_plain(rec, linum))
                    skip += 1
            out.append(f"{idx:4d}: {self._text(ins)}\n")
            if opcodes:
                line = "       " + self._raw(idx).hex(" ")
                if ins.size == 2:
                    line += " " + self._raw(idx + 1).hex(" ")
                out.append(line + "\n")
        return "".join(out)

    def xlated_json(self, opcodes: bool = False, linum: bool = False) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        recs = self.d.func_info if self.btf is not None else []
        r, skip = 0, 0
        for ins, idx in zip(self.insns, self.pos):
            o: dict[str, Any] = {}
            if r < len(recs) and recs[r][0] == idx:
                sig = func_proto(self.btf, recs[r][1])
                if sig:
                    o["proto"] = sig
                r += 1
            if self.d.line_info:
                rec = self._lfind(idx, skip)
                if rec is not None:
                    self._linfo_json(o, rec, linum)
                    skip += 1
            o["disasm"] = self._text(ins)
            if opcodes:
                raw = self._raw(idx)
                imm = raw[4:8] + (self._raw(idx + 1) if ins.size == 2 else b"")
                o["opcodes"] = {"code": f"0x{raw[0]:02x}", "src_reg": f"0x{raw[1] >> 4:x}",
                                "dst_reg": f"0x{raw[1] & 0xF:x}", "off": [f"0x{b:02x}" for b in raw[2:4]],
                                "imm": [f"0x{b:02x}" for b in imm]}
            out.append(o)
        return out

    # -- visual: bpftool's cfg.c
    def xlated_dot(self, opcodes: bool = False, linum: bool = False) -> str:
        from .prog_cfg import build_cfg

        funcs = build_cfg(self.d.xlated)
        out = ['digraph "DOT graph for eBPF program" {\n']
        for f in funcs:
            out.append(f'subgraph "cluster_{f.idx}" {{\n\tstyle="dashed";\n\tcolor="black";\n'
                       f'\tlabel="func_{f.idx} ()";\n')
            for bb in f.bbs:
                shape = "Mdiamond" if bb.idx in (0, 1) else "record"
                out.append(f'\tfn_{f.idx}_bb_{bb.idx} [shape={shape},style=filled,label="')
                if bb.idx == 0:
                    out.append("ENTRY")
                elif bb.idx == 1:
                    out.append("EXIT")
                else:
                    out.append("{\\\n")
                    out.append(self._graph_block(bb.head, bb.tail, f.start, opcodes, linum))
                    out.append("}")
                out.append('"];\n\n')
            for bb in f.bbs:
                for src, dst in bb.succs:
                    out.append(f'\tfn_{f.idx}_bb_{src}:s -> fn_{f.idx}_bb_{dst}:n [style="solid,bold", '
                               f"color=black, weight=10, constraint=true];\n")
            out.append(f'\tfn_{f.idx}_bb_0:s -> fn_{f.idx}_bb_1:n [style="invis", constraint=true];\n')
            out.append("}\n")
        out.append("}\n")
        return "".join(out)

    def _graph_block(self, head: int, tail: int, fstart: int, opcodes: bool, linum: bool) -> str:
        from .prog_cfg import dot_insn

        out: list[str] = []
        recs = self.d.func_info if self.btf is not None else []
        r = 0
        last = None
        by_pos = dict(zip(self.pos, self.insns))
        cur = head
        while cur <= tail:
            ins = by_pos.get(cur)
            if ins is None:
                cur += 1
                continue
            off = cur - fstart
            if r < len(recs) and recs[r][0] == off:
                sig = func_proto(self.btf, recs[r][1])
                if sig:
                    out.append(f"; {sig}:\\l\\\n")
                r += 1
            if self.d.line_info:
                rec = self._lfind(off, 0)
                if rec is not None and rec is not last:
                    out.append(self._linfo_dot(rec, linum))
                    last = rec
            out.append(f"{off}: " + dot_insn(self._text(ins)))
            if opcodes:
                line = "\\ \\ \\ \\ " + self._raw(cur).hex(" ")
                if ins.size == 2 and cur + 1 <= tail:
                    line += " " + self._raw(cur + 1).hex(" ")
                out.append(line + "\\l\\\n")
            if cur != tail:
                out.append("| ")
            cur += ins.size
        return "".join(out)

    def _linfo_dot(self, rec: tuple[int, int, int, int], linum: bool) -> str:
        from .prog_cfg import dot_escape, shorten_path

        line = self._str(rec[2])
        if not line:
            return ""
        out = ""
        if linum:
            f = self._str(rec[1]) or ""
            short = shorten_path(f)
            dots = "..." if short != f else ""
            out += f"; [{dots}{dot_escape(short)} line:{rec[3] >> 10} col:{rec[3] & 0x3FF}]\\l\\\n"
        return out + "; " + dot_escape(line.lstrip()) + "\\l\\\n"
