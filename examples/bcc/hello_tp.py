#!/usr/bin/env python3
"""Chapter 2 — "Hello World!" on every execve(), through the syscall tracepoint (BCC style).

Needs: root (CAP_BPF + CAP_PERFMON), syscall tracepoints (CONFIG_FTRACE_SYSCALLS:
``syscalls:sys_enter_execve``), tracefs for bpf_trace_printk's output. No kprobes.

The variant of hello.py for kernels without kprobes, and what pybpf's error for
hello.py suggests: ``TRACEPOINT_PROBE(syscalls, sys_enter_execve)`` names the attach
point in the C source, so ``BPF(text=...)`` attaches it by itself (BCC's
auto-attach), and ``trace_print()`` shows the lines. The probe also gets the
tracepoint's arguments as ``args``: the file being executed (``args->filename``, copied
from user memory) is printed too.

    sudo python3 examples/bcc/hello_tp.py [--trace-instance] [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import sys

import _bcc

NEEDS = "CAP_BPF + CAP_PERFMON, syscall tracepoints (CONFIG_FTRACE_SYSCALLS)"

PROGRAM = r"""
TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
    char filename[64];
    bpf_probe_read_user_str(filename, sizeof(filename), args->filename);
    bpf_trace_printk("Hello World! %s", filename);
    return 0;
}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hello_tp.py", description=__doc__.split("\n\n")[0])
    _bcc.add_limits(ap, "Hello World! lines")
    _bcc.add_trace(ap)
    args = ap.parse_args(argv)
    return _bcc.run("hello_tp.py", NEEDS, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    with BPF(text=PROGRAM) as b:
        with _bcc.Printk(b, "hello_tp.py", args.trace_instance) as printk:
            print(f"Attached to tracepoint {_bcc.EXECVE_TP}; reading {printk.where}... Ctrl-C to stop", flush=True)
            _bcc.trace_lines(printk, _bcc.Until(args.seconds, args.count), match=b"Hello World!")
    return 0


if __name__ == "__main__":
    sys.exit(main())
