"""Every BPF program attached to the network of a namespace, gathered as ``bpftool net show`` does.

* XDP: from an ``RTM_GETLINK`` dump (one entry per interface with a program;
  several modes at once are "multi");
* tcx / netkit: ``BPF_PROG_QUERY`` on the interface (6.6+ / 6.7+), in run order,
  with program and link ids and flags;
* classic tc: ``cls_bpf`` filters (and their ``act_bpf`` actions) under every
  class and qdisc of the interface, the root, and the clsact hooks, labelled
  with the qdisc kind (``clsact/ingress``...);
* the flow dissector of the namespace and every netfilter bpf_link.

The functions answer for the namespace current in the calling thread (wrap the
calls in :func:`pybpf._sys.netlink.in_netns` for another one). Pure data: the
``pybpf net`` command formats it.
"""

from __future__ import annotations

import dataclasses
import errno
import struct
from typing import Iterator

from ._sys import cmds
from ._sys import netlink as nl
from ._sys.consts import AttachType, LinkType
from .errors import BPFError

__all__ = ["NetDevice", "XdpProg", "MprogEntry", "TcBpfFilter", "TcBpfAction", "devices", "mprog_entries",
           "tc_bpf_filters", "flow_dissector_id", "netfilter_links", "MPROG_HOOKS"]

RTM_GETTCLASS = 42
RTM_NEWTCLASS = 40
TCA_ACT_MAX_PRIO = 32
TCA_ACT_KIND, TCA_ACT_OPTIONS = 1, 2
TCA_ACT_BPF_PARMS, TCA_ACT_BPF_NAME, TCA_ACT_BPF_ID = 2, 6, 9
_AF_PACKET = 17
_XDP_MODE_NAMES = ((nl.IFLA_XDP_SKB_PROG_ID, "generic"), (nl.IFLA_XDP_DRV_PROG_ID, "driver"),
                   (nl.IFLA_XDP_HW_PROG_ID, "offload"))
_SINGLE_MODE = {nl.XDP_ATTACHED_DRV: "driver", nl.XDP_ATTACHED_SKB: "generic", nl.XDP_ATTACHED_HW: "offload"}

#: The multi-program hooks bpftool lists per interface, with its labels.
MPROG_HOOKS: tuple[tuple[AttachType, str], ...] = (
    (AttachType.TCX_INGRESS, "tcx/ingress"), (AttachType.TCX_EGRESS, "tcx/egress"),
    (AttachType.NETKIT_PRIMARY, "netkit/primary"), (AttachType.NETKIT_PEER, "netkit/peer"),
)


@dataclasses.dataclass(frozen=True)
class XdpProg:
    mode: str  # "generic", "driver", "offload"
    prog_id: int


@dataclasses.dataclass(frozen=True)
class NetDevice:
    """One interface of the RTM_GETLINK dump; ``xdp`` empty when nothing is attached,
    ``xdp_multi`` when programs run in several modes."""

    ifindex: int
    name: str
    xdp: tuple[XdpProg, ...] = ()
    xdp_multi: bool = False


@dataclasses.dataclass(frozen=True)
class MprogEntry:
    """One program of a tcx/netkit hook (``link_id`` 0: attached without a link)."""

    prog_id: int
    prog_flags: int
    link_id: int
    link_flags: int


@dataclasses.dataclass(frozen=True)
class TcBpfAction:
    name: "str | None"
    prog_id: "int | None"


@dataclasses.dataclass(frozen=True)
class TcBpfFilter:
    """A cls_bpf filter; ``kind`` is where it was found (``clsact/ingress``, ``root``, a qdisc kind);
    ``actions`` None when the filter has no action list."""

    kind: str
    name: "str | None"
    prog_id: "int | None"
    actions: "tuple[TcBpfAction, ...] | None" = None


def _u32(attrs: dict[int, bytes], key: int) -> "int | None":
    v = attrs.get(key)
    return struct.unpack_from("=I", v)[0] if v is not None and len(v) >= 4 else None


def _str(attrs: dict[int, bytes], key: int) -> "str | None":
    v = attrs.get(key)
    return None if v is None else v.split(b"\0", 1)[0].decode(errors="replace")


def devices(ifindex: int = 0) -> list[NetDevice]:
    """Interfaces in dump order (only ``ifindex`` when given), with their XDP programs."""
    out: list[NetDevice] = []
    with nl.NetlinkSocket() as s:
        msgs = s.request(nl.RTM_GETLINK, nl.NLM_F_DUMP, nl.ifinfomsg(family=_AF_PACKET))
    for m in msgs:
        if m.type != nl.RTM_NEWLINK or len(m.payload) < 16:
            continue
        idx = struct.unpack_from("=i", m.payload, 4)[0]
        if ifindex > 0 and idx != ifindex:
            continue
        attrs = nl.parse_attrs(m.payload[16:])
        name = _str(attrs, nl.IFLA_IFNAME) or ""
        raw = attrs.get(nl.IFLA_XDP)
        progs: list[XdpProg] = []
        multi = False
        if raw is not None:
            x = nl.parse_attrs(raw)
            att = x.get(nl.IFLA_XDP_ATTACHED, b"\0")[:1]
            mode = att[0] if att else 0
            if mode == nl.XDP_ATTACHED_MULTI:
                multi = True
                progs = [XdpProg(label, _u32(x, key) or 0) for key, label in _XDP_MODE_NAMES if key in x]
            elif mode in _SINGLE_MODE and nl.IFLA_XDP_PROG_ID in x:
                progs = [XdpProg(_SINGLE_MODE[mode], _u32(x, nl.IFLA_XDP_PROG_ID) or 0)]
        out.append(NetDevice(idx, name, tuple(progs), multi))
    return out


