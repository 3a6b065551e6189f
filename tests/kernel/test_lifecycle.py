"""Lifetimes: thousands of objects come and go without leaking fds or kernel objects;
failing paths leave nothing behind; an unprivileged user gets one actionable line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import pybpf
from pybpf import Map, MapType, Program, ProgramType, asm
from pybpf.asm import R0
from pybpf.introspect import ids

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_ten_thousand_maps_and_programs():
    fds0, maps0, progs0 = _fd_count(), ids("map"), ids("prog")
    insns = asm.encode([asm.mov(R0, 0), asm.exit_()])
    for i in range(10_000):
        with Map.create(MapType.ARRAY, 4, 8, 1) as m:
            m[0] = i
        p = Program.load(ProgramType.SOCKET_FILTER, insns)
        p.close()
    # objects dropped without close() are released by the garbage collector too
    for _ in range(100):
        Map.create(MapType.HASH, 4, 4, 1)
    import gc

    gc.collect()
    assert _fd_count() == fds0
    # (the autouse fixture also waits for the kernel's deferred frees and compares id sets)
    assert len(ids("map") - maps0) < 10_000 and len(ids("prog") - progs0) < 10_000


def test_failing_paths_leave_nothing():
    fds0 = _fd_count()
    for _ in range(200):
        with pytest.raises(pybpf.Error):
            Map.create(MapType.HASH, 0, 4, 4)  # EINVAL
        with pytest.raises(pybpf.NotSupportedError):
            Map.create(250, 4, 4, 4)  # unknown type
        with pytest.raises(pybpf.VerifierError):
            Program.load(ProgramType.SOCKET_FILTER, [asm.exit_()])
        with pytest.raises(pybpf.Error):
            Map.create(MapType.ARRAY_OF_MAPS, 4, 4, 1, inner_map=pybpf.MapSpec(MapType.HASH, 0, 0, 0))
    assert _fd_count() == fds0


def _nobody_python() -> str | None:
    for cand in (sys.executable, getattr(sys, "_base_executable", ""), "/usr/bin/python3", shutil.which("python3")):
        if cand and os.path.exists(cand):
            r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", cand, "-c", "pass"],
                               capture_output=True)
            if r.returncode == 0:
                return cand
    return None


@pytest.mark.parametrize("argv", [["demo"], ["feature", "probe"]])
def test_unprivileged_user_gets_one_actionable_line(argv):
    import pathlib
    import tempfile

    py = _nobody_python()
    assert py, "no Python interpreter is executable by user nobody"
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="pybpf-nobody-", dir="/tmp"))
    try:
        _run_as_nobody(py, tmp_path, argv)
    finally:
        shutil.rmtree(tmp_path)


def _run_as_nobody(py, tmp_path, argv):
    dst = tmp_path / "src"
    shutil.copytree(os.path.join(SRC, "pybpf"), dst / "pybpf", ignore=shutil.ignore_patterns("__pycache__"))
    os.chmod(tmp_path, 0o755)
    for root, dirs, files in os.walk(tmp_path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", py, "-B", "-m", "pybpf", *argv],
                       capture_output=True, text=True, cwd="/", env={"PYTHONPATH": str(dst), "PATH": os.environ["PATH"]})
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "root" in lines[0] and ("CAP_BPF" in lines[0] or "CAP_SYS_ADMIN" in lines[0]), lines[0]
