#!/usr/bin/env python3
"""Chapter 3 — "Hello World" in XDP, and a BPF-to-BPF function call.

Needs: root (CAP_BPF + CAP_NET_ADMIN), XDP (generic/skb mode works on any
interface, Linux 4.12+; bpf_link 5.9+), tracefs for the bpf_printk lines.

Compiles ch3/hello.bpf.c (or ch3/hello-func.bpf.c with --func), loads it,
attaches it to an interface's XDP hook (default ``lo``), then once a second
prints the global ``counter`` (read straight from the object's .bss map) and
the new trace_pipe lines, until Ctrl-C / SIGTERM or --seconds. Closing the
object and the link detaches the program.

    sudo python3 examples/ch3_hello_xdp.py [--iface lo] [--seconds N]
    sudo python3 examples/ch3_hello_xdp.py --func --dump      # see the "call pc+N"
    sudo python3 examples/ch3_hello_xdp.py --netns NS --traffic --seconds 3
"""

from __future__ import annotations

import argparse
import sys

import _common as C

NEEDS = "CAP_BPF + CAP_NET_ADMIN to load and attach XDP programs"


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="ch3_hello_xdp", description=__doc__.split("\n\n")[0])
    ap.add_argument("--iface", default="lo", help="interface to attach to (default: lo)")
    ap.add_argument("--netns", help="network namespace of the interface (from `ip netns add`)")
    ap.add_argument("--seconds", type=float, help="stop after N seconds (default: run until Ctrl-C)")
    ap.add_argument("--func", action="store_true", help="load hello-func.bpf.c (a __noinline BPF-to-BPF call)")
    ap.add_argument("--mode", choices=("skb", "drv"), help="XDP mode (default: native if the driver has it)")
    ap.add_argument("--traffic", action="store_true",
                    help="send a UDP datagram to 127.0.0.1 (in --netns) every second so the counter moves")
    ap.add_argument("--dump", action="store_true", help="print the loaded program's xlated instructions")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return C.run("ch3_hello_xdp", NEEDS, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    import pybpf

    src = "ch3/hello-func.bpf.c" if args.func else "ch3/hello.bpf.c"
    if args.netns and not C.netns_exists(args.netns):
        raise C.Usage(f"no network namespace {args.netns!r} (see `ip netns list`)")
    with C.printk_lines("ch3") as trace, pybpf.load(C.compile_bpf(src), name="hello") as obj:
        prog = obj.programs["hello"]
        print(f"loaded {src}: program {prog.name!r} id {prog.id}, "
              f"{len(prog.xlated())} instructions after verification")
        if args.dump:
            print(prog.dump_xlated())
        with prog.attach_xdp(args.iface, args.mode, netns=args.netns) as link:
            where = f"{args.iface}" + (f" in netns {args.netns}" if args.netns else "")
            print(f"attached to {where} ({type(link).__name__}, mode {getattr(link, 'mode', '?')}); "
                  "Ctrl-C to stop", flush=True)
            for _ in C.ticks(args.seconds):
                if args.traffic:
                    C.udp_poke("127.0.0.1", netns=args.netns, count=2)
                lines = trace.read_available()
                print(f"counter = {obj.bss.counter}", flush=True)
                C.print_lines(lines[-5:])
                if len(lines) > 5:
                    print(f"  ... and {len(lines) - 5} more trace lines")
            print(f"final counter = {obj.bss.counter}")
        print(f"detached from {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
