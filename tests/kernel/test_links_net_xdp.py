"""XDP, tcx and tc (clsact/cls_bpf) attachments, proven with UDP traffic over a veth pair.

Every test runs between two network namespaces it creates (tests/kernel/netns.py);
nothing touches the host's interfaces.
"""

from __future__ import annotations

import errno
import socket

import pytest

import pybpf
from pybpf import Map, MapType, Program, ProgramType, asm
from pybpf._sys import netlink as nl
from pybpf.asm import DW, FP, R0, R1, R2, W
from pybpf.links import Link, net
from netns import VethPair, in_netns, veth  # noqa: F401  (fixture)

XDP_DROP, XDP_PASS = 1, 2
TC_ACT_OK, TC_ACT_SHOT = 0, 2


def counting(ptype: ProgramType, verdict: int, counter: Map, name: str = "") -> Program:
    """A program that counts its runs in counter[0] and returns ``verdict``."""
    insns = asm.resolve([
        asm.st(W, FP, -4, 0),
        asm.mov(R2, FP), asm.add(R2, -4),
        asm.ld_map_fd(R1, counter.fd),
        asm.call("map_lookup_elem"),
        asm.jeq(R0, 0, "out"),
        asm.mov(R1, 1),
        asm.atomic_add(DW, R0, 0, R1),
        asm.label("out"),
        asm.mov(R0, verdict),
        asm.exit_(),
    ])
    return Program.load(ptype, insns, name=name)


def counter_map() -> Map:
    return Map.create(MapType.ARRAY, 4, 8, 1)


def count(m: Map) -> int:
    return int.from_bytes(m[0], "little") if isinstance(m[0], (bytes, bytearray)) else int(m[0])


def udp_delivered(p: VethPair, n: int = 3, wait: float = 0.3) -> int:
    """Send ``n`` datagrams from ns_a to ns_b over the veth pair; how many arrived."""
    with in_netns(p.ns_b):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with in_netns(p.ns_a):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with rx, tx:
        rx.bind((p.ip_b, 0))
        port = rx.getsockname()[1]
        for i in range(n):
            tx.sendto(b"pybpf%d" % i, (p.ip_b, port))
        rx.settimeout(wait)
        got = 0
        try:
            while got < n:
                rx.recv(64)
                got += 1
        except socket.timeout:
            pass
        return got


@pytest.mark.parametrize("via", ["link", "netlink"])
@pytest.mark.parametrize("mode", ["skb", "drv"])
def test_xdp_drop_then_pass(veth: VethPair, via: str, mode: str):
    assert udp_delivered(veth) == 3
    with counter_map() as c, counting(ProgramType.XDP, XDP_DROP, c, "xdp_drop") as drop, \
            counting(ProgramType.XDP, XDP_PASS, c, "xdp_pass") as ok:
        with in_netns(veth.ns_b):
            lk = net.attach_xdp(drop, veth.dev_b, mode, via=via)
        with lk:
            assert isinstance(lk, Link) and lk.mode == mode
            assert lk.is_bpf_link == (via == "link")
            assert isinstance(lk, net.XdpLink if via == "link" else net.XdpAttachment)
            st = net.xdp_info(veth.dev_b, netns=veth.ns_b)
            assert st.mode == mode and st.prog_ids == {mode: drop.id} and lk.prog_id == drop.id
            assert udp_delivered(veth) == 0
            assert count(c) >= 3
            (entry,) = net.net_list(veth.ns_b)
            assert (entry.kind, entry.ifname, entry.where, entry.prog_id) == ("xdp", veth.dev_b, mode, drop.id)
            assert entry.link_id == (lk.id if via == "link" else 0)
            if via == "link":
                li = lk.info()
                assert li.type == pybpf.LinkType.XDP and li.prog_id == drop.id
                assert li.details["ifindex"] == lk.ifindex
            # swap in the passing program without a gap
            lk.update(ok)
            assert net.xdp_info(veth.dev_b, netns=veth.ns_b).prog_ids == {mode: ok.id}
            before = count(c)
            assert udp_delivered(veth) == 3
            assert count(c) >= before + 3
        assert net.xdp_info(veth.dev_b, netns=veth.ns_b).mode == "none"
        assert udp_delivered(veth) == 3


