"""The `pybpf` command (issue 2 part: --version, feature probe, demo, error handling)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pybpf
from pybpf.cli import main


SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    return subprocess.run([sys.executable, "-m", "pybpf", *args], capture_output=True, text=True, env=env)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert pybpf.__version__ in capsys.readouterr().out
    assert main(["-j", "version"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == pybpf.__version__


def test_unknown_object_is_one_line_no_traceback():
    r = run_cli("frobnicate")
    assert r.returncode == 255 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "unknown object" in r.stderr


def test_feature_probe_plain_json_macros(capsys):
    assert main(["feature", "probe"]) == 0
    out = capsys.readouterr().out
    assert "eBPF program_type socket_filter is available" in out
    assert "eBPF map_type ringbuf is available" in out
    assert "\t- bpf_map_lookup_elem" in out
    assert "Bounded loop support is available" in out
    assert main(["-j", "feature", "probe"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["map_types"]["have_hash_map_type"] is True
    assert "bpf_map_lookup_elem" in j["helpers"]["xdp_available_helpers"]
    assert main(["feature", "probe", "macros", "prefix", "X_"]) == 0
    assert "#define X_HAVE_XDP_PROG_TYPE" in capsys.readouterr().out


def test_demo_runs(tmp_path):
    """The README's demo: the assembler part, then a BCC-style tool compiled (first run) or
    loaded from the cache (second run), run on execs it makes, its events and counts shown."""
    import re

    from pybpf.compile import find_compiler

    # a fresh cache: the first run generates vmlinux.h and compiles, the second loads from the cache
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC), PYBPF_CACHE_DIR=str(tmp_path / "cache"))
    for run in ("first", "second"):
        r = subprocess.run([sys.executable, "-m", "pybpf", "demo"], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        out = r.stdout
        assert "keep=30 drop=20" in out
        assert "call bpf_map_lookup_elem#1" in out or "map[id:" in out
        assert "8. a BCC-style tool, compiled on this machine" in out
        cc = find_compiler()
        assert re.search(r"^   compiler: " + ("zig cc from the ziglang wheel" if cc.kind == "zig" else "\\S*clang"),
                         out, re.M), out
        if run == "first":
            assert re.search(r"^   vmlinux.h generated in \d+\.\d+ s", out, re.M), out
            assert re.search(r"^   compiled, loaded and attached in \d+\.\d+ s: the first compile; "
                             r"the next run loads the object from the cache$", out, re.M), out
        else:
            assert "vmlinux.h generated" not in out
            assert re.search(r"^   loaded from the compile cache and attached in \d+\.\d+ s", out, re.M), out
        assert "events from the perf buffer for those execs (5 of 5" in out, out
        events = re.findall(r"^     pid (\d+) +uid (\d+) +comm \S+ +file (\S+)$", out, re.M)
        assert sorted(int(u) for _, u, _ in events) == [0, 0, 0, 65534, 65534], out
        assert {f for _, _, f in events} <= {"/bin/true", "/usr/bin/true"}
        counts = dict(re.findall(r"uid (\d+): (\d+)", out.split("execve() per uid in the BPF_HASH")[1]))
        assert int(counts["0"]) >= 3 and int(counts["65534"]) >= 2, out
        assert out.rstrip().endswith("detached and unloaded")
