"""Compile BPF C from Python, with no kernel headers and no system toolchain.

::

    from pybpf.compile import compile, compile_file

    obj = compile('''
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>
        SEC("tp/syscalls/sys_enter_execve")
        int hello(void *ctx) { bpf_printk("exec"); return 0; }
        char LICENSE[] SEC("license") = "GPL";
    ''')                              # -> bytes (an ELF object), cached
    compile_file("minimal.bpf.c")     # -> Path("minimal.bpf.o")

* The compiler is the ``ziglang`` wheel's clang (``zig cc``), or ``clang`` from
  ``PATH`` when it has the BPF target, or whatever ``$PYBPF_CC`` names
  (see :mod:`pybpf.compile.toolchain`). Flags follow libbpf-bootstrap:
  ``-g -O2 -target bpf -D__TARGET_ARCH_<arch>`` plus ``-mcpu=v3``.
* ``<bpf/bpf_helpers.h>``, ``<bpf/bpf_tracing.h>``, ``<bpf/bpf_core_read.h>``,
  ``<bpf/bpf_endian.h>`` and ``<bpf/usdt.bpf.h>`` are pybpf's own headers
  (:func:`include_dir`), source compatible with libbpf's.
* ``vmlinux.h`` is generated from the running kernel's BTF on first use and
  cached (:mod:`pybpf.compile.vmlinux`).
* Results are cached by source, flags, compiler, target and the content of
  every header read (:mod:`pybpf.compile.store`); a warm call does not run the
  compiler.
* Errors raise :class:`pybpf.errors.CompileError` whose message starts with
  ``file:line:column: error: ...`` in the caller's coordinates; warnings are on
  the result's ``.warnings``.
"""

from __future__ import annotations

from pybpf.errors import CompileError

from .diag import Diagnostic
from .driver import CompiledObject, command_line, compile, compile_file, include_dir
from .toolchain import Compiler, find_compiler, target_arch

__all__ = ["compile", "compile_file", "CompiledObject", "CompileError", "Diagnostic", "Compiler",
           "find_compiler", "target_arch", "include_dir", "command_line"]
