"""BCC's attach/detach methods (kprobes, uprobes, tracepoints, raw tracepoints, kfunc/lsm,
perf events), on :mod:`pybpf.links`.

Every attachment is a :class:`pybpf.links.Link` kept in the same per-kind
dicts BCC has (``kprobe_fds``, ``uprobe_fds``, ``tracepoint_fds``...), so
``detach_*`` and :meth:`cleanup` close exactly what was attached.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from .. import links
from ..errors import Error, NotSupportedError
from ._suggest import btf_unavailable, kprobe_unavailable

__all__ = ["AttachMixin", "to_str"]


def to_str(x: Any) -> str:
    return x.decode() if isinstance(x, (bytes, bytearray)) else str(x)


class AttachMixin:
    """The attach_*/detach_* methods of :class:`pybpf.bcc.BPF`."""

    kprobe_fds: dict[str, dict[str, Any]]
    uprobe_fds: dict[str, Any]
    tracepoint_fds: dict[str, Any]
    raw_tracepoint_fds: dict[str, Any]
    kfunc_entry_fds: dict[str, Any]
    kfunc_exit_fds: dict[str, Any]
    lsm_fds: dict[str, Any]
    fmod_ret_fds: dict[str, Any]
    open_perf_events: dict[tuple[int, int], Any]

    KPROBE: int
    TRACEPOINT: int
    RAW_TRACEPOINT: int
    PERF_EVENT: int
    TRACING: int
    LSM: int

    def load_func(self, func_name: Any, prog_type: int, device: Any = None, attach_type: int = -1) -> Any:
        raise NotImplementedError  # pragma: no cover - BPF provides it

    def fix_syscall_fnname(self, name: Any) -> str:
        raise NotImplementedError  # pragma: no cover

    # ------------------------------------------------------------------ kprobes
    def _kprobe(self, event: Any, fn_name: Any, event_re: Any, retprobe: bool, offset: int = 0,
                maxactive: int = 0) -> Any:
        event, fn, event_re = to_str(event), to_str(fn_name), to_str(event_re)
        ok, _why = links.kprobes_available()
        if not ok:
            raise kprobe_unavailable(event or event_re, fn, retprobe)
        if event_re:
            matches = self.get_kprobe_functions(event_re.encode())  # type: ignore[attr-defined]
            failed = []
            for ev in sorted(matches):
                try:
                    self._kprobe(ev, fn, "", retprobe, 0, maxactive)
                except Error:
                    failed.append(ev.decode() if isinstance(ev, bytes) else ev)
            if matches and len(failed) == len(matches):
                raise Error(f"Failed to attach BPF program {fn} to {'kretprobe' if retprobe else 'kprobe'} "
                            f"{'/'.join(failed)}: not traceable (non-existent, inlined, or notrace)")
            return self
        prog = self.load_func(fn, self.KPROBE).program
        ev_name = ("r_" if retprobe else "p_") + event.replace("+", "_").replace(".", "_")
        link = links.attach_kprobe(prog, event, offset, retprobe=retprobe, maxactive=maxactive)
        self.kprobe_fds.setdefault(ev_name, {})[fn] = link
        return self

    def attach_kprobe(self, event: Any = b"", event_off: int = 0, fn_name: Any = b"", event_re: Any = b"") -> Any:
        """Run ``fn_name`` (BPF.KPROBE) at kernel function ``event`` (or every match of ``event_re``).

        On kernels without kprobes this raises :class:`~pybpf.errors.NotSupportedError` naming an
        attach point that works instead (a syscall tracepoint, a tracepoint of the same name...).
        """
        return self._kprobe(event, fn_name, event_re, False, event_off)

    def attach_kretprobe(self, event: Any = b"", fn_name: Any = b"", event_re: Any = b"", maxactive: int = 0) -> Any:
        """Run ``fn_name`` when kernel function ``event`` returns (see :meth:`attach_kprobe`)."""
        return self._kprobe(event, fn_name, event_re, True, 0, maxactive)

    def detach_kprobe_event(self, ev_name: Any) -> None:
        for lk in self.kprobe_fds.pop(to_str(ev_name), {}).values():
            lk.close()

    def detach_kprobe_event_by_fn(self, ev_name: Any, fn_name: Any) -> None:
        ev, fn = to_str(ev_name), to_str(fn_name)
        d = self.kprobe_fds.get(ev)
        if d is None or fn not in d:
            raise Error(f"Kprobe {ev} is not attached")
        d.pop(fn).close()
        if not d:
            del self.kprobe_fds[ev]

    def _detach_kprobe(self, prefix: str, event: Any, fn_name: Any) -> None:
        ev = prefix + to_str(event).replace("+", "_").replace(".", "_")
        if ev not in self.kprobe_fds:
            raise Error(f"Kprobe {to_str(event)} is not attached")
        if fn_name:
            self.detach_kprobe_event_by_fn(ev, fn_name)
        else:
            self.detach_kprobe_event(ev)

    def detach_kprobe(self, event: Any, fn_name: Any = None) -> None:
        self._detach_kprobe("p_", event, fn_name)

    def detach_kretprobe(self, event: Any, fn_name: Any = None) -> None:
        self._detach_kprobe("r_", event, fn_name)

    # ------------------------------------------------------------------ uprobes
    @staticmethod
    def _uprobe_target(name: str, sym: str, addr: Optional[int], sym_off: int) -> tuple[str, int]:
        """(binary path, file offset) of ``sym``+``sym_off`` or of virtual address ``addr`` in ``name``."""
        from ..links._elfsym import _open_elf, resolve_binary, resolve_symbol, vaddr_to_offset

        try:
            path = resolve_binary(name)
        except FileNotFoundError:
            if "/" in name or name.startswith("lib"):
                raise
            path = resolve_binary("lib" + name)  # BCC: name="c" is libc
        if sym:
            return path, resolve_symbol(path, sym).offset + sym_off
        if addr is None:
            raise Error("attach_uprobe needs sym, sym_re or addr")
        elf = _open_elf(path)
        try:
            return path, vaddr_to_offset(elf, addr) + sym_off
        finally:
            elf.stream.close()

    def _uprobe(self, name: Any, sym: Any, sym_re: Any, addr: Optional[int], fn_name: Any, pid: int, sym_off: int,
                retprobe: bool) -> Any:
        name, sym, sym_re, fn = to_str(name), to_str(sym), to_str(sym_re), to_str(fn_name)
        if sym_re:
            for s in self.get_user_functions(name, sym_re):  # type: ignore[attr-defined]
                self._uprobe(name, s, "", None, fn, pid, 0, retprobe)
            return self
        path, off = self._uprobe_target(name, sym, addr, sym_off)
        prog = self.load_func(fn, self.KPROBE).program
        ev = self._uprobe_evname("r" if retprobe else "p", path, off, pid)
        if ev in self.uprobe_fds:
            raise Error(f"uprobe {ev} is already attached")
        link = links.attach_uprobe(prog, path, None, retprobe=retprobe, pid=None if pid < 0 else pid, offset=off)
        self.uprobe_fds[ev] = link
        return self

    @staticmethod
    def _uprobe_evname(prefix: str, path: str, off: int, pid: int) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", path)
        return f"{prefix}_{base}_0x{off:x}" + (f"_bcc_{pid}" if pid >= 0 else "")

    def attach_uprobe(self, name: Any = b"", sym: Any = b"", sym_re: Any = b"", addr: Optional[int] = None,
                      fn_name: Any = b"", pid: int = -1, sym_off: int = 0) -> Any:
        """Run ``fn_name`` (BPF.KPROBE) when ``sym`` (or every ``sym_re`` match, or ``addr``) of
        binary/library ``name`` (a path or e.g. ``"c"`` for libc) executes; ``pid`` limits it to one process."""
        return self._uprobe(name, sym, sym_re, addr, fn_name, pid, sym_off, False)

    def attach_uretprobe(self, name: Any = b"", sym: Any = b"", sym_re: Any = b"", addr: Optional[int] = None,
                         fn_name: Any = b"", pid: int = -1) -> Any:
        """Run ``fn_name`` when ``sym`` of ``name`` returns (see :meth:`attach_uprobe`)."""
        return self._uprobe(name, sym, sym_re, addr, fn_name, pid, 0, True)

    def detach_uprobe_event(self, ev_name: Any) -> None:
        lk = self.uprobe_fds.pop(to_str(ev_name), None)
        if lk is None:
            raise Error(f"Uprobe {to_str(ev_name)} is not attached")
        lk.close()

    def detach_uprobe(self, name: Any = b"", sym: Any = b"", addr: Optional[int] = None, pid: int = -1,
                      sym_off: int = 0) -> None:
        path, off = self._uprobe_target(to_str(name), to_str(sym), addr, sym_off)
        self.detach_uprobe_event(self._uprobe_evname("p", path, off, pid))

    def detach_uretprobe(self, name: Any = b"", sym: Any = b"", addr: Optional[int] = None, pid: int = -1) -> None:
        path, off = self._uprobe_target(to_str(name), to_str(sym), addr, 0)
        self.detach_uprobe_event(self._uprobe_evname("r", path, off, pid))

    # ------------------------------------------------------------------ tracepoints
    def attach_tracepoint(self, tp: Any = b"", tp_re: Any = b"", fn_name: Any = b"") -> Any:
        """Run ``fn_name`` (BPF.TRACEPOINT) on tracepoint ``"category:event"`` (or every ``tp_re`` match)."""
        tp, tp_re, fn = to_str(tp), to_str(tp_re), to_str(fn_name)
        if tp_re:
            for t in self.get_tracepoints(tp_re):  # type: ignore[attr-defined]
                self.attach_tracepoint(tp=t, fn_name=fn)
            return self
        cat, sep, ev = tp.partition(":")
        if not sep:
            cat, sep, ev = tp.partition("/")
        if not sep or not cat or not ev:
            raise Error(f"tracepoint {tp!r}: expected 'category:event'")
        prog = self.load_func(fn, self.TRACEPOINT).program
        key = f"{cat}:{ev}"
        if key in self.tracepoint_fds:
            raise Error(f"tracepoint {key} is already attached")
        self.tracepoint_fds[key] = links.attach_tracepoint(prog, cat, ev)
        return self

    def detach_tracepoint(self, tp: Any = b"") -> None:
        key = to_str(tp).replace("/", ":", 1)
        lk = self.tracepoint_fds.pop(key, None)
        if lk is None:
            raise Error(f"Tracepoint {key} is not attached")
        lk.close()

    def attach_raw_tracepoint(self, tp: Any = b"", fn_name: Any = b"") -> Any:
        """Run ``fn_name`` (BPF.RAW_TRACEPOINT) on raw tracepoint ``tp`` (e.g. ``"sys_enter"``)."""
        tp, fn = to_str(tp), to_str(fn_name)
        if tp in self.raw_tracepoint_fds:
            raise Error(f"Raw tracepoint {tp} has been attached")
        prog = self.load_func(fn, self.RAW_TRACEPOINT).program
        self.raw_tracepoint_fds[tp] = links.attach_raw_tracepoint(prog, tp)
        return self

    def detach_raw_tracepoint(self, tp: Any = b"") -> None:
        lk = self.raw_tracepoint_fds.pop(to_str(tp), None)
        if lk is None:
            raise Error(f"Raw tracepoint {to_str(tp)} is not attached")
        lk.close()

    # ------------------------------------------------------------------ BTF tracing
    @staticmethod
    def add_prefix(prefix: Any, name: Any) -> str:
        p, n = to_str(prefix), to_str(name)
        return n if n.startswith(p) else p + n

    def _btf_attach(self, prefix: str, fn_name: Any, table: dict[str, Any], prog_type: int) -> Any:
        fn = to_str(fn_name)
        names = [fn] if fn.startswith(prefix.split("__")[0] + "__") else [prefix + fn, prefix + "vmlinux__" + fn]
        known = self._function_names()  # type: ignore[attr-defined]
        fn = next((n for n in names if n in known), names[0])
        if fn in table:
            raise Error(f"{fn} has been attached")
        try:
            prog = self.load_func(fn, prog_type).program
            table[fn] = links.attach_lsm(prog) if prog_type == self.LSM else links.attach_tracing(prog)
        except NotSupportedError as e:
            raise btf_unavailable(fn, e) from None
        return self

    def attach_kfunc(self, fn_name: Any = b"") -> Any:
        """Attach a ``KFUNC_PROBE`` (fentry) function."""
        return self._btf_attach("kfunc__", fn_name, self.kfunc_entry_fds, self.TRACING)

    def attach_kretfunc(self, fn_name: Any = b"") -> Any:
        """Attach a ``KRETFUNC_PROBE`` (fexit) function."""
        return self._btf_attach("kretfunc__", fn_name, self.kfunc_exit_fds, self.TRACING)

    def attach_fmod_ret(self, fn_name: Any = b"") -> Any:
        """Attach a ``KMOD_RET`` (fmod_ret) function."""
        return self._btf_attach("kmod_ret__", fn_name, self.fmod_ret_fds, self.TRACING)

    def attach_lsm(self, fn_name: Any = b"") -> Any:
        """Attach an ``LSM_PROBE`` function."""
        return self._btf_attach("lsm__", fn_name, self.lsm_fds, self.LSM)

    def _btf_detach(self, prefix: str, fn_name: Any, table: dict[str, Any]) -> None:
        fn = to_str(fn_name)
        for n in (fn, prefix + fn, prefix + "vmlinux__" + fn):
            if n in table:
                table.pop(n).close()
                return
        raise Error(f"{fn} is not attached")

    def detach_kfunc(self, fn_name: Any = b"") -> None:
        self._btf_detach("kfunc__", fn_name, self.kfunc_entry_fds)

    def detach_kretfunc(self, fn_name: Any = b"") -> None:
        self._btf_detach("kretfunc__", fn_name, self.kfunc_exit_fds)

    def detach_fmod_ret(self, fn_name: Any = b"") -> None:
        self._btf_detach("kmod_ret__", fn_name, self.fmod_ret_fds)

    def detach_lsm(self, fn_name: Any = b"") -> None:
        self._btf_detach("lsm__", fn_name, self.lsm_fds)

    # ------------------------------------------------------------------ perf events
    def attach_perf_event(self, ev_type: int = -1, ev_config: int = -1, fn_name: Any = b"", sample_period: int = 0,
                          sample_freq: int = 0, pid: int = -1, cpu: int = -1, group_fd: int = -1) -> Any:
        """Run ``fn_name`` (BPF.PERF_EVENT) on each sample of perf event (``ev_type``, ``ev_config``), on
        every online CPU (``cpu=-1``) or one."""
        if group_fd != -1:
            raise NotSupportedError("attach_perf_event(group_fd=...)", "perf event groups are not supported")
        prog = self.load_func(fn_name, self.PERF_EVENT).program
        key = (int(ev_type), int(ev_config))
        if key in self.open_perf_events:
            raise Error(f"perf event {key} is already attached")
        lk = links.attach_perf_event(prog, ev_type, ev_config, sample_period=sample_period, sample_freq=sample_freq,
                                     cpu=None if cpu < 0 else cpu, pid=pid)
        self.open_perf_events[key] = lk
        return self

    def detach_perf_event(self, ev_type: int = -1, ev_config: int = -1) -> None:
        lk = self.open_perf_events.pop((int(ev_type), int(ev_config)), None)
        if lk is None:
            raise Error("Perf event type {} config {} not attached".format(ev_type, ev_config))
        lk.close()

    # ------------------------------------------------------------------ helpers
    def _close_attachments(self) -> None:
        for d in list(self.kprobe_fds.values()):
            for lk in d.values():
                lk.close()
        self.kprobe_fds.clear()
        for table in (self.uprobe_fds, self.tracepoint_fds, self.raw_tracepoint_fds, self.kfunc_entry_fds,
                      self.kfunc_exit_fds, self.lsm_fds, self.fmod_ret_fds, self.open_perf_events):
            for lk in list(table.values()):  # type: ignore[attr-defined]
                lk.close()
            table.clear()  # type: ignore[attr-defined]

