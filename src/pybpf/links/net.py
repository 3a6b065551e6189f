"""Network attach points: XDP, tcx, tc (clsact/cls_bpf) — and, re-exported from
:mod:`pybpf.links.net_sock`, cgroups, sockets, sockmaps, netns hooks and netfilter.

=====================  ==========================================  ======================
function               kernel object                                minimum kernel
=====================  ==========================================  ======================
attach_xdp             bpf_link (LINK_CREATE BPF_XDP) / netlink     5.9 link, 4.8 netlink
attach_tcx             bpf_link (BPF_TCX_INGRESS/EGRESS)            6.6
attach_tc              clsact qdisc + cls_bpf filter (netlink)      4.5 (direct-action 4.4)
attach_cgroup          bpf_link (BPF_LINK_TYPE_CGROUP) / PROG_ATTACH 5.7 link, 4.10 attach
attach_socket          SO_ATTACH_BPF (SO_ATTACH_REUSEPORT_EBPF)     3.19 (4.5)
attach_sk_lookup       netns bpf_link                               5.9
attach_flow_dissector  netns bpf_link / PROG_ATTACH                 5.7 link, 4.20 attach
attach_sk_skb/sk_msg   sockmap bpf_link / PROG_ATTACH to the map    6.10 link, 4.14/4.17
attach_netfilter       bpf_link (BPF_LINK_TYPE_NETFILTER)           6.4
=====================  ==========================================  ======================

Interface arguments are names (``"eth0"``) or ifindexes, looked up in the
network namespace ``netns`` (default: the calling thread's current one; else a
name from ``ip netns add``, a path such as ``/proc/<pid>/ns/net`` or an fd).
Every function returns a :class:`~pybpf.links.link.Link`: a real bpf_link where
the kernel has one, otherwise an :class:`~pybpf.links.net_common.Attachment`
with the same ``close()``/``detach()``/``info()`` surface. Closing either
detaches the program (a pinned bpf_link stays attached).
"""

from __future__ import annotations

import dataclasses
import errno
from typing import Any, Union

from .._sys import cmds
from .._sys import netlink as nl
from .._sys.consts import AttachFlags, AttachType, LinkType, ProgramType
from .._sys.netlink import NetnsRef, TcFilter, XdpState, in_netns
from .._sys.syscall import FD
from ..errors import BPFError, Error, NotSupportedError
from .link import Link, prog_fd_of, register_link_type
from .net_common import (FALLBACK_ERRNOS, Attachment, check_prog_type, kernel_at_least, link_create, prog_id_of,
                         reraise)
from .net_sock import (CgroupAttachment, CgroupLink, HookState, NetfilterLink, NetnsAttachment, NetnsLink, SockmapAttachment,
                       SockmapLink, SocketFilter, attach_cgroup, attach_flow_dissector, attach_netfilter,
                       attach_sk_lookup, attach_sk_msg, attach_sk_skb, attach_socket, cgroup_query, netns_query)

__all__ = [
    "attach_xdp", "attach_tcx", "attach_tc", "attach_cgroup", "attach_socket", "attach_sk_lookup",
    "attach_flow_dissector", "attach_sk_skb", "attach_sk_msg", "attach_netfilter", "auto_attach",
    "xdp_info", "tcx_query", "tc_filters", "net_list", "cgroup_query", "netns_query",
    "XdpLink", "XdpAttachment", "TcxLink", "TcAttachment", "CgroupLink", "CgroupAttachment", "NetnsLink",
    "NetnsAttachment", "SockmapLink", "SockmapAttachment", "SocketFilter", "NetfilterLink",
    "XdpState", "TcFilter", "TcxState", "HookState", "NetAttachmentInfo", "NETWORK_PROGRAM_TYPES",
]

Dev = Union[str, int]


def _dev_desc(dev: Dev, idx: int) -> str:
    return dev if isinstance(dev, str) else (nl.ifname(idx) or f"ifindex {idx}")


# ===================================================================== XDP
def _xdp_mode_flags(mode: str | None) -> int:
    if mode is None:
        return 0
    try:
        return nl.XDP_MODE_FLAGS[mode]
    except KeyError:
        raise Error(f"XDP mode must be 'skb', 'drv', 'hw' or None, got {mode!r}") from None


def _mode_of(state: XdpState, prog_id: int) -> str:
    for mode, pid in state.prog_ids.items():
        if pid == prog_id:
            return mode
    return state.mode