def test_xdp_busy_explained_and_netlink_replace(veth: VethPair):
    with counter_map() as c, counting(ProgramType.XDP, XDP_DROP, c) as drop, \
            counting(ProgramType.XDP, XDP_PASS, c) as ok:
        with in_netns(veth.ns_b):
            first = net.attach_xdp(drop, veth.dev_b, "skb", via="netlink")
            try:
                with pytest.raises(pybpf.BPFError, match="netlink") as ei:
                    net.attach_xdp(ok, veth.dev_b, "skb")
                assert ei.value.errno == errno.EBUSY and "replace=" in str(ei.value)
                # a second netlink attach never silently replaces (UPDATE_IF_NOEXIST) ...
                with pytest.raises(pybpf.BPFError) as ei:
                    net.attach_xdp(ok, veth.dev_b, "skb", via="netlink")
                assert ei.value.errno == errno.EBUSY
                # ... unless asked to, atomically (XDP_FLAGS_REPLACE + EXPECTED_FD)
                second = net.attach_xdp(ok, veth.dev_b, "skb", replace=first)
                assert first.closed and second.prog_id == ok.id
            finally:
                first.close()
        with second:
            assert net.xdp_info(veth.dev_b, netns=veth.ns_b).prog_ids == {"skb": ok.id}
            assert udp_delivered(veth) == 3
        assert net.xdp_info(veth.dev_b, netns=veth.ns_b).mode == "none"


def test_xdp_link_pin_and_netns_argument(veth: VethPair, tmp_path):
    pin = f"/sys/fs/bpf/pybpf-test-xdp-{veth.ns_b}"
    with counter_map() as c, counting(ProgramType.XDP, XDP_DROP, c) as drop:
        lk = net.attach_xdp(drop, veth.dev_b, netns=veth.ns_b)  # mode None: the kernel picks (drv on veth)
        try:
            assert lk.mode == "drv"
            lk.pin(pin)
            lk.close()
            assert net.xdp_info(veth.dev_b, veth.ns_b).prog_id == drop.id  # the pin keeps it attached
            again = Link.from_pin(pin)
            assert isinstance(again, net.XdpLink) and again.ifindex == nl.ifindex(veth.dev_b, veth.ns_b)
            again.detach()
            assert net.xdp_info(veth.dev_b, veth.ns_b).mode == "none"
            again.close()
        finally:
            lk.unpin()
            lk.close()


def test_xdp_errors(veth: VethPair):
    with counter_map() as c, counting(ProgramType.SCHED_CLS, 0, c) as cls:
        with pytest.raises(pybpf.Error, match="needs a XDP program"):
            net.attach_xdp(cls, veth.dev_b, netns=veth.ns_b)
    with counter_map() as c, counting(ProgramType.XDP, XDP_PASS, c) as ok:
        with pytest.raises(pybpf.Error, match="no network interface named 'nope0'"):
            net.attach_xdp(ok, "nope0", netns=veth.ns_b)
        with pytest.raises(pybpf.Error, match="XDP mode"):
            net.attach_xdp(ok, veth.dev_b, "turbo", netns=veth.ns_b)
        with pytest.raises(pybpf.Error, match="xdp needs an interface"):
            net.auto_attach(ok)


