"""What to use instead of a kprobe on kernels without CONFIG_KPROBES.

BCC tools often probe kernel functions that also have a tracepoint (syscall
entry/exit, scheduler, block, network events). When kprobes are unavailable
:func:`kprobe_unavailable` builds a :class:`~pybpf.errors.NotSupportedError`
that says so and names an attach point that exists on *this* kernel; nothing
is substituted silently.
"""

from __future__ import annotations

import functools
import os
from typing import Optional

from ..errors import NotSupportedError

__all__ = ["kprobe_unavailable", "btf_unavailable", "suggest_tracepoints", "syscall_name"]

_SYSCALL_PREFIXES = ("__x64_sys_", "__ia32_sys_", "__arm64_sys_", "__s390x_sys_", "__riscv_sys_",
                     "__powerpc_sys_", "__loongarch_sys_", "__se_sys_", "__do_sys_", "ksys_", "sys_")

# kernel function -> tracepoint firing at the same moment (entry; for a return probe the
# syscall ones become sys_exit_*)
_EQUIVALENTS: dict[str, tuple[str, ...]] = {
    "do_sys_open": ("syscalls:sys_enter_openat", "syscalls:sys_enter_open"),
    "do_sys_openat2": ("syscalls:sys_enter_openat", "syscalls:sys_enter_openat2"),
    "vfs_open": ("syscalls:sys_enter_openat",),
    "vfs_read": ("syscalls:sys_enter_read",),
    "vfs_write": ("syscalls:sys_enter_write",),
    "do_execve": ("sched:sched_process_exec", "syscalls:sys_enter_execve"),
    "do_execveat_common": ("sched:sched_process_exec", "syscalls:sys_enter_execve"),
    "bprm_execve": ("sched:sched_process_exec",),
    "finish_task_switch": ("sched:sched_switch",),
    "schedule": ("sched:sched_switch",),
    "__schedule": ("sched:sched_switch",),
    "try_to_wake_up": ("sched:sched_wakeup",),
    "ttwu_do_wakeup": ("sched:sched_wakeup",),
    "wake_up_new_task": ("sched:sched_wakeup_new",),
    "do_exit": ("sched:sched_process_exit",),
    "kernel_clone": ("sched:sched_process_fork",),
    "_do_fork": ("sched:sched_process_fork",),
    "do_fork": ("sched:sched_process_fork",),
    "blk_account_io_start": ("block:block_io_start", "block:block_rq_insert"),
    "blk_account_io_done": ("block:block_io_done", "block:block_rq_complete"),
    "blk_mq_start_request": ("block:block_rq_issue",),
    "blk_start_request": ("block:block_rq_issue",),
    "blk_mq_end_request": ("block:block_rq_complete",),
    "tcp_set_state": ("sock:inet_sock_set_state",),
    "tcp_v4_connect": ("sock:inet_sock_set_state",),
    "tcp_v6_connect": ("sock:inet_sock_set_state",),
    "inet_csk_accept": ("sock:inet_sock_set_state",),
    "tcp_close": ("sock:inet_sock_set_state",),
    "tcp_retransmit_skb": ("tcp:tcp_retransmit_skb",),
    "tcp_send_reset": ("tcp:tcp_send_reset",),
    "tcp_rcv_established": ("tcp:tcp_probe",),
    "kfree_skb": ("skb:kfree_skb",),
    "kfree_skb_reason": ("skb:kfree_skb",),
    "consume_skb": ("skb:consume_skb",),
    "oom_kill_process": ("oom:mark_victim",),
    "handle_mm_fault": ("exceptions:page_fault_user",),
    "__kmalloc": ("kmem:kmalloc",),
    "kmalloc": ("kmem:kmalloc",),
    "kmem_cache_alloc": ("kmem:kmem_cache_alloc",),
    "kfree": ("kmem:kfree",),
    "kmem_cache_free": ("kmem:kmem_cache_free",),
    "mm_page_alloc": ("kmem:mm_page_alloc",),
    "__alloc_pages": ("kmem:mm_page_alloc",),
    "irq_exit": ("irq:irq_handler_exit",),
    "__do_softirq": ("irq:softirq_entry",),
    "signal_generate": ("signal:signal_generate",),
    "do_send_sig_info": ("signal:signal_generate",),
}


def syscall_name(func: str) -> Optional[str]:
    """``"__x64_sys_execve"`` / ``"sys_execve"`` -> ``"execve"``; None for other functions."""
    for p in _SYSCALL_PREFIXES:
        if func.startswith(p) and len(func) > len(p):
            return func[len(p):]
    return None


def _tracefs() -> Optional[str]:
    try:
        from .._sys.fs import find_tracefs

        return find_tracefs()
    except Exception:  # noqa: BLE001 - no tracefs: no tracepoint suggestions
        return None