def xdp_info(dev: Dev, netns: NetnsRef = None) -> XdpState:
    """The XDP programs on an interface: ``.mode`` ("none"/"skb"/"drv"/"hw"/"multi"),
    ``.prog_id`` and per-mode ids (RTM_GETLINK; ids 4.13+, per mode 4.19+)."""
    with in_netns(netns):
        return nl.xdp_query(nl.ifindex(dev))


def _xdp_busy_hint(idx: int, dev: str, what: str) -> str:
    state = nl.xdp_query(idx)
    link_id = 0
    for pid in state.prog_ids.values() or [state.prog_id]:
        for li in _xdp_links():
            if li.details.get("ifindex") == idx and li.prog_id == pid:
                link_id = li.id
    ids = ", ".join(f"{m} prog id {p}" for m, p in state.prog_ids.items()) or "a program"
    if link_id:
        return (f"{dev} already has an XDP program attached ({ids}) by another bpf_link (link id {link_id}); "
                f"{what}close/detach that link, or pass replace=<that XdpLink> to update it")
    return (f"{dev} already has an XDP program attached ({ids}) by netlink (ip link / attach_xdp(via='netlink')); "
            f"{what}detach it first, or pass replace=<the attached Program or XdpAttachment> (atomic swap)")


def _xdp_links() -> list[Any]:
    from ..introspect import links

    try:
        return [li for li in links() if li.type == LinkType.XDP]
    except BPFError:
        return []


@register_link_type
class XdpLink(Link):
    """An XDP bpf_link (5.9+): ``ifindex``, ``mode`` as attached ("skb"/"drv"/"hw")."""

    link_type = LinkType.XDP
    ifindex: int = 0
    mode: str = ""

    def _adopted(self) -> None:
        self.ifindex = int(self.info().details.get("ifindex", 0))  # type: ignore[call-overload]


class XdpAttachment(Attachment):
    """An XDP program attached through netlink (IFLA_XDP, 4.8+); not a bpf_link.

    ``close()``/``detach()`` remove it — only if it is still the attached one
    (XDP_FLAGS_REPLACE with the expected fd, 5.7+). ``info()`` is the
    interface's :class:`XdpState`; :meth:`update` swaps the program atomically.
    """

    _prog_fd: FD

    def __init__(self, prog: Any, *, ifindex: int, mode: str, mode_flags: int, netns_fd: FD, target: str) -> None:
        self._netns = netns_fd
        super().__init__(kind="xdp", target=target, program=prog, owned=[netns_fd], hold_prog=True)
        self.ifindex = ifindex
        self.mode = mode
        self._mode_flags = mode_flags

    def info(self) -> XdpState:  # type: ignore[override]
        return nl.xdp_query(self.ifindex, self._netns.fd)

    def update(self, new_program: Any, old_program: Any = None) -> None:
        """Replace the attached program atomically (netlink XDP_FLAGS_REPLACE, 5.7+)."""
        if self._released:
            raise Error("update: attachment is detached")
        expected = prog_fd_of(old_program) if old_program is not None else self._prog_fd.fd
        nl.xdp_set(self.ifindex, prog_fd_of(new_program), self._mode_flags | nl.XDP_FLAGS_REPLACE, expected,
                   self._netns.fd)
        self._swap_prog(new_program)

    def _detach(self) -> None:
        try:
            nl.xdp_set(self.ifindex, -1, self._mode_flags | nl.XDP_FLAGS_REPLACE, self._prog_fd.fd, self._netns.fd)
        except BPFError as e:
            if e.errno in (errno.EEXIST, errno.ENODEV):  # replaced by someone else / interface gone
                return
            if e.errno != errno.EINVAL or kernel_at_least(5, 7):
                raise
            # < 5.7: no XDP_FLAGS_REPLACE; remove it only if it is still ours.
            state = nl.xdp_query(self.ifindex, self._netns.fd)
            if self._prog_id in state.prog_ids.values():
                nl.xdp_set(self.ifindex, -1, self._mode_flags, None, self._netns.fd)


