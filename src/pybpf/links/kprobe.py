"""Kernel probes: kprobe / kretprobe / ksyscall (perf PMU or tracefs) and kprobe_multi.

* :func:`attach_kprobe` — ``BPF_PROG_TYPE_KPROBE`` on a kernel function: the
  "kprobe" PMU (4.17+; ``config1`` = function name, ``config2`` = offset or
  address, ``retprobe`` format bit) or, without it (or with ``maxactive``),
  a ``<tracefs>/kprobe_events`` entry such as ``p:pybpf/p_do_sys_open_0
  do_sys_open`` (4.1+); bpf_link + cookie on 5.15+.
* :func:`attach_ksyscall` — a syscall's entry function, with the arch wrapper
  prefix (``__x64_sys_``, ``__arm64_sys_``, ...) found in ``/proc/kallsyms``.
* :func:`attach_kprobe_multi` — many functions in one ``BPF_LINK_CREATE``
  (``BPF_TRACE_KPROBE_MULTI``, 5.18+, needs CONFIG_FPROBE); load the program
  with ``expected_attach_type=AttachType.TRACE_KPROBE_MULTI``.

Kernels built without CONFIG_KPROBES (or CONFIG_FPROBE for multi) raise
:class:`~pybpf.errors.NotSupportedError` saying so, before any syscall.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import fnmatch
import functools
import os
from typing import Any, Sequence

from .._sys import cmds, perf
from .._sys.attrs import LinkCreateAttr
from .._sys.consts import AttachType, LinkType, ProgramType
from ..errors import BPFError, Error, NotFoundError, NotSupportedError
from .link import Link, prog_fd_of, register_link_type
from .perf_event import (PerfEventLink, add_dynamic_event, dynamic_event_name, open_perf_link,
                         open_tracepoint_event, pmu_format_bit, pmu_type, remove_dynamic_event)

__all__ = ["KprobeOptions", "KprobeMultiOptions", "KprobeMultiLink", "attach_kprobe", "attach_kretprobe",
           "attach_ksyscall", "attach_kprobe_multi", "kprobes_available", "kprobe_multi_available",
           "syscall_prefix", "kprobe_perf_attr", "tracefs_kprobe_command", "kprobe_multi_attr"]

KPROBE_MULTI_RETURN = 1  # BPF_F_KPROBE_MULTI_RETURN
NO_KPROBES = "CONFIG_KPROBES is not set: no kprobe PMU and no kprobe_events in tracefs"


def _tracefs_file(name: str) -> str | None:
    try:
        from .._sys.fs import find_tracefs

        p = os.path.join(find_tracefs(), name)
    except Error:
        return None
    return p if os.path.exists(p) else None


def kprobes_available() -> tuple[bool, str]:
    """(usable, reason): the kernel has the kprobe PMU or tracefs kprobe_events (CONFIG_KPROBES)."""
    if pmu_type("kprobe") is not None or _tracefs_file("kprobe_events") is not None:
        return True, ""
    return False, NO_KPROBES


@functools.lru_cache(maxsize=None)
def kprobe_multi_available() -> tuple[bool, str]:
    """(usable, reason): BPF_TRACE_KPROBE_MULTI links work (5.18+, CONFIG_FPROBE).

    Probes with an empty LINK_CREATE: EINVAL (cnt = 0 rejected) means the
    attach path exists, EOPNOTSUPP that fprobe support is compiled out.
    """
    from ..prog import Program
    from .. import asm

    try:
        p = Program.load(ProgramType.KPROBE, [asm.mov(asm.R0, 0), asm.exit_()],
                         expected_attach_type=AttachType.TRACE_KPROBE_MULTI)
    except Error as e:
        return False, f"kprobe programs with BPF_TRACE_KPROBE_MULTI cannot be loaded: {e}"
    with p:
        try:
            cmds.link_create(kprobe_multi_attr(p.fd, 0, None, None, None)).close()
            return True, ""
        except BPFError as e:
            if e.errno == errno.EINVAL:
                return True, ""
            if e.errno in (errno.EOPNOTSUPP, 524):
                return False, "CONFIG_FPROBE is not set: the kernel has no kprobe_multi (fprobe) support"
            return False, f"BPF_LINK_CREATE(kprobe_multi) failed: {e}"


_ARCH_PREFIX = {"x86_64": "x64", "i686": "ia32", "aarch64": "arm64", "arm64": "arm64", "s390x": "s390x",
                "riscv64": "riscv", "ppc64le": "powerpc", "loongarch64": "loongarch"}


@functools.lru_cache(maxsize=None)
def syscall_prefix(kallsyms: str = "/proc/kallsyms") -> str:
    """The syscall entry prefix: ``__x64_sys_`` etc. when the kernel has syscall wrappers, else ``sys_``."""
    arch = _ARCH_PREFIX.get(os.uname().machine, "")
    want = f"__{arch}_sys_bpf" if arch else ""
    try:
        with open(kallsyms) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == want:
                    return f"__{arch}_sys_"
    except OSError:
        pass
    return "sys_"


@dataclasses.dataclass
class KprobeOptions:
    """Options of :func:`attach_kprobe` (cilium/ebpf ``KprobeOptions``)."""

    offset: int = 0
    retprobe: bool = False
    cookie: int = 0
    maxactive: int = 0
    addr: int = 0
    force_tracefs: bool = False


def kprobe_perf_attr(pmu: int, name_buf: Any, offset: int = 0, *, retprobe: bool = False, retprobe_bit: int = 0,
                     addr: int = 0) -> perf.PerfEventAttr:
    """perf_event_attr for the kprobe PMU: ``config1`` = name pointer (or 0), ``config2`` = offset (or addr)."""
    a = perf.PerfEventAttr(type=pmu)
    a.config = (1 << retprobe_bit) if retprobe else 0
    if name_buf is not None:
        a.config1 = ctypes.addressof(name_buf)
        a.config2 = offset
    else:
        a.config1 = 0
        a.config2 = addr + offset
    return a


def tracefs_kprobe_command(event: str, func: str | None, offset: int = 0, *, retprobe: bool = False,
                           maxactive: int = 0, addr: int = 0, group: str = "pybpf") -> str:
    """The ``kprobe_events`` line, e.g. ``p:pybpf/p_do_sys_open_0 do_sys_open`` / ``r16:pybpf/ev f+0x4``."""
    kind = ("r" + (str(maxactive) if maxactive else "")) if retprobe else "p"
    where = (func or f"0x{addr:x}") + (f"+0x{offset:x}" if offset else "")
    return f"{kind}:{group}/{event} {where}"


def attach_kprobe(prog: Any, symbol: str | None, offset: int = 0, *, retprobe: bool = False, cookie: int = 0,
                  maxactive: int = 0, addr: int = 0, force_tracefs: bool = False) -> PerfEventLink:
    """Run a kprobe program at kernel function ``symbol`` (+``offset``), or at ``addr``.

    Minimum kernel 4.1 (tracefs ``kprobe_events``); the kprobe PMU is used on
    4.17+, ``addr`` needs the PMU (4.17+) and ``cookie`` a perf bpf_link (5.15+).
    ``maxactive`` (kretprobes, tracefs path only) bounds concurrent
    instances; ``force_tracefs`` skips the PMU. Raises :class:`NotSupportedError`
    when the kernel has no kprobes (CONFIG_KPROBES) and :class:`NotFoundError`
    naming an unknown function.
    """
    ok, why = kprobes_available()
    if not ok:
        raise NotSupportedError("kprobes", why)
    if not symbol and not addr:
        raise Error("attach_kprobe needs a symbol or an addr")
    o = KprobeOptions(offset=offset, retprobe=retprobe, cookie=cookie, maxactive=maxactive, addr=addr,
                      force_tracefs=force_tracefs)
    target = (symbol or f"0x{addr:x}") + (f"+0x{offset:x}" if offset else "")
    kind = "kretprobe" if retprobe else "kprobe"
    pmu = pmu_type("kprobe")
    if pmu is not None and not o.force_tracefs and not o.maxactive:
        bit = pmu_format_bit("kprobe", "retprobe")
        buf = ctypes.create_string_buffer(symbol.encode()) if symbol else None
        attr = kprobe_perf_attr(pmu, buf, offset, retprobe=retprobe, retprobe_bit=bit or 0, addr=addr)
        try:
            fd = perf.open_event(attr, pid=-1, cpu=0)
        except NotSupportedError:  # ENOENT / EOPNOTSUPP from perf_event_open
            raise NotFoundError(errno.ENOENT, f"{kind} {target}", "no such kernel function (or it is not "
                                "probeable: see /sys/kernel/debug/kprobes/blacklist)") from None
        except BPFError as e:
            if e.errno == errno.EINVAL and offset:
                raise BPFError(e.errno, f"{kind} {target}", "offset is not an instruction boundary") from None
            raise
        return open_perf_link(prog, fd, cookie=cookie, kind=kind, target=target)
    if _tracefs_file("kprobe_events") is None:
        raise NotSupportedError("kprobes", "no kprobe_events in tracefs" if pmu is not None else NO_KPROBES)
    event = dynamic_event_name("r" if retprobe else "p", symbol or f"0x{addr:x}", offset)
    try:
        tp = add_dynamic_event("kprobe", tracefs_kprobe_command(event, symbol, offset, retprobe=retprobe,
                                                                maxactive=maxactive, addr=addr), event)
    except BPFError as e:
        raise NotFoundError(e.errno or errno.ENOENT, f"{kind} {target}", e.hint) from None

    def cleanup() -> None:
        remove_dynamic_event("kprobe", event)
    try:
        fd = open_tracepoint_event(tp)
    except BaseException:
        cleanup()
        raise
    return open_perf_link(prog, fd, cookie=cookie, kind=kind, target=target, cleanup=cleanup)


def attach_kretprobe(prog: Any, symbol: str, **kw: Any) -> PerfEventLink:
    """:func:`attach_kprobe` with ``retprobe=True`` (4.1+)."""
    return attach_kprobe(prog, symbol, retprobe=True, **kw)


def attach_ksyscall(prog: Any, syscall: str, *, retprobe: bool = False, cookie: int = 0) -> PerfEventLink:
    """kprobe on syscall ``syscall`` (e.g. ``"openat"``) through its arch wrapper (``__x64_sys_openat``).

    Minimum kernel 4.1 (as :func:`attach_kprobe`; the arch wrappers appeared in
    4.17 and are found in ``/proc/kallsyms``, else ``sys_<name>`` is probed);
    ``cookie`` needs 5.15+.
    """
    ok, why = kprobes_available()
    if not ok:
        raise NotSupportedError("kprobes", why)
    return attach_kprobe(prog, syscall_prefix() + syscall, retprobe=retprobe, cookie=cookie)


# ---------------------------------------------------------------- kprobe_multi
@register_link_type
class KprobeMultiLink(Link):
    """A ``BPF_LINK_TYPE_KPROBE_MULTI`` link (5.18+)."""

    link_type = LinkType.KPROBE_MULTI


@dataclasses.dataclass
class KprobeMultiOptions:
    """Options of :func:`attach_kprobe_multi`: ``symbols`` or ``addresses``, per-probe ``cookies``."""

    symbols: Sequence[str] | None = None
    addresses: Sequence[int] | None = None
    cookies: Sequence[int] | None = None
    retprobe: bool = False


def kprobe_multi_attr(prog_fd: int, cnt: int, syms: Any, addrs: Any, cookies: Any, *,
                      retprobe: bool = False) -> LinkCreateAttr:
    """LINK_CREATE attr for BPF_TRACE_KPROBE_MULTI (``syms``: ctypes char* array; arrays kept alive by caller)."""
    a = LinkCreateAttr(prog_fd=prog_fd, attach_type=int(AttachType.TRACE_KPROBE_MULTI))
    k = a.kprobe_multi
    k.flags = KPROBE_MULTI_RETURN if retprobe else 0
    k.cnt = cnt
    k.syms = ctypes.addressof(syms) if syms is not None else 0
    k.addrs = ctypes.addressof(addrs) if addrs is not None else 0
    k.cookies = ctypes.addressof(cookies) if cookies is not None else 0
    return a


def _match_pattern(pattern: str) -> list[str]:
    path = _tracefs_file("available_filter_functions")
    if path is None:
        raise NotSupportedError("kprobe_multi patterns", "no available_filter_functions in tracefs")
    out: set[str] = set()
    with open(path) as f:
        for line in f:
            name = line.split()[0] if line.strip() else ""
            if name and fnmatch.fnmatchcase(name, pattern) and not name.startswith("__ftrace_invalid_address__"):
                out.add(name)
    return sorted(out)


def attach_kprobe_multi(prog: Any, symbols: Sequence[str] | None = None, *, pattern: str | None = None,
                        addresses: Sequence[int] | None = None, cookies: Sequence[int] | None = None,
                        retprobe: bool = False) -> KprobeMultiLink:
    """Attach one program to many kernel functions (5.18+, CONFIG_FPROBE).

    Give ``symbols``, a glob ``pattern`` matched against
    ``available_filter_functions``, or raw ``addresses``.
    """
    ok, why = kprobes_available()
    if not ok:
        raise NotSupportedError("kprobes", why)
    ok, why = kprobe_multi_available()
    if not ok:
        raise NotSupportedError("kprobe_multi links", why)
    if sum(x is not None for x in (symbols, pattern, addresses)) != 1:
        raise Error("attach_kprobe_multi needs exactly one of symbols, pattern, addresses")
    names = list(symbols) if symbols is not None else _match_pattern(pattern) if pattern is not None else None
    n = len(names) if names is not None else len(addresses or [])
    if n == 0:
        raise NotFoundError(errno.ENOENT, "kprobe_multi", f"no kernel function matches {pattern or symbols!r}")
    if cookies is not None and len(cookies) != n:
        raise Error(f"cookies must have {n} entries (one per function)")
    keep: list[Any] = []
    syms = addrs = cks = None
    if names is not None:
        keep = [ctypes.create_string_buffer(s.encode()) for s in names]
        syms = (ctypes.c_char_p * n)(*[ctypes.cast(b, ctypes.c_char_p) for b in keep])
    else:
        addrs = (ctypes.c_uint64 * n)(*addresses)  # type: ignore[misc]
    if cookies is not None:
        cks = (ctypes.c_uint64 * n)(*cookies)
    try:
        fd = cmds.link_create(kprobe_multi_attr(prog_fd_of(prog), n, syms, addrs, cks, retprobe=retprobe))
    except BPFError as e:
        if e.errno == errno.ESRCH or e.errno == errno.ENOENT:
            raise NotFoundError(e.errno, "kprobe_multi", f"a function of {names or 'addresses'} is unknown or not "
                                "traceable") from None
        raise
    del keep
    what = pattern or ",".join(names or [hex(a) for a in addresses or []])
    return KprobeMultiLink(fd, kind="kretprobe_multi" if retprobe else "kprobe_multi", target=what, program=prog)
