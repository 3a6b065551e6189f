#!/usr/bin/env python3
"""Chapter 4 — hello-buffer-config with a BPF ring buffer instead of a perf buffer (BCC style).

Needs: root (CAP_BPF + CAP_PERFMON); kprobes (CONFIG_KPROBES) to attach as the book
does, or syscall tracepoints (CONFIG_FTRACE_SYSCALLS) — ``--attach auto`` (default)
uses the kprobe where the kernel has kprobes and ``syscalls:sys_enter_execve``
otherwise; hash maps; BPF ring buffers (BPF_RINGBUF_OUTPUT, 5.8+).

The same program as hello-buffer-config.py, except that events go through
``BPF_RINGBUF_OUTPUT(output, 1)`` — one ring (of one page) shared by all CPUs, so
events keep their order across CPUs, where a perf buffer has one per CPU — with
``output.ringbuf_output()``, and user space reads them with ``open_ring_buffer()`` /
``ring_buffer_poll()``. The config map and the options are hello-buffer-config.py's.

    sudo python3 examples/bcc/hello-ring-buffer-config.py [--config UID=MSG ...]
                     [--attach auto|kprobe|tracepoint] [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

import _bcc

NEEDS = "CAP_BPF + CAP_PERFMON, kprobes or syscall tracepoints, BPF ring buffers (5.8+)"


def _buffer_config():
    """hello-buffer-config.py (its name has dashes: loaded by path)."""
    spec = importlib.util.spec_from_file_location("hello_buffer_config", _bcc.HERE / "hello-buffer-config.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


cfg = _buffer_config()

PROGRAM = r"""
struct user_msg_t {
    char message[12];
};

BPF_HASH(my_config, u32, struct user_msg_t);

BPF_RINGBUF_OUTPUT(output, 1);

struct data_t {
    int pid;
    int uid;
    char command[16];
    char message[12];
};

int hello(void *ctx) {
    struct data_t data = {};
    struct user_msg_t *p;
    char message[12] = "Hello World";

    data.pid = bpf_get_current_pid_tgid() >> 32;
    data.uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
    bpf_get_current_comm(&data.command, sizeof(data.command));

    p = my_config.lookup(&data.uid);
    if (p != 0) {
        bpf_probe_read_kernel(&data.message, sizeof(data.message), p->message);
    } else {
        bpf_probe_read_kernel(&data.message, sizeof(data.message), message);
    }

    output.ringbuf_output(&data, sizeof(data), 0);
    return 0;
}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hello-ring-buffer-config.py", description=__doc__.split("\n\n")[0])
    cfg.add_args(ap)
    args = ap.parse_args(argv)
    return _bcc.run("hello-ring-buffer-config.py", NEEDS, lambda: _main(args),
                    hint="--attach tracepoint runs without kprobes")


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    config = cfg.parse_config(args.config)
    with BPF(text=PROGRAM) as b:
        cfg.fill_config(b["my_config"], config)
        where = _bcc.attach_execve(b, "hello", args.attach)
        until = _bcc.Until(args.seconds, args.count)

        def print_event(ctx, data, size):  # noqa: ARG001
            data = b["output"].event(data)
            print(f"{data.pid} {data.uid} {data.command.decode()} {data.message.decode()}", flush=True)
            until.hit()

        b["output"].open_ring_buffer(print_event)
        shown = ", ".join(f"{u}={m!r}" for u, m in config.items())
        print(f"Attached hello() to {where}; config {shown}; events (ring buffer): pid uid command message. "
              "Ctrl-C to stop", flush=True)
        while not until.done():
            b.ring_buffer_poll(until.left_ms())
    return 0


if __name__ == "__main__":
    sys.exit(main())