def mprog_entries(ifindex: int, attach_type: AttachType) -> list[MprogEntry]:
    """The programs of one tcx/netkit hook (empty when the kernel or device has none)."""
    try:
        q = cmds.prog_query(ifindex, attach_type)
    except BPFError:
        return []
    return [MprogEntry(p, pf, lid, lf) for p, pf, lid, lf in
            zip(q["prog_ids"], q["prog_attach_flags"], q["link_ids"], q["link_attach_flags"])]


def _dump(s: nl.NetlinkSocket, msg_type: int, ifindex: int, parent: int = 0) -> list[nl.NlMsg]:
    return s.request(msg_type, nl.NLM_F_DUMP, nl.tcmsg(ifindex, 0, parent))


def _handles(s: nl.NetlinkSocket, ifindex: int) -> list[tuple[str, int]]:
    """(kind, handle) of the classes of ``ifindex`` then of the qdiscs (clsact and handle 0 skipped;
    the kernel's qdisc dump covers every interface, as bpftool sees it)."""
    out: list[tuple[str, int]] = []
    for msg_type, reply, is_qdisc in ((RTM_GETTCLASS, RTM_NEWTCLASS, False),
                                      (nl.RTM_GETQDISC, nl.RTM_NEWQDISC, True)):
        for m in _dump(s, msg_type, ifindex):
            if m.type != reply or len(m.payload) < 20:
                continue
            handle = struct.unpack_from("=I", m.payload, 8)[0]
            kind = _str(nl.parse_attrs(m.payload[20:]), nl.TCA_KIND)
            if is_qdisc and (kind == "clsact" or handle == 0):
                continue
            out.append((kind if kind is not None else "unknown", handle))
    return out


def _actions(raw: bytes) -> tuple[TcBpfAction, ...]:
    acts = nl.parse_attrs(raw)
    out: list[TcBpfAction] = []
    for prio in range(TCA_ACT_MAX_PRIO + 1):
        one = acts.get(prio)
        if one is None:
            continue
        a = nl.parse_attrs(one)
        if _str(a, TCA_ACT_KIND) != "bpf" or TCA_ACT_OPTIONS not in a:
            continue
        o = nl.parse_attrs(a[TCA_ACT_OPTIONS])
        if TCA_ACT_BPF_PARMS not in o:
            break  # bpftool stops the list on a malformed action
        out.append(TcBpfAction(_str(o, TCA_ACT_BPF_NAME), _u32(o, TCA_ACT_BPF_ID)))
    return tuple(out)


def _filters(s: nl.NetlinkSocket, ifindex: int, parent: int, kind: str) -> Iterator[TcBpfFilter]:
    for m in _dump(s, nl.RTM_GETTFILTER, ifindex, parent):
        if m.type != nl.RTM_NEWTFILTER or len(m.payload) < 20:
            continue
        attrs = nl.parse_attrs(m.payload[20:])
        if nl.TCA_OPTIONS not in attrs or _str(attrs, nl.TCA_KIND) != "bpf":
            continue
        o = nl.parse_attrs(attrs[nl.TCA_OPTIONS])
        acts = _actions(o[nl.TCA_BPF_ACT]) if nl.TCA_BPF_ACT in o else None
        yield TcBpfFilter(kind, _str(o, nl.TCA_BPF_NAME), _u32(o, nl.TCA_BPF_ID), acts)


def tc_bpf_filters(ifindex: int) -> list[TcBpfFilter]:
    """The cls_bpf filters of an interface in bpftool's order (a failing dump ends the list)."""
    out: list[TcBpfFilter] = []
    try:
        with nl.NetlinkSocket() as s:
            hooks = _handles(s, ifindex)
            hooks += [("root", nl.TC_H_ROOT), ("clsact/ingress", nl.tc_h_make(nl.TC_H_CLSACT, nl.TC_H_MIN_INGRESS)),
                      ("clsact/egress", nl.tc_h_make(nl.TC_H_CLSACT, nl.TC_H_MIN_EGRESS))]
            for kind, handle in hooks:
                out.extend(_filters(s, ifindex, handle, kind))
    except BPFError:
        pass
    return out


def flow_dissector_id() -> int:
    """The flow dissector program of the calling thread's namespace (0: none / not queryable)."""
    import os

    fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        q = cmds.prog_query(fd, AttachType.FLOW_DISSECTOR, max_progs=1)
    except BPFError as e:
        if e.errno == errno.EINVAL:
            return 0
        raise
    finally:
        os.close(fd)
    return q["prog_ids"][0] if len(q["prog_ids"]) == 1 else 0


def netfilter_links() -> list[tuple[int, int, int, int, int]]:
    """(pf, hooknum, priority, flags, prog_id) of every netfilter bpf_link, sorted as bpftool sorts them."""
    out = []
    for link_id in cmds.iter_ids("link"):
        try:
            with cmds.fd_by_id("link", link_id) as fd:
                info = cmds.link_info(fd.fd)
        except BPFError:
            continue
        if info.type != LinkType.NETFILTER:
            continue
        nf = info.netfilter
        out.append((int(nf.pf), int(nf.hooknum), int(nf.priority), int(nf.flags), int(info.prog_id)))
    out.sort(key=lambda t: t[:4])
    return out
