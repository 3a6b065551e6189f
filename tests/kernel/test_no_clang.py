"""A BCC-style tool on a machine with no clang: compiled by the ziglang wheel, and run.

The tool runs in a subprocess whose ``PATH`` has every directory holding a ``clang``
or ``clang-<N>`` executable removed, with ``PYBPF_CC`` unset and fresh, empty
``PYBPF_CACHE_DIR`` and ``XDG_CACHE_HOME`` (nothing compiled, probed or generated
before: vmlinux.h is made from the kernel's BTF in that run). The child checks that
no clang is reachable, that :func:`pybpf.compile.find_compiler` picks the ziglang
wheel, builds ``pybpf.bcc.BPF`` with a ``TRACEPOINT_PROBE`` counting execve() per
pid, execs ``/bin/true`` and reports what the map counted for that pid; it also
compiles a libbpf-style source directly to read ``CompiledObject.compiler``. Then a
shipped example (examples/bcc/hello-buffer-config.py) runs as a script in the same
environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pybpf.compile import toolchain

SRC = Path(__file__).resolve().parents[2] / "src"
EXAMPLES = SRC.parent / "examples"

pytestmark = [
    pytest.mark.skipif(toolchain.zig_path() is None, reason="the ziglang wheel is not installed"),
    pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"), reason="kernel without BTF"),
]

_CLANG = re.compile(r"^clang(-\d+(\.\d+)*)?$")

CHILD = r'''
import ctypes, json, os, shutil, subprocess, sys, time
from pybpf.compile import compile, find_compiler, store

out = {"which": {n: shutil.which(n) for n in ("clang", "clang-19", "clang-18", "clang-17")}}
entries = lambda: sorted(os.listdir(os.path.join(store.compile_dir(), "obj"))) \
    if os.path.isdir(os.path.join(store.compile_dir(), "obj")) else []
out["entries_before"] = len(entries())
cc = find_compiler()
out["compiler"] = {"kind": cc.kind, "origin": cc.origin, "argv0": cc.argv[0], "version": cc.version}

from pybpf.bcc import BPF

t = time.monotonic()
with BPF(text=r"""
BPF_HASH(execs, u32, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    execs.increment(pid);
    return 0;
}
""") as b:
    out["bpf_seconds"] = time.monotonic() - t
    out["entries_after_bpf"] = len(entries())
    out["attached"] = sorted(b.tracepoint_fds)
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    counts = {k.value: v.value for k, v in b["execs"].items()}
    out["child"] = p.pid
    out["count"] = counts.get(p.pid, 0)

obj = compile('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
              'SEC("tp/syscalls/sys_enter_execve") int f(void *ctx) { return 0; }\n'
              'char LICENSE[] SEC("license") = "GPL";\n')
out["object"] = {"compiler": obj.compiler, "cached": obj.cached, "argv0": obj.command[0] if obj.command else ""}
out["vmlinux_h"] = [d for d in os.listdir(os.path.join(store.compile_dir(), "vmlinux"))]
print(json.dumps(out))
'''


def _path_without_clang() -> tuple[str, list[str]]:
    """$PATH minus every directory that holds a clang/clang-N executable; (new PATH, removed dirs)."""
    keep, removed = [], []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        try:
            names = os.listdir(d or ".")
        except OSError:
            keep.append(d)
            continue
        if any(_CLANG.match(n) and os.access(os.path.join(d, n), os.X_OK) for n in names):
            removed.append(d)
        else:
            keep.append(d)
    return os.pathsep.join(keep), removed


def test_bcc_tool_compiles_with_ziglang_and_runs_without_clang():
    path, removed = _path_without_clang()
    if shutil.which("clang-19") or shutil.which("clang"):
        assert removed, "a clang is on PATH but no directory was removed"
    cache = tempfile.mkdtemp(prefix="pybpf-noclang-")
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("PYBPF_CC", "PYBPF_COMPILE_CACHE", "PYTHONPATH")}
        env.update(PATH=path, PYBPF_CACHE_DIR=os.path.join(cache, "pybpf"),
                   XDG_CACHE_HOME=os.path.join(cache, "xdg"), PYTHONPATH=str(SRC))
        r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=300,
                           cwd=cache)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout.strip().splitlines()[-1])
        assert out["which"] == {"clang": None, "clang-19": None, "clang-18": None, "clang-17": None}, out["which"]
        cc = out["compiler"]
        assert cc["kind"] == "zig" and cc["origin"] == "ziglang", cc
        assert os.path.realpath(cc["argv0"]) == os.path.realpath(toolchain.zig_path())
        # nothing was cached: BPF() ran the compiler (one new entry) and generated vmlinux.h
        assert out["entries_before"] == 0 and out["entries_after_bpf"] == 1, out
        assert len(out["vmlinux_h"]) == 1
        assert out["attached"] == ["syscalls:sys_enter_execve"]
        assert out["count"] >= 1, out  # the tracepoint fired for our /bin/true and the map counted it
        obj = out["object"]
        assert obj["compiler"].startswith("zig|") and obj["cached"] is False, obj
        assert os.path.realpath(obj["argv0"]) == os.path.realpath(toolchain.zig_path())
        # the child's caches are the fresh directories, not the user's
        assert os.listdir(os.path.join(cache, "pybpf", "compile", "obj"))
        for d in os.listdir(os.path.join(cache, "pybpf", "compile", "obj")):
            assert d.endswith(".entry")

        # a shipped example, as a script, in the same clang-less environment (compiled there too)
        before = set(os.listdir(os.path.join(cache, "pybpf", "compile", "obj")))
        r = subprocess.run([sys.executable, str(EXAMPLES / "bcc" / "hello-buffer-config.py"), "--attach", "tracepoint",
                            "--seconds", "1"], capture_output=True, text=True, env=env, timeout=300, cwd=cache)
        assert r.returncode == 0, r.stderr
        assert "Attached hello() to tracepoint syscalls:sys_enter_execve" in r.stdout, r.stdout
        assert set(os.listdir(os.path.join(cache, "pybpf", "compile", "obj"))) - before  # compiled now
    finally:
        shutil.rmtree(cache, ignore_errors=True)
