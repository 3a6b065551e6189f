"""``pybpf net`` compared with bpftool, in network namespaces the tests create.

Both commands run inside the test namespace: ours in-process (the thread enters
the namespace with setns), bpftool through ``ip netns exec``. bpftool 7.1 is
older than the format we follow (upstream's): it has no ``netfilter:``
section and does not list tcx programs, so those parts are checked on their
own and dropped before comparing.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from netns import in_netns, ip, netns, sh
from test_cli_common import BPFTOOL, cli, needs_bpftool

from pybpf import AttachType, Program, ProgramType, asm, features
from pybpf._sys import cmds
from pybpf._sys import netlink as nl
from pybpf.links import net

pytestmark = needs_bpftool


def bpftool_ns(ns: str, *args: str) -> str:
    r = subprocess.run(["ip", "netns", "exec", ns, BPFTOOL, *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def prog(ptype: ProgramType, name: str, ret: int = 0, **kw) -> Program:
    return Program.load(ptype, [asm.mov(asm.R0, ret), asm.exit_()], name=name, **kw)


def ours_ns(capsys, ns: str, *args: str) -> tuple[int, str, str]:
    with in_netns(ns):
        return cli(capsys, *args)


_TCX = re.compile(r"^.*\) tcx/(ingress|egress) .*\n", re.M)


def strip_upstream(text: str) -> str:
    """Our plain output without what bpftool 7.1 lacks: tcx lines and the netfilter section."""
    text = _TCX.sub("", text)
    return text[:text.index("netfilter:\n")] if "netfilter:\n" in text else text


def strip_upstream_json(objs: list) -> list:
    out = []
    for o in objs:
        o = dict(o)
        o.pop("netfilter", None)
        o["tc"] = [t for t in o.get("tc", []) if not t["kind"].startswith("tcx/")]
        out.append(o)
    return out


@pytest.fixture
def vns():
    """A namespace with lo and a veth pair (veth0/veth1), all up."""
    with netns() as name:
        ip("link", "add", "veth0", "type", "veth", "peer", "name", "veth1", netns=name)
        ip("link", "set", "veth0", "up", netns=name)
        ip("link", "set", "veth1", "up", netns=name)
        yield name


def test_net_show_empty_namespace(capsys, vns):
    rc, out, err = ours_ns(capsys, vns, "net", "show")
    assert rc == 0 and err == ""
    assert out == "xdp:\n\ntc:\n\nflow_dissector:\n\nnetfilter:\n\n"
    assert strip_upstream(out) == bpftool_ns(vns, "net", "show")
    rc, out, _ = ours_ns(capsys, vns, "-j", "net", "list")
    assert json.loads(out) == [{"xdp": [], "tc": [], "flow_dissector": [], "netfilter": []}]
    assert strip_upstream_json(json.loads(out)) == json.loads(bpftool_ns(vns, "-j", "net", "list"))


def test_net_show_xdp_tc_tcx_flow_dissector(capsys, vns):
    with prog(ProgramType.XDP, "cli2_xdp", 2) as xdp, prog(ProgramType.SCHED_CLS, "cli2_tc_filter") as tc, \
            prog(ProgramType.SCHED_CLS, "cli2_tcx") as tcx, prog(ProgramType.FLOW_DISSECTOR, "cli2_fd", 1) as fd:
        with in_netns(vns):
            lo_idx, v0, v1 = (nl.ifindex(n) for n in ("lo", "veth0", "veth1"))
            links = [
                net.attach_xdp(xdp, "lo", "skb", via="netlink"),
                net.attach_xdp(xdp, "veth0", "drv", via="link"),
                net.attach_tc(tc, "veth1", "ingress"),
                net.attach_tc(tc, "veth1", "egress", priority=2),
                net.attach_tcx(tcx, "veth0", "ingress"),
                net.attach_flow_dissector(fd, via="attach"),
            ]
        try:
            tcx_link = links[4].id
            rc, out, err = ours_ns(capsys, vns, "net", "show")
            assert rc == 0, err
            assert f"lo({lo_idx}) generic id {xdp.id}\n" in out
            assert f"veth0({v0}) driver id {xdp.id}\n" in out
            assert f"veth1({v1}) clsact/ingress cli2_tc_filter id {tc.id}\n" in out
            assert f"veth1({v1}) clsact/egress cli2_tc_filter id {tc.id}\n" in out
            assert f"veth0({v0}) tcx/ingress cli2_tcx prog_id {tcx.id} link_id {tcx_link} \n" in out
            assert f"flow_dissector:\nid {fd.id}\n" in out
            assert strip_upstream(out) == bpftool_ns(vns, "net", "show")
            # dev filter
            rc, out1, _ = ours_ns(capsys, vns, "net", "show", "dev", "veth1")
            assert "veth0" not in out1 and f"veth1({v1}) clsact/ingress" in out1
            assert strip_upstream(out1) == bpftool_ns(vns, "net", "show", "dev", "veth1")
            # JSON, compact and pretty (bpftool's "flow_dissector":["id":N] quirk included)
            rc, js, _ = ours_ns(capsys, vns, "-j", "net", "show")
            theirs = bpftool_ns(vns, "-j", "net", "show")
            assert f'"flow_dissector":["id":{fd.id}]' in js
            norm = js.replace(',"netfilter":[]', "")
            norm = re.sub(r',\{"devname":"veth0","ifindex":\d+,"kind":"tcx/ingress"[^}]*\}', "", norm)
            norm = norm.replace('"tc":[,', '"tc":[')
            assert norm == theirs
            fixed = json.loads(js.replace(f'["id":{fd.id}]', f'[{{"id":{fd.id}}}]'))
            tcx_obj = next(t for t in fixed[0]["tc"] if t["kind"] == "tcx/ingress")
            assert tcx_obj == {"devname": "veth0", "ifindex": v0, "kind": "tcx/ingress", "name": "cli2_tcx",
                               "prog_id": tcx.id, "prog_flags": [], "link_id": tcx_link, "link_flags": []}
            rc, pretty, _ = ours_ns(capsys, vns, "-p", "net", "show", "dev", "lo")
            assert pretty.replace(',\n        "netfilter": []', "") == bpftool_ns(vns, "-p", "net", "show", "dev", "lo")
        finally:
            for lk in reversed(links):
                lk.close()


def test_net_attach_detach_xdp_and_tcx(capsys, vns):
    with prog(ProgramType.XDP, "cli2_xdp_att", 2) as xdp, prog(ProgramType.SCHED_CLS, "cli2_tcx_att") as tcx:
        try:
            rc, out, err = ours_ns(capsys, vns, "net", "attach", "xdpgeneric", "id", str(xdp.id), "dev", "veth0")
            assert (rc, out, err) == (0, "", "")
            with in_netns(vns):
                st = net.xdp_info("veth0")
            assert st.mode == "skb" and st.prog_id == xdp.id
            # a second attach without overwrite fails like bpftool's
            rc, _, err = ours_ns(capsys, vns, "net", "attach", "xdpgeneric", "id", str(xdp.id), "dev", "veth0")
            assert rc != 0 and err.startswith("Error: interface xdpgeneric attach failed: ")
            rc, _, err = ours_ns(capsys, vns, "net", "attach", "xdpgeneric", "id", str(xdp.id), "dev", "veth0",
                                 "overwrite")
            assert rc == 0, err
            rc, out, _ = ours_ns(capsys, vns, "-j", "net", "detach", "xdpgeneric", "dev", "veth0")
            assert (rc, out) == (0, "null\n")
            with in_netns(vns):
                assert net.xdp_info("veth0").mode == "none"
            # tcx: PROG_ATTACH (no link), listed with link_id omitted; detach pops it
            rc, _, err = ours_ns(capsys, vns, "net", "attach", "tcx_ingress", "id", str(tcx.id), "dev", "veth1")
            assert rc == 0, err
            rc, out, _ = ours_ns(capsys, vns, "net", "show", "dev", "veth1")
            assert f") tcx/ingress cli2_tcx_att prog_id {tcx.id} \n" in out
            rc, _, err = ours_ns(capsys, vns, "net", "detach", "tcx_ingress", "dev", "veth1")
            assert rc == 0, err
            with in_netns(vns):
                assert net.tcx_query("veth1", "ingress").prog_ids == []
        finally:
            with in_netns(vns):
                for dev in ("veth0", "veth1"):
                    nl.xdp_set(nl.ifindex(dev), -1, nl.XDP_FLAGS_SKB_MODE)
                    try:
                        cmds.prog_detach(nl.ifindex(dev), AttachType.TCX_INGRESS, tcx.fd)
                    except OSError:
                        pass


def test_net_errors_match_bpftool(capsys, vns):
    for args in (["net", "attach", "xdp", "id", "4000000000", "dev", "lo"],
                 ["net", "attach", "bogus", "id", "1", "dev", "lo"], ["net", "show", "dev", "nosuchdev0"],
                 ["net", "detach", "xdp", "device", "lo"], ["net", "attach"]):
        rc, out, err = ours_ns(capsys, vns, *args)
        r = subprocess.run(["ip", "netns", "exec", vns, BPFTOOL, *args], capture_output=True, text=True)
        assert (rc, out, err) == (r.returncode, r.stdout, r.stderr), args


def test_net_netfilter_section(capsys, vns):
    # BPF_PROG_TYPE_NETFILTER exists exactly when the kernel has netfilter links
    # (CONFIG_NETFILTER_BPF_LINK, 6.4+): probing it is the netfilter-link feature probe.
    ok, why = features.attach_type_status(ProgramType.NETFILTER, AttachType.NETFILTER)
    if not ok:
        pytest.skip(f"netfilter links (BPF_LINK_TYPE_NETFILTER, Linux 6.4+) unavailable: {why}")
    with prog(ProgramType.NETFILTER, "cli2_nf", 1, expected_attach_type=AttachType.NETFILTER) as p:
        with in_netns(vns):
            lk = net.attach_netfilter(p, "ipv4", "local_in", -128)
        with lk:
            rc, out, _ = ours_ns(capsys, vns, "net", "show")
            assert rc == 0
            assert f"netfilter:\n\n\tip input prio -128 prog_id {p.id}\n" in out
            rc, js, _ = ours_ns(capsys, vns, "-j", "net", "show")
            nf = json.loads(js)[0]["netfilter"]
            assert {"pf": 2, "hook": 1, "prio": -128, "flags": 0, "id": p.id} in nf


def test_tc_and_sh_helpers_are_namespaced(vns):
    # the fixture namespace really is separate: the host does not see veth0
    assert "veth0" not in sh("ip", "-o", "link").stdout