def _tp_exists(tfs: str, tp: str) -> bool:
    cat, _, ev = tp.partition(":")
    return os.path.isdir(os.path.join(tfs, "events", cat, ev))


@functools.lru_cache(maxsize=1)
def _events_by_name() -> dict[str, list[str]]:
    tfs = _tracefs()
    out: dict[str, list[str]] = {}
    if tfs is None:
        return out
    try:
        with open(os.path.join(tfs, "available_events")) as f:
            for line in f:
                cat, _, ev = line.strip().partition(":")
                if ev:
                    out.setdefault(ev, []).append(f"{cat}:{ev}")
    except OSError:
        pass
    return out


def suggest_tracepoints(func: str, retprobe: bool = False) -> list[str]:
    """Existing tracepoints (``"cat:event"``) that fire where a (ret)kprobe on ``func`` would."""
    tfs = _tracefs()
    if tfs is None:
        return []
    cands: list[str] = []
    sc = syscall_name(func)
    if sc is not None:
        cands.append(f"syscalls:sys_{'exit' if retprobe else 'enter'}_{sc}")
    for tp in _EQUIVALENTS.get(func, ()):
        if retprobe and tp.startswith("syscalls:sys_enter_"):
            tp = "syscalls:sys_exit_" + tp[len("syscalls:sys_enter_"):]
        cands.append(tp)
    cands.extend(_events_by_name().get(func, []))
    seen: list[str] = []
    for tp in cands:
        if tp not in seen and _tp_exists(tfs, tp):
            seen.append(tp)
    return seen


@functools.lru_cache(maxsize=1)
def _fentry_ok() -> bool:
    try:
        from .._sys.consts import AttachType, ProgramType
        from ..features import attach_type_status

        return attach_type_status(ProgramType.TRACING, AttachType.TRACE_FENTRY)[0]
    except Exception:  # noqa: BLE001
        return False


def kprobe_unavailable(event: str, fn_name: str, retprobe: bool) -> NotSupportedError:
    """The error for ``attach_k[ret]probe(event, fn_name)`` on a kernel without kprobes."""
    kind = "kretprobe" if retprobe else "kprobe"
    what = f"cannot attach {fn_name!r} to {kind} {event!r}" if fn_name else f"cannot attach a {kind} to {event!r}"
    tps = suggest_tracepoints(event, retprobe)
    if tps:
        cat, _, ev = tps[0].partition(":")
        label = "the syscall tracepoint" if cat == "syscalls" else "the tracepoint"
        hint = (f"use {label} {cat}/{ev} instead: TRACEPOINT_PROBE({cat}, {ev}) in the C source, or "
                f"attach_tracepoint(tp=\"{cat}:{ev}\", fn_name=...) with a function taking "
                f"struct tracepoint__{cat}__{ev} *args")
        if len(tps) > 1:
            hint += "; also available: " + ", ".join(tps[1:])
    else:
        hint = ("no tracepoint equivalent was found: pick one with BPF.get_tracepoints(...) "
                "(tracefs available_events) or use a raw tracepoint (RAW_TRACEPOINT_PROBE)")
    if _fentry_ok():
        fexit = "KRETFUNC_PROBE" if retprobe else "KFUNC_PROBE"
        hint += f"; or trace the function itself with {fexit}({event}, ...) (fentry/fexit)"
    return NotSupportedError("kprobes", f"kprobes are unavailable (CONFIG_KPROBES not set): {what}; {hint}")


def btf_unavailable(fn_name: str, err: NotSupportedError) -> NotSupportedError:
    """``err`` (fentry/fexit/fmod_ret/lsm refused by the kernel) with what to use instead for ``fn_name``."""
    from .rewriter import section_for

    sec, kind, target = section_for(fn_name)
    what = {"kfunc": "fentry (KFUNC_PROBE)", "kretfunc": "fexit (KRETFUNC_PROBE)", "kmod_ret": "fmod_ret (KMOD_RET)",
            "lsm": "BPF LSM (LSM_PROBE)"}.get(kind or "", "BPF trampoline")
    hint = f"{what} programs cannot be loaded here ({err.detail or err})"
    tps = suggest_tracepoints(target, retprobe=kind == "kretfunc") if kind != "lsm" and target else []
    if tps:
        cat, _, ev = tps[0].partition(":")
        hint += f"; for {fn_name!r} use the tracepoint {cat}/{ev} instead: TRACEPOINT_PROBE({cat}, {ev})"
    elif kind != "lsm":
        hint += "; use a tracepoint (TRACEPOINT_PROBE), a raw tracepoint (RAW_TRACEPOINT_PROBE) or tp_btf instead"
    return NotSupportedError(err.feature if getattr(err, "feature", None) else "BPF trampolines", hint)
