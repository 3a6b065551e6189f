"""rtnetlink message encoding/decoding (pybpf._sys.netlink) and the pure helpers of pybpf.links.net.

No root and no kernel changes: messages are checked byte for byte, replies are
synthesized; the only kernel round trips are read-only RTM_GETLINK requests.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest

import pybpf
from pybpf import AttachFlags, AttachType, ProgramType
from pybpf._sys import netlink as nl
from pybpf.spec import ProgramSpec


def test_nla_padding_and_nesting():
    assert nl.nla(1, b"") == b"\x04\x00\x01\x00"
    assert nl.nla(7, b"ab") == b"\x06\x00\x07\x00ab\x00\x00"
    assert nl.nla_u32(6, 9) == struct.pack("=HHI", 8, 6, 9)
    assert nl.nla_s32(1, -1) == struct.pack("=HHi", 8, 1, -1)
    assert nl.nla_str(1, "bpf") == b"\x08\x00\x01\x00bpf\x00"
    n = nl.nla_nested(43, nl.nla_s32(1, 5))
    assert struct.unpack_from("=HH", n) == (12, 43 | nl.NLA_F_NESTED)
    assert nl.parse_attrs(n) == {43: nl.nla_s32(1, 5)}
    assert nl.parse_attrs(nl.nla_str(7, "x") + nl.nla_u32(6, 3)) == {7: b"x\0", 6: struct.pack("=I", 3)}
    assert nl.parse_attrs(b"\x02\x00\x01\x00") == {}  # malformed length: stop, don't loop


def test_headers():
    assert len(nl.ifinfomsg(3)) == 16 and struct.unpack("=BxHiII", nl.ifinfomsg(3)) == (0, 0, 3, 0, 0)
    assert len(nl.tcmsg(2, 1, 3, 4)) == 20 and struct.unpack("=BxxxiIII", nl.tcmsg(2, 1, 3, 4)) == (0, 2, 1, 3, 4)
    m = nl.nlmsg(19, nl.NLM_F_REQUEST | nl.NLM_F_ACK, 77, b"abc")
    assert len(m) == 20 and struct.unpack_from("=IHHII", m) == (19, 19, 5, 77, 0)
    (msg,) = nl.parse_messages(m)
    assert msg.type == 19 and msg.seq == 77 and msg.payload == b"abc"  # nlmsg_len excludes the padding


def test_tc_handles():
    assert nl.tc_parent("ingress") == 0xFFFFFFF2
    assert nl.tc_parent("egress") == 0xFFFFFFF3
    assert nl.tc_h_make(nl.TC_H_CLSACT, 0) == 0xFFFF0000
    with pytest.raises(pybpf.Error, match="ingress"):
        nl.tc_parent("sideways")


def test_xdp_set_message_layout():
    payload = nl.xdp_set_msg(4, 9, nl.XDP_FLAGS_SKB_MODE | nl.XDP_FLAGS_REPLACE, expected_fd=8)
    assert payload[:16] == nl.ifinfomsg(4)
    attrs = nl.parse_attrs(payload[16:])
    assert list(attrs) == [nl.IFLA_XDP]
    assert nl.parse_attrs(attrs[nl.IFLA_XDP]) == {
        nl.IFLA_XDP_FD: struct.pack("=i", 9),
        nl.IFLA_XDP_FLAGS: struct.pack("=I", 0x12),
        nl.IFLA_XDP_EXPECTED_FD: struct.pack("=i", 8),
    }
    detach = nl.parse_attrs(nl.parse_attrs(nl.xdp_set_msg(4, -1)[16:])[nl.IFLA_XDP])
    assert detach == {nl.IFLA_XDP_FD: struct.pack("=i", -1)}  # no flags attribute when 0


def test_parse_xdp_state():
    xdp = nl.nla_nested(nl.IFLA_XDP, nl.nla(nl.IFLA_XDP_ATTACHED, b"\x02"), nl.nla_u32(nl.IFLA_XDP_PROG_ID, 42),
                        nl.nla_u32(nl.IFLA_XDP_SKB_PROG_ID, 42))
    st = nl.parse_xdp(5, nl.ifinfomsg(5) + nl.nla_str(nl.IFLA_IFNAME, "veth0") + xdp)
    assert (st.mode, st.prog_id, st.prog_ids) == ("skb", 42, {"skb": 42})
    # pre-4.19 kernels report only IFLA_XDP_PROG_ID: the mode comes from IFLA_XDP_ATTACHED
    st = nl.parse_xdp(5, nl.ifinfomsg(5) + nl.nla_nested(nl.IFLA_XDP, nl.nla(nl.IFLA_XDP_ATTACHED, b"\x01"),
                                                          nl.nla_u32(nl.IFLA_XDP_PROG_ID, 7)))
    assert st.prog_ids == {"drv": 7}
    multi = nl.nla_nested(nl.IFLA_XDP, nl.nla(nl.IFLA_XDP_ATTACHED, b"\x04"), nl.nla_u32(nl.IFLA_XDP_SKB_PROG_ID, 1),
                          nl.nla_u32(nl.IFLA_XDP_HW_PROG_ID, 2))
    st = nl.parse_xdp(5, nl.ifinfomsg(5) + multi)
    assert st.mode == "multi" and st.prog_ids == {"skb": 1, "hw": 2}
    assert nl.parse_xdp(5, nl.ifinfomsg(5)).mode == "none"


def test_filter_messages():
    p = nl.filter_add_msg(3, nl.tc_parent("egress"), 11, "cls", priority=7, handle=2)
    fam, idx, handle, parent, info = struct.unpack_from("=BxxxiIII", p)
    assert (idx, handle, parent) == (3, 2, 0xFFFFFFF3)
    assert info >> 16 == 7 and socket.ntohs(info & 0xFFFF) == nl.ETH_P_ALL
    attrs = nl.parse_attrs(p[20:])
    assert attrs[nl.TCA_KIND] == b"bpf\0"
    opts = nl.parse_attrs(attrs[nl.TCA_OPTIONS])
    assert opts[nl.TCA_BPF_FD] == struct.pack("=I", 11)
    assert opts[nl.TCA_BPF_NAME] == b"cls\0"
    assert opts[nl.TCA_BPF_FLAGS] == struct.pack("=I", nl.TCA_BPF_FLAG_ACT_DIRECT)
    no_da = nl.parse_attrs(nl.parse_attrs(nl.filter_add_msg(3, 0, 11, "x", 1, 1, direct_action=False)[20:])[2])
    assert nl.TCA_BPF_FLAGS not in no_da
    d = nl.filter_del_msg(3, nl.tc_parent("ingress"), 7, 2)
    assert d[:20] == p[:12] + struct.pack("=II", 0xFFFFFFF2, info) and nl.parse_attrs(d[20:]) == {1: b"bpf\0"}


def test_parse_filter_dump_entry():
    opts = nl.nla_nested(nl.TCA_OPTIONS, nl.nla_str(nl.TCA_BPF_NAME, "drop"), nl.nla_u32(nl.TCA_BPF_ID, 99),
                         nl.nla(nl.TCA_BPF_TAG, bytes.fromhex("0102030405060708")),
                         nl.nla_u32(nl.TCA_BPF_FLAGS, 1))
    info = (5 << 16) | socket.htons(nl.ETH_P_ALL)
    payload = nl.tcmsg(2, 1, 0xFFFFFFF2, info) + nl.nla_str(nl.TCA_KIND, "bpf") + nl.nla_u32(nl.TCA_CHAIN, 0) + opts
    f = nl.parse_filter(payload)
    assert f == nl.TcFilter(2, 0xFFFFFFF2, 5, 1, nl.ETH_P_ALL, "bpf", "drop", 99, "0102030405060708", True, 0)
    assert f.direction == "ingress"
    # the per-priority header entry (no handle, no options) is skipped
    assert nl.parse_filter(nl.tcmsg(2, 0, 0xFFFFFFF2, info) + nl.nla_str(nl.TCA_KIND, "bpf")) is None
    other = nl.parse_filter(nl.tcmsg(2, 1, 0xFFFFFFF3, info) + nl.nla_str(nl.TCA_KIND, "u32")
                            + nl.nla_nested(nl.TCA_OPTIONS))
    assert other is not None and other.kind == "u32" and other.prog_id == 0 and other.direction == "egress"


def _err_msg(err: int, text: str, capped: bool = True) -> nl.NlMsg:
    req = nl.nlmsg(19, 5, 1, b"" if capped else nl.ifinfomsg(1))
    tlv = nl.nla_str(nl.NLMSGERR_ATTR_MSG, text) if text else b""
    flags = (nl.NLM_F_CAPPED if capped else 0) | (nl.NLM_F_ACK_TLVS if text else 0)
    body = struct.pack("=i", -err) + (req[:16] if capped else req) + tlv
    return nl.NlMsg(nl.NLMSG_ERROR, flags, 1, 0, body)


def test_parse_error_with_extack():
    assert nl.parse_error(_err_msg(0, "")) == (0, "")
    assert nl.parse_error(_err_msg(errno.EBUSY, "XDP program already attached")) == (
        errno.EBUSY, "XDP program already attached")
    assert nl.parse_error(_err_msg(errno.EINVAL, "uncapped", capped=False)) == (errno.EINVAL, "uncapped")
    done = nl.NlMsg(nl.NLMSG_DONE, nl.NLM_F_ACK_TLVS, 1, 0, struct.pack("=i", -errno.EOPNOTSUPP)
                    + nl.nla_str(nl.NLMSGERR_ATTR_MSG, "dump failed"))
    assert nl.parse_error(done) == (errno.EOPNOTSUPP, "dump failed")


def test_raise_netlink_types_and_hint():
    with pytest.raises(pybpf.BPFError) as ei:
        nl.raise_netlink(errno.EBUSY, nl.RTM_SETLINK, "XDP program already attached", "detach it first")
    assert ei.value.errno == errno.EBUSY and ei.value.command == "RTM_SETLINK"
    assert ei.value.hint == "XDP program already attached; detach it first"
    assert str(ei.value) == "RTM_SETLINK: Device or resource busy (EBUSY): XDP program already attached; detach it first"
    with pytest.raises(pybpf.PermissionError_, match="CAP_NET_ADMIN"):
        nl.raise_netlink(errno.EPERM, nl.RTM_NEWTFILTER)
    with pytest.raises(pybpf.NotFoundError):
        nl.raise_netlink(errno.ENOENT, nl.RTM_DELTFILTER, "Filter with specified priority/protocol not found")


class _FakeSock:
    """Replays canned datagrams; records what was sent."""

    def __init__(self, datagrams):
        self.datagrams = list(datagrams)
        self.sent = []

    def sendto(self, data, addr):
        self.sent.append(data)

    def recv_into(self, buf, n, flags):
        return len(self.datagrams[0])

    def recv(self, n):
        return self.datagrams.pop(0)

    def close(self):
        pass


def _fake(datagrams):
    s = nl.NetlinkSocket.__new__(nl.NetlinkSocket)
    s._sock = _FakeSock(datagrams)
    s._peek = bytearray(1)
    return s


def test_request_collects_multipart_dump_and_skips_stale_replies(monkeypatch):
    monkeypatch.setattr(nl, "_next_seq", lambda: 500)
    stale = nl.nlmsg(nl.NLMSG_ERROR, 0, 499, struct.pack("=i", -errno.EBUSY) + bytes(16))
    e1 = nl.nlmsg(nl.RTM_NEWLINK, nl.NLM_F_MULTI, 500, nl.ifinfomsg(1) + nl.nla_str(nl.IFLA_IFNAME, "lo"))
    e2 = nl.nlmsg(nl.RTM_NEWLINK, nl.NLM_F_MULTI, 500, nl.ifinfomsg(2) + nl.nla_str(nl.IFLA_IFNAME, "eth0"))
    done = nl.nlmsg(nl.NLMSG_DONE, nl.NLM_F_MULTI, 500, struct.pack("=i", 0))
    s = _fake([stale + e1, e2 + done])
    msgs = s.request(nl.RTM_GETLINK, nl.NLM_F_DUMP, nl.ifinfomsg())
    assert [struct.unpack_from("=BxHi", m.payload)[2] for m in msgs] == [1, 2]
    (sent,) = s._sock.sent
    assert struct.unpack_from("=IHHII", sent) == (32, nl.RTM_GETLINK, nl.NLM_F_REQUEST | nl.NLM_F_DUMP, 500, 0)


def test_request_raises_extack(monkeypatch):
    monkeypatch.setattr(nl, "_next_seq", lambda: 7)
    err = nl.nlmsg(nl.NLMSG_ERROR, nl.NLM_F_CAPPED | nl.NLM_F_ACK_TLVS, 7,
                   struct.pack("=i", -errno.EOPNOTSUPP) + bytes(16)
                   + nl.nla_str(nl.NLMSGERR_ATTR_MSG, "Underlying driver does not support XDP in native mode"))
    with pytest.raises(pybpf.BPFError, match="native mode; use skb") as ei:
        _fake([err]).request(nl.RTM_SETLINK, nl.NLM_F_ACK, b"", hint="use skb")
    assert ei.value.errno == errno.EOPNOTSUPP
    ack = nl.nlmsg(nl.NLMSG_ERROR, nl.NLM_F_CAPPED, 7, struct.pack("=i", 0) + bytes(16))
    assert _fake([ack]).request(nl.RTM_SETLINK, nl.NLM_F_ACK, b"") == []


def test_readonly_kernel_round_trips():
    ifs = nl.interfaces()
    assert ifs[1] == "lo" and nl.ifindex("lo") == 1 and nl.ifname(1) == "lo"
    assert nl.xdp_query(1).ifindex == 1
    with pytest.raises(pybpf.BPFError) as ei:
        nl.xdp_query(0x7FFFFFF0)
    assert ei.value.errno == errno.ENODEV and ei.value.command == "RTM_GETLINK"
    with pytest.raises(pybpf.Error, match="no network interface named"):
        nl.ifindex("pybpf-nonexistent0")


# ------------------------------------------------------------------- pure helpers of links.net
class _FakeProg:
    def __init__(self, type_, section="", eat=0):
        self.type = type_
        self.name = "p"
        self.spec = ProgramSpec(type=type_, section=section, expected_attach_type=eat)
        self.fd = 99


def test_attach_type_inference():
    from pybpf.links.net_common import section_attach_type
    from pybpf.links.net_sock import _attach_type_by_name, _cgroup_attach_type

    assert section_attach_type(_FakeProg(ProgramType.CGROUP_SKB, "cgroup_skb/ingress")) == 0
    assert section_attach_type(_FakeProg(ProgramType.CGROUP_SKB, "cgroup_skb/egress")) == AttachType.CGROUP_INET_EGRESS
    assert section_attach_type(_FakeProg(ProgramType.CGROUP_SKB, "cgroup/skb")) is None
    assert section_attach_type(_FakeProg(ProgramType.CGROUP_SKB, "", AttachType.CGROUP_INET_EGRESS)) == 1
    assert section_attach_type(_FakeProg(ProgramType.SK_SKB, "sk_skb/stream_parser")) == \
        AttachType.SK_SKB_STREAM_PARSER
    assert _cgroup_attach_type(_FakeProg(ProgramType.SOCK_OPS), None) == AttachType.CGROUP_SOCK_OPS
    assert _cgroup_attach_type(_FakeProg(ProgramType.CGROUP_SOCK_ADDR, "cgroup/connect4"), None) == \
        AttachType.CGROUP_INET4_CONNECT
    with pytest.raises(pybpf.Error, match="pass attach_type="):
        _cgroup_attach_type(_FakeProg(ProgramType.CGROUP_SKB), None)
    assert _attach_type_by_name("egress") == AttachType.CGROUP_INET_EGRESS
    assert _attach_type_by_name("ingress") == AttachType.CGROUP_INET_INGRESS
    assert _attach_type_by_name("connect6") == AttachType.CGROUP_INET6_CONNECT
    assert _attach_type_by_name("sockops") == AttachType.CGROUP_SOCK_OPS
    assert _attach_type_by_name("cgroup_inet_sock_create") == AttachType.CGROUP_INET_SOCK_CREATE
    with pytest.raises(pybpf.Error, match="unknown attach type"):
        _attach_type_by_name("sideways")


def test_mprog_anchor_and_type_checks():
    from pybpf.links import Link
    from pybpf.links.net import mprog_anchor
    from pybpf.links.net_common import check_prog_type

    assert mprog_anchor(None, None) == (0, 0)
    assert mprog_anchor(True, None) == (AttachFlags.BEFORE, 0)
    assert mprog_anchor(None, 17) == (AttachFlags.AFTER | AttachFlags.ID, 17)
    assert mprog_anchor(_FakeProg(ProgramType.SCHED_CLS), None) == (AttachFlags.BEFORE, 99)

    class _L(Link):
        @property
        def fd(self) -> int:
            return 5

    assert mprog_anchor(None, _L(None)) == (AttachFlags.AFTER | AttachFlags.LINK, 5)
    with pytest.raises(pybpf.Error, match="only one"):
        mprog_anchor(1, 2)
    with pytest.raises(pybpf.Error, match="needs a XDP program, got SCHED_CLS"):
        check_prog_type(_FakeProg(ProgramType.SCHED_CLS), (ProgramType.XDP,), "attach_xdp")


def test_auto_attach_messages():
    from pybpf.links import net

    for t, msg in ((ProgramType.XDP, "xdp needs an interface: use prog.attach_xdp(ifname)"),
                   (ProgramType.SCHED_CLS, "attach_tcx"), (ProgramType.SK_MSG, "sockmap"),
                   (ProgramType.CGROUP_SOCK_ADDR, "attach_cgroup"), (ProgramType.SOCKET_FILTER, "attach_socket")):
        with pytest.raises(pybpf.Error, match=msg.replace("(", r"\(").replace(")", r"\)")):
            net.auto_attach(_FakeProg(t))
