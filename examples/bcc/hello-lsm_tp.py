#!/usr/bin/env python3
"""Chapter 9 — hello-lsm.py's chmod report from syscall tracepoints, for kernels without the BPF LSM (BCC style).

Needs: root (CAP_BPF + CAP_PERFMON), syscall tracepoints (CONFIG_FTRACE_SYSCALLS), tracefs
for bpf_trace_printk's output. No BPF LSM, no BPF trampolines.

One ``TRACEPOINT_PROBE`` per syscall that changes a file's mode and exists on this
kernel (``syscalls:sys_enter_chmod`` — not on arm64 —, ``sys_enter_fchmodat``,
``sys_enter_fchmodat2`` — 6.6+ —, ``sys_enter_fchmod``), each printing the file
name (copied from user memory with ``bpf_probe_read_user_str``) or descriptor and
the requested mode. The program text is assembled in Python from the tracepoints
found, as BCC tools often do.

Unlike the LSM hook this sees the request, not the kernel's decision (it fires
before permission checks, and cannot refuse anything), and a path as the caller
wrote it (relative paths stay relative).

    sudo python3 examples/bcc/hello-lsm_tp.py [--trace-instance] [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import sys

import _bcc

NEEDS = "CAP_BPF + CAP_PERFMON, syscall tracepoints (CONFIG_FTRACE_SYSCALLS)"

# bpf_trace_printk has no %o: the mode's octal digits are printed as a decimal number
OCTAL = r"""
#define OCTAL(m) ((u32)((((m) >> 9) & 7) * 1000 + (((m) >> 6) & 7) * 100 + (((m) >> 3) & 7) * 10 + ((m) & 7)))
"""

BY_NAME = r"""
TRACEPOINT_PROBE(syscalls, sys_enter_SYSCALL) {
    char name[64];
    bpf_probe_read_user_str(name, sizeof(name), args->filename);
    bpf_trace_printk("chmod %s to mode %04d (SYSCALL)", name, OCTAL(args->mode));
    return 0;
}
"""

BY_FD = r"""
TRACEPOINT_PROBE(syscalls, sys_enter_fchmod) {
    bpf_trace_printk("chmod fd %d to mode %04d (fchmod)", (int)args->fd, OCTAL(args->mode));
    return 0;
}
"""


def program() -> tuple[str, list[str]]:
    """The C text for the chmod tracepoints this kernel has, and their names."""
    from pybpf.bcc import BPF

    have = {t.decode().split(":", 1)[1] for t in BPF.get_tracepoints("syscalls:sys_enter_(f?chmod|fchmodat2?)")}
    parts, used = [OCTAL], []
    for sc in ("chmod", "fchmodat", "fchmodat2"):
        if f"sys_enter_{sc}" in have:
            parts.append(BY_NAME.replace("SYSCALL", sc))
            used.append(f"syscalls:sys_enter_{sc}")
    if "sys_enter_fchmod" in have:
        parts.append(BY_FD)
        used.append("syscalls:sys_enter_fchmod")
    if not used:
        raise _bcc.Usage("no chmod syscall tracepoints here (CONFIG_FTRACE_SYSCALLS unset?)")
    return "".join(parts), used


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hello-lsm_tp.py", description=__doc__.split("\n\n")[0])
    _bcc.add_limits(ap, "chmod lines")
    _bcc.add_trace(ap)
    args = ap.parse_args(argv)
    return _bcc.run("hello-lsm_tp.py", NEEDS, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    text, used = program()
    with BPF(text=text) as b:
        with _bcc.Printk(b, "hello-lsm_tp.py", args.trace_instance) as printk:
            print(f"Attached to {', '.join(used)}; reading {printk.where}... Ctrl-C to stop", flush=True)
            _bcc.trace_lines(printk, _bcc.Until(args.seconds, args.count), match=b"chmod ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