# --------------------------------------------------------------------- tcx / tc
def test_tcx_ingress_drop_and_order(veth: VethPair):
    with counter_map() as c, counting(ProgramType.SCHED_CLS, TC_ACT_SHOT, c, "tcx_drop") as drop, \
            counting(ProgramType.SCHED_CLS, -1, c, "tcx_next") as nxt:  # TCX_NEXT: run the next program
        with in_netns(veth.ns_b):
            l1 = net.attach_tcx(drop, veth.dev_b, "ingress")
        with l1:
            assert isinstance(l1, net.TcxLink) and l1.direction == "ingress"
            assert l1.info().details["attach_type"] == pybpf.AttachType.TCX_INGRESS
            assert udp_delivered(veth) == 0 and count(c) >= 3
            rev = net.tcx_query(veth.dev_b, "ingress", veth.ns_b).revision
            l2 = net.attach_tcx(nxt, veth.dev_b, "ingress", before=l1, expected_revision=rev, netns=veth.ns_b)
            with l2:
                q = net.tcx_query(veth.dev_b, "ingress", veth.ns_b)
                assert q.prog_ids == [nxt.id, drop.id] and q.link_ids == [l2.id, l1.id]
                listed = [(e.kind, e.ifname, e.where, e.prog_id, e.link_id) for e in net.net_list(veth.ns_b)]
                assert listed == [("tcx", veth.dev_b, "ingress", nxt.id, l2.id),
                                  ("tcx", veth.dev_b, "ingress", drop.id, l1.id)]
                with pytest.raises(pybpf.BPFError, match="changed since expected_revision"):
                    net.attach_tcx(nxt, veth.dev_b, "egress", expected_revision=rev + 100, netns=veth.ns_b)
                with pytest.raises(pybpf.BPFError, match="already attached"):
                    net.attach_tcx(nxt, veth.dev_b, "ingress", netns=veth.ns_b)
        assert net.tcx_query(veth.dev_b, "ingress", veth.ns_b).prog_ids == []
        assert udp_delivered(veth) == 3


def test_tc_clsact_drop(veth: VethPair):
    with counter_map() as c, counting(ProgramType.SCHED_CLS, TC_ACT_SHOT, c, "tc_drop") as drop, \
            counting(ProgramType.SCHED_CLS, TC_ACT_OK, c, "tc_ok") as ok:
        with in_netns(veth.ns_b):
            assert not nl.has_clsact(nl.ifindex(veth.dev_b))
            att = net.attach_tc(drop, veth.dev_b, "ingress", priority=7, handle=3)
        with att:
            assert att.created_qdisc and not att.is_bpf_link
            f = att.info()
            assert (f.priority, f.handle, f.kind, f.prog_id, f.direct_action, f.direction) == \
                (7, 3, "bpf", drop.id, True, "ingress")
            assert f.name == "tc_drop" and f.tag == drop.tag
            assert net.tc_filters(veth.dev_b, "ingress", veth.ns_b) == [f]
            assert udp_delivered(veth) == 0 and count(c) >= 3
            # `tc` sees the same filter
            out = __import__("netns").sh("tc", "-n", veth.ns_b, "filter", "show", "dev", veth.dev_b,
                                         "ingress").stdout
            assert "tc_drop" in out and "direct-action" in out and "pref 7" in out
            with pytest.raises(pybpf.BPFError, match="already has a filter at pref 7 handle 3"):
                net.attach_tc(ok, veth.dev_b, "ingress", priority=7, handle=3, netns=veth.ns_b)
            listed = [(e.kind, e.where, e.prog_id) for e in net.net_list(veth.ns_b)]
            assert ("tc", "ingress", drop.id) in listed
            att.update(ok)
            assert att.info().prog_id == ok.id and udp_delivered(veth) == 3
            with pytest.raises(pybpf.NotSupportedError):
                att.pin("/sys/fs/bpf/nope")
        with in_netns(veth.ns_b):
            assert not nl.has_clsact(nl.ifindex(veth.dev_b))  # created by us, removed by us
        assert udp_delivered(veth) == 3


def test_tc_egress_keeps_foreign_qdisc(veth: VethPair):
    from netns import sh

    sh("tc", "-n", veth.ns_a, "qdisc", "add", "dev", veth.dev_a, "clsact")
    with counter_map() as c, counting(ProgramType.SCHED_CLS, TC_ACT_SHOT, c) as drop:
        with net.attach_tc(drop, veth.dev_a, "egress", netns=veth.ns_a) as att:
            assert not att.created_qdisc
            assert udp_delivered(veth) == 0
        with in_netns(veth.ns_a):
            assert nl.has_clsact(nl.ifindex(veth.dev_a))  # not ours: left in place
            assert nl.filter_list(nl.ifindex(veth.dev_a), nl.tc_parent("egress")) == []
    assert udp_delivered(veth) == 3
