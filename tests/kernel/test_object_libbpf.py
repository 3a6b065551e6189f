"""Differential test: pybpf's object loader vs libbpf (through ``bpftool prog loadall``).

Each C object of tests/data/obj is loaded once by bpftool (libbpf) and once by
pybpf; the kernel's translated (xlated) instructions of every program must be
identical, with map ids in ``lddw`` replaced by map names (both loaders name
maps the same way).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import pybpf
from pybpf import asm
from pybpf.map import Map
from pybpf.prog import Program

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "obj"))
import build  # noqa: E402

BPFTOOL = shutil.which("bpftool")
OBJECTS = ["hello", "subprogs", "globals", "tailcall", "mapinmap", "core", "externs", "kinds"]
KINDS = [f"kind_{k.lower()}" for k in build.kinds()]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    if build.clang() is None:
        pytest.skip(f"{build.CLANG} not installed")
    return build.build_all(str(tmp_path_factory.mktemp("objs")))


def normalize(xlated: bytes) -> list[tuple]:
    """Decoded instructions with map ids replaced by map names."""
    out: list[tuple] = []
    for i in asm.decode(xlated):
        if i.opcode == 0x18 and i.src in (1, 2):
            with Map.from_id(i.imm & 0xFFFFFFFF) as m:
                out.append(("lddw", i.dst, i.src, m.name, i.imm >> 32))
        else:
            out.append((i.opcode, i.dst, i.src, i.off, i.imm))
    return out


def load_with_bpftool(path: str) -> dict[str, list[tuple]]:
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    pin_dir = f"/sys/fs/bpf/pybpf_diff_{os.getpid()}_{os.path.basename(path).split('.')[0]}"
    shutil.rmtree(pin_dir, ignore_errors=True)
    try:
        r = subprocess.run([BPFTOOL, "prog", "loadall", path, pin_dir], capture_output=True, text=True)
        if r.returncode:
            pytest.fail(f"bpftool could not load {path}:\n{r.stderr[-3000:]}")
        res = {}
        for name in sorted(os.listdir(pin_dir)):
            with Program.from_pin(os.path.join(pin_dir, name)) as p:
                res[name] = normalize(p.xlated_bytes())
        return res
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)


def load_with_pybpf(path: str) -> dict[str, list[tuple]]:
    try:
        obj = pybpf.load(path)
    except pybpf.NotSupportedError as e:
        pytest.skip(str(e))
    with obj:
        return {name: normalize(p.xlated_bytes()) for name, p in obj.programs.items()}


def _diff(name: str, a: list[tuple], b: list[tuple]) -> str:
    lines = [f"program {name}: libbpf {len(a)} insns, pybpf {len(b)} insns"]
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        lines.append(f"{'  ' if x == y else '!!'} {i:4} {x!s:50} {y!s}")
    return "\n".join(lines)


@pytest.mark.skipif(BPFTOOL is None, reason="bpftool not installed")
@pytest.mark.parametrize("obj", OBJECTS + KINDS)
def test_same_xlated_as_libbpf(corpus, obj):
    path = corpus[obj]
    ref = load_with_bpftool(path)
    got = load_with_pybpf(path)
    assert sorted(got) == sorted(ref)
    for name in ref:
        assert got[name] == ref[name], _diff(name, ref[name], got[name])
