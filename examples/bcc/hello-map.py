#!/usr/bin/env python3
"""Chapter 2 — count execve() calls per user ID in a BPF_HASH, printed every 2 s (BCC style).

Needs: root (CAP_BPF + CAP_PERFMON); kprobes (CONFIG_KPROBES) to attach as the book
does, or syscall tracepoints (CONFIG_FTRACE_SYSCALLS) — ``--attach auto`` (default)
uses the kprobe where the kernel has kprobes and the tracepoint
``syscalls:sys_enter_execve`` otherwise. Hash maps: any eBPF kernel.

The C function reads the current UID (the low 32 bits of
``bpf_get_current_uid_gid()``), looks its counter up in ``counter_table``
(``BPF_HASH(counter_table)``: u64 keys and values), adds one and writes it back.
User space reads the whole table every --interval seconds, as ``ID <uid>: <count>``.

    sudo python3 examples/bcc/hello-map.py [--attach auto|kprobe|tracepoint] [--interval S]
                                          [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import sys
import time

import _bcc

NEEDS = "CAP_BPF + CAP_PERFMON, kprobes or syscall tracepoints"

PROGRAM = r"""
BPF_HASH(counter_table);

int hello(void *ctx) {
    u64 uid;
    u64 counter = 0;
    u64 *p;

    uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
    p = counter_table.lookup(&uid);
    if (p != 0) {
        counter = *p;
    }
    counter++;
    counter_table.update(&uid, &counter);
    return 0;
}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hello-map.py", description=__doc__.split("\n\n")[0])
    _bcc.add_attach(ap)
    ap.add_argument("--interval", type=float, default=2.0, metavar="S", help="seconds between reports (default 2)")
    _bcc.add_limits(ap, "reports")
    args = ap.parse_args(argv)
    return _bcc.run("hello-map.py", NEEDS, lambda: _main(args),
                    hint="--attach tracepoint runs without kprobes")


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    with BPF(text=PROGRAM) as b:
        where = _bcc.attach_execve(b, "hello", args.attach)
        print(f"Attached hello() to {where}; counting execve() per UID... Ctrl-C to stop", flush=True)
        until = _bcc.Until(args.seconds, args.count)
        while not until.done():
            time.sleep(until.left(args.interval))
            s = ""
            for k, v in sorted(b["counter_table"].items(), key=lambda kv: kv[0].value):
                s += f"ID {k.value}: {v.value}\t"
            print(s.rstrip("\t") or "(no execve yet)", flush=True)
            until.hit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
