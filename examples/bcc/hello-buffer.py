#!/usr/bin/env python3
"""Chapter 2 — execve() events with pid, uid, command and message through a perf buffer (BCC style).

Needs: root (CAP_BPF + CAP_PERFMON); kprobes (CONFIG_KPROBES) to attach as the book
does, or syscall tracepoints (CONFIG_FTRACE_SYSCALLS) — ``--attach auto`` (default)
uses the kprobe where the kernel has kprobes and ``syscalls:sys_enter_execve``
otherwise; perf event arrays (BPF_PERF_OUTPUT, 4.3+).

On each execve() the C function fills a ``struct data_t`` (pid, uid, the command
name from ``bpf_get_current_comm()`` — the caller's, since the new program is not
loaded yet — and a "Hello World" message copied from the stack) and submits it with
``output.perf_submit()``. User space opens the perf buffer with a callback that turns
each record into a ctypes struct (``b["output"].event(data)``, typed from BTF) and
prints ``pid uid command message``.

    sudo python3 examples/bcc/hello-buffer.py [--attach auto|kprobe|tracepoint] [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import sys

import _bcc

NEEDS = "CAP_BPF + CAP_PERFMON, kprobes or syscall tracepoints, perf buffers"

PROGRAM = r"""
BPF_PERF_OUTPUT(output);

struct data_t {
    int pid;
    int uid;
    char command[16];
    char message[12];
};

int hello(void *ctx) {
    struct data_t data = {};
    char message[12] = "Hello World";

    data.pid = bpf_get_current_pid_tgid() >> 32;
    data.uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
    bpf_get_current_comm(&data.command, sizeof(data.command));
    bpf_probe_read_kernel(&data.message, sizeof(data.message), message);

    output.perf_submit(ctx, &data, sizeof(data));
    return 0;
}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hello-buffer.py", description=__doc__.split("\n\n")[0])
    _bcc.add_attach(ap)
    _bcc.add_limits(ap)
    args = ap.parse_args(argv)
    return _bcc.run("hello-buffer.py", NEEDS, lambda: _main(args),
                    hint="--attach tracepoint runs without kprobes")


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    with BPF(text=PROGRAM) as b:
        where = _bcc.attach_execve(b, "hello", args.attach)
        until = _bcc.Until(args.seconds, args.count)

        def print_event(cpu, data, size):  # noqa: ARG001
            data = b["output"].event(data)
            print(f"{data.pid} {data.uid} {data.command.decode()} {data.message.decode()}", flush=True)
            until.hit()

        b["output"].open_perf_buffer(print_event)
        print(f"Attached hello() to {where}; events: pid uid command message. Ctrl-C to stop", flush=True)
        while not until.done():
            b.perf_buffer_poll(until.left_ms())
    return 0


if __name__ == "__main__":
    sys.exit(main())