def attach_xdp(prog: Any, dev: Dev, mode: str | None = None, *, flags: int | None = None, replace: Any = None,
               via: str | None = None, netns: NetnsRef = None) -> Link:
    """Attach an XDP program to interface ``dev``.

    ``mode``: ``"skb"`` (generic, any device), ``"drv"`` (native driver
    support; veth has it), ``"hw"`` (offload) or None (drv if the driver
    supports it, else skb). ``via``: ``"link"`` (a bpf_link, 5.9+), ``"netlink"``
    (IFLA_XDP, 4.8+) or None (a link, falling back to netlink on kernels
    without XDP links). ``flags`` are extra netlink ``XDP_FLAGS_*`` (default
    UPDATE_IF_NOEXIST: never silently replace). ``replace``: the attached
    :class:`XdpLink` (updated in place and returned) or the attached
    Program / :class:`XdpAttachment` (atomic netlink swap, 5.7+).
    Returns an :class:`XdpLink` or an :class:`XdpAttachment`.
    """
    check_prog_type(prog, (ProgramType.XDP,), "attach_xdp")
    if via not in (None, "link", "netlink"):
        raise Error(f"attach_xdp: via must be 'link', 'netlink' or None, got {via!r}")
    mflags = _xdp_mode_flags(mode)
    if isinstance(replace, XdpLink):
        replace.update(prog)
        return replace
    with in_netns(netns):
        idx = nl.ifindex(dev)
        desc = _dev_desc(dev, idx)
        if replace is None and via != "netlink":
            try:
                fd = link_create(prog_fd_of(prog), idx, AttachType.XDP, mflags)
            except BPFError as e:
                if e.errno == errno.EBUSY:
                    raise reraise(e, _xdp_busy_hint(idx, desc, "a bpf_link cannot replace it: ")) from None
                if e.errno == errno.EEXIST:
                    raise reraise(e, f"{desc} has an XDP program in another mode (native and generic XDP "
                                     "cannot be active at the same time)") from None
                if e.errno in (errno.EOPNOTSUPP, 524) and mode == "drv":
                    raise reraise(e, f"the driver of {desc} does not support native XDP; use mode='skb'") from None
                if via == "link" or e.errno not in FALLBACK_ERRNOS:
                    raise
            else:
                link = XdpLink(fd, kind="xdp", target=desc, program=prog)
                link.ifindex = idx
                link.mode = _mode_of(nl.xdp_query(idx), prog_id_of(prog))
                return link
        nflags = (nl.XDP_FLAGS_UPDATE_IF_NOEXIST if flags is None else flags) | mflags
        expected = None
        if replace is not None:
            expected = replace._prog_fd.fd if isinstance(replace, XdpAttachment) else prog_fd_of(replace)
            nflags = (nflags & ~nl.XDP_FLAGS_UPDATE_IF_NOEXIST) | nl.XDP_FLAGS_REPLACE
        try:
            nl.xdp_set(idx, prog_fd_of(prog), nflags, expected)
        except BPFError as e:
            if e.errno == errno.EBUSY:
                raise reraise(e, _xdp_busy_hint(idx, desc, "")) from None
            raise
        if isinstance(replace, XdpAttachment):
            replace._disown()  # its program is gone from the interface; the new handle owns the hook
        netns_fd = FD(nl.netns_fd(None))
        att = XdpAttachment(prog, ifindex=idx, mode=_mode_of(nl.xdp_query(idx), prog_id_of(prog)),
                            mode_flags=mflags, netns_fd=netns_fd, target=desc)
        return att


# ===================================================================== tcx
def _direction(direction: str) -> str:
    if direction not in ("ingress", "egress"):
        raise Error(f"direction must be 'ingress' or 'egress', got {direction!r}")
    return direction


_TCX_TYPES = {"ingress": AttachType.TCX_INGRESS, "egress": AttachType.TCX_EGRESS}


def mprog_anchor(before: Any, after: Any) -> tuple[int, int]:
    """(flags, relative fd/id) for the multi-prog ``before``/``after`` anchors.

    An anchor is a Program (its fd), a :class:`Link` (BPF_F_LINK, its fd), an
    int program id (BPF_F_ID) or True (first / last position).
    """
    if before is not None and after is not None:
        raise Error("give only one of before= and after=")
    anchor = before if before is not None else after
    if anchor is None:
        return 0, 0
    flag = int(AttachFlags.BEFORE if before is not None else AttachFlags.AFTER)
    if anchor is True:
        return flag, 0
    if isinstance(anchor, Link):
        return flag | int(AttachFlags.LINK), anchor.fd
    if isinstance(anchor, int) and not isinstance(anchor, bool):
        return flag | int(AttachFlags.ID), anchor
    return flag, prog_fd_of(anchor)


