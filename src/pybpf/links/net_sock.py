"""Cgroup, socket, sockmap, network-namespace and netfilter attach points.

Re-exported by :mod:`pybpf.links.net` (use that module). Minimum kernels:
cgroup links 5.7 (PROG_ATTACH 4.10; BPF_F_REPLACE 5.6), socket filters 3.19
(SO_ATTACH_BPF; reuseport 4.19 / detach 5.3), sk_lookup links 5.9, flow
dissector links 5.7 (PROG_ATTACH 4.20), sockmap links 6.10 (PROG_ATTACH: stream
parser/verdict 4.14, sk_msg 4.17, sk_skb verdict 5.13), netfilter links 6.4.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import weakref
from typing import Any, Union

from .._sys import cmds
from .._sys.consts import QUERY_EFFECTIVE, AttachFlags, AttachType, LinkType, ProgramType
from .._sys.netlink import NetnsRef, in_netns, netns_fd
from .._sys.syscall import FD
from ..errors import BPFError, Error, NotSupportedError
from .link import Link, prog_fd_of, register_link_type
from .net_common import (FALLBACK_ERRNOS, Attachment, check_prog_type, kernel_at_least, link_create, netns_ino,
                         prog_type_of, reraise, section_attach_type)

__all__ = ["attach_cgroup", "attach_socket", "attach_sk_lookup", "attach_flow_dissector", "attach_sk_skb",
           "attach_sk_msg", "attach_netfilter", "cgroup_query", "netns_query", "CgroupLink", "CgroupAttachment",
           "SocketFilter", "NetnsLink", "NetnsAttachment", "SockmapLink", "SockmapAttachment", "NetfilterLink",
           "HookState", "CGROUP_PROGRAM_TYPES", "NF_HOOKS", "NFPROTO"]

CgroupRef = Union[str, int, "os.PathLike[str]"]


def _fd_of(obj: Any) -> int:
    return prog_fd_of(obj)


def _via(via: str | None, allowed: tuple[str, ...], what: str) -> None:
    if via is not None and via not in allowed:
        raise Error(f"{what}: via must be one of {', '.join(map(repr, allowed))} or None, got {via!r}")


# ===================================================================== cgroups
CGROUP_PROGRAM_TYPES = (ProgramType.CGROUP_SKB, ProgramType.CGROUP_SOCK, ProgramType.SOCK_OPS,
                        ProgramType.CGROUP_DEVICE, ProgramType.CGROUP_SOCK_ADDR, ProgramType.CGROUP_SYSCTL,
                        ProgramType.CGROUP_SOCKOPT)
_DEFAULT_CGROUP_AT = {ProgramType.SOCK_OPS: AttachType.CGROUP_SOCK_OPS,
                      ProgramType.CGROUP_DEVICE: AttachType.CGROUP_DEVICE,
                      ProgramType.CGROUP_SYSCTL: AttachType.CGROUP_SYSCTL,
                      ProgramType.CGROUP_SOCK: AttachType.CGROUP_INET_SOCK_CREATE}


def _attach_type_by_name(name: str) -> AttachType | int:
    """'egress' / 'connect4' / 'sock_ops' / 'CGROUP_INET_EGRESS' -> AttachType."""
    key = name.strip()
    if key.upper() in AttachType.__members__:
        return AttachType[key.upper()]
    from ..elf.sections import find_sec_def

    for sec in (f"cgroup_skb/{key}", f"cgroup/{key}", key):
        d = find_sec_def(sec)
        if d is not None and (d.attach_type or sec == "cgroup_skb/ingress"):
            return d.attach_type
    raise Error(f"unknown attach type {name!r} (e.g. 'ingress', 'egress', 'connect4', 'sock_create', 'sockops', "
                "or an AttachType)")


def _cgroup_attach_type(prog: Any, attach_type: Any) -> AttachType | int:
    if isinstance(attach_type, str):
        return _attach_type_by_name(attach_type)
    if attach_type is not None:
        return attach_type
    at = section_attach_type(prog)
    if at is not None:
        return at
    t = prog_type_of(prog)
    if t in _DEFAULT_CGROUP_AT:
        return _DEFAULT_CGROUP_AT[t]  # type: ignore[index]
    raise Error(f"attach_cgroup: cannot tell the attach type of {getattr(prog, 'name', '') or 'this program'!r}"
                " (no SEC() name / expected_attach_type); pass attach_type= (e.g. 'egress')")


def _open_cgroup(cgroup: CgroupRef) -> tuple[FD, str]:
    if isinstance(cgroup, int):
        return FD(os.dup(cgroup)), f"cgroup fd {cgroup}"
    path = os.fspath(cgroup)
    if not os.path.isabs(path) and not os.path.exists(path):
        from .._sys.fs import find_cgroup2

        path = os.path.join(find_cgroup2(), path)
    try:
        fd = FD(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    except FileNotFoundError:
        raise Error(f"cgroup {path} does not exist") from None
    from .._sys.fs import CGROUP2_MAGIC, fs_magic

    if fs_magic(path) != CGROUP2_MAGIC:
        fd.close()
        raise Error(f"{path} is not a cgroup v2 directory (BPF attaches to cgroup2 only; see pybpf._sys.fs."
                    "find_cgroup2())")
    return fd, path


def _at_name(at: Any) -> str:
    return at.name if isinstance(at, AttachType) else str(at)


def _cgroup_hint(e: BPFError, at: Any, desc: str) -> str:
    if e.errno == errno.EPERM and os.geteuid() == 0:
        return (f"{desc} (or an ancestor) already has {_at_name(at)} programs attached in another mode "
                "(exclusive / ALLOW_OVERRIDE vs ALLOW_MULTI, links are multi); detach them or match their flags")
    if e.errno == errno.EINVAL:
        return f"the program's type / expected_attach_type does not fit {_at_name(at)}"
    if e.errno == errno.EEXIST:
        return f"this program is already attached to {_at_name(at)} of {desc}"
    if e.errno == errno.E2BIG:
        return f"too many programs on {_at_name(at)} of {desc} (64 max)"
    return e.hint


@register_link_type
class CgroupLink(Link):
    """A cgroup bpf_link (5.7+); ``attach_type``, ``cgroup`` (path or fd description)."""

    link_type = LinkType.CGROUP
    attach_type: AttachType | int = 0
    cgroup: str = ""

    def _adopted(self) -> None:
        self.attach_type = self.info().details.get("attach_type", 0)  # type: ignore[assignment]


@dataclasses.dataclass(frozen=True)
class HookState:
    """What BPF_PROG_QUERY says about a cgroup / netns hook."""

    attach_flags: int
    prog_ids: list[int]
    link_ids: list[int]
    revision: int = 0


def cgroup_query(cgroup: CgroupRef, attach_type: AttachType | int | str, *, effective: bool = False) -> HookState:
    """The programs attached to one hook of a cgroup (``effective``: including inherited ones)."""
    at = _attach_type_by_name(attach_type) if isinstance(attach_type, str) else attach_type
    fd, _ = _open_cgroup(cgroup)
    with fd:
        q = cmds.prog_query(fd.fd, at, QUERY_EFFECTIVE if effective else 0)
    return HookState(q["attach_flags"], q["prog_ids"], q["link_ids"], q["revision"])


class CgroupAttachment(Attachment):
    """A program attached to a cgroup with BPF_PROG_ATTACH (4.10+): not a bpf_link.

    ``close()`` detaches it (BPF_PROG_DETACH); ``info()`` is the hook's
    :class:`HookState`; :meth:`update` swaps the program (BPF_F_REPLACE, 5.6+).
    """

    _prog_fd: FD

    def __init__(self, prog: Any, *, cgroup_fd: FD, attach_type: AttachType | int, flags: int, target: str) -> None:
        super().__init__(kind=f"cgroup/{_at_name(attach_type).lower()}", target=target, program=prog,
                         owned=[cgroup_fd], hold_prog=True)
        self._cg = cgroup_fd
        self.attach_type = attach_type
        self.flags = flags

    def info(self) -> HookState:  # type: ignore[override]
        q = cmds.prog_query(self._cg.fd, self.attach_type)
        return HookState(q["attach_flags"], q["prog_ids"], q["link_ids"], q["revision"])

    def update(self, new_program: Any, old_program: Any = None) -> None:
        if self._released:
            raise Error("update: attachment is detached")
        if self.flags & AttachFlags.ALLOW_MULTI:
            cmds.prog_attach(prog_fd_of(new_program), self._cg.fd, self.attach_type,
                             self.flags | AttachFlags.REPLACE, replace_fd=self._prog_fd.fd)
        else:
            cmds.prog_attach(prog_fd_of(new_program), self._cg.fd, self.attach_type, self.flags)
        self._swap_prog(new_program)

    def _detach(self) -> None:
        try:
            cmds.prog_detach(self._cg.fd, self.attach_type, self._prog_fd.fd)
        except BPFError as e:
            if e.errno != errno.ENOENT:
                raise


def attach_cgroup(prog: Any, cgroup: CgroupRef, attach_type: AttachType | int | str | None = None, *,
                  flags: int = AttachFlags.ALLOW_MULTI, via: str | None = None, replace: Any = None) -> Link:
    """Attach a cgroup program (skb, sock, sock_addr, sock_ops, sockopt, sysctl, device) to a cgroup v2.

    ``cgroup`` is a path (relative paths resolve under the cgroup2 mount) or a
    directory fd. ``attach_type`` defaults to what the program's SEC() name or
    expected_attach_type says (``"egress"``, ``"connect4"``... also accepted).
    ``via``: ``"link"`` (bpf_link, 5.7+; always multi-attach), ``"attach"``
    (BPF_PROG_ATTACH with ``flags`` ALLOW_MULTI / ALLOW_OVERRIDE / 0) or None
    (a link, or PROG_ATTACH when links are unavailable or ``flags`` ask for
    a non-multi mode). ``replace`` (PROG_ATTACH only): the program to swap out.
    """
    check_prog_type(prog, CGROUP_PROGRAM_TYPES, "attach_cgroup")
    _via(via, ("link", "attach"), "attach_cgroup")
    at = _cgroup_attach_type(prog, attach_type)
    cg, desc = _open_cgroup(cgroup)
    with cg:
        if via == "link" or (via is None and replace is None and flags == AttachFlags.ALLOW_MULTI):
            try:
                fd = link_create(prog_fd_of(prog), cg.fd, at, 0)
            except BPFError as e:
                if via == "link" or e.errno not in FALLBACK_ERRNOS or kernel_at_least(5, 7):
                    raise reraise(e, _cgroup_hint(e, at, desc)) from None
            else:
                link = CgroupLink(fd, kind=f"cgroup/{_at_name(at).lower()}", target=desc, program=prog)
                link.attach_type, link.cgroup = at, desc
                return link
        f = int(flags)
        rfd = 0
        if replace is not None:
            f |= AttachFlags.REPLACE
            rfd = replace._prog_fd.fd if isinstance(replace, CgroupAttachment) else prog_fd_of(replace)
        try:
            cmds.prog_attach(prog_fd_of(prog), cg.fd, at, f, replace_fd=rfd)
        except BPFError as e:
            raise reraise(e, _cgroup_hint(e, at, desc)) from None
        if isinstance(replace, CgroupAttachment):
            replace._disown()  # its program is gone from the hook; nothing left to detach
        return CgroupAttachment(prog, cgroup_fd=cg.dup(), attach_type=at, flags=int(flags), target=desc)


# ===================================================================== sockets
SOL_SOCKET = 1
SO_DETACH_BPF = 27  # == SO_DETACH_FILTER
SO_ATTACH_BPF = 50
SO_ATTACH_REUSEPORT_EBPF = 52
SO_DETACH_REUSEPORT_BPF = 68

_libc = ctypes.CDLL(None, use_errno=True)


def _setsockopt_int(fd: int, opt: int, value: int, what: str) -> None:
    v = ctypes.c_int(value)
    if _libc.setsockopt(ctypes.c_int(fd), ctypes.c_int(SOL_SOCKET), ctypes.c_int(opt), ctypes.byref(v),
                        ctypes.c_uint(4)) != 0:
        raise BPFError(ctypes.get_errno(), what)


class SocketFilter(Attachment):
    """A program attached to one socket (SO_ATTACH_BPF / SO_ATTACH_REUSEPORT_EBPF).

    Holds the socket weakly: closing the socket detaches the program anyway.
    ``close()`` detaches (SO_DETACH_BPF / SO_DETACH_REUSEPORT_BPF 5.3+).
    """

    def __init__(self, prog: Any, sock: Any, *, reuseport: bool) -> None:
        super().__init__(kind="sk_reuseport" if reuseport else "socket", target="", program=prog)
        self.reuseport = reuseport
        self._sock_ref: Any = None
        self._sock_fd = -1
        if isinstance(sock, int):
            self._sock_fd = sock
            self.target = f"fd {sock}"
        else:
            self._sock_ref = weakref.ref(sock)
            self.target = f"fd {sock.fileno()}"

    def _current_fd(self) -> int:
        if self._sock_ref is None:
            return self._sock_fd
        s = self._sock_ref()
        return -1 if s is None else int(s.fileno())

    def info(self) -> dict[str, Any]:  # type: ignore[override]
        return {"kind": self.kind, "socket_fd": self._current_fd(), "prog_id": self._prog_id}

    def _detach(self) -> None:
        fd = self._current_fd()
        if fd < 0:
            return
        opt = SO_DETACH_REUSEPORT_BPF if self.reuseport else SO_DETACH_BPF
        try:
            _setsockopt_int(fd, opt, 0, "setsockopt(SO_DETACH_BPF)")
        except BPFError as e:
            if e.errno not in (errno.ENOENT, errno.EBADF, errno.ENOTSOCK, errno.ENOPROTOOPT):
                raise


def attach_socket(prog: Any, sock: Any) -> SocketFilter:
    """Attach a SOCKET_FILTER program to a socket (SO_ATTACH_BPF, 3.19+), or an SK_REUSEPORT
    program to a SO_REUSEPORT socket group (SO_ATTACH_REUSEPORT_EBPF, 4.19+).

    ``sock`` is a :class:`socket.socket` (or an object with ``fileno()``, or an
    fd). A socket filter's return value is how many bytes of the packet to keep
    (0 drops it).
    """
    check_prog_type(prog, (ProgramType.SOCKET_FILTER, ProgramType.SK_REUSEPORT), "attach_socket")
    reuseport = prog_type_of(prog) == ProgramType.SK_REUSEPORT
    fd = sock if isinstance(sock, int) else int(sock.fileno())
    if fd < 0:
        raise Error("attach_socket: the socket is closed")
    opt = SO_ATTACH_REUSEPORT_EBPF if reuseport else SO_ATTACH_BPF
    _setsockopt_int(fd, opt, prog_fd_of(prog), "setsockopt(SO_ATTACH_REUSEPORT_EBPF)" if reuseport
                    else "setsockopt(SO_ATTACH_BPF)")
    return SocketFilter(prog, sock, reuseport=reuseport)


# ===================================================================== netns hooks
@register_link_type
class NetnsLink(Link):
    """A network-namespace bpf_link: sk_lookup (5.9+) or flow_dissector (5.7+)."""

    link_type = LinkType.NETNS
    attach_type: AttachType | int = 0
    netns_ino: int = 0

    def _adopted(self) -> None:
        d = self.info().details
        self.attach_type = d.get("attach_type", 0)  # type: ignore[assignment]
        self.netns_ino = int(d.get("netns_ino", 0))  # type: ignore[call-overload]


def netns_query(attach_type: AttachType | int, netns: NetnsRef = None) -> dict[str, Any]:
    """BPF_PROG_QUERY on a network namespace hook (flow_dissector / sk_lookup)."""
    fd = netns_fd(netns)
    try:
        return cmds.prog_query(fd, attach_type)
    finally:
        os.close(fd)


def _netns_desc(netns: NetnsRef) -> str:
    return "current netns" if netns is None else f"netns {netns}"


def _netns_link(prog: Any, at: AttachType, netns: NetnsRef) -> NetnsLink:
    fd = netns_fd(netns)
    try:
        lfd = link_create(prog_fd_of(prog), fd, at)
        ino = netns_ino(fd)
    except BPFError as e:
        fd_hook = at == AttachType.FLOW_DISSECTOR
        hints = {errno.EEXIST: "a program is attached to this hook with PROG_ATTACH (links and PROG_ATTACH do "
                               "not mix)" + (", or the root netns has a flow dissector (it overrides all "
                                             "others)" if fd_hook else ""),
                 errno.E2BIG: "a flow dissector is already attached to this netns (one per netns)" if fd_hook
                 else "too many programs on this netns hook (64 max)"}
        raise reraise(e, hints.get(e.errno or 0, e.hint)) from None
    finally:
        os.close(fd)
    kind = "sk_lookup" if at == AttachType.SK_LOOKUP else "flow_dissector"
    link = NetnsLink(lfd, kind=kind, target=_netns_desc(netns), program=prog)
    link.attach_type, link.netns_ino = at, ino
    return link


def attach_sk_lookup(prog: Any, netns: NetnsRef = None) -> NetnsLink:
    """Attach an SK_LOOKUP program to a network namespace (bpf_link, 5.9+).

    ``netns``: None (the calling thread's), a name from ``ip netns add``, a
    path or an fd. Several sk_lookup programs may share a namespace.
    """
    check_prog_type(prog, (ProgramType.SK_LOOKUP,), "attach_sk_lookup")
    return _netns_link(prog, AttachType.SK_LOOKUP, netns)


class NetnsAttachment(Attachment):
    """A flow dissector attached with BPF_PROG_ATTACH (4.20+) to a namespace; not a bpf_link."""

    _prog_fd: FD

    def __init__(self, prog: Any, *, netns_fd: FD, target: str) -> None:
        super().__init__(kind="flow_dissector", target=target, program=prog, owned=[netns_fd], hold_prog=True)
        self._netns = netns_fd

    def info(self) -> dict[str, Any]:  # type: ignore[override]
        return cmds.prog_query(self._netns.fd, AttachType.FLOW_DISSECTOR)

    def _detach(self) -> None:
        try:
            with in_netns(self._netns.fd):
                cmds.prog_detach(0, AttachType.FLOW_DISSECTOR, self._prog_fd.fd)
        except BPFError as e:
            if e.errno != errno.ENOENT:
                raise


def attach_flow_dissector(prog: Any, netns: NetnsRef = None, *, via: str | None = None) -> Link:
    """Attach a FLOW_DISSECTOR program to a network namespace.

    ``via``: ``"link"`` (bpf_link, 5.7+), ``"attach"`` (BPF_PROG_ATTACH, 4.20+)
    or None (link, else attach). One flow dissector per namespace; one on the
    root namespace overrides all others.
    """
    check_prog_type(prog, (ProgramType.FLOW_DISSECTOR,), "attach_flow_dissector")
    _via(via, ("link", "attach"), "attach_flow_dissector")
    if via != "attach":
        try:
            return _netns_link(prog, AttachType.FLOW_DISSECTOR, netns)
        except BPFError as e:
            if via == "link" or e.errno not in FALLBACK_ERRNOS or kernel_at_least(5, 7):
                raise
    nsfd = FD(netns_fd(netns))
    try:
        with in_netns(nsfd.fd):
            cmds.prog_attach(prog_fd_of(prog), 0, AttachType.FLOW_DISSECTOR)
    except BaseException:
        nsfd.close()
        raise
    return NetnsAttachment(prog, netns_fd=nsfd, target=_netns_desc(netns))


# ===================================================================== sockmaps
_SK_SKB_KINDS = {"stream_parser": AttachType.SK_SKB_STREAM_PARSER, "parser": AttachType.SK_SKB_STREAM_PARSER,
                 "stream_verdict": AttachType.SK_SKB_STREAM_VERDICT, "verdict": AttachType.SK_SKB_VERDICT}


@register_link_type
class SockmapLink(Link):
    """A sockmap/sockhash bpf_link (6.10+): ``attach_type``."""

    link_type = LinkType.SOCKMAP
    attach_type: AttachType | int = 0

    def _adopted(self) -> None:
        self.attach_type = self.info().details.get("attach_type", 0)  # type: ignore[assignment]


class SockmapAttachment(Attachment):
    """A program attached to a sockmap/sockhash with BPF_PROG_ATTACH: not a bpf_link."""

    _prog_fd: FD

    def __init__(self, prog: Any, *, map_fd: FD, attach_type: AttachType, target: str) -> None:
        super().__init__(kind=attach_type.name.lower(), target=target, program=prog, owned=[map_fd], hold_prog=True)
        self._map = map_fd
        self.attach_type = attach_type

    def info(self) -> dict[str, Any]:  # type: ignore[override]
        return cmds.prog_query(self._map.fd, self.attach_type)

    def _detach(self) -> None:
        try:
            cmds.prog_detach(self._map.fd, self.attach_type, self._prog_fd.fd)
        except BPFError as e:
            if e.errno != errno.ENOENT:
                raise


def _sockmap_attach(prog: Any, sockmap: Any, at: AttachType, via: str | None) -> Link:
    _via(via, ("link", "attach"), "sockmap attach")
    mfd = _fd_of(sockmap)
    desc = f"map {getattr(sockmap, 'name', '') or mfd}"
    hints = {errno.EBUSY: f"{desc} already has a {at.name.lower()} program", errno.EINVAL:
             "the map must be a SOCKMAP or SOCKHASH and the program's expected attach type must match"}
    if via != "attach":
        try:
            fd = link_create(prog_fd_of(prog), mfd, at)
        except BPFError as e:
            if via == "link" or e.errno not in FALLBACK_ERRNOS or kernel_at_least(6, 10):
                raise reraise(e, hints.get(e.errno or 0, e.hint)) from None
        else:
            link = SockmapLink(fd, kind=at.name.lower(), target=desc, program=prog)
            link.attach_type = at
            return link
    try:
        cmds.prog_attach(prog_fd_of(prog), mfd, at)
    except BPFError as e:
        raise reraise(e, hints.get(e.errno or 0, e.hint)) from None
    return SockmapAttachment(prog, map_fd=FD(os.dup(mfd)), attach_type=at, target=desc)


def attach_sk_skb(prog: Any, sockmap: Any, kind: str | None = None, *, via: str | None = None) -> Link:
    """Attach an SK_SKB program to a sockmap/sockhash.

    ``kind``: ``"stream_parser"`` (alias ``"parser"``), ``"stream_verdict"``
    (4.14+) or ``"verdict"`` (SK_SKB_VERDICT, 5.13+); default from the SEC()
    name. ``via``: ``"link"`` (6.10+), ``"attach"`` (PROG_ATTACH) or None.
    """
    check_prog_type(prog, (ProgramType.SK_SKB,), "attach_sk_skb")
    if kind is not None:
        if kind not in _SK_SKB_KINDS:
            raise Error(f"attach_sk_skb: kind must be one of {sorted(_SK_SKB_KINDS)}, got {kind!r}")
        at = _SK_SKB_KINDS[kind]
    else:
        sat = section_attach_type(prog)
        if sat not in _SK_SKB_KINDS.values():
            raise Error("attach_sk_skb: pass kind='stream_parser'|'stream_verdict'|'verdict'")
        at = AttachType(int(sat))  # type: ignore[arg-type]
    return _sockmap_attach(prog, sockmap, at, via)


def attach_sk_msg(prog: Any, sockmap: Any, *, via: str | None = None) -> Link:
    """Attach an SK_MSG program to a sockmap/sockhash (PROG_ATTACH 4.17+, link 6.10+)."""
    check_prog_type(prog, (ProgramType.SK_MSG,), "attach_sk_msg")
    return _sockmap_attach(prog, sockmap, AttachType.SK_MSG_VERDICT, via)


# ===================================================================== netfilter
NFPROTO = {"inet": 1, "ipv4": 2, "ipv6": 10}
NF_HOOKS = {"prerouting": 0, "pre_routing": 0, "input": 1, "local_in": 1, "forward": 2, "output": 3,
            "local_out": 3, "postrouting": 4, "post_routing": 4}
BPF_F_NETFILTER_IP_DEFRAG = 1


@register_link_type
class NetfilterLink(Link):
    """A netfilter bpf_link (6.4+): ``pf``, ``hooknum``, ``priority``, ``flags``."""

    link_type = LinkType.NETFILTER
    pf: int = 0
    hooknum: int = 0
    priority: int = 0

    def _adopted(self) -> None:
        d = self.info().details
        self.pf, self.hooknum, self.priority = int(d["pf"]), int(d["hooknum"]), int(d["priority"])  # type: ignore


def attach_netfilter(prog: Any, pf: int | str, hooknum: int | str, priority: int, flags: int = 0, *,
                     netns: NetnsRef = None) -> NetfilterLink:
    """Attach a NETFILTER program to a netfilter hook of a network namespace (bpf_link, 6.4+).

    ``pf``: ``"ipv4"``/``"ipv6"`` or NFPROTO_*; ``hooknum``: ``"prerouting"``,
    ``"input"``, ``"forward"``, ``"output"``, ``"postrouting"`` or NF_INET_*;
    ``priority``: netfilter priority (not INT_MIN/INT_MAX; > -400 with
    ``flags=BPF_F_NETFILTER_IP_DEFRAG``, 6.6+). The program returns NF_DROP (0)
    or NF_ACCEPT (1).
    """
    check_prog_type(prog, (ProgramType.NETFILTER,), "attach_netfilter")
    pfn = NFPROTO[pf] if isinstance(pf, str) else int(pf)
    hook = NF_HOOKS[hooknum.lower()] if isinstance(hooknum, str) else int(hooknum)
    with in_netns(netns):
        try:
            fd = link_create(prog_fd_of(prog), 0, AttachType.NETFILTER, 0,
                             netfilter={"pf": pfn, "hooknum": hook, "priority": priority, "flags": flags})
        except BPFError as e:
            if e.errno == errno.EINVAL and not kernel_at_least(6, 4):
                raise NotSupportedError("netfilter links", "need Linux 6.4+ with CONFIG_NETFILTER_BPF_LINK") from None
            hints = {errno.EAFNOSUPPORT: "pf must be NFPROTO_IPV4 or NFPROTO_IPV6",
                     errno.EPROTO: "hooknum out of range", errno.ERANGE: "priority must not be INT_MIN/INT_MAX"
                     " (and > -400 with BPF_F_NETFILTER_IP_DEFRAG)",
                     errno.EOPNOTSUPP: "unsupported flags (BPF_F_NETFILTER_IP_DEFRAG needs 6.6+ and the defrag"
                     " modules)", errno.EBUSY: "another hook uses this priority"}
            raise reraise(e, hints.get(e.errno or 0, e.hint)) from None
    link = NetfilterLink(fd, kind="netfilter", target=f"pf {pfn} hook {hook} prio {priority}", program=prog)
    link.pf, link.hooknum, link.priority = pfn, hook, priority
    return link
