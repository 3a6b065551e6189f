"""``pybpf prog``: show, dump xlated/jited, pin, run, tracelog, profile — compared with bpftool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from test_cli_common import LoadedBTFProg, bpftool, cli, needs_bpftool, norm_json, norm_plain, run_cli

from pybpf import Map, MapType, Program, ProgramType, asm
from pybpf._sys.fs import ensure_bpffs
from pybpf.cli.demo import dns_counter

pytestmark = needs_bpftool


@pytest.fixture(scope="module")
def btf_prog(tmp_path_factory):
    p = LoadedBTFProg(str(tmp_path_factory.mktemp("cli_prog")))
    yield p
    p.close()


@pytest.fixture
def asm_prog():
    with Map.create(MapType.ARRAY, 4, 8, 2, name="cli_counts2") as counts, \
            Program.load(ProgramType.SOCKET_FILTER, dns_counter(counts), name="cli_dns") as p:
        yield p


def test_show_matches_bpftool(capsys, asm_prog, btf_prog):
    for pid in (asm_prog.id, btf_prog.id):
        rc, out, _ = cli(capsys, "prog", "show", "id", str(pid))
        assert rc == 0
        assert norm_plain(out) == bpftool("prog", "show", "id", str(pid))
        rc, out, _ = cli(capsys, "-j", "prog", "show", "id", str(pid))
        assert norm_json(json.loads(out)) == json.loads(bpftool("-j", "prog", "show", "id", str(pid)))
        rc, out, _ = cli(capsys, "-p", "prog", "show", "id", str(pid))
        assert rc == 0 and out.startswith("{\n    \"id\": ")
    # the whole list: every program bpftool lists, ours in the same order and format
    rc, out, _ = cli(capsys, "-j", "prog", "list")
    ours = {o["id"]: o for o in norm_json(json.loads(out))}
    for theirs in json.loads(bpftool("-j", "prog", "list")):
        if theirs["id"] in ours:  # other tests may load/unload concurrently
            assert ours[theirs["id"]] == theirs


def test_show_pids_and_full_name_and_metadata(capsys, asm_prog, btf_prog):
    rc, out, _ = cli(capsys, "-j", "prog", "show", "id", str(asm_prog.id))
    o = json.loads(out)
    assert o["orphaned"] is False
    assert {"pid": os.getpid(), "comm": open("/proc/self/comm").read().strip()} in o["pids"]
    rc, out, _ = cli(capsys, "prog", "show", "name", "xdp_cli_count_packets")  # > 15 chars: from BTF
    assert rc == 0 and f"{btf_prog.id}: xdp  name xdp_cli_count_packets  tag " in out
    assert '\tmetadata:\n\t\towner = "pybpf-test"\n' in out
    rc, out, _ = cli(capsys, "-j", "prog", "show", "id", str(btf_prog.id))
    assert json.loads(out)["metadata"] == {"owner": "pybpf-test"}


def test_show_bpffs_pinned(capsys, btf_prog):
    rc, out, _ = cli(capsys, "-f", "prog", "show", "id", str(btf_prog.id))
    assert f"\n\tpinned {btf_prog.pin}\n" in out
    assert norm_plain(out) == bpftool("-f", "prog", "show", "id", str(btf_prog.id))
    rc, out, _ = cli(capsys, "-f", "-j", "prog", "show", "pinned", btf_prog.pin)
    assert json.loads(out)["pinned"] == [btf_prog.pin]


@pytest.mark.parametrize("opt", [[], ["opcodes"], ["linum"]])
def test_dump_xlated_matches_bpftool(capsys, asm_prog, btf_prog, opt):
    for pid in (asm_prog.id, btf_prog.id):
        rc, out, _ = cli(capsys, "prog", "dump", "xlated", "id", str(pid), *opt)
        assert rc == 0 and out == bpftool("prog", "dump", "xlated", "id", str(pid), *opt)
        rc, out, _ = cli(capsys, "-j", "prog", "dump", "xlated", "id", str(pid), *opt)
        assert json.loads(out) == json.loads(bpftool("-j", "prog", "dump", "xlated", "id", str(pid), *opt))


def test_dump_xlated_func_info_and_line_info(capsys, btf_prog):
    rc, out, _ = cli(capsys, "prog", "dump", "xlated", "id", str(btf_prog.id), "opcodes", "linum")
    assert out.startswith("int xdp_cli_count_packets(struct xdp_md * ctx):\n; int xdp_cli_count_packets(")
    assert "int add_one(int x):\n" in out and "call pc+1#bpf_prog_" in out and "line_num:" in out


def test_dump_xlated_file_and_visual(capsys, btf_prog, tmp_path):
    f = tmp_path / "xlated.bin"
    rc, out, _ = cli(capsys, "prog", "dump", "xlated", "id", str(btf_prog.id), "file", str(f))
    assert rc == 0 and out == ""
    with Program.from_id(btf_prog.id) as p:
        assert f.read_bytes() == p.xlated_bytes()
    rc, dot, _ = cli(capsys, "prog", "dump", "xlated", "id", str(btf_prog.id), "visual")
    assert dot.startswith('digraph "DOT graph for eBPF program" {\nsubgraph "cluster_0" {')
    assert 'subgraph "cluster_1"' in dot  # the subprogram
    assert "fn_0_bb_0 [shape=Mdiamond,style=filled,label=\"ENTRY\"];" in dot
    assert "fn_0_bb_0:s -> fn_0_bb_2:n" in dot and dot.endswith("}\n}\n")
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=dot.encode(), check=True, capture_output=True)
        png = tmp_path / "cfg.png"
        rc, _, _ = cli(capsys, "prog", "dump", "xlated", "id", str(btf_prog.id), "visual", "file", str(png))
        assert rc == 0 and png.read_bytes()[:4] == b"\x89PNG"
    rc, _, err = cli(capsys, "-j", "prog", "dump", "xlated", "id", str(btf_prog.id), "visual")
    assert rc == 255


def test_dump_jited(capsys, btf_prog, tmp_path):
    with Program.from_id(btf_prog.id) as p:
        code = p.jited()
    if not code:
        pytest.skip("JIT disabled")
    f = tmp_path / "jited.bin"
    rc, _, _ = cli(capsys, "prog", "dump", "jited", "id", str(btf_prog.id), "file", str(f))
    assert rc == 0 and f.read_bytes() == code
    from pybpf.jit_disasm import available

    rc, out, err = cli(capsys, "prog", "dump", "jited", "id", str(btf_prog.id), "opcodes")
    assert rc == 0  # raw bytes work without capstone too
    assert out.startswith("int xdp_cli_count_packets(struct xdp_md * ctx):\nbpf_prog_")
    assert "int add_one(int x):\n" in out
    rc, out, err = cli(capsys, "prog", "dump", "jited", "id", str(btf_prog.id))
    if not available():
        assert rc == 1 and err == "Error: jited disassembly needs capstone: pip install capstone\n"
        return
    assert rc == 0 and "   0:\t" in out and "; int xdp_cli_count_packets(struct xdp_md *ctx)" in out
    rc, out, _ = cli(capsys, "-j", "prog", "dump", "jited", "id", str(btf_prog.id), "opcodes")
    funcs = json.loads(out)
    assert [f["name"].split("_")[-1] for f in funcs] == ["packets", "one"]
    assert funcs[0]["proto"] == "int xdp_cli_count_packets(struct xdp_md * ctx)"
    assert funcs[0]["insns"][0]["pc"] == "0x0" and funcs[0]["insns"][0]["opcodes"]


def test_pin_and_show_pinned(capsys, asm_prog):
    ensure_bpffs()
    path = f"/sys/fs/bpf/pybpf_cli_pin_{os.getpid()}"
    try:
        rc, out, err = cli(capsys, "prog", "pin", "id", str(asm_prog.id), path)
        assert rc == 0 and out == "" and err == ""
        assert json.loads(bpftool("-j", "prog", "show", "pinned", path))["id"] == asm_prog.id
        rc, _, err = cli(capsys, "prog", "pin", "id", str(asm_prog.id), path)
        assert rc == 255 and f"path '{path}' already exists" in err
        rc, _, err = cli(capsys, "prog", "show", "pinned", "/sys/fs/bpf/nope_nope")
        assert rc == 255 and err == "Error: bpf obj get (/sys/fs/bpf/nope_nope): No such file or directory\n"
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_pin_wrong_type(capsys):
    ensure_bpffs()
    path = f"/sys/fs/bpf/pybpf_cli_map_{os.getpid()}"
    with Map.create(MapType.ARRAY, 4, 4, 1) as m:
        m.pin(path)
        try:
            rc, _, err = cli(capsys, "prog", "show", "pinned", path)
            assert rc == 255 and err == "Error: incorrect object type: map\n"
        finally:
            os.unlink(path)


def test_run_like_bpftool(capsys, asm_prog, tmp_path):
    from pybpf.cli.demo import packet

    data = tmp_path / "pkt"
    data.write_bytes(packet(53))
    out_file = tmp_path / "out"
    rc, out, _ = cli(capsys, "prog", "run", "id", str(asm_prog.id), "data_in", str(data), "data_out", str(out_file),
                     "repeat", "3")
    want = json.loads(bpftool("-j", "prog", "run", "id", str(asm_prog.id), "data_in", str(data)))["retval"]
    assert rc == 0 and out.startswith(f"Return value: {want}, duration (average): ") and out.endswith("ns\n")
    bpftool("prog", "run", "id", str(asm_prog.id), "data_in", str(data), "data_out", str(tmp_path / "theirs"))
    assert out_file.read_bytes() == (tmp_path / "theirs").read_bytes()
    theirs = bpftool("prog", "run", "id", str(asm_prog.id), "data_in", str(data), "data_out", "-")
    rc, ours, _ = cli(capsys, "prog", "run", "id", str(asm_prog.id), "data_in", str(data), "data_out", "-")
    cut = lambda s: s[:s.index("Return value")]  # noqa: E731 - durations differ
    assert cut(ours) == cut(theirs) and "0000000\t" in ours
    rc, out, _ = cli(capsys, "-j", "prog", "run", "id", str(asm_prog.id), "data_in", str(data), "data_out", "-")
    j = json.loads(out)
    assert j["retval"] == want and j["data_out"] == list((tmp_path / "theirs").read_bytes()) and "duration" in j
    rc, _, err = cli(capsys, "prog", "run", "id", str(asm_prog.id), "data", str(data))
    assert rc == 255 and "ambiguous prefix: 'data' could be 'data_in' or 'data_out' or 'data_size_out'" in err


def test_run_stdin_subprocess(asm_prog):
    from pybpf.cli.demo import packet

    r = run_cli("prog", "run", "id", str(asm_prog.id), "data_in", "-", stdin=packet(80))
    assert r.returncode == 0 and r.stdout.startswith(b"Return value: ") and b", duration: " in r.stdout


def test_profile_says_why_not(capsys, asm_prog):
    rc, _, err = cli(capsys, "prog", "profile", "id", str(asm_prog.id), "cycles")
    assert rc == 255 and err.startswith("Error: profile: ") and err.count("\n") == 1


def test_tracelog_streams_lines(capsys, monkeypatch, tmp_path):
    from pybpf.cli import prog_run

    fake = tmp_path / "trace_pipe"
    fake.write_bytes(b"  python-1 [000] d..31 1.0: bpf_trace_printk: hi\n"
                     b"  python-1 [000] 2.0: bpf_trace_printk: x\"y\n")
    monkeypatch.setattr(prog_run, "_trace_pipe", lambda ctx: str(fake))
    rc, out, _ = cli(capsys, "prog", "tracelog")
    assert rc == 0 and out == fake.read_text()
    rc, out, _ = cli(capsys, "-j", "prog", "tracelog")
    assert json.loads(out) == fake.read_text().splitlines(keepends=True)


def test_dump_several_programs_prints_headers(capsys):
    insns = [asm.mov(asm.R0, 2), asm.exit_()]
    with Program.load(ProgramType.XDP, insns, name="cli_multi") as a, \
            Program.load(ProgramType.XDP, insns, name="cli_multi") as b:
        rc, out, _ = cli(capsys, "prog", "dump", "xlated", "name", "cli_multi")
        assert rc == 0 and out.count("   0: (b7) r0 = 2\n") == 2
        assert f"{a.id}: xdp  name cli_multi  tag {a.tag}  gpl\n" in out and f"{b.id}: xdp" in out
        rc, out, _ = cli(capsys, "-j", "prog", "dump", "xlated", "name", "cli_multi")
        assert [o["insns"][0]["disasm"] for o in json.loads(out)] == ["(b7) r0 = 2"] * 2
