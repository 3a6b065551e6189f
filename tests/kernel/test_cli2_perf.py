"""``pybpf perf list`` (and ``link list`` for the same links) compared with bpftool.

Only this process's entries are compared: other processes on the machine may
attach and detach programs between the two runs.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from test_cli_common import bpftool, cli, needs_bpftool, norm_json, norm_plain

from pybpf import Program, ProgramType, asm
from pybpf._sys import cmds
from pybpf.links._elfsym import resolve_binary
from pybpf.perfquery import perf_attachments, task_fd_query_probe

pytestmark = needs_bpftool
ME = os.getpid()


def mine_plain(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(f"pid {ME} ")]


def mine_json(text: str) -> list[dict]:
    return [o for o in json.loads(text) if o["pid"] == ME]


@pytest.fixture
def attached():
    """A tracepoint link, a uprobe link (libc getpid) and a raw tracepoint, held by this process."""
    libc = resolve_binary("libc.so.6")
    with Program.load(ProgramType.TRACEPOINT, [asm.mov(asm.R0, 0), asm.exit_()], name="cli2_tp") as tp, \
            Program.load(ProgramType.KPROBE, [asm.mov(asm.R0, 0), asm.exit_()], name="cli2_up") as up, \
            Program.load(ProgramType.RAW_TRACEPOINT, [asm.mov(asm.R0, 0), asm.exit_()], name="cli2_raw") as raw:
        with tp.attach_tracepoint("syscalls", "sys_enter_getpid") as l1, up.attach_uprobe(libc, "getpid") as l2, \
                cmds.raw_tracepoint_open("sys_enter", raw.fd) as l3:
            yield {"tp": (tp, l1), "up": (up, l2), "raw": (raw, l3), "libc": libc}


def test_task_fd_query_supported():
    assert task_fd_query_probe() == 0


def test_perf_list_matches_bpftool(capsys, attached):
    tp, l1 = attached["tp"]
    up, l2 = attached["up"]
    raw, l3 = attached["raw"]
    rc, out, err = cli(capsys, "perf", "list")
    assert rc == 0 and err == ""
    ours = mine_plain(out)
    assert ours == mine_plain(bpftool("perf", "list"))
    assert f"pid {ME}  fd {l1.perf_fd}: prog_id {tp.id}  tracepoint  sys_enter_getpid" in ours
    assert any(re.fullmatch(rf"pid {ME}  fd {l2.perf_fd}: prog_id {up.id}  uprobe  filename "
                            rf"{re.escape(attached['libc'])}  offset \d+", ln) for ln in ours)
    assert f"pid {ME}  fd {l3.fd}: prog_id {raw.id}  raw_tracepoint  sys_enter" in ours
    rc, out, _ = cli(capsys, "-j", "perf", "show")
    assert rc == 0 and mine_json(out) == mine_json(bpftool("-j", "perf", "show"))
    kinds = {o["fd_type"] for o in mine_json(out)}
    assert kinds >= {"tracepoint", "uprobe", "raw_tracepoint"}
    rc, pretty, _ = cli(capsys, "-p", "perf", "show")
    assert mine_json(pretty) == mine_json(out)
    # the library view
    lib = [a for a in perf_attachments([ME])]
    assert {(a.fd, a.prog_id, a.kind) for a in lib} >= {(l1.perf_fd, tp.id, "tracepoint"),
                                                        (l3.fd, raw.id, "raw_tracepoint")}


def test_link_list_for_perf_links_matches_bpftool(capsys, attached):
    for key in ("tp", "up"):
        _prog, link = attached[key]
        rc, out, _ = cli(capsys, "link", "show", "id", str(link.id))
        assert rc == 0
        theirs = bpftool("link", "show", "id", str(link.id))
        # bpftool 7.1 prints no perf_event details; upstream (our format) does
        assert norm_plain(out).startswith(theirs.rstrip("\n"))
        if key == "tp":
            assert "\n\ttracepoint sys_enter_getpid  " in out
        else:
            assert f"\n\tuprobe {attached['libc']}+0x" in out
        rc, js, _ = cli(capsys, "-j", "link", "show", "id", str(link.id))
        t = json.loads(bpftool("-j", "link", "show", "id", str(link.id)))
        o = norm_json(json.loads(js))
        assert {k: o[k] for k in t} == t
    _prog, raw = attached["raw"]
    lid = int(cmds.link_info(raw.fd).id)
    rc, out, _ = cli(capsys, "link", "show", "id", str(lid))
    assert norm_plain(out) == bpftool("link", "show", "id", str(lid))
    rc, listed, _ = cli(capsys, "link", "list")
    for link_id in (attached["tp"][1].id, attached["up"][1].id, lid):
        rc, one, _ = cli(capsys, "link", "show", "id", str(link_id))
        assert one in listed
