"""The ``pybpf`` command: grammar, errors and exit codes (bpftool's), plus helpers for test_cli_*.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

from pybpf.cli import main

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")
BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"
needs_bpftool = pytest.mark.skipif(not os.path.exists(BPFTOOL), reason="bpftool (the reference) is not installed")


def bpftool(*args: str, check: bool = True) -> str:
    r = subprocess.run([BPFTOOL, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"bpftool {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    """Run ``pybpf ARGS`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    return subprocess.run([sys.executable, "-m", "pybpf", *args], capture_output=True, env=env, input=stdin)


_PIDS = re.compile(r"\n\tpids [^\n]*")


def norm_plain(text: str) -> str:
    """Drop what bpftool 7.1 does not print: our ``pids`` lines (it has no pid iterator here)."""
    return _PIDS.sub("", text)


def norm_json(obj: Any) -> Any:
    """Drop ``pids`` and upstream's ``orphaned`` (bpftool 7.1 predates it)."""
    if isinstance(obj, list):
        return [norm_json(o) for o in obj]
    if isinstance(obj, dict):
        return {k: norm_json(v) for k, v in obj.items() if k not in ("pids", "orphaned")}
    return obj


def prog_id_by_name(name: str) -> int:
    objs = json.loads(bpftool("-j", "prog", "show"))
    return next(o["id"] for o in objs if o.get("name") == name)


# ----------------------------------------------------------------------------- tests
def test_object_and_verb_prefixes(capsys):
    from pybpf import Program, ProgramType, asm

    with Program.load(ProgramType.XDP, [asm.mov(asm.R0, 2), asm.exit_()], name="cli_prefix") as p:
        rc, full, _ = cli(capsys, "prog", "show", "id", str(p.id))
        assert rc == 0 and full.startswith(f"{p.id}: xdp  name cli_prefix  tag {p.tag}")
        rc, short, _ = cli(capsys, "p", "s", "i", str(p.id))
        assert rc == 0 and short == full
        rc, listed, _ = cli(capsys, "prog", "list")
        assert rc == 0 and full in listed
        rc, bare, _ = cli(capsys, "prog")  # no verb: show
        assert rc == 0 and full in bare


def test_unknown_verb_and_bad_handles_are_one_line_255(capsys):
    for args, msg in [
        (["prog", "frobnicate"], "unknown command 'frobnicate'"),
        (["prog", "show", "bogus", "1"], "expected 'id', 'tag', 'name' or 'pinned', got: 'bogus'?"),
        (["prog", "show", "id", "abc"], "can't parse abc as ID"),
        (["prog", "show", "id", "4000000000"], "get by id (4000000000): No such file or directory"),
        (["prog", "show", "tag", "xyz"], "can't parse tag"),
        (["map", "show", "id", "4000000000"], "get map by id (4000000000): No such file or directory"),
        (["map", "show", "what", "1"], "expected 'id', 'name' or 'pinned', got: 'what'?"),
        (["link", "show", "id", "4000000000"], "failed to get link with ID 4000000000"),
        (["btf", "show", "id", "4000000000"], "can't get BTF object by id (4000000000)"),
        (["prog", "show", "id", "1", "extra"], "what is 'id'?"),  # bpftool: BAD_ARG on the first word
    ]:
        rc, out, err = cli(capsys, *args)
        assert rc == 255, args
        assert err.count("\n") == 1 and err.startswith("Error: ") and msg in err, (args, err)
        assert "Traceback" not in err


def test_json_errors_go_to_stdout(capsys):
    rc, out, err = cli(capsys, "-j", "prog", "show", "id", "4000000000")
    assert rc == 255 and err == ""
    assert json.loads(out) == {"error": "get by id (4000000000): No such file or directory"}


@needs_bpftool
def test_error_texts_match_bpftool(capsys):
    for args in (["prog", "show", "id", "4000000000"], ["map", "show", "id", "4000000000"],
                 ["prog", "show", "bogus", "1"], ["map", "show", "name", "x" * 20]):
        theirs = subprocess.run([BPFTOOL, "-j", *args], capture_output=True, text=True)
        rc, out, _ = cli(capsys, "-j", *args)
        assert rc == theirs.returncode == 255
        assert json.loads(out) == json.loads(theirs.stdout), args


def test_several_programs_match_this_handle(capsys):
    from pybpf import Program, ProgramType, asm

    with Program.load(ProgramType.XDP, [asm.mov(asm.R0, 2), asm.exit_()], name="cli_twin") as a, \
            Program.load(ProgramType.XDP, [asm.mov(asm.R0, 2), asm.exit_()], name="cli_twin") as b:
        rc, out, _ = cli(capsys, "prog", "show", "name", "cli_twin")  # show: every match
        assert rc == 0 and f"{a.id}: xdp" in out and f"{b.id}: xdp" in out
        rc, _, err = cli(capsys, "prog", "pin", "name", "cli_twin", "/sys/fs/bpf/never")
        assert rc == 255 and err == "Error: several programs match this handle\n"
        rc, out, _ = cli(capsys, "-j", "prog", "show", "tag", a.tag)
        assert {o["id"] for o in json.loads(out)} >= {a.id, b.id}


def test_subprocess_exit_codes_and_debug_traceback():
    r = run_cli("prog", "show", "id", "4000000000")
    assert r.returncode == 255 and r.stderr.decode().count("\n") == 1 and b"Traceback" not in r.stderr
    r = run_cli("-d", "prog", "show", "id", "4000000000")
    assert r.returncode != 0 and b"Traceback" in r.stderr
    r = run_cli("map", "dump", "id")
    assert r.returncode == 255 and b"Traceback" not in r.stderr
    r = run_cli("p", "help")
    assert r.returncode == 0 and b"Usage: pybpf prog" in r.stderr


def test_pretty_json_layout_is_bpftools():
    from pybpf.cli._json import dumps

    assert dumps({"a": [1, 2], "b": {"c": None}, "d": []}, pretty=True) == \
        '{\n    "a": [1,2\n    ],\n    "b": {\n        "c": null\n    },\n    "d": []\n}'
    assert dumps([{"x": "q\"\n"}]) == '[{"x":"q\\"\\n"}]'


# ------------------------------------------------------------- a clang-built program with BTF
BTF_PROG_C = r"""
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
typedef unsigned int __u32;
typedef unsigned long long __u64;
struct xdp_md { __u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };
struct value { __u64 packets; __u32 verdict; char tag[4]; };
struct {
	__uint(type, 1);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct value);
} cli_counts SEC(".maps");
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *) 1;
volatile const char bpf_metadata_owner[] = "pybpf-test";
static __attribute__((noinline)) int add_one(int x)
{
	return x + 1;
}
SEC("xdp")
int xdp_cli_count_packets(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct value *v = bpf_map_lookup_elem(&cli_counts, &key);

	if (v)
		__sync_fetch_and_add(&v->packets, 1);
	return add_one(ctx->ingress_ifindex & 1);
}
char LICENSE[] SEC("license") = "GPL";
"""


def build_btf_prog(tmpdir: str) -> str | None:
    """Compile BTF_PROG_C with clang (None when no clang)."""
    cc = shutil.which("clang-19") or shutil.which("clang")
    if cc is None:
        return None
    src, obj = os.path.join(tmpdir, "cli_prog.c"), os.path.join(tmpdir, "cli_prog.o")
    with open(src, "w") as f:
        f.write(BTF_PROG_C)
    subprocess.run([cc, "-O2", "-g", "-target", "bpf", "-c", src, "-o", obj], check=True, capture_output=True)
    return obj


class LoadedBTFProg:
    """BTF_PROG_C loaded and pinned by bpftool (so it has func_info, line_info, maps with BTF)."""

    def __init__(self, tmpdir: str) -> None:
        obj = build_btf_prog(tmpdir)
        if obj is None:
            pytest.skip("needs clang")
        from pybpf._sys.fs import ensure_bpffs

        ensure_bpffs()
        self.pin = f"/sys/fs/bpf/pybpf_cli_btfprog_{os.getpid()}"
        bpftool("prog", "load", obj, self.pin)
        info = json.loads(bpftool("-j", "prog", "show", "pinned", self.pin))
        self.id: int = info["id"]
        self.map_ids: list[int] = info["map_ids"]
        self.btf_id: int = info["btf_id"]
        maps = [json.loads(bpftool("-j", "map", "show", "id", str(m))) for m in self.map_ids]
        self.counts_id = next(m["id"] for m in maps if m.get("name") == "cli_counts")

    def close(self) -> None:
        if os.path.exists(self.pin):
            os.unlink(self.pin)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_without_privileges_one_line_like_bpftool():
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    r = subprocess.run([*drop, sys.executable, "-m", "pybpf", "prog", "list"], capture_output=True, text=True, env=env)
    assert r.returncode == 255 and r.stdout == ""
    assert r.stderr.startswith("Error: can't get next program: Operation not permitted") and r.stderr.count("\n") == 1
    r = subprocess.run([*drop, sys.executable, "-m", "pybpf", "map", "show", "id", "1"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 255 and r.stderr == "Error: get map by id (1): Operation not permitted\n"
