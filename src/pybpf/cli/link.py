"""``pybpf link``: show/list, pin, detach (bpftool's grammar and line formats)."""

from __future__ import annotations

import ctypes
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from .._sys import cmds
from .._sys.consts import AttachType, LinkType, ProgramType
from .._sys.info import LinkInfo
from ..errors import BPFError
from ._common import Args, CLIError, Context, select, strerror, type_json, type_str
from ._objects import ShowTables, iter_ids, link_fd
from .prog import pin_fd

HELP = """Usage: pybpf link { show | list }   [LINK]
       pybpf link pin        LINK  FILE
       pybpf link detach     LINK
       pybpf link help

       LINK := { id LINK_ID | pinned FILE }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} |
                    {-f|--bpffs} | {-n|--nomount} }
"""

_PERF_TYPES = {0: "hardware", 1: "software", 2: "tracepoint", 3: "hw-cache", 4: "raw", 5: "breakpoint"}
_HW = ["cpu-cycles", "instructions", "cache-references", "cache-misses", "branch-instructions", "branch-misses",
       "bus-cycles", "stalled-cycles-frontend", "stalled-cycles-backend", "ref-cycles"]
_SW = ["cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations", "minor-faults",
       "major-faults", "alignment-faults", "emulation-faults", "dummy", "bpf-output", "cgroup-switches"]
_CACHE = ["L1-dcache", "L1-icache", "LLC", "dTLB", "iTLB", "branch", "node"]
_CACHE_OP = ["load", "store", "prefetch"]
_CACHE_RES = ["refs", "misses"]
# enum bpf_perf_event_type (bpf_link_info.perf_event.type)
_PE_UPROBE, _PE_URETPROBE, _PE_KPROBE, _PE_KRETPROBE, _PE_TRACEPOINT, _PE_EVENT = 1, 2, 3, 4, 5, 6
_PF = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
_INET_HOOKS = ["prerouting", "input", "forward", "output", "postrouting"]
_ARP_HOOKS = ["input", "output"]
_CGROUP_ORDER = ["order_unspec", "self_only", "descendants_pre", "descendants_post", "ancestors_up"]


class _Full:
    """bpf_link_info with its strings and arrays (bpftool's do_show_link() second pass)."""

    def __init__(self, fd: int) -> None:
        try:
            i = cmds.link_info(fd)
        except BPFError as e:
            raise CLIError(f"can't get link info: {strerror(e)}") from None
        self.keep: list[Any] = []
        t, pe = int(i.type), int(i.perf_event.type)
        buf = ctypes.create_string_buffer(4096)
        self.keep.append(buf)
        i2 = LinkInfo()
        if t == LinkType.RAW_TRACEPOINT:
            i2.raw_tracepoint.tp_name, i2.raw_tracepoint.tp_name_len = ctypes.addressof(buf), 4096
        elif t == LinkType.ITER:
            i2.iter.target_name, i2.iter.target_name_len = ctypes.addressof(buf), 4096
        elif t == LinkType.KPROBE_MULTI and i.kprobe_multi.count:
            n = int(i.kprobe_multi.count)
            self.addrs, self.cookies = (ctypes.c_uint64 * n)(), (ctypes.c_uint64 * n)()
            km = i2.kprobe_multi
            km.addrs, km.cookies, km.count = ctypes.addressof(self.addrs), ctypes.addressof(self.cookies), n
        elif t == LinkType.UPROBE_MULTI and i.uprobe_multi.count:
            n = int(i.uprobe_multi.count)
            self.offs, self.refs, self.cookies = [(ctypes.c_uint64 * n)() for _ in range(3)]
            u = i2.uprobe_multi
            u.offsets, u.ref_ctr_offsets = ctypes.addressof(self.offs), ctypes.addressof(self.refs)
            u.cookies, u.path, u.path_size, u.count = ctypes.addressof(self.cookies), ctypes.addressof(buf), 4096, n
        elif t == LinkType.PERF_EVENT:
            i2.perf_event.type = pe
            if pe == _PE_TRACEPOINT:
                i2.perf_event.tracepoint.tp_name, i2.perf_event.tracepoint.name_len = ctypes.addressof(buf), 4096
            elif pe in (_PE_KPROBE, _PE_KRETPROBE):
                i2.perf_event.kprobe.func_name, i2.perf_event.kprobe.name_len = ctypes.addressof(buf), 4096
            elif pe in (_PE_UPROBE, _PE_URETPROBE):
                i2.perf_event.uprobe.file_name, i2.perf_event.uprobe.name_len = ctypes.addressof(buf), 4096
        try:
            cmds.obj_info(fd, i2)
            self.i = i2
        except BPFError:
            self.i = i
        self.s = buf.value.decode(errors="replace")


