"""``pybpf cgroup`` compared with bpftool on temporary cgroups (created and removed by the tests)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from netns import temp_cgroup
from test_cli_common import BPFTOOL, bpftool, cli, needs_bpftool

from pybpf import AttachType, Program, ProgramType, asm
from pybpf._sys import cmds
from pybpf.cgroupquery import CGROUP_ATTACH_TYPES, attached, has_attached, walk
from pybpf.cli.cgroup import parse_attach_type

pytestmark = needs_bpftool


def prog(ptype: ProgramType, name: str, **kw) -> Program:
    return Program.load(ptype, [asm.mov(asm.R0, 1), asm.exit_()], name=name, **kw)


@pytest.fixture
def cg_tree():
    """A temporary cgroup with one child."""
    with temp_cgroup() as root:
        child = os.path.join(root, "child")
        os.mkdir(child)
        try:
            yield root, child
        finally:
            os.rmdir(child)


@pytest.fixture
def progs():
    with prog(ProgramType.CGROUP_SKB, "cli2_egress", expected_attach_type=AttachType.CGROUP_INET_EGRESS) as eg, \
            prog(ProgramType.CGROUP_SKB, "cli2_ingress") as ig, prog(ProgramType.SOCK_OPS, "cli2_sockops") as so:
        yield eg, ig, so


def detach_all(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        for p in attached(fd)[0]:
            with cmds.fd_by_id("prog", p.prog_id) as pfd:
                cmds.prog_detach(fd, p.attach_type, pfd.fd)
    finally:
        os.close(fd)


def test_parse_attach_type_like_bpftool():
    assert parse_attach_type("cgroup_inet_egress") == AttachType.CGROUP_INET_EGRESS
    assert parse_attach_type("egress") == AttachType.CGROUP_INET_EGRESS
    assert parse_attach_type("egr") == AttachType.CGROUP_INET_EGRESS
    assert parse_attach_type("sock_ops") == AttachType.CGROUP_SOCK_OPS
    assert parse_attach_type("cgroup_sock_ops") == AttachType.CGROUP_SOCK_OPS
    assert parse_attach_type("connect4") == AttachType.CGROUP_INET4_CONNECT
    assert parse_attach_type("nonsense") is None
    assert len(CGROUP_ATTACH_TYPES) == 29


def test_cgroup_show_empty(capsys, cg_tree):
    root, _ = cg_tree
    for args in (["cgroup", "show", root], ["-j", "cgroup", "show", root]):
        rc, out, err = cli(capsys, *args)
        assert (rc, out, err) == (0, "\n" if args[0] == "-j" else "", "") and bpftool(*args) == out


def test_cgroup_attach_show_tree_detach(capsys, cg_tree, progs):
    root, child = cg_tree
    eg, ig, so = progs
    try:
        for args in (["cgroup", "attach", root, "egress", "id", str(eg.id), "multi"],
                     ["cgroup", "attach", root, "ingress", "id", str(ig.id), "override"],
                     ["cgroup", "attach", root, "sock_ops", "id", str(so.id)],
                     ["cgroup", "attach", child, "cgroup_inet_egress", "id", str(eg.id), "multi"]):
            rc, out, err = cli(capsys, *args)
            assert (rc, out, err) == (0, "", ""), args
        fd = os.open(root, os.O_RDONLY)
        try:
            assert has_attached(fd)
        finally:
            os.close(fd)
        for args in (["cgroup", "show", root], ["cgroup", "show", child, "effective"], ["cgroup", "list", child],
                     ["cgroup", "tree", root], ["cgroup", "tree", root, "effective"]):
            for j in ([], ["-j"], ["-p"]):
                rc, out, err = cli(capsys, *j, *args)
                assert rc == 0 and err == "", (args, err)
                assert out == bpftool(*j, *args), (j, args)
        rc, out, _ = cli(capsys, "cgroup", "show", root)
        assert out.splitlines()[0].split() == ["ID", "AttachType", "AttachFlags", "Name"]
        assert f"{eg.id:<8} cgroup_inet_egress multi           cli2_egress" in out
        assert f"{so.id:<8} cgroup_sock_ops" in out
        rc, out, _ = cli(capsys, "-j", "cgroup", "show", child, "effective")
        eff = json.loads(out)
        assert {o["id"] for o in eff} == {eg.id, ig.id, so.id}  # inherited ones too
        assert all("attach_flags" not in o for o in eff)
        rc, out, _ = cli(capsys, "cgroup", "tree", root)
        assert out.startswith("CgroupPath\nID       AttachType      AttachFlags     Name           \n" + root + "\n")
        assert f"\n{child}\n    {eg.id:<8} cgroup_inet_egress" in out
        # detach, then errors as bpftool prints them
        rc, _, err = cli(capsys, "cgroup", "detach", child, "egress", "id", str(eg.id))
        assert (rc, err) == (0, "")
        for args, msg in ((["cgroup", "detach", child, "egress", "id", str(eg.id)], "failed to detach program"),
                          (["cgroup", "attach", root, "bogus", "id", str(eg.id)], "invalid attach type"),
                          (["cgroup", "attach", root, "egress"], "too few parameters for cgroup attach"),
                          (["cgroup", "attach", root + "/nope", "egress", "id", str(eg.id)],
                           f"can't open cgroup {root}/nope"),
                          (["cgroup", "attach", root, "egress", "id", str(eg.id), "sometimes"],
                           "unknown option: sometimes"),
                          (["cgroup", "show", root, "everything"],
                           "expected no more arguments, 'effective', got: 'everything'?")):
            rc, out, err = cli(capsys, *args)
            r = subprocess.run([BPFTOOL, *args], capture_output=True, text=True)
            assert (rc, out, err) == (r.returncode, r.stdout, r.stderr) == (255, "", f"Error: {msg}\n"), args
    finally:
        detach_all(child)
        detach_all(root)


def test_walk_is_preorder_and_stays_on_the_mount(cg_tree):
    root, child = cg_tree
    assert list(walk(root)) == [(root, 0), (child, 1)]
