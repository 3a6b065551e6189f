"""``pybpf cgroup``: show/list, tree, attach, detach (bpftool's grammar and table format)."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from .._sys.consts import AttachFlags, AttachType
from ..errors import BPFError
from ._common import Args, CLIError, Context, is_prefix, select, type_json, type_str
from ._objects import prog_fd, prog_full_name

HELP = """Usage: pybpf cgroup { show | list } CGROUP [**effective**]
       pybpf cgroup tree [CGROUP_ROOT] [**effective**]
       pybpf cgroup attach CGROUP ATTACH_TYPE PROG [ATTACH_FLAGS]
       pybpf cgroup detach CGROUP ATTACH_TYPE PROG
       pybpf cgroup help

       ATTACH_TYPE := { cgroup_inet_ingress | cgroup_inet_egress |
                        cgroup_inet_sock_create | cgroup_sock_ops |
                        cgroup_device | cgroup_inet4_bind |
                        cgroup_inet6_bind | cgroup_inet4_post_bind |
                        cgroup_inet6_post_bind | cgroup_inet4_connect |
                        cgroup_inet6_connect | cgroup_unix_connect |
                        cgroup_inet4_getpeername | cgroup_inet6_getpeername |
                        cgroup_unix_getpeername | cgroup_inet4_getsockname |
                        cgroup_inet6_getsockname | cgroup_unix_getsockname |
                        cgroup_udp4_sendmsg | cgroup_udp6_sendmsg |
                        cgroup_unix_sendmsg | cgroup_udp4_recvmsg |
                        cgroup_udp6_recvmsg | cgroup_unix_recvmsg |
                        cgroup_sysctl | cgroup_getsockopt |
                        cgroup_setsockopt | cgroup_inet_sock_release }
       ATTACH_FLAGS := { multi | override }
       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} |
                    {-f|--bpffs} }
