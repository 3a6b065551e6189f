"""``pybpf net``: show/list, attach, detach (bpftool's grammar, sections and JSON).

``show`` prints the ``xdp:``, ``tc:`` (tcx/netkit, then classic cls_bpf),
``flow_dissector:`` and ``netfilter:`` sections of the current network
namespace (``ip netns exec NS pybpf net show`` for another one).
"""

from __future__ import annotations

import errno
import socket
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from .._sys import netlink as nl
from .._sys.consts import AttachType
from ..errors import BPFError
from ._common import Args, CLIError, Context, is_prefix, select, strerror
from ._json import Raw
from ._objects import prog_fd, prog_full_name

HELP = """Usage: pybpf net { show | list } [dev <devname>]
       pybpf net attach ATTACH_TYPE PROG dev <devname> [ overwrite | prepend ]
       pybpf net detach ATTACH_TYPE dev <devname>
       pybpf net help

       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       ATTACH_TYPE := { xdp | xdpgeneric | xdpdrv | xdpoffload | tcx_ingress
                        | tcx_egress }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} }

Note: Only xdp, tcx, tc, netkit, flow_dissector and netfilter attachments
      are currently supported.
      For progs attached to cgroups, use "pybpf cgroup"
      to dump program attachments. For program types
      sk_{filter,skb,msg,reuseport} and lwt/seg6, please
      consult iproute2.
"""

ATTACH_TYPES = ("xdp", "xdpgeneric", "xdpdrv", "xdpoffload", "tcx_ingress", "tcx_egress")
_XDP_MODE = {"xdp": 0, "xdpgeneric": nl.XDP_FLAGS_SKB_MODE, "xdpdrv": nl.XDP_FLAGS_DRV_MODE,
             "xdpoffload": nl.XDP_FLAGS_HW_MODE}
_TCX = {"tcx_ingress": AttachType.TCX_INGRESS, "tcx_egress": AttachType.TCX_EGRESS}
BPF_F_BEFORE = 1 << 3
EINVAL_EXIT = 256 - errno.EINVAL


def _flags(bits: int) -> list[int]:
    return [1 << j for j in range(32) if bits & (1 << j)]


def _prog_name(prog_id: int) -> "str | None":
    """bpftool's __show_dev_tc_bpf_name(): the full name, None when unnamed or gone."""
    try:
        with cmds.fd_by_id("prog", prog_id) as fd:
            info = cmds.prog_info(fd.fd)
            return prog_full_name(info, fd.fd) if info.name[:1] else None
    except BPFError:
        return None


# ------------------------------------------------------------------------ show
def _xdp(dev: Any, as_json: bool) -> Any:
    if as_json:
        o: dict[str, Any] = {"devname": dev.name, "ifindex": dev.ifindex}
        if dev.xdp_multi:
            o["multi_attachments"] = [{"mode": x.mode, "id": x.prog_id} for x in dev.xdp]
        else:
            o.update(mode=dev.xdp[0].mode, id=dev.xdp[0].prog_id)
        return o
    return f"{dev.name}({dev.ifindex})" + "".join(f" {x.mode} id {x.prog_id}" for x in dev.xdp) + "\n"


def _mprog(dev: Any, label: str, e: Any, as_json: bool) -> Any:
    name = _prog_name(e.prog_id)
    if as_json:
        o: dict[str, Any] = {"devname": dev.name, "ifindex": dev.ifindex, "kind": label}
        if name is not None:
            o["name"] = name
        o.update(prog_id=e.prog_id, prog_flags=_flags(e.prog_flags), link_id=e.link_id,
                 link_flags=_flags(e.link_flags))
        return o
    s = f"{dev.name}({dev.ifindex}) {label}" + (f" {name}" if name is not None else "") + f" prog_id {e.prog_id} "
    if e.prog_flags:
        s += "prog_flags " + "".join(f"{f} " for f in _flags(e.prog_flags))
    if e.link_id:
        s += f"link_id {e.link_id} "
        if e.link_flags:
            s += "link_flags " + "".join(f"{f} " for f in _flags(e.link_flags))
    return s + "\n"


def _tc(dev: Any, f: Any, as_json: bool) -> Any:
    if as_json:
        o: dict[str, Any] = {"devname": dev.name} if dev.name else {}
        o.update(ifindex=dev.ifindex, kind=f.kind)
        if f.name is not None:
            o["name"] = f.name
        if f.prog_id is not None:
            o["id"] = f.prog_id
        if f.actions is not None:
            o["act"] = [{**({"name": a.name} if a.name is not None else {}),
                         **({"id": a.prog_id} if a.prog_id is not None else {})} for a in f.actions]
        return o
    s = (dev.name or "") + f"({dev.ifindex}) {f.kind}"
    s += (f" {f.name}" if f.name is not None else "") + (f" id {f.prog_id}" if f.prog_id is not None else "")
    if f.actions is not None:
        s += " act [" + "".join("{" + (a.name or "") + (f" id {a.prog_id}" if a.prog_id is not None else "") + "}"
                                for a in f.actions) + "] "
    return s + "\n"


def _netfilter_plain(pf: int, hook: int, prio: int, flags: int) -> str:
    from .link import _ARP_HOOKS, _INET_HOOKS, _PF

    names = _INET_HOOKS if pf in (1, 2, 7, 10) else _ARP_HOOKS if pf == 3 else []
    s = f"\n\t{_PF[pf]}" if pf in _PF else f"\n\tpf: {pf}"
    s += f" {names[hook]}" if hook < len(names) else f", hook {hook},"
    return s + f" prio {prio}" + (f" flags 0x{flags:x}" if flags else "")


