"""BCC's static/class methods of ``BPF``: XDP, raw sockets, prog attach, discovery and feature checks."""

from __future__ import annotations

import functools
import os
import re
import socket
from typing import Any, Optional

from ..errors import BPFError, Error
from ._attach import to_str

__all__ = ["install"]


def _fn_prog(fn: Any, what: str) -> Any:
    prog = getattr(fn, "program", None)
    if prog is None:
        raise Error(f"{what}: arg 1 must be of type BPF.Function")
    return prog


def _xdp_key(ifindex: int) -> tuple[int, int]:
    try:
        return os.stat("/proc/thread-self/ns/net").st_ino, ifindex
    except OSError:
        return 0, ifindex


def attach_xdp(dev: Any, fn: Any, flags: int = 0) -> None:
    """Attach ``fn`` (loaded as BPF.XDP) to interface ``dev`` in the calling thread's network
    namespace, through netlink as BCC does: it stays attached until :func:`remove_xdp`.

    ``flags`` are ``XDP_FLAGS_*``: ``SKB_MODE``/``DRV_MODE``/``HW_MODE`` choose the mode,
    ``UPDATE_IF_NOEXIST`` refuses to replace an attached program.
    """
    from ..links import attach_xdp as _attach
    from ..links import net
    from .bpf import _xdp_attachments
    from .consts import XDPFlags

    prog = _fn_prog(fn, "attach_xdp")
    flags = int(flags)
    mode = ("skb" if flags & XDPFlags.SKB_MODE else "drv" if flags & XDPFlags.DRV_MODE
            else "hw" if flags & XDPFlags.HW_MODE else None)
    rest = flags & ~(XDPFlags.SKB_MODE | XDPFlags.DRV_MODE | XDPFlags.HW_MODE)
    name = to_str(dev)
    idx = net.nl.ifindex(name)
    key = _xdp_key(idx)
    old = _xdp_attachments.pop(key, None)
    try:
        att = _attach(prog, name, mode, flags=rest, via="netlink")
    except BaseException:
        if old is not None:
            _xdp_attachments[key] = old
        raise
    if old is not None:
        old._disown()  # replaced on the interface: drop the old handle without detaching the new program
    _xdp_attachments[key] = att


def remove_xdp(dev: Any, flags: int = 0) -> None:
    """Remove the XDP program from interface ``dev`` (in the calling thread's network namespace)."""
    from ..links import net
    from .bpf import _xdp_attachments

    name = to_str(dev)
    idx = net.nl.ifindex(name)
    att = _xdp_attachments.pop(_xdp_key(idx), None)
    if att is not None:
        att.close()
        return
    net.nl.xdp_set(idx, -1, int(flags))


def attach_func(fn: Any, attachable_fd: int, attach_type: int, flags: int = 0) -> None:
    """BPF_PROG_ATTACH ``fn`` to ``attachable_fd`` (a cgroup, sockmap...) with ``attach_type``."""
    from .._sys import cmds

    try:
        cmds.prog_attach(int(_fn_prog(fn, "attach_func").fd), int(attachable_fd), int(attach_type), int(flags))
    except BPFError as e:
        raise Error(f"Failed to attach BPF function with attach_type {attach_type}: {os.strerror(e.errno or 0)}"
                    ) from e


def detach_func(fn: Any, attachable_fd: int, attach_type: int) -> None:
    """BPF_PROG_DETACH ``fn`` from ``attachable_fd``."""
    from .._sys import cmds

    try:
        cmds.prog_detach(int(attachable_fd), int(attach_type), int(_fn_prog(fn, "detach_func").fd))
    except BPFError as e:
        raise Error(f"Failed to detach BPF function with attach_type {attach_type}: {os.strerror(e.errno or 0)}"
                    ) from e


def attach_raw_socket(fn: Any, dev: Any) -> None:
    """Open a raw AF_PACKET socket on ``dev`` with ``fn`` (BPF.SOCKET_FILTER) as its filter; the socket's
    fd is ``fn.sock`` (and the socket object ``fn.socket``)."""
    from ..links import attach_socket

    prog = _fn_prog(fn, "attach_raw_socket")
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                      socket.htons(0x0003))
    try:
        name = to_str(dev)
        if name:
            s.bind((name, 0x0003))
        fn.filter = attach_socket(prog, s)
    except BaseException:
        s.close()
        raise
    fn.socket = s
    fn.sock = s.fileno()


def get_kprobe_functions(event_re: Any) -> set[bytes]:
    """Kernel functions matching regex ``event_re`` that kprobes could attach to (as bytes); none
    on a kernel without kprobes, so tools that check first take their tracepoint paths."""
    from .._sys.fs import find_tracefs
    from ..links.kprobe import kprobes_available

    if not kprobes_available()[0]:
        return set()

    pat = re.compile(event_re if isinstance(event_re, bytes) else to_str(event_re).encode())
    avail: Optional[set[bytes]] = None
    try:
        with open(os.path.join(find_tracefs(), "available_filter_functions"), "rb") as f:
            avail = {ln.split()[0] for ln in f if ln.strip()}
    except (OSError, Error):
        pass
    out = set()
    with open("/proc/kallsyms", "rb") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[1].lower() not in (b"t", b"w"):
                continue
            name = parts[2]
            if name.startswith((b"_kbl_addr_", b"__perf", b"perf_", b"__SCT__")) or re.search(rb"\.cold(\.\d+)?$", name):
                continue
            if pat.fullmatch(name) and (avail is None or name in avail):
                out.add(name)
    return out


