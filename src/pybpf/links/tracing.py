"""Tracepoints, raw tracepoints and BTF-based tracing (tp_btf, fentry/fexit/fmod_ret, lsm, freplace).

* :func:`attach_tracepoint` — ``BPF_PROG_TYPE_TRACEPOINT`` on a tracefs event
  (``events/<category>/<name>/id``) through a perf event (4.7+; a bpf_link
  with cookie on 5.15+).
* :func:`attach_raw_tracepoint` — ``BPF_PROG_TYPE_RAW_TRACEPOINT`` (4.17+)
  by tracepoint name with ``BPF_RAW_TRACEPOINT_OPEN`` (a bpf_link since 5.8,
  cookie 6.10+).
* :func:`attach_tracing` — programs whose attach point was fixed at load time
  with ``attach_btf_id`` (use :func:`find_attach_btf_id`): tp_btf (5.5),
  fentry/fexit (5.5), fmod_ret (5.7), lsm (5.7), freplace (5.6; re-targeting
  with ``target`` 5.10). ``BPF_LINK_CREATE`` when the attach type is known
  (cookies 5.19 fentry/lsm, 6.10 tp_btf), else ``BPF_RAW_TRACEPOINT_OPEN``.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from typing import Any

from .._sys import cmds
from .._sys.attrs import LinkCreateAttr
from .._sys.consts import AttachType, LinkType, ProgramType
from ..errors import BPFError, Error, NotFoundError, NotSupportedError
from .link import Link, prog_fd_of, register_link_type
from .perf_event import PerfEventLink, open_perf_link, open_tracepoint_event

__all__ = ["TracepointOptions", "TracingOptions", "RawTracepointLink", "TracingLink", "tracepoint_id",
           "attach_tracepoint", "attach_raw_tracepoint", "attach_tracing", "attach_tp_btf", "attach_fentry",
           "attach_fexit", "attach_fmod_ret", "attach_lsm", "attach_freplace", "find_attach_btf_id",
           "tracing_link_attr", "auto_attach"]


@register_link_type
class RawTracepointLink(Link):
    """A raw_tp (or tp_btf) attachment; ``tp_name`` comes from the kernel."""

    link_type = LinkType.RAW_TRACEPOINT

    @property
    def tp_name(self) -> str:
        return str(self.info().details.get("tp_name", ""))


@register_link_type
class TracingLink(Link):
    """An fentry/fexit/fmod_ret/freplace (``BPF_LINK_TYPE_TRACING``) attachment."""

    link_type = LinkType.TRACING


# ------------------------------------------------------------------ tracepoint
@dataclasses.dataclass
class TracepointOptions:
    """Options of :func:`attach_tracepoint`: ``cookie`` (5.15+) and the perf event's ``pid``."""

    cookie: int = 0
    pid: int = -1


def _split_tp(category: str, name: str | None) -> tuple[str, str]:
    if name is None:
        category, sep, name = category.partition("/")
        if not sep:
            category, sep, name = category.partition(":")
        if not sep or not name:
            raise Error(f"tracepoint {category!r}: expected 'category/name'")
    if not category or not name or "/" in name or ".." in (category, name):
        raise Error(f"bad tracepoint {category}/{name}")
    return category, name


def tracepoint_id(category: str, name: str | None = None) -> int:
    """The tracefs id of tracepoint ``category/name``; :class:`NotFoundError` naming it if absent."""
    from .._sys.fs import find_tracefs

    category, name = _split_tp(category, name)
    tfs = find_tracefs()
    path = os.path.join(tfs, "events", category, name, "id")
    try:
        with open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        raise NotFoundError(errno.ENOENT, f"tracepoint {category}/{name}",
                            f"no such tracepoint (no {path}); see {tfs}/available_events") from None
    except PermissionError:
        raise BPFError(errno.EACCES, f"tracepoint {category}/{name}", f"cannot read {path}; run as root") from None


