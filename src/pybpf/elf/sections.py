"""libbpf's ``SEC()`` table: ELF section name -> program type, attach type, flags.

The table and the matching rules mirror ``section_defs`` and
``sec_def_matches()`` in libbpf's ``src/libbpf.c`` (current libbpf; it is a
superset of the table of libbpf 1.1 that bpftool 7.1 uses):

* ``"name"``: the section must be exactly ``name``;
* ``"name+"``: exactly ``name`` or ``name/<target>``;
* ``"name/"``: ``name/<target>`` (a target is required).

The first matching entry wins, so order matters (``sk_reuseport/migrate``
before ``sk_reuseport``, ``xdp.frags/devmap`` before ``xdp.frags``...). A
leading ``?`` on the section name means "do not load by default".
"""

from __future__ import annotations

import dataclasses
import difflib
from enum import IntFlag

from .._sys.consts import AttachType as A
from .._sys.consts import ProgFlags
from .._sys.consts import ProgramType as P
from ..errors import ELFError

__all__ = ["SecFlags", "SecDef", "SECTION_DEFS", "find_sec_def", "SectionInfo", "parse_section"]


class SecFlags(IntFlag):
    """libbpf's ``enum sec_def_flags``."""

    NONE = 0
    EXP_ATTACH_OPT = 1  # expected_attach_type is optional on kernels that lack it
    ATTACHABLE = 2
    ATTACHABLE_OPT = 3
    ATTACH_BTF = 4  # the target is a BTF id (vmlinux, module or program BTF)
    SLEEPABLE = 8
    XDP_FRAGS = 16
    USDT = 32


F = SecFlags


@dataclasses.dataclass(frozen=True)
class SecDef:
    """One ``SEC_DEF()`` entry."""

    sec: str
    prog_type: P
    attach_type: "A | int"
    flags: SecFlags

    def matches(self, name: str) -> bool:
        """libbpf's ``sec_def_matches()``."""
        s = self.sec
        if s.endswith("/"):
            return name.startswith(s)
        if s.endswith("+"):
            base = s[:-1]
            return name == base or name.startswith(base + "/")
        return name == s

    @property
    def prefix(self) -> str:
        """The section name without the ``+`` marker."""
        return self.sec[:-1] if self.sec.endswith("+") else self.sec


def _d(sec: str, pt: P, at: "A | int", flags: SecFlags = F.NONE) -> SecDef:
    return SecDef(sec, pt, at, flags)