"""

A = AttachType
# bpftool's bpf_attach_type_input_str(): traditional names (prefixes allowed), else libbpf's.
_INPUT = {
    A.CGROUP_INET_INGRESS: "ingress", A.CGROUP_INET_EGRESS: "egress", A.CGROUP_INET_SOCK_CREATE: "sock_create",
    A.CGROUP_INET_SOCK_RELEASE: "sock_release", A.CGROUP_SOCK_OPS: "sock_ops", A.CGROUP_DEVICE: "device",
    A.CGROUP_INET4_BIND: "bind4", A.CGROUP_INET6_BIND: "bind6", A.CGROUP_INET4_CONNECT: "connect4",
    A.CGROUP_INET6_CONNECT: "connect6", A.CGROUP_INET4_POST_BIND: "post_bind4",
    A.CGROUP_INET6_POST_BIND: "post_bind6", A.CGROUP_INET4_GETPEERNAME: "getpeername4",
    A.CGROUP_INET6_GETPEERNAME: "getpeername6", A.CGROUP_INET4_GETSOCKNAME: "getsockname4",
    A.CGROUP_INET6_GETSOCKNAME: "getsockname6", A.CGROUP_UDP4_SENDMSG: "sendmsg4",
    A.CGROUP_UDP6_SENDMSG: "sendmsg6", A.CGROUP_SYSCTL: "sysctl", A.CGROUP_UDP4_RECVMSG: "recvmsg4",
    A.CGROUP_UDP6_RECVMSG: "recvmsg6", A.CGROUP_GETSOCKOPT: "getsockopt", A.CGROUP_SETSOCKOPT: "setsockopt",
    A.TRACE_RAW_TP: "raw_tp", A.TRACE_FENTRY: "fentry", A.TRACE_FEXIT: "fexit", A.MODIFY_RETURN: "mod_ret",
    A.SK_REUSEPORT_SELECT: "sk_skb_reuseport_select",
    A.SK_REUSEPORT_SELECT_OR_MIGRATE: "sk_skb_reuseport_select_or_migrate",
}


def parse_attach_type(word: str) -> AttachType | None:
    """bpftool cgroup's parse_attach_type(): libbpf's exact name, else a prefix of the input names."""
    for at in AttachType:
        if at.name.lower() == word:
            return at
    for at in AttachType:
        if is_prefix(word, _INPUT.get(at, at.name.lower())):
            return at
    return None


class _Shower:
    """bpftool's show_bpf_prog() for one listing (caches the vmlinux BTF)."""

    def __init__(self, ctx: Context, effective: bool) -> None:
        self.ctx, self.effective = ctx, effective
        self._vmlinux: Any = None
        self._vmlinux_id = 0

    def _attach_btf_name(self, obj_id: int, type_id: int) -> str | None:
        """bpftool's lookup, quirks included: until a program attached to vmlinux BTF is seen, the
        "vmlinux id" is 0, so programs without attach BTF (obj id 0) get type 0's name: ""."""
        if not os.path.exists("/sys/kernel/btf/vmlinux"):
            return None  # libbpf_find_kernel_btf() failed: no names
        if not self._vmlinux_id and obj_id:
            try:
                with cmds.fd_by_id("btf", obj_id) as bfd:
                    info, name = cmds.btf_info(bfd.fd)
                if info.kernel_btf and name == "vmlinux":
                    self._vmlinux_id = int(info.id)
            except BPFError:
                pass
        if self._vmlinux_id != obj_id:
            return None
        if not type_id:
            return ""
        try:
            if self._vmlinux is None:
                from ..btf import BTF

                self._vmlinux = BTF.load_vmlinux()
            if type_id > self._vmlinux.last_id:
                return None
            return str(self._vmlinux[type_id].name)
        except Exception:  # noqa: BLE001 - the name is an extra
            return None

    def one(self, prog_id: int, at: AttachType, flags: int | None, level: int) -> "str | dict[str, Any] | None":
        try:
            with cmds.fd_by_id("prog", prog_id) as fd:
                info = cmds.prog_info(fd.fd)
                name = prog_full_name(info, fd.fd)
        except BPFError:
            return None
        from ..cgroupquery import attach_flags_str

        fstr = attach_flags_str(flags or 0)
        btf_name = self._attach_btf_name(int(info.attach_btf_obj_id), int(info.attach_btf_id))
        if self.ctx.json:
            o: dict[str, Any] = {"id": int(info.id), "attach_type": type_json(AttachType, at)}
            if not self.effective:
                o["attach_flags"] = fstr
            o["name"] = name
            if btf_name is not None:
                o["attach_btf_name"] = btf_name
            o["attach_btf_obj_id"] = int(info.attach_btf_obj_id)
            o["attach_btf_id"] = int(info.attach_btf_id)
            return o
        s = f"{'    ' if level else ''}{int(info.id):<8} {type_str(AttachType, at, ''):<15}"
        s += f" {name:<15}" if self.effective else f" {fstr:<15} {name:<15}"
        if btf_name is not None:
            s += f" {btf_name:<15}"
        elif info.attach_btf_id:
            s += f" attach_btf_obj_id={info.attach_btf_obj_id} attach_btf_id={info.attach_btf_id}"
        return s + "\n"

    def cgroup(self, fd: int, level: int) -> tuple[list[Any], bool]:
        from ..cgroupquery import attached

        progs, ok = attached(fd, self.effective)
        out = [self.one(p.prog_id, p.attach_type, p.attach_flags, level) for p in progs]
        return [o for o in out if o is not None], ok


def _effective(args: Args) -> bool:
    eff = False
    while args:
        w = args.next()
        if not is_prefix(w, "effective"):
            raise CLIError(f"expected no more arguments, 'effective', got: '{w}'?")
        if eff:
            raise CLIError(f"duplicated argument: {w}")
        eff = True
    return eff


def _header(effective: bool) -> str:
    if effective:
        return f"{'ID':<8} {'AttachType':<15} {'Name':<15}\n"
    return f"{'ID':<8} {'AttachType':<15} {'AttachFlags':<15} {'Name':<15}\n"


