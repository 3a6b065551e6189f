#!/usr/bin/env python3
"""Chapter 2 — "Hello World!" on every execve(), through a kprobe (BCC style).

Needs: root (CAP_BPF + CAP_PERFMON), kprobes (CONFIG_KPROBES) on the execve syscall
function, tracefs for bpf_trace_printk's output.

As in the book: the C function ``hello`` is attached with ``attach_kprobe`` to the
kernel function behind execve() (``get_syscall_fnname("execve")``, e.g.
``__x64_sys_execve``) and ``trace_print()`` shows the lines it prints. On a kernel
without kprobes the attach fails with pybpf's NotSupportedError, which names the
syscall tracepoint to use instead: hello_tp.py is that variant.

    sudo python3 examples/bcc/hello.py [--trace-instance] [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import sys

import _bcc

NEEDS = "CAP_BPF + CAP_PERFMON, kprobes (CONFIG_KPROBES)"

PROGRAM = r"""
int hello(void *ctx) {
    bpf_trace_printk("Hello World!");
    return 0;
}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hello.py", description=__doc__.split("\n\n")[0])
    _bcc.add_limits(ap, "Hello World! lines")
    _bcc.add_trace(ap)
    args = ap.parse_args(argv)
    return _bcc.run("hello.py", NEEDS, lambda: _main(args),
                    hint="hello_tp.py is the tracepoint variant that runs without kprobes")


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    with BPF(text=PROGRAM) as b:
        syscall = b.get_syscall_fnname("execve")
        b.attach_kprobe(event=syscall, fn_name="hello")
        with _bcc.Printk(b, "hello.py", args.trace_instance) as printk:
            print(f"Attached hello() to kprobe {syscall.decode()}; reading {printk.where}... Ctrl-C to stop",
                  flush=True)
            _bcc.trace_lines(printk, _bcc.Until(args.seconds, args.count), match=b"Hello World!")
    return 0


if __name__ == "__main__":
    sys.exit(main())