def _flow_dissector_json(prog_id: int, pretty: bool) -> Raw:
    """bpftool writes a *named* field inside the array: ``"flow_dissector":["id":12]``."""
    return Raw(("\n" + "    " * 3 + '"id": ' if pretty else '"id":') + str(prog_id))


def _dev_index(args: Args) -> int:
    w = args.next()
    if not is_prefix(w, "dev"):
        raise CLIError(f"expected 'dev', got: '{w}'?")
    name = args.next("a device name")
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise CLIError(f"invalid devname {name}") from None


def do_show(ctx: Context, args: Args) -> int:
    from .. import netinfo

    filter_idx = 0
    if len(args) == 2:
        filter_idx = _dev_index(args)
    elif args:
        sys.stderr.write(HELP)
        return 255
    try:
        fd_id = netinfo.flow_dissector_id()
    except BPFError as e:
        raise CLIError(f"can't query prog: {strerror(e)}") from None
    err = ""
    try:
        devs = netinfo.devices(filter_idx)
    except BPFError as e:
        devs, err = [], strerror(e)
    j = ctx.json
    xdp = [_xdp(d, j) for d in devs if d.xdp]
    tc: list[Any] = []
    if not err:
        for d in devs:
            for at, label in netinfo.MPROG_HOOKS:
                tc.extend(_mprog(d, label, e, j) for e in netinfo.mprog_entries(d.ifindex, at))
            tc.extend(_tc(d, f, j) for f in netinfo.tc_bpf_filters(d.ifindex))
    netfilter = netinfo.netfilter_links()
    if j:
        out: dict[str, Any] = {"xdp": xdp}
        if not err:
            out["tc"] = tc
        out["flow_dissector"] = [_flow_dissector_json(fd_id, ctx.pretty)] if fd_id else []
        out["netfilter"] = [{"pf": pf, "hook": hook, "prio": prio, "flags": fl, "id": pid}
                            for pf, hook, prio, fl, pid in netfilter]
        ctx.emit_json([out])
    else:
        text = "xdp:\n" + "".join(xdp) + "\n"
        if not err:
            text += "tc:\n" + "".join(tc) + "\n"
        text += "flow_dissector:\n" + (f"id {fd_id}" if fd_id else "") + "\n"
        text += "netfilter:\n" + "".join(_netfilter_plain(*t[:4]) + f" prog_id {t[4]}" for t in netfilter) + "\n"
        sys.stdout.write(text)
    if err:
        sys.stderr.write(f"Error: {err}\n")
        return 255
    return 0


# --------------------------------------------------------------- attach/detach
def _attach_type(word: str) -> str:
    for t in ATTACH_TYPES:
        if is_prefix(word, t):
            return t
    raise CLIError(f"invalid net attach/detach type: {word}")


def _einval(fn: Any) -> Any:
    """bpftool's net attach/detach return -EINVAL on bad arguments: exit status 234."""
    def wrapped(ctx: Context, args: Args) -> int:
        try:
            return int(fn(ctx, args))
        except CLIError as e:
            if e.exit_code == 255:
                e.exit_code = EINVAL_EXIT
            raise
    return wrapped


def _attach_failed(what: str, e: BPFError) -> CLIError:
    return CLIError(f"interface {what} failed: {strerror(e)}", (256 - (e.errno or errno.EINVAL)) & 0xFF)


@_einval
def do_attach(ctx: Context, args: Args) -> int:
    args.require(5)
    kind = _attach_type(args.next())
    with prog_fd(args) as fd:
        ifindex = _dev_index(args)
        overwrite = prepend = False
        if args:
            w = args.next()
            if is_prefix(w, "overwrite"):
                if kind not in _XDP_MODE:
                    raise CLIError("'overwrite' is only supported for xdp types")
                overwrite = True
            elif is_prefix(w, "prepend"):
                if kind not in _TCX:
                    raise CLIError("'prepend' is only supported for tcx_ingress/tcx_egress")
                prepend = True
            else:
                raise CLIError(f"expected 'overwrite' or 'prepend', got: '{w}'?")
        try:
            if kind in _XDP_MODE:
                flags = _XDP_MODE[kind] | (0 if overwrite else nl.XDP_FLAGS_UPDATE_IF_NOEXIST)
                nl.xdp_set(ifindex, fd.fd, flags)
            else:
                cmds.prog_attach(fd.fd, ifindex, _TCX[kind], BPF_F_BEFORE if prepend else 0)
        except BPFError as e:
            raise _attach_failed(f"{kind} attach", e) from None
    if ctx.json:
        print("null")
    return 0


@_einval
def do_detach(ctx: Context, args: Args) -> int:
    args.require(3)
    kind = _attach_type(args.next())
    ifindex = _dev_index(args)
    try:
        if kind in _XDP_MODE:
            nl.xdp_set(ifindex, -1, _XDP_MODE[kind])
        else:
            cmds.prog_detach(ifindex, _TCX[kind])
    except BPFError as e:
        raise _attach_failed(f"{kind} detach", e) from None
    if ctx.json:
        print("null")
    return 0


VERBS = [("show", do_show), ("list", do_show), ("attach", do_attach), ("detach", do_detach), ("help", do_show)]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "net", VERBS, words, HELP)
