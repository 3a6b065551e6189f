#!/usr/bin/env python3
"""Chapter 9 — a BPF LSM program on the path_chmod hook (BCC style).

Needs: root (CAP_BPF + CAP_MAC_ADMIN), the BPF LSM: CONFIG_BPF_LSM with ``bpf`` in the
kernel's ``lsm=`` list, and BPF trampolines (BTF, x86_64/arm64, 5.7+).

``LSM_PROBE(path_chmod, const struct path *path, umode_t mode)`` runs at the
security hook the kernel calls before changing a file's mode (chmod, fchmod,
fchmodat...), and reports the file name and the new mode with bpf_trace_printk. It
returns 0 (allow); an LSM program could return -EPERM to refuse the change, which is
what sets it apart from tracing. ``BPF(text=...)`` loads and attaches it by itself
(the ``LSM_PROBE`` name), and ``trace_print()`` shows the lines.

Where the kernel refuses BPF LSM programs (no BPF LSM, or no BPF trampolines) this
prints pybpf's NotSupportedError, which names what is missing, and exits 1;
hello-lsm_tp.py reports the same events from syscall tracepoints (without the
power to refuse).

    sudo python3 examples/bcc/hello-lsm.py [--trace-instance] [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import sys

import _bcc

NEEDS = "CAP_BPF + CAP_MAC_ADMIN, the BPF LSM (CONFIG_BPF_LSM, lsm=...,bpf) and BPF trampolines"

PROGRAM = r"""
/* bpf_trace_printk has no %o: the mode's octal digits are printed as a decimal number */
#define OCTAL(m) ((u32)((((m) >> 9) & 7) * 1000 + (((m) >> 6) & 7) * 100 + (((m) >> 3) & 7) * 10 + ((m) & 7)))

LSM_PROBE(path_chmod, const struct path *path, umode_t mode) {
    bpf_trace_printk("chmod %s to mode %04d", BPF_CORE_READ(path, dentry, d_name.name), OCTAL(mode));
    return 0;
}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hello-lsm.py", description=__doc__.split("\n\n")[0])
    _bcc.add_limits(ap, "chmod lines")
    _bcc.add_trace(ap)
    args = ap.parse_args(argv)
    return _bcc.run("hello-lsm.py", NEEDS, lambda: _main(args),
                    hint="hello-lsm_tp.py reports chmod() calls from syscall tracepoints instead")


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    with BPF(text=PROGRAM) as b:
        with _bcc.Printk(b, "hello-lsm.py", args.trace_instance) as printk:
            print(f"Attached lsm__path_chmod() to the LSM hook path_chmod; reading {printk.where}... Ctrl-C to stop",
                  flush=True)
            _bcc.trace_lines(printk, _bcc.Until(args.seconds, args.count), match=b"chmod ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
