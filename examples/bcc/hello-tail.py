#!/usr/bin/env python3
"""Chapter 2 — tail calls: one program on every syscall jumps to a handler per syscall number (BCC style).

Needs: root (CAP_BPF + CAP_PERFMON), raw tracepoints (``sys_enter``, 4.17+), tail calls
(BPF_PROG_ARRAY, 4.2+), tracefs for bpf_trace_printk's output. No kprobes.

``hello`` runs at the raw tracepoint ``sys_enter`` (every syscall of every process),
reads the syscall number from ``ctx->args[1]`` and tail-calls
``syscall.call(ctx, opcode)`` into the program array; where the slot is empty the
tail call falls through and it prints "Another syscall: N". User space loads three
more functions as raw-tracepoint programs and puts their fds in the array:
``hello_exec`` for execve ("Executing a program"), ``hello_timer`` for the
timer_create/settime/gettime/getoverrun/delete syscalls ("Creating a timer",
"Deleting a timer", "Some other timer operation"), and ``ignore_opcode`` — which
prints nothing — for syscalls that come up a lot. ``--only-handled`` puts
``ignore_opcode`` in every other slot, leaving only the handlers' lines.

Syscall numbers are those of x86_64 and arm64 (the book's are x86_64's).

    sudo python3 examples/bcc/hello-tail.py [--only-handled] [--trace-instance] [--seconds N] [--count N]
"""

from __future__ import annotations

import argparse
import ctypes as ct
import os
import sys

import _bcc

NEEDS = "CAP_BPF + CAP_PERFMON, raw tracepoints"

SLOTS = 512  # > the highest syscall number of x86_64/arm64 (~460)

PROGRAM = r"""
BPF_PROG_ARRAY(syscall, SLOTS);

int hello(struct bpf_raw_tracepoint_args *ctx) {
    int opcode = ctx->args[1];
    syscall.call(ctx, opcode);
    bpf_trace_printk("Another syscall: %d", opcode);
    return 0;
}

int hello_exec(void *ctx) {
    bpf_trace_printk("Executing a program");
    return 0;
}

int hello_timer(struct bpf_raw_tracepoint_args *ctx) {
    int opcode = ctx->args[1];
    switch (opcode) {
        case NR_TIMER_CREATE:
            bpf_trace_printk("Creating a timer");
            break;
        case NR_TIMER_DELETE:
            bpf_trace_printk("Deleting a timer");
            break;
        default:
            bpf_trace_printk("Some other timer operation");
            break;
    }
    return 0;
}

int ignore_opcode(void *ctx) {
    return 0;
}
""".replace("SLOTS", str(SLOTS))

# The syscalls this example needs, by number: x86_64's table and the generic one (arm64).
SYSCALLS = {
    "x86_64": {
        "execve": 59, "timer_create": 222, "timer_settime": 223, "timer_gettime": 224,
        "timer_getoverrun": 225, "timer_delete": 226,
        # frequent ones, ignored as the book does
        "read": 0, "write": 1, "close": 3, "fstat": 5, "poll": 7, "lseek": 8, "mmap": 9, "mprotect": 10,
        "munmap": 11, "brk": 12, "rt_sigaction": 13, "rt_sigprocmask": 14, "ioctl": 16, "pread64": 17,
        "access": 21, "pipe": 22, "select": 23, "sched_yield": 24, "madvise": 28, "nanosleep": 35,
        "getpid": 39, "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "clone": 56, "wait4": 61,
        "fcntl": 72, "getcwd": 79, "getuid": 102, "geteuid": 107, "getppid": 110, "gettid": 186,
        "futex": 202, "getdents64": 217, "clock_gettime": 228, "clock_nanosleep": 230, "epoll_wait": 232,
        "epoll_ctl": 233, "openat": 257, "newfstatat": 262, "readlinkat": 267, "faccessat": 269,
        "pselect6": 270, "ppoll": 271, "set_robust_list": 273, "epoll_pwait": 281, "prlimit64": 302,
        "getrandom": 318, "bpf": 321, "statx": 332, "rseq": 334, "clone3": 435,
    },
    "aarch64": {
        "execve": 221, "timer_create": 107, "timer_gettime": 108, "timer_getoverrun": 109,
        "timer_settime": 110, "timer_delete": 111,
        "read": 63, "write": 64, "close": 57, "fstat": 80, "lseek": 62, "mmap": 222, "mprotect": 226,
        "munmap": 215, "brk": 214, "rt_sigaction": 134, "rt_sigprocmask": 135, "ioctl": 29, "pread64": 67,
        "sched_yield": 124, "madvise": 233, "nanosleep": 101, "getpid": 172, "sendto": 206, "recvfrom": 207,
        "sendmsg": 211, "recvmsg": 212, "clone": 220, "wait4": 260, "fcntl": 25, "getcwd": 17, "getuid": 174,
        "geteuid": 175, "getppid": 173, "gettid": 178, "futex": 98, "getdents64": 61, "clock_gettime": 113,
        "clock_nanosleep": 115, "epoll_ctl": 21, "openat": 56, "newfstatat": 79, "readlinkat": 78,
        "faccessat": 48, "pselect6": 72, "ppoll": 73, "set_robust_list": 99, "epoll_pwait": 22,
        "prlimit64": 261, "getrandom": 278, "bpf": 280, "statx": 291, "rseq": 293, "clone3": 435,
    },
}
SYSCALLS["arm64"] = SYSCALLS["aarch64"]
TIMERS = ("timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete")
HANDLED = ("execve",) + TIMERS