def get_tracepoints(tp_re: Any) -> list[bytes]:
    """Tracepoints ``b"category:event"`` matching regex ``tp_re``."""
    from .._sys.fs import find_tracefs

    pat = re.compile(to_str(tp_re))
    root = os.path.join(find_tracefs(), "events")
    out = []
    for cat in sorted(os.listdir(root)):
        d = os.path.join(root, cat)
        if not os.path.isdir(d):
            continue
        for ev in sorted(os.listdir(d)):
            name = f"{cat}:{ev}"
            if os.path.isdir(os.path.join(d, ev)) and pat.fullmatch(name):
                out.append(name.encode())
    return out


def tracepoint_exists(category: Any, event: Any) -> bool:
    from .._sys.fs import find_tracefs

    return os.path.isdir(os.path.join(find_tracefs(), "events", to_str(category), to_str(event)))


@functools.lru_cache(maxsize=None)
def support_raw_tracepoint() -> bool:
    """Raw tracepoints are usable (Linux 4.17+)."""
    from .._sys.consts import ProgramType
    from ..features import program_type_status

    try:
        return bool(program_type_status(ProgramType.RAW_TRACEPOINT)[0])
    except Exception:  # noqa: BLE001
        return os.path.exists("/sys/kernel/btf/vmlinux")


def support_raw_tracepoint_in_module() -> bool:
    return support_raw_tracepoint() and os.path.isdir("/sys/kernel/btf")


@functools.lru_cache(maxsize=None)
def _attach_ok(prog_type: str, attach: str) -> bool:
    from .._sys.consts import AttachType, ProgramType
    from ..features import attach_type_status

    try:
        return bool(attach_type_status(ProgramType[prog_type], AttachType[attach])[0])
    except Exception:  # noqa: BLE001
        return False


def support_kfunc() -> bool:
    """fentry/fexit programs can be loaded here (BPF trampolines available)."""
    return _attach_ok("TRACING", "TRACE_FENTRY")


def support_fmod_ret() -> bool:
    return _attach_ok("TRACING", "MODIFY_RETURN")


def support_lsm() -> bool:
    """BPF LSM programs can be loaded here."""
    return _attach_ok("LSM", "LSM_MAC")


def kernel_struct_has_field(struct_name: Any, field_name: Any) -> int:
    """1 if kernel ``struct struct_name`` has member ``field_name``, 0 if not, -1 without kernel BTF."""
    from ..btf import BTF
    from ..btf.types import Kind

    try:
        btf = BTF.load_vmlinux()
    except Exception:  # noqa: BLE001
        return -1
    for t in btf.find_all(to_str(struct_name), Kind.STRUCT):
        return int(any(m.name == to_str(field_name) for m in t.members))  # type: ignore[attr-defined]
    return 0


def kernel_enum_has_val(enum_name: Any, value_name: Any) -> int:
    from ..btf import BTF
    from ..btf.types import Kind

    try:
        btf = BTF.load_vmlinux()
    except Exception:  # noqa: BLE001
        return -1
    for kind in (Kind.ENUM, Kind.ENUM64):
        for t in btf.find_all(to_str(enum_name), kind):
            return int(any(v.name == to_str(value_name) for v in t.values))  # type: ignore[attr-defined]
    return 0


def get_user_functions_and_addresses(name: Any, sym_re: Any) -> list[tuple[bytes, int]]:
    """(function name, virtual address) of the functions of binary ``name`` matching regex ``sym_re``."""
    from ..links._elfsym import _iter_funcs, _open_elf, resolve_binary

    pat = re.compile(to_str(sym_re))
    elf = _open_elf(resolve_binary(to_str(name)))
    try:
        out: dict[str, int] = {}
        for n, sym, *_ in _iter_funcs(elf):
            if pat.match(n) and sym["st_value"]:
                out.setdefault(n, int(sym["st_value"]))
        return [(n.encode(), a) for n, a in sorted(out.items())]
    finally:
        elf.stream.close()


def get_user_functions(name: Any, sym_re: Any) -> set[str]:
    return {n.decode() for n, _ in get_user_functions_and_addresses(name, sym_re)}


def get_user_addresses(name: Any, sym_re: Any) -> set[int]:
    return {a for _, a in get_user_functions_and_addresses(name, sym_re)}


def get_probe_limit() -> int:
    v = os.environ.get("BCC_PROBE_LIMIT", "")
    return int(v) if v.isdigit() else 1000


def generate_auto_includes(program_words: Any) -> str:
    """BCC's ``#include`` lines for the kernel types a program's words name: none are needed
    here (vmlinux.h, generated from the kernel's BTF, declares every kernel type)."""
    return ""


def install(cls: Any) -> None:
    """Make the functions above static methods of ``cls`` (``BPF.attach_xdp(...)`` as in BCC)."""
    for f in (attach_xdp, remove_xdp, attach_func, detach_func, attach_raw_socket, get_kprobe_functions,
              get_tracepoints, tracepoint_exists, support_raw_tracepoint, support_raw_tracepoint_in_module,
              support_kfunc, support_fmod_ret, support_lsm, kernel_struct_has_field, kernel_enum_has_val,
              get_user_functions_and_addresses, get_user_functions, get_user_addresses, get_probe_limit,
              generate_auto_includes):
        setattr(cls, f.__name__, staticmethod(f))
