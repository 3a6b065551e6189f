"""A small rtnetlink client: XDP on interfaces, clsact qdiscs and cls_bpf filters.

Pure Python over ``socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)``; what ``ip link
set dev X xdp ...`` and ``tc filter add ... bpf da`` do, without iproute2.

* XDP through ``RTM_SETLINK`` / ``IFLA_XDP`` (4.8+; ``IFLA_XDP_EXPECTED_FD`` with
  ``XDP_FLAGS_REPLACE`` 5.7+), queried with ``RTM_GETLINK`` (prog ids 4.13+,
  per-mode ids 4.19+);
* TC: the ``clsact`` qdisc (4.5+) and ``cls_bpf`` filters (``TCA_BPF_FD`` 4.1+,
  direct-action 4.4+, ``TCA_BPF_ID``/``TAG`` in dumps 4.13+).

Errors (``NLMSG_ERROR``) become :class:`pybpf.BPFError` named after the request
(``RTM_SETLINK``...) with the kernel's extended-ack text (4.12+) as the hint.

A netlink socket belongs to the network namespace current when it was created;
:func:`in_netns` switches the calling thread's namespace for a block, and every
request here opens its socket in the namespace current at the call.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import itertools
import os
import socket
import struct
import threading
from typing import Iterator, NamedTuple, Union

from ..errors import BPFError, Error, NotFoundError, PermissionError_

__all__ = [
    "NetlinkSocket", "NlMsg", "XdpState", "TcFilter", "ifindex", "ifname", "interfaces", "in_netns", "netns_fd",
    "xdp_set", "xdp_query", "qdisc_add_clsact", "qdisc_del_clsact", "has_clsact", "filter_add", "filter_del",
    "filter_list", "tc_parent", "setns", "nla", "nla_u32", "nla_s32", "nla_str", "nla_nested", "parse_attrs",
    "parse_messages", "nlmsg", "ifinfomsg", "tcmsg", "parse_error",
]

# ---------------------------------------------------------------- constants
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ECHO = 0x8
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLM_F_CAPPED = 0x100  # in NLMSG_ERROR: the request was not echoed back
NLM_F_ACK_TLVS = 0x200  # in NLMSG_ERROR: extended-ack attributes follow

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2

NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
RTM_NEWTFILTER, RTM_DELTFILTER, RTM_GETTFILTER = 44, 45, 46
RTM_NAMES = {16: "RTM_NEWLINK", 17: "RTM_DELLINK", 18: "RTM_GETLINK", 19: "RTM_SETLINK", 36: "RTM_NEWQDISC",
             37: "RTM_DELQDISC", 38: "RTM_GETQDISC", 44: "RTM_NEWTFILTER", 45: "RTM_DELTFILTER",
             46: "RTM_GETTFILTER"}

IFLA_IFNAME = 3
IFLA_XDP = 43
IFLA_XDP_FD, IFLA_XDP_ATTACHED, IFLA_XDP_FLAGS, IFLA_XDP_PROG_ID = 1, 2, 3, 4
IFLA_XDP_DRV_PROG_ID, IFLA_XDP_SKB_PROG_ID, IFLA_XDP_HW_PROG_ID, IFLA_XDP_EXPECTED_FD = 5, 6, 7, 8

XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4
XDP_FLAGS_MODES = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE
XDP_MODE_FLAGS = {"skb": XDP_FLAGS_SKB_MODE, "generic": XDP_FLAGS_SKB_MODE, "drv": XDP_FLAGS_DRV_MODE,
                  "native": XDP_FLAGS_DRV_MODE, "hw": XDP_FLAGS_HW_MODE, "offload": XDP_FLAGS_HW_MODE}

XDP_ATTACHED_NONE, XDP_ATTACHED_DRV, XDP_ATTACHED_SKB, XDP_ATTACHED_HW, XDP_ATTACHED_MULTI = 0, 1, 2, 3, 4
XDP_ATTACHED_NAMES = {0: "none", 1: "drv", 2: "skb", 3: "hw", 4: "multi"}

TCA_KIND, TCA_OPTIONS, TCA_CHAIN = 1, 2, 11
TCA_BPF_ACT, TCA_BPF_POLICE, TCA_BPF_CLASSID, TCA_BPF_OPS_LEN, TCA_BPF_OPS = 1, 2, 3, 4, 5
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS, TCA_BPF_FLAGS_GEN, TCA_BPF_TAG, TCA_BPF_ID = 6, 7, 8, 9, 10, 11
TCA_BPF_FLAG_ACT_DIRECT = 1
TCA_CLS_FLAGS_SKIP_HW, TCA_CLS_FLAGS_SKIP_SW = 1, 2

TC_H_MAJ_MASK = 0xFFFF0000
TC_H_MIN_MASK = 0x0000FFFF
TC_H_ROOT = 0xFFFFFFFF
TC_H_INGRESS = 0xFFFFFFF1
TC_H_CLSACT = TC_H_INGRESS
TC_H_MIN_INGRESS = 0xFFF2
TC_H_MIN_EGRESS = 0xFFF3
ETH_P_ALL = 0x0003


def tc_h_make(maj: int, minor: int) -> int:
    """TC_H_MAKE: a 32-bit handle from a major (upper 16 bits kept) and a minor."""
    return (maj & TC_H_MAJ_MASK) | (minor & TC_H_MIN_MASK)


def tc_parent(direction: str) -> int:
    """The clsact parent handle for ``"ingress"`` or ``"egress"``."""
    if direction == "ingress":
        return tc_h_make(TC_H_CLSACT, TC_H_MIN_INGRESS)
    if direction == "egress":
        return tc_h_make(TC_H_CLSACT, TC_H_MIN_EGRESS)
    raise Error(f"tc direction must be 'ingress' or 'egress', got {direction!r}")


# ---------------------------------------------------------------- encoding
_NLMSGHDR = struct.Struct("=IHHII")
_NLATTR = struct.Struct("=HH")
_IFINFOMSG = struct.Struct("=BxHiII")
_TCMSG = struct.Struct("=BxxxiIII")


def _align4(n: int) -> int:
    return (n + 3) & ~3


def nla(attr_type: int, data: bytes) -> bytes:
    """One netlink attribute (header + payload, padded to 4 bytes)."""
    n = _NLATTR.size + len(data)
    return _NLATTR.pack(n, attr_type) + data + b"\0" * (_align4(n) - n)


def nla_u32(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack("=I", value & 0xFFFFFFFF))


def nla_s32(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack("=i", value))


def nla_str(attr_type: int, value: str) -> bytes:
    """A NUL-terminated string attribute."""
    return nla(attr_type, value.encode() + b"\0")


def nla_nested(attr_type: int, *attrs: bytes) -> bytes:
    return nla(attr_type | NLA_F_NESTED, b"".join(attrs))


def nlmsg(msg_type: int, flags: int, seq: int, payload: bytes, pid: int = 0) -> bytes:
    """A complete netlink message (nlmsghdr + payload, padded)."""
    n = _NLMSGHDR.size + len(payload)
    return _NLMSGHDR.pack(n, msg_type, flags, seq, pid) + payload + b"\0" * (_align4(n) - n)


def ifinfomsg(index: int = 0, family: int = socket.AF_UNSPEC, type_: int = 0, flags: int = 0,
              change: int = 0) -> bytes:
    """struct ifinfomsg (16 bytes)."""
    return _IFINFOMSG.pack(family, type_, index, flags, change)


def tcmsg(ifindex: int, handle: int = 0, parent: int = 0, info: int = 0, family: int = socket.AF_UNSPEC) -> bytes:
    """struct tcmsg (20 bytes)."""
    return _TCMSG.pack(family, ifindex, handle, parent, info)


def parse_attrs(data: bytes | memoryview) -> dict[int, bytes]:
    """Attributes of a payload region as {type: payload} (nested flag masked off; last wins)."""
    out: dict[int, bytes] = {}
    mv = memoryview(data)
    off = 0
    while off + _NLATTR.size <= len(mv):
        n, t = _NLATTR.unpack_from(mv, off)
        if n < _NLATTR.size or off + n > len(mv):
            break
        out[t & NLA_TYPE_MASK] = bytes(mv[off + _NLATTR.size: off + n])
        off += _align4(n)
    return out


class NlMsg(NamedTuple):
    """One received netlink message."""

    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes


def parse_messages(data: bytes | memoryview) -> Iterator[NlMsg]:
    """Split a datagram into messages."""
    mv = memoryview(data)
    off = 0
    while off + _NLMSGHDR.size <= len(mv):
        n, t, fl, seq, pid = _NLMSGHDR.unpack_from(mv, off)
        if n < _NLMSGHDR.size or off + n > len(mv):
            break
        yield NlMsg(t, fl, seq, pid, bytes(mv[off + _NLMSGHDR.size: off + n]))
        off += _align4(n)


def parse_error(msg: NlMsg) -> tuple[int, str]:
    """(positive errno or 0, extended-ack message) of an NLMSG_ERROR / NLMSG_DONE message."""
    if len(msg.payload) < 4:
        return 0, ""
    (err,) = struct.unpack_from("=i", msg.payload)
    text = ""
    if msg.flags & NLM_F_ACK_TLVS:
        if msg.type == NLMSG_DONE:
            tlv_off = 4
        elif msg.flags & NLM_F_CAPPED:
            tlv_off = 4 + _NLMSGHDR.size
        else:  # the whole request is echoed back: skip it
            (orig_len,) = struct.unpack_from("=I", msg.payload, 4) if len(msg.payload) >= 8 else (0,)
            tlv_off = 4 + _align4(orig_len)
        attrs = parse_attrs(msg.payload[tlv_off:])
        raw = attrs.get(NLMSGERR_ATTR_MSG, b"")
        text = raw.split(b"\0", 1)[0].decode(errors="replace")
    return -err, text


def raise_netlink(err: int, msg_type: int, extack: str = "", hint: str = "") -> None:
    """Raise the typed pybpf error for a netlink failure (extack text first in the hint)."""
    name = RTM_NAMES.get(msg_type, f"netlink msg {msg_type}")
    h = "; ".join(x for x in (extack, hint) if x)
    if err in (errno.EPERM, errno.EACCES):
        raise PermissionError_(err, name, h or "rtnetlink changes need CAP_NET_ADMIN; run as root")
    if err == errno.ENOENT:
        raise NotFoundError(err, name, h)
    raise BPFError(err, name, h)


# ---------------------------------------------------------------- namespaces
CLONE_NEWNET = 0x40000000
_NETNS_DIR = "/run/netns"

NetnsRef = Union[str, int, None]
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """setns(2) for the calling thread (``os.setns`` needs Python 3.12)."""
    if _libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)) != 0:
        err = ctypes.get_errno()
        raise BPFError(err, "setns", "entering a network namespace needs CAP_SYS_ADMIN"
                       if err == errno.EPERM else "")


def netns_fd(netns: NetnsRef = None) -> int:
    """A new O_RDONLY fd for a network namespace (the caller closes it).

    ``netns`` is None (the calling thread's current one), a name made by ``ip
    netns add`` (``/run/netns/<name>``), a path (``/proc/<pid>/ns/net``), or an
    fd (duplicated).
    """
    if netns is None:
        return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    if isinstance(netns, int):
        return os.dup(netns)
    path = netns if "/" in netns else os.path.join(_NETNS_DIR, netns)
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Error(f"network namespace {netns!r} not found ({path})") from None


@contextlib.contextmanager
def in_netns(netns: NetnsRef) -> Iterator[None]:
    """Run the block with the calling thread in network namespace ``netns`` (None: stay).

    Only this thread moves (setns(2) on a thread); the original namespace is
    restored on exit, even on error. Sockets and netlink handles created inside
    stay bound to ``netns``.
    """
    if netns is None:
        yield
        return
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = netns_fd(netns)
        try:
            setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            setns(orig)
    finally:
        os.close(orig)


# ---------------------------------------------------------------- the socket
_seq = itertools.count(int.from_bytes(os.urandom(2), "little") + 1)
_seq_lock = threading.Lock()


def _next_seq() -> int:
    with _seq_lock:
        return next(_seq) & 0xFFFFFFFF


class NetlinkSocket:
    """An NETLINK_ROUTE socket with extended acks; one request at a time.

    The socket is bound to the network namespace current at construction
    (``netns`` selects another one just for the socket() call).
    """

    def __init__(self, netns: NetnsRef = None) -> None:
        with in_netns(netns):
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        try:
            self._sock.bind((0, 0))
            for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
                try:
                    self._sock.setsockopt(SOL_NETLINK, opt, 1)
                except OSError:  # pre-4.12 kernels: plain errors without extack
                    pass
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self._peek = bytearray(1)
        except BaseException:
            self._sock.close()
            raise

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "NetlinkSocket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, payload: bytes, *, hint: str = "") -> list[NlMsg]:
        """Send one request and collect the replies until the ack / NLMSG_DONE.

        Raises the typed error for a non-zero NLMSG_ERROR. Returns the non-control
        messages (dump entries or an echo).
        """
        seq = _next_seq()
        self._sock.sendto(nlmsg(msg_type, flags | NLM_F_REQUEST, seq, payload), (0, 0))
        dump = bool(flags & NLM_F_DUMP == NLM_F_DUMP)
        want_ack = bool(flags & NLM_F_ACK)
        out: list[NlMsg] = []
        while True:
            data = self._recv()
            for m in parse_messages(data):
                if m.seq != seq:
                    continue  # stale reply to an earlier, interrupted request
                if m.type == NLMSG_ERROR:
                    err, text = parse_error(m)
                    if err:
                        raise_netlink(err, msg_type, text, hint)
                    return out
                if m.type == NLMSG_DONE:
                    err, text = parse_error(m)
                    if err:
                        raise_netlink(err, msg_type, text, hint)
                    return out
                if m.type in (NLMSG_NOOP, NLMSG_OVERRUN):
                    continue
                out.append(m)
                if not dump and not want_ack and not (m.flags & NLM_F_MULTI):
                    return out

    def _recv(self) -> bytes:
        # Peek with MSG_TRUNC for the datagram's real size, then read it whole.
        n = self._sock.recv_into(self._peek, 1, socket.MSG_PEEK | socket.MSG_TRUNC)
        return self._sock.recv(max(n, 32768))


def _request(msg_type: int, flags: int, payload: bytes, netns: NetnsRef = None, hint: str = "") -> list[NlMsg]:
    with NetlinkSocket(netns) as s:
        return s.request(msg_type, flags, payload, hint=hint)


# ---------------------------------------------------------------- interfaces
def ifindex(dev: str | int, netns: NetnsRef = None) -> int:
    """The ifindex of interface ``dev`` (a name or an index, checked to exist)."""
    if isinstance(dev, int):
        if dev <= 0:
            raise Error(f"invalid ifindex {dev}")
        return dev
    try:
        with in_netns(netns):
            return socket.if_nametoindex(dev)
    except OSError:
        raise Error(f"no network interface named {dev!r}"
                    + (f" in network namespace {netns!r}" if netns is not None else "")) from None


def ifname(index: int, netns: NetnsRef = None) -> str:
    """The name of interface ``index`` ("" if there is none)."""
    try:
        with in_netns(netns):
            return socket.if_indextoname(index)
    except OSError:
        return ""


def interfaces(netns: NetnsRef = None) -> dict[int, str]:
    """{ifindex: name} of every interface (RTM_GETLINK dump)."""
    out: dict[int, str] = {}
    for m in _request(RTM_GETLINK, NLM_F_DUMP, ifinfomsg(), netns):
        if m.type != RTM_NEWLINK or len(m.payload) < _IFINFOMSG.size:
            continue
        idx = _IFINFOMSG.unpack_from(m.payload)[2]
        name = parse_attrs(m.payload[_IFINFOMSG.size:]).get(IFLA_IFNAME, b"")
        out[idx] = name.split(b"\0", 1)[0].decode(errors="replace")
    return out


# ---------------------------------------------------------------- XDP
@dataclasses.dataclass(frozen=True)
class XdpState:
    """The XDP programs on one interface (RTM_GETLINK IFLA_XDP)."""

    ifindex: int
    attached: int = XDP_ATTACHED_NONE
    prog_id: int = 0
    skb_prog_id: int = 0
    drv_prog_id: int = 0
    hw_prog_id: int = 0

    @property
    def mode(self) -> str:
        """"none", "skb", "drv", "hw" or "multi"."""
        return XDP_ATTACHED_NAMES.get(self.attached, str(self.attached))

    @property
    def prog_ids(self) -> dict[str, int]:
        """{mode: prog id} for every mode with a program."""
        ids = {"skb": self.skb_prog_id, "drv": self.drv_prog_id, "hw": self.hw_prog_id}
        if self.attached in (XDP_ATTACHED_SKB, XDP_ATTACHED_DRV, XDP_ATTACHED_HW) and self.prog_id:
            ids[self.mode] = ids[self.mode] or self.prog_id
        return {k: v for k, v in ids.items() if v}


def xdp_set_msg(index: int, prog_fd: int, flags: int = 0, expected_fd: int | None = None) -> bytes:
    """The RTM_SETLINK payload attaching ``prog_fd`` (-1 detaches) to interface ``index``."""
    inner = [nla_s32(IFLA_XDP_FD, prog_fd)]
    if flags:
        inner.append(nla_u32(IFLA_XDP_FLAGS, flags))
    if expected_fd is not None:
        inner.append(nla_s32(IFLA_XDP_EXPECTED_FD, expected_fd))
    return ifinfomsg(index) + nla_nested(IFLA_XDP, *inner)


def xdp_set(index: int, prog_fd: int, flags: int = 0, expected_fd: int | None = None, netns: NetnsRef = None,
            hint: str = "") -> None:
    """Attach (``prog_fd`` >= 0) or detach (-1) the netlink XDP program of an interface (4.8+).

    ``flags`` are ``XDP_FLAGS_*``; ``expected_fd`` (with ``XDP_FLAGS_REPLACE``,
    5.7+) makes the change conditional on that program being the attached one.
    """
    _request(RTM_SETLINK, NLM_F_ACK, xdp_set_msg(index, prog_fd, flags, expected_fd), netns, hint)


def parse_xdp(index: int, payload: bytes) -> XdpState:
    """The XdpState of an RTM_NEWLINK payload."""
    attrs = parse_attrs(payload[_IFINFOMSG.size:])
    raw = attrs.get(IFLA_XDP)
    if raw is None:
        return XdpState(index)
    x = parse_attrs(raw)

    def u32(k: int) -> int:
        v = x.get(k)
        return struct.unpack_from("=I", v)[0] if v and len(v) >= 4 else 0

    att = x.get(IFLA_XDP_ATTACHED, b"\0")
    return XdpState(index, att[0] if att else 0, u32(IFLA_XDP_PROG_ID), u32(IFLA_XDP_SKB_PROG_ID),
                    u32(IFLA_XDP_DRV_PROG_ID), u32(IFLA_XDP_HW_PROG_ID))


def xdp_query(index: int, netns: NetnsRef = None) -> XdpState:
    """The XDP programs attached to interface ``index`` (RTM_GETLINK)."""
    for m in _request(RTM_GETLINK, 0, ifinfomsg(index), netns):
        if m.type == RTM_NEWLINK:
            return parse_xdp(index, m.payload)
    raise Error(f"RTM_GETLINK: no reply for ifindex {index}")


# ---------------------------------------------------------------- TC
@dataclasses.dataclass(frozen=True)
class TcFilter:
    """One tc filter on a clsact hook (as ``tc filter show`` lists it)."""

    ifindex: int
    parent: int
    priority: int
    handle: int
    protocol: int
    kind: str
    name: str = ""
    prog_id: int = 0
    tag: str = ""
    direct_action: bool = False
    chain: int = 0

    @property
    def direction(self) -> str:
        m = self.parent & TC_H_MIN_MASK
        return {TC_H_MIN_INGRESS: "ingress", TC_H_MIN_EGRESS: "egress"}.get(m, f"{self.parent:#x}")


def qdisc_clsact_msg(index: int) -> bytes:
    return tcmsg(index, tc_h_make(TC_H_CLSACT, 0), TC_H_CLSACT) + nla_str(TCA_KIND, "clsact")


def qdisc_add_clsact(index: int, netns: NetnsRef = None) -> bool:
    """Create the clsact qdisc on interface ``index`` (4.5+); False if it already existed."""
    try:
        _request(RTM_NEWQDISC, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, qdisc_clsact_msg(index), netns)
    except BPFError as e:
        if e.errno == errno.EEXIST:
            return False
        if e.errno == errno.ENOENT:
            raise BPFError(e.errno, "RTM_NEWQDISC", "the clsact qdisc needs CONFIG_NET_SCH_INGRESS (4.5+)"
                           + (f"; {e.hint}" if e.hint else "")) from None
        raise
    return True


def qdisc_del_clsact(index: int, netns: NetnsRef = None) -> None:
    """Delete the clsact qdisc (and every filter on it) from interface ``index``."""
    _request(RTM_DELQDISC, NLM_F_ACK, qdisc_clsact_msg(index), netns)


def has_clsact(index: int, netns: NetnsRef = None) -> bool:
    """Whether interface ``index`` has a clsact qdisc (RTM_GETQDISC dump)."""
    for m in _request(RTM_GETQDISC, NLM_F_DUMP, tcmsg(index), netns):
        if m.type != RTM_NEWQDISC or len(m.payload) < _TCMSG.size:
            continue
        _fam, idx, _h, parent, _info = _TCMSG.unpack_from(m.payload)
        kind = parse_attrs(m.payload[_TCMSG.size:]).get(TCA_KIND, b"").split(b"\0", 1)[0]
        if idx == index and kind == b"clsact":
            return True
    return False


def _filter_info(priority: int, protocol: int = ETH_P_ALL) -> int:
    return tc_h_make(priority << 16, socket.htons(protocol))


def filter_add_msg(index: int, parent: int, prog_fd: int, name: str, priority: int, handle: int,
                   direct_action: bool = True, protocol: int = ETH_P_ALL, classid: int = 0) -> bytes:
    """RTM_NEWTFILTER payload for a cls_bpf filter running ``prog_fd``."""
    opts = [nla_u32(TCA_BPF_FD, prog_fd), nla_str(TCA_BPF_NAME, name)]
    if direct_action:
        opts.append(nla_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT))
    if classid:
        opts.append(nla_u32(TCA_BPF_CLASSID, classid))
    return (tcmsg(index, handle, parent, _filter_info(priority, protocol)) + nla_str(TCA_KIND, "bpf")
            + nla_nested(TCA_OPTIONS, *opts))


def filter_add(index: int, parent: int, prog_fd: int, name: str = "", priority: int = 1, handle: int = 1,
               direct_action: bool = True, protocol: int = ETH_P_ALL, replace: bool = False,
               netns: NetnsRef = None) -> None:
    """Add (or with ``replace`` replace) a cls_bpf filter (4.1+; direct-action 4.4+)."""
    fl = NLM_F_ACK | NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
    _request(RTM_NEWTFILTER, fl, filter_add_msg(index, parent, prog_fd, name, priority, handle, direct_action,
                                                protocol), netns)


def filter_del_msg(index: int, parent: int, priority: int, handle: int, protocol: int = ETH_P_ALL) -> bytes:
    return tcmsg(index, handle, parent, _filter_info(priority, protocol)) + nla_str(TCA_KIND, "bpf")


def filter_del(index: int, parent: int, priority: int, handle: int, protocol: int = ETH_P_ALL,
               netns: NetnsRef = None) -> None:
    """Delete the cls_bpf filter at (``priority``, ``handle``) of a clsact hook."""
    _request(RTM_DELTFILTER, NLM_F_ACK, filter_del_msg(index, parent, priority, handle, protocol), netns)


def parse_filter(payload: bytes) -> TcFilter | None:
    """A TcFilter from an RTM_NEWTFILTER payload (None for the per-priority header entries)."""
    if len(payload) < _TCMSG.size:
        return None
    _fam, idx, handle, parent, info = _TCMSG.unpack_from(payload)
    attrs = parse_attrs(payload[_TCMSG.size:])
    kind = attrs.get(TCA_KIND, b"").split(b"\0", 1)[0].decode(errors="replace")
    opts_raw = attrs.get(TCA_OPTIONS)
    if not handle or opts_raw is None:
        return None
    chain = struct.unpack_from("=I", attrs[TCA_CHAIN])[0] if len(attrs.get(TCA_CHAIN, b"")) >= 4 else 0
    prio, proto = info >> 16, socket.ntohs(info & 0xFFFF)
    if kind != "bpf":
        return TcFilter(idx, parent, prio, handle, proto, kind, chain=chain)
    o = parse_attrs(opts_raw)
    flags = struct.unpack_from("=I", o[TCA_BPF_FLAGS])[0] if len(o.get(TCA_BPF_FLAGS, b"")) >= 4 else 0
    pid = struct.unpack_from("=I", o[TCA_BPF_ID])[0] if len(o.get(TCA_BPF_ID, b"")) >= 4 else 0
    return TcFilter(idx, parent, prio, handle, proto, kind,
                    name=o.get(TCA_BPF_NAME, b"").split(b"\0", 1)[0].decode(errors="replace"),
                    prog_id=pid, tag=o.get(TCA_BPF_TAG, b"").hex(),
                    direct_action=bool(flags & TCA_BPF_FLAG_ACT_DIRECT), chain=chain)


def filter_list(index: int, parent: int, netns: NetnsRef = None) -> list[TcFilter]:
    """Every filter on one clsact hook of interface ``index`` (RTM_GETTFILTER dump)."""
    out = []
    try:
        msgs = _request(RTM_GETTFILTER, NLM_F_DUMP, tcmsg(index, 0, parent), netns)
    except BPFError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT):  # no clsact qdisc: no filters
            return []
        raise
    for m in msgs:
        if m.type == RTM_NEWTFILTER:
            f = parse_filter(m.payload)
            if f is not None:
                out.append(f)
    return out