def attach_tracepoint(prog: Any, category: str, name: str | None = None, *, cookie: int = 0,
                      pid: int = -1) -> PerfEventLink:
    """Attach a tracepoint program to ``category/name`` (also accepts ``"category/name"`` as one string).

    Opens ``perf_event_open(PERF_TYPE_TRACEPOINT, id)`` on pid -1 / CPU 0
    like libbpf (the program runs on every CPU), then links it (4.7+).
    """
    category, name = _split_tp(category, name)
    tp = tracepoint_id(category, name)
    fd = open_tracepoint_event(tp, pid=pid)
    return open_perf_link(prog, fd, cookie=cookie, kind="tracepoint", target=f"{category}/{name}")


# -------------------------------------------------------------- raw tracepoint
def attach_raw_tracepoint(prog: Any, name: str, *, cookie: int = 0) -> RawTracepointLink:
    """Attach a raw_tp (or raw_tp.w) program to the tracepoint ``name`` (e.g. ``"sys_enter"``; 4.17+)."""
    if not name:
        raise Error("attach_raw_tracepoint needs a tracepoint name")
    try:
        fd = cmds.raw_tracepoint_open(name, prog_fd_of(prog), cookie)
    except BPFError as e:
        if e.errno == errno.ENOENT:
            raise NotFoundError(errno.ENOENT, f"raw tracepoint {name!r}",
                                "no such tracepoint in the kernel or its modules") from None
        if e.errno == errno.E2BIG and cookie:
            raise NotSupportedError("BPF cookies on raw tracepoints", "need Linux 6.10+") from None
        raise
    return RawTracepointLink(fd, kind="raw_tracepoint", target=name, program=prog)


# ------------------------------------------------------------- BTF-based tracing
_PREFIX = {AttachType.TRACE_RAW_TP: ("btf_trace_", "typedef"), AttachType.TRACE_ITER: ("bpf_iter_", "func"),
           AttachType.LSM_MAC: ("bpf_lsm_", "func"), AttachType.LSM_CGROUP: ("bpf_lsm_", "func")}


def find_attach_btf_id(attach_type: AttachType | int, name: str, btf: Any = None) -> int:
    """The vmlinux BTF type id to load a tracing program with (``attach_btf_id``).

    As libbpf: tp_btf ``name`` → typedef ``btf_trace_<name>``; iter → func
    ``bpf_iter_<name>``; lsm → func ``bpf_lsm_<name>``; fentry/fexit/fmod_ret →
    func ``name``. Raises :class:`NotFoundError` naming the missing symbol.
    (Kernel-module targets, which also need the module's BTF object fd, are
    not searched.)
    """
    from ..btf import BTF

    prefix, kind = _PREFIX.get(AttachType(attach_type), ("", "func"))
    b = btf if btf is not None else BTF.load_vmlinux()
    full = prefix + name if not name.startswith(prefix) else name
    try:
        return int(b.find(full, kind).id or 0)
    except Exception:
        raise NotFoundError(errno.ENOENT, f"BTF {kind} {full!r}",
                            f"the kernel has no attach target {name!r} for {AttachType(attach_type).name}") from None


@dataclasses.dataclass
class TracingOptions:
    """Options of :func:`attach_tracing`.

    ``cookie`` (fentry/fexit/lsm 5.19+, tp_btf 6.10+); ``target`` (a Program
    or prog fd) and ``target_btf_id`` re-target a freplace program (5.10+);
    ``attach_type`` overrides the program's expected attach type.
    """

    cookie: int = 0
    target: Any = None
    target_btf_id: int = 0
    attach_type: AttachType | int | None = None


def tracing_link_attr(prog_fd: int, attach_type: int, *, cookie: int = 0, target_fd: int = 0,
                      target_btf_id: int = 0) -> LinkCreateAttr:
    """The LINK_CREATE attr for tracing/lsm/ext programs (exposed for tests)."""
    a = LinkCreateAttr(prog_fd=prog_fd, target_fd=target_fd, attach_type=int(attach_type))
    a.tracing.target_btf_id = target_btf_id
    a.tracing.cookie = cookie & 0xFFFFFFFFFFFFFFFF
    return a


def _prog_type(prog: Any) -> int:
    t = getattr(prog, "type", None)
    if t is None:
        t = int(cmds.prog_info(prog_fd_of(prog)).type)
    return int(t)


