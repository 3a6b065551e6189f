"""User-space probes: uprobe / uretprobe (perf PMU or tracefs) and uprobe_multi.

* :func:`attach_uprobe` — ``BPF_PROG_TYPE_KPROBE`` program on a user
  function: the "uprobe" PMU (4.17+; ``perf_event_attr.config1`` = path,
  ``config2`` = file offset, the ``retprobe`` format bit, ref_ctr_offset in
  ``config[63:32]`` 4.20+), falling back to ``<tracefs>/uprobe_events``
  (4.1+) when the PMU is absent; a bpf_link with cookie on 5.15+.
* :func:`attach_uprobe_multi` — many offsets of one binary in one
  ``BPF_LINK_CREATE`` (``BPF_TRACE_UPROBE_MULTI``, 6.6+); the program must be
  loaded with ``expected_attach_type=AttachType.TRACE_UPROBE_MULTI``.

Binaries are paths or names (``"libc.so.6"``); functions are symbol names
(``"malloc"``, ``"memcpy@@GLIBC_2.14"``, ``"func+0x4"``) or ``None`` with an
absolute file ``offset``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
from typing import Any, Sequence

from .._sys import cmds, perf
from .._sys.attrs import LinkCreateAttr
from .._sys.consts import AttachType, LinkType
from .._sys.syscall import FD
from ..errors import BPFError, Error, NotSupportedError
from . import _elfsym
from .link import Link, prog_fd_of, register_link_type
from .perf_event import (PerfEventLink, add_dynamic_event, dynamic_event_name, open_perf_link,
                         open_tracepoint_event, pmu_format_bit, pmu_type, remove_dynamic_event)

__all__ = ["UprobeOptions", "UprobeMultiOptions", "UprobeMultiLink", "attach_uprobe", "attach_uretprobe",
           "attach_uprobe_multi", "uprobes_available", "uprobe_perf_attr", "tracefs_uprobe_command",
           "uprobe_multi_attr", "resolve_offset"]

REF_CTR_OFFSET_SHIFT = 32
UPROBE_MULTI_RETURN = 1  # BPF_F_UPROBE_MULTI_RETURN


def uprobes_available() -> tuple[bool, str]:
    """(usable, reason): the uprobe PMU or tracefs uprobe_events exists (CONFIG_UPROBE_EVENTS)."""
    if pmu_type("uprobe") is not None:
        return True, ""
    try:
        from .._sys.fs import find_tracefs

        if os.path.exists(os.path.join(find_tracefs(), "uprobe_events")):
            return True, ""
    except Error:
        pass
    return False, "CONFIG_UPROBE_EVENTS is not set: no uprobe PMU and no uprobe_events in tracefs"


@dataclasses.dataclass
class UprobeOptions:
    """Options of :func:`attach_uprobe` (cilium/ebpf ``UprobeOptions``)."""

    offset: int = 0
    retprobe: bool = False
    pid: int | None = None
    ref_ctr_offset: int = 0
    cookie: int = 0
    force_tracefs: bool = False


def resolve_offset(binary: str, symbol: str | None, offset: int = 0) -> tuple[str, int]:
    """(absolute path, file offset): ``symbol`` (``name``, ``name@VER``, ``name+0x10``) plus ``offset``."""
    path = _elfsym.resolve_binary(binary)
    if symbol is None:
        return path, offset
    return path, _elfsym.symbol_offset(path, symbol) + offset


def uprobe_perf_attr(pmu: int, path_buf: Any, offset: int, *, retprobe: bool = False, retprobe_bit: int = 0,
                     ref_ctr_offset: int = 0) -> perf.PerfEventAttr:
    """perf_event_attr for the uprobe PMU (``path_buf``: a ctypes string kept alive by the caller)."""
    a = perf.PerfEventAttr(type=pmu)
    a.config = (1 << retprobe_bit if retprobe else 0) | ((ref_ctr_offset & 0xFFFFFFFF) << REF_CTR_OFFSET_SHIFT)
    a.config1 = ctypes.addressof(path_buf)
    a.config2 = offset
    return a


def tracefs_uprobe_command(event: str, path: str, offset: int, *, retprobe: bool = False, ref_ctr_offset: int = 0,
                           group: str = "pybpf") -> str:
    """The ``uprobe_events`` line, e.g. ``p:pybpf/ev /bin/bash:0x4a0`` (``(0xREF)`` for a semaphore)."""
    ref = f"(0x{ref_ctr_offset:x})" if ref_ctr_offset else ""
    return f"{'r' if retprobe else 'p'}:{group}/{event} {path}:0x{offset:x}{ref}"


def _pid_cpu(pid: int | None) -> tuple[int, int]:
    p = -1 if pid is None or pid < 0 else pid
    return p, (0 if p == -1 else -1)


def _open_uprobe(path: str, offset: int, o: UprobeOptions, target: str) -> tuple[FD, Any]:
    pmu = None if o.force_tracefs else pmu_type("uprobe")
    pid, cpu = _pid_cpu(o.pid)
    if pmu is not None:
        bit = pmu_format_bit("uprobe", "retprobe")
        if o.retprobe and bit is None:
            raise NotSupportedError("uretprobes via the uprobe PMU", "no retprobe format bit")
        if o.ref_ctr_offset and pmu_format_bit("uprobe", "ref_ctr_offset") is None:
            raise NotSupportedError("uprobe semaphores (ref_ctr_offset)", "need Linux 4.20+")
        buf = ctypes.create_string_buffer(path.encode())
        attr = uprobe_perf_attr(pmu, buf, offset, retprobe=o.retprobe, retprobe_bit=bit or 0,
                                ref_ctr_offset=o.ref_ctr_offset)
        try:
            return perf.open_event(attr, pid=pid, cpu=cpu), None
        except BPFError as e:
            raise _uprobe_error(e, target) from None
        except NotSupportedError as e:
            raise NotSupportedError(f"uprobe {target}", e.detail) from None
    ok, why = uprobes_available()
    if not ok:
        raise NotSupportedError("uprobes", why)
    event = dynamic_event_name("r" if o.retprobe else "p", path.rsplit("/", 1)[-1], offset)
    tp = add_dynamic_event("uprobe", tracefs_uprobe_command(event, path, offset, retprobe=o.retprobe,
                                                            ref_ctr_offset=o.ref_ctr_offset), event)

    def cleanup() -> None:
        remove_dynamic_event("uprobe", event)
    try:
        return open_tracepoint_event(tp, pid=pid, cpu=cpu), cleanup
    except BaseException:
        cleanup()
        raise


def _uprobe_error(e: BPFError, target: str) -> BPFError:
    hint = {errno.EINVAL: "the offset is not an instruction boundary in an executable mapping, or a bad "
                          "ref_ctr_offset", errno.ENOENT: "the file does not exist",
            errno.ESRCH: "no such process (pid)"}.get(e.errno or 0, e.hint)
    return BPFError(e.errno or errno.EINVAL, "perf_event_open(uprobe)", f"{target}: {hint}" if hint else target)


def attach_uprobe(prog: Any, binary: str, symbol: str | None = None, *, retprobe: bool = False,
                  pid: int | None = None, offset: int = 0, ref_ctr_offset: int = 0, cookie: int = 0,
                  force_tracefs: bool = False) -> PerfEventLink:
    """Run ``prog`` (``BPF_PROG_TYPE_KPROBE``) when ``binary``'s ``symbol`` (+``offset``) executes.

    Minimum kernel 4.1 (tracefs ``uprobe_events``); the uprobe PMU is used on
    4.17+ (``force_tracefs`` skips it), ``ref_ctr_offset`` needs 4.20+ and
    ``cookie`` a perf bpf_link (5.15+).

    ``symbol=None`` makes ``offset`` an absolute file offset. ``pid`` limits
    the probe to one process (default: every process mapping the file).
    ``ref_ctr_offset`` is a USDT semaphore's file offset (the kernel bumps it
    while the probe exists). Raises :class:`SymbolNotFoundError` naming the
    symbol and the binary, :class:`~pybpf.errors.NotFoundError` naming a
    missing binary.
    """
    o = UprobeOptions(offset=offset, retprobe=retprobe, pid=pid, ref_ctr_offset=ref_ctr_offset, cookie=cookie,
                      force_tracefs=force_tracefs)
    path, off = resolve_offset(binary, symbol, offset)
    target = f"{path}:{symbol or ''}" + (f"+0x{offset:x}" if offset else "") if symbol else f"{path}:0x{off:x}"
    fd, cleanup = _open_uprobe(path, off, o, target)
    return open_perf_link(prog, fd, cookie=cookie, kind="uretprobe" if retprobe else "uprobe", target=target,
                          cleanup=cleanup)


def attach_uretprobe(prog: Any, binary: str, symbol: str | None = None, **kw: Any) -> PerfEventLink:
    """:func:`attach_uprobe` with ``retprobe=True`` (4.1+)."""
    return attach_uprobe(prog, binary, symbol, retprobe=True, **kw)


# -------------------------------------------------------------- uprobe_multi
@register_link_type
class UprobeMultiLink(Link):
    """A ``BPF_LINK_TYPE_UPROBE_MULTI`` link (6.6+)."""

    link_type = LinkType.UPROBE_MULTI


@dataclasses.dataclass
class UprobeMultiOptions:
    """Options of :func:`attach_uprobe_multi`: per-probe ``cookies`` and ``ref_ctr_offsets``."""

    cookies: Sequence[int] | None = None
    ref_ctr_offsets: Sequence[int] | None = None
    retprobe: bool = False
    pid: int = 0


def uprobe_multi_attr(prog_fd: int, path_buf: Any, offsets: Any, cnt: int, *, cookies: Any = None,
                      ref_ctr_offsets: Any = None, retprobe: bool = False, pid: int = 0) -> LinkCreateAttr:
    """LINK_CREATE attr for BPF_TRACE_UPROBE_MULTI (arrays are ctypes u64 arrays kept alive by the caller)."""
    a = LinkCreateAttr(prog_fd=prog_fd, attach_type=int(AttachType.TRACE_UPROBE_MULTI))
    u = a.uprobe_multi
    u.path = ctypes.addressof(path_buf)
    u.offsets = ctypes.addressof(offsets)
    u.ref_ctr_offsets = ctypes.addressof(ref_ctr_offsets) if ref_ctr_offsets is not None else 0
    u.cookies = ctypes.addressof(cookies) if cookies is not None else 0
    u.cnt = cnt
    u.flags = UPROBE_MULTI_RETURN if retprobe else 0
    u.pid = pid if pid and pid > 0 else 0
    return a


def attach_uprobe_multi(prog: Any, binary: str, symbols: Sequence[str] | None = None, *,
                        offsets: Sequence[int] | None = None, cookies: Sequence[int] | None = None,
                        ref_ctr_offsets: Sequence[int] | None = None, retprobe: bool = False,
                        pid: int | None = None) -> UprobeMultiLink:
    """Attach one program to many functions/offsets of ``binary`` at once (6.6+).

    Give ``symbols`` (resolved like :func:`attach_uprobe`) or absolute file
    ``offsets`` (or both: offsets are then added to each symbol's offset).
    ``cookies``/``ref_ctr_offsets`` are per probe.
    """
    path = _elfsym.resolve_binary(binary)
    if symbols:
        offs = [_elfsym.symbol_offset(path, s) for s in symbols]
        if offsets:
            if len(offsets) != len(offs):
                raise Error("offsets must have one entry per symbol")
            offs = [a + b for a, b in zip(offs, offsets)]
    elif offsets:
        offs = list(offsets)
    else:
        raise Error("attach_uprobe_multi needs symbols or offsets")
    n = len(offs)
    for name, seq in (("cookies", cookies), ("ref_ctr_offsets", ref_ctr_offsets)):
        if seq is not None and len(seq) != n:
            raise Error(f"{name} must have {n} entries (one per probe)")
    u64n = ctypes.c_uint64 * n
    keep = [ctypes.create_string_buffer(path.encode()), u64n(*offs),
            u64n(*cookies) if cookies else None, u64n(*ref_ctr_offsets) if ref_ctr_offsets else None]
    attr = uprobe_multi_attr(prog_fd_of(prog), keep[0], keep[1], n, cookies=keep[2], ref_ctr_offsets=keep[3],
                             retprobe=retprobe, pid=pid or 0)
    try:
        fd = cmds.link_create(attr)
    except BPFError as e:
        if e.errno in (errno.EINVAL, errno.EOPNOTSUPP, 524) and not _has_uprobe_multi_type():
            raise NotSupportedError("uprobe_multi links", "need Linux 6.6+ (BPF_TRACE_UPROBE_MULTI)") from None
        if e.errno == errno.EINVAL:
            raise BPFError(e.errno, e.command, f"uprobe_multi on {path}: load the program with expected_attach_type="
                           "TRACE_UPROBE_MULTI; offsets must be instruction boundaries") from None
        if e.errno == errno.ESRCH:
            raise BPFError(e.errno, e.command, f"no process with pid {pid}") from None
        raise
    what = ",".join(symbols) if symbols else ",".join(hex(x) for x in offs)
    return UprobeMultiLink(fd, kind="uretprobe_multi" if retprobe else "uprobe_multi", target=f"{path}:{what}",
                           program=prog)


def _has_uprobe_multi_type() -> bool:
    """The kernel knows uprobe_multi links (its BTF has struct bpf_uprobe_multi_link)."""
    try:
        from ..btf import BTF

        BTF.load_vmlinux().find("bpf_uprobe_multi_link", "struct")
        return True
    except Exception:
        return False