@register_link_type
class TcxLink(Link):
    """A tcx bpf_link (6.6+) on ``ifindex``/``direction``."""

    link_type = LinkType.TCX
    ifindex: int = 0
    direction: str = ""

    def _adopted(self) -> None:
        d = self.info().details
        self.ifindex = int(d.get("ifindex", 0))  # type: ignore[call-overload]
        self.direction = "ingress" if d.get("attach_type") == AttachType.TCX_INGRESS else "egress"


@dataclasses.dataclass(frozen=True)
class TcxState:
    """The programs on a tcx hook in run order (BPF_PROG_QUERY, 6.6+)."""

    prog_ids: list[int]
    link_ids: list[int]
    revision: int


def tcx_query(dev: Dev, direction: str = "ingress", netns: NetnsRef = None) -> TcxState:
    """The tcx programs of one direction of ``dev`` (6.6+)."""
    with in_netns(netns):
        idx = nl.ifindex(dev)
        q = cmds.prog_query(idx, _TCX_TYPES[_direction(direction)])
    return TcxState(q["prog_ids"], q["link_ids"], q["revision"])


def attach_tcx(prog: Any, dev: Dev, direction: str = "ingress", *, before: Any = None, after: Any = None,
               expected_revision: int = 0, netns: NetnsRef = None) -> TcxLink:
    """Attach a SCHED_CLS program to the tcx ingress/egress hook of ``dev`` (bpf_link, 6.6+).

    Several programs may share a hook; they run in order until one returns
    something else than TCX_NEXT (-1). By default the new one is appended;
    ``before``/``after`` place it relative to an anchor (a Program, a Link, a
    program id, or True for the very front/back). ``expected_revision`` (from
    :func:`tcx_query`) makes the attach fail with ESTALE if the hook changed.
    """
    check_prog_type(prog, (ProgramType.SCHED_CLS,), "attach_tcx")
    direction = _direction(direction)
    flags, rel = mprog_anchor(before, after)
    with in_netns(netns):
        idx = nl.ifindex(dev)
        desc = _dev_desc(dev, idx)
        try:
            fd = link_create(prog_fd_of(prog), idx, _TCX_TYPES[direction], flags,
                             tcx={"relative_fd": rel, "expected_revision": expected_revision})
        except BPFError as e:
            if e.errno == errno.EINVAL and not kernel_at_least(6, 6):
                raise NotSupportedError("tcx links", "need Linux 6.6+; use attach_tc() (clsact/cls_bpf)") from None
            hints = {errno.EEXIST: "this program is already attached to that hook",
                     errno.ESTALE: "the hook changed since expected_revision was read (re-query and retry)",
                     errno.ENOENT: "the before/after anchor is not attached to that hook",
                     errno.ERANGE: "too many programs on that hook (64 max)"}
            if e.errno in hints:
                raise reraise(e, f"tcx {direction} on {desc}: {hints[e.errno]}") from None
            raise
        link = TcxLink(fd, kind=f"tcx/{direction}", target=desc, program=prog)
        link.ifindex, link.direction = idx, direction
        return link


# ===================================================================== tc (clsact)
class TcAttachment(Attachment):
    """A cls_bpf filter on a clsact hook (netlink, not a bpf_link).

    ``close()``/``detach()`` delete the filter, and the clsact qdisc too when
    this attachment created it and no filter is left on it. ``info()`` is the
    filter's :class:`TcFilter` (prog id, tag, name, priority, handle).
    """

    def __init__(self, prog: Any, *, ifindex: int, direction: str, priority: int, handle: int,
                 created_qdisc: bool, netns_fd: FD, target: str) -> None:
        super().__init__(kind=f"tc/{direction}", target=target, program=prog, owned=[netns_fd])
        self._netns = netns_fd
        self.ifindex, self.direction, self.priority, self.handle = ifindex, direction, priority, handle
        self.created_qdisc = created_qdisc

    @property
    def parent(self) -> int:
        return nl.tc_parent(self.direction)

    def info(self) -> TcFilter:  # type: ignore[override]
        for f in nl.filter_list(self.ifindex, self.parent, self._netns.fd):
            if f.priority == self.priority and f.handle == self.handle:
                return f
        raise Error(f"{self.kind} filter pref {self.priority} handle {self.handle:#x} on {self.target} is gone")

    def update(self, new_program: Any, old_program: Any = None) -> None:
        """Replace the filter's program in place (RTM_NEWTFILTER with NLM_F_REPLACE)."""
        if self._released:
            raise Error("update: attachment is detached")
        nl.filter_add(self.ifindex, self.parent, prog_fd_of(new_program), getattr(new_program, "name", "") or "pybpf",
                      self.priority, self.handle, direct_action=self.info().direct_action, replace=True,
                      netns=self._netns.fd)
        self._swap_prog(new_program)

    def _detach(self) -> None:
        ns = self._netns.fd
        try:
            nl.filter_del(self.ifindex, self.parent, self.priority, self.handle, netns=ns)
        except BPFError as e:
            if e.errno not in (errno.ENOENT, errno.ENODEV, errno.EINVAL):  # gone / no qdisc / no device
                raise
        if self.created_qdisc:
            try:
                left = (nl.filter_list(self.ifindex, nl.tc_parent("ingress"), ns)
                        + nl.filter_list(self.ifindex, nl.tc_parent("egress"), ns))
                if not left:
                    nl.qdisc_del_clsact(self.ifindex, ns)
            except BPFError as e:
                if e.errno not in (errno.ENOENT, errno.ENODEV, errno.EINVAL):
                    raise


