"""Differential tests against LLVM's BPF assembler and disassembler (skipped without LLVM >= 18).

* our ``llvm`` disassembly of random instructions equals what ``llvm-objdump -d`` prints
  (with and without ``--mcpu=v4``, i.e. ``alu32``);
* ``llvm-mc`` assembles our text into exactly our bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from pybpf.asm import Instruction, disassemble, encode

from test_asm_property import (
    addr_space_cast, alu_k, alu_x, atomic, callx, endian, exit_, ja, jmp_k, jmp_x, ldsx, ldx,
    may_goto, movsx, neg, regs, sdiv_smod, st, stx,
)


def _find_llvm() -> tuple[str, str] | None:
    candidates = [os.environ.get("PYBPF_LLVM_BIN", "")]
    candidates += [f"/usr/lib/llvm-{v}/bin" for v in range(30, 17, -1)]
    for d in candidates:
        mc, od = os.path.join(d, "llvm-mc"), os.path.join(d, "llvm-objdump")
        if d and os.access(mc, os.X_OK) and os.access(od, os.X_OK):
            return mc, od
    mc, od = shutil.which("llvm-mc"), shutil.which("llvm-objdump")
    if mc and od:
        out = subprocess.run([mc, "--version"], capture_output=True, text=True).stdout
        m = re.search(r"version (\d+)", out)
        if m and int(m.group(1)) >= 18:
            return mc, od
    return None


LLVM = _find_llvm()
pytestmark = pytest.mark.skipif(LLVM is None, reason="needs llvm-mc and llvm-objdump >= 18")

I = Instruction
# The forms LLVM knows and prints without loss.
llvm_insn = hs.one_of(
    alu_k, alu_x, sdiv_smod, movsx, neg, endian, ldx, ldsx, st, stx, atomic, jmp_k, jmp_x, ja,
    may_goto, callx, exit_, addr_space_cast,
    hs.builds(lambda imm: I(0x06, 0, 0, 0, imm), hs.integers(-(2**15), 2**15 - 1)),
    hs.builds(lambda d, imm: I(0x18, d, 0, 0, imm), regs, hs.integers(0, 2**64 - 1)),
    hs.builds(lambda imm: I(0x85, 0, 0, 0, imm), hs.integers(0, 2**31 - 1)),
    hs.builds(lambda sz, imm: I(0x20 | sz, 0, 0, 0, imm), hs.sampled_from([0x00, 0x08, 0x10]),
              hs.integers(-(2**31), 2**31 - 1)),
    hs.builds(lambda sz, s: I(0x40 | sz, 0, s, 0, 0), hs.sampled_from([0x00, 0x08, 0x10]), regs),
)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def _run(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout


def _objdump(data: bytes, alu32: bool) -> list[str]:
    assert LLVM is not None
    mc, od = LLVM
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "x.s")
        obj = os.path.join(tmp, "x.o")
        with open(src, "w") as fh:
            fh.write(".text\n")
            for i in range(0, len(data), 8):
                fh.write(".byte " + ",".join(str(b) for b in data[i:i + 8]) + "\n")
        _run(mc, "-triple", "bpfel", "-filetype=obj", src, "-o", obj)
        args = [od, "-d", "--no-show-raw-insn", "--no-leading-addr", obj]
        if alu32:
            args.insert(2, "--mcpu=v4")
        out = _run(*args)
    lines = [ln.strip() for ln in out.splitlines() if ln.startswith("\t")]
    return [re.sub(r"\s+<[^<>\s]*>$", "", ln) for ln in lines if ln]


def _mc_bytes(text: str) -> bytes:
    assert LLVM is not None
    mc, _ = LLVM
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "x.s")
        with open(src, "w") as fh:
            fh.write(text)
        out = _run(mc, "-triple", "bpfel", "-mcpu=v4", "-show-encoding", src)
    data = bytearray()
    for m in re.finditer(r"encoding: \[([^\]]*)\]", out):
        data += bytes(int(b, 16) for b in m.group(1).split(","))
    return bytes(data)


@SETTINGS
@given(hs.lists(llvm_insn, min_size=1, max_size=60), hs.booleans())
def test_disassembly_matches_llvm_objdump(insns: list[Instruction], alu32: bool) -> None:
    if not alu32:
        # without alu32 llvm-objdump cannot decode 32-bit atomics other than `lock +=`
        insns = [i for i in insns if not (i.opcode == 0xC3 and i.imm != 0)]
        if not insns:
            return
    theirs = _objdump(encode(insns), alu32)
    ours = disassemble(insns, "llvm", alu32=alu32, labels=False).splitlines()
    assert ours == theirs


@SETTINGS
@given(hs.lists(llvm_insn, min_size=1, max_size=60), hs.booleans())
def test_llvm_mc_assembles_our_text(insns: list[Instruction], alu32: bool) -> None:
    if not alu32:
        insns = [i for i in insns if not (i.opcode == 0xC3 and i.imm not in (0x00, 0x01))]
        if not insns:
            return
    text = disassemble(insns, "llvm", alu32=alu32, labels=False)
    assert _mc_bytes(text) == encode(insns)