def _open_cgroup(path: str, why: bool = False) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CLIError(f"can't open cgroup {path}" + (f": {os.strerror(e.errno or 0)}" if why else "")) from None


def do_show(ctx: Context, args: Args) -> int:
    args.require(1)
    path = args.next()
    eff = _effective(args)
    from ..cgroupquery import has_attached

    fd = _open_cgroup(path)
    try:
        try:
            if not has_attached(fd, eff):
                if ctx.json:
                    sys.stdout.write("\n")  # bpftool's JSON writer ends the (empty) output with a newline
                return 0
        except BPFError as e:
            raise CLIError(f"can't query bpf programs attached to {path}: {os.strerror(e.errno or 0)}") from None
        sh = _Shower(ctx, eff)
        rows, ok = sh.cgroup(fd, 0)
    finally:
        os.close(fd)
    if ctx.json:
        ctx.emit_json(rows)
    else:
        sys.stdout.write(_header(eff) + "".join(rows))
    return 0 if ok else 255


def do_tree(ctx: Context, args: Args) -> int:
    from ..cgroupquery import has_attached, walk

    if not args:
        from .._sys.fs import _mounts

        root = next((d for d, t in _mounts() if t == "cgroup2"), None)
        if root is None:
            raise CLIError("cgroup v2 isn't mounted")
        eff = False
    else:
        root = args.next()
        eff = _effective(args)
    sh = _Shower(ctx, eff)
    objs: list[Any] = []
    out: list[str] = [] if ctx.json else ["CgroupPath\n" + _header(eff)]
    try:
        for path, level in walk(root):
            fd = _open_cgroup(path, why=True)
            try:
                try:
                    if not has_attached(fd, eff):
                        continue
                except BPFError as e:
                    raise CLIError(f"can't query bpf programs attached to {path}: "
                                   f"{os.strerror(e.errno or 0)}") from None
                rows, _ = sh.cgroup(fd, level)
            finally:
                os.close(fd)
            if ctx.json:
                objs.append({"cgroup": path, "programs": rows})
            else:
                out.append(path + "\n" + "".join(rows))
    except FileNotFoundError:
        raise CLIError(f"can't iterate over {root}: No such file or directory") from None
    if ctx.json:
        ctx.emit_json(objs)
    else:
        sys.stdout.write("".join(out))
    return 0


def _attach_args(args: Args, verb: str) -> tuple[int, AttachType, Any]:
    if len(args) < 4:
        raise CLIError(f"too few parameters for cgroup {verb}")
    path = args.next()
    cg = _open_cgroup(path)
    try:
        at = parse_attach_type(args.next())
        if at is None:
            raise CLIError("invalid attach type")
        fd = prog_fd(args)
    except BaseException:
        os.close(cg)
        raise
    return cg, at, fd


def do_attach(ctx: Context, args: Args) -> int:
    cg, at, fd = _attach_args(args, "attach")
    try:
        with fd:
            flags = 0
            while args:
                w = args.next()
                if is_prefix(w, "multi"):
                    flags |= AttachFlags.ALLOW_MULTI
                elif is_prefix(w, "override"):
                    flags |= AttachFlags.ALLOW_OVERRIDE
                else:
                    raise CLIError(f"unknown option: {w}")
            try:
                cmds.prog_attach(fd.fd, cg, at, int(flags))
            except BPFError:
                raise CLIError("failed to attach program") from None
    finally:
        os.close(cg)
    if ctx.json:
        print("null")
    return 0


def do_detach(ctx: Context, args: Args) -> int:
    cg, at, fd = _attach_args(args, "detach")
    try:
        with fd:
            try:
                cmds.prog_detach(cg, at, fd.fd)
            except BPFError:
                raise CLIError("failed to detach program") from None
    finally:
        os.close(cg)
    if ctx.json:
        print("null")
    return 0


VERBS = [("show", do_show), ("list", do_show), ("tree", do_tree), ("attach", do_attach), ("detach", do_detach),
         ("help", do_show)]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "cgroup", VERBS, words, HELP)