def _attach(v: int) -> str:
    return type_str(AttachType, v, "")


def _ifname(ifindex: int) -> str:
    import socket  # only links that name an interface need it

    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return ""


def _kallsyms() -> list[tuple[int, str, str]]:
    out = []
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                p = line.split()
                if len(p) >= 3:
                    out.append((int(p[0], 16), p[2], p[3].strip("[]") if len(p) > 3 else ""))
    except OSError:
        pass
    out.sort(key=lambda x: x[0])
    return out


def _kmulti(f: _Full) -> list[tuple[int, int, str, str]]:
    """(addr, cookie, func, module) of a kprobe_multi link, in address order."""
    k = f.i.kprobe_multi
    data = sorted(zip(f.addrs, f.cookies)) if int(k.count) else []
    ibt = False
    try:
        from .feature import kernel_config

        ibt = "CONFIG_X86_KERNEL_IBT" in kernel_config()
    except Exception:  # noqa: BLE001
        pass
    out = []
    j = 0
    for addr, name, mod in _kallsyms():
        if j >= len(data):
            break
        if addr == data[j][0] or (ibt and addr == data[j][0] - 4):
            out.append((data[j][0], data[j][1], name, mod))
            j += 1
    return out


def _perf_config(typ: int, cfg: int) -> "str | None":
    if typ == 0:
        return _HW[cfg] if cfg < len(_HW) else None
    if typ == 1:
        return _SW[cfg] if cfg < len(_SW) else None
    if typ == 3:
        a, b, c = cfg & 0xFF, (cfg >> 8) & 0xFF, cfg >> 16
        return (f"{_CACHE[a] if a < len(_CACHE) else a}-{_CACHE_OP[b] if b < len(_CACHE_OP) else b}-"
                f"{_CACHE_RES[c] if c < len(_CACHE_RES) else c}")
    return None


