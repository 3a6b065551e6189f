"""Socket, cgroup, sock_ops, sk_lookup, flow dissector, sockmap and netfilter attachments.

Traffic stays on the loopback of a network namespace each test creates; cgroup
programs act on a child process moved into a temporary cgroup (the test process
itself never changes cgroup).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

import pytest

import pybpf
from pybpf import AttachType, Map, MapType, Program, ProgramType, asm
from pybpf.asm import DW, FP, R0, R1, R2, R3, R4, R5, R6, R7, B, H, W
from pybpf.links import Link, net
from netns import cgroup, in_netns, ns, run_child  # noqa: F401  (fixtures)


def counter_insns(counter: Map, key_reg: object = None) -> list:
    """counter[key] += 1, key = 0 or the u32 in ``key_reg``."""
    key = [asm.stx(W, FP, -4, key_reg)] if key_reg is not None else [asm.st(W, FP, -4, 0)]
    return key + [
        asm.mov(R2, FP), asm.add(R2, -4),
        asm.ld_map_fd(R1, counter.fd),
        asm.call("map_lookup_elem"),
        asm.jeq(R0, 0, "skip_count"),
        asm.mov(R1, 1),
        asm.atomic_add(DW, R0, 0, R1),
        asm.label("skip_count"),
    ]


def load(ptype: ProgramType, body: list, **kw) -> Program:
    return Program.load(ptype, asm.resolve(body), **kw)


def u64(m: Map, key: int = 0) -> int:
    v = m[key]
    return int.from_bytes(v, "little") if isinstance(v, (bytes, bytearray)) else int(v)


# --------------------------------------------------------------------- socket filter
def test_socket_filter_drops_then_accepts(ns: str):
    with in_netns(ns):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with rx, tx, Map.create(MapType.ARRAY, 4, 8, 1) as c, \
            load(ProgramType.SOCKET_FILTER, counter_insns(c) + [asm.mov(R0, 0), asm.exit_()], name="drop") as drop:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(0.2)
        addr = rx.getsockname()
        with net.attach_socket(drop, rx) as sf:
            assert isinstance(sf, Link) and not sf.is_bpf_link and sf.prog_id == drop.id
            assert sf.info()["socket_fd"] == rx.fileno()
            for _ in range(3):
                tx.sendto(b"dropped", addr)
            with pytest.raises(socket.timeout):
                rx.recv(64)
            assert u64(c) == 3
        tx.sendto(b"kept", addr)  # detached: delivered
        assert rx.recv(64) == b"kept"
    with in_netns(ns), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, \
            load(ProgramType.SOCKET_FILTER, [asm.mov(R0, -1), asm.exit_()]) as keep:
        sf = net.attach_socket(keep, s)
    sf.close()  # socket already closed: nothing to detach, no error


# --------------------------------------------------------------------- cgroups
_UDP_SEND = """
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"x", ("127.0.0.1", 9))
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
"""

_TCP_CONNECT = """
s = socket.socket()
try:
    s.connect(("127.0.0.1", 1))
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
"""


@pytest.mark.parametrize("via", ["link", "attach"])
def test_cgroup_skb_egress_deny(ns: str, cgroup: str, via: str):
    assert run_child(_UDP_SEND, cgroup=cgroup, netns=ns).strip() == "ok"
    with load(ProgramType.CGROUP_SKB, [asm.mov(R0, 0), asm.exit_()],
              expected_attach_type=AttachType.CGROUP_INET_EGRESS, name="deny") as deny:
        with net.attach_cgroup(deny, cgroup, via=via) as lk:
            assert isinstance(lk, net.CgroupLink if via == "link" else net.CgroupAttachment)
            assert net.cgroup_query(cgroup, "egress").prog_ids == [deny.id]
            if via == "link":
                assert lk.info().details["attach_type"] == AttachType.CGROUP_INET_EGRESS
            assert run_child(_UDP_SEND, cgroup=cgroup, netns=ns).strip() == "EPERM"
            assert run_child(_UDP_SEND, netns=ns).strip() == "ok"  # outside the cgroup: unaffected
        assert net.cgroup_query(cgroup, AttachType.CGROUP_INET_EGRESS).prog_ids == []
    assert run_child(_UDP_SEND, cgroup=cgroup, netns=ns).strip() == "ok"


@pytest.mark.parametrize("via", ["link", "attach"])
def test_cgroup_connect4_deny(ns: str, cgroup: str, via: str):
    with load(ProgramType.CGROUP_SOCK_ADDR, [asm.mov(R0, 0), asm.exit_()],
              expected_attach_type=AttachType.CGROUP_INET4_CONNECT) as deny:
        with net.attach_cgroup(deny, cgroup, via=via):  # attach type from expected_attach_type
            assert run_child(_TCP_CONNECT, cgroup=cgroup, netns=ns).strip() == "EPERM"
            assert run_child(_TCP_CONNECT, netns=ns).strip() == "ECONNREFUSED"
    assert run_child(_TCP_CONNECT, cgroup=cgroup, netns=ns).strip() == "ECONNREFUSED"


def test_cgroup_attach_modes_and_errors(cgroup: str):
    body = [asm.mov(R0, 1), asm.exit_()]
    with load(ProgramType.CGROUP_SKB, body) as p1, load(ProgramType.CGROUP_SKB, body) as p2:
        with pytest.raises(pybpf.Error, match="pass attach_type="):
            net.attach_cgroup(p1, cgroup)
        # exclusive PROG_ATTACH, then a link (multi): the kernel refuses the mix, we explain it
        with net.attach_cgroup(p1, cgroup, "ingress", flags=0) as a:
            assert isinstance(a, net.CgroupAttachment) and a.info().attach_flags == 0
            with pytest.raises(pybpf.BPFError, match="another mode"):
                net.attach_cgroup(p2, cgroup, "ingress")
            a.update(p2)
            assert net.cgroup_query(cgroup, "ingress").prog_ids == [p2.id]
        with net.attach_cgroup(p1, cgroup, "ingress", via="attach") as a1, \
                net.attach_cgroup(p2, cgroup, "ingress", via="attach") as a2:
            assert net.cgroup_query(cgroup, "ingress").prog_ids == [p1.id, p2.id]
            assert a1.info().attach_flags == pybpf.AttachFlags.ALLOW_MULTI
            a2.detach()
            assert net.cgroup_query(cgroup, "ingress").prog_ids == [p1.id]
            with load(ProgramType.CGROUP_SKB, body) as p3:
                a3 = net.attach_cgroup(p3, cgroup, "ingress", replace=a1)  # BPF_F_REPLACE: in place
                assert a1.closed and net.cgroup_query(cgroup, "ingress").prog_ids == [p3.id]
                a1.close()  # superseded: must not detach p3
                assert net.cgroup_query(cgroup, "ingress").prog_ids == [p3.id]
                a3.close()
            assert net.cgroup_query(cgroup, "ingress").prog_ids == []
        with net.attach_cgroup(p1, os.path.basename(cgroup), "ingress") as lk:  # relative to the cgroup2 root
            pin = f"/sys/fs/bpf/pybpf-test-cg-{os.getpid()}"
            lk.pin(pin)
            try:
                again = Link.from_pin(pin)
                assert isinstance(again, net.CgroupLink) and again.attach_type == AttachType.CGROUP_INET_INGRESS
                again.close()
            finally:
                lk.unpin()
        with pytest.raises(pybpf.Error, match="not a cgroup v2"):
            net.attach_cgroup(p1, "/proc", "ingress")
        with pytest.raises(pybpf.Error, match="cgroup"):
            net.auto_attach(p1)


def test_sock_ops_callbacks_counted(ns: str, cgroup: str):
    with Map.create(MapType.ARRAY, 4, 8, 16) as ops:
        body = [asm.ldx(W, R6, R1, 0)] + counter_insns(ops, R6) + [asm.mov(R0, 1), asm.exit_()]  # op at offset 0
        with load(ProgramType.SOCK_OPS, body, name="sockops") as prog:
            with net.attach_cgroup(prog, cgroup) as lk:  # SOCK_OPS: attach type implied
                assert lk.attach_type == AttachType.CGROUP_SOCK_OPS
                out = run_child("""
                    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
                    cli = socket.create_connection(srv.getsockname(), timeout=5)
                    conn, _ = srv.accept(); cli.sendall(b"hi"); assert conn.recv(2) == b"hi"
                    print("ok")
                """, cgroup=cgroup, netns=ns)
                assert out.strip() == "ok"
            counts = {op: u64(ops, op) for op in range(16) if u64(ops, op)}
            # BPF_SOCK_OPS_TCP_CONNECT_CB 3, ACTIVE_ESTABLISHED_CB 4, PASSIVE_ESTABLISHED_CB 5
            assert counts.get(3) == 1 and counts.get(4) == 1 and counts.get(5) == 1, counts


# --------------------------------------------------------------------- netns hooks
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sk_lookup_steers_to_listener(ns: str):
    with in_netns(ns):
        lsn = socket.socket()
        lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(4)
        steered = _free_port()
    with lsn, Map.create(MapType.SOCKMAP, 4, 8, 1) as smap:
        smap[0] = lsn.fileno()
        body = [
            asm.mov(R6, R1),
            asm.ldx(W, R2, R6, 60),  # bpf_sk_lookup.local_port (host order)
            asm.jne(R2, steered, "pass"),
            asm.st(W, FP, -4, 0),
            asm.mov(R2, FP), asm.add(R2, -4),
            asm.ld_map_fd(R1, smap.fd),
            asm.call("map_lookup_elem"),  # a referenced socket (or NULL)
            asm.jeq(R0, 0, "pass"),
            asm.mov(R7, R0),
            asm.mov(R1, R6), asm.mov(R2, R7), asm.mov(R3, 0),
            asm.call("sk_assign"),
            asm.mov(R1, R7),
            asm.call("sk_release"),
            asm.label("pass"),
            asm.mov(R0, 1),  # SK_PASS
            asm.exit_(),
        ]
        with load(ProgramType.SK_LOOKUP, body, expected_attach_type=AttachType.SK_LOOKUP, name="steer") as prog:
            with pytest.raises(ConnectionRefusedError), in_netns(ns):
                socket.create_connection(("127.0.0.1", steered), timeout=2).close()
            with net.attach_sk_lookup(prog, netns=ns) as lk:
                assert isinstance(lk, net.NetnsLink) and lk.attach_type == AttachType.SK_LOOKUP
                assert lk.info().details["netns_ino"] == lk.netns_ino
                assert net.netns_query(AttachType.SK_LOOKUP, ns)["prog_ids"] == [prog.id]
                with in_netns(ns):
                    cli = socket.create_connection(("127.0.0.1", steered), timeout=2)
                with cli:
                    conn, _ = lsn.accept()
                    with conn:
                        assert conn.getsockname()[1] == steered  # the original destination, served by lsn
                        cli.sendall(b"steered")
                        assert conn.recv(16) == b"steered"
            assert net.netns_query(AttachType.SK_LOOKUP, ns)["prog_ids"] == []
            with pytest.raises(ConnectionRefusedError), in_netns(ns):
                socket.create_connection(("127.0.0.1", steered), timeout=2).close()


def _flow_dissector() -> Program:
    """Fills ip_proto, thoff and the IPv4 addresses from the IPv4 header at flow_keys->nhoff."""
    body = [
        asm.mov(R6, R1),
        asm.ldx(DW, R7, R6, 144),  # __sk_buff.flow_keys
        asm.ldx(W, R2, R6, 76),  # data
        asm.ldx(W, R3, R6, 80),  # data_end
        asm.ldx(H, R4, R7, 0),  # flow_keys->nhoff
        asm.and_(R4, 0x3FF),  # bounded below MAX_PACKET_OFF for the verifier
        asm.add(R2, R4),
        asm.mov(R5, R2), asm.add(R5, 20),
        asm.jgt(R5, R3, "drop"),
        asm.ldx(B, R0, R2, 9), asm.stx(B, R7, 9, R0),  # ip_proto
        asm.ldx(W, R0, R2, 12), asm.stx(W, R7, 16, R0),  # ipv4_src
        asm.ldx(W, R0, R2, 16), asm.stx(W, R7, 20, R0),  # ipv4_dst
        asm.add(R4, 20), asm.stx(H, R7, 2, R4),  # thoff
        asm.mov(R0, 0),  # BPF_OK
        asm.exit_(),
        asm.label("drop"),
        asm.mov(R0, 2),  # BPF_DROP
        asm.exit_(),
    ]
    return load(ProgramType.FLOW_DISSECTOR, body, expected_attach_type=AttachType.FLOW_DISSECTOR, name="dissect")


def _udp_packet() -> bytes:
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([10, 200, 1, 1]), bytes([10, 200, 1, 2]))
    return eth + ip + struct.pack("!HHHH", 1234, 53, 8, 0)


@pytest.mark.parametrize("via", ["link", "attach"])
def test_flow_dissector_test_run_and_netns_attach(ns: str, via: str):
    with _flow_dissector() as prog:
        r = prog.test_run(_udp_packet(), data_out_size=56)  # the flow keys come back as data_out
        assert r.retval == 0
        keys = r.data_out
        nhoff, thoff = struct.unpack_from("<HH", keys, 0)
        assert (nhoff, thoff, keys[9]) == (14, 34, 17)
        assert struct.unpack_from("!H", keys, 10)[0] == 0x0800  # n_proto, set by the kernel
        assert keys[16:20] == bytes([10, 200, 1, 1]) and keys[20:24] == bytes([10, 200, 1, 2])
        with net.attach_flow_dissector(prog, ns, via=via) as lk:
            assert isinstance(lk, net.NetnsLink if via == "link" else net.NetnsAttachment)
            assert net.netns_query(AttachType.FLOW_DISSECTOR, ns)["prog_ids"] == [prog.id]
            assert net.netns_query(AttachType.FLOW_DISSECTOR)["prog_ids"] == []  # our own netns untouched
            if via == "link":
                assert lk.info().details["attach_type"] == AttachType.FLOW_DISSECTOR
                with pytest.raises(pybpf.BPFError, match="already attached to this netns") as ei:
                    net.attach_flow_dissector(prog, ns)
                assert ei.value.errno == errno.E2BIG
            assert [(e.kind, e.prog_id) for e in net.net_list(ns)] == [("flow_dissector", prog.id)]
        assert net.netns_query(AttachType.FLOW_DISSECTOR, ns)["prog_ids"] == []


def test_flow_dissector_runs_on_netns_traffic(ns: str):
    """Frames sent on a multi-queue device are hashed (tx queue selection) by the netns' dissector."""
    from netns import ip

    q = ("numtxqueues", "4", "numrxqueues", "4")
    ip("link", "add", "fd-a", *q, "type", "veth", "peer", "name", "fd-b", *q, netns=ns)
    for dev in ("fd-a", "fd-b"):
        ip("link", "set", dev, "up", netns=ns)
    frame = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00" + _udp_packet()[14:]

    def send(n: int) -> None:
        with in_netns(ns), socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind(("fd-a", 0))
            for _ in range(n):
                s.send(frame)

    with Map.create(MapType.ARRAY, 4, 8, 1) as c, \
            load(ProgramType.FLOW_DISSECTOR, counter_insns(c) + [asm.mov(R0, 2), asm.exit_()],  # BPF_DROP
                 expected_attach_type=AttachType.FLOW_DISSECTOR) as prog:
        send(3)
        assert u64(c) == 0
        with net.attach_flow_dissector(prog, ns):
            send(3)
            assert u64(c) >= 3
        seen = u64(c)
        send(3)
        assert u64(c) == seen


