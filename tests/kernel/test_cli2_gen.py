"""``pybpf gen min_core_btf|skeleton``, ``compile``, ``iter pin``, ``struct_ops``, ``trace_pipe``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest
from test_cli_common import SRC, bpftool, cli, needs_bpftool

import pybpf
from pybpf.asm import encode
from pybpf.btf import BTF
from pybpf.btf.core import relocate
from pybpf.btfgen import min_core_btf

HERE = os.path.dirname(__file__)
OBJ_DIR = os.path.join(HERE, "..", "data", "obj")
VMLINUX = "/sys/kernel/btf/vmlinux"


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    sys.path.insert(0, OBJ_DIR)
    import build

    if build.clang() is None:
        pytest.skip(f"{build.CLANG} is not installed")
    d = str(tmp_path_factory.mktemp("cli2gen"))
    out = {n: build.build(f"{n}.c", os.path.join(d, f"{n}.o")) for n in ("core", "hello", "kinds")}
    out["kinds"] = build.build("kinds.c", os.path.join(d, "kinds.o"), ("KIND_ALL",))
    out["kind_iter"] = build.build("kinds.c", os.path.join(d, "kind_iter.o"), ("KIND_ITER",))
    return out


def _relocated(obj: str, targets: list) -> dict[str, bytes]:
    spec = pybpf.open(obj)
    out = {}
    for name, p in spec.programs.items():
        insns = relocate(list(p.instructions), list(p.core_relos), spec.btf, targets, prog_name=name)
        out[name] = encode(insns)
    return out


@needs_bpftool
def test_min_core_btf_is_bpftools_byte_for_byte(capsys, objs, tmp_path):
    for group in (["core"], ["core", "kinds", "hello"]):
        paths = [objs[g] for g in group]
        ours, theirs = tmp_path / "ours.btf", tmp_path / "theirs.btf"
        rc, out, err = cli(capsys, "gen", "min_core_btf", VMLINUX, str(ours), *paths)
        assert (rc, out, err) == (0, "", "")
        bpftool("gen", "min_core_btf", VMLINUX, str(theirs), *paths)
        assert ours.read_bytes() == theirs.read_bytes(), group
    small = BTF.from_bytes(min_core_btf(VMLINUX, [objs["core"]]))
    task = small.find("task_struct", "struct")
    assert {m.name for m in task.members} == {"flags", "tgid", "real_parent", "comm"}
    assert len(small) < 100


def test_min_core_btf_gives_identical_relocations(objs):
    vmlinux = BTF.load_vmlinux()
    small = BTF.from_bytes(min_core_btf(vmlinux, [objs["core"]]))
    full = _relocated(objs["core"], [vmlinux])
    assert full and _relocated(objs["core"], [small]) == full


@needs_bpftool
def test_prog_load_with_min_core_btf_as_kernel_btf(capsys, objs, tmp_path):
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    small = tmp_path / "small.btf"
    small.write_bytes(min_core_btf(VMLINUX, [objs["core"]]))
    d = f"/sys/fs/bpf/pybpf-cli2-gen-{uuid.uuid4().hex[:8]}"
    os.mkdir(d)
    try:
        rc, _, err = cli(capsys, "prog", "loadall", objs["core"], f"{d}/min", "kernel_btf", str(small))
        assert rc == 0, err
        bpftool("prog", "loadall", objs["core"], f"{d}/full")
        ids = re.compile(r"map\[id:\d+\]")
        for p in os.listdir(f"{d}/full"):
            a = ids.sub("", bpftool("prog", "dump", "xlated", "pinned", f"{d}/min/{p}"))
            b = ids.sub("", bpftool("prog", "dump", "xlated", "pinned", f"{d}/full/{p}"))
            assert a == b, p
    finally:
        subprocess.run(["rm", "-rf", d], check=False)


def test_min_core_btf_errors(capsys, objs, tmp_path):
    rc, _, err = cli(capsys, "gen", "min_core_btf", VMLINUX, str(tmp_path / "o.btf"))
    assert rc == 255 and "needs at least 3 arguments" in err
    rc, _, err = cli(capsys, "gen", "min_core_btf", "/nonexistent", str(tmp_path / "o.btf"), objs["core"])
    assert rc == 255 and err.startswith("Error: failed parsing '/nonexistent'")


def test_gen_skeleton(capsys, objs):
    rc, out, err = cli(capsys, "gen", "skeleton", objs["hello"])
    assert rc == 0 and err == ""  # pybpf.skeleton is part of pybpf: its absence is a failure
    compile(out, "hello_skel.py", "exec")
    assert "class Hello" in out
    rc, out, _ = cli(capsys, "gen", "skeleton", objs["hello"], "name", "greeter")
    assert rc == 0 and "class Greeter" in out
    rc, _, err = cli(capsys, "gen", "skeleton", "/nonexistent.o")
    assert rc == 255 and "No such file" in err
    rc, _, err = cli(capsys, "gen", "object", "a.o", "b.o")
    assert rc == 1 and "not available in pybpf" in err


OK_C = """#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#ifndef VERDICT
#error VERDICT not defined
#endif
SEC("xdp") int pass(struct xdp_md *ctx) { return VERDICT; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_compile(tmp_path):
    from pybpf.compile import find_compiler

    find_compiler()  # the ziglang wheel is a dependency of pybpf: finding no compiler is a failure
    src, out = tmp_path / "ok.bpf.c", tmp_path / "ok.bpf.o"
    src.write_text(OK_C)
    env = dict(os.environ, PYTHONPATH=SRC)
    r = subprocess.run([sys.executable, "-m", "pybpf", "compile", str(src), "-o", str(out), "--", "-DVERDICT=2"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert list(pybpf.open(str(out)).programs) == ["pass"]
    bad = tmp_path / "bad.bpf.c"
    bad.write_text(OK_C.replace("return VERDICT;", "return VERDICT + nosuchvar;"))
    r = subprocess.run([sys.executable, "-m", "pybpf", "compile", str(bad), "-o", str(tmp_path / "bad.o"), "--",
                        "-DVERDICT=2"], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert re.search(r"bad\.bpf\.c:6:\d+: error: use of undeclared identifier 'nosuchvar'", r.stderr), r.stderr
    r = subprocess.run([sys.executable, "-m", "pybpf", "compile", "help"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "Usage: pybpf compile" in r.stderr


def test_iter_pin(capsys, objs):
    from pybpf._sys.fs import ensure_bpffs

    ensure_bpffs()
    path = f"/sys/fs/bpf/pybpf-cli2-iter-{uuid.uuid4().hex[:8]}"
    try:
        rc, out, err = cli(capsys, "iter", "pin", objs["kind_iter"], path)
        assert (rc, out, err) == (0, "", "")
        with open(path) as f:
            pids = [int(x) for x in f.read().split()]
        assert len(pids) > 3 and pids == sorted(pids)  # global pids (the tests may run in a pid namespace)
        rc, out, _ = cli(capsys, "link", "show", "pinned", path)
        assert "target_name task" in out
        rc, _, err = cli(capsys, "iter", "pin", objs["kind_iter"], path)
        assert rc == 255 and err == f"Error: can't pin BPF object: path '{path}' already exists\n"
    finally:
        if os.path.exists(path):
            os.unlink(path)
    rc, _, err = cli(capsys, "iter", "pin", "/nonexistent.o", path)
    assert rc == 255 and err == "Error: can't open objfile /nonexistent.o\n"


@needs_bpftool
def test_struct_ops_show_matches_bpftool(capsys):
    for args in (["struct_ops", "show"], ["-j", "struct_ops", "list"]):
        rc, out, err = cli(capsys, *args)
        assert rc == 0 and err == ""
        assert out == bpftool(*args) or json.loads(out) == json.loads(bpftool(*args))
    rc, _, err = cli(capsys, "struct_ops", "show", "name", "pybpf_none")
    assert (rc, err) == (255, "Error: no struct_ops found for pybpf_none\n")
    rc, _, err = cli(capsys, "struct_ops", "register", "x.o")
    assert rc == 255 and err.startswith("Error: failed to load object file:")


@needs_bpftool
def test_struct_ops_show_and_dump_an_unregistered_map(capsys):
    from pybpf import Map, MapType
    from pybpf.spec import MapSpec

    vmlinux = BTF.load_vmlinux()
    st = vmlinux.find("bpf_struct_ops_tcp_congestion_ops", "struct")
    spec = MapSpec(type=MapType.STRUCT_OPS, key_size=4, value_size=vmlinux.sizeof(st), max_entries=1,
                   name="cli2_sops", btf_vmlinux_value_type_id=st.id)
    with Map.from_spec(spec) as m:
        rc, out, _ = cli(capsys, "struct_ops", "show", "id", str(m.id))
        assert rc == 0 and out == f"{m.id}: cli2_sops       {'tcp_congestion_ops':<32}\n"
        assert out == bpftool("struct_ops", "show", "id", str(m.id))
        rc, out, _ = cli(capsys, "-j", "struct_ops", "show", "name", "cli2_sops")
        assert json.loads(out) == json.loads(bpftool("-j", "struct_ops", "show", "name", "cli2_sops"))
        for j in ([], ["-j"]):
            rc, out, err = cli(capsys, *j, "struct_ops", "dump", "id", str(m.id))
            assert rc == 0, err
            # by id, bpftool writes the two objects without an enclosing array (and bare "(nil)" pointers)
            theirs = bpftool(*j, "struct_ops", "dump", "id", str(m.id)).replace(": (nil)", ': "(nil)"')
            assert out == theirs
        data = json.loads("[" + out + "]")[1]["bpf_struct_ops_tcp_congestion_ops"]["data"]
        assert data["ssthresh"] == "u32 (struct sock *) 0"
        rc, _, err = cli(capsys, "struct_ops", "show", "id", str(m.id + 10**9))
        assert rc == 255 and err.startswith(f"Error: can't get map by id ({m.id + 10**9})")


def test_trace_pipe_ctrl_c_exits_quietly():
    env = dict(os.environ, PYTHONPATH=SRC)
    p = subprocess.Popen([sys.executable, "-m", "pybpf", "trace_pipe"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0 and err == b""
