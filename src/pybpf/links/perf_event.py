"""Perf-event based attachments: the shared :class:`PerfEventLink` and ``attach_perf_event``.

Tracepoints, kprobes and uprobes (single-probe API) and perf sampling events
all run a BPF program from a perf event fd:

* Linux 5.15+: ``BPF_LINK_CREATE`` with ``attach_type = BPF_PERF_EVENT``
  gives a real bpf_link (id, pinning, ``bpf_link_info.perf_event``) and
  carries a ``bpf_cookie`` (``bpf_get_attach_cookie()``);
* older kernels (4.1+ for kprobes, 4.7 tracepoints, 4.9 perf events):
  ``PERF_EVENT_IOC_SET_BPF`` on the perf fd; no cookie, no pinning.

Either way the perf event is enabled with ``PERF_EVENT_IOC_ENABLE`` and the
returned :class:`PerfEventLink` holds both fds. When neither ``cpu`` nor
``pid`` narrows a sampling event it is opened on every online CPU and the
result is a :class:`~pybpf.links.link.MultiLink` of per-CPU links.

This module also has the tracefs "dynamic event" helpers the legacy kprobe
and uprobe paths share (``kprobe_events`` / ``uprobe_events``).
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import itertools
import os
import threading
from typing import Any, Callable

from .._sys import cmds, perf
from .._sys.attrs import LinkCreateAttr
from .._sys.consts import AttachType, LinkType, PerfEventType
from .._sys.cpu import online_cpus
from .._sys.info import LinkInfo as _RawLinkInfo
from .._sys.syscall import FD
from ..errors import BPFError, Error, NotSupportedError
from .link import Link, MultiLink, prog_fd_of, register_link_type

__all__ = ["PerfEventLink", "PerfEventOptions", "attach_perf_event", "open_perf_link", "perf_link_supported",
           "pmu_type", "pmu_format_bit", "add_dynamic_event", "remove_dynamic_event", "dynamic_event_name"]

_perf_link_ok: bool | None = None  # None: not probed yet


def perf_link_supported() -> bool:
    """Whether BPF_LINK_CREATE accepts ``BPF_PERF_EVENT`` (Linux 5.15+); probed once per process.

    The probe is libbpf's ``probe_perf_link``: a trivial tracepoint program is
    linked to perf fd -1, which 5.15+ rejects with EBADF (it looked the fd up)
    and older kernels with EINVAL (unknown attach type). Where that program
    cannot be loaded, the kernel version decides. Never inferred from the
    errno of a real attach: that EINVAL usually means a wrong program type.
    """
    global _perf_link_ok
    if _perf_link_ok is None:
        _perf_link_ok = _probe_perf_link()
    return _perf_link_ok


def _probe_perf_link() -> bool:
    from .._sys.attrs import ProgLoadAttr
    from .._sys.consts import Cmd, ProgramType
    from .._sys.kver import kernel_version
    from .._sys.syscall import bpf_raw

    code = bytes.fromhex("b700000000000000" "9500000000000000")  # r0 = 0; exit
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    la = ProgLoadAttr(prog_type=int(ProgramType.TRACEPOINT), insn_cnt=2, insns=ctypes.addressof(insns),
                      license=ctypes.addressof(lic))
    prog = bpf_raw(Cmd.PROG_LOAD, ctypes.addressof(la), ctypes.sizeof(la))
    if prog < 0:  # no CAP_PERFMON/CAP_BPF yet, or no tracepoint programs: go by the version
        return kernel_version() >= (5, 15, 0)
    try:
        a = perf_link_attr(prog, 0xFFFFFFFF)  # perf fd -1
        ret = bpf_raw(Cmd.LINK_CREATE, ctypes.addressof(a), ctypes.sizeof(a))
        if ret >= 0:  # pragma: no cover - cannot happen with fd -1
            os.close(ret)
            return True
        return ret == -errno.EBADF
    finally:
        os.close(prog)


def pmu_type(pmu: str) -> int | None:
    """``/sys/bus/event_source/devices/<pmu>/type`` (e.g. the dynamic "kprobe"/"uprobe" PMUs, 4.17+)."""
    try:
        with open(f"/sys/bus/event_source/devices/{pmu}/type") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def pmu_format_bit(pmu: str, field: str) -> int | None:
    """Bit number of a one-bit format field, e.g. ``retprobe`` = ``config:0``; None if absent."""
    try:
        with open(f"/sys/bus/event_source/devices/{pmu}/format/{field}") as f:
            spec = f.read().strip()
    except OSError:
        return None
    _, _, bits = spec.partition(":")
    try:
        return int(bits.split("-")[0])
    except ValueError:
        return None


@dataclasses.dataclass
class PerfEventOptions:
    """What :func:`attach_perf_event` opens: ``perf_event_attr`` type/config and sampling.

    ``sample_period`` or ``sample_freq`` (Hz) must be set for sampling
    events. ``cpu=None`` with ``pid=-1`` means every online CPU.
    """

    type: int
    config: int
    sample_period: int = 0
    sample_freq: int = 0
    cpu: int | None = None
    pid: int = -1
    cookie: int = 0
    inherit: bool = False
    exclude_kernel: bool = False
    exclude_user: bool = False

    def perf_attr(self) -> perf.PerfEventAttr:
        if self.sample_period and self.sample_freq:
            raise Error("give sample_period or sample_freq, not both")
        a = perf.PerfEventAttr(type=int(self.type), config=int(self.config))
        flags = 0
        if self.sample_freq:
            a.sample_period = int(self.sample_freq)  # union with sample_freq
            flags |= perf.FLAG_FREQ
        else:
            a.sample_period = int(self.sample_period)
        if self.inherit:
            flags |= perf.FLAG_INHERIT
        if self.exclude_kernel:
            flags |= perf.FLAG_EXCLUDE_KERNEL
        if self.exclude_user:
            flags |= perf.FLAG_EXCLUDE_USER
        a.flags = flags
        return a


def perf_link_attr(prog_fd: int, perf_fd: int, cookie: int = 0) -> LinkCreateAttr:
    """The LINK_CREATE attr for a perf-event link (exposed for tests)."""
    a = LinkCreateAttr(prog_fd=prog_fd, target_fd=perf_fd, attach_type=int(AttachType.PERF_EVENT))
    a.perf_event.bpf_cookie = cookie & 0xFFFFFFFFFFFFFFFF
    return a


@register_link_type
class PerfEventLink(Link):
    """A program on a perf event: the perf fd plus (5.15+) the bpf_link wrapping it.

    ``perf_fd`` is the perf event (None for a link opened by id/pin: the
    kernel link holds it). ``fd`` is the link fd, or the perf fd on kernels
    without perf links. ``cookie`` is what ``bpf_get_attach_cookie()`` returns.
    """

    link_type = LinkType.PERF_EVENT

    def __init__(self, perf_fd: FD | None, link_fd: FD | None, *, kind: str = "perf_event", target: str = "",
                 program: Any = None, cookie: int = 0, cleanup: Callable[[], None] | None = None) -> None:
        super().__init__(link_fd, kind=kind, target=target, program=program)
        self._perf_fd = perf_fd
        self.cookie = cookie
        self._cleanup = cleanup

    def _adopted(self) -> None:
        self._perf_fd = None
        self.cookie = 0
        self._cleanup = None

    @property
    def perf_fd(self) -> int | None:
        """The perf event fd this object owns (None if opened from a pin/id)."""
        return self._perf_fd.fd if self._perf_fd is not None and not self._perf_fd.closed else None

    @property
    def fd(self) -> int:
        """The link fd, or the perf event fd on kernels without perf links (< 5.15)."""
        if self._released:
            raise self._closed_error()
        if self._fd is None and self._perf_fd is not None:
            return self._perf_fd.fd
        return super().fd

    def perf_info(self) -> dict[str, Any]:
        """The ``perf_event`` part of bpf_link_info (6.6+): kind, name/file, offset, addr, cookie.

        On kernels without perf links, what BPF_TASK_FD_QUERY reports for the perf fd.
        """
        if self._released:
            raise self._closed_error("perf_info")
        if self._fd is None:
            if self._perf_fd is None:
                raise self._closed_error("perf_info")
            q = cmds.task_fd_query(os.getpid(), self._perf_fd.fd)
            return {"type": q["fd_type"], "name": q["name"], "offset": q["probe_offset"], "addr": q["probe_addr"],
                    "prog_id": q["prog_id"], "cookie": self.cookie}
        buf = ctypes.create_string_buffer(4096)
        info = _RawLinkInfo()
        pe = info.perf_event
        # The name pointer/length sit at the same place in the uprobe/kprobe/tracepoint members.
        pe.uprobe.file_name = ctypes.addressof(buf)
        pe.uprobe.name_len = 4096
        cmds.obj_info(self._fd.fd, info)
        t = int(info.perf_event.type)
        out: dict[str, Any] = {"type": _pet(t)}
        u = info.perf_event
        if t in (PerfEventType.UPROBE, PerfEventType.URETPROBE):
            out.update(file=buf.value.decode(errors="replace"), offset=int(u.uprobe.offset),
                       cookie=int(u.uprobe.cookie), ref_ctr_offset=int(u.uprobe.ref_ctr_offset))
        elif t in (PerfEventType.KPROBE, PerfEventType.KRETPROBE):
            out.update(func=buf.value.decode(errors="replace"), offset=int(u.kprobe.offset), addr=int(u.kprobe.addr),
                       missed=int(u.kprobe.missed), cookie=int(u.kprobe.cookie))
        elif t == PerfEventType.TRACEPOINT:
            out.update(name=buf.value.decode(errors="replace"), cookie=int(u.tracepoint.cookie))
        elif t == PerfEventType.EVENT:
            out.update(config=int(u.event.config), perf_type=int(u.event.type), cookie=int(u.event.cookie))
        return out

    def _release(self) -> None:
        try:
            if self._fd is not None:
                self._fd.close()
            if self._perf_fd is not None and not self._perf_fd.closed:
                if self._fd is None:
                    try:
                        perf.disable(self._perf_fd.fd)
                    except BPFError:
                        pass
                self._perf_fd.close()
        finally:
            cleanup, self._cleanup = self._cleanup, None
            if cleanup is not None:
                cleanup()


def _pet(t: int) -> PerfEventType | int:
    try:
        return PerfEventType(t)
    except ValueError:
        return t


def open_perf_link(prog: Any, perf_fd: FD, *, cookie: int = 0, kind: str = "perf_event", target: str = "",
                   cleanup: Callable[[], None] | None = None) -> PerfEventLink:
    """Run ``prog`` on the (owned) ``perf_fd``, then enable the event.

    Linux 5.15+: a bpf_link (``BPF_LINK_CREATE`` with ``BPF_PERF_EVENT``, carrying
    ``cookie``); older kernels (4.1+ kprobes, 4.7+ tracepoints, 4.9+ perf events):
    ``PERF_EVENT_IOC_SET_BPF``, where a non-zero ``cookie`` raises
    :class:`NotSupportedError`. Which one is decided by :func:`perf_link_supported`.
    On failure ``perf_fd`` is closed and ``cleanup`` called before the error propagates.
    """
    pfd = prog_fd_of(prog)
    link_fd: FD | None = None
    try:
        if perf_link_supported():
            try:
                link_fd = cmds.link_create(perf_link_attr(pfd, perf_fd.fd, cookie))
            except BPFError as e:
                if e.errno != errno.EINVAL:
                    raise
                raise BPFError(e.errno, e.command, f"attaching {kind} {target}: the program type does not match "
                               "the event (tracepoint programs on tracepoints, kprobe programs on k/uprobes, "
                               "perf_event programs on perf events)") from None
        else:
            if cookie:
                raise NotSupportedError("BPF cookies on perf-event attachments", "need Linux 5.15+ (bpf_link for "
                                        "perf events); attach with cookie=0")
            try:
                perf.set_bpf(perf_fd.fd, pfd)
            except BPFError as e:
                raise BPFError(e.errno or errno.EINVAL, "PERF_EVENT_IOC_SET_BPF", f"attaching {kind} {target}: " +
                               ("the program type does not match the event" if e.errno == errno.EINVAL else
                                "another program may already be attached" if e.errno == errno.EEXIST else "")
                               ) from None
        perf.enable(perf_fd.fd)
    except BaseException:
        if link_fd is not None:
            link_fd.close()
        perf_fd.close()
        if cleanup is not None:
            cleanup()
        raise
    return PerfEventLink(perf_fd, link_fd, kind=kind, target=target, program=prog, cookie=cookie, cleanup=cleanup)


def attach_perf_event(prog: Any, type: int, config: int, *, sample_period: int = 0, sample_freq: int = 0,
                      cpu: int | None = None, pid: int = -1, cookie: int = 0, inherit: bool = False
                      ) -> PerfEventLink | MultiLink:
    """Run a ``BPF_PROG_TYPE_PERF_EVENT`` program on every sample of a perf event (4.9+).

    ``type``/``config`` are ``perf_event_attr`` values (e.g.
    ``pybpf.PerfType.SOFTWARE, pybpf.SwEvent.CPU_CLOCK``). With ``cpu=None`` and
    ``pid=-1`` one event per online CPU is opened and a :class:`MultiLink`
    returned; otherwise a single :class:`PerfEventLink` (``cpu=-1`` follows
    ``pid`` on any CPU).
    """
    opts = PerfEventOptions(type=type, config=config, sample_period=sample_period, sample_freq=sample_freq,
                            cpu=cpu, pid=pid, cookie=cookie, inherit=inherit)
    if not (opts.sample_period or opts.sample_freq):
        raise Error("attach_perf_event needs sample_period or sample_freq")
    target = f"type={int(type)} config={int(config)}"
    cpus = online_cpus() if cpu is None and pid == -1 else [-1 if cpu is None else cpu]
    out: list[Link] = []
    try:
        for c in cpus:
            fd = perf.open_event(opts.perf_attr(), pid=pid, cpu=c)
            out.append(open_perf_link(prog, fd, cookie=cookie, kind="perf_event",
                                      target=f"{target} cpu={c}" if c >= 0 else target))
    except BaseException:
        for lk in out:
            lk.close()
        raise
    if cpu is None and pid == -1:
        return MultiLink(out, kind="perf_event", target=f"{target} on {len(out)} cpus")
    return out[0]  # type: ignore[return-value]


# ------------------------------------------------------- tracefs dynamic events
_ev_lock = threading.Lock()
_ev_counter = itertools.count()
EVENT_GROUP = "pybpf"


def dynamic_event_name(prefix: str, what: str, offset: int = 0, index: int | None = None) -> str:
    """A tracefs event name ``<prefix>_<what>[_0x<off>]_<pid>_<n>`` sanitized to [A-Za-z0-9_], <= 63 chars."""
    n = next(_ev_counter) if index is None else index
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in what)
    tail = (f"_0x{offset:x}" if offset else "") + f"_{os.getpid()}_{n}"
    return f"{prefix}_{base}"[: 63 - len(tail)] + tail


def add_dynamic_event(kind: str, command: str, event: str, group: str = EVENT_GROUP) -> int:
    """Append ``command`` to ``<tracefs>/<kind>_events`` and return the new event's tracepoint id.

    ``kind`` is "kprobe" or "uprobe". Raises :class:`BPFError` with the
    kernel's ``error_log`` line when the write is rejected.
    """
    from .._sys.fs import find_tracefs

    tfs = find_tracefs()
    path = os.path.join(tfs, f"{kind}_events")
    with _ev_lock:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            raise NotSupportedError(f"tracefs {kind}_events", f"{path} does not exist") from None
        try:
            os.write(fd, command.encode() + b"\n")
        except OSError as e:
            raise BPFError(e.errno or errno.EINVAL, f"write {kind}_events",
                           f"{command!r} rejected: {_error_log(tfs)}") from None
        finally:
            os.close(fd)
    try:
        with open(os.path.join(tfs, "events", group, event, "id")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        remove_dynamic_event(kind, event, group)
        raise Error(f"tracefs {kind} event {group}/{event} was created but has no id") from None


def remove_dynamic_event(kind: str, event: str, group: str = EVENT_GROUP) -> None:
    """Delete ``group/event`` from ``<kind>_events`` (``-:group/event``); missing events are ignored."""
    from .._sys.fs import find_tracefs

    path = os.path.join(find_tracefs(), f"{kind}_events")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return
    try:
        os.write(fd, f"-:{group}/{event}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def _error_log(tfs: str) -> str:
    try:
        with open(os.path.join(tfs, "error_log")) as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        return " / ".join(lines[-2:]) if lines else "see tracefs error_log"
    except OSError:
        return "see tracefs error_log"


def open_tracepoint_event(tp_id: int, pid: int = -1, cpu: int | None = None) -> FD:
    """perf_event_open(PERF_TYPE_TRACEPOINT, config=tp_id): pid -1 on CPU 0 as libbpf does.

    (A BPF program attached to a tracepoint perf event runs for every hit on
    every CPU; the CPU/pid only matter for the event's own counting.)
    """
    a = perf.PerfEventAttr(type=int(perf.PerfType.TRACEPOINT), config=tp_id)
    a.sample_period = 1
    a.wakeup_events = 1
    if cpu is None:
        cpu = 0 if pid < 0 else -1
    return perf.open_event(a, pid=pid, cpu=cpu)