def test_auto_attach_netns_programs(ns: str):
    with _flow_dissector() as prog:
        with in_netns(ns):
            lk = net.auto_attach(prog)
        with lk:
            assert net.netns_query(AttachType.FLOW_DISSECTOR, ns)["prog_ids"] == [prog.id]
        assert net.netns_query(AttachType.FLOW_DISSECTOR, ns)["prog_ids"] == []


# --------------------------------------------------------------------- sockmap
def _tcp_pair(ns: str):
    with in_netns(ns):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        cli = socket.create_connection(srv.getsockname(), timeout=5)
    conn, _ = srv.accept()
    srv.close()
    conn.settimeout(5)
    return cli, conn


@pytest.mark.parametrize("via", ["link", "attach"])
def test_sk_msg_and_sk_skb_verdicts(ns: str, via: str):
    with Map.create(MapType.ARRAY, 4, 8, 2) as c, Map.create(MapType.SOCKMAP, 4, 4, 2) as smap:
        msg_body = counter_insns(c) + [asm.mov(R0, 1), asm.exit_()]  # SK_PASS
        skb_body = [asm.st(W, FP, -4, 1)] + counter_insns(c)[1:] + [asm.mov(R0, 1), asm.exit_()]  # counter[1]
        with load(ProgramType.SK_MSG, msg_body, expected_attach_type=AttachType.SK_MSG_VERDICT) as msg, \
                load(ProgramType.SK_SKB, skb_body, expected_attach_type=AttachType.SK_SKB_STREAM_VERDICT) as skb:
            with net.attach_sk_msg(msg, smap, via=via) as l1, \
                    net.attach_sk_skb(skb, smap, "stream_verdict", via=via) as l2:
                if via == "link":
                    assert isinstance(l1, net.SockmapLink) and l2.info().details["map_id"] == smap.id
                else:
                    assert isinstance(l1, net.SockmapAttachment)
                    assert l2.info()["prog_ids"] == [skb.id]
                if via == "link":
                    with pytest.raises(pybpf.BPFError, match="already has a sk_msg_verdict program"):
                        net.attach_sk_msg(msg, smap, via=via)  # one sk_msg program per map
                cli, conn = _tcp_pair(ns)
                with cli, conn:
                    smap[0] = cli.fileno()  # sender side: sk_msg runs on its sendmsg
                    smap[1] = conn.fileno()  # receiver side: sk_skb verdict runs on receive
                    cli.sendall(b"through the sockmap")
                    got = b""
                    while len(got) < 19:
                        got += conn.recv(64)
                    assert got == b"through the sockmap"
                    del smap[0]
                    del smap[1]
            assert u64(c, 0) >= 1 and u64(c, 1) >= 1


