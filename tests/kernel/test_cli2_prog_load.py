"""``pybpf prog load|loadall|attach|detach|verify`` compared with bpftool on clang-19 objects."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest
from test_cli_common import bpftool, cli, needs_bpftool, norm_plain

from pybpf import Map, MapType
from pybpf._sys.fs import ensure_bpffs

HERE = os.path.dirname(__file__)
OBJ_DIR = os.path.join(HERE, "..", "data", "obj")

pytestmark = needs_bpftool


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    import sys

    sys.path.insert(0, OBJ_DIR)
    import build

    if build.clang() is None:
        pytest.skip(f"{build.CLANG} is not installed")
    d = str(tmp_path_factory.mktemp("cli2objs"))
    out = {n: build.build(f"{n}.c", os.path.join(d, f"{n}.o")) for n in ("hello", "subprogs", "core", "globals")}
    for k in ("tracepoint", "xdp", "sk_skb", "flow_dissector", "iter"):
        out[f"kind_{k}"] = build.build("kinds.c", os.path.join(d, f"kind_{k}.o"), (f"KIND_{k.upper()}",))
    return out


@pytest.fixture
def pindir():
    """A fresh directory on /sys/fs/bpf, removed with everything pinned in it."""
    ensure_bpffs()
    d = f"/sys/fs/bpf/pybpf-cli2-{uuid.uuid4().hex[:8]}"
    os.mkdir(d)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(d)


_IDS = re.compile(r"map\[id:\d+\]")


def xlated(path: str) -> str:
    return _IDS.sub("map[id:N]", bpftool("prog", "dump", "xlated", "pinned", path))


def show_norm(path: str) -> dict:
    o = json.loads(bpftool("-j", "prog", "show", "pinned", path))
    for k in ("id", "loaded_at", "map_ids", "btf_id", "bytes_memlock"):
        o.pop(k, None)
    return o


@pytest.mark.parametrize("name", ["hello", "subprogs", "core", "globals", "kind_tracepoint"])
def test_prog_load_matches_bpftool(capsys, objs, pindir, name):
    ours, theirs = f"{pindir}/ours", f"{pindir}/theirs"
    rc, out, err = cli(capsys, "prog", "load", objs[name], ours)
    assert (rc, out, err) == (0, "", "")
    bpftool("prog", "load", objs[name], theirs)
    assert show_norm(ours) == show_norm(theirs)
    assert xlated(ours) == xlated(theirs)
    rc, out, _ = cli(capsys, "prog", "show", "pinned", ours)
    assert rc == 0 and norm_plain(out) == bpftool("prog", "show", "pinned", ours)


def test_prog_loadall_and_pinmaps(capsys, objs, pindir):
    rc, out, err = cli(capsys, "-j", "prog", "loadall", objs["subprogs"], f"{pindir}/ours", "pinmaps",
                       f"{pindir}/ours_maps")
    assert (rc, out, err) == (0, "null\n", "")
    bpftool("prog", "loadall", objs["subprogs"], f"{pindir}/theirs", "pinmaps", f"{pindir}/theirs_maps")
    assert sorted(os.listdir(f"{pindir}/ours")) == sorted(os.listdir(f"{pindir}/theirs")) == ["first", "second",
                                                                                                 "third"]
    assert sorted(os.listdir(f"{pindir}/ours_maps")) == sorted(os.listdir(f"{pindir}/theirs_maps"))
    for p in os.listdir(f"{pindir}/ours"):
        assert show_norm(f"{pindir}/ours/{p}") == show_norm(f"{pindir}/theirs/{p}")
        assert xlated(f"{pindir}/ours/{p}") == xlated(f"{pindir}/theirs/{p}")
    # every program of one loadall shares the object's maps
    ids = {tuple(json.loads(bpftool("-j", "prog", "show", "pinned", f"{pindir}/ours/{p}"))["map_ids"])
           for p in ("first", "second")}
    assert len(ids) == 1


def test_prog_load_reuses_maps(capsys, objs, pindir):
    with Map.create(MapType.ARRAY, 4, 8, 16, name="counters") as m:  # subprogs.c's map: array u32 -> u64
        rc, _, err = cli(capsys, "prog", "load", objs["subprogs"], f"{pindir}/by_name", "map", "name", "counters",
                         "id", str(m.id))
        assert rc == 0, err
        rc, _, err = cli(capsys, "prog", "load", objs["subprogs"], f"{pindir}/by_idx", "map", "idx", "0", "id",
                         str(m.id))
        assert rc == 0, err
        for p in ("by_name", "by_idx"):
            assert m.id in json.loads(bpftool("-j", "prog", "show", "pinned", f"{pindir}/{p}"))["map_ids"]
        for args, msg in ((["map", "name", "nosuch", "id", str(m.id)], "unable to find map 'nosuch'"),
                          (["map", "idx", "7", "id", str(m.id)], "map idx '7' not used"),
                          (["map", "idx", "0", "id", str(m.id), "map", "name", "counters", "id", str(m.id)],
                           "replacement for map idx 0 specified more than once"),
                          (["map", "idx", "x", "id", str(m.id)], "can't parse x as IDX")):
            rc, _, err = cli(capsys, "prog", "load", objs["subprogs"], f"{pindir}/bad", *args)
            theirs = subprocess.run(["bpftool", "prog", "load", objs["subprogs"], f"{pindir}/bad2", *args],
                                    capture_output=True, text=True)
            assert rc == 255 and err == f"Error: {msg}\n" and f"Error: {msg}" in theirs.stderr, (args, err)
        assert not os.path.exists(f"{pindir}/bad")


def test_prog_load_type_override_and_errors(capsys, objs, pindir):
    rc, _, err = cli(capsys, "prog", "load", objs["hello"], f"{pindir}/t", "type", "xdp")
    assert rc == 0, err
    bpftool("prog", "load", objs["hello"], f"{pindir}/t2", "type", "xdp")
    assert show_norm(f"{pindir}/t") == show_norm(f"{pindir}/t2")
    for args, msg in ((["type", "xdp", "type", "xdp"], "program type already specified"),
                      (["bogus"], "expected no more arguments, 'type', 'map', 'offload_dev', 'xdpmeta_dev', "
                                  "'pinmaps', 'autoattach', or 'kernel_btf', got: 'bogus'?")):
        rc, _, err = cli(capsys, "prog", "load", objs["hello"], f"{pindir}/x", *args)
        assert rc == 255 and err == f"Error: {msg}\n"
    rc, _, err = cli(capsys, "prog", "load", objs["hello"], f"{pindir}/t")
    assert rc == 255 and err == f"Error: can't pin BPF object: path '{pindir}/t' already exists\n"
    rc, _, err = cli(capsys, "prog", "load", "/nonexistent.o", f"{pindir}/y")
    assert rc == 255 and err.startswith("Error: failed to open object file")
    rc, _, err = cli(capsys, "prog", "load", objs["hello"], f"{pindir}/t3", "type", "nosuchtype")
    assert rc == 255 and "failed to guess program type from ELF section 'nosuchtype/'" in err


def test_prog_load_debug_prints_loader_and_core_log(capsys, objs, pindir):
    rc, _, err = cli(capsys, "-d", "prog", "load", objs["core"], f"{pindir}/dbg")
    assert rc == 0
    assert "pybpf: CO-RE relocating [" in err and "found target candidate" in err
    assert "-- BEGIN PROG LOAD LOG --" in err and "processed " in err


def test_prog_load_kernel_btf(capsys, objs, pindir):
    rc, _, err = cli(capsys, "prog", "load", objs["core"], f"{pindir}/kb", "kernel_btf", "/sys/kernel/btf/vmlinux")
    assert rc == 0, err
    bpftool("prog", "load", objs["core"], f"{pindir}/kb2")
    assert xlated(f"{pindir}/kb") == xlated(f"{pindir}/kb2")


def test_prog_loadall_autoattach(capsys, objs, pindir):
    rc, _, err = cli(capsys, "prog", "loadall", objs["kind_tracepoint"], f"{pindir}/aa", "autoattach")
    assert rc == 0, err
    link = json.loads(bpftool("-j", "link", "show", "pinned", f"{pindir}/aa/k_tracepoint"))
    assert link["type"] == "perf_event"
    # xdp needs an interface: falls back to pinning the program, as bpftool does
    rc, _, err = cli(capsys, "prog", "load", objs["kind_xdp"], f"{pindir}/aa_xdp", "autoattach")
    assert rc == 0 and err == "Program k_xdp does not support autoattach, falling back to pinning\n"
    assert json.loads(bpftool("-j", "prog", "show", "pinned", f"{pindir}/aa_xdp"))["type"] == "xdp"


def test_prog_attach_detach_sockmap_and_flow_dissector(capsys, objs, pindir):
    from netns import in_netns, netns

    rc, _, err = cli(capsys, "prog", "load", objs["kind_sk_skb"], f"{pindir}/skb")
    assert rc == 0, err
    with Map.create(MapType.SOCKMAP, 4, 4, 4, name="cli2_sockmap") as sm:
        for verb in ("attach", "detach"):
            rc, out, err = cli(capsys, "-j", "prog", verb, "pinned", f"{pindir}/skb", "stream_verdict", "id",
                               str(sm.id))
            assert (rc, out, err) == (0, "null\n", ""), verb
        rc, _, err = cli(capsys, "prog", "detach", "pinned", f"{pindir}/skb", "sk_skb_stream_verdict", "id",
                         str(sm.id))
        assert (rc, err) == (234, "Error: failed prog detach from map\n")
        rc, _, err = cli(capsys, "prog", "attach", "pinned", f"{pindir}/skb", "bogus", "id", str(sm.id))
        assert (rc, err) == (234, "Error: invalid attach/detach type\n")
    rc, _, err = cli(capsys, "prog", "load", objs["kind_flow_dissector"], f"{pindir}/fd")
    assert rc == 0, err
    with netns() as ns, in_netns(ns):
        rc, _, err = cli(capsys, "prog", "attach", "pinned", f"{pindir}/fd", "flow_dissector")
        assert rc == 0, err
        rc, out, _ = cli(capsys, "net", "show")
        fd_id = json.loads(bpftool("-j", "prog", "show", "pinned", f"{pindir}/fd"))["id"]
        assert f"flow_dissector:\nid {fd_id}\n" in out
        rc, _, err = cli(capsys, "prog", "detach", "pinned", f"{pindir}/fd", "flow_dissector")
        assert rc == 0, err


BAD_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int good(struct xdp_md *c) { return XDP_PASS; }
SEC("xdp") int bad(struct xdp_md *c) { int *p = (int *)(long)c->data; return *p; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_prog_verify(capsys, objs, tmp_path):
    import sys

    sys.path.insert(0, OBJ_DIR)
    import build

    rc, out, err = cli(capsys, "prog", "verify", objs["hello"])
    assert rc == 0 and err == ""
    assert out.startswith("prog 'hello' (xdp, section 'xdp'):\n")
    assert re.search(r"^; .*counter\+\+.* @ hello\.c:\d+$", out, re.M)
    assert "prog 'hello': verified (" in out
    src = tmp_path / "bad.c"
    src.write_text(BAD_C)
    obj = build.build(str(src), str(tmp_path / "bad.o"))
    rc, out, err = cli(capsys, "prog", "verify", obj)
    assert rc == 1
    assert "prog 'good': verified" in out and "prog 'bad': REJECTED: " in out
    assert re.search(r"^; .*return \*p;.* @ bad\.c:\d+$", out, re.M)
    assert err.count("\n") == 1 and err.startswith("Error: ") and "outside of the packet" in err
    rc, out, _ = cli(capsys, "-j", "prog", "verify", obj, "program", "good")
    assert rc == 0 and [r["verified"] for r in json.loads(out)] == [True]
    # nothing left behind: the leak fixture checks programs and maps


def test_annotate_old_kernel_log():
    from pybpf.cli.prog_verify import annotate

    log = "0: R1=ctx()\n; return 1;\n0: (b7) r0 = 1\n1: (95) exit\n"
    assert annotate(log, {0: "return 1; @ x.c:3"}) == "0: R1=ctx()\n; return 1; @ x.c:3\n0: (b7) r0 = 1\n1: (95) exit\n"
    kernel = "; return 1; @ x.c:3\n0: (b7) r0 = 1\n"
    assert annotate(kernel, {0: "other @ y.c:1"}) == kernel


def test_prog_help_lists_the_new_verbs():
    r = subprocess.run([__import__("sys").executable, "-m", "pybpf", "prog", "help"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "..", "src")))
    assert "prog { load | loadall } OBJ  PATH" in r.stderr and "prog verify OBJ" in r.stderr