def show_plain(fd: int, t: ShowTables) -> str:
    f = _Full(fd)
    i, typ = f.i, int(f.i.type)
    o = [f"{i.id}: {type_str(LinkType, typ)}  "]
    o.append(f"map {i.struct_ops.map_id}  " if typ == LinkType.STRUCT_OPS else f"prog {i.prog_id}  ")
    if typ == LinkType.RAW_TRACEPOINT:
        o.append(f"\n\ttp '{f.s}'  " + (f"cookie {i.raw_tracepoint.cookie}  " if i.raw_tracepoint.cookie else ""))
    elif typ == LinkType.TRACING:
        o.append(f"\n\tprog_type {type_str(ProgramType, _prog_type(i.prog_id), '')}  "
                 f"attach_type {_attach(i.tracing.attach_type)}  ")
        if i.tracing.target_obj_id or i.tracing.target_btf_id:
            o.append(f"\n\ttarget_obj_id {i.tracing.target_obj_id}  target_btf_id {i.tracing.target_btf_id}  ")
        if i.tracing.cookie:
            o.append(f"\n\tcookie {i.tracing.cookie}  ")
    elif typ == LinkType.CGROUP:
        o.append(f"\n\tcgroup_id {i.cgroup.cgroup_id}  attach_type {_attach(i.cgroup.attach_type)}  ")
    elif typ == LinkType.ITER:
        o.append(f"target_name {f.s}  ")
        if f.s in ("bpf_map_elem", "bpf_sk_storage_map"):
            o.append(f"map_id {i.iter.map_id}  ")
        elif f.s in ("task", "task_file", "task_vma") and (i.iter.tid or i.iter.pid):
            o.append(f"tid {i.iter.tid} " if i.iter.tid else f"pid {i.iter.pid} ")
        if f.s == "cgroup":
            order = int(i.iter.order)
            o.append(f"cgroup_id {i.iter.cgroup_id}  order "
                     f"{_CGROUP_ORDER[order] if order < len(_CGROUP_ORDER) else 'unknown'}  ")
    elif typ == LinkType.NETNS:
        o.append(f"\n\tnetns_ino {i.netns.netns_ino}  attach_type {_attach(i.netns.attach_type)}  ")
    elif typ == LinkType.NETFILTER:
        nf = i.netfilter
        pf, hook = int(nf.pf), int(nf.hooknum)
        names = _INET_HOOKS if pf in (1, 2, 7, 10) else _ARP_HOOKS if pf == 3 else []
        o.append(f"\n\t{_PF[pf]}" if pf in _PF else f"\n\tpf: {pf}")
        o.append(f" {names[hook]}" if hook < len(names) else f", hook {hook},")
        o.append(f" prio {nf.priority}" + (f" flags 0x{nf.flags:x}" if nf.flags else ""))
    elif typ in (LinkType.TCX, LinkType.NETKIT, LinkType.XDP):
        ifindex = int(i.tcx.ifindex if typ != LinkType.XDP else i.xdp.ifindex)
        name = _ifname(ifindex) if ifindex else ""
        dev = f"{name}({ifindex})" if name else ("(detached)" if not ifindex else "(unknown)")
        o.append(f"\n\tifindex {dev}  ")
        if typ != LinkType.XDP:
            o.append(f"attach_type {_attach(i.tcx.attach_type)}  ")
    elif typ == LinkType.SOCKMAP:
        o.append(f"\n\tmap_id {i.sockmap.map_id}  attach_type {_attach(i.sockmap.attach_type)}  ")
    elif typ == LinkType.KPROBE_MULTI and i.kprobe_multi.count:
        k = i.kprobe_multi
        o.append(f"\n\t{'kretprobe' if k.flags & 1 else 'kprobe'}.multi  func_cnt {k.count}  ")
        if k.missed:
            o.append(f"missed {k.missed}  ")
        o.append(f"\n\t{'addr':<16} {'cookie':<16} func [module]")
        for addr, cookie, name, mod in _kmulti(f):
            o.append(f"\n\t{addr:016x} {cookie:<16x} {name}" + (f" [{mod}]  " if mod else "  "))
    elif typ == LinkType.UPROBE_MULTI and i.uprobe_multi.count:
        u = i.uprobe_multi
        o.append(f"\n\t{'uretprobe' if u.flags & 1 else 'uprobe'}.multi  path {f.s}  func_cnt {u.count}  ")
        if u.pid:
            o.append(f"pid {u.pid}  ")
        o.append(f"\n\t{'offset':<16}   {'ref_ctr_offset':<16}   {'cookies':<16}")
        for a, b, c in zip(f.offs, f.refs, f.cookies):
            o.append(f"\n\t0x{a:<16x} 0x{b:<16x} 0x{c:<16x}")
    elif typ == LinkType.PERF_EVENT:
        o.append(_perf_plain(f))
    o.append(t.pinned_plain(i.id))
    o.append(t.pids_plain(i.id))
    o.append("\n")
    return "".join(o)


