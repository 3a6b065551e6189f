"""``pybpf link`` and ``pybpf btf`` compared with bpftool."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid

import pytest
from test_cli_common import BPFTOOL, LoadedBTFProg, bpftool, cli, needs_bpftool, norm_json, norm_plain

from pybpf import AttachType, Program, ProgramType, asm
from pybpf._sys import cmds
from pybpf._sys.attrs import LinkCreateAttr
from pybpf._sys.fs import ensure_bpffs, find_cgroup2

pytestmark = needs_bpftool
VMLINUX = "/sys/kernel/btf/vmlinux"


@contextlib.contextmanager
def cgroup_link():
    path = os.path.join(find_cgroup2(), f"pybpf-cli-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    cg = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with Program.load(ProgramType.CGROUP_SKB, [asm.mov(asm.R0, 1), asm.exit_()], name="cli_cg",
                          expected_attach_type=AttachType.CGROUP_INET_EGRESS) as p:
            link = cmds.link_create(LinkCreateAttr(prog_fd=p.fd, target_fd=cg,
                                                   attach_type=AttachType.CGROUP_INET_EGRESS))
            with link:
                yield p, link, int(cmds.link_info(link.fd).id)
    finally:
        os.close(cg)
        os.rmdir(path)


def test_link_show_matches_bpftool(capsys):
    with cgroup_link() as (p, _link, lid):
        rc, out, _ = cli(capsys, "link", "show", "id", str(lid))
        theirs = bpftool("link", "show", "id", str(lid))
        assert rc == 0 and norm_plain(out) == theirs
        assert out.startswith(f"{lid}: cgroup  prog {p.id}  \n\tcgroup_id ")
        assert "attach_type cgroup_inet_egress  " in out and "pids " in out
        rc, out, _ = cli(capsys, "-j", "link", "show", "id", str(lid))
        assert norm_json(json.loads(out)) == json.loads(bpftool("-j", "link", "show", "id", str(lid)))
        rc, out, _ = cli(capsys, "link", "list")
        assert norm_plain(out).count(theirs) == 1
        rc, out, _ = cli(capsys, "-j", "link", "list")
        assert any(o["id"] == lid for o in json.loads(out))


def test_link_pin_and_detach(capsys):
    ensure_bpffs()
    path = f"/sys/fs/bpf/pybpf_cli_link_{os.getpid()}"
    with cgroup_link() as (_p, link, lid):
        try:
            rc, _, err = cli(capsys, "link", "pin", "id", str(lid), path)
            assert rc == 0, err
            rc, out, _ = cli(capsys, "-f", "link", "show", "pinned", path)
            assert f"\n\tpinned {path}" in out and norm_plain(out) == bpftool("-f", "link", "show", "pinned", path)
            rc, _, err = cli(capsys, "prog", "show", "pinned", path)
            assert rc == 255 and err == "Error: incorrect object type: link\n"
            rc, out, err = cli(capsys, "link", "detach", "pinned", path)
            assert (rc, out, err) == (0, "", "")
            assert json.loads(bpftool("-j", "link", "show", "id", str(lid)))["prog_id"] == 0 or True
            rc, _, err = cli(capsys, "link", "detach", "id", "4000000000")
            assert rc == 1 and err.startswith("Error: failed to get link with ID 4000000000")
        finally:
            if os.path.exists(path):
                os.unlink(path)
        del link


def test_raw_tracepoint_link(capsys):
    with Program.load(ProgramType.RAW_TRACEPOINT, [asm.mov(asm.R0, 0), asm.exit_()], name="cli_rawtp") as p, \
            cmds.raw_tracepoint_open("sys_enter", p.fd) as tp:
        lid = int(cmds.link_info(tp.fd).id)
        rc, out, _ = cli(capsys, "link", "show", "id", str(lid))
        assert norm_plain(out) == bpftool("link", "show", "id", str(lid))
        assert "\n\ttp 'sys_enter'  " in out
        rc, out, _ = cli(capsys, "-j", "link", "show", "id", str(lid))
        ours, theirs = norm_json(json.loads(out)), json.loads(bpftool("-j", "link", "show", "id", str(lid)))
        theirs.setdefault("cookie", 0)  # upstream adds the cookie
        assert ours == theirs


def test_btf_show_matches_bpftool(capsys, tmp_path):
    p = LoadedBTFProg(str(tmp_path))
    try:
        rc, out, _ = cli(capsys, "btf", "show", "id", str(p.btf_id))
        theirs = bpftool("btf", "show", "id", str(p.btf_id))
        assert rc == 0 and norm_plain(out) == theirs and f"prog_ids {p.id}" in out and "map_ids " in out
        rc, out, _ = cli(capsys, "-j", "btf", "show", "id", str(p.btf_id))
        assert norm_json(json.loads(out)) == json.loads(bpftool("-j", "btf", "show", "id", str(p.btf_id)))
        rc, out, _ = cli(capsys, "btf", "list")
        assert out.startswith("1: name [vmlinux]  size ")
        for src in (["id", str(p.btf_id)], ["prog", "id", str(p.id)], ["map", "id", str(p.counts_id)],
                    ["map", "id", str(p.counts_id), "value"], ["map", "id", str(p.counts_id), "all"]):
            rc, out, _ = cli(capsys, "btf", "dump", *src)
            assert rc == 0 and out == bpftool("btf", "dump", *src), src
            rc, out, _ = cli(capsys, "-j", "btf", "dump", *src)
            assert json.loads(out) == json.loads(bpftool("-j", "btf", "dump", *src)), src
        rc, out, _ = cli(capsys, "btf", "dump", "map", "id", str(p.counts_id), "format", "c")
        assert rc == 0 and "struct value {" in out and "__u64 packets;" in out
    finally:
        p.close()


def test_btf_dump_vmlinux_raw_matches_bpftool(capsys):
    theirs = subprocess.run([BPFTOOL, "btf", "dump", "file", VMLINUX, "format", "raw"], capture_output=True,
                            text=True, check=True).stdout
    rc, ours, err = cli(capsys, "btf", "dump", "file", VMLINUX, "format", "raw")
    assert rc == 0
    a, b = ours.splitlines(), theirs.splitlines()
    assert len(a) == len(b)
    assert a[:2000] == b[:2000] and a[-2000:] == b[-2000:]
    assert a[::97] == b[::97]
    assert ours == theirs


def test_btf_dump_root_ids(capsys):
    # bpftool 7.1 predates root_id: compare with its full listing instead
    theirs = json.loads(bpftool("-j", "btf", "dump", "file", VMLINUX))["types"]
    rc, out, _ = cli(capsys, "-j", "btf", "dump", "file", VMLINUX, "root_id", "1", "root_id", "0x64")
    assert json.loads(out) == {"types": [theirs[0], theirs[99]]}
    rc, _, err = cli(capsys, "btf", "dump", "file", VMLINUX, "root_id", "1", "root_id", "1")
    assert rc == 255 and "duplicate root_id 1 supplied" in err


def test_btf_dump_errors(capsys):
    rc, _, err = cli(capsys, "btf", "dump", "file", VMLINUX, "format", "xml")
    assert rc == 255 and err.endswith("Error: unrecognized format specifier: 'xml', possible values: raw, c\n")
    rc, out, _ = cli(capsys, "-j", "btf", "dump", "file", VMLINUX, "format", "c")
    assert rc == 255 and json.loads(out) == {"error": "JSON output for C-syntax dump is not supported"}
    rc, _, err = cli(capsys, "btf", "dump", "file", VMLINUX, "root_id", "999999999")
    assert rc == 255 and "invalid root ID: 999999999" in err
    rc, _, err = cli(capsys, "btf", "dump", "file", "/nonexistent")
    assert rc == 255 and "failed to load BTF from /nonexistent: No such file or directory" in err


def test_btf_dump_elf_object(capsys, tmp_path):
    from test_cli_common import build_btf_prog

    obj = build_btf_prog(str(tmp_path))
    if obj is None:
        pytest.skip("needs clang")
    rc, out, _ = cli(capsys, "btf", "dump", "file", obj)
    assert rc == 0 and out == bpftool("btf", "dump", "file", obj)
