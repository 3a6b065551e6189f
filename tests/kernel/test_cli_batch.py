"""``pybpf batch file FILE`` against ``bpftool batch file FILE`` (same file, same objects)."""

from __future__ import annotations

import json

import pytest
from test_cli_common import bpftool, cli, needs_bpftool, norm_json, norm_plain

from pybpf import Map, MapType, Program, ProgramType, asm

pytestmark = needs_bpftool


@pytest.fixture
def objs():
    with Map.create(MapType.ARRAY, 4, 8, 2, name="batch_map") as m, \
            Program.load(ProgramType.XDP, [asm.mov(asm.R0, 2), asm.exit_()], name="batch_prog") as p:
        yield p, m


def _batch(tmp_path, text: str) -> str:
    path = tmp_path / "cmds.txt"
    path.write_text(text)
    return str(path)


def test_plain_and_json_match_bpftool(capsys, tmp_path, objs):
    p, m = objs
    path = _batch(tmp_path, (
        f"# a comment line\n"
        f"prog show id {p.id}   # trailing comment\n"
        f"\n"
        f"map \\\n   show 'id' \"{m.id}\"\n"
        f"map dump id {m.id}\n"
        f"feature list_builtins link_types\n"))
    rc, out, err = cli(capsys, "batch", "file", path)
    assert rc == 0 and err == ""
    theirs = bpftool("batch", "file", path)
    assert out.endswith("processed 4 commands\n")
    # bpftool 1.1's link type list ends before netfilter/tcx/...; compare the rest exactly
    ours_head, theirs_head = out.split("unspec\n")[0], theirs.split("unspec\n")[0]
    assert norm_plain(ours_head) == theirs_head

    rc, out, _ = cli(capsys, "-j", "batch", "file", path)
    assert rc == 0
    mine, ref = json.loads(out), json.loads(bpftool("-j", "batch", "file", path))
    assert [c["command"] for c in mine] == [c["command"] for c in ref] == [
        ["prog", "show", "id", str(p.id)], ["map", "show", "id", str(m.id)], ["map", "dump", "id", str(m.id)],
        ["feature", "list_builtins", "link_types"]]
    for a, b in zip(mine[:3], ref[:3]):
        assert norm_json(a["output"]) == b["output"]
    assert mine[3]["output"][:len(ref[3]["output"])] == ref[3]["output"]

    rc, out, _ = cli(capsys, "-p", "batch", "file", path)
    assert rc == 0 and json.loads(out) == mine and out.startswith("[{\n")


def test_first_failure_stops_the_batch(capsys, tmp_path, objs):
    p, _ = objs
    path = _batch(tmp_path, f"prog show id {p.id}\nprog show id 4294967295\nprog show id {p.id}\n")
    rc, out, err = cli(capsys, "batch", "file", path)
    assert rc == 255 and out.count(f"{p.id}: xdp  name batch_prog") == 1 and "processed" not in out
    assert err == "Error: get by id (4294967295): No such file or directory\n"
    rc, out, _ = cli(capsys, "-j", "batch", "file", path)
    mine, ref = json.loads(out), json.loads(bpftool("-j", "batch", "file", path, check=False))
    assert rc == 255 and len(mine) == len(ref) == 2
    assert mine[1] == ref[1] == {"command": ["prog", "show", "id", "4294967295"],
                                 "output": {"error": "get by id (4294967295): No such file or directory"}}


@pytest.mark.parametrize("args,text,msg", [
    (["batch"], None, "too few parameters for batch"),
    (["batch", "foo", "x"], None, "expected 'file', got: foo"),
    (["batch", "file", "a", "b"], None, "too many parameters for batch"),
    (["batch", "file", "/nonexistent/cmds"], None, "Can't open file (/nonexistent/cmds): No such file or directory"),
    (["batch", "file"], "version 'abc\n", "unterminated quoted string in command 0"),
    (["batch", "file"], "version \\\n", "missing continuation line on command 0"),
    (["batch", "file"], "batch file x\n", "batch commands cannot be nested"),
])
def test_errors_are_bpftools(capsys, tmp_path, args, text, msg):
    if text is not None:
        args = [*args, _batch(tmp_path, text)]
    rc, out, err = cli(capsys, *args)
    assert rc == 255 and err == f"Error: {msg}\n" and out == ""