def _perf_plain(f: _Full) -> str:
    p = f.i.perf_event
    pt = int(p.type)
    if pt in (_PE_KPROBE, _PE_KRETPROBE):
        k = p.kprobe
        if not f.s and not k.addr:
            return ""
        s = f"\n\t{'kretprobe' if pt == _PE_KRETPROBE else 'kprobe'} " + (f"{k.addr:x} " if k.addr else "") + f.s
        s += (f"+{k.offset:#x}" if k.offset else "") + (f"  missed {k.missed}" if k.missed else "")
        return s + (f"  cookie {k.cookie}" if k.cookie else "") + "  "
    if pt in (_PE_UPROBE, _PE_URETPROBE):
        u = p.uprobe
        if not f.s:
            return ""
        s = f"\n\t{'uretprobe' if pt == _PE_URETPROBE else 'uprobe'} {f.s}+{u.offset:#x}  "
        s += f"cookie {u.cookie}  " if u.cookie else ""
        return s + (f"ref_ctr_offset 0x{u.ref_ctr_offset:x}  " if u.ref_ctr_offset else "")
    if pt == _PE_TRACEPOINT:
        return f"\n\ttracepoint {f.s}  " + (f"cookie {p.tracepoint.cookie}  " if p.tracepoint.cookie else "") \
            if f.s else ""
    if pt == _PE_EVENT:
        ev = p.event
        name = _PERF_TYPES.get(int(ev.type))
        cfg = _perf_config(int(ev.type), int(ev.config))
        return ("\n\tevent " + (f"{name}:" if name else f"{ev.type} :") + (f"{cfg}  " if cfg else f"{ev.config}  ")
                + (f"cookie {ev.cookie}  " if ev.cookie else ""))
    return ""


def _prog_type(prog_id: int) -> int:
    try:
        with cmds.fd_by_id("prog", int(prog_id)) as pfd:
            return int(cmds.prog_info(pfd.fd).type)
    except BPFError as e:
        raise CLIError(f"can't get prog info: {strerror(e)}") from None


def show_json(fd: int, t: ShowTables) -> dict[str, Any]:
    f = _Full(fd)
    i, typ = f.i, int(f.i.type)
    o: dict[str, Any] = {"id": int(i.id), "type": type_json(LinkType, typ), "prog_id": int(i.prog_id)}
    at = lambda v: type_json(AttachType, int(v))  # noqa: E731
    if typ == LinkType.RAW_TRACEPOINT:
        o.update(tp_name=f.s, cookie=int(i.raw_tracepoint.cookie))
    elif typ == LinkType.TRACING:
        o.update(prog_type=type_json(ProgramType, _prog_type(i.prog_id)), attach_type=at(i.tracing.attach_type),
                 target_obj_id=int(i.tracing.target_obj_id), target_btf_id=int(i.tracing.target_btf_id),
                 cookie=int(i.tracing.cookie))
    elif typ == LinkType.CGROUP:
        o.update(cgroup_id=int(i.cgroup.cgroup_id), attach_type=at(i.cgroup.attach_type))
    elif typ == LinkType.ITER:
        o["target_name"] = f.s
        if f.s in ("bpf_map_elem", "bpf_sk_storage_map"):
            o["map_id"] = int(i.iter.map_id)
        elif f.s in ("task", "task_file", "task_vma") and (i.iter.tid or i.iter.pid):
            o["tid" if i.iter.tid else "pid"] = int(i.iter.tid or i.iter.pid)
        if f.s == "cgroup":
            order = int(i.iter.order)
            o.update(cgroup_id=int(i.iter.cgroup_id),
                     order=_CGROUP_ORDER[order] if order < len(_CGROUP_ORDER) else "unknown")
    elif typ == LinkType.NETNS:
        o.update(netns_ino=int(i.netns.netns_ino), attach_type=at(i.netns.attach_type))
    elif typ == LinkType.NETFILTER:
        nf = i.netfilter
        o.update(pf=int(nf.pf), hook=int(nf.hooknum), prio=int(nf.priority), flags=int(nf.flags))
    elif typ in (LinkType.TCX, LinkType.NETKIT, LinkType.XDP):
        ifindex = int(i.tcx.ifindex if typ != LinkType.XDP else i.xdp.ifindex)
        o.update(devname=(_ifname(ifindex) or "(unknown)") if ifindex else "(detached)", ifindex=ifindex)
        if typ != LinkType.XDP:
            o["attach_type"] = at(i.tcx.attach_type)
    elif typ == LinkType.SOCKMAP:
        o.update(map_id=int(i.sockmap.map_id), attach_type=at(i.sockmap.attach_type))
    elif typ == LinkType.STRUCT_OPS:
        o["map_id"] = int(i.struct_ops.map_id)
    elif typ == LinkType.KPROBE_MULTI:
        k = i.kprobe_multi
        o.update(retprobe=bool(k.flags & 1), func_cnt=int(k.count), missed=int(k.missed))
        o["funcs"] = [{"addr": a, "func": n, "module": m or None, "cookie": c}
                      for a, c, n, m in (_kmulti(f) if k.count else [])]
    elif typ == LinkType.UPROBE_MULTI:
        u = i.uprobe_multi
        o.update(retprobe=bool(u.flags & 1), path=f.s, func_cnt=int(u.count), pid=int(u.pid))
        o["funcs"] = [{"offset": a, "ref_ctr_offset": b, "cookie": c}
                      for a, b, c in (zip(f.offs, f.refs, f.cookies) if u.count else [])]
    elif typ == LinkType.PERF_EVENT:
        o.update(_perf_json(f))
    t.pinned_json(o, i.id)
    t.pids_json(o, i.id)
    return o