def _expected_attach_type(prog: Any) -> int | None:
    spec = getattr(prog, "spec", None)
    if spec is not None:
        return int(spec.expected_attach_type)
    return None


def _btf_func_id_in_prog(target: Any, func: str) -> int:
    """BTF id of FUNC ``func`` in the BTF of loaded program ``target`` (for freplace re-targeting)."""
    from ..btf import BTF

    info = cmds.prog_info(prog_fd_of(target))
    if not int(info.btf_id):
        raise Error(f"freplace target program has no BTF; cannot find function {func!r}")
    with cmds.fd_by_id("btf", int(info.btf_id)) as bfd:
        data = cmds.btf_data(bfd.fd)
    try:
        return int(BTF.from_bytes(data).find(func, "func").id or 0)
    except Exception:
        raise NotFoundError(errno.ENOENT, f"BTF func {func!r}", "not in the target program's BTF") from None


def attach_tracing(prog: Any, *, cookie: int = 0, target: Any = None, target_btf_id: int = 0,
                   target_func: str | None = None, attach_type: AttachType | int | None = None) -> Link:
    """Attach a program whose hook was chosen at load (tp_btf/fentry/fexit/fmod_ret/lsm/freplace).

    Minimum kernel 5.5 (tp_btf, fentry/fexit; fmod_ret and lsm 5.7, freplace
    5.6, re-targeting freplace with ``target`` 5.10); ``cookie`` needs 5.19
    (fentry/fexit/lsm) or 6.10 (tp_btf). fentry/fexit/fmod_ret also need BPF
    trampolines (x86-64, arm64 6.0+...).

    Returns a :class:`TracingLink` (fentry/fexit/fmod_ret/lsm/freplace) or
    :class:`RawTracepointLink` (tp_btf). ``target``/``target_func`` (or
    ``target_btf_id``) re-attach a freplace program to another program.
    """
    pfd = prog_fd_of(prog)
    ptype = _prog_type(prog)
    at = attach_type if attach_type is not None else _expected_attach_type(prog)
    tfd = prog_fd_of(target) if target is not None else 0
    if target_func is not None:
        if target is None:
            raise Error("target_func needs target (the program to replace a function of)")
        target_btf_id = _btf_func_id_in_prog(target, target_func)
    if ptype == ProgramType.EXT:
        at = 0
    elif ptype == ProgramType.LSM and not at:
        at = int(AttachType.LSM_MAC)
    elif tfd or target_btf_id:
        raise Error("target/target_btf_id are only for freplace (BPF_PROG_TYPE_EXT) programs")
    kind = _kind_name(ptype, at)
    fd = None
    if at is not None and (at or ptype == ProgramType.EXT):
        try:
            fd = cmds.link_create(tracing_link_attr(pfd, at, cookie=cookie, target_fd=tfd,
                                                    target_btf_id=target_btf_id))
        except BPFError as e:
            if e.errno in (errno.EINVAL, errno.E2BIG) and cookie:
                raise NotSupportedError(f"BPF cookies on {kind} links",
                                        "need Linux 5.19+ (fentry/fexit/lsm) or 6.10+ (tp_btf)") from None
            # Old kernels: LINK_CREATE lacks tracing types (< 5.10ish); RAW_TRACEPOINT_OPEN does them.
            if e.errno != errno.EINVAL or tfd or target_btf_id:
                raise _tracing_error(e, kind) from None
    if fd is None:
        try:
            fd = cmds.raw_tracepoint_open(None, pfd, cookie)
        except BPFError as e:
            raise _tracing_error(e, kind) from None
    t = int(cmds.link_info(fd.fd).type)
    cls: type[Link] = RawTracepointLink if t == LinkType.RAW_TRACEPOINT else TracingLink
    return cls(fd, kind=kind, target=getattr(getattr(prog, "spec", None), "attach_to", "") or "", program=prog)


def _kind_name(ptype: int, at: int | None) -> str:
    if ptype == ProgramType.EXT:
        return "freplace"
    if ptype == ProgramType.LSM:
        return "lsm"
    return {AttachType.TRACE_RAW_TP: "tp_btf", AttachType.TRACE_FENTRY: "fentry", AttachType.TRACE_FEXIT: "fexit",
            AttachType.MODIFY_RETURN: "fmod_ret"}.get(at, "tracing")  # type: ignore[call-overload]