# --------------------------------------------------------------------- netfilter
def test_netfilter_local_out_drop(ns: str):
    with Map.create(MapType.ARRAY, 4, 8, 1) as c, \
            load(ProgramType.NETFILTER, counter_insns(c) + [asm.mov(R0, 0), asm.exit_()],  # NF_DROP
                 expected_attach_type=AttachType.NETFILTER, name="nf_drop") as prog:
        with in_netns(ns):
            rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with rx, tx:
            rx.bind(("127.0.0.1", 0))
            rx.settimeout(1)
            with net.attach_netfilter(prog, "ipv4", "output", -128, netns=ns) as lk:
                d = lk.info().details
                assert (d["pf"], d["hooknum"], d["priority"]) == (2, 3, -128)
                with pytest.raises(PermissionError):
                    tx.sendto(b"x", rx.getsockname())
                assert u64(c) == 1
            tx.sendto(b"y", rx.getsockname())
            assert rx.recv(8) == b"y"


def test_program_attach_methods_delegate(ns: str, cgroup: str):
    with load(ProgramType.CGROUP_SOCK_ADDR, [asm.mov(R0, 1), asm.exit_()],
              expected_attach_type=AttachType.CGROUP_INET4_CONNECT) as p:
        with p.attach_cgroup(cgroup) as lk:
            assert net.cgroup_query(cgroup, "connect4").prog_ids == [p.id] and isinstance(lk, net.CgroupLink)
    with _flow_dissector() as fd:
        with fd.attach_flow_dissector(ns):
            assert net.netns_query(AttachType.FLOW_DISSECTOR, ns)["prog_ids"] == [fd.id]
        with in_netns(ns):
            lk = fd.attach()  # Program.attach(): flow_dissector needs no target (the current netns)
        with lk:
            assert isinstance(lk, net.NetnsLink)
            assert net.netns_query(AttachType.FLOW_DISSECTOR, ns)["prog_ids"] == [fd.id]

