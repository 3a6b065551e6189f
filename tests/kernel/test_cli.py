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


def test_demo_runs():
    r = run_cli("demo")
    assert r.returncode == 0, r.stderr
    assert "keep=30 drop=20" in r.stdout
    assert "call bpf_map_lookup_elem#1" in r.stdout or "map[id:" in r.stdout
