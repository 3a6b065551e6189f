"""Assemble the bpf_conformance test corpus: an opt-in check, run by hand with

    PYBPF_CONFORMANCE_DIR=/path/to/bpf_conformance/tests python3 -m pytest tools/check_conformance_corpus.py

(the corpus is another project's data and is not vendored; CI has no network to fetch it).

Point ``PYBPF_CONFORMANCE_DIR`` at a checkout's ``tests`` directory (the ``*.data`` files).
Every ``-- asm`` section must assemble, match its ``-- raw`` section if any, and
round-trip through both text syntaxes.
"""

from __future__ import annotations

import glob
import os
import re
import struct

import pytest

from pybpf.asm import assemble, disassemble, encode

CORPUS = os.environ.get("PYBPF_CONFORMANCE_DIR", "")
FILES = sorted(glob.glob(os.path.join(CORPUS, "*.data"))) if CORPUS else []


def _section(text: str, name: str) -> str | None:
    m = re.search(rf"^-- {name}\n(.*?)(?=^-- |\Z)", text, re.S | re.M)
    return m.group(1) if m else None


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_conformance_file(path: str) -> None:
    with open(path) as fh:
        text = fh.read()
    asm = _section(text, "asm")
    assert asm is not None
    insns = assemble(asm, "conformance")
    raw = _section(text, "raw")
    if raw is not None:
        assert encode(insns) == b"".join(struct.pack("<Q", int(w, 16)) for w in raw.split())
    for style in ("llvm", "conformance"):
        assert assemble(disassemble(insns, style), style) == insns