def syscall_numbers(machine: str | None = None) -> dict[str, int]:
    m = machine or os.uname().machine
    try:
        return SYSCALLS[m]
    except KeyError:
        raise _bcc.Usage(f"no syscall table for {m} in this example (x86_64 and arm64 only)") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hello-tail.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only-handled", action="store_true",
                    help="ignore every syscall without a handler (no 'Another syscall' lines)")
    _bcc.add_limits(ap, "lines from the execve/timer handlers")
    _bcc.add_trace(ap)
    args = ap.parse_args(argv)
    return _bcc.run("hello-tail.py", NEEDS, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    from pybpf.bcc import BPF

    nr = syscall_numbers()
    defines = [f"-DNR_TIMER_CREATE={nr['timer_create']}", f"-DNR_TIMER_DELETE={nr['timer_delete']}"]
    with BPF(text=PROGRAM, cflags=defines) as b:
        ignore_fn = b.load_func("ignore_opcode", BPF.RAW_TRACEPOINT)
        exec_fn = b.load_func("hello_exec", BPF.RAW_TRACEPOINT)
        timer_fn = b.load_func("hello_timer", BPF.RAW_TRACEPOINT)

        prog_array = b.get_table("syscall")
        prog_array[ct.c_int(nr["execve"])] = ct.c_int(exec_fn.fd)
        for name in TIMERS:
            prog_array[ct.c_int(nr[name])] = ct.c_int(timer_fn.fd)
        handled = {nr[n] for n in HANDLED}
        ignored = (set(range(SLOTS)) if args.only_handled else {v for k, v in nr.items() if k not in HANDLED}) - handled
        for opcode in sorted(ignored):
            prog_array[ct.c_int(opcode)] = ct.c_int(ignore_fn.fd)
        # attached once the array is filled (the book attaches first: the same, with a burst of
        # "Another syscall" lines for the bpf() calls that fill it)
        b.attach_raw_tracepoint(tp="sys_enter", fn_name="hello")

        with _bcc.Printk(b, "hello-tail.py", args.trace_instance) as printk:
            print(f"Attached hello() to raw tracepoint sys_enter; tail calls: execve ({nr['execve']}) -> hello_exec, "
                  f"timer syscalls ({', '.join(str(nr[t]) for t in TIMERS)}) -> hello_timer, "
                  f"{len(ignored)} ignored; reading {printk.where}. Ctrl-C to stop", flush=True)
            until = _bcc.Until(args.seconds, args.count)
            while not until.done():
                line = printk.readline(until.left())
                if not line:
                    continue
                print(line.decode("utf-8", "replace"), flush=True)
                if b"Executing a program" in line or b" timer" in line or b"timer operation" in line:
                    until.hit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