def _tracing_error(e: BPFError, kind: str) -> Error:
    if e.errno in (errno.EOPNOTSUPP, 524):
        return NotSupportedError(f"{kind} attachment", "the kernel has no BPF trampoline for this target "
                                 "(CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS / arch support)")
    if e.errno == errno.EINVAL:
        return BPFError(e.errno, e.command, f"attaching {kind}: the program was not loaded with an attach target "
                        "(attach_btf_id) or the attach type does not match")
    return e


def attach_tp_btf(prog: Any, *, cookie: int = 0) -> Link:
    """tp_btf: a TRACING program loaded with TRACE_RAW_TP and ``btf_trace_<tp>`` (5.5+)."""
    return attach_tracing(prog, cookie=cookie, attach_type=AttachType.TRACE_RAW_TP)


def attach_fentry(prog: Any, *, cookie: int = 0) -> Link:
    """fentry (5.5+)."""
    return attach_tracing(prog, cookie=cookie, attach_type=AttachType.TRACE_FENTRY)


def attach_fexit(prog: Any, *, cookie: int = 0) -> Link:
    """fexit (5.5+)."""
    return attach_tracing(prog, cookie=cookie, attach_type=AttachType.TRACE_FEXIT)


def attach_fmod_ret(prog: Any, *, cookie: int = 0) -> Link:
    """fmod_ret (5.7+)."""
    return attach_tracing(prog, cookie=cookie, attach_type=AttachType.MODIFY_RETURN)


def attach_lsm(prog: Any, *, cookie: int = 0) -> Link:
    """BPF LSM (5.7+, needs ``bpf`` in the active LSM list)."""
    return attach_tracing(prog, cookie=cookie, attach_type=AttachType.LSM_MAC)


def attach_freplace(prog: Any, target: Any = None, func: str | None = None) -> Link:
    """freplace: replace a global function of another BPF program (5.6+; re-targeting 5.10+)."""
    return attach_tracing(prog, target=target, target_func=func)


# ------------------------------------------------------------------ auto-attach
_NET_TYPES = {ProgramType.XDP, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.CGROUP_SKB,
              ProgramType.CGROUP_SOCK, ProgramType.CGROUP_SOCK_ADDR, ProgramType.CGROUP_SOCKOPT,
              ProgramType.CGROUP_SYSCTL, ProgramType.CGROUP_DEVICE, ProgramType.SOCK_OPS, ProgramType.SK_SKB,
              ProgramType.SK_MSG, ProgramType.SK_LOOKUP, ProgramType.FLOW_DISSECTOR, ProgramType.SOCKET_FILTER,
              ProgramType.NETFILTER, ProgramType.SK_REUSEPORT, ProgramType.LWT_IN, ProgramType.LWT_OUT,
              ProgramType.LWT_XMIT, ProgramType.LWT_SEG6LOCAL}

_HINTS = {"perf_event": "attach_perf_event(prog, type, config, sample_freq=...)",
          "uprobe": "attach_uprobe(prog, binary, symbol)", "uretprobe": "attach_uprobe(prog, binary, symbol, retprobe=True)",
          "usdt": "attach_usdt(prog, binary, provider, name)", "kprobe": "attach_kprobe(prog, symbol)",
          "kretprobe": "attach_kprobe(prog, symbol, retprobe=True)", "tracepoint": "attach_tracepoint(prog, cat, name)",
          "raw_tracepoint": "attach_raw_tracepoint(prog, name)", "iter": "attach_iter(prog, map=...)",
          "freplace": "attach_freplace(prog, target, func)",
          "struct_ops": "attach_struct_ops(obj.maps[<struct_ops variable>]): struct_ops programs run through "
                        "their map"}


def _need(kind: str, target: str, section: str) -> str:
    if not target:
        raise Error(f"cannot auto-attach section {section!r}: it names no {kind} target; "
                    f"call pybpf.links.{_HINTS.get(kind, 'attach_' + kind + '(...)')} instead")
    return target


