#!/usr/bin/env python3
"""Chapter 4 — a per-user message from a config hash map, in execve() events through a perf buffer (BCC style).

Needs: root (CAP_BPF + CAP_PERFMON); kprobes (CONFIG_KPROBES) to attach as the book
does, or syscall tracepoints (CONFIG_FTRACE_SYSCALLS) — ``--attach auto`` (default)
uses the kprobe where the kernel has kprobes and ``syscalls:sys_enter_execve``
otherwise; hash maps; perf event arrays (BPF_PERF_OUTPUT, 4.3+).

hello-buffer.py with configuration: user space writes a message per UID into the
hash map ``my_config`` (by default "Hey root!" for UID 0 and "Hi user 501!" for UID
501; ``--config UID=MSG`` replaces them), the C function looks the caller's UID up and
puts that message in the event, or "Hello World" when there is none.

The book calls the map ``config``; here it is ``my_config`` (as in the book's libbpf
version) because the kernel's own types, which pybpf.bcc takes from vmlinux.h, include
``typedef struct config_s config`` and C allows one meaning per name.

Messages are 12 bytes (``char message[12]``): "Hi user 501!" uses all twelve, so the
program copies the message whole (``bpf_probe_read_kernel``) rather than as a
NUL-terminated string.

    sudo python3 examples/bcc/hello-buffer-config.py [--config UID=MSG ...] [--attach auto|kprobe|tracepoint]
                                                    [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import sys

import _bcc

NEEDS = "CAP_BPF + CAP_PERFMON, kprobes or syscall tracepoints, perf buffers"
MESSAGE_LEN = 12
DEFAULT_CONFIG = {0: "Hey root!", 501: "Hi user 501!"}

PROGRAM = r"""
struct user_msg_t {
    char message[12];
};

BPF_HASH(my_config, u32, struct user_msg_t);

BPF_PERF_OUTPUT(output);

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

    output.perf_submit(ctx, &data, sizeof(data));
    return 0;
}
"""


def parse_config(items: list[str] | None) -> dict[int, str]:
    """``["501=Hi user 501!", ...]`` -> {501: "Hi user 501!"} (messages up to 12 bytes)."""
    if not items:
        return dict(DEFAULT_CONFIG)
    out = {}
    for it in items:
        uid, sep, msg = it.partition("=")
        if not sep or not uid.strip().isdigit():
            raise _bcc.Usage(f"--config {it!r}: expected UID=MESSAGE")
        if len(msg.encode()) > MESSAGE_LEN:
            raise _bcc.Usage(f"--config {it!r}: the message is {len(msg.encode())} bytes, at most {MESSAGE_LEN}")
        out[int(uid)] = msg
    return out


def fill_config(table, config: dict[int, str]) -> None:
    """Write the messages: ``table[c_uint(uid)] = Leaf(message)``."""
    import ctypes as ct

    for uid, msg in config.items():
        leaf = table.Leaf()
        leaf.message = msg.encode()  # exactly 12 bytes need no NUL
        table[ct.c_uint(uid)] = leaf


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--config", action="append", metavar="UID=MSG",
                    help="message for a UID (repeatable; default: 0='Hey root!' 501='Hi user 501!')")
    _bcc.add_attach(ap)
    _bcc.add_limits(ap)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hello-buffer-config.py", description=__doc__.split("\n\n")[0])
    add_args(ap)
    args = ap.parse_args(argv)
    return _bcc.run("hello-buffer-config.py", NEEDS, lambda: _main(args),
                    hint="--attach tracepoint runs without kprobes")


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    config = parse_config(args.config)
    with BPF(text=PROGRAM) as b:
        fill_config(b["my_config"], config)
        where = _bcc.attach_execve(b, "hello", args.attach)
        until = _bcc.Until(args.seconds, args.count)

        def print_event(cpu, data, size):  # noqa: ARG001
            data = b["output"].event(data)
            print(f"{data.pid} {data.uid} {data.command.decode()} {data.message.decode()}", flush=True)
            until.hit()

        b["output"].open_perf_buffer(print_event)
        shown = ", ".join(f"{u}={m!r}" for u, m in config.items())
        print(f"Attached hello() to {where}; config {shown}; events: pid uid command message. Ctrl-C to stop",
              flush=True)
        while not until.done():
            b.perf_buffer_poll(until.left_ms())
    return 0


if __name__ == "__main__":
    sys.exit(main())
