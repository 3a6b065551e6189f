"""What the two chapter 8 runners (XDP and TC ping drop) share (not an example itself).

Two modes:

* ``--iface DEV [--netns NS]``: attach to that interface and, once a second
  until --seconds / Ctrl-C, print the counters and the new bpf_printk lines;
* default: a self-contained demo — two new network namespaces joined by a veth
  pair (10.200.0.1/30 <-> 10.200.0.2/30, set only inside the namespaces), the
  program attached to the receiving end; pings are sent across before, while
  and after it is attached, showing them answered, dropped, answered again.
  Everything is deleted at the end.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

import _common as C

SUBNET = "10.200.0.0"
PINGS = 3


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--iface", help="attach to this interface and watch (default: the veth demo)")
    ap.add_argument("--netns", help="network namespace of --iface (from `ip netns add`)")
    ap.add_argument("--seconds", type=float, help="with --iface: stop after N seconds (default: until Ctrl-C)")
    ap.add_argument("--pings", type=int, default=PINGS, help=f"demo: pings per phase (default {PINGS})")


def check_args(args: argparse.Namespace) -> None:
    if args.netns and not args.iface:
        raise C.Usage("--netns names the namespace of --iface: give --iface too")
    if args.netns and not C.netns_exists(args.netns):
        raise C.Usage(f"no network namespace {args.netns!r} (see `ip netns list`)")


def _counters(obj: Any) -> str:
    return f"packets seen {obj.bss.packets}, pings dropped {obj.bss.pings_dropped}"


def watch(obj: Any, attach: Callable[[str, str | None], Any], args: argparse.Namespace, tag: str) -> int:
    """--iface mode: attach, print counters and trace lines every second, detach."""
    where = args.iface + (f" in netns {args.netns}" if args.netns else "")
    with C.printk_lines(tag) as trace, attach(args.iface, args.netns) as link:
        print(f"attached to {where} ({type(link).__name__}); Ctrl-C to stop", flush=True)
        for _ in C.ticks(args.seconds):
            lines = trace.read_available()
            print(_counters(obj), flush=True)
            C.print_lines(lines[-5:])
    print(f"detached from {where}; {_counters(obj)}", flush=True)
    return 0


def _ping_phase(label: str, veth: C.Veth, n: int) -> int:
    rtts = C.ping(veth.ip_b, netns=veth.ns_a, count=n, timeout=0.5)
    answered = sum(r is not None for r in rtts)
    shown = ", ".join("timeout" if r is None else f"{r * 1000:.2f} ms" for r in rtts)
    print(f"  {label}: ping {veth.ip_b} from {veth.ns_a}: {answered}/{n} answered ({shown})", flush=True)
    return answered


def demo(obj: Any, attach: Callable[[str, str | None], Any], args: argparse.Namespace, tag: str,
         hook: str) -> int:
    """The default: veth pair in two new namespaces; ping before / during / after."""
    n = args.pings
    with C.veth_pair(SUBNET) as veth, C.printk_lines(tag) as trace:
        print(f"created {veth.ns_a} ({veth.dev_a} {veth.ip_a}/30) <-> {veth.ns_b} ({veth.dev_b} {veth.ip_b}/30)")
        before = _ping_phase("before attaching", veth, n)
        with attach(veth.dev_b, veth.ns_b) as link:
            print(f"attached {hook} program to {veth.dev_b} in {veth.ns_b} ({type(link).__name__})", flush=True)
            during = _ping_phase("while attached  ", veth, n)
            print(f"  {_counters(obj)}")
            # every bpf_printk on the system reaches the trace instance: show at most 20 lines
            C.print_lines(trace.read_available()[:20], indent="    ")
        print(f"detached from {veth.dev_b}")
        after = _ping_phase("after detaching ", veth, n)
    print(f"deleted {veth.ns_a} and {veth.ns_b}")
    ok = before == n and during == 0 and obj.bss.pings_dropped >= n and after == n
    print("result: pings " + ("were answered, dropped while attached, answered again after detach" if ok
                              else f"did not behave as expected (before {before}, during {during}, after {after})"))
    return 0 if ok else 1
