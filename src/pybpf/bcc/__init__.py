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

Differences from BCC:

* kernel memory is not dereferenced for you: BCC rewrites ``task->parent->pid``
  into probe reads; here write ``BPF_CORE_READ(task, parent, pid)`` or
  ``bpf_probe_read_kernel(&dst, sizeof(dst), &task->parent->pid)`` (direct
  access still works where the verifier allows it: tracepoint ``args``, BTF
  programs, packet data);
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

from . import tcp, utils
from .bpf import (BPF, DEBUG_BPF, DEBUG_BPF_REGISTER_STATE, DEBUG_BTF, DEBUG_LLVM_IR, DEBUG_PREPROCESSOR,
                  DEBUG_SOURCE, Function)
from .consts import (BPFAttachType, BPFProgType, PerfEventSampleFormat, PerfHWConfig, PerfSWConfig, PerfType,
                     XDPAction, XDPFlags)
from .perf import Perf
from .rewriter import include_dir, rewrite
from .table import Table
from .usdt import USDT, USDTException
from .utils import ArgString, StrcmpRewrite, get_online_cpus, get_possible_cpus, printb

__all__ = ["BPF", "Function", "Table", "USDT", "USDTException", "rewrite", "include_dir", "BPFProgType",
           "BPFAttachType", "XDPAction", "XDPFlags", "PerfType", "PerfHWConfig", "PerfSWConfig",
           "PerfEventSampleFormat", "DEBUG_LLVM_IR", "DEBUG_BPF", "DEBUG_PREPROCESSOR", "DEBUG_SOURCE",
           "DEBUG_BPF_REGISTER_STATE", "DEBUG_BTF", "Perf", "ArgString", "StrcmpRewrite", "printb",
           "get_online_cpus", "get_possible_cpus", "tcp", "utils"]
