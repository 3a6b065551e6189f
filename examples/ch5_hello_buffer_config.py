#!/usr/bin/env python3
"""Chapter 5 — hello-buffer-config: CO-RE, a per-user config map, perf/ring buffer output.

Needs: root (CAP_BPF + CAP_PERFMON), a kernel with BTF (/sys/kernel/btf/vmlinux,
for CO-RE), and either
  * the syscall tracepoint syscalls/sys_enter_execve (CONFIG_FTRACE_SYSCALLS;
    the default here), or
  * kprobes (CONFIG_KPROBES) for the book's SEC("ksyscall/execve")
    BPF_KPROBE_SYSCALL entry point (--kprobe).
Perf buffers need Linux 4.3+, ring buffers (--ringbuf) 5.8+.

The object holds both entry points; loading it verifies both (so the kprobe
version is checked even where it cannot attach), then one is attached. The
config map my_config (uid -> greeting) is filled from --config before
attaching; every execve() on the system then prints a line:

    PID     PPID    UID    COMMAND          MESSAGE       PATH

    sudo python3 examples/ch5_hello_buffer_config.py [--ringbuf] [--seconds N]
    sudo python3 examples/ch5_hello_buffer_config.py --config 501="Hi user 501!" --trigger --trigger-as 501
    sudo python3 examples/ch5_hello_buffer_config.py --verify      # load + verify both, then exit
    sudo python3 examples/ch5_hello_buffer_config.py --kprobe      # the book's version (needs kprobes)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

import _common as C

NEEDS = "CAP_BPF + CAP_PERFMON to load tracing programs and open perf buffers"
SRC = "ch5/hello-buffer-config.bpf.c"
MESSAGE_LEN = 12
DEFAULT_CONFIG = {0: "Hey root!", 501: "Hi user 501!"}


def _config(text: str) -> tuple[int, str]:
    uid, sep, msg = text.partition("=")
    if not sep or not uid.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected UID=MESSAGE, got {text!r}")
    if len(msg.encode()) > MESSAGE_LEN:
        raise argparse.ArgumentTypeError(f"message {msg!r} is longer than {MESSAGE_LEN} bytes")
    return int(uid), msg


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ch5_hello_buffer_config", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, help="stop after N seconds (default: run until Ctrl-C)")
    ap.add_argument("--ringbuf", action="store_true", help="send events through a ring buffer (default: perf buffer)")
    ap.add_argument("--kprobe", action="store_true",
                    help="attach the book's ksyscall/execve kprobe entry point instead of the tracepoint")
    ap.add_argument("--config", type=_config, action="append", metavar="UID=MESSAGE",
                    help="greeting for a uid (repeatable; default: 0='Hey root!' 501='Hi user 501!')")
    ap.add_argument("--verify", action="store_true", help="only load (verify) both entry points and report")
    ap.add_argument("--trigger", action="store_true", help="run `true` once a second so there is something to see")
    ap.add_argument("--trigger-as", type=int, metavar="UID", help="run the --trigger command as this uid "
                    "(implies --trigger)")
    args = ap.parse_args(argv)
    args.trigger = args.trigger or args.trigger_as is not None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return C.run("ch5_hello_buffer_config", NEEDS, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    import pybpf
    from pybpf.btf.values import codec_for
    from pybpf.events import PerfBuffer, RingBuffer

    spec = pybpf.open(C.compile_bpf(SRC), name="hello_buffer_config")
    spec.rodata.use_ringbuf = args.ringbuf
    event = codec_for(spec.btf, "struct data_t")
    with spec.load(log_level=4) as obj:  # log_level 4: keep the verifier's statistics
        for name, prog in obj.programs.items():
            st = prog.verifier_stats
            sec = spec.programs[name].section
            print(f"verified {name} (SEC(\"{sec}\"), {prog.type.name}): "
                  f"{st.processed_insns if st else '?'} instructions processed")
        if args.verify:
            return 0
        config = dict(args.config) if args.config else dict(DEFAULT_CONFIG)
        for uid, msg in config.items():
            obj.maps["my_config"][uid] = {"message": msg}
        print("config: " + ", ".join(f"uid {u} -> {m!r}" for u, m in sorted(config.items())))

        entry = "hello" if args.kprobe else "hello_tp"
        try:
            link = obj.programs[entry].attach()
        except pybpf.NotSupportedError as e:
            print(f"cannot attach {entry} (SEC(\"{spec.programs[entry].section}\")): {e}")
            print("  (it loaded and passed the verifier; run without --kprobe to use the syscall tracepoint)")
            return 1

        def show(data: memoryview) -> None:  # struct data_t, decoded through the object's BTF
            ev = event.decode(bytes(data[:event.size]))
            print(f"{ev.pid:<7} {ev.ppid:<7} {ev.uid:<6} {ev.command:<16} {ev.message:<13} {ev.path}", flush=True)

        def lost(cpu: int, n: int) -> None:
            print(f"(lost {n} events on CPU {cpu})", flush=True)

        # perf buffer samples come with the CPU and are padded to 8 bytes; ring buffer records are exact
        with link, (RingBuffer(obj.maps["events"], show) if args.ringbuf
                    else PerfBuffer(obj.maps["output"], lambda cpu, data: show(data), lost)) as reader:
            out = "ring buffer" if args.ringbuf else "perf buffer"
            print(f"attached {entry} to {link.target or spec.programs[entry].section} ({out}); "
                  "waiting for execve() calls, Ctrl-C to stop", flush=True)
            print(f"{'PID':<7} {'PPID':<7} {'UID':<6} {'COMMAND':<16} {'MESSAGE':<13} PATH", flush=True)
            _loop(reader, args)
        print("detached")
    return 0


def _loop(reader: object, args: argparse.Namespace) -> None:
    true = shutil.which("true") or "/bin/true"
    start = time.monotonic()
    next_trigger = start
    while True:
        now = time.monotonic()
        if args.seconds is not None and now - start >= args.seconds:
            break
        if args.trigger and now >= next_trigger:
            kw = {"user": args.trigger_as} if args.trigger_as is not None else {}
            p = subprocess.Popen([true], **kw)  # type: ignore[call-overload]
            print(f"(triggered: pid {p.pid} runs {true}" + (f" as uid {args.trigger_as}" if kw else "") + ")",
                  flush=True)
            p.wait()
            next_trigger += 1.0
        reader.poll(100)  # type: ignore[attr-defined]
    reader.poll(100)  # type: ignore[attr-defined]  # what arrived just before the end


if __name__ == "__main__":
    sys.exit(main())