SECTION_DEFS: tuple[SecDef, ...] = (
    _d("socket", P.SOCKET_FILTER, 0),
    _d("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, F.ATTACHABLE),
    _d("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, F.ATTACHABLE),
    _d("kprobe+", P.KPROBE, 0),
    _d("uprobe+", P.KPROBE, 0),
    _d("uprobe.s+", P.KPROBE, 0, F.SLEEPABLE),
    _d("kretprobe+", P.KPROBE, 0),
    _d("uretprobe+", P.KPROBE, 0),
    _d("uretprobe.s+", P.KPROBE, 0, F.SLEEPABLE),
    _d("kprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI),
    _d("kretprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI),
    _d("kprobe.session+", P.KPROBE, A.TRACE_KPROBE_SESSION),
    _d("uprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI),
    _d("uretprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI),
    _d("uprobe.session+", P.KPROBE, A.TRACE_UPROBE_SESSION),
    _d("uprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, F.SLEEPABLE),
    _d("uretprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, F.SLEEPABLE),
    _d("uprobe.session.s+", P.KPROBE, A.TRACE_UPROBE_SESSION, F.SLEEPABLE),
    _d("ksyscall+", P.KPROBE, 0),
    _d("kretsyscall+", P.KPROBE, 0),
    _d("usdt+", P.KPROBE, 0, F.USDT),
    _d("usdt.s+", P.KPROBE, 0, F.USDT | F.SLEEPABLE),
    _d("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS),  # alias for tcx
    _d("tc/egress", P.SCHED_CLS, A.TCX_EGRESS),
    _d("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS),
    _d("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS),
    _d("tc", P.SCHED_CLS, 0),
    _d("classifier", P.SCHED_CLS, 0),
    _d("action", P.SCHED_ACT, 0),
    _d("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY),
    _d("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER),
    _d("tracepoint+", P.TRACEPOINT, 0),
    _d("tp+", P.TRACEPOINT, 0),
    _d("tracepoint.s+", P.TRACEPOINT, 0, F.SLEEPABLE),
    _d("tp.s+", P.TRACEPOINT, 0, F.SLEEPABLE),
    _d("raw_tracepoint+", P.RAW_TRACEPOINT, 0),
    _d("raw_tp+", P.RAW_TRACEPOINT, 0),
    _d("raw_tracepoint.s+", P.RAW_TRACEPOINT, 0, F.SLEEPABLE),
    _d("raw_tp.s+", P.RAW_TRACEPOINT, 0, F.SLEEPABLE),
    _d("raw_tracepoint.w+", P.RAW_TRACEPOINT_WRITABLE, 0),
    _d("raw_tp.w+", P.RAW_TRACEPOINT_WRITABLE, 0),
    _d("tp_btf+", P.TRACING, A.TRACE_RAW_TP, F.ATTACH_BTF),
    _d("tp_btf.s+", P.TRACING, A.TRACE_RAW_TP, F.ATTACH_BTF | F.SLEEPABLE),
    _d("fentry+", P.TRACING, A.TRACE_FENTRY, F.ATTACH_BTF),
    _d("fmod_ret+", P.TRACING, A.MODIFY_RETURN, F.ATTACH_BTF),
    _d("fexit+", P.TRACING, A.TRACE_FEXIT, F.ATTACH_BTF),
    _d("fentry.s+", P.TRACING, A.TRACE_FENTRY, F.ATTACH_BTF | F.SLEEPABLE),
    _d("fmod_ret.s+", P.TRACING, A.MODIFY_RETURN, F.ATTACH_BTF | F.SLEEPABLE),
    _d("fexit.s+", P.TRACING, A.TRACE_FEXIT, F.ATTACH_BTF | F.SLEEPABLE),
    _d("freplace+", P.EXT, 0, F.ATTACH_BTF),
    _d("lsm+", P.LSM, A.LSM_MAC, F.ATTACH_BTF),
    _d("lsm.s+", P.LSM, A.LSM_MAC, F.ATTACH_BTF | F.SLEEPABLE),
    _d("lsm_cgroup+", P.LSM, A.LSM_CGROUP, F.ATTACH_BTF),
    _d("iter+", P.TRACING, A.TRACE_ITER, F.ATTACH_BTF),
    _d("iter.s+", P.TRACING, A.TRACE_ITER, F.ATTACH_BTF | F.SLEEPABLE),
    _d("syscall", P.SYSCALL, 0, F.SLEEPABLE),
    _d("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, F.XDP_FRAGS),
    _d("xdp/devmap", P.XDP, A.XDP_DEVMAP, F.ATTACHABLE),
    _d("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, F.XDP_FRAGS),
    _d("xdp/cpumap", P.XDP, A.XDP_CPUMAP, F.ATTACHABLE),
    _d("xdp.frags", P.XDP, A.XDP, F.XDP_FRAGS),
    _d("xdp", P.XDP, A.XDP, F.ATTACHABLE_OPT),
    _d("perf_event", P.PERF_EVENT, 0),
    _d("lwt_in", P.LWT_IN, 0),
    _d("lwt_out", P.LWT_OUT, 0),
    _d("lwt_xmit", P.LWT_XMIT, 0),
    _d("lwt_seg6local", P.LWT_SEG6LOCAL, 0),
    _d("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, F.ATTACHABLE_OPT),
    _d("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, F.ATTACHABLE_OPT),
    _d("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, F.ATTACHABLE_OPT),
    _d("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, F.ATTACHABLE_OPT),
    _d("sk_skb", P.SK_SKB, 0),
    _d("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, F.ATTACHABLE_OPT),
    _d("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, F.ATTACHABLE_OPT),
    _d("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, F.ATTACHABLE_OPT),
    _d("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, F.ATTACHABLE_OPT),
    _d("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, F.ATTACHABLE_OPT),
    _d("cgroup/skb", P.CGROUP_SKB, 0),
    _d("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, F.ATTACHABLE),
    _d("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, F.ATTACHABLE),
    _d("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, F.ATTACHABLE_OPT),
    _d("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, F.ATTACHABLE),
    _d("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, F.ATTACHABLE),
    _d("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, F.ATTACHABLE),
    _d("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, F.ATTACHABLE),
    _d("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, F.ATTACHABLE),
    _d("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, F.ATTACHABLE),
    _d("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, F.ATTACHABLE),
    _d("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, F.ATTACHABLE),
    _d("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, F.ATTACHABLE),
    _d("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, F.ATTACHABLE),
    _d("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, F.ATTACHABLE),
    _d("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, F.ATTACHABLE),
    _d("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, F.ATTACHABLE),
    _d("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, F.ATTACHABLE),
    _d("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, F.ATTACHABLE),
    _d("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, F.ATTACHABLE),
    _d("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, F.ATTACHABLE),
    _d("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, F.ATTACHABLE),
    _d("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, F.ATTACHABLE),
    _d("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, F.ATTACHABLE),
    _d("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, F.ATTACHABLE),
    _d("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, F.ATTACHABLE),
    _d("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, F.ATTACHABLE_OPT),
    _d("struct_ops+", P.STRUCT_OPS, 0),
    _d("struct_ops.s+", P.STRUCT_OPS, 0, F.SLEEPABLE),
    _d("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, F.ATTACHABLE),
    _d("netfilter", P.NETFILTER, A.NETFILTER),
)


def find_sec_def(name: str) -> SecDef | None:
    """The first entry matching section ``name`` (without a leading ``?``), or None."""
    for d in SECTION_DEFS:
        if d.matches(name):
            return d
    return None


@dataclasses.dataclass(frozen=True)
class SectionInfo:
    """What a program section name means.

    ``attach_to`` is the text after the first ``/`` (``"sys_enter"`` for
    ``raw_tp/sys_enter``; empty if none), ``autoload`` is False for ``?sec``.
    """

    section: str
    sec_def: SecDef
    attach_to: str
    autoload: bool

    @property
    def prog_type(self) -> P:
        return self.sec_def.prog_type

    @property
    def expected_attach_type(self) -> "A | int":
        return self.sec_def.attach_type

    @property
    def sleepable(self) -> bool:
        return bool(self.sec_def.flags & F.SLEEPABLE)

    @property
    def prog_flags(self) -> int:
        """``prog_flags`` libbpf passes for this section (libbpf_prepare_prog_load)."""
        f = 0
        if self.sec_def.flags & F.SLEEPABLE:
            f |= ProgFlags.SLEEPABLE
        if self.sec_def.prog_type == P.XDP and self.sec_def.flags & F.XDP_FRAGS:
            f |= ProgFlags.XDP_HAS_FRAGS
        return int(f)


def _suggest(name: str) -> str:
    prefixes = sorted({d.prefix.rstrip("/") for d in SECTION_DEFS})
    head = name.split("/", 1)[0]
    close = difflib.get_close_matches(head, prefixes, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "valid prefixes: " + ", ".join(prefixes)


def parse_section(section: str) -> SectionInfo:
    """Interpret a program section name; :class:`ELFError` for unknown ones."""
    autoload = not section.startswith("?")
    name = section[1:] if not autoload else section
    d = find_sec_def(name)
    if d is None:
        raise ELFError(f"unknown program section {section!r}: {_suggest(name)}")
    attach_to = name.split("/", 1)[1] if "/" in name else ""
    return SectionInfo(name, d, attach_to, autoload)