def tc_filters(dev: Dev, direction: str = "ingress", netns: NetnsRef = None) -> list[TcFilter]:
    """The filters on one clsact hook of ``dev`` (``tc filter show dev X ingress``)."""
    with in_netns(netns):
        return nl.filter_list(nl.ifindex(dev), nl.tc_parent(_direction(direction)))


def attach_tc(prog: Any, dev: Dev, direction: str = "ingress", *, priority: int = 1, handle: int = 1,
              direct_action: bool = True, replace: bool = False, netns: NetnsRef = None) -> TcAttachment:
    """Attach a SCHED_CLS program as a cls_bpf filter on the clsact hook of ``dev`` (4.5+).

    Creates the clsact qdisc if missing (``tc qdisc add dev X clsact``), then
    ``tc filter add dev X <direction> pref <priority> handle <handle> bpf
    [direct-action] fd <prog>``. ``replace=True`` overwrites a filter at the
    same priority/handle instead of failing with EEXIST. Works on every kernel
    with clsact; prefer :func:`attach_tcx` on 6.6+.
    """
    check_prog_type(prog, (ProgramType.SCHED_CLS, ProgramType.SCHED_ACT), "attach_tc")
    direction = _direction(direction)
    if not (1 <= priority <= 0xFFFF) or not (1 <= handle <= 0xFFFFFFFF):
        raise Error(f"tc priority must be 1..65535 and handle 1..2^32-1, got {priority}, {handle}")
    with in_netns(netns):
        idx = nl.ifindex(dev)
        desc = _dev_desc(dev, idx)
        created = nl.qdisc_add_clsact(idx)
        try:
            nl.filter_add(idx, nl.tc_parent(direction), prog_fd_of(prog), getattr(prog, "name", "") or "pybpf",
                          priority, handle, direct_action, replace=replace)
        except BaseException as e:
            if created:
                try:
                    nl.qdisc_del_clsact(idx)
                except BPFError:
                    pass
            if isinstance(e, BPFError) and e.errno == errno.EEXIST:
                raise reraise(e, f"{desc} {direction} already has a filter at pref {priority} handle {handle}; "
                                 "pick another priority/handle or pass replace=True") from None
            raise
        return TcAttachment(prog, ifindex=idx, direction=direction, priority=priority, handle=handle,
                            created_qdisc=created, netns_fd=FD(nl.netns_fd(None)), target=desc)


# ===================================================================== listing
@dataclasses.dataclass(frozen=True)
class NetAttachmentInfo:
    """One network attachment as ``bpftool net`` lists it."""

    kind: str  # "xdp", "tcx", "tc", "flow_dissector", "sk_lookup"
    ifname: str
    ifindex: int
    where: str  # XDP mode, tc/tcx direction, "" for netns hooks
    prog_id: int
    link_id: int = 0
    name: str = ""
    priority: int = 0
    handle: int = 0


