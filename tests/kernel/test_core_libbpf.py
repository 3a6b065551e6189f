"""Differential test: pybpf's CO-RE engine against libbpf (through ``bpftool -d prog loadall``).

libbpf's debug log has one line per CO-RE decision (candidate found, spec, matching /
non-matching candidate, patched value, poisoned instruction); pybpf's ``relocate(log=)``
writes the same lines, so for the same object and kernel the two logs must agree.
The programs are really loaded by bpftool (so they also pass the verifier), pinned
under a temporary bpffs directory and unloaded again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest

from pybpf.btf import BTF, VMLINUX_PATH
from pybpf.btf.core import CoreCache, CoreError, relocate

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "data", "core"))
import coreobj  # noqa: E402

BPFTOOL = shutil.which("bpftool")
BPFFS = "/sys/fs/bpf"

pytestmark = [
    pytest.mark.skipif(coreobj.CLANG is None, reason="clang-19 is not installed"),
    pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed"),
    pytest.mark.skipif(not os.path.exists(VMLINUX_PATH), reason="kernel without BTF"),
]


def _bpffs_mounted() -> bool:
    with open("/proc/mounts") as f:
        return any(line.split()[1:3] == [BPFFS, "bpf"] for line in f)


@pytest.fixture(scope="module")
def bpffs():
    mounted_here = False
    if not _bpffs_mounted():
        r = subprocess.run(["mount", "-t", "bpf", "bpf", BPFFS], capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount bpffs: {r.stderr.strip()}")
        mounted_here = True
    yield BPFFS
    if mounted_here:
        subprocess.run(["umount", BPFFS], check=False)


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("core_libbpf"))
    return coreobj.compile_all(d), coreobj.compile_all(d, coreobj.FAILING_SOURCES)


def libbpf_log(path: str, bpffs: str) -> tuple[int, list[str]]:
    pin = os.path.join(bpffs, f"pybpf_core_{uuid.uuid4().hex[:12]}")
    try:
        r = subprocess.run([BPFTOOL, "-d", "prog", "loadall", path, pin], capture_output=True, text=True,
                           timeout=120)
    finally:
        shutil.rmtree(pin, ignore_errors=True)  # unpinning unloads the programs
    lines = [line[len("libbpf: "):] for line in r.stderr.splitlines() if line.startswith("libbpf: ")]
    return r.returncode, [x for x in lines if _is_core_line(x)]


_CORE_LINE = re.compile(r"^(CO-RE relocating |prog '[^']+': relo #\d+: )")


def _is_core_line(line: str) -> bool:
    if not _CORE_LINE.match(line):
        return False
    # libbpf's own wrap-up lines after a failure, and non-CO-RE relocations
    return not any(s in line for s in ("failed to relocate", "failed to patch", "against '"))


def pybpf_log(path: str) -> tuple[bool, list[str]]:
    obj = coreobj.load(path)
    vm = BTF.load_vmlinux()
    cache = CoreCache()  # one per object, like libbpf's cand_cache
    log: list[str] = []
    bysec: dict[str, list] = {}
    for p in obj.progs.values():
        bysec.setdefault(p.section, []).append(p)
    try:
        for sec in obj.ext.core_relos:  # libbpf's order: .BTF.ext sections, then records
            for p in bysec.get(sec, []):
                relocate(p.insns, coreobj.relo_pairs(p), obj.btf, [vm], log=log.append, prog_name=p.name,
                         cache=cache)
    except CoreError:
        return False, log
    return True, log


def _grouped(lines: list[str]) -> tuple[list[str], dict[str, list[str]], set[str]]:
    """(relocation order, lines per relocation (sorted), candidate lines) -- robust to the
    order libbpf versions print the two halves of a poisoned lddw in."""
    order: list[str] = []
    per: dict[str, list[str]] = {}
    cands = set()
    for x in lines:
        m = re.match(r"^(prog '[^']+': relo #\d+): ", x)
        if m is None:
            cands.add(x)
            continue
        if m.group(1) not in per:
            order.append(m.group(1))
        per.setdefault(m.group(1), []).append(x)
    return order, {k: sorted(v) for k, v in per.items()}, cands


@pytest.mark.parametrize("stem", [os.path.splitext(s)[0] for s in coreobj.SOURCES])
def test_same_decisions_as_libbpf(stem, objects, bpffs):
    path = objects[0][stem]
    rc, theirs = libbpf_log(path, bpffs)
    assert rc == 0, f"bpftool failed to load {stem}: {theirs[-5:]}"
    ok, ours = pybpf_log(path)
    assert ok
    assert theirs, "no CO-RE lines in bpftool's debug output"
    assert _grouped(ours) == _grouped(theirs)


def test_same_failure_as_libbpf(objects, bpffs):
    path = objects[1]["core_quirk"]
    rc, theirs = libbpf_log(path, bpffs)
    ok, ours = pybpf_log(path)
    assert rc != 0 and not ok
    assert _grouped(ours) == _grouped(theirs)
    assert any("unexpected insn #0 (LDIMM64) value" in x for x in ours)
