"""The control-flow graph of ``bpftool prog dump xlated ... visual`` (a port of bpftool's cfg.c).

Functions start at instruction 0 and at every bpf-to-bpf call target; basic
blocks start at function starts, jump targets and after conditional jumps.
Each function gets an ENTRY (index 0) and EXIT (index 1) block; real blocks are
numbered from 2 in address order. Quirks are bpftool's: function indices
follow discovery order, an ``exit`` falls through to the next block.
"""

from __future__ import annotations

import dataclasses
import struct

__all__ = ["Block", "Func", "build_cfg", "dot_insn", "dot_escape", "shorten_path"]


@dataclasses.dataclass
class Block:
    idx: int
    head: int = -1
    tail: int = -1
    succs: list[tuple[int, int]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Func:
    idx: int
    start: int
    end: int = 0
    bbs: list[Block] = dataclasses.field(default_factory=list)


def _decode(code: bytes) -> list[tuple[int, int, int]]:
    """(opcode, src_reg, off) of every 8-byte slot."""
    return [(c, r >> 4, off) for c, r, off, _imm in struct.iter_unpack("<BBhi", code[:len(code) // 8 * 8])]


def build_cfg(code: bytes) -> list[Func]:
    """Functions (in address order) with their blocks and successor edges."""
    slots = _decode(code)
    n = len(slots)
    if not n:
        return []
    starts: dict[int, int] = {0: 0}
    for cur, (op, src, off) in enumerate(slots):
        if op == 0x85 and src == 1:
            t = cur + off + 1
            if t not in starts:
                starts[t] = len(starts)
    order = sorted(starts)
    funcs = [Func(starts[s], s) for s in order]
    for f, nxt in zip(funcs, order[1:] + [n]):
        f.end = nxt - 1
    for f in funcs:
        heads = {f.start}
        for cur in range(f.start, f.end + 1):
            op, _src, off = slots[cur] if cur < n else (0, 0, 0)
            if op & 0x07 not in (0x05, 0x06):
                continue
            jop = op & 0xF0
            if jop in (0x90, 0x80):
                continue
            heads.add(cur + off + 1)
            if jop != 0x00:
                heads.add(cur + 1)
        real = [Block(0, h) for h in sorted(heads)]
        for k, bb in enumerate(real):
            bb.tail = real[k + 1].head - 1 if k + 1 < len(real) else f.end
            bb.idx = k + 2
        entry, exit_ = Block(0), Block(1)
        f.bbs = [entry] + real + [exit_]
        by_head = {bb.head: bb for bb in real}
        entry.succs.append((0, real[0].idx))
        for k, bb in enumerate(real):
            after = f.bbs[k + 2]
            op, _src, off = slots[bb.tail] if 0 <= bb.tail < n else (0, 0, 0)
            jop = op & 0xF0
            if op & 0x07 not in (0x05, 0x06) or jop in (0x80, 0x90):
                bb.succs.append((bb.idx, after.idx))
                continue
            target = by_head.get(bb.tail + off + 1)
            if jop == 0x00:
                if target is not None:
                    bb.succs.append((bb.idx, target.idx))
                continue
            bb.succs.append((bb.idx, after.idx))
            if target is not None:
                bb.succs.append((bb.idx, target.idx))
    return funcs


def dot_insn(text: str) -> str:
    """One disassembled instruction as a record-label line (bpftool's print_insn_for_graph)."""
    s = (text + "\n")[:63]
    out = []
    for c in s:
        if c == "\n":
            out.append("\\l\\\n")
        elif c in "<>|&":
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def dot_escape(s: str) -> str:
    """bpftool's dotlabel_puts()."""
    return "".join("\\" + c if c in '\\"{}<>| ' else c for c in s)


def shorten_path(path: str) -> str:
    """bpftool's shorten_path(): at most the last 32 characters, cut at a '/'."""
    if len(path) <= 32:
        return path
    i = path.find("/", len(path) - 32)
    if i >= 0:
        return path if i < 3 else path[i:]
    i = path.rfind("/")
    return path[i:] if i >= 0 else path