def _perf_json(f: _Full) -> dict[str, Any]:
    p = f.i.perf_event
    pt = int(p.type)
    if pt in (_PE_KPROBE, _PE_KRETPROBE):
        k = p.kprobe
        return {"retprobe": pt == _PE_KRETPROBE, "addr": int(k.addr), "func": f.s, "offset": int(k.offset),
                "missed": int(k.missed), "cookie": int(k.cookie)}
    if pt in (_PE_UPROBE, _PE_URETPROBE):
        u = p.uprobe
        return {"retprobe": pt == _PE_URETPROBE, "file": f.s, "offset": int(u.offset), "cookie": int(u.cookie),
                "ref_ctr_offset": int(u.ref_ctr_offset)}
    if pt == _PE_TRACEPOINT:
        return {"tracepoint": f.s, "cookie": int(p.tracepoint.cookie)}
    if pt == _PE_EVENT:
        ev = p.event
        cfg = _perf_config(int(ev.type), int(ev.config))
        return {"event_type": _PERF_TYPES.get(int(ev.type), int(ev.type)),
                "event_config": cfg if cfg is not None else int(ev.config), "cookie": int(ev.cookie)}
    return {}


def do_show(ctx: Context, args: Args) -> int:
    t = ShowTables(ctx, "link")
    if len(args) == 2:
        with link_fd(args) as fd:
            if ctx.json:
                ctx.emit_json(show_json(fd.fd, t))
            else:
                sys.stdout.write(show_plain(fd.fd, t))
        return 0
    args.done()
    objs: list[Any] = []
    for obj_id in iter_ids("link"):
        try:
            fd = cmds.fd_by_id("link", obj_id)
        except BPFError as e:
            if e.errno == 2:
                continue
            raise CLIError(f"can't get link by id ({obj_id}): {strerror(e)}") from None
        with fd:
            objs.append(show_json(fd.fd, t) if ctx.json else show_plain(fd.fd, t))
    if ctx.json:
        ctx.emit_json(objs)
    else:
        sys.stdout.write("".join(objs))
    return 0


def do_pin(ctx: Context, args: Args) -> int:
    args.require(3)
    with link_fd(args) as fd:
        pin_fd(ctx, fd, args.next("a path"))
    if ctx.json:
        print("null")
    return 0


def do_detach(ctx: Context, args: Args) -> int:
    if len(args) != 2:
        raise CLIError("link specifier is invalid or missing", 1)
    try:
        fd = link_fd(args)
    except CLIError as e:
        raise CLIError(str(e), 1) from None
    with fd:
        try:
            cmds.link_detach(fd.fd)
        except BPFError as e:
            raise CLIError(f"failed link detach: {strerror(e)}", 1) from None
    if ctx.json:
        print("null")
    return 0


VERBS = [("show", do_show), ("list", do_show), ("help", do_show), ("pin", do_pin), ("detach", do_detach)]


def run(ctx: Context, words: list[str]) -> int:
    return select(ctx, "link", VERBS, words, HELP)
