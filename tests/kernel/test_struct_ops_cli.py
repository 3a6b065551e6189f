"""``pybpf struct_ops register`` against bpftool 7.1: the same object registered by either tool
dumps the same kernel value (ids aside); LINK_DIR pins ``.struct_ops.link`` links.

Names are random (the congestion-control registry is kernel-wide) and every registration
is removed in ``finally`` blocks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest
from test_cli_common import bpftool, cli, needs_bpftool

from pybpf.compile import compile as compile_c
from pybpf.compile import toolchain
from pybpf.links import Link

AVAILABLE = "/proc/sys/net/ipv4/tcp_available_congestion_control"

SRC = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char _license[] SEC("license") = "GPL";
SEC("struct_ops") __u32 BPF_PROG(d_ssthresh, struct sock *sk) { return 10; }
SEC("struct_ops") __u32 BPF_PROG(d_undo, struct sock *sk) { return 10; }
SEC("struct_ops") void BPF_PROG(d_ca, struct sock *sk, __u32 ack, __u32 acked) { }
SEC("SECTION") struct tcp_congestion_ops VAR = {
    .ssthresh = (void *)d_ssthresh, .undo_cwnd = (void *)d_undo, .cong_avoid = (void *)d_ca,
    .name = "NAME", .flags = 1,
};
"""

pytestmark = pytest.mark.skipif(toolchain.zig_path() is None and not shutil.which("clang-19"),
                                reason="no BPF C compiler (pip install ziglang)")
_IDS = re.compile(r'("(?:id|btf_id)": )\d+|(prog_id:)\d+')


def available() -> list[str]:
    with open(AVAILABLE) as f:
        return f.read().split()


def build(tmp_path, section: str) -> tuple[str, str, str]:
    """(object path, variable name, congestion control name) of a one-variable struct_ops object."""
    var, name = f"pyd{uuid.uuid4().hex[:8]}", f"py{uuid.uuid4().hex[:10]}"
    src = SRC.replace("SECTION", section).replace("VAR", var).replace("NAME", name)
    path = tmp_path / f"{var}.bpf.o"
    path.write_bytes(bytes(compile_c(src)))
    return str(path), var, name


def registered_id(err: str, var: str) -> int:
    m = re.fullmatch(rf"Registered tcp_congestion_ops {var} id (\d+)\n", err)
    assert m, err
    return int(m.group(1))


def normalized(dump: str) -> str:
    return _IDS.sub(lambda m: (m.group(1) or m.group(2)) + "N", dump)


@needs_bpftool
def test_register_matches_bpftool(capsys, tmp_path):
    obj, var, name = build(tmp_path, ".struct_ops")
    r = subprocess.run(["bpftool", "struct_ops", "register", obj], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    theirs_id = registered_id(r.stderr, var)
    try:
        theirs = bpftool("struct_ops", "dump", "id", str(theirs_id))
        rc, out, _ = cli(capsys, "struct_ops", "dump", "id", str(theirs_id))
        assert rc == 0  # pybpf's dump of bpftool's registration: the same text (pybpf quotes "(nil)")
        assert out == theirs.replace(": (nil)", ': "(nil)"')
        rc, out, _ = cli(capsys, "-j", "struct_ops", "dump", "id", str(theirs_id))
        assert rc == 0 and out == bpftool("-j", "struct_ops", "dump", "id", str(theirs_id))
    finally:
        bpftool("struct_ops", "unregister", "id", str(theirs_id))
    assert name not in available()

    rc, out, err = cli(capsys, "struct_ops", "register", obj)
    assert (rc, out) == (0, "")
    ours_id = registered_id(err, var)
    try:
        assert name in available()
        ours = bpftool("struct_ops", "dump", "id", str(ours_id))
        assert normalized(ours) == normalized(theirs)
        assert json.loads(bpftool("-j", "struct_ops", "show", "id", str(ours_id))) == {
            "id": ours_id, "name": var, "kernel_struct_ops": "tcp_congestion_ops"}
    finally:
        rc, _, err = cli(capsys, "struct_ops", "unregister", "id", str(ours_id))
    assert (rc, err) == (0, f"Unregistered tcp_congestion_ops {var} id {ours_id}\n")
    assert name not in available()


def test_register_link_dir_pins_the_links(capsys, tmp_path):
    from pybpf._sys.fs import DEFAULT_BPFFS, ensure_bpffs

    obj, var, name = build(tmp_path, ".struct_ops.link")
    rc, out, err = cli(capsys, "struct_ops", "register", obj)  # no LINK_DIR: the link ends with the command
    assert (rc, out) == (0, "") and re.fullmatch(rf"Registered tcp_congestion_ops {var} map id \d+ link id \d+\n", err)
    assert name not in available()

    ensure_bpffs(DEFAULT_BPFFS)
    linkdir = os.path.join(DEFAULT_BPFFS, f"pybpf_so_{uuid.uuid4().hex[:8]}")
    try:
        rc, out, err = cli(capsys, "-j", "struct_ops", "register", obj, linkdir)
        assert (rc, out, err) == (0, "null\n", "")
        assert os.listdir(linkdir) == [var]
        assert name in available()
        link = json.loads(bpftool("-j", "link", "show", "pinned", os.path.join(linkdir, var)))
        assert link["type"] == "struct_ops"
        # Detach explicitly: a link whose last reference is a pin is freed an RCU grace period
        # after the unlink, so removing the pin alone would unregister it only eventually.
        with Link.from_pin(os.path.join(linkdir, var)) as pinned:
            pinned.detach()
        assert name not in available()
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(linkdir)


def test_register_errors(capsys, tmp_path):
    rc, _, err = cli(capsys, "struct_ops", "register")
    assert rc == 255 and "Usage: pybpf struct_ops" in err
    rc, _, err = cli(capsys, "struct_ops", "register", str(tmp_path / "none.o"))
    assert rc == 255 and err.startswith("Error: failed to load object file:") and "none.o" in err
    plain = tmp_path / "xdp.o"
    plain.write_bytes(bytes(compile_c('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
                                      'SEC("xdp") int x(struct xdp_md *c) { return 2; }\n'
                                      'char LICENSE[] SEC("license") = "GPL";\n')))
    rc, _, err = cli(capsys, "struct_ops", "register", str(plain))
    assert (rc, err) == (255, f"Error: no struct_ops found in {plain}\n")