def net_list(netns: NetnsRef = None) -> list[NetAttachmentInfo]:
    """Every XDP program, tcx program, cls_bpf filter and netns program in a network namespace."""
    out: list[NetAttachmentInfo] = []
    with in_netns(netns):
        xdp_links = {(li.details.get("ifindex"), li.prog_id): li.id for li in _xdp_links()}
        tcx_ok = kernel_at_least(6, 6)
        for idx, name in sorted(nl.interfaces().items()):
            st = nl.xdp_query(idx)
            for mode, pid in st.prog_ids.items():
                out.append(NetAttachmentInfo("xdp", name, idx, mode, pid, xdp_links.get((idx, pid), 0)))
            for direction in ("ingress", "egress"):
                if tcx_ok:
                    try:
                        q = cmds.prog_query(idx, _TCX_TYPES[direction])
                        for pid, lid in zip(q["prog_ids"], q["link_ids"] + [0] * len(q["prog_ids"])):
                            out.append(NetAttachmentInfo("tcx", name, idx, direction, pid, lid))
                    except BPFError:
                        pass
                for f in nl.filter_list(idx, nl.tc_parent(direction)):
                    out.append(NetAttachmentInfo("tc", name, idx, direction, f.prog_id, 0, f.name, f.priority,
                                                 f.handle))
        for kind, at in (("flow_dissector", AttachType.FLOW_DISSECTOR), ("sk_lookup", AttachType.SK_LOOKUP)):
            try:
                q = netns_query(at)
            except BPFError:
                continue
            for pid, lid in zip(q["prog_ids"], q["link_ids"] + [0] * len(q["prog_ids"])):
                out.append(NetAttachmentInfo(kind, "", 0, "", pid, lid))
    return out


# ===================================================================== auto attach
NETWORK_PROGRAM_TYPES = frozenset({
    ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.XDP,
    ProgramType.CGROUP_SKB, ProgramType.CGROUP_SOCK, ProgramType.SOCK_OPS, ProgramType.SK_SKB,
    ProgramType.CGROUP_DEVICE, ProgramType.SK_MSG, ProgramType.CGROUP_SOCK_ADDR, ProgramType.SK_REUSEPORT,
    ProgramType.FLOW_DISSECTOR, ProgramType.CGROUP_SYSCTL, ProgramType.CGROUP_SOCKOPT, ProgramType.SK_LOOKUP,
    ProgramType.NETFILTER, ProgramType.LWT_IN, ProgramType.LWT_OUT, ProgramType.LWT_XMIT,
})

_NEEDS = {
    ProgramType.XDP: "xdp needs an interface: use prog.attach_xdp(ifname)",
    ProgramType.SCHED_CLS: "tc/tcx needs an interface: use prog.attach_tcx(ifname, 'ingress'|'egress') "
                           "or prog.attach_tc(ifname, ...)",
    ProgramType.SCHED_ACT: "tc actions are attached with `tc action`/a filter: use prog.attach_tc(ifname)",
    ProgramType.SOCKET_FILTER: "a socket filter needs a socket: use prog.attach_socket(sock)",
    ProgramType.SK_REUSEPORT: "sk_reuseport needs a SO_REUSEPORT socket: use prog.attach_socket(sock)",
    ProgramType.SK_SKB: "sk_skb needs a sockmap: use prog.attach_sk_skb(sockmap)",
    ProgramType.SK_MSG: "sk_msg needs a sockmap: use prog.attach_sk_msg(sockmap)",
    ProgramType.NETFILTER: "netfilter needs a hook: use prog.attach_netfilter(pf, hook, priority)",
}


def auto_attach(prog: Any) -> Link:
    """Attach a network program whose SEC() name fully names its hook (``Program.attach()``).

    ``sk_lookup`` and ``flow_dissector`` attach to the current network
    namespace; everything that needs a target (an interface, a cgroup, a
    socket, a sockmap, a netfilter hook) raises :class:`Error` saying which
    ``attach_*`` call to make.
    """
    t = getattr(prog, "type", None)
    if t == ProgramType.SK_LOOKUP:
        return attach_sk_lookup(prog)
    if t == ProgramType.FLOW_DISSECTOR:
        return attach_flow_dissector(prog)
    if t in _NEEDS:
        raise Error(_NEEDS[t])  # type: ignore[index]
    if t in (ProgramType.LWT_IN, ProgramType.LWT_OUT, ProgramType.LWT_XMIT):
        raise NotSupportedError("attaching lwt programs with pybpf", "use `ip route ... encap bpf` (pin the program)")
    if t in NETWORK_PROGRAM_TYPES:
        raise Error(f"{t.name.lower()} programs need a cgroup: use prog.attach_cgroup(path)")  # type: ignore[union-attr]
    raise Error(f"auto_attach: {t!r} is not a network program type")

