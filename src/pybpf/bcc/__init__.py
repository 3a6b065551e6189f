"""BCC-compatible front end: write eBPF in BCC's C dialect and drive it from Python.

::

    from pybpf.bcc import BPF

    b = BPF(text='''
    BPF_HASH(counts, u32, u64);
    TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
        u32 uid = bpf_get_current_uid_gid();
        counts.increment(uid);
        bpf_trace_printk("exec by %d\\n", uid);
        return 0;
    }
    ''')
    print(b.trace_fields(timeout=5))
    for k, v in b["counts"].items():
        print(k.value, v.value)
    b.cleanup()

How it works: :mod:`pybpf.bcc.rewriter` turns BCC's C (``BPF_HASH``,
``table.lookup(&k)``, ``TRACEPOINT_PROBE``...) into libbpf-style C, which
:func:`pybpf.compile.compile` builds with pybpf's headers and a vmlinux.h
generated from the kernel's BTF; the object's maps are created at
construction, functions are loaded on demand (``load_func``) with the type
the caller asks for, and prefixed functions (``kprobe__``, ``tracepoint__``,
``raw_tracepoint__``, ``kfunc__``, ``lsm__``...) are attached automatically, as are
the probes enabled in ``usdt_contexts``.

Running BCC's tools: ``python -m pybpf.bcc TOOL [ARGS]`` runs a tool script with
``import bcc`` mapped to this package (:mod:`pybpf.bcc.__main__`).

Differences from BCC:

* kernel memory reads (``task->real_parent->tgid``, ``*ptr``, ``p->arr[i]``) are made
  probe reads as in BCC, but from types rather than BCC's data flow
  (:mod:`pybpf.bcc._deref`): any pointer to a kernel struct (from the kernel's BTF),
  and any pointer read through one, is kernel memory; map values, program contexts
  and tracepoint ``args`` are not; BTF-typed programs (``KFUNC_PROBE``...) and packet
  programs read directly. Reads spelled inside a macro's body (other than a
  whole object-like macro) and writes to kernel memory are left as written;
* kernel headers are not used: types come from vmlinux.h (the kernel's BTF), the
  macros BCC tools take from kernel headers from pybpf's own headers (``bcc_consts.h``,
  ``bcc_arch.h``: ``PAGE_OFFSET``, ``THREAD_SIZE``...) and from headers generated per
  kernel (:mod:`pybpf.bcc.kheaders`: ``CONFIG_*``, ``DNAME_INLINE_LEN``, ``sk->sk_state``
  aliases); the kernel's inline functions are not there, except a few tools use
  (``min_t``, ``skb_get_rx_queue``...);
* a file-scope re-definition of a kernel struct (``struct mount { ... }``) is replaced
  by the kernel's own (CO-RE relocated), so its members must exist in the kernel's;
* ``<bcc/proto.h>`` structs are not byte-swapped for you (see that header);
* ``<bcc/proto.h>`` MAC addresses are ``u8[6]`` arrays, not 48-bit integers;
* shared/extern tables are not supported; ``BPF_TABLE_PINNED`` tables of one module
  must share a directory;
* USDT (:class:`USDT`, ``usdt_contexts``, ``bpf_usdt_readarg``/``bpf_usdt_readarg_p``)
  generates no C: arguments are described at attach time in the module's
  ``__bpf_usdt_*`` maps (:mod:`pybpf.bcc.usdt`), semaphores are raised by the kernel
  (no pid needed), and ``USDT.get_text()`` is only a comment;
* strings returned by Python methods are bytes where BCC's are (``ksym``,
  ``trace_fields``), and ``trace_fields``/``trace_print`` take an optional ``timeout``.
"""

from __future__ import annotations

from .bpf import (BPF, DEBUG_BPF, DEBUG_BPF_REGISTER_STATE, DEBUG_BTF, DEBUG_LLVM_IR, DEBUG_PREPROCESSOR,
                  DEBUG_SOURCE, Function)
from .consts import (BPFAttachType, BPFProgType, PerfEventSampleFormat, PerfHWConfig, PerfSWConfig, PerfType,
                     XDPAction, XDPFlags)
from .rewriter import include_dir, rewrite
from .table import Table

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - the lazily imported names, for type checkers
    from .perf import Perf
    from .usdt import USDT, USDTException
    from .utils import ArgString, StrcmpRewrite, get_online_cpus, get_possible_cpus, printb

__all__ = ["BPF", "Function", "Table", "USDT", "USDTException", "rewrite", "include_dir", "BPFProgType",
           "BPFAttachType", "XDPAction", "XDPFlags", "PerfType", "PerfHWConfig", "PerfSWConfig",
           "PerfEventSampleFormat", "DEBUG_LLVM_IR", "DEBUG_BPF", "DEBUG_PREPROCESSOR", "DEBUG_SOURCE",
           "DEBUG_BPF_REGISTER_STATE", "DEBUG_BTF", "Perf", "ArgString", "StrcmpRewrite", "printb",
           "get_online_cpus", "get_possible_cpus", "tcp", "utils"]

# What BCC's ``bcc`` package also exports, imported when a tool first asks for it (start-up stays lean).
_LAZY = {"Perf": "perf", "ArgString": "utils", "StrcmpRewrite": "utils", "printb": "utils",
         "get_online_cpus": "utils", "get_possible_cpus": "utils", "USDT": "usdt", "USDTException": "usdt"}


def __getattr__(name: str) -> object:
    import importlib

    if name in ("tcp", "utils", "perf", "syscall", "containers", "exec"):
        return importlib.import_module(f"{__name__}.{name}")
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