def _split_func_off(spec: str) -> tuple[str | None, int]:
    """``func``, ``func+0x10`` or a bare offset ``0x1234`` → (symbol or None, offset)."""
    func, plus, off = spec.partition("+")
    try:
        if not plus:
            return None, int(func, 0)
    except ValueError:
        pass
    return (func or None), (int(off, 0) if plus else 0)


def auto_attach(prog: Any) -> Link:
    """Attach ``prog`` as its ELF section name says (libbpf's auto-attach); see ``Program.attach``."""
    spec = getattr(prog, "spec", None)
    section = (getattr(spec, "section", "") or "") if spec is not None else ""
    attach_to = (getattr(spec, "attach_to", "") or "") if spec is not None else ""
    ptype = _prog_type(prog)
    if ptype in _NET_TYPES:
        import importlib

        try:
            net = importlib.import_module(".net", __package__)
        except ImportError:
            net = None
        if net is not None and hasattr(net, "auto_attach"):
            return net.auto_attach(prog)  # type: ignore[no-any-return]
        raise Error(f"cannot auto-attach {ProgramType(ptype).name} program {section or '(no section)'!r}: call the "
                    "matching pybpf.links attach_xdp/attach_tcx/attach_cgroup/... function")
    if not section:
        raise Error("cannot auto-attach: the program has no ELF section name (loaded without an object file); "
                    "call the matching pybpf.links.attach_* function")
    kind, _, rest = section.partition("/")
    target = attach_to or rest
    base = kind.split(".")[0]  # fentry.s → fentry, raw_tp.w → raw_tp, uprobe.multi → uprobe
    multi = kind.endswith(".multi")
    if base in ("tracepoint", "tp"):
        return attach_tracepoint(prog, _need("tracepoint", target, section))
    if base in ("raw_tracepoint", "raw_tp"):
        return attach_raw_tracepoint(prog, _need("raw_tracepoint", target, section))
    if base in ("tp_btf", "fentry", "fexit", "fmod_ret", "lsm", "freplace"):
        return attach_tracing(prog)
    if base == "iter":
        from .iter import attach_iter

        return attach_iter(prog)
    if base in ("kprobe", "kretprobe", "ksyscall", "kretsyscall"):
        from . import kprobe as kp

        ret = base.startswith("kret")
        if multi:
            return kp.attach_kprobe_multi(prog, pattern=_need(base, target, section), retprobe=ret)
        if base.endswith("syscall"):
            return kp.attach_ksyscall(prog, _need("kprobe", target, section), retprobe=ret)
        func, off = _split_func_off(_need("kretprobe" if ret else "kprobe", target, section))
        if func is None:
            raise Error(f"section {section!r}: a kprobe needs a function name")
        return kp.attach_kprobe(prog, func, off, retprobe=ret)
    if base in ("uprobe", "uretprobe"):
        from . import _elfsym, uprobe as up

        binary, sep, fn = _need(base, target, section).partition(":")
        if not sep or not fn:
            raise Error(f"section {section!r}: expected {base}/<binary>:<function>[+offset]; "
                        f"or call pybpf.links.{_HINTS[base]}")
        if multi:
            names = _elfsym.match_symbols(binary, fn)
            if not names:
                raise _elfsym.SymbolNotFoundError(fn, _elfsym.resolve_binary(binary), "no function matches")
            return up.attach_uprobe_multi(prog, binary, names, retprobe=base == "uretprobe")
        func, off = _split_func_off(fn)
        return up.attach_uprobe(prog, binary, func, offset=off, retprobe=base == "uretprobe")
    if base == "usdt":
        from .usdt import attach_usdt

        parts = _need("usdt", target, section).rsplit(":", 2)
        if len(parts) != 3:
            raise Error(f"section {section!r}: expected usdt/<binary>:<provider>:<name>; "
                        f"or call pybpf.links.{_HINTS['usdt']}")
        return attach_usdt(prog, *parts)
    hint = _HINTS.get(base, "attach_* function for this program type")
    raise Error(f"cannot auto-attach section {section!r}: no automatic attach point for it; "
                f"call pybpf.links.{hint}")
